#include "../core/register.h"

namespace nlkit {

Napi::Value IpsetExec(const Napi::CallbackInfo& info);  // exec.cc
Napi::Value IpsetSend(const Napi::CallbackInfo& info);  // send.cc

namespace ipset {

void Register(Napi::Env env, Napi::Object exports) {
  Export<IpsetExec>(env, exports, "ipsetExec");
  Export<IpsetSend>(env, exports, "ipsetSend");
}

}  // namespace ipset
}  // namespace nlkit
