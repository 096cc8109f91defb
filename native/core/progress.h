// How far a bulk job got, readable by JavaScript while the job runs: the job stores a count
// into the first element of a Uint32Array the caller passed (relaxed atomic stores; TypeScript
// polls it on a timer, lib/core/progress.ts). No JS is ever called from the worker thread, so
// nothing can run in an environment that is going away. The array stays referenced until the
// job is settled, like the batch's own bytes (batch.h).
#pragma once
#include <napi.h>
#include <stdint.h>

namespace nlkit {

struct ProgressCounter {
  // Tracks `v` when it is a Uint32Array of at least one element; otherwise stays off.
  void Track(const Napi::Value& v) {
    if (!v.IsTypedArray()) return;
    auto a = v.As<Napi::TypedArray>();
    if (a.TypedArrayType() != napi_uint32_array || a.ElementLength() < 1) return;
    ref = Napi::Persistent(a.As<Napi::Uint32Array>());
    slot = a.As<Napi::Uint32Array>().Data();
  }
  void Store(uint32_t n) {
    if (slot != nullptr) __atomic_store_n(slot, n, __ATOMIC_RELAXED);
  }

  Napi::Reference<Napi::Uint32Array> ref;
  uint32_t* slot = nullptr;
};

}  // namespace nlkit
