// Argument checks shared by every entry point: the handle's worker first, then whatever
// the entry point needs, and one TypeError naming the call's shape when anything is off
// (TypeScript has checked the caller's values already; this guards the boundary itself).
#pragma once
#include <napi.h>

#include "worker.h"

namespace nlkit {

// The worker in info[0] when it is one and `ok`; else throws a TypeError saying `usage`
// and returns nullptr (the entry point then returns undefined).
inline Worker* WorkerArgs(const Napi::CallbackInfo& info, bool ok, const char* usage) {
  Worker* w = info.Length() > 0 ? Worker::Unwrap(info[0]) : nullptr;
  if (w != nullptr && ok) return w;
  Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
  return nullptr;
}

// The usual entry point: the worker and `ok` checked as WorkerArgs does, then the job make()
// returns submitted to the worker (make runs only when the arguments are right).
template <typename Make>
Napi::Value SubmitChecked(const Napi::CallbackInfo& info, bool ok, const char* usage, Make&& make) {
  Worker* w = WorkerArgs(info, ok, usage);
  return w == nullptr ? info.Env().Undefined() : w->Submit(info.Env(), make());
}

}  // namespace nlkit
