#include "../core/register.h"

namespace nlkit {

EntryPoint IpsetExec;  // exec.cc
EntryPoint IpsetSend;  // send.cc

namespace ipset {

void Register(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {Bind<IpsetExec>("ipsetExec"), Bind<IpsetSend>("ipsetSend")});
}

}  // namespace ipset
}  // namespace nlkit
