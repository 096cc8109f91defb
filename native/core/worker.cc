#include "worker.h"
#include "open_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <chrono>
#include <memory>

namespace nlkit {

void Job::Settle(Napi::Env env) {
  Napi::HandleScope scope(env);
  if (!failure.set()) {
    deferred_.Resolve(Result(env));
    return;
  }
  deferred_.Reject(FailureValue(env, failure));
}

Napi::Object FailureValue(Napi::Env env, const Failure& failure) {
  // A plain object: TypeScript turns it into the right NlkitError subclass.
  Napi::Object e = Napi::Object::New(env);
  e.Set("errno", Napi::Number::New(env, failure.err));
  e.Set("message", Napi::String::New(env, failure.message));
  if (!failure.kind.empty()) e.Set("kind", Napi::String::New(env, failure.kind));
  if (failure.line) e.Set("line", Napi::Number::New(env, failure.line));
  if (failure.index >= 0) e.Set("index", Napi::Number::New(env, failure.index));
  if (failure.offset >= 0) e.Set("offset", Napi::Number::New(env, failure.offset));
  if (!failure.argument.empty()) e.Set("argument", Napi::String::New(env, failure.argument));
  if (!failure.table.empty()) e.Set("table", Napi::String::New(env, failure.table));
  if (!failure.lockPath.empty()) e.Set("lockPath", Napi::String::New(env, failure.lockPath));
  if (failure.holderPid) e.Set("holderPid", Napi::Number::New(env, failure.holderPid));
  if (!failure.applied.empty()) {
    Napi::Array a = Napi::Array::New(env, failure.applied.size());
    for (size_t i = 0; i < failure.applied.size(); i++) a.Set(i, failure.applied[i]);
    e.Set("applied", a);
  }
  e.Set("nativeFailure", Napi::Boolean::New(env, true));
  return e;
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

namespace {
thread_local const std::atomic<bool>* tlAbandoned = nullptr;
}  // namespace

bool JobAbandoned() { return tlAbandoned != nullptr && tlAbandoned->load(std::memory_order_relaxed); }

void Worker::Run() {
  tlAbandoned = &abandoned_;
  if (!netns_.empty()) {
    std::string why;
    int fd = OpenRegularFile(netns_, O_RDONLY, 0, &why);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      nsFailure_.err = errno;
      nsFailure_.message = "cannot enter network namespace " + netns_ + ": " + (why.empty() ? strerror(errno) : why);
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
  std::unique_ptr<Job> owned(job);
  if (env == nullptr) return;  // the thread-safe function is being torn down
  // In an environment that is shutting down (a worker_thread terminated or calling
  // process.exit()) no JS value can be made: the result has no one to go to and is dropped.
  // Nothing may escape into the caller, which is C.
  try {
    job->Settle(env);
  } catch (const Napi::Error&) {
  }
  owned.reset();
  if (--self->pending_ == 0) {
    try {
      self->tsfn_.Unref(env);
      if (self->closed_) self->Shutdown();
      self->Unref();
    } catch (const Napi::Error&) {
    }
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
  self->abandoned_.store(true, std::memory_order_relaxed);  // a job waiting for a lock stops waiting
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
