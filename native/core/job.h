// A unit of work run on a handle's worker thread. Execute() must touch no JS value; it
// records the outcome in plain C++ fields that Settle() turns into JS on the main thread.
#pragma once
#include <napi.h>
#include <string>

namespace nlkit {

struct Failure {
  int err = 0;               // errno-style code, 0 when only a message is known
  std::string message;       // the kernel's or library's own words
  std::string kind;          // extra classification for TypeScript (e.g. "ipset")
  long line = 0;             // line of text input at fault, 0 when none
  bool set() const { return err != 0 || !message.empty(); }
};

// True on a worker thread whose JavaScript environment is shutting down (a worker_thread
// terminated, or process exit): a job that waits (for the xtables lock) gives up instead of
// holding the environment's teardown until the wait ends. False on any other thread.
bool JobAbandoned();

class Job {
 public:
  explicit Job(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  virtual ~Job() = default;
  virtual void Execute() = 0;
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  Napi::Promise Promise() const { return deferred_.Promise(); }
  Failure failure;

  void Settle(Napi::Env env);

 private:
  Napi::Promise::Deferred deferred_;
};

}  // namespace nlkit
