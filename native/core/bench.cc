// Probes for bench/napi.ts: what crossing the JS/native boundary costs, apart from any
// kernel work, so the figures in bench/results.md need no guessing. Built only with
// NLKIT_BENCH=1 (`npm run build:bench`): the production addon has none of them.
//   benchNoop():                     a trivial synchronous call
//   benchAsync(worker):              a job that does nothing, through the handle's worker
//                                    queue and back (the path of every kernel call)
//   benchStrings(worker, string[]):  a batch of strings copied out of JS on the calling
//                                    thread, then walked on the worker
//   benchBuffer(worker, bytes, ends): a batch packed in one Uint8Array (item i ends at
//                                    ends[i]), walked on the worker without a copy
// The batch jobs resolve the number of bytes they walked, so the walk cannot be skipped.
#include <napi.h>
#include <errno.h>

#include <string>
#include <vector>

#include "args.h"
#include "batch.h"
#include "register.h"
#include "worker.h"

namespace nlkit {
namespace {

struct NoopJob : Job {
  using Job::Job;
  void Execute() override {}
};

class StringsJob : public Job {
 public:
  StringsJob(Napi::Env env, std::vector<std::string> items) : Job(env), items_(std::move(items)) {}
  void Execute() override {
    for (const std::string& s : items_) sum_ += s.size() + static_cast<unsigned char>(s.empty() ? 0 : s.back());
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(sum_)); }

 private:
  std::vector<std::string> items_;
  uint64_t sum_ = 0;
};

class BufferJob : public Job {
 public:
  BufferJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends)
      : Job(env),
        batch_(data, ends) {}

  void Execute() override {
    if (!batch_.Check(failure, 0, "malformed batch")) return;
    size_t start = 0;
    for (uint32_t end : batch_.ends) {
      sum_ += end - start + (end > start ? batch_.bytes[end - 1] : 0);
      start = end;
    }
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(sum_)); }

 private:
  MessageBatch batch_;
  uint64_t sum_ = 0;
};

Napi::Value BenchNoop(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

Napi::Value BenchAsync(const Napi::CallbackInfo& info) {
  Worker* w = WorkerArgs(info, true, "benchAsync(worker)");
  if (w == nullptr) return info.Env().Undefined();
  return w->Submit(info.Env(), new NoopJob(info.Env()));
}

Napi::Value BenchStrings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = WorkerArgs(info, true, "benchStrings(worker, string[])");
  if (w == nullptr) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsArray()) {
    Napi::TypeError::New(env, "benchStrings(worker, string[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array a = info[1].As<Napi::Array>();
  std::vector<std::string> items;
  items.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) {
      Napi::TypeError::New(env, "benchStrings: item " + std::to_string(i) + " is not a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    items.push_back(v.As<Napi::String>().Utf8Value());
  }
  return w->Submit(env, new StringsJob(env, std::move(items)));
}

Napi::Value BenchBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = WorkerArgs(info, true, "benchBuffer(worker, Uint8Array, Uint32Array)");
  if (w == nullptr) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Napi::TypeError::New(env, "benchBuffer(worker, Uint8Array, Uint32Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return w->Submit(env, new BufferJob(env, info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>()));
}

}  // namespace

// Called by core::Register in an addon built with NLKIT_BENCH=1 (binding.gyp's nlkit_bench).
void RegisterBench(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      Bind<BenchNoop>("benchNoop"), Bind<BenchAsync>("benchAsync"), Bind<BenchStrings>("benchStrings"),
      Bind<BenchBuffer>("benchBuffer"),
  });
}

}  // namespace nlkit
