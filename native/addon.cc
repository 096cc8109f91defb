#include <napi.h>
#include "core/worker.h"

namespace nlkit {
Napi::Value IpsetExec(const Napi::CallbackInfo& info);
Napi::Value IpsetSend(const Napi::CallbackInfo& info);
Napi::Value IpvsSend(const Napi::CallbackInfo& info);
Napi::Value IpvsQuery(const Napi::CallbackInfo& info);
Napi::Value IptablesCache(const Napi::CallbackInfo& info);
Napi::Value IptablesRestore(const Napi::CallbackInfo& info);
Napi::Value IptablesSave(const Napi::CallbackInfo& info);
Napi::Value IptablesLock(const Napi::CallbackInfo& info);
Napi::Value IptablesUnlock(const Napi::CallbackInfo& info);
Napi::Value IptablesDrop(const Napi::CallbackInfo& info);
Napi::Value IptablesBackendCount(const Napi::CallbackInfo& info);
Napi::Value IptablesReadRaw(const Napi::CallbackInfo& info);
Napi::Value IptablesWriteRaw(const Napi::CallbackInfo& info);
Napi::Value IptablesPrintRaw(const Napi::CallbackInfo& info);
Napi::Value LinkSend(const Napi::CallbackInfo& info);
Napi::Value LinkQuery(const Napi::CallbackInfo& info);
Napi::Value NetnsAdd(const Napi::CallbackInfo& info);
Napi::Value NetnsDelete(const Napi::CallbackInfo& info);
Napi::Value SysctlRead(const Napi::CallbackInfo& info);
Napi::Value SysctlWrite(const Napi::CallbackInfo& info);
Napi::Value BenchNoop(const Napi::CallbackInfo& info);
Napi::Value BenchAsync(const Napi::CallbackInfo& info);
Napi::Value BenchStrings(const Napi::CallbackInfo& info);
Napi::Value BenchBuffer(const Napi::CallbackInfo& info);
void RegisterNetlink(Napi::Env env, Napi::Object exports);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Worker", nlkit::Worker::Init(env));
  nlkit::RegisterNetlink(env, exports);
  exports.Set("netnsAdd", Napi::Function::New<nlkit::NetnsAdd>(env, "netnsAdd"));
  exports.Set("netnsDelete", Napi::Function::New<nlkit::NetnsDelete>(env, "netnsDelete"));
  exports.Set("sysctlRead", Napi::Function::New<nlkit::SysctlRead>(env, "sysctlRead"));
  exports.Set("sysctlWrite", Napi::Function::New<nlkit::SysctlWrite>(env, "sysctlWrite"));
  exports.Set("ipsetExec", Napi::Function::New<nlkit::IpsetExec>(env, "ipsetExec"));
  exports.Set("ipsetSend", Napi::Function::New<nlkit::IpsetSend>(env, "ipsetSend"));
  exports.Set("ipvsSend", Napi::Function::New<nlkit::IpvsSend>(env, "ipvsSend"));
  exports.Set("ipvsQuery", Napi::Function::New<nlkit::IpvsQuery>(env, "ipvsQuery"));
  exports.Set("iptablesCache", Napi::Function::New<nlkit::IptablesCache>(env, "iptablesCache"));
  exports.Set("iptablesRestore", Napi::Function::New<nlkit::IptablesRestore>(env, "iptablesRestore"));
  exports.Set("iptablesSave", Napi::Function::New<nlkit::IptablesSave>(env, "iptablesSave"));
  exports.Set("iptablesLock", Napi::Function::New<nlkit::IptablesLock>(env, "iptablesLock"));
  exports.Set("iptablesUnlock", Napi::Function::New<nlkit::IptablesUnlock>(env, "iptablesUnlock"));
  exports.Set("iptablesDrop", Napi::Function::New<nlkit::IptablesDrop>(env, "iptablesDrop"));
  exports.Set("iptablesBackendCount", Napi::Function::New<nlkit::IptablesBackendCount>(env, "iptablesBackendCount"));
  exports.Set("iptablesReadRaw", Napi::Function::New<nlkit::IptablesReadRaw>(env, "iptablesReadRaw"));
  exports.Set("iptablesWriteRaw", Napi::Function::New<nlkit::IptablesWriteRaw>(env, "iptablesWriteRaw"));
  exports.Set("iptablesPrintRaw", Napi::Function::New<nlkit::IptablesPrintRaw>(env, "iptablesPrintRaw"));
  exports.Set("linkSend", Napi::Function::New<nlkit::LinkSend>(env, "linkSend"));
  exports.Set("linkQuery", Napi::Function::New<nlkit::LinkQuery>(env, "linkQuery"));
  exports.Set("benchNoop", Napi::Function::New<nlkit::BenchNoop>(env, "benchNoop"));
  exports.Set("benchAsync", Napi::Function::New<nlkit::BenchAsync>(env, "benchAsync"));
  exports.Set("benchStrings", Napi::Function::New<nlkit::BenchStrings>(env, "benchStrings"));
  exports.Set("benchBuffer", Napi::Function::New<nlkit::BenchBuffer>(env, "benchBuffer"));
  return exports;
}

NODE_API_MODULE(nlkit, Init)
