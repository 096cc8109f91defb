// How the addon's exports are made: one Register per subsystem (native/<subsystem>/register.cc),
// each setting that subsystem's functions, called once from native/addon.cc. A binding's name
// is written in its subsystem's register.cc and nowhere else on the native side; its type
// lives in lib/<subsystem>/binding.ts.
#pragma once
#include <napi.h>

#include <initializer_list>

namespace nlkit {

// Every binding's C++ function has this type: `EntryPoint IpsetExec, IpsetSend;` declares two.
using EntryPoint = Napi::Value(const Napi::CallbackInfo&);
using Entry = EntryPoint*;

// exports[name] = a JS function calling F.
template <Entry F>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New<F>(env, name));
}

// One row of a subsystem's table of bindings: the JS name and how its function is made (F is
// a template argument, so the call goes straight to F, as with Export).
struct Binding {
  const char* name;
  void (*set)(Napi::Env, Napi::Object, const char*);
};
template <Entry F>
constexpr Binding Bind(const char* name) {
  return {name, &Export<F>};
}

// Every row of the table into exports: what each subsystem's Register does.
inline void ExportAll(Napi::Env env, Napi::Object exports, std::initializer_list<Binding> table) {
  for (const Binding& b : table) b.set(env, exports, b.name);
}

namespace core { void Register(Napi::Env env, Napi::Object exports); }
namespace netlink { void Register(Napi::Env env, Napi::Object exports); }
namespace ipset { void Register(Napi::Env env, Napi::Object exports); }
namespace ipt { void Register(Napi::Env env, Napi::Object exports); }
namespace link { void Register(Napi::Env env, Napi::Object exports); }

}  // namespace nlkit
