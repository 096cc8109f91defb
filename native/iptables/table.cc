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

namespace nlkit {
namespace ipt {

namespace {

constexpr int kReturn = XT_RETURN;  // -NF_REPEAT - 1
constexpr int kAccept = -NF_ACCEPT - 1;
constexpr int kDrop = -NF_DROP - 1;
constexpr int kQueue = -NF_QUEUE - 1;

const char* const kHookNames[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};

constexpr size_t kStdTargetSize = XT_ALIGN(sizeof(struct xt_standard_target));
constexpr size_t kErrTargetSize = XT_ALIGN(sizeof(struct xt_error_target));

uint16_t Get16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}
void Put16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }

const struct xt_entry_target* TargetOf(const Family& f, const uint8_t* e) {
  return reinterpret_cast<const struct xt_entry_target*>(e + Get16(e + f.off_target));
}

int StdVerdict(const Family& f, const uint8_t* e) {
  int v;
  memcpy(&v, reinterpret_cast<const uint8_t*>(TargetOf(f, e)) + offsetof(struct xt_standard_target, verdict), sizeof v);
  return v;
}

struct xt_counters CountersOf(const Family& f, const uint8_t* e) {
  struct xt_counters c;
  memcpy(&c, e + f.off_counters, sizeof c);
  return c;
}

const Family kV4 = {NFPROTO_IPV4,
                    AF_INET,
                    IPPROTO_IP,
                    sizeof(struct ipt_entry),
                    offsetof(struct ipt_entry, target_offset),
                    offsetof(struct ipt_entry, next_offset),
                    offsetof(struct ipt_entry, comefrom),
                    offsetof(struct ipt_entry, counters),
                    offsetof(struct ipt_entry, ip) + offsetof(struct ipt_ip, flags),
                    IPT_F_GOTO};
const Family kV6 = {NFPROTO_IPV6,
                    AF_INET6,
                    IPPROTO_IPV6,
                    sizeof(struct ip6t_entry),
                    offsetof(struct ip6t_entry, target_offset),
                    offsetof(struct ip6t_entry, next_offset),
                    offsetof(struct ip6t_entry, comefrom),
                    offsetof(struct ip6t_entry, counters),
                    offsetof(struct ip6t_entry, ipv6) + offsetof(struct ip6t_ip6, flags),
                    IP6T_F_GOTO};

static_assert(offsetof(struct ipt_get_entries, entrytable) == offsetof(struct ip6t_get_entries, entrytable),
              "get_entries layouts differ");
static_assert(offsetof(struct ipt_replace, entries) == offsetof(struct ip6t_replace, entries),
              "replace layouts differ");
static_assert(sizeof(struct ipt_getinfo) == sizeof(struct ip6t_getinfo), "getinfo layouts differ");

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

bool IsStdLabel(const std::string& n) { return n == "ACCEPT" || n == "DROP" || n == "QUEUE" || n == "RETURN"; }

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

Table::Table(int nfproto, std::string name) : fam_(Family::Of(nfproto)), name_(std::move(name)) {}

Table::~Table() {
  if (fd_ >= 0) close(fd_);
}

int Table::Socket() {
  if (fd_ >= 0) return 0;
  fd_ = socket(fam_.af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  return fd_ < 0 ? errno : 0;
}

Chain* Table::Find(std::string_view name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : it->second;
}

unsigned Table::Builtin(std::string_view name) const {
  Chain* c = Find(name);
  return c ? c->hooknum : 0;
}

Chain* Table::AddChain(const std::string& name, unsigned hooknum) {
  auto c = std::make_unique<Chain>();
  c->name = name;
  c->hooknum = hooknum;
  Chain* raw = c.get();
  owned_.push_back(std::move(c));
  byName_[std::string_view(raw->name)] = raw;
  if (hooknum)
    builtins_.push_back(raw);
  else
    users_.push_back(raw);
  return raw;
}

int Table::ReadInfo() {
  fn_ = Fn::Init;
  if (int e = Socket()) return e;
  struct ipt_getinfo info;
  memset(&info, 0, sizeof info);
  if (name_.size() >= XT_TABLE_MAXNAMELEN) return EINVAL;
  strcpy(info.name, name_.c_str());
  socklen_t len = sizeof info;
  if (getsockopt(fd_, fam_.level, IPT_SO_GET_INFO, &info, &len) < 0) return errno;
  valid_hooks_ = info.valid_hooks;
  num_entries_ = info.num_entries;
  size_ = info.size;
  memcpy(hook_entry_, info.hook_entry, sizeof hook_entry_);
  memcpy(underflow_, info.underflow, sizeof underflow_);
  infoRead_ = true;
  return 0;
}

std::vector<std::string> Table::BuiltinNames() const {
  std::vector<std::string> out;
  for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
    if (valid_hooks_ & (1u << i)) out.push_back(kHookNames[i]);
  return out;
}

int Table::Read(ReadMode mode, std::vector<uint8_t>* buf) {
  fn_ = Fn::Init;
  if (int e = Socket()) return e;
  owned_.clear();
  byName_.clear();
  builtins_.clear();
  users_.clear();
  dead_ = 0;
  changed_ = false;
  for (int attempt = 0;; attempt++) {
    if (int e = ReadInfo()) return e;
    if (mode == ReadMode::InfoOnly) {
      // The text sets every built-in chain's policy: nothing of the old table is needed.
      std::vector<std::pair<uint32_t, unsigned>> hooks;
      for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
        if (valid_hooks_ & (1u << i)) hooks.push_back({hook_entry_[i], i});
      std::sort(hooks.begin(), hooks.end());
      for (auto& h : hooks) {
        Chain* c = AddChain(kHookNames[h.second], h.second + 1);
        c->verdict = kAccept;
        c->map = MapType::NoMap;
      }
      return 0;
    }
    const size_t head = offsetof(struct ipt_get_entries, entrytable);
    if (buf->size() < head + size_) buf->resize(head + size_);
    auto* ge = reinterpret_cast<struct ipt_get_entries*>(buf->data());
    memset(ge, 0, head);
    strcpy(ge->name, name_.c_str());
    ge->size = size_;
    socklen_t glen = head + size_;
    if (getsockopt(fd_, fam_.level, IPT_SO_GET_ENTRIES, buf->data(), &glen) < 0) {
      if (errno == EAGAIN && attempt < 100) continue;  // the table changed size meanwhile
      return errno;
    }
    const uint8_t* base = buf->data() + head;

    if (mode == ReadMode::BuiltinsOnly) {
      // Walk the entries for their indexes; keep the built-in chains' policies.
      std::vector<std::pair<uint32_t, unsigned>> hooks;
      for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
        if (valid_hooks_ & (1u << i)) hooks.push_back({hook_entry_[i], i});
      std::sort(hooks.begin(), hooks.end());
      std::vector<Chain*> byHook(NF_INET_NUMHOOKS, nullptr);
      for (auto& h : hooks) byHook[h.second] = AddChain(kHookNames[h.second], h.second + 1);
      uint32_t num = 0;
      for (uint32_t off = 0; off < size_; num++) {
        const uint8_t* e = base + off;
        uint16_t next = Get16(e + fam_.off_next);
        if (next == 0 || off + next > size_) return EINVAL;
        for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++) {
          if ((valid_hooks_ & (1u << i)) && underflow_[i] == off) {
            Chain* c = byHook[i];
            c->verdict = StdVerdict(fam_, e);
            c->map = MapType::Zeroed;
            c->mappos = num;
            c->counters = CountersOf(fam_, e);
            c->foot_offset = off;
          }
        }
        off += next;
      }
      return 0;
    }

    Chain* cur = nullptr;
    uint32_t num = 0;
    auto delPolicy = [&](uint32_t at) {
      if (!cur || cur->rules.empty()) return;
      Rule& pr = cur->rules.back();
      cur->verdict = StdVerdict(fam_, pr.entry);
      cur->map = MapType::Zeroed;
      cur->mappos = at - 1;
      cur->counters = pr.counters;
      cur->foot_offset = pr.offset;
      cur->rules.pop_back();
    };
    for (uint32_t off = 0; off < size_;) {
      const uint8_t* e = base + off;
      uint16_t next = Get16(e + fam_.off_next);
      if (next == 0 || off + next > size_) return EINVAL;
      if (off + next == size_) {  // the ERROR entry that ends the table
        delPolicy(num);
        cur = nullptr;
        num++;
        break;
      }
      const struct xt_entry_target* t = TargetOf(fam_, e);
      bool newRule = false;
      if (strcmp(t->u.user.name, XT_ERROR_TARGET) == 0) {
        const auto* et = reinterpret_cast<const struct xt_error_target*>(t);
        delPolicy(num);
        char nm[XT_FUNCTION_MAXNAMELEN + 1];
        memcpy(nm, et->errorname, XT_FUNCTION_MAXNAMELEN);
        nm[XT_FUNCTION_MAXNAMELEN] = '\0';
        cur = AddChain(nm, 0);
        cur->head_offset = off;
      } else {
        unsigned hook = 0;
        for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
          if ((valid_hooks_ & (1u << i)) && hook_entry_[i] == off) hook = i + 1;
        if (hook) {
          delPolicy(num);
          cur = AddChain(kHookNames[hook - 1], hook);
          cur->head_offset = off;
        }
        newRule = true;
      }
      if (newRule) {
        if (!cur) return EINVAL;
        Rule r;
        r.entry = e;
        r.size = next;
        r.offset = off;
        r.index = num;
        r.map = MapType::NormalMap;
        r.mappos = num;
        r.counters = CountersOf(fam_, e);
        if (t->u.user.name[0] == '\0') {
          if (t->u.target_size != kStdTargetSize) return EINVAL;
          int v = StdVerdict(fam_, e);
          if (v < 0) {
            r.kind = RuleKind::Standard;
            r.verdict = v;
          } else if (static_cast<uint32_t>(v) == off + next) {
            r.kind = RuleKind::Fallthrough;
          } else {
            r.kind = RuleKind::Jump;
            r.verdict = v;  // resolved below
          }
        } else {
          r.kind = RuleKind::Module;
        }
        cur->rules.push_back(r);
      }
      num++;
      off += next;
    }
    // Jumps: the chain whose [head, foot] holds the target offset (libiptc's lookup). The
    // chains were created in blob order, so owned_ is sorted by head_offset.
    for (auto& c : owned_) {
      for (Rule& r : c->rules) {
        if (r.kind != RuleKind::Jump) continue;
        uint32_t v = static_cast<uint32_t>(r.verdict);
        auto it = std::upper_bound(owned_.begin(), owned_.end(), v,
                                   [](uint32_t x, const std::unique_ptr<Chain>& ch) { return x < ch->head_offset; });
        if (it == owned_.begin()) return EINVAL;
        Chain* target = (it - 1)->get();
        if (v > target->foot_offset) return EINVAL;
        r.jump = target;
        target->references++;
      }
    }
    return 0;
  }
}

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
  if (!sorted) std::sort(out.begin() + nb, out.end(), [](Chain* a, Chain* b) { return a->name < b->name; });
  return out;
}

void Table::DropRule(Rule& r) {
  if (r.kind == RuleKind::Jump && r.jump) r.jump->references--;
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
  std::string name(n, strnlen(n, XT_EXTENSION_MAXNAMELEN));
  Chain* c = Find(name);
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

int Table::CreateChain(const std::string& name) {
  fn_ = Fn::CreateChain;
  if (Find(name) || IsStdLabel(name)) return EEXIST;
  if (name.size() + 1 > XT_TABLE_MAXNAMELEN) return EINVAL;
  AddChain(name, 0);
  changed_ = true;
  return 0;
}

int Table::DeleteChain(const std::string& name) {
  fn_ = Fn::DeleteChain;
  Chain* c = Find(name);
  if (!c) return ENOENT;
  if (c->hooknum) return EINVAL;
  if (c->references > 0) return EMLINK;
  if (!c->rules.empty()) return ENOTEMPTY;
  byName_.erase(std::string_view(c->name));  // the Chain stays owned (and unlisted) until the table goes
  c->dead = true;
  dead_++;
  changed_ = true;
  return 0;
}

int Table::RenameChain(const std::string& from, const std::string& to) {
  fn_ = Fn::Rename;
  if (Find(to) || IsStdLabel(to)) return EEXIST;
  Chain* c = Find(from);
  if (!c || c->hooknum) return ENOENT;
  if (to.size() + 1 > XT_TABLE_MAXNAMELEN) return EINVAL;
  byName_.erase(std::string_view(c->name));
  c->name = to;
  byName_[std::string_view(c->name)] = c;
  changed_ = true;
  return 0;
}

int Table::Flush(const std::string& chain) {
  fn_ = Fn::Flush;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  for (Rule& r : c->rules) DropRule(r);
  c->rules.clear();
  changed_ = true;
  return 0;
}

int Table::Zero(const std::string& chain) {
  fn_ = Fn::Zero;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  if (c->map == MapType::NormalMap) c->map = MapType::Zeroed;
  for (Rule& r : c->rules)
    if (r.map == MapType::NormalMap) r.map = MapType::Zeroed;
  changed_ = true;
  return 0;
}

int Table::ZeroCounter(const std::string& chain, unsigned rulenum) {
  fn_ = Fn::ZeroCounter;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  // iptcc_get_rule_num: 1-based; 0 or past the end is "too big"
  if (rulenum == 0 || rulenum > c->rules.size()) return E2BIG;
  Rule& r = c->rules[rulenum - 1];
  if (r.map == MapType::NormalMap) r.map = MapType::Zeroed;
  changed_ = true;
  return 0;
}

int Table::SetPolicy(const std::string& chain, const std::string& policy, const struct xt_counters* counters) {
  fn_ = Fn::SetPolicy;
  Chain* c = Find(chain);
  if (!c || !c->hooknum) return ENOENT;
  if (policy == "ACCEPT")
    c->verdict = kAccept;
  else if (policy == "DROP")
    c->verdict = kDrop;
  else
    return EINVAL;
  if (counters) {
    c->counters = *counters;
    c->map = MapType::Set;
  } else {
    c->map = MapType::NoMap;
  }
  changed_ = true;
  return 0;
}

int Table::Append(const std::string& chain, const uint8_t* entry, uint32_t size) {
  fn_ = Fn::Append;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  Rule r;
  r.entry = entry;
  r.size = size;
  r.map = MapType::Set;
  r.counters = CountersOf(fam_, entry);
  if (int e = MapTarget(r)) return e;
  c->rules.push_back(r);
  changed_ = true;
  return 0;
}

int Table::Insert(const std::string& chain, const uint8_t* entry, uint32_t size, unsigned rulenum0) {
  fn_ = Fn::Insert;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  if (rulenum0 > c->rules.size()) return E2BIG;
  Rule r;
  r.entry = entry;
  r.size = size;
  r.map = MapType::Set;
  r.counters = CountersOf(fam_, entry);
  if (int e = MapTarget(r)) return e;
  c->rules.insert(c->rules.begin() + rulenum0, r);
  changed_ = true;
  return 0;
}

int Table::Replace(const std::string& chain, const uint8_t* entry, uint32_t size, unsigned rulenum0) {
  fn_ = Fn::Replace;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  if (rulenum0 >= c->rules.size()) return E2BIG;
  Rule r;
  r.entry = entry;
  r.size = size;
  r.map = MapType::Set;
  r.counters = CountersOf(fam_, entry);
  if (int e = MapTarget(r)) return e;
  DropRule(c->rules[rulenum0]);
  c->rules[rulenum0] = r;
  changed_ = true;
  return 0;
}

int Table::DeleteNum(const std::string& chain, unsigned rulenum0) {
  fn_ = Fn::DeleteNum;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  if (rulenum0 >= c->rules.size()) return E2BIG;
  DropRule(c->rules[rulenum0]);
  c->rules.erase(c->rules.begin() + rulenum0);
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

int Table::DeleteEntry(const std::string& chain, const uint8_t* entry, uint32_t size, const uint8_t* mask, bool dryRun) {
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
  for (size_t i = 0; i < c->rules.size(); i++) {
    Rule& x = c->rules[i];
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
    c->rules.erase(c->rules.begin() + i);
    changed_ = true;
    return 0;
  }
  return ENOENT;
}

int Table::Commit(bool force, std::vector<uint8_t>* buf, CommitStats* stats) {
  fn_ = Fn::Commit;
  if (!changed_ && !force) return 0;
  if (int e = Socket()) return e;
  auto t0 = std::chrono::steady_clock::now();
  const size_t hdr = fam_.hdr;
  const uint32_t startSize = hdr + kErrTargetSize;
  const uint32_t footSize = hdr + kStdTargetSize;
  std::vector<Chain*> order = Ordered();

  // First pass: offsets and indexes.
  uint32_t off = 0, num = 0;
  for (Chain* c : order) {
    c->head_offset = off;
    if (!c->hooknum) {
      off += startSize;
      num++;
    }
    for (Rule& r : c->rules) {
      r.offset = off;
      r.index = num;
      off += r.size;
      num++;
    }
    c->foot_offset = off;
    c->foot_index = num;
    off += footSize;
    num++;
  }
  num++;
  off += startSize;  // the final ERROR entry
  const uint32_t size = off;

  const size_t replHead = offsetof(struct ipt_replace, entries);
  if (buf->size() < replHead + size) buf->resize(replHead + size);
  auto* repl = reinterpret_cast<struct ipt_replace*>(buf->data());
  memset(repl, 0, replHead);
  strcpy(repl->name, name_.c_str());
  repl->valid_hooks = valid_hooks_;
  repl->num_entries = num;
  repl->size = size;
  repl->num_counters = num_entries_;
  std::vector<struct xt_counters> old(num_entries_ ? num_entries_ : 1);
  repl->counters = old.data();
  uint8_t* base = buf->data() + replHead;

  auto putHead = [&](uint8_t* p, const char* label, const char* errorname) {
    memset(p, 0, startSize);
    Put16(p + fam_.off_target, hdr);
    Put16(p + fam_.off_next, startSize);
    auto* et = reinterpret_cast<struct xt_error_target*>(p + hdr);
    et->target.u.user.target_size = kErrTargetSize;
    strcpy(et->target.u.user.name, label);
    strncpy(et->errorname, errorname, XT_FUNCTION_MAXNAMELEN - 1);
  };
  auto setVerdict = [&](uint8_t* e, int verdict, bool clearName) {
    auto* st = reinterpret_cast<struct xt_standard_target*>(e + Get16(e + fam_.off_target));
    if (clearName) {
      memset(st->target.u.user.name, 0, XT_EXTENSION_MAXNAMELEN);
      st->target.u.user.revision = 0;
    }
    memcpy(&st->verdict, &verdict, sizeof verdict);
  };

  for (Chain* c : order) {
    if (!c->hooknum) {
      putHead(base + c->head_offset, XT_ERROR_TARGET, c->name.c_str());
    } else {
      repl->hook_entry[c->hooknum - 1] = c->head_offset;
      repl->underflow[c->hooknum - 1] = c->foot_offset;
    }
    for (Rule& r : c->rules) {
      uint8_t* e = base + r.offset;
      memcpy(e, r.entry, r.size);
      switch (r.kind) {
        case RuleKind::Jump:
          setVerdict(e, static_cast<int>(r.jump->head_offset + startSize), true);
          break;
        case RuleKind::Fallthrough:
          setVerdict(e, static_cast<int>(r.offset + r.size), false);
          break;
        case RuleKind::Standard:
          setVerdict(e, r.verdict, true);
          break;
        case RuleKind::Module:
          break;
      }
    }
    uint8_t* foot = base + c->foot_offset;
    memset(foot, 0, footSize);
    Put16(foot + fam_.off_target, hdr);
    Put16(foot + fam_.off_next, footSize);
    auto* st = reinterpret_cast<struct xt_standard_target*>(foot + hdr);
    st->target.u.user.target_size = kStdTargetSize;
    st->verdict = c->hooknum ? c->verdict : kReturn;
    memcpy(foot + fam_.off_counters, &c->counters, sizeof c->counters);
  }
  putHead(base + size - startSize, XT_ERROR_TARGET, "ERROR");

  auto t1 = std::chrono::steady_clock::now();
  if (setsockopt(fd_, fam_.level, IPT_SO_SET_REPLACE, buf->data(), replHead + size) < 0) return errno;
  auto t2 = std::chrono::steady_clock::now();

  // Counters: libiptc's mapping (NOMAP zero, NORMAL_MAP the atomically read old value,
  // ZEROED what was counted since the read, SET the given value).
  const size_t ciHead = offsetof(struct xt_counters_info, counters);
  std::vector<uint8_t> cbuf(ciHead + sizeof(struct xt_counters) * num, 0);
  auto* ci = reinterpret_cast<struct xt_counters_info*>(cbuf.data());
  strcpy(ci->name, name_.c_str());
  ci->num_counters = num;
  auto* nc = reinterpret_cast<struct xt_counters*>(cbuf.data() + ciHead);
  bool any = false;
  auto map = [&](uint32_t idx, MapType type, uint32_t pos, const struct xt_counters& mine) {
    struct xt_counters v = {0, 0};
    switch (type) {
      case MapType::NoMap:
        break;
      case MapType::NormalMap:
        if (pos < num_entries_) v = old[pos];
        break;
      case MapType::Zeroed:
        if (pos < num_entries_) v = {old[pos].pcnt - mine.pcnt, old[pos].bcnt - mine.bcnt};
        break;
      case MapType::Set:
        v = mine;
        break;
    }
    nc[idx] = v;
    if (v.pcnt || v.bcnt) any = true;
  };
  for (Chain* c : order) {
    if (c->hooknum) map(c->foot_index, c->map, c->mappos, c->counters);
    for (Rule& r : c->rules) map(r.index, r.map, r.mappos, r.counters);
  }
  if (any && setsockopt(fd_, fam_.level, IPT_SO_SET_ADD_COUNTERS, cbuf.data(), cbuf.size()) < 0) return errno;
  auto t3 = std::chrono::steady_clock::now();
  if (stats) {
    stats->serializeMs += Ms(t0, t1);
    stats->replaceMs += Ms(t1, t2);
    stats->countersMs += Ms(t2, t3);
    stats->entries = num;
    stats->bytes = size;
  }
  changed_ = false;
  return 0;
}

std::vector<std::string> TableNames(int nfproto, int* err) {
  std::vector<std::string> names;
  *err = 0;
  const char* path = nfproto == NFPROTO_IPV6 ? "/proc/thread-self/net/ip6_tables_names"
                                             : "/proc/thread-self/net/ip_tables_names";
  FILE* f = fopen(path, "re");
  if (!f) {
    if (errno != ENOENT) *err = errno;
    return names;
  }
  char line[XT_TABLE_MAXNAMELEN + 2];
  while (fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n') line[--n] = '\0';
    if (n) names.push_back(line);
  }
  fclose(f);
  return names;
}

}  // namespace ipt
}  // namespace nlkit
