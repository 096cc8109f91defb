#include "table.h"

#include <net/if.h>  // before the linux headers that bring linux/if.h
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "entry.h"

namespace nlkit {
namespace ipt {

using namespace entry;

namespace {

// ipt_entry and ip6t_entry share their field names; only the address part and its flags differ.
template <typename E>
constexpr Family Layout(uint8_t nfproto, int af, int level, size_t flagsOffset, uint8_t gotoFlag) {
  return {nfproto, af, level, sizeof(E), offsetof(E, target_offset), offsetof(E, next_offset),
          offsetof(E, comefrom), offsetof(E, counters), flagsOffset, gotoFlag};
}
const Family kV4 = Layout<ipt_entry>(NFPROTO_IPV4, AF_INET, IPPROTO_IP,
                                     offsetof(ipt_entry, ip) + offsetof(ipt_ip, flags), IPT_F_GOTO);
const Family kV6 = Layout<ip6t_entry>(NFPROTO_IPV6, AF_INET6, IPPROTO_IPV6,
                                      offsetof(ip6t_entry, ipv6) + offsetof(ip6t_ip6, flags), IP6T_F_GOTO);
}  // namespace

const Family& Family::Of(int nfproto) { return nfproto == NFPROTO_IPV6 ? kV6 : kV4; }

const char* TcStrerror(Fn fn, int err) {
  struct Row {
    Fn fn;
    int err;
    const char* message;
  };
  static const Row rows[] = {
      {Fn::Init, EPERM, "Permission denied (you must be root)"},
      {Fn::Init, EINVAL, "Module is wrong version"},
      {Fn::Init, ENOENT, "Table does not exist (do you need to insmod?)"},
      {Fn::DeleteChain, ENOTEMPTY, "Chain is not empty"},
      {Fn::DeleteChain, EINVAL, "Can't delete built-in chain"},
      {Fn::DeleteChain, EMLINK, "Can't delete chain with references left"},
      {Fn::CreateChain, EEXIST, "Chain already exists"},
      {Fn::Insert, E2BIG, "Index of insertion too big"},
      {Fn::Replace, E2BIG, "Index of replacement too big"},
      {Fn::DeleteNum, E2BIG, "Index of deletion too big"},
      {Fn::ZeroCounter, E2BIG, "Index of counter too big"},
      {Fn::Insert, ELOOP, "Loop found in table"},
      {Fn::Insert, EINVAL, "Target problem"},
      {Fn::DeleteEntry, ENOENT, "Bad rule (does a matching rule exist in that chain?)"},
      {Fn::SetPolicy, ENOENT, "Bad built-in chain name"},
      {Fn::SetPolicy, EINVAL, "Bad policy name"},
      {Fn::None, 0, "Incompatible with this kernel"},
      {Fn::None, ENOPROTOOPT, "iptables who? (do you need to insmod?)"},
      {Fn::None, ENOSYS, "Will be implemented real soon.  I promise ;)"},
      {Fn::None, ENOMEM, "Memory allocation problem"},
      {Fn::None, ENOENT, "No chain/target/match by that name"},
  };
  for (const Row& r : rows)
    if ((r.fn == Fn::None || r.fn == fn) && r.err == err) return r.message;
  return strerror(err);
}

uint64_t HashBytes(const void* p, size_t n) {
  // FNV-1a over 8-byte words, then a murmur finalizer: cheap, and chain names share long
  // prefixes ("KUBE-SEP-") so every byte must count.
  const uint8_t* s = static_cast<const uint8_t*>(p);
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, s, n);
  h = (h ^ w) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

bool LabelVerdict(std::string_view n, int* verdict) {
  if (n == "ACCEPT") return *verdict = kAccept, true;
  if (n == "DROP") return *verdict = kDrop, true;
  if (n == "QUEUE") return *verdict = kQueue, true;
  if (n == "RETURN") return *verdict = kReturn, true;
  return false;
}

bool IsStdLabel(std::string_view n) {
  int v;
  return LabelVerdict(n, &v);
}

namespace {
Chain* const kTomb = reinterpret_cast<Chain*>(uintptr_t(1));
}  // namespace

void ChainIndex::Reserve(size_t n) {
  size_t want = 16;
  while (want < (used_ + n) * 2) want <<= 1;
  if (want <= slots_.size()) return;
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(want, Slot{0, nullptr});
  used_ = 0;
  for (const Slot& s : old)
    if (s.chain && s.chain != kTomb) Put(s.chain);
}

void ChainIndex::Grow() { Reserve(used_ + 1 > slots_.size() / 2 ? slots_.size() : 0); }

Chain* ChainIndex::Recent(std::string_view name) const {
  for (Chain* c : recent_)
    if (c && c->name.size() == name.size() && memcmp(c->name.data(), name.data(), name.size()) == 0) return c;
  return nullptr;
}

void ChainIndex::Remember(Chain* c) const {
  recent_[next_++ % kRecent] = c;
}

void ChainIndex::Forget() const {
  for (Chain*& c : recent_) c = nullptr;
  for (Missed& m : missed_) m.set = false;
}

bool ChainIndex::WasMissed(std::string_view name) const {
  for (const Missed& m : missed_)
    if (m.set && m.len == name.size() && memcmp(m.name, name.data(), name.size()) == 0) return true;
  return false;
}

void ChainIndex::RememberMiss(std::string_view name) const {
  if (name.size() > sizeof missed_[0].name) return;
  Missed& m = missed_[nextMissed_++ % kMissed];
  m.set = true;
  m.len = static_cast<uint8_t>(name.size());
  memcpy(m.name, name.data(), name.size());
}

Chain* ChainIndex::Find(std::string_view name) const {
  if (Chain* c = Recent(name)) return c;  // without hashing
  return Lookup(name, HashBytes(name.data(), name.size()));
}

Chain* ChainIndex::Find(std::string_view name, uint64_t h) const { Chain* c = Recent(name);
  return c ? c : Lookup(name, h); }

Chain* ChainIndex::Lookup(std::string_view name, uint64_t h) const {
  if (WasMissed(name)) return nullptr;
  Chain* c = Probe(name, h);
  if (c)
    Remember(c);
  else
    RememberMiss(name);
  return c;
}

size_t ChainIndex::SlotOf(std::string_view name, uint64_t h, size_t* tomb) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.chain) return i;
    if (s.chain == kTomb) {
      if (tomb && *tomb == kNoSlot) *tomb = i;
    } else if (s.hash == h && s.chain->name == name) {
      return i;
    }
  }
}

Chain* ChainIndex::Probe(std::string_view name, uint64_t h) const {
  return slots_.empty() ? nullptr : slots_[SlotOf(name, h, nullptr)].chain;
}

void ChainIndex::Put(Chain* c) { Put(c, HashBytes(c->name.data(), c->name.size())); }

void ChainIndex::Put(Chain* c, uint64_t h) {
  Forget();
  if ((used_ + 1) * 2 > slots_.size()) Reserve(slots_.empty() ? 8 : slots_.size());
  size_t tomb = kNoSlot;
  const size_t i = SlotOf(c->name, h, &tomb);
  if (slots_[i].chain) {
    slots_[i].chain = c;  // the same name: replaced
  } else if (tomb != kNoSlot) {
    slots_[tomb] = Slot{h, c};
  } else {
    used_++;
    slots_[i] = Slot{h, c};
  }
}

void ChainIndex::Erase(std::string_view name) {
  Forget();
  if (slots_.empty()) return;
  Slot& s = slots_[SlotOf(name, HashBytes(name.data(), name.size()), nullptr)];
  if (s.chain) s.chain = kTomb;
}

void ChainIndex::Clear() {
  Forget();
  slots_.clear();
  used_ = 0;
}

Table::Table(int nfproto, std::string name) : fam_(Family::Of(nfproto)), name_(std::move(name)) {}

Table::~Table() {
  if (fd_ >= 0) close(fd_);
}

unsigned Table::Builtin(std::string_view name) const {
  // only a hook's name can name a built-in chain: the rest need no lookup
  bool hook = false;
  for (const char* h : kHookNames) hook = hook || name == h;
  if (!hook) return 0;
  Chain* c = Find(name);
  return c ? c->hooknum : 0;
}

void Table::Reserve(size_t chains, size_t rules) {
  index_.Reserve(chains);
  if (rules_.capacity() < rules_.size() + rules) {
    rules_.reserve(rules_.size() + rules);
    PrefaultSoon(rules_.data() + rules_.size(), sizeof(Rule) * (rules_.capacity() - rules_.size()));
  }
  users_.reserve(users_.size() + chains);
}

Chain* Table::AddChain(std::string_view name, unsigned hooknum, const uint64_t* hash) {
  chains_.emplace_back();
  Chain* c = &chains_.back();
  c->SetName(name);
  c->hooknum = hooknum;
  if (hash)
    index_.Put(c, *hash);
  else
    index_.Put(c);
  if (hooknum)
    builtins_.push_back(c);
  else
    users_.push_back(c);
  return c;
}

std::vector<std::string> Table::BuiltinNames() const {
  std::vector<std::string> out;
  for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
    if (valid_hooks_ & (1u << i)) out.push_back(kHookNames[i]);
  return out;
}

namespace {
// libiptc's order (strcmp) for tens of thousands of chains: the first 16 bytes of each name
// as two big-endian numbers decide almost every comparison without touching the names.
void SortByName(std::vector<Chain*>::iterator begin, std::vector<Chain*>::iterator end) {
  struct Key {
    uint64_t hi, lo;
    Chain* c;
  };
  std::vector<Key> keys;
  keys.reserve(end - begin);
  for (auto it = begin; it != end; ++it) {
    unsigned char b[16] = {};
    memcpy(b, (*it)->name.data(), std::min<size_t>((*it)->name.size(), 16));
    uint64_t hi, lo;
    memcpy(&hi, b, 8);
    memcpy(&lo, b + 8, 8);
    keys.push_back({__builtin_bswap64(hi), __builtin_bswap64(lo), *it});
  }
  std::sort(keys.begin(), keys.end(), [](const Key& x, const Key& y) {
    if (x.hi != y.hi) return x.hi < y.hi;
    if (x.lo != y.lo) return x.lo < y.lo;
    return x.c->name < y.c->name;
  });
  for (const Key& k : keys) *begin++ = k.c;
}
}  // namespace

std::vector<Chain*> Table::Ordered() const {
  std::vector<Chain*> out;
  out.reserve(builtins_.size() + users_.size() - dead_);
  out.insert(out.end(), builtins_.begin(), builtins_.end());
  size_t nb = out.size();
  bool sorted = true;
  for (Chain* c : users_) {
    if (c->dead) continue;
    if (out.size() > nb && !(out.back()->name < c->name)) sorted = false;
    out.push_back(c);
  }
  if (!sorted) SortByName(out.begin() + nb, out.end());
  return out;
}

std::vector<Chain*> Table::Created() const {
  std::vector<Chain*> out;
  out.reserve(builtins_.size() + users_.size() - dead_);
  out.insert(out.end(), builtins_.begin(), builtins_.end());
  for (Chain* c : users_)
    if (!c->dead) out.push_back(c);
  return out;
}

void Table::DropRule(Rule& r) {
  if (r.kind == RuleKind::Jump && r.jump) r.jump->references--;
}

uint32_t Table::NthRule(const Chain* c, unsigned n) const {
  uint32_t i = c->first;
  while (i != kNone && n-- > 0) i = rules_[i].next;
  return i;
}

void Table::Link(Chain* c, uint32_t at, uint32_t idx) {
  if (at == 0 || c->first == kNone) {
    rules_[idx].next = c->first;
    c->first = idx;
    if (c->last == kNone) c->last = idx;
  } else {
    uint32_t prev = NthRule(c, at - 1);
    rules_[idx].next = rules_[prev].next;
    rules_[prev].next = idx;
    if (c->last == prev) c->last = idx;
  }
  c->count++;
}

void Table::Unlink(Chain* c, uint32_t prev, uint32_t idx) {
  if (prev == kNone)
    c->first = rules_[idx].next;
  else
    rules_[prev].next = rules_[idx].next;
  if (c->last == idx) c->last = prev;
  c->count--;
}

int Table::MapTarget(Rule& r) {
  const struct xt_entry_target* t = TargetOf(fam_, r.entry);
  const char* n = t->u.user.name;
  if (n[0] == '\0') {
    r.kind = RuleKind::Fallthrough;
    return 0;
  }
  if (strcmp(n, "ACCEPT") == 0) return r.kind = RuleKind::Standard, r.verdict = kAccept, 0;
  if (strcmp(n, "DROP") == 0) return r.kind = RuleKind::Standard, r.verdict = kDrop, 0;
  if (strcmp(n, "QUEUE") == 0) return r.kind = RuleKind::Standard, r.verdict = kQueue, 0;
  if (strcmp(n, "RETURN") == 0) return r.kind = RuleKind::Standard, r.verdict = kReturn, 0;
  Chain* c = Find(std::string_view(n, strnlen(n, XT_EXTENSION_MAXNAMELEN)));
  if (c && c->hooknum) return EINVAL;  // can't jump to built-ins
  if (c) {
    r.kind = RuleKind::Jump;
    r.jump = c;
    c->references++;
    return 0;
  }
  r.kind = RuleKind::Module;
  changed_ = true;
  return 0;
}

template <typename Op>
int Table::OnChain(Fn fn, std::string_view chain, Op&& op) {
  fn_ = fn;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  int e = op(c);
  changed_ = changed_ || e == 0;
  return e;
}

int Table::CreateChain(std::string_view name) {
  fn_ = Fn::CreateChain;
  uint64_t h = HashBytes(name.data(), name.size());
  if (FindHashed(name, h) || IsStdLabel(name)) return EEXIST;
  if (name.size() + 1 > XT_TABLE_MAXNAMELEN) return EINVAL;
  AddChain(name, 0, &h);
  changed_ = true;
  return 0;
}

int Table::DeleteChain(std::string_view name) {
  return OnChain(Fn::DeleteChain, name, [this](Chain* c) {
    if (c->hooknum) return EINVAL;
    if (c->references > 0) return EMLINK;
    if (c->count) return ENOTEMPTY;
    index_.Erase(c->name);
    c->dead = true;
    dead_++;
    return 0;
  });
}

int Table::RenameChain(std::string_view from, std::string_view to) {
  fn_ = Fn::Rename;
  if (Find(to) || IsStdLabel(to)) return EEXIST;
  Chain* c = Find(from);
  if (!c || c->hooknum) return ENOENT;
  if (to.size() + 1 > XT_TABLE_MAXNAMELEN) return EINVAL;
  index_.Erase(c->name);
  c->SetName(to);
  index_.Put(c);
  changed_ = true;
  return 0;
}

int Table::Flush(std::string_view chain) {
  return OnChain(Fn::Flush, chain, [this](Chain* c) {
    for (uint32_t i = c->first; i != kNone; i = rules_[i].next) DropRule(rules_[i]);
    c->first = c->last = kNone;
    c->count = 0;
    return 0;
  });
}

int Table::Zero(std::string_view chain) {
  return OnChain(Fn::Zero, chain, [this](Chain* c) {
    if (c->map == MapType::NormalMap) c->map = MapType::Zeroed;
    for (uint32_t i = c->first; i != kNone; i = rules_[i].next)
      if (rules_[i].map == MapType::NormalMap) rules_[i].map = MapType::Zeroed;
    return 0;
  });
}

int Table::ZeroCounter(std::string_view chain, unsigned rulenum) {
  return OnChain(Fn::ZeroCounter, chain, [this, rulenum](Chain* c) {
    // iptcc_get_rule_num: 1-based; 0 or past the end is "too big"
    if (rulenum == 0 || rulenum > c->count) return E2BIG;
    Rule& r = rules_[NthRule(c, rulenum - 1)];
    if (r.map == MapType::NormalMap) r.map = MapType::Zeroed;
    return 0;
  });
}

int Table::SetPolicy(std::string_view chain, std::string_view policy, const struct xt_counters* counters) {
  return OnChain(Fn::SetPolicy, chain, [policy, counters](Chain* c) {
    if (!c->hooknum) return ENOENT;
    if (policy == "ACCEPT")
      c->verdict = kAccept;
    else if (policy == "DROP")
      c->verdict = kDrop;
    else
      return EINVAL;
    c->map = counters ? MapType::Set : MapType::NoMap;
    if (counters) c->counters = *counters;
    return 0;
  });
}

int Table::NewRule(const uint8_t* entry, uint32_t size, const struct xt_counters& cnt, uint32_t* idx) {
  Rule r;
  r.entry = entry;
  r.size = size;
  r.map = MapType::Set;
  r.counters = cnt;
  countedRules_ = countedRules_ || cnt.pcnt || cnt.bcnt;
  if (int e = MapTarget(r)) return e;
  *idx = static_cast<uint32_t>(rules_.size());
  rules_.push_back(r);
  return 0;
}

int Table::Append(std::string_view chain, const uint8_t* entry, uint32_t size, const struct xt_counters& cnt) {
  fn_ = Fn::Append;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  uint32_t idx;
  if (int e = NewRule(entry, size, cnt, &idx)) return e;
  LinkLast(c, idx);
  changed_ = true;
  return 0;
}

void Table::AppendResolved(Chain* c, const uint8_t* entry, uint32_t size, RuleKind kind, int verdict, Chain* jump) {
  fn_ = Fn::Append;
  Rule r;
  r.entry = entry;
  r.size = size;
  r.map = MapType::Set;
  r.kind = kind;
  r.verdict = verdict;
  if (kind == RuleKind::Jump) {
    r.jump = jump;
    jump->references++;
  }
  LinkLast(c, static_cast<uint32_t>(rules_.size()));
  rules_.push_back(r);
  changed_ = true;
}

void Table::LinkLast(Chain* c, uint32_t idx) {
  if (c->last == kNone)
    c->first = idx;
  else
    rules_[c->last].next = idx;
  c->last = idx;
  c->count++;
}

int Table::Insert(std::string_view chain, const uint8_t* entry, uint32_t size, unsigned rulenum0,
                  const struct xt_counters& cnt) {
  fn_ = Fn::Insert;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  if (rulenum0 > c->count) return E2BIG;
  uint32_t idx;
  if (int e = NewRule(entry, size, cnt, &idx)) return e;
  Link(c, rulenum0, idx);
  changed_ = true;
  return 0;
}

int Table::Replace(std::string_view chain, const uint8_t* entry, uint32_t size, unsigned rulenum0,
                   const struct xt_counters& cnt) {
  fn_ = Fn::Replace;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  if (rulenum0 >= c->count) return E2BIG;
  uint32_t idx;
  if (int e = NewRule(entry, size, cnt, &idx)) return e;
  uint32_t prev = rulenum0 ? NthRule(c, rulenum0 - 1) : kNone;
  uint32_t old = prev == kNone ? c->first : rules_[prev].next;
  DropRule(rules_[old]);
  Unlink(c, prev, old);
  Link(c, rulenum0, idx);
  changed_ = true;
  return 0;
}

int Table::DeleteNum(std::string_view chain, unsigned rulenum0) {
  fn_ = Fn::DeleteNum;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  if (rulenum0 >= c->count) return E2BIG;
  uint32_t prev = rulenum0 ? NthRule(c, rulenum0 - 1) : kNone;
  uint32_t old = prev == kNone ? c->first : rules_[prev].next;
  DropRule(rules_[old]);
  Unlink(c, prev, old);
  changed_ = true;
  return 0;
}

namespace {
// libip4tc/libip6tc is_same + libiptc match_different/target_same.
const uint8_t* IsSame(const Family& f, const uint8_t* a, const uint8_t* b, const uint8_t* mask) {
  if (f.nfproto == NFPROTO_IPV6) {
    const auto* x = reinterpret_cast<const struct ip6t_entry*>(a);
    const auto* y = reinterpret_cast<const struct ip6t_entry*>(b);
    if (memcmp(&x->ipv6.src, &y->ipv6.src, 16) || memcmp(&x->ipv6.dst, &y->ipv6.dst, 16) ||
        memcmp(&x->ipv6.smsk, &y->ipv6.smsk, 16) || memcmp(&x->ipv6.dmsk, &y->ipv6.dmsk, 16) ||
        x->ipv6.proto != y->ipv6.proto || x->ipv6.tos != y->ipv6.tos || x->ipv6.flags != y->ipv6.flags ||
        x->ipv6.invflags != y->ipv6.invflags)
      return nullptr;
    for (int i = 0; i < IFNAMSIZ; i++) {
      if (x->ipv6.iniface_mask[i] != y->ipv6.iniface_mask[i]) return nullptr;
      if ((x->ipv6.iniface[i] & x->ipv6.iniface_mask[i]) != (y->ipv6.iniface[i] & y->ipv6.iniface_mask[i])) return nullptr;
      if (x->ipv6.outiface_mask[i] != y->ipv6.outiface_mask[i]) return nullptr;
      if ((x->ipv6.outiface[i] & x->ipv6.outiface_mask[i]) != (y->ipv6.outiface[i] & y->ipv6.outiface_mask[i]))
        return nullptr;
    }
  } else {
    const auto* x = reinterpret_cast<const struct ipt_entry*>(a);
    const auto* y = reinterpret_cast<const struct ipt_entry*>(b);
    if (x->ip.src.s_addr != y->ip.src.s_addr || x->ip.dst.s_addr != y->ip.dst.s_addr ||
        x->ip.smsk.s_addr != y->ip.smsk.s_addr || x->ip.dmsk.s_addr != y->ip.dmsk.s_addr ||
        x->ip.proto != y->ip.proto || x->ip.flags != y->ip.flags || x->ip.invflags != y->ip.invflags)
      return nullptr;
    for (int i = 0; i < IFNAMSIZ; i++) {
      if (x->ip.iniface_mask[i] != y->ip.iniface_mask[i]) return nullptr;
      if ((x->ip.iniface[i] & x->ip.iniface_mask[i]) != (y->ip.iniface[i] & y->ip.iniface_mask[i])) return nullptr;
      if (x->ip.outiface_mask[i] != y->ip.outiface_mask[i]) return nullptr;
      if ((x->ip.outiface[i] & x->ip.outiface_mask[i]) != (y->ip.outiface[i] & y->ip.outiface_mask[i])) return nullptr;
    }
  }
  uint16_t ta = Get16(a + f.off_target), tb = Get16(b + f.off_target);
  if (ta != tb || Get16(a + f.off_next) != Get16(b + f.off_next)) return nullptr;
  const uint8_t* mptr = mask + f.hdr;
  for (uint32_t off = f.hdr; off < ta;) {
    const auto* ma = reinterpret_cast<const struct xt_entry_match*>(a + off);
    const auto* mb = reinterpret_cast<const struct xt_entry_match*>(b + off);
    if (ma->u.match_size < sizeof(struct xt_entry_match)) return nullptr;
    if (ma->u.match_size != mb->u.match_size) return nullptr;
    if (strcmp(ma->u.user.name, mb->u.user.name) != 0) return nullptr;
    mptr += XT_ALIGN(sizeof(struct xt_entry_match));
    unsigned n = ma->u.match_size - XT_ALIGN(sizeof(struct xt_entry_match));
    for (unsigned i = 0; i < n; i++)
      if (((ma->data[i] ^ mb->data[i]) & mptr[i]) != 0) return nullptr;
    mptr += n;
    off += ma->u.match_size;
  }
  return mptr + XT_ALIGN(sizeof(struct xt_entry_target));
}
}  // namespace

int Table::DeleteEntry(std::string_view chain, const uint8_t* entry, uint32_t size, const uint8_t* mask, bool dryRun) {
  fn_ = Fn::DeleteEntry;  // libiptc's check is a dry-run delete, with delete's messages
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  Rule r;
  r.entry = entry;
  r.size = size;
  bool wasChanged = changed_;
  if (int e = MapTarget(r)) return e;
  if (dryRun) changed_ = wasChanged;
  if (r.kind == RuleKind::Jump && r.jump) r.jump->references--;
  for (uint32_t prev = kNone, i = c->first; i != kNone; prev = i, i = rules_[i].next) {
    Rule& x = rules_[i];
    const uint8_t* tmask = IsSame(fam_, r.entry, x.entry, mask);
    if (!tmask) continue;
    if (r.kind != x.kind) continue;
    bool same = false;
    switch (r.kind) {
      case RuleKind::Fallthrough:
        same = true;
        break;
      case RuleKind::Jump:
        same = r.jump == x.jump;
        break;
      case RuleKind::Standard:
        same = r.verdict == x.verdict;
        break;
      case RuleKind::Module: {
        const struct xt_entry_target* ta = TargetOf(fam_, r.entry);
        const struct xt_entry_target* tb = TargetOf(fam_, x.entry);
        if (ta->u.target_size != tb->u.target_size || strcmp(ta->u.user.name, tb->u.user.name) != 0) break;
        same = true;
        for (unsigned k = 0; k < ta->u.target_size - sizeof(*ta); k++)
          if (((ta->data[k] ^ tb->data[k]) & tmask[k]) != 0) {
            same = false;
            break;
          }
        break;
      }
    }
    if (!same) continue;
    if (dryRun) return 0;
    DropRule(x);
    Unlink(c, prev, i);
    changed_ = true;
    return 0;
  }
  return ENOENT;
}

void PutChainHead(const Family& f, uint8_t* p, std::string_view name) {
  Put16(p + f.off_target, f.hdr);
  Put16(p + f.off_next, f.hdr + kErrTargetSize);
  auto* et = reinterpret_cast<struct xt_error_target*>(p + f.hdr);
  et->target.u.user.target_size = kErrTargetSize;
  strcpy(et->target.u.user.name, XT_ERROR_TARGET);
  memcpy(et->errorname, name.data(), std::min<size_t>(name.size(), XT_FUNCTION_MAXNAMELEN - 1));
}

void PutChainFoot(const Family& f, uint8_t* p, const Chain& c) {
  Put16(p + f.off_target, f.hdr);
  Put16(p + f.off_next, f.hdr + kStdTargetSize);
  auto* st = reinterpret_cast<struct xt_standard_target*>(p + f.hdr);
  st->target.u.user.target_size = kStdTargetSize;
  st->verdict = c.hooknum ? c.verdict : kReturn;
  memcpy(p + f.off_counters, &c.counters, sizeof c.counters);
}

void SetStdVerdict(const Family& f, uint8_t* e, int verdict, bool clearName) {
  auto* st = reinterpret_cast<struct xt_standard_target*>(e + Get16(e + f.off_target));
  if (clearName) {
    memset(st->target.u.user.name, 0, XT_EXTENSION_MAXNAMELEN);
    st->target.u.user.revision = 0;
  }
  memcpy(&st->verdict, &verdict, sizeof verdict);
}

}  // namespace ipt
}  // namespace nlkit
