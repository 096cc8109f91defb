#include <napi.h>
#include "core/register.h"

// One line per subsystem: each Register sets its own functions (native/<subsystem>/register.cc).
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nlkit::core::Register(env, exports);
  nlkit::netlink::Register(env, exports);
  nlkit::link::Register(env, exports);
  nlkit::ipset::Register(env, exports);
  nlkit::ipt::Register(env, exports);
  return exports;
}

NODE_API_MODULE(nlkit, Init)
