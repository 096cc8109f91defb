#include <napi.h>
#include "common/worker.h"

namespace nlkit {
Napi::Value IpsetExec(const Napi::CallbackInfo& info);
Napi::Value IpsetSend(const Napi::CallbackInfo& info);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Worker", nlkit::Worker::Init(env));
  exports.Set("ipsetExec", Napi::Function::New<nlkit::IpsetExec>(env, "ipsetExec"));
  exports.Set("ipsetSend", Napi::Function::New<nlkit::IpsetSend>(env, "ipsetSend"));
  return exports;
}

NODE_API_MODULE(nlkit, Init)
