#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <chrono>

namespace nlkit {

void Job::Settle(Napi::Env env) {
  Napi::HandleScope scope(env);
  if (!failure.set()) {
    deferred_.Resolve(Result(env));
    return;
  }
  // A plain object: TypeScript turns it into the right NlkitError subclass.
  Napi::Object e = Napi::Object::New(env);
  e.Set("errno", Napi::Number::New(env, failure.err));
  e.Set("message", Napi::String::New(env, failure.message));
  if (!failure.kind.empty()) e.Set("kind", Napi::String::New(env, failure.kind));
  if (failure.line) e.Set("line", Napi::Number::New(env, failure.line));
  e.Set("nativeFailure", Napi::Boolean::New(env, true));
  deferred_.Reject(e);
}

namespace {
// Jobs that only order the queue: close() is one.
struct BarrierJob : Job {
  using Job::Job;
  void Execute() override {}
};
}  // namespace

Napi::Function Worker::Init(Napi::Env env) {
  return DefineClass(env, "Worker",
                     {InstanceMethod<&Worker::Close>("close"),
                      InstanceMethod<&Worker::Closed>("closed")});
}

Worker::Worker(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Worker>(info), env_(info.Env()) {
  if (info.Length() > 0 && info[0].IsString()) netns_ = info[0].As<Napi::String>().Utf8Value();
  tsfn_ = Tsfn::New(env_, "nlkit.worker", 0, 1, this);
  tsfn_.Unref(env_);  // an idle handle must not keep the process alive
  napi_add_env_cleanup_hook(env_, Cleanup, this);
  thread_ = std::thread([this] { Run(); });
}

Worker::~Worker() {
  napi_remove_env_cleanup_hook(env_, Cleanup, this);
  Shutdown();
}

Worker* Worker::Unwrap(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  return Napi::ObjectWrap<Worker>::Unwrap(v.As<Napi::Object>());
}

void Worker::Run() {
  if (!netns_.empty()) {
    int fd = open(netns_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      nsFailure_.err = errno;
      nsFailure_.message = "cannot enter network namespace " + netns_ + ": " + strerror(errno);
      nsFailure_.kind = "netns";
    }
    if (fd >= 0) close(fd);
  }
  for (;;) {
    Job* job;
    // Callers that await one call before making the next would pay a thread wake-up per
    // call; a short spin first catches the next job while it is being queued.
    for (auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
         queued_.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until;)
      std::this_thread::yield();
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = queue_.front();
      queue_.pop_front();
      queued_.fetch_sub(1, std::memory_order_release);
    }
    if (nsFailure_.set())
      job->failure = nsFailure_;
    else
      job->Execute();
    if (tsfn_.NonBlockingCall(job) != napi_ok) delete job;  // environment is going away
  }
}

Napi::Promise Worker::Submit(Napi::Env env, Job* job) {
  Napi::Promise promise = job->Promise();
  if (closed_) {
    job->failure.err = EBADF;
    job->failure.message = "handle is closed";
    job->failure.kind = "closed";
    job->Settle(env);
    delete job;
    return promise;
  }
  if (pending_++ == 0) {
    Ref();             // keep this object alive while work is in flight
    tsfn_.Ref(env);    // and the event loop with it
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
    queued_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_one();
  return promise;
}

void DeliverJob(Napi::Env env, Napi::Function, Worker* self, Job* job) {
  if (env == nullptr) {
    delete job;
    return;
  }
  job->Settle(env);
  delete job;
  if (--self->pending_ == 0) {
    self->tsfn_.Unref(env);
    if (self->closed_) self->Shutdown();
    self->Unref();
  }
}

void Worker::Shutdown() {
  Stop();
  if (!released_) {
    released_ = true;
    tsfn_.Release();
  }
}

Napi::Value Worker::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // The barrier runs after every job queued before it: close() waits for work in flight.
  Napi::Promise p = Submit(env, new BarrierJob(env));
  closed_ = true;
  return p;
}

Napi::Value Worker::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

void Worker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Worker::Cleanup(void* arg) {
  auto* self = static_cast<Worker*>(arg);
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    for (Job* j : self->queue_) delete j;
    self->queue_.clear();
  }
  self->Stop();
  if (!self->released_) {
    self->released_ = true;
    self->tsfn_.Abort();
  }
}

}  // namespace nlkit
