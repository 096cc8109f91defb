// The jobs that read a legacy table's blob as the kernel holds it and put it back
// (kernel/raw.h), for snapshots and undo.
#include <net/if.h>  // before the linux headers that bring linux/if.h
#include <netinet/in.h>  // before linux/in.h
#include <napi.h>
#include <string.h>

#include "../../core/args.h"
#include "../../core/worker.h"
#include "../kernel/raw.h"

namespace nlkit {
namespace ipt {

namespace {

int NfprotoOf(const Napi::Object& req) {
  return req.Get("family").ToNumber().Int32Value() == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

// An errno of the kernel's table calls as the one failure record: kind "save" for a read,
// "commit" for a replace (lib/iptables/errors.ts problemError maps both).
void Fail(Failure& f, int err, const char* kind, const std::string& table, const std::string& what) {
  f.err = err;
  f.kind = kind;
  f.table = table;
  f.message = what + table + ": " + strerror(err);
}

class ReadRawJob : public Job {
 public:
  using Job::Job;
  int nfproto = NFPROTO_IPV4;
  std::string table;
  void Execute() override {
    if (int err = ReadRaw(nfproto, table, &t_)) Fail(failure, err, "save", table, "cannot read table ");
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("table", t_.name);
    r.Set("validHooks", t_.valid_hooks);
    r.Set("numEntries", t_.num_entries);
    Napi::Array he = Napi::Array::New(env, NF_INET_NUMHOOKS), uf = Napi::Array::New(env, NF_INET_NUMHOOKS);
    for (uint32_t i = 0; i < NF_INET_NUMHOOKS; i++) {
      he.Set(i, t_.hook_entry[i]);
      uf.Set(i, t_.underflow[i]);
    }
    r.Set("hookEntry", he);
    r.Set("underflow", uf);
    r.Set("entries", Napi::Buffer<uint8_t>::Copy(env, t_.entries.data(), t_.entries.size()));
    return r;
  }

 private:
  RawTable t_;
};

class WriteRawJob : public Job {
 public:
  using Job::Job;
  RawTable t;
  void Execute() override {
    if (int err = WriteRaw(t)) Fail(failure, err, "commit", t.name, "the kernel refused table ");
  }
};

}  // namespace
}  // namespace ipt

// iptablesReadRaw(worker, { family, table }): { table, validHooks, numEntries, hookEntry, underflow, entries };
// a failure rejects with the failure record (kind "save").
Napi::Value IptablesReadRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = WorkerArgs(info, info[1].IsObject() && info[1].As<Napi::Object>().Get("table").IsString(),
                         "iptablesReadRaw(worker, { family, table })");
  if (w == nullptr) return env.Undefined();
  Napi::Object req = info[1].As<Napi::Object>();
  auto* job = new ipt::ReadRawJob(env);
  job->nfproto = ipt::NfprotoOf(req);
  job->table = req.Get("table").As<Napi::String>().Utf8Value();
  return w->Submit(env, job);
}

// iptablesWriteRaw(worker, { family, table, validHooks, numEntries, hookEntry, underflow, entries }): undefined;
// a refusal rejects with the failure record (kind "commit"). The caller holds the xtables lock.
Napi::Value IptablesWriteRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object req = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object();
  Worker* w = WorkerArgs(info, !req.IsEmpty() && req.Get("table").IsString() && req.Get("entries").IsBuffer() &&
                                   req.Get("hookEntry").IsArray() && req.Get("underflow").IsArray(),
                         "iptablesWriteRaw(worker, snapshot)");
  if (w == nullptr) return env.Undefined();
  auto* job = new ipt::WriteRawJob(env);
  ipt::RawTable& t = job->t;
  t.nfproto = ipt::NfprotoOf(req);
  t.name = req.Get("table").As<Napi::String>().Utf8Value();
  t.valid_hooks = req.Get("validHooks").ToNumber().Uint32Value();
  t.num_entries = req.Get("numEntries").ToNumber().Uint32Value();
  Napi::Array he = req.Get("hookEntry").As<Napi::Array>(), uf = req.Get("underflow").As<Napi::Array>();
  for (uint32_t i = 0; i < NF_INET_NUMHOOKS; i++) {
    t.hook_entry[i] = he.Get(i).ToNumber().Uint32Value();
    t.underflow[i] = uf.Get(i).ToNumber().Uint32Value();
  }
  auto b = req.Get("entries").As<Napi::Buffer<uint8_t>>();
  t.entries.assign(b.Data(), b.Data() + b.Length());
  return w->Submit(env, job);
}

}  // namespace nlkit
