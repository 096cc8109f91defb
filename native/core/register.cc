#include "register.h"

#include "worker.h"

namespace nlkit {

// bench.cc, linked in only by a build with NLKIT_BENCH=1 (binding.gyp): else null.
__attribute__((weak)) void RegisterBench(Napi::Env env, Napi::Object exports);

namespace core {

void Register(Napi::Env env, Napi::Object exports) {
  exports.Set("Worker", Worker::Init(env));
  if (RegisterBench != nullptr) RegisterBench(env, exports);
}

}  // namespace core
}  // namespace nlkit
