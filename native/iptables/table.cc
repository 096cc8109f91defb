#include "table.h"

#include <net/if.h>  // before the linux headers that bring linux/if.h
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

namespace nlkit {
namespace ipt {

namespace {

void Unmap(uint8_t* p, size_t n);

constexpr int kReturn = XT_RETURN;  // -NF_REPEAT - 1
constexpr int kAccept = -NF_ACCEPT - 1;
constexpr int kDrop = -NF_DROP - 1;
constexpr int kQueue = -NF_QUEUE - 1;

const char* const kHookNames[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};

constexpr size_t kStdTargetSize = XT_ALIGN(sizeof(struct xt_standard_target));
constexpr size_t kErrTargetSize = XT_ALIGN(sizeof(struct xt_error_target));
// Tables whose blob is at least this large are written by two threads.
constexpr size_t kParallelBlob = 8u << 20;

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

Blob::~Blob() {
  if (p_) Unmap(p_, cap_);
}

namespace {
std::mutex g_poolMu;
std::vector<Blob> g_pool;  // largest last
constexpr size_t kPoolMax = 4;
}  // namespace

Blob Blob::Take() {
  std::lock_guard<std::mutex> l(g_poolMu);
  if (g_pool.empty()) return Blob();
  Blob b = std::move(g_pool.back());
  g_pool.pop_back();
  return b;
}

Blob Blob::TakeAtLeast(size_t n) {
  std::lock_guard<std::mutex> l(g_poolMu);
  for (auto it = g_pool.begin(); it != g_pool.end(); ++it) {  // smallest first
    if (it->cap_ < n) continue;
    Blob b = std::move(*it);
    g_pool.erase(it);
    return b;
  }
  return Blob();
}

void Blob::Give(Blob&& b) {
  if (!b.p_) return;
  std::lock_guard<std::mutex> l(g_poolMu);
  g_pool.push_back(std::move(b));
  std::sort(g_pool.begin(), g_pool.end(), [](const Blob& x, const Blob& y) { return x.cap_ < y.cap_; });
  if (g_pool.size() > kPoolMax) g_pool.erase(g_pool.begin());  // the smallest goes
}

namespace {
constexpr size_t kHuge = 2u << 20;

uint8_t* Map(size_t size) {
  void* m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m == MAP_FAILED ? nullptr : static_cast<uint8_t*>(m);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Faults a fresh mapping's pages in on another thread, front to back, while the caller
// starts filling it (kernels before 5.14 refuse MADV_POPULATE_WRITE: then the caller faults
// as usual). The threads run at SCHED_IDLE, on what the compiling threads leave of the
// cores. A mapping is not unmapped while its pages are being faulted in: Unmap tells the
// thread to stop after the piece it is on, lifts it (and those queued before it) to normal
// priority where it may, and waits.
struct Faulting {
  uint64_t id;
  uint8_t* p;
  size_t n;
  bool waitable;  // a mapping of ours (not a vector's storage, which may go away meanwhile:
                  // MADV_POPULATE_WRITE then fails, or faults in someone else's pages, and
                  // changes no byte either way)
  std::shared_ptr<std::atomic<bool>> stop;
  bool started = false, boosted = false;
  pthread_t thread{};
};
std::mutex g_faultMu;
std::condition_variable g_faultCv;
std::vector<Faulting> g_faulting;
uint64_t g_faultIds = 0;
constexpr size_t kFaultPiece = 4u << 20;

void Prefault(uint8_t* p, size_t n, bool waitable = true) {
  uint64_t id;
  auto stop = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard<std::mutex> l(g_faultMu);
    id = ++g_faultIds;
    g_faulting.push_back({id, p, n, waitable, stop});
  }
  auto done = [id] {
    std::lock_guard<std::mutex> l(g_faultMu);
    g_faulting.erase(std::find_if(g_faulting.begin(), g_faulting.end(), [&](const Faulting& f) { return f.id == id; }));
    g_faultCv.notify_all();
  };
  auto run = [p, n, id, stop, done] {
    {
      std::lock_guard<std::mutex> l(g_faultMu);
      for (Faulting& f : g_faulting) {
        if (f.id != id) continue;
        f.thread = pthread_self();
        f.started = true;
        if (!f.boosted) {
          struct sched_param sp = {};
          pthread_setschedparam(f.thread, SCHED_IDLE, &sp);
        }
      }
    }
    {
      // one range at a time, in the order asked: the first is needed first
      static std::mutex lane;
      std::lock_guard<std::mutex> l(lane);
      for (size_t off = 0; off < n && !stop->load(std::memory_order_relaxed); off += kFaultPiece)
        madvise(p + off, std::min(kFaultPiece, n - off), MADV_POPULATE_WRITE);
    }
    done();
  };
  try {
    std::thread(run).detach();
  } catch (...) {
    done();  // no thread: the pages fault in as they are written
  }
}

void Unmap(uint8_t* p, size_t n) {
  std::unique_lock<std::mutex> l(g_faultMu);
  auto busy = [&] {
    for (const Faulting& f : g_faulting)
      if (f.waitable && f.p < p + n && p < f.p + f.n) return true;
    return false;
  };
  if (busy()) {
    for (Faulting& f : g_faulting) {
      if (f.waitable && f.p < p + n && p < f.p + f.n) f.stop->store(true);
      // every thread: the one on this mapping may be queued behind the others
      f.boosted = true;
      struct sched_param sp = {};
      if (f.started) pthread_setschedparam(f.thread, SCHED_OTHER, &sp);
    }
    g_faultCv.wait(l, [&] { return !busy(); });
  }
  munmap(p, n);
}
}  // namespace

void PrefaultSoon(const void* p, size_t bytes) {
  if (bytes < (1u << 20)) return;  // not worth a thread
  uintptr_t a = (reinterpret_cast<uintptr_t>(p) + 4095) & ~uintptr_t(4095);
  uintptr_t b = (reinterpret_cast<uintptr_t>(p) + bytes) & ~uintptr_t(4095);
  if (b > a) Prefault(reinterpret_cast<uint8_t*>(a), b - a, false);
}

bool Blob::Reserve(size_t n, bool prefault) {
  if (n <= cap_) return true;
  if (p_) Unmap(p_, cap_);
  p_ = nullptr;
  cap_ = 0;
  size_t want = (n + n / 8 + kHuge - 1) / kHuge * kHuge;  // some room to grow
  p_ = Map(want);
  if (!p_) return false;
  cap_ = want;
  if (prefault) Prefault(p_, n);
  return true;
}

bool Arena::Prepare(size_t n) {
  if (static_cast<size_t>(end_ - cur_) >= n) return true;
  if (!AddChunk((n + 4095) & ~size_t(4095))) return false;
  Prefault(cur_, end_ - cur_);
  return true;
}

bool Arena::AddChunk(size_t size) {
  uint8_t* m = Map(size);
  if (!m) return false;
  chunks_.emplace_back(m, size);
  cur_ = m;
  end_ = m + size;
  used_ += size;
  return true;
}

bool Arena::Grow(size_t n) {
  // Chunks double from 1 MB to 16 MB: small caches stay small, large ones take few mappings.
  // (Not in transparent huge pages: where memory is first touched, a virtual machine's for
  // one, clearing 2 MB pages on fault costs several times what 4 kB faults do.)
  size_t size = chunks_.empty() ? (1u << 20) : std::min<size_t>(chunks_.back().second * 2, 16u << 20);
  if (size < n) size = (n + 4095) & ~size_t(4095);
  return AddChunk(size);
}

void Arena::Clear() {
  for (auto& c : chunks_) Unmap(c.first, c.second);
  chunks_.clear();
  cur_ = end_ = nullptr;
  used_ = 0;
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

Chain* ChainIndex::Find(std::string_view name, uint64_t h) const {
  if (Chain* c = Recent(name)) return c;
  return Lookup(name, h);
}

Chain* ChainIndex::Lookup(std::string_view name, uint64_t h) const {
  if (WasMissed(name)) return nullptr;
  Chain* c = Probe(name, h);
  if (c)
    Remember(c);
  else
    RememberMiss(name);
  return c;
}

Chain* ChainIndex::Probe(std::string_view name, uint64_t h) const {
  if (slots_.empty()) return nullptr;
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.chain) return nullptr;
    if (s.chain != kTomb && s.hash == h && s.chain->name == name) return s.chain;
  }
}

void ChainIndex::Put(Chain* c) { Put(c, HashBytes(c->name.data(), c->name.size())); }

void ChainIndex::Put(Chain* c, uint64_t h) {
  Forget();
  if ((used_ + 1) * 2 > slots_.size()) Reserve(slots_.empty() ? 8 : slots_.size());
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (!s.chain || s.chain == kTomb) {
      if (!s.chain) used_++;
      s = Slot{h, c};
      return;
    }
    if (s.hash == h && s.chain->name == c->name) {
      s.chain = c;
      return;
    }
  }
}

void ChainIndex::Erase(std::string_view name) {
  Forget();
  if (slots_.empty()) return;
  uint64_t h = HashBytes(name.data(), name.size());
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (!s.chain) return;
    if (s.chain != kTomb && s.hash == h && s.chain->name == name) {
      s.chain = kTomb;
      return;
    }
  }
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

int Table::Socket() {
  if (fd_ >= 0) return 0;
  fd_ = socket(fam_.af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  return fd_ < 0 ? errno : 0;
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

std::vector<std::string> Table::BuiltinNames() const {
  std::vector<std::string> out;
  for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
    if (valid_hooks_ & (1u << i)) out.push_back(kHookNames[i]);
  return out;
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
    if (!buf->Reserve(head + size_)) return ENOMEM;
    auto* ge = reinterpret_cast<struct ipt_get_entries*>(buf->data());
    memset(ge, 0, head);
    strcpy(ge->name, name_.c_str());
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
        uint32_t idx = static_cast<uint32_t>(rules_.size());
        rules_.push_back(r);
        prevOfLast = cur->last;
        if (cur->last == kNone)
          cur->first = idx;
        else
          rules_[cur->last].next = idx;
        cur->last = idx;
        cur->count++;
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
  fn_ = Fn::DeleteChain;
  Chain* c = Find(name);
  if (!c) return ENOENT;
  if (c->hooknum) return EINVAL;
  if (c->references > 0) return EMLINK;
  if (c->count) return ENOTEMPTY;
  index_.Erase(c->name);
  c->dead = true;
  dead_++;
  changed_ = true;
  return 0;
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
  fn_ = Fn::Flush;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  for (uint32_t i = c->first; i != kNone; i = rules_[i].next) DropRule(rules_[i]);
  c->first = c->last = kNone;
  c->count = 0;
  changed_ = true;
  return 0;
}

int Table::Zero(std::string_view chain) {
  fn_ = Fn::Zero;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  if (c->map == MapType::NormalMap) c->map = MapType::Zeroed;
  for (uint32_t i = c->first; i != kNone; i = rules_[i].next)
    if (rules_[i].map == MapType::NormalMap) rules_[i].map = MapType::Zeroed;
  changed_ = true;
  return 0;
}

int Table::ZeroCounter(std::string_view chain, unsigned rulenum) {
  fn_ = Fn::ZeroCounter;
  Chain* c = Find(chain);
  if (!c) return ENOENT;
  // iptcc_get_rule_num: 1-based; 0 or past the end is "too big"
  if (rulenum == 0 || rulenum > c->count) return E2BIG;
  Rule& r = rules_[NthRule(c, rulenum - 1)];
  if (r.map == MapType::NormalMap) r.map = MapType::Zeroed;
  changed_ = true;
  return 0;
}

int Table::SetPolicy(std::string_view chain, std::string_view policy, const struct xt_counters* counters) {
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
  if (c->last == kNone)
    c->first = idx;
  else
    rules_[c->last].next = idx;
  c->last = idx;
  c->count++;
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
  uint32_t idx = static_cast<uint32_t>(rules_.size());
  rules_.push_back(r);
  if (c->last == kNone)
    c->first = idx;
  else
    rules_[c->last].next = idx;
  c->last = idx;
  c->count++;
  changed_ = true;
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
  if (!buf->Reserve(replHead + size)) return ENOMEM;
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
