#include <net/if.h>  // before the linux headers that bring linux/if.h
#include <netinet/in.h>  // before linux/in.h
#include "raw.h"
#include <napi.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <chrono>
#include <thread>
#include "../../core/worker.h"
#include "../model/table.h"

namespace nlkit {
namespace ipt {

namespace {

struct Fd {
  int fd;
  explicit Fd(int af) : fd(socket(af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int GetInfo(int fd, const Family& f, const std::string& name, struct ipt_getinfo* info) {
  memset(info, 0, sizeof *info);
  if (name.size() >= XT_TABLE_MAXNAMELEN) return EINVAL;
  strcpy(info->name, name.c_str());
  socklen_t len = sizeof *info;
  return getsockopt(fd, f.level, IPT_SO_GET_INFO, info, &len) < 0 ? errno : 0;
}

}  // namespace

int ReadRaw(int nfproto, const std::string& name, RawTable* out) {
  const Family& f = Family::Of(nfproto);
  Fd s(f.af);
  if (s.fd < 0) return errno;
  const size_t head = offsetof(struct ipt_get_entries, entrytable);
  for (int attempt = 0;; attempt++) {
    struct ipt_getinfo info;
    if (int e = GetInfo(s.fd, f, name, &info)) return e;
    std::vector<uint8_t> buf(head + info.size);
    auto* ge = reinterpret_cast<struct ipt_get_entries*>(buf.data());
    strcpy(ge->name, name.c_str());
    ge->size = info.size;
    socklen_t len = buf.size();
    if (getsockopt(s.fd, f.level, IPT_SO_GET_ENTRIES, buf.data(), &len) < 0) {
      if (errno == EAGAIN && attempt < 100) continue;  // the table changed size meanwhile
      return errno;
    }
    out->nfproto = nfproto;
    out->name = name;
    out->valid_hooks = info.valid_hooks;
    out->num_entries = info.num_entries;
    memcpy(out->hook_entry, info.hook_entry, sizeof out->hook_entry);
    memcpy(out->underflow, info.underflow, sizeof out->underflow);
    out->entries.assign(buf.begin() + head, buf.end());
    return 0;
  }
}

int WriteRaw(const RawTable& t) {
  const Family& f = Family::Of(t.nfproto);
  if (t.name.size() >= XT_TABLE_MAXNAMELEN) return EINVAL;
  // The counters to set, one per entry, in order (the kernel zeroes them on replace).
  std::vector<struct xt_counters> counters;
  counters.reserve(t.num_entries);
  for (size_t off = 0; off < t.entries.size();) {
    uint16_t next;
    memcpy(&next, t.entries.data() + off + f.off_next, sizeof next);
    if (next == 0 || off + next > t.entries.size()) return EINVAL;
    struct xt_counters c;
    memcpy(&c, t.entries.data() + off + f.off_counters, sizeof c);
    counters.push_back(c);
    off += next;
  }
  if (counters.size() != t.num_entries) return EINVAL;
  Fd s(f.af);
  if (s.fd < 0) return errno;
  const size_t head = offsetof(struct ipt_replace, entries);
  std::vector<uint8_t> buf(head + t.entries.size());
  memcpy(buf.data() + head, t.entries.data(), t.entries.size());
  for (int attempt = 0;; attempt++) {
    struct ipt_getinfo info;
    if (int e = GetInfo(s.fd, f, t.name, &info)) return e;
    if (info.valid_hooks != t.valid_hooks) return EINVAL;
    std::vector<struct xt_counters> old(info.num_entries ? info.num_entries : 1);
    auto* r = reinterpret_cast<struct ipt_replace*>(buf.data());
    memset(r, 0, head);
    strcpy(r->name, t.name.c_str());
    r->valid_hooks = t.valid_hooks;
    r->num_entries = t.num_entries;
    r->size = t.entries.size();
    memcpy(r->hook_entry, t.hook_entry, sizeof r->hook_entry);
    memcpy(r->underflow, t.underflow, sizeof r->underflow);
    r->num_counters = info.num_entries;
    r->counters = old.data();
    if (setsockopt(s.fd, f.level, IPT_SO_SET_REPLACE, buf.data(), buf.size()) == 0) break;
    // EAGAIN: the table changed between GET_INFO and the replace.
    if (errno != EAGAIN || attempt >= 4) return errno;
    std::this_thread::sleep_for(std::chrono::milliseconds(1 << attempt));
  }
  bool any = false;
  for (const auto& c : counters) any = any || c.pcnt || c.bcnt;
  if (!any) return 0;
  const size_t ciHead = offsetof(struct xt_counters_info, counters);
  std::vector<uint8_t> cbuf(ciHead + sizeof(struct xt_counters) * counters.size());
  auto* ci = reinterpret_cast<struct xt_counters_info*>(cbuf.data());
  memset(ci, 0, ciHead);
  strcpy(ci->name, t.name.c_str());
  ci->num_counters = counters.size();
  memcpy(cbuf.data() + ciHead, counters.data(), sizeof(struct xt_counters) * counters.size());
  return setsockopt(s.fd, f.level, IPT_SO_SET_ADD_COUNTERS, cbuf.data(), cbuf.size()) < 0 ? errno : 0;
}

namespace {

int NfprotoOf(const Napi::Object& req) {
  return req.Get("family").ToNumber().Int32Value() == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

class ReadRawJob : public Job {
 public:
  using Job::Job;
  int nfproto = NFPROTO_IPV4;
  std::string table;
  void Execute() override { err_ = ReadRaw(nfproto, table, &t_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("errno", err_);
    if (err_) return r;
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
  int err_ = 0;
};

class WriteRawJob : public Job {
 public:
  using Job::Job;
  RawTable t;
  void Execute() override { err_ = WriteRaw(t); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("errno", err_);
    return r;
  }

 private:
  int err_ = 0;
};

}  // namespace
}  // namespace ipt

// iptablesReadRaw(worker, { family, table }): { errno, table, validHooks, numEntries, hookEntry, underflow, entries }
Napi::Value IptablesReadRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = Worker::Unwrap(info[0]);
  if (w == nullptr || !info[1].IsObject() || !info[1].As<Napi::Object>().Get("table").IsString()) {
    Napi::TypeError::New(env, "iptablesReadRaw(worker, { family, table })").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object req = info[1].As<Napi::Object>();
  auto* job = new ipt::ReadRawJob(env);
  job->nfproto = ipt::NfprotoOf(req);
  job->table = req.Get("table").As<Napi::String>().Utf8Value();
  return w->Submit(env, job);
}

// iptablesWriteRaw(worker, { family, table, validHooks, numEntries, hookEntry, underflow, entries }): { errno }.
// The caller holds the xtables lock.
Napi::Value IptablesWriteRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = Worker::Unwrap(info[0]);
  Napi::Object req = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object();
  if (w == nullptr || req.IsEmpty() || !req.Get("table").IsString() || !req.Get("entries").IsBuffer() ||
      !req.Get("hookEntry").IsArray() || !req.Get("underflow").IsArray()) {
    Napi::TypeError::New(env, "iptablesWriteRaw(worker, snapshot)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
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
