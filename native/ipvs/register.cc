#include "../core/register.h"

namespace nlkit {

Napi::Value IpvsSend(const Napi::CallbackInfo& info);   // genl.cc
Napi::Value IpvsQuery(const Napi::CallbackInfo& info);  // genl.cc

namespace ipvs {

void Register(Napi::Env env, Napi::Object exports) {
  Export<IpvsSend>(env, exports, "ipvsSend");
  Export<IpvsQuery>(env, exports, "ipvsQuery");
}

}  // namespace ipvs
}  // namespace nlkit
