// See compile_job.h. The layout is the one Table::Commit writes for IPT_SO_SET_REPLACE (and
// the kernel hands back with IPT_SO_GET_ENTRIES), assembled here without a socket.
#include "compile_job.h"

#include <string.h>
#include <linux/netfilter/x_tables.h>

#include <algorithm>
#include <string>

namespace nlkit {
namespace ipt {
namespace {

constexpr int kAccept = -NF_ACCEPT - 1;
constexpr uint32_t kStdSize = XT_ALIGN(sizeof(struct xt_standard_target));
constexpr uint32_t kErrSize = XT_ALIGN(sizeof(struct xt_error_target));
const char* const kHooks[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};


}  // namespace

uint32_t ValidHooksOf(const std::string& table) {
  constexpr uint32_t pre = 1u << NF_INET_PRE_ROUTING, in = 1u << NF_INET_LOCAL_IN, fwd = 1u << NF_INET_FORWARD,
                     out = 1u << NF_INET_LOCAL_OUT, post = 1u << NF_INET_POST_ROUTING;
  if (table == "filter" || table == "security") return in | fwd | out;
  if (table == "nat") return pre | in | out | post;
  if (table == "mangle") return pre | in | fwd | out | post;
  if (table == "raw") return pre | out;
  return 0;
}

// Declared in table.h: a table with only its built-in chains (policy ACCEPT), as if read
// from a kernel that has just created it.
int Table::InitBuiltins(uint32_t validHooks) {
  fn_ = Fn::Init;
  if (!validHooks) return ENOENT;
  valid_hooks_ = validHooks;
  num_entries_ = 0;
  for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++) {
    if (!(validHooks & (1u << i))) continue;
    Chain* c = AddChain(kHooks[i], i + 1);
    c->verdict = kAccept;
    c->map = MapType::NoMap;
  }
  return 0;
}

void ToRawTable(Table& t, RawTable* out, bool created) {
  const Family& f = t.fam();
  const uint32_t hdr = static_cast<uint32_t>(f.hdr);
  const uint32_t head = hdr + kErrSize, foot = hdr + kStdSize;
  std::vector<Chain*> order = created ? t.Created() : t.Ordered();
  uint32_t off = 0, num = 0;
  for (Chain* c : order) {
    c->head_offset = off;
    if (!c->hooknum) off += head, num++;
    for (uint32_t i = c->first; i != kNone; i = t.RuleAt(i).next) {
      Rule& r = t.RuleAt(i);
      r.offset = off;
      off += r.size, num++;
    }
    c->foot_offset = off;
    off += foot, num++;
  }
  const uint32_t size = off + head;
  out->nfproto = f.nfproto;
  out->name = t.name();
  out->num_entries = num + 1;
  out->entries.assign(size, 0);
  uint8_t* base = out->entries.data();
  auto putHead = [&](uint8_t* p, std::string_view name) { PutChainHead(f, p, name); };
  auto setVerdict = [&](uint8_t* e, int verdict, bool clearName) { SetStdVerdict(f, e, verdict, clearName); };
  for (Chain* c : order) {
    if (c->hooknum) {
      out->valid_hooks |= 1u << (c->hooknum - 1);
      out->hook_entry[c->hooknum - 1] = c->head_offset;
      out->underflow[c->hooknum - 1] = c->foot_offset;
    } else {
      putHead(base + c->head_offset, c->name);
    }
    for (uint32_t i = c->first; i != kNone; i = t.RuleAt(i).next) {
      const Rule& r = t.RuleAt(i);
      uint8_t* e = base + r.offset;
      memcpy(e, r.entry, r.size);
      memcpy(e + f.off_counters, &r.counters, sizeof r.counters);
      switch (r.kind) {
        case RuleKind::Jump: setVerdict(e, static_cast<int>(r.jump->head_offset + head), true); break;
        case RuleKind::Fallthrough: setVerdict(e, static_cast<int>(r.offset + r.size), false); break;
        case RuleKind::Standard: setVerdict(e, r.verdict, true); break;
        case RuleKind::Module: break;
      }
    }
    PutChainFoot(f, base + c->foot_offset, *c);
  }
  putHead(base + size - head, "ERROR");
}

bool RawTableFromJs(const Napi::Object& o, int nfproto, RawTable* out) {
  auto hooks = [](const Napi::Value& v, uint32_t* to) {
    if (!v.IsArray() || v.As<Napi::Array>().Length() != NF_INET_NUMHOOKS) return false;
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < NF_INET_NUMHOOKS; i++) {
      Napi::Value x = a.Get(i);
      if (!x.IsNumber()) return false;
      to[i] = x.As<Napi::Number>().Uint32Value();
    }
    return true;
  };
  // entries: one Buffer, or its parts in order (joined here, as they are copied in anyway)
  Napi::Value entries = o.Get("entries");
  std::vector<Napi::Buffer<uint8_t>> parts;
  if (entries.IsBuffer()) {
    parts.push_back(entries.As<Napi::Buffer<uint8_t>>());
  } else if (entries.IsArray()) {
    Napi::Array a = entries.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsBuffer()) return false;
      parts.push_back(v.As<Napi::Buffer<uint8_t>>());
    }
  } else {
    return false;
  }
  if (!o.Get("table").IsString() || !hooks(o.Get("hookEntry"), out->hook_entry) || !hooks(o.Get("underflow"), out->underflow))
    return false;
  out->nfproto = nfproto;
  out->name = o.Get("table").As<Napi::String>().Utf8Value();
  out->valid_hooks = o.Get("validHooks").ToNumber().Uint32Value();
  out->num_entries = o.Get("numEntries").ToNumber().Uint32Value();
  size_t size = 0;
  for (auto& b : parts) size += b.Length();
  out->entries.reserve(size);
  for (auto& b : parts) out->entries.insert(out->entries.end(), b.Data(), b.Data() + b.Length());
  return true;
}

Napi::Value RawTablesToJs(Napi::Env env, std::vector<RawTable>& tables) {
  Napi::Array arr = Napi::Array::New(env, tables.size());
  for (size_t i = 0; i < tables.size(); i++) {
    RawTable& t = tables[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("table", t.name);
    o.Set("validHooks", t.valid_hooks);
    o.Set("numEntries", t.num_entries);
    Napi::Array he = Napi::Array::New(env, NF_INET_NUMHOOKS), uf = Napi::Array::New(env, NF_INET_NUMHOOKS);
    for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) he.Set(h, t.hook_entry[h]), uf.Set(h, t.underflow[h]);
    o.Set("hookEntry", he);
    o.Set("underflow", uf);
    auto* vec = new std::vector<uint8_t>(std::move(t.entries));
    o.Set("entries", vec->empty() ? (delete vec, Napi::Buffer<uint8_t>::New(env, 0))
                                  : Napi::Buffer<uint8_t>::New(env, vec->data(), vec->size(),
                                                               [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, vec));
    arr.Set(i, o);
  }
  return arr;
}

}  // namespace ipt
}  // namespace nlkit
