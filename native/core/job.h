// A unit of work run on a handle's worker thread. Execute() must touch no JS value; it
// records the outcome in plain C++ fields that Settle() turns into JS on the main thread.
#pragma once
#include <napi.h>
#include <string>
#include <vector>

namespace nlkit {

// The one failure record every job returns (Settle rejects with it; lib/core/binding.ts
// NativeFailure declares the same fields, and each subsystem's errors.ts maps it).
struct Failure {
  int err = 0;               // errno-style code, 0 when only a message is known
  std::string message;       // the kernel's or library's own words
  std::string kind;          // extra classification for TypeScript (e.g. "ipset", "parse", "lock")
  long line = 0;             // line of text input at fault, 0 when none
  long index = -1;           // position of the refused message in a batch, -1 when none
  int offset = -1;           // byte offset in that line of the word at fault, -1 when none
  std::string argument;      // the word at fault
  std::string table;         // iptables: the table being worked on
  std::string lockPath;      // the lock that could not be taken
  int holderPid = 0;         // who holds it, 0 when unknown
  std::vector<std::string> applied;  // what had been applied when it failed (iptables: tables committed), in order
  bool set() const { return err != 0 || !message.empty(); }
};

// The record as the plain object TypeScript receives (lib/core/binding.ts NativeFailure): what
// a job rejects with, and what work that runs outside a worker (namespace files) rejects with too.
Napi::Object FailureValue(Napi::Env env, const Failure& failure);

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
