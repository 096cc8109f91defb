#include <napi.h>
#include "common/worker.h"

namespace nlkit {
Napi::Value IpsetExec(const Napi::CallbackInfo& info);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Worker", nlkit::Worker::Init(env));
  exports.Set("ipsetExec", Napi::Function::New<nlkit::IpsetExec>(env, "ipsetExec"));
  return exports;
}

NODE_API_MODULE(nlkit, Init)
