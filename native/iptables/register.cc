#include "../core/register.h"

namespace nlkit {

EntryPoint IptablesCache, IptablesDrop, IptablesRestore, IptablesSave, IptablesLock, IptablesUnlock;  // jobs/restore.cc
EntryPoint IptablesBackendCount;                                                                     // jobs/backend_count.cc
EntryPoint IptablesReadRaw, IptablesWriteRaw;                                                        // jobs/raw.cc
EntryPoint IptablesPrintRaw;                                                                         // jobs/print_raw.cc

namespace ipt {

void Register(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      Bind<IptablesCache>("iptablesCache"), Bind<IptablesDrop>("iptablesDrop"),
      Bind<IptablesRestore>("iptablesRestore"), Bind<IptablesSave>("iptablesSave"),
      Bind<IptablesLock>("iptablesLock"), Bind<IptablesUnlock>("iptablesUnlock"),
      Bind<IptablesBackendCount>("iptablesBackendCount"), Bind<IptablesReadRaw>("iptablesReadRaw"),
      Bind<IptablesWriteRaw>("iptablesWriteRaw"), Bind<IptablesPrintRaw>("iptablesPrintRaw"),
  });
}

}  // namespace ipt
}  // namespace nlkit
