#include "../core/register.h"

namespace nlkit {

EntryPoint LinkSend, LinkQuery;       // ifindex.cc
EntryPoint NetnsAdd, NetnsDelete;     // netns.cc
EntryPoint SysctlRead, SysctlWrite;   // sysctl.cc

namespace link {

void Register(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      Bind<LinkSend>("linkSend"), Bind<LinkQuery>("linkQuery"), Bind<NetnsAdd>("netnsAdd"),
      Bind<NetnsDelete>("netnsDelete"), Bind<SysctlRead>("sysctlRead"), Bind<SysctlWrite>("sysctlWrite"),
  });
}

}  // namespace link
}  // namespace nlkit
