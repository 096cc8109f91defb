#include "../core/register.h"

namespace nlkit {

Napi::Value LinkSend(const Napi::CallbackInfo& info);     // ifindex.cc
Napi::Value LinkQuery(const Napi::CallbackInfo& info);    // ifindex.cc
Napi::Value NetnsAdd(const Napi::CallbackInfo& info);     // netns.cc
Napi::Value NetnsDelete(const Napi::CallbackInfo& info);  // netns.cc
Napi::Value SysctlRead(const Napi::CallbackInfo& info);   // sysctl.cc
Napi::Value SysctlWrite(const Napi::CallbackInfo& info);  // sysctl.cc

namespace link {

void Register(Napi::Env env, Napi::Object exports) {
  Export<LinkSend>(env, exports, "linkSend");
  Export<LinkQuery>(env, exports, "linkQuery");
  Export<NetnsAdd>(env, exports, "netnsAdd");
  Export<NetnsDelete>(env, exports, "netnsDelete");
  Export<SysctlRead>(env, exports, "sysctlRead");
  Export<SysctlWrite>(env, exports, "sysctlWrite");
}

}  // namespace link
}  // namespace nlkit
