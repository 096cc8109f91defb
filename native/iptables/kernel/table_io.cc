// A Table's kernel I/O: IPT_SO_GET_INFO/GET_ENTRIES into the model, the model assembled
// into one blob for IPT_SO_SET_REPLACE (and IPT_SO_SET_ADD_COUNTERS), on sockets of the
// calling thread (hence in its network namespace), and the namespace's table names.
#include <net/if.h>  // before the linux headers that bring linux/if.h
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <system_error>
#include <thread>

#include "../model/entry.h"
#include "../model/table.h"

namespace nlkit {
namespace ipt {

using namespace entry;

namespace {
// The kernel's request struct R (ipt_get_entries, ipt_replace) at the head of buf, zeroed and
// naming the table, with room for `size` bytes of entries after its `head` bytes; nullptr
// when out of memory.
template <typename R>
R* Request(Blob* buf, size_t head, size_t size, const std::string& table) {
  if (!buf->Reserve(head + size)) return nullptr;
  auto* r = reinterpret_cast<R*>(buf->data());
  memset(r, 0, head);
  strcpy(r->name, table.c_str());
  return r;
}
}  // namespace

int Table::Socket() {
  if (fd_ >= 0) return 0;
  fd_ = socket(fam_.af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  return fd_ < 0 ? errno : 0;
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
  return 0;
}

int Table::Load(uint32_t validHooks, const uint32_t* hookEntry, const uint32_t* underflow, uint32_t numEntries,
                const uint8_t* entries, uint32_t size, Blob* buf) {
  valid_hooks_ = validHooks;
  num_entries_ = numEntries;
  size_ = size;
  memcpy(hook_entry_, hookEntry, sizeof hook_entry_);
  memcpy(underflow_, underflow, sizeof underflow_);
  given_ = entries;
  return Read(ReadMode::Full, buf);
}

int Table::Read(ReadMode mode, Blob* buf) {
  fn_ = Fn::Init;
  if (int e = given_ ? 0 : Socket()) return e;
  for (int attempt = 0;; attempt++) {
    chains_.clear();
    rules_.clear();
    index_.Clear();
    builtins_.clear();
    users_.clear();
    dead_ = 0;
    changed_ = false;
    if (int e = given_ ? 0 : ReadInfo()) return e;
    std::vector<std::pair<uint32_t, unsigned>> hooks;
    for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
      if (valid_hooks_ & (1u << i)) hooks.push_back({hook_entry_[i], i});
    std::sort(hooks.begin(), hooks.end());
    if (mode == ReadMode::InfoOnly) {
      // The text sets every built-in chain's policy: nothing of the old table is needed.
      for (auto& h : hooks) {
        Chain* c = AddChain(kHookNames[h.second], h.second + 1);
        c->verdict = kAccept;
        c->map = MapType::NoMap;
      }
      return 0;
    }
    const size_t head = offsetof(struct ipt_get_entries, entrytable);
    auto* ge = Request<ipt_get_entries>(buf, head, size_, name_);
    if (ge == nullptr) return ENOMEM;
    ge->size = size_;
    socklen_t glen = head + size_;
    if (!given_ && getsockopt(fd_, fam_.level, IPT_SO_GET_ENTRIES, buf->data(), &glen) < 0) {
      if (errno == EAGAIN && attempt < 100) continue;  // the table changed size meanwhile
      return errno;
    }
    const uint8_t* base = given_ ? given_ : buf->data() + head;

    if (mode == ReadMode::BuiltinsOnly) {
      // Walk the entries for their indexes; keep the built-in chains' policies.
      Chain* byHook[NF_INET_NUMHOOKS] = {};
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

    rules_.reserve(num_entries_);
    Chain* cur = nullptr;
    uint32_t num = 0;
    uint32_t prevOfLast = kNone;  // the rule before cur->last, to drop the policy entry
    auto delPolicy = [&](uint32_t at) {
      if (!cur || cur->last == kNone) return;
      Rule& pr = rules_[cur->last];
      cur->verdict = StdVerdict(fam_, pr.entry);
      cur->map = MapType::Zeroed;
      cur->mappos = at - 1;
      cur->counters = pr.counters;
      cur->foot_offset = pr.offset;
      // unlink the policy entry (the chain's last); its slot stays unused in the arena
      cur->last = prevOfLast;
      if (prevOfLast == kNone)
        cur->first = kNone;
      else
        rules_[prevOfLast].next = kNone;
      cur->count--;
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
        cur = AddChain(std::string_view(et->errorname, strnlen(et->errorname, XT_FUNCTION_MAXNAMELEN)), 0);
        cur->head_offset = off;
        prevOfLast = kNone;
      } else {
        unsigned hook = 0;
        for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
          if ((valid_hooks_ & (1u << i)) && hook_entry_[i] == off) hook = i + 1;
        if (hook) {
          delPolicy(num);
          cur = AddChain(kHookNames[hook - 1], hook);
          cur->head_offset = off;
          prevOfLast = kNone;
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
        countedRules_ = true;
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
        prevOfLast = cur->last;
        LinkLast(cur, static_cast<uint32_t>(rules_.size()));
        rules_.push_back(r);
      }
      num++;
      off += next;
    }
    // Jumps: the chain whose [head, foot] holds the target offset (libiptc's lookup). The
    // chains were created in blob order, so chains_ is sorted by head_offset.
    for (Chain& c : chains_) {
      for (uint32_t i = c.first; i != kNone; i = rules_[i].next) {
        Rule& r = rules_[i];
        if (r.kind != RuleKind::Jump) continue;
        uint32_t v = static_cast<uint32_t>(r.verdict);
        auto it = std::upper_bound(chains_.begin(), chains_.end(), v,
                                   [](uint32_t x, const Chain& ch) { return x < ch.head_offset; });
        if (it == chains_.begin()) return EINVAL;
        Chain* target = &*(it - 1);
        if (v > target->foot_offset) return EINVAL;
        r.jump = target;
        target->references++;
      }
    }
    return 0;
  }
}

int Table::Commit(bool force, Blob* buf, CommitStats* stats) {
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
    for (uint32_t i = c->first; i != kNone; i = rules_[i].next) {
      Rule& r = rules_[i];
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
  auto* repl = Request<ipt_replace>(buf, replHead, size, name_);
  if (repl == nullptr) return ENOMEM;
  repl->valid_hooks = valid_hooks_;
  repl->num_entries = num;
  repl->size = size;
  repl->num_counters = num_entries_;
  std::vector<struct xt_counters> old(num_entries_ ? num_entries_ : 1);
  repl->counters = old.data();
  uint8_t* base = buf->data() + replHead;

  auto putHead = [&](uint8_t* p, std::string_view errorname) {
    memset(p, 0, startSize);
    PutChainHead(fam_, p, errorname);
  };
  auto setVerdict = [&](uint8_t* e, int verdict, bool clearName) { SetStdVerdict(fam_, e, verdict, clearName); };

  for (Chain* c : order) {
    if (c->hooknum) {
      repl->hook_entry[c->hooknum - 1] = c->head_offset;
      repl->underflow[c->hooknum - 1] = c->foot_offset;
    }
  }
  auto writeChain = [&](Chain* c) {
    for (uint32_t i = c->first; i != kNone; i = rules_[i].next) {
      const Rule& r = rules_[i];
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
    PutChainFoot(fam_, foot, *c);
  };
  // Each chain writes only its own bytes of the blob and reads what the first pass fixed:
  // a large table is written by two threads, half of the bytes each.
  auto write = [&](size_t from, size_t to) {
    for (size_t k = from; k < to; k++) {
      Chain* c = order[k];
      if (!c->hooknum) putHead(base + c->head_offset, c->name);
      writeChain(c);
    }
  };
  size_t split = order.size();
  if (size >= kParallelBlob) {
    split = 0;
    while (split < order.size() && order[split]->head_offset < size / 2) split++;
  }
  bool done = false;
  if (split > 0 && split < order.size()) {
    try {
      std::thread other(write, split, order.size());
      write(0, split);
      other.join();
      done = true;
    } catch (const std::system_error&) {
      // no thread: all on this one
    }
  }
  if (!done) write(0, order.size());
  putHead(base + size - startSize, "ERROR");

  auto t1 = std::chrono::steady_clock::now();
  if (setsockopt(fd_, fam_.level, IPT_SO_SET_REPLACE, buf->data(), replHead + size) < 0) return errno;
  auto t2 = std::chrono::steady_clock::now();

  // Counters: libiptc's mapping (NOMAP zero, NORMAL_MAP the atomically read old value,
  // ZEROED what was counted since the read, SET the given value). Nothing to add when all
  // of them are zero.
  auto value = [&](MapType type, uint32_t pos, const struct xt_counters& mine) -> struct xt_counters {
    switch (type) {
      case MapType::NoMap:
        break;
      case MapType::NormalMap:
        if (pos < num_entries_) return old[pos];
        break;
      case MapType::Zeroed:
        if (pos < num_entries_) return {old[pos].pcnt - mine.pcnt, old[pos].bcnt - mine.bcnt};
        break;
      case MapType::Set:
        return mine;
    }
    return {0, 0};
  };
  bool any = false;
  for (Chain* c : order) {
    if (c->hooknum) {
      struct xt_counters v = value(c->map, c->mappos, c->counters);
      any = any || v.pcnt || v.bcnt;
    }
    for (uint32_t i = countedRules_ ? c->first : kNone; i != kNone && !any; i = rules_[i].next) {
      const Rule& r = rules_[i];
      if (r.map == MapType::NoMap) continue;
      struct xt_counters v = value(r.map, r.mappos, r.counters);
      any = v.pcnt || v.bcnt;
    }
    if (any) break;
  }
  if (any) {
    const size_t ciHead = offsetof(struct xt_counters_info, counters);
    std::vector<uint8_t> cbuf(ciHead + sizeof(struct xt_counters) * num, 0);
    auto* ci = reinterpret_cast<struct xt_counters_info*>(cbuf.data());
    strcpy(ci->name, name_.c_str());
    ci->num_counters = num;
    auto* nc = reinterpret_cast<struct xt_counters*>(cbuf.data() + ciHead);
    for (Chain* c : order) {
      if (c->hooknum) nc[c->foot_index] = value(c->map, c->mappos, c->counters);
      for (uint32_t i = c->first; i != kNone; i = rules_[i].next) {
        const Rule& r = rules_[i];
        nc[r.index] = value(r.map, r.mappos, r.counters);
      }
    }
    if (setsockopt(fd_, fam_.level, IPT_SO_SET_ADD_COUNTERS, cbuf.data(), cbuf.size()) < 0) return errno;
  }
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
