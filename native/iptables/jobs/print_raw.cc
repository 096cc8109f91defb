// iptables-save's text for tables given as legacy blobs (native/iptables/raw.h's RawTable
// layout), not read from the kernel: the nf_tables backend's save decodes its tables in
// TypeScript (lib/iptables/nft/decode.ts) and prints them here with the same printer, and
// libxtables' save functions, that print legacy tables. One crossing for all tables; the job
// runs on the handle's worker (libxtables' lock and plugin loading stay off the JS thread).
#include <net/if.h>      // before the linux headers that bring linux/if.h
#include <netinet/in.h>  // before linux/in.h
#include <napi.h>
#include <errno.h>
#include <linux/netfilter.h>

#include <string>
#include <vector>

#include "../../core/worker.h"
#include "../compile/save.h"
#include "../compile/xt.h"
#include "../kernel/raw.h"
#include "../model/table.h"
#include "compile_job.h"

namespace nlkit {
namespace ipt {
namespace {

class PrintRawJob : public Job {
 public:
  using Job::Job;
  int nfproto = NFPROTO_IPV4;
  bool counters = false;
  std::vector<RawTable> tables;

  void Execute() override {
    Blob buf = Blob::Take();
    for (size_t i = 0; i < tables.size() && !failure.set(); i++) Print(tables[i], &buf);
    Blob::Give(std::move(buf));
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    auto strings = [&](const std::vector<std::string>& v) {
      Napi::Array a = Napi::Array::New(env, v.size());
      for (size_t i = 0; i < v.size(); i++) a.Set(i, v[i]);
      return a;
    };
    r.Set("texts", strings(texts_));
    r.Set("warnings", strings(warnings_));
    return r;
  }

 private:
  void Print(const RawTable& raw, Blob* buf) {
    Table t(nfproto, raw.name);
    if (int e = t.Load(raw.valid_hooks, raw.hook_entry, raw.underflow, raw.num_entries, raw.entries.data(),
                       static_cast<uint32_t>(raw.entries.size()), buf)) {
      Fail(e, "table " + raw.name + " is not a valid table blob", raw.name);
      return;
    }
    bool ok = false;
    std::string perr;
    std::string text;
    bool ran = XtRun(nfproto, true, [&](StdioCapture& cap) {
      cap.TakeOut();
      ok = PrintTable(t, counters, &perr);
      text = cap.TakeOut();
      for (auto& w : cap.TakeErr()) warnings_.push_back(w);
    }, &perr);
    if (!ran || !ok) {
      Fail(EIO, perr, raw.name);
      return;
    }
    texts_.push_back(std::move(text));
  }
  // The one failure record (kind "save"): the job rejects with it.
  void Fail(int err, std::string m, const std::string& table) {
    failure.err = err;
    failure.kind = "save";
    failure.message = m.empty() ? "cannot print table " + table : std::move(m);
    failure.table = table;
  }
  std::vector<std::string> texts_;
  std::vector<std::string> warnings_;
};


}  // namespace
}  // namespace ipt

// iptablesPrintRaw(worker, { family, counters, tables: [{ table, validHooks, numEntries, hookEntry,
// underflow, entries }] }): { texts (one per table), warnings }; a table it cannot print rejects with the
// failure record (kind "save", its table).
// The text of each table is what iptables-save prints for it, without the timestamp lines.
Napi::Value IptablesPrintRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = Worker::Unwrap(info[0]);
  Napi::Object req = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object();
  if (w == nullptr || req.IsEmpty() || !req.Get("tables").IsArray()) {
    Napi::TypeError::New(env, "iptablesPrintRaw(worker, { family, counters, tables })").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* job = new ipt::PrintRawJob(env);
  job->nfproto = req.Get("family").ToNumber().Int32Value() == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
  job->counters = req.Get("counters").ToBoolean().Value();
  Napi::Array tables = req.Get("tables").As<Napi::Array>();
  for (uint32_t i = 0; i < tables.Length(); i++) {
    Napi::Value v = tables.Get(i);
    Napi::Object o = v.IsObject() ? v.As<Napi::Object>() : Napi::Object();
    ipt::RawTable t;
    if (o.IsEmpty() || !ipt::RawTableFromJs(o, job->nfproto, &t)) {
      delete job;
      Napi::TypeError::New(env, "iptablesPrintRaw: tables[" + std::to_string(i) + "] is not a raw table").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    job->tables.push_back(std::move(t));
  }
  return w->Submit(env, job);
}

}  // namespace nlkit
