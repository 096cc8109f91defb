// How the addon's exports are made: one Register per subsystem (native/<subsystem>/register.cc),
// each setting that subsystem's functions, called once from native/addon.cc. A binding's name
// is written in its subsystem's register.cc and nowhere else on the native side; its type
// lives in lib/<subsystem>/binding.ts.
#pragma once
#include <napi.h>

namespace nlkit {

using Entry = Napi::Value (*)(const Napi::CallbackInfo&);

// exports[name] = a JS function calling F.
template <Entry F>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New<F>(env, name));
}

namespace core { void Register(Napi::Env env, Napi::Object exports); }
namespace netlink { void Register(Napi::Env env, Napi::Object exports); }
namespace ipset { void Register(Napi::Env env, Napi::Object exports); }
namespace ipt { void Register(Napi::Env env, Napi::Object exports); }
namespace link { void Register(Napi::Env env, Napi::Object exports); }

}  // namespace nlkit
