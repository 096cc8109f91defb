#include "../core/register.h"

namespace nlkit {

Napi::Value IptablesCache(const Napi::CallbackInfo& info);         // jobs/restore.cc
Napi::Value IptablesDrop(const Napi::CallbackInfo& info);          // jobs/restore.cc
Napi::Value IptablesRestore(const Napi::CallbackInfo& info);       // jobs/restore.cc
Napi::Value IptablesSave(const Napi::CallbackInfo& info);          // jobs/restore.cc
Napi::Value IptablesLock(const Napi::CallbackInfo& info);          // jobs/restore.cc
Napi::Value IptablesUnlock(const Napi::CallbackInfo& info);        // jobs/restore.cc
Napi::Value IptablesBackendCount(const Napi::CallbackInfo& info);  // jobs/backend_count.cc
Napi::Value IptablesReadRaw(const Napi::CallbackInfo& info);       // jobs/raw.cc
Napi::Value IptablesWriteRaw(const Napi::CallbackInfo& info);      // jobs/raw.cc
Napi::Value IptablesPrintRaw(const Napi::CallbackInfo& info);      // jobs/print_raw.cc

namespace ipt {

void Register(Napi::Env env, Napi::Object exports) {
  Export<IptablesCache>(env, exports, "iptablesCache");
  Export<IptablesDrop>(env, exports, "iptablesDrop");
  Export<IptablesRestore>(env, exports, "iptablesRestore");
  Export<IptablesSave>(env, exports, "iptablesSave");
  Export<IptablesLock>(env, exports, "iptablesLock");
  Export<IptablesUnlock>(env, exports, "iptablesUnlock");
  Export<IptablesBackendCount>(env, exports, "iptablesBackendCount");
  Export<IptablesReadRaw>(env, exports, "iptablesReadRaw");
  Export<IptablesWriteRaw>(env, exports, "iptablesWriteRaw");
  Export<IptablesPrintRaw>(env, exports, "iptablesPrintRaw");
}

}  // namespace ipt
}  // namespace nlkit
