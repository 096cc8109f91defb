// The namespace-bound worker behind every handle: one thread that enters the handle's
// network namespace once, then runs its jobs in call order. libuv's pool never calls setns.
#pragma once
#include <napi.h>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include "job.h"

namespace nlkit {

class Worker;
void DeliverJob(Napi::Env env, Napi::Function, Worker* self, Job* job);

class Worker : public Napi::ObjectWrap<Worker> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Worker(const Napi::CallbackInfo& info);
  ~Worker() override;

  // Queues a job; the returned promise settles on the JS thread after it ran.
  Napi::Promise Submit(Napi::Env env, Job* job);
  static Worker* Unwrap(const Napi::Value& v);

 private:
  friend void DeliverJob(Napi::Env env, Napi::Function, Worker* self, Job* job);
  using Tsfn = Napi::TypedThreadSafeFunction<Worker, Job, DeliverJob>;

  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  void Run();
  void Stop();      // joins the thread; it is idle by then or its queue was dropped
  void Shutdown();  // Stop() and release the thread-safe function
  static void Cleanup(void* arg);

  std::string netns_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::atomic<size_t> queued_{0};
  bool stopping_ = false;
  std::atomic<bool> abandoned_{false};  // the environment is shutting down: see JobAbandoned()
  bool closed_ = false;
  bool released_ = false;
  Failure nsFailure_;  // set once when entering the namespace failed; every job gets it
  Tsfn tsfn_;
  size_t pending_ = 0;  // JS thread only
  Napi::Env env_;
};

}  // namespace nlkit
