// iptables restore and save, run on a handle's worker thread (in its network namespace).
//
// TypeScript has already checked the text's structure (tables, COMMIT lines, chain lines,
// counters) and hands over, per table, the lines between `*table` and `COMMIT`. Here each
// table is read from the kernel, every line is compiled (libxtables, through the cache of
// compiled commands) and applied to the in-memory table, and only when every table of the
// text is complete are they committed, in order, each with one IPT_SO_SET_REPLACE. A bad
// line anywhere commits nothing.
#include <napi.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../../core/args.h"
#include "../../core/worker.h"
#include "../compile/lines.h"
#include "../kernel/lock.h"
#include "../compile/parse.h"
#include "../kernel/raw.h"
#include "../compile/save.h"
#include "../model/table.h"
#include "../compile/xt.h"
#include "compile_job.h"

namespace nlkit {
namespace ipt {
namespace {

using Clock = std::chrono::steady_clock;
double CpuMs() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// -F / -Z / -X: on the chain named, or, with none named, on every chain (userOnly: every
// user-defined one, as -X does); the first error. The names are taken first (views of the
// chains' own names, which stay put), since op may delete chains.
template <typename Op>
int NamedOrAll(Table& t, const std::string& chain, bool userOnly, Op op) {
  if (!chain.empty()) return op(chain);
  std::vector<std::string_view> names;
  for (Chain* ch : t.Ordered())
    if (!userOnly || !ch->hooknum) names.push_back(ch->name);
  int err = 0;
  for (std::string_view n : names)
    if (int e = op(n)) err = err ? err : e;
  return err;
}

// A cheap clock for timing each of 100k lines: the CPU's time-stamp counter where there is
// one (turned into milliseconds against steady_clock over the whole compile), else steady_clock.
#if defined(__x86_64__) || defined(__i386__)
uint64_t Ticks() { return __rdtsc(); }
#else
uint64_t Ticks() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }
#endif

// Compiled commands, per handle, kept between restores: kube-proxy-style callers send the
// same lines again and again. Keyed by the command text of a line (after its counters), per
// family, table and whether restore counters applied. Each entry is stamped with the last
// restore that used it; after a successful restore only entries it used are kept, so the
// cache never outgrows the tables it describes.
struct CacheEntry {
  std::string_view key;  // the line's command text, in the map's arena
  uint64_t hash = 0;
  uint64_t stamp = 0;
  // An append of one entry without counters (all the fast path makes): what using it again
  // takes, the target as the table will resolve it and the hashes of the names looked up.
  bool simple = false;
  bool jumpIsChain = false;
  RuleKind kind = RuleKind::Module;
  int verdict = 0;
  int targetToken = -1;
  uint32_t entrySize = 0;
  const uint8_t* entry = nullptr;  // in the map's arena, or cmd's
  std::string_view chain, jumpto;  // likewise
  uint64_t chainHash = 0, jumpHash = 0;
  std::unique_ptr<Command> cmd;  // what iptables' parser made (null for fast-path entries)
};

// The compiled commands of one (family, table, counters) with an open-addressing index:
// one probe and one key comparison per line of a text seen before. Evicted entries leave
// the index at once and the entry list and arena when they are most of it, so that a
// restore that changes a few lines costs a few lines.
class CommandMap {
 public:
  CacheEntry* Find(std::string_view key, uint64_t h) {
    if (live_ == 0) return nullptr;
    size_t mask = slots_.size() - 1;
    uint32_t tag = static_cast<uint32_t>(h);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.idx == kNone) return nullptr;
      if (s.tag == tag) {
        CacheEntry& e = entries_[s.idx];
        if (e.hash == h && e.key == key) return &e;
      }
    }
  }
  // Starts loading the slot a later Find(…, h) reads.
  void Prefetch(uint64_t h) const {
    if (live_) __builtin_prefetch(&slots_[h & (slots_.size() - 1)]);
  }
  // The entry is complete (key and bytes in arena(), or a cmd).
  CacheEntry* Add(CacheEntry&& e) {
    if ((live_ + 1) * 2 > slots_.size()) Rehash(slots_.empty() ? 1024 : slots_.size() * 2);
    entries_.push_back(std::move(e));
    live_++;
    Put(static_cast<uint32_t>(entries_.size() - 1));
    return &entries_.back();
  }
  Arena* arena() { return &arena_; }
  bool Empty() const { return live_ == 0; }
  // Bytes of arena() that no entry uses.
  void Waste(size_t n) { deadBytes_ += n; }
  // Forgets the entries stamped before `keepFrom`.
  void Evict(uint64_t keepFrom) {
    for (uint32_t i = 0; i < entries_.size(); i++) {
      CacheEntry& e = entries_[i];
      if (e.stamp >= keepFrom || e.stamp == kDead) continue;
      Unput(i);
      deadBytes_ += Footprint(e);
      e.stamp = kDead;
      e.cmd.reset();
      live_--;
    }
    if (entries_.size() - live_ > live_ + 1024) {
      size_t n = 0;
      for (auto& e : entries_)
        if (e.stamp != kDead) {
          if (&entries_[n] != &e) entries_[n] = std::move(e);
          n++;
        }
      entries_.resize(n);
      RehashFor(n);
    }
    if (deadBytes_ > arena_.used() / 2 + (1u << 20)) Compact();
  }
  // Room for this many more entries, from a text this long, when the map is empty (a first
  // restore): the arena's pages are faulted in meanwhile (a kube-proxy rule takes ~500 bytes
  // of entry and its line; less is left to grow as usual).
  void ReserveFirst(size_t more, size_t textBytes) {
    if (!entries_.empty()) return;
    RehashFor(more, true);
    entries_.reserve(more);
    PrefaultSoon(entries_.data(), sizeof(CacheEntry) * more);
    if (more > 1000) arena_.Prepare(textBytes + more * 400);
  }

 private:
  static constexpr uint32_t kNone = 0xffffffffu;
  static constexpr uint64_t kDead = ~uint64_t(0);
  struct Slot {
    uint32_t tag;  // the hash's lower half (its home slot)
    uint32_t idx;
  };
  static size_t Round(size_t n) { return (n + 7) & ~size_t(7); }
  static size_t Footprint(const CacheEntry& e) {
    size_t n = Round(e.key.size());
    if (!e.cmd) n += Round(e.entrySize) + Round(e.chain.size()) + Round(e.jumpto.size());
    return n;
  }
  // Drops dead entries and copies the live ones' bytes into a fresh arena (kept as it is
  // when that fails).
  void Compact() {
    size_t live = 0;
    for (const auto& e : entries_)
      if (e.stamp != kDead) live += Footprint(e);
    Arena fresh;
    uint8_t* p = fresh.Alloc(live);
    if (!p && live) return;
    auto copy = [&](const void* src, size_t n) {
      if (n) memcpy(p, src, n);
      const uint8_t* at = p;
      p += Round(n);
      return at;
    };
    auto copyView = [&](std::string_view v) {
      return std::string_view(reinterpret_cast<const char*>(copy(v.data(), v.size())), v.size());
    };
    size_t n = 0;
    for (auto& e : entries_) {
      if (e.stamp == kDead) continue;
      e.key = copyView(e.key);
      if (!e.cmd) {
        e.entry = copy(e.entry, e.entrySize);
        e.chain = copyView(e.chain);
        e.jumpto = copyView(e.jumpto);
      }
      if (&entries_[n] != &e) entries_[n] = std::move(e);
      n++;
    }
    entries_.resize(n);
    RehashFor(n);
    arena_ = std::move(fresh);  // the old chunks go with `fresh`
    deadBytes_ = 0;
  }
  void Put(uint32_t idx) {
    uint64_t h = entries_[idx].hash;
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      if (slots_[i].idx == kNone) {
        slots_[i] = Slot{static_cast<uint32_t>(h), idx};
        return;
      }
    }
  }
  // Linear probing's deletion: later entries of the probe run move back into the hole.
  void Unput(uint32_t idx) {
    size_t mask = slots_.size() - 1;
    size_t i = entries_[idx].hash & mask;
    while (slots_[i].idx != idx) i = (i + 1) & mask;
    for (size_t j = i;;) {
      j = (j + 1) & mask;
      if (slots_[j].idx == kNone) break;
      size_t home = slots_[j].tag & mask;
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot{0, kNone};
  }
  // An index at most half full for n entries (`growOnly`: never smaller than it is).
  void RehashFor(size_t n, bool growOnly = false) {
    size_t want = 1024;
    while (want < n * 2) want <<= 1;
    if (!growOnly || want > slots_.size()) Rehash(want);
  }
  void Rehash(size_t n) {
    slots_.assign(n, Slot{0, kNone});
    for (uint32_t i = 0; i < entries_.size(); i++)
      if (entries_[i].stamp != kDead) Put(i);
  }
  std::vector<Slot> slots_;
  std::vector<CacheEntry> entries_;
  size_t live_ = 0;
  size_t deadBytes_ = 0;  // arena bytes of dead entries
  Arena arena_;
};

// Bodies at least this large have their lines split (and tokenized) on a helper thread.
constexpr size_t kFeedBytes = 256u << 10;

struct HandleState {
  std::map<std::tuple<int, std::string, bool>, CommandMap> commands;
  uint64_t generation = 0;
  // Buffers reused between restores (their pages stay mapped: no page faults on 100 MB blobs).
  // Buffers for one restore, from and back to Blob's process-wide pool.
  std::map<std::pair<int, std::string>, Blob> readBufs;
  Blob writeBuf;
  void GiveBack() {
    for (auto& kv : readBufs) Blob::Give(std::move(kv.second));
    readBufs.clear();
    Blob::Give(std::move(writeBuf));
  }

  void Evict(uint64_t keepFrom) {
    for (auto& kv : commands) kv.second.Evict(keepFrom);
  }
};

// A request's text, in a buffer from the pool that goes back when the request is done: the
// next restore (a resync sends a text as large again) copies into pages already faulted in.
class PooledText {
 public:
  PooledText() = default;
  PooledText(PooledText&&) = default;
  PooledText& operator=(PooledText&&) = default;
  ~PooledText() { Blob::Give(std::move(big_)); }
  // Room for n bytes and a NUL; false when out of memory.
  bool Allocate(size_t n) {
    size_ = n;
    if (n < kPooledText) {
      small_.assign(n + 1, '\0');
      return true;
    }
    big_ = Blob::TakeAtLeast(n + 1);
    return big_.Reserve(n + 1);
  }
  char* data() { return size_ < kPooledText ? &small_[0] : reinterpret_cast<char*>(big_.data()); }
  // A view for as long as the text stays where it is (a short one lives inside this object).
  std::string_view view() const {
    return std::string_view(size_ < kPooledText ? small_.data() : reinterpret_cast<const char*>(big_.data()), size_);
  }

 private:
  static constexpr size_t kPooledText = 1u << 20;
  std::string small_;
  Blob big_;
  size_t size_ = 0;
};

struct TableReq {
  std::string name;
  bool flush = true;
  PooledText text;  // the lines between *table and COMMIT, each ending in '\n'
  std::string_view body() const { return text.view(); }
  uint32_t line = 0;   // line of `*table`
  uint32_t firstLine = 0;
  uint32_t commitLine = 0;
  int64_t chains = -1;  // chain lines in body, when the caller counted them
  // compileOnly --noflush: the table to start from (the nf_tables table decoded into the
  // legacy layout); the model's rules point into its entries, so it lives as long as the job.
  std::shared_ptr<RawTable> base;
};

// What went wrong, as the job's failure record (kind: parse | apply | chain | init | commit |
// concurrent | lock | internal | save).
using Problem = Failure;

struct Warning {
  uint32_t line;
  std::string text;
};

struct Stats {
  double lockMs = 0, readMs = 0, compileMs = 0, serializeMs = 0, replaceMs = 0, countersMs = 0, xtMs = 0;
  double compileCpuMs = 0;
  uint64_t lines = 0, compiled = 0, cached = 0, fast = 0;
  uint32_t attempts = 0;
};

bool IsChainCb(void* ctx, const char* name) { return static_cast<Table*>(ctx)->IsChain(std::string_view(name)); }


// strtok(" \t\n") over a line, as iptables-restore splits chain lines: views of it.
std::vector<std::string_view> SplitWs(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) i++;
    size_t j = i;
    while (j < s.size() && !(s[j] == ' ' || s[j] == '\t' || s[j] == '\n')) j++;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool ParseCounters(const char* s, struct xt_counters* c) {
  unsigned long long p, b;
  if (!s || sscanf(s, "[%llu:%llu]", &p, &b) != 2) return false;
  c->pcnt = p;
  c->bcnt = b;
  return true;
}

struct LockReq {
  std::string path;
  double wait = -1;
  double interval = 100;

  // Waits for the lock as asked; when it was not taken (fd < 0) *f is the failure record:
  // kind "lock", the errno, who holds it.
  LockOutcome Take(Failure* f) const {
    LockOptions lo;
    lo.path = path;
    lo.waitSeconds = wait;
    lo.intervalMs = interval;
    LockOutcome lk = AcquireXtablesLock(lo);
    if (lk.fd < 0) {
      f->kind = "lock";
      f->err = lk.err;
      f->message = lk.message;
      f->holderPid = lk.holderPid;
      f->lockPath = path;
    }
    return lk;
  }
};

// Builds tables from restore requests: reads the kernel's table, then compiles (or takes
// from the cache) and applies each line, like iptables-restore's main loop.
class Restorer {
 public:
  Restorer(int nfproto, bool counters, HandleState* state) : nfproto_(nfproto), counters_(counters), state_(state) {}

  std::vector<Warning> warnings;
  Stats stats;
  bool prefaultBlob = false;  // the tables will be committed
  bool noKernel = false;      // compileOnly: start from empty tables, never read the kernel's

  bool Prepare(Table& t, const std::vector<const TableReq*>& reqs, Problem* p) {
    auto r0 = Clock::now();
    int err = ReadFor(t, *reqs.front());
    stats.readMs += Ms(r0, Clock::now());
    if (err) {
      p->kind = "init";
      p->err = err;
      p->line = reqs.front()->line;
      p->table = t.name();
      p->message = "unable to initialize table '" + t.name() + "': " + TcStrerror(Fn::Init, err);
      return false;
    }
    auto c0 = Clock::now();
    uint64_t k0 = Ticks();
    double cpu0 = CpuMs();
    xtTicks_ = 0;
    bool ok = true;
    std::string fatal;
    bool ran = XtRun(nfproto_, false, [&](StdioCapture& capture) {
      for (const TableReq* req : reqs) {
        flushing_ = req->flush;
        if (req->flush) {
          std::vector<std::string_view> all, user;
          for (Chain* c : t.Ordered()) {
            all.push_back(c->name);
            if (!c->hooknum) user.push_back(c->name);
          }
          for (auto n : all) t.Flush(n);
          for (auto n : user) t.DeleteChain(n);
        }
        size_t lines = 0, chains = 0;
        if (req->chains >= 0 && req->commitLine >= req->firstLine &&
            static_cast<uint64_t>(req->chains) <= req->commitLine - req->firstLine) {
          lines = req->commitLine - req->firstLine;  // counted as the text was planned
          chains = static_cast<size_t>(req->chains);
        } else {
          CountLines(req->body(), &lines, &chains);
        }
        t.Reserve(chains + 16, lines - chains + 16);
        if (!(ok = Lines(t, *req, lines, chains, capture, p))) break;
      }
    }, &fatal);
    if (!ran) {
      *p = Problem();
      p->kind = "internal";
      p->err = EIO;
      p->table = t.name();
      p->message = fatal;
      ok = false;
    }
    double ms = Ms(c0, Clock::now());
    uint64_t ticks = Ticks() - k0;
    stats.compileMs += ms;
    if (ticks) stats.xtMs += ms * static_cast<double>(xtTicks_) / static_cast<double>(ticks);
    stats.compileCpuMs += CpuMs() - cpu0;
    return ok;
  }

 private:
  // A flushing restore needs nothing of the old table but the built-in chains' policies,
  // and not even those when the text sets all of them.
  int ReadFor(Table& t, const TableReq& first) {
    auto key = std::make_pair(nfproto_, t.name());
    if (!state_->readBufs.count(key)) state_->readBufs[key] = Blob::Take();
    Blob* buf = &state_->readBufs[key];
    if (noKernel && first.base) {
      const RawTable& b = *first.base;
      return t.Load(b.valid_hooks, b.hook_entry, b.underflow, b.num_entries, b.entries.data(),
                    static_cast<uint32_t>(b.entries.size()), buf);
    }
    if (noKernel) return t.InitBuiltins(ValidHooksOf(t.name()));
    if (!first.flush) return t.Read(Table::ReadMode::Full, buf);
    if (int e = t.ReadInfo()) return e;
    std::vector<std::string> need = t.BuiltinNames();
    std::string_view body = first.body();
    size_t found = 0;
    std::vector<bool> seen(need.size(), false);
    for (size_t pos = 0; pos < body.size() && found < need.size();) {
      size_t nl = body.find('\n', pos);
      if (nl == std::string_view::npos) nl = body.size();
      if (body[pos] == ':') {
        std::vector<std::string_view> w = SplitWs(body.substr(pos + 1, nl - pos - 1));
        if (w.size() >= 2 && w[1] != "-") {
          for (size_t i = 0; i < need.size(); i++)
            if (!seen[i] && w[0] == need[i]) seen[i] = true, found++;
        }
      }
      pos = nl + 1;
    }
    return t.Read(found == need.size() ? Table::ReadMode::InfoOnly : Table::ReadMode::BuiltinsOnly, buf);
  }

  // Lines of a body, and how many of them are chain lines.
  static void CountLines(std::string_view body, size_t* lines, size_t* chains) {
    const char* p = body.data();
    const char* end = p + body.size();
    size_t n = 0, c = 0;
    while (p < end) {
      c += *p == ':';
      const void* nl = memchr(p, '\n', end - p);
      n++;
      if (!nl) break;
      p = static_cast<const char*>(nl) + 1;
    }
    *lines = n;
    *chains = c;
  }

  bool Lines(Table& t, const TableReq& req, size_t lines, size_t chains, StdioCapture& capture, Problem* p) {
    std::string_view body = req.body();
    uint32_t lineNo = req.firstLine;
    CommandMap* plain = &state_->commands[{nfproto_, t.name(), false}];
    CommandMap* counted = &state_->commands[{nfproto_, t.name(), true}];
    CommandMap* map = counters_ ? counted : plain;
    bool first = map->Empty();
    map->ReserveFirst(lines - chains, body.size());
    if (prefaultBlob && body.size() > (1u << 20)) {
      // the blob that commits a table is about four times its text (a kube-proxy rule: ~150
      // bytes of text, ~500 of entry): its pages are faulted in while the text compiles
      state_->writeBuf.Reserve(body.size() * 9 / 2, true);
    }
    // Commands are tokenized ahead only when most of them will be compiled: on a map's
    // first restore. Later ones mostly find their lines in the map.
    LineFeed feed(body, body.size() >= kFeedBytes, first);
    BodyLine cur;
    const Tokens* words;
    for (; feed.Next(&cur, &words); lineNo++) {
      if (const BodyLine* next = feed.Peek()) {
        if (next->hash) map->Prefetch(next->hash);
      }
      if (cur.len == 0 || cur.p[0] == '#') continue;
      stats.lines++;
      if (cur.p[0] == ':') {
        if (!ChainLine(t, std::string_view(cur.p, cur.len), lineNo, p)) return false;
        continue;
      }
      if (!RuleLine(t, cur, words, lineNo, plain, counted, capture, p)) return false;
    }
    return true;
  }

  // iptables-restore.c's handling of `:CHAIN POLICY [p:b]`. `text` views the request's
  // body, which outlives the table: the chain's name is kept as a view of it.
  bool ChainLine(Table& t, std::string_view text, uint32_t lineNo, Problem* p) {
    // strtok(" \t\n") for the first three words, without allocating
    std::string_view w[3];
    size_t nw = 0;
    for (size_t i = 1; i < text.size() && nw < 3;) {
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) i++;
      size_t j = i;
      while (j < text.size() && !(text[j] == ' ' || text[j] == '\t' || text[j] == '\n')) j++;
      if (j > i) w[nw++] = text.substr(i, j - i);
      i = j;
    }
    auto fail = [&](const std::string& m, int err, std::string_view at) {
      p->kind = "chain";
      p->message = m;
      p->err = err;
      p->line = lineNo;
      p->table = t.name();
      if (!at.empty()) {
        p->argument = std::string(at);
        p->offset = static_cast<int>(at.data() - text.data());
      }
      return false;
    };
    if (nw == 0) return fail("chain name invalid", EINVAL, {});
    std::string_view chain = w[0];
    if (chain.size() >= XT_EXTENSION_MAXNAMELEN)
      return fail("Invalid chain name `" + std::string(chain) + "' (" + std::to_string(XT_EXTENSION_MAXNAMELEN - 1) +
                      " chars max)",
                  EINVAL, chain);
    if (t.Builtin(chain) == 0) {
      if (!flushing_ && t.IsChain(chain)) {
        if (int e = t.Flush(chain))
          return fail("error flushing chain '" + std::string(chain) + "':" + strerror(e), e, chain);
      } else if (int e = t.CreateChain(chain)) {
        return fail("error creating chain '" + std::string(chain) + "':" + strerror(e), e, chain);
      }
    }
    if (nw < 2) return fail("policy invalid", EINVAL, {});
    std::string_view policy = w[1];
    if (policy != "-") {
      struct xt_counters count = {0, 0};
      if (counters_) {
        if (nw < 3 || !ParseCounters(std::string(w[2]).c_str(), &count))
          return fail("invalid policy counters for chain '" + std::string(chain) + "'", EINVAL, chain);
      }
      if (int e = t.SetPolicy(chain, policy, &count)) {
        return fail("Can't set policy `" + std::string(policy) + "' on `" + std::string(chain) + "' line " +
                        std::to_string(lineNo) + ": " + TcStrerror(t.last_fn(), e),
                    e, policy);
      }
    }
    return true;
  }

  // `words`: the line's tokens when they are at hand already.
  bool RuleLine(Table& t, const BodyLine& l, const Tokens* words, uint32_t lineNo, CommandMap* plain,
                CommandMap* counted, StdioCapture& capture, Problem* p) {
    const char* line = l.p;
    const size_t len = l.len;
    const bool hasNl = l.hasNl;
    const uint64_t hash = l.hash;
    auto fail = [&](const std::string& kind, const std::string& m, int err, int offset, const std::string& arg) {
      p->kind = kind;
      p->message = m;
      p->err = err;
      p->line = lineNo;
      p->offset = offset;
      p->argument = arg;
      p->table = t.name();
      return false;
    };
    // xshared.c tokenize_rule_counters
    const char* rest = line;
    size_t restLen = len;
    uint32_t restOff = 0;
    std::string pcnt, bcnt;
    bool haveCounters = false;
    if (line[0] == '[') {
      std::string copy(line, len);
      if (hasNl) copy.push_back('\n');
      size_t close = copy.find(']');
      if (close == std::string::npos) return fail("parse", "Bad line " + std::to_string(lineNo) + ": need ]", EINVAL, 0, "");
      char* save = nullptr;
      char* pc = strtok_r(&copy[1], ":", &save);
      if (!pc) return fail("parse", "Bad line " + std::to_string(lineNo) + ": need :", EINVAL, 0, "");
      char* bc = strtok_r(nullptr, "]", &save);
      if (!bc) return fail("parse", "Bad line " + std::to_string(lineNo) + ": need ]", EINVAL, 0, "");
      pcnt = pc;
      bcnt = bc;
      haveCounters = true;
      restOff = static_cast<uint32_t>(close + 1);
      if (restOff > len) restOff = static_cast<uint32_t>(len);
      rest = line + restOff;
      restLen = len - restOff;
    }
    bool withCounters = counters_ && haveCounters;
    cur_ = {rest, restLen, hasNl, restOff, withCounters};
    CommandMap* map = withCounters ? counted : plain;
    // Only whole lines (with their newline) are cached: the newline matters to the tokenizer
    // inside an unterminated quote.
    std::string_view key(rest, restLen);
    uint64_t h = haveCounters ? HashBytes(rest, restLen) : hash;

    CacheEntry* e = hasNl ? map->Find(key, h) : nullptr;
    bool known = e != nullptr;  // the map has this line (compiled against other chains, maybe)
    if (e && !withCounters && e->simple && AppendCached(t, *e)) {
      // The common case, a plain line seen before: no tokenizing, no compiling, the chains
      // looked up by precomputed hashes.
      e->stamp = state_->generation;
      stats.cached++;
      return true;
    }
    if (e && !StillValid(t, *e)) e = nullptr;
    if (e) {
      e->stamp = state_->generation;
      stats.cached++;
    } else {
      if (!words || haveCounters) {
        Tokens& own = tok_;
        own.clear();
        if (withCounters) {
          // the values are checked and set below, so that the compiled command does not
          // depend on them
          own.push("--set-counters", 0);
          own.push("0", 0);
          own.push("0", 0);
        }
        std::string terr;
        if (!Tokenize(rest, restLen, hasNl, withCounters ? 6 : 3, &own, &terr)) return fail("parse", terr, EINVAL, -1, "");
        words = &own;
      }
      const Tokens& tok = *words;
      bool cache = hasNl && !known;
      Arena* arena = cache ? map->arena() : &scratch_;
      CacheEntry fresh;
      FastRule fr;
      CompileError ce;
      uint64_t cc0 = Ticks();
      bool ok = !withCounters && FastCompile(nfproto_, t.name().c_str(), tok, IsChainCb, &t, arena, &fr);
      if (ok && verify_) {
        // both ways, byte for byte (NLKIT_IPTABLES_VERIFY=1: a debugging aid)
        Command slow;
        CompileError se;
        bool sok = Compile(nfproto_, t.name().c_str(), tok, IsChainCb, &t, &slow, &se);
        if (!sok || slow.command != CMD_APPEND || slow.chain != fr.chain ||
            slow.blob != std::string_view(reinterpret_cast<const char*>(fr.entry), fr.size) ||
            slow.entrySize != fr.size || slow.jumpto != fr.jumpto || slow.jumpIsChain != fr.jumpIsChain ||
            slow.pure != fr.pure || slow.targetToken != fr.targetToken) {
          std::string what = sok ? "compiled differently" : "failed: " + se.message;
          return fail("internal", "the fast path and iptables' parser disagree on this line (" + what + ")", EIO, -1, "");
        }
      }
      if (ok) {
        stats.fast++;
        fresh.simple = true;
        fresh.entry = fr.entry;
        fresh.entrySize = fr.size;
        fresh.chain = arena->Copy(fr.chain);
        fresh.jumpto = arena->Copy(fr.jumpto);
        fresh.jumpIsChain = fr.jumpIsChain;
        fresh.targetToken = fr.targetToken;
        if (!fresh.chain.data() || !fresh.jumpto.data()) return fail("internal", "out of memory", ENOMEM, -1, "");
        if (cache && !fr.pure) map->Waste(fresh.entrySize + fresh.chain.size() + fresh.jumpto.size() + 24);
        cache = cache && fr.pure;
      } else {
        fresh.cmd = std::make_unique<Command>();
        ok = Compile(nfproto_, t.name().c_str(), tok, IsChainCb, &t, fresh.cmd.get(), &ce);
      }
      xtTicks_ += Ticks() - cc0;
      for (auto& w : capture.TakeErr()) warnings.push_back({lineNo, w});
      stats.compiled++;
      if (!ok) {
        int off = -1;
        std::string arg;
        if (ce.token >= (withCounters ? 3 : 0) && static_cast<size_t>(ce.token) < tok.size()) {
          off = static_cast<int>(restOff + tok.offsets[ce.token]);
          arg = tok.word(ce.token);
        }
        return fail("parse", ce.message, EINVAL, off, arg);
      }
      if (fresh.cmd) {
        const Command& c = *fresh.cmd;
        cache = cache && c.pure;
        fresh.simple = c.command == CMD_APPEND && c.entryCount() == 1 && !c.counters;
        fresh.entry = c.entryCount() ? c.entry(0) : nullptr;
        fresh.entrySize = c.entrySize;
        fresh.chain = c.chain;
        fresh.jumpto = c.jumpto;
        fresh.jumpIsChain = c.jumpIsChain;
        fresh.targetToken = c.targetToken;
      }
      Classify(t.fam(), &fresh);
      if (cache) {
        fresh.key = map->arena()->Copy(key);
        if (!fresh.key.data() && !key.empty()) return fail("internal", "out of memory", ENOMEM, -1, "");
        fresh.hash = h;
        fresh.stamp = state_->generation;
        e = map->Add(std::move(fresh));
      } else {
        transient_.push_back(std::move(fresh));
        e = &transient_.back();
      }
      // what Append would do, without looking the target up by name again
      if (!withCounters && e->simple && AppendCached(t, *e)) return true;
    }

    struct xt_counters cnt = {0, 0};
    bool setCounters = false;
    if (e->cmd) {
      cnt = {e->cmd->pcnt, e->cmd->bcnt};
      setCounters = e->cmd->counters;
    }
    if (withCounters) {
      unsigned long long pv, bv;
      // iptables-restore passes "-c PCNT BCNT" through getopt, whose xs_has_arg() does not take
      // a byte counter that starts like an option: "[1:-1]" is refused, not wrapped to 2^64-1.
      const int bOff = static_cast<int>(pcnt.size()) + 2;  // "[" PCNT ":"
      if (bcnt[0] == '-' || bcnt[0] == '!') return fail("parse", "-c requires packet and byte counter", EINVAL, bOff, bcnt);
      if (sscanf(pcnt.c_str(), "%llu", &pv) != 1) return fail("parse", "-c packet counter not numeric", EINVAL, 1, pcnt);
      if (sscanf(bcnt.c_str(), "%llu", &bv) != 1) return fail("parse", "-c byte counter not numeric", EINVAL, bOff, bcnt);
      cnt = {pv, bv};
      setCounters = true;
    }
    if (e->cmd) return Apply(t, *e->cmd, setCounters, cnt, lineNo, p);
    // a fast-path append whose target did not resolve as compiled: Append reports why
    const struct xt_counters zero = {0, 0};
    int err = t.Append(e->chain, e->entry, e->entrySize, setCounters ? cnt : zero);
    if (!err) return true;
    return Refused(t, err, err == EINVAL ? e->targetToken : 1, e->chain, e->jumpto, e->targetToken, lineNo, p);
  }

  // Appends a cached simple entry when its chains resolve as they did when it was compiled.
  static bool AppendCached(Table& t, const CacheEntry& e) {
    Chain* c = t.FindHashed(e.chain, e.chainHash);
    if (!c) return false;
    Chain* j = nullptr;
    if (e.kind == RuleKind::Jump) {
      // the chain must still be there (and not be a built-in one)
      j = t.FindHashed(e.jumpto, e.jumpHash);
      if (j == nullptr || j->hooknum) return false;
    } else if (e.kind == RuleKind::Module) {
      // no chain named like the target may have appeared since
      if (t.FindHashed(TargetName(t.fam(), e.entry), e.jumpHash)) return false;
    }
    t.AppendResolved(c, e.entry, e.entrySize, e.kind, e.verdict, j);
    return true;
  }

  static std::string_view TargetName(const Family& f, const uint8_t* entry) {
    uint16_t to;
    memcpy(&to, entry + f.off_target, 2);
    const char* n = reinterpret_cast<const struct xt_entry_target*>(entry + to)->u.user.name;
    return std::string_view(n, strnlen(n, XT_EXTENSION_MAXNAMELEN));
  }

  // What the table will make of the entry's target (libiptc's iptcc_map_target), and the
  // hashes of the names each use looks up (for a module target, its name as the table sees
  // it: a chain of that name would take the jump).
  static void Classify(const Family& f, CacheEntry* e) {
    e->chainHash = HashBytes(e->chain.data(), e->chain.size());
    if (!e->entry) return;
    std::string_view n = TargetName(f, e->entry);
    if (n.empty()) {
      e->kind = RuleKind::Fallthrough;
    } else if (LabelVerdict(n, &e->verdict)) {
      e->kind = RuleKind::Standard;
    } else if (e->jumpIsChain) {
      e->kind = RuleKind::Jump;
      e->jumpHash = HashBytes(e->jumpto.data(), e->jumpto.size());
    } else {
      e->kind = RuleKind::Module;
      e->jumpHash = HashBytes(n.data(), n.size());
    }
  }

  // A cached command compiled against the chains of an earlier text: its target resolution
  // must still hold.
  static bool StillValid(Table& t, const CacheEntry& e) {
    if (!e.entry || e.jumpto.empty() || IsStdLabel(e.jumpto)) return true;
    return t.IsChain(e.jumpto) == e.jumpIsChain;
  }

  bool Apply(Table& t, const Command& c, bool setCounters, struct xt_counters cnt, uint32_t lineNo, Problem* p) {
    int err = 0;
    int tokAt = c.chainToken;
    const struct xt_counters zero = {0, 0};
    const struct xt_counters& rc = setCounters ? cnt : zero;
    auto entry = [&](size_t i) { return c.entry(i); };
    auto sz = [&](size_t) { return c.entrySize; };
    const size_t count = c.entryCount();
    switch (c.command) {
      case CMD_APPEND:
        for (size_t i = 0; i < count && !err; i++) err = t.Append(c.chain, entry(i), sz(i), rc);
        break;
      case CMD_INSERT:
        for (size_t i = 0; i < count && !err; i++) err = t.Insert(c.chain, entry(i), sz(i), c.rulenum - 1, rc);
        break;
      case CMD_REPLACE:
        err = t.Replace(c.chain, entry(0), sz(0), c.rulenum - 1, rc);
        break;
      case CMD_DELETE:
        for (size_t i = 0; i < count && !err; i++)
          err = t.DeleteEntry(c.chain, entry(i), sz(i), reinterpret_cast<const uint8_t*>(c.mask.data()), false);
        break;
      case CMD_CHECK:
        for (size_t i = 0; i < count && !err; i++)
          err = t.DeleteEntry(c.chain, entry(i), sz(i), reinterpret_cast<const uint8_t*>(c.mask.data()), true);
        break;
      case CMD_DELETE_NUM:
        err = t.DeleteNum(c.chain, c.rulenum - 1);
        break;
      case CMD_FLUSH:
      case CMD_ZERO:
      case CMD_DELETE_CHAIN:
        err = NamedOrAll(t, c.chain, c.command == CMD_DELETE_CHAIN, [&t, &c](std::string_view n) {
          return c.command == CMD_FLUSH ? t.Flush(n) : c.command == CMD_ZERO ? t.Zero(n) : t.DeleteChain(n);
        });
        break;
      case CMD_ZERO_NUM:
        err = t.ZeroCounter(c.chain, c.rulenum);
        break;
      case CMD_NEW_CHAIN:
        err = t.CreateChain(c.chain);
        break;
      case CMD_RENAME_CHAIN:
        err = t.RenameChain(c.chain, c.newname);
        break;
      case CMD_SET_POLICY:
        err = t.SetPolicy(c.chain, c.policy, setCounters ? &cnt : nullptr);
        if (err == EINVAL) tokAt = c.policyToken;
        break;
      default:
        break;
    }
    if (!err) return true;
    if (err == EINVAL && (c.command & (CMD_APPEND | CMD_INSERT | CMD_REPLACE))) tokAt = c.targetToken;
    return Refused(t, err, tokAt, c.chain, c.jumpto, c.targetToken, lineNo, p);
  }

  // The table refused a command: libiptc's message, and where in the line the word at fault is.
  bool Refused(Table& t, int err, int tokAt, std::string_view chain, std::string_view jumpto, int targetToken,
               uint32_t lineNo, Problem* p) {
    p->kind = "apply";
    p->err = err;
    p->line = lineNo;
    p->table = t.name();
    std::string what = TcStrerror(t.last_fn(), err);
    if (err == EINVAL && tokAt == targetToken && !jumpto.empty())
      what = "cannot jump to built-in chain " + std::string(jumpto);
    p->message = (chain.empty() ? std::string() : std::string(chain) + ": ") + what;
    if (tokAt >= 0) {
      // where the word at fault is (tokenized again: this is the error path)
      Tokens tok;
      std::string terr;
      int wi = tokAt - (cur_.withCounters ? 3 : 0);
      if (Tokenize(cur_.rest, cur_.len, cur_.hasNl, cur_.withCounters ? 6 : 3, &tok, &terr) && wi >= 0 &&
          static_cast<size_t>(wi) < tok.size()) {
        p->offset = static_cast<int>(cur_.restOff + tok.offsets[wi]);
        p->argument = tok.word(wi);
      }
    }
    return false;
  }

  int nfproto_;
  bool counters_;
  HandleState* state_;
  Tokens tok_;
  uint64_t xtTicks_ = 0;  // in FastCompile/Compile during the current Prepare
  // Commands that are not cached (not pure, or compiled against a changed chain set) live
  // here until the restore is done, their bytes in scratch_.
  std::deque<CacheEntry> transient_;
  Arena scratch_;
  bool verify_ = getenv("NLKIT_IPTABLES_VERIFY") != nullptr;
  bool flushing_ = true;  // the current table request flushes (not --noflush)
  struct {
    const char* rest;
    size_t len;
    bool hasNl;
    uint32_t restOff;
    bool withCounters;
  } cur_ = {nullptr, 0, false, 0, false};
};

class RestoreJob : public Job {
 public:
  RestoreJob(Napi::Env env, std::shared_ptr<HandleState> state) : Job(env), state_(std::move(state)) {
    if (!state_) state_ = std::make_shared<HandleState>();  // no cache: one use only
  }

  int nfproto = NFPROTO_IPV4;
  bool counters = false;
  bool force = false;
  bool dryRun = false;  // compile and apply in memory only
  bool compileOnly = false;  // dryRun without the kernel, the tables handed back (compile_job.h)
  std::vector<TableReq> tables;
  LockReq lock;

  void Execute() override {
    auto t0 = Clock::now();
    int fd = -1;
    if (!lock.path.empty() && !dryRun) {
      LockOutcome lk = lock.Take(&problem_);
      if (lk.fd < 0) {
        failed_ = true;
        failure = problem_;
        return;
      }
      fd = lk.fd;
    }
    stats_.lockMs = Ms(t0, Clock::now());
    state_->generation++;
    state_->writeBuf = Blob::Take();
    Run();
    ReleaseXtablesLock(fd);
    // Successful: keep only what this restore used. Failed: keep the last two generations.
    if (failed_) {
      failure = problem_;
      failure.applied = committed_;
    }
    state_->Evict(failed_ ? state_->generation - 1 : state_->generation);
    state_->GiveBack();
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    Napi::Array committed = Napi::Array::New(env, committed_.size());
    for (size_t i = 0; i < committed_.size(); i++) committed.Set(i, committed_[i]);
    r.Set("committed", committed);
    Napi::Array warns = Napi::Array::New(env, warnings_.size());
    for (size_t i = 0; i < warnings_.size(); i++) {
      Napi::Object w = Napi::Object::New(env);
      w.Set("line", warnings_[i].line);
      w.Set("text", warnings_[i].text);
      warns.Set(i, w);
    }
    r.Set("warnings", warns);
    Napi::Object s = Napi::Object::New(env);
    s.Set("lockMs", stats_.lockMs);
    s.Set("readMs", stats_.readMs);
    s.Set("compileMs", stats_.compileMs);
    s.Set("serializeMs", stats_.serializeMs);
    s.Set("replaceMs", stats_.replaceMs);
    s.Set("countersMs", stats_.countersMs);
    s.Set("parseMs", stats_.xtMs);
    s.Set("compileCpuMs", stats_.compileCpuMs);
    s.Set("lines", static_cast<double>(stats_.lines));
    s.Set("compiled", static_cast<double>(stats_.compiled));
    s.Set("cached", static_cast<double>(stats_.cached));
    s.Set("fast", static_cast<double>(stats_.fast));
    s.Set("attempts", stats_.attempts);
    r.Set("stats", s);
    if (compileOnly && !failed_) r.Set("tables", RawTablesToJs(env, raws_));
    return r;
  }

 private:
  // One model per table name, prepared and committed in the order of first appearance.
  void Run() {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const TableReq*>> byName;
    for (const TableReq& t : tables) {
      auto& v = byName[t.name];
      if (v.empty()) order.push_back(t.name);  // the tool reads (and the kernel creates) tables in this order
      v.push_back(&t);
    }
    Restorer rs(nfproto, counters, state_.get());
    rs.prefaultBlob = !dryRun;
    rs.noKernel = compileOnly;
    std::vector<std::unique_ptr<Table>> prepared;
    for (const std::string& name : order) {
      auto t = std::make_unique<Table>(nfproto, name);
      if (!rs.Prepare(*t, byName[name], &problem_)) return Fail(rs);
      prepared.push_back(std::move(t));
    }
    if (compileOnly) {
      raws_.resize(prepared.size());
      // from empty tables, the chains in the order the text made them (restore.ts chainOrder)
      for (size_t i = 0; i < prepared.size(); i++) ToRawTable(*prepared[i], &raws_[i], !byName[order[i]].front()->base);
    }
    if (!dryRun) {
      // Each table but the last is read as the kernel holds it before it is replaced: a later
      // table the kernel refuses puts the earlier ones back (the text applies whole or not at all).
      std::vector<RawTable> olds(prepared.size() > 1 ? prepared.size() - 1 : 0);
      for (size_t i = 0; i < prepared.size(); i++) {
        const std::string name = prepared[i]->name();
        const auto& reqs = byName[name];
        int err = 0;
        if (i < olds.size()) {
          if (int e = ReadRaw(nfproto, name, &olds[i])) {
            problem_.err = e;
            problem_.table = name;
            problem_.line = reqs.front()->line;
            problem_.kind = "init";
            problem_.message = "cannot read table " + name + " before replacing it: " + strerror(e);
            PutBack(olds);
            return Fail(rs);
          }
        }
        for (int attempt = 0;; attempt++) {
          stats_.attempts++;
          Table::CommitStats cs;
          err = prepared[i]->Commit(force, &state_->writeBuf, &cs);
          stats_.serializeMs += cs.serializeMs;
          stats_.replaceMs += cs.replaceMs;
          stats_.countersMs += cs.countersMs;
          if (err != EAGAIN || attempt >= 4) break;
          // The kernel's table changed since it was read: start this table again from a
          // fresh read (the compiled commands come from the cache).
          std::this_thread::sleep_for(std::chrono::milliseconds(1 << attempt));
          prepared[i].reset();
          prepared[i] = std::make_unique<Table>(nfproto, name);
          if (!rs.Prepare(*prepared[i], reqs, &problem_)) {
            PutBack(olds);
            return Fail(rs);
          }
          if (i < olds.size()) ReadRaw(nfproto, name, &olds[i]);  // what is there now is what to put back
        }
        if (err) {
          problem_.err = err;
          problem_.table = name;
          problem_.line = reqs.back()->commitLine;
          if (err == EAGAIN) {
            problem_.kind = "concurrent";
            problem_.message = "the kernel's " + name + " table kept changing while it was being replaced";
          } else {
            problem_.kind = "commit";
            problem_.message = "the kernel refused table " + name + ": " + strerror(err);
          }
          PutBack(olds);
          return Fail(rs);
        }
        committed_.push_back(name);
      }
    }
    Finish(rs);
  }

  // After a refusal: the tables committed so far get their old entries back, newest first;
  // committed_ keeps those that could not be (the error names them).
  void PutBack(const std::vector<RawTable>& olds) {
    for (size_t i = committed_.size(); i-- > 0;) {
      if (int e = WriteRaw(olds[i])) {
        problem_.message += "; table " + committed_[i] + " could not be put back (" + strerror(e) + ")";
        continue;
      }
      committed_.erase(committed_.begin() + i);
    }
  }

  void Fail(Restorer& rs) {
    failed_ = true;
    Finish(rs);
  }

  void Finish(Restorer& rs) {
    warnings_ = rs.warnings;
    stats_.readMs = rs.stats.readMs;
    stats_.compileMs = rs.stats.compileMs;
    stats_.xtMs = rs.stats.xtMs;
    stats_.compileCpuMs = rs.stats.compileCpuMs;
    stats_.lines = rs.stats.lines;
    stats_.compiled = rs.stats.compiled;
    stats_.cached = rs.stats.cached;
    stats_.fast = rs.stats.fast;
  }

  std::shared_ptr<HandleState> state_;
  std::vector<RawTable> raws_;
  std::vector<std::string> committed_;
  std::vector<Warning> warnings_;
  Stats stats_;
  Problem problem_;
  bool failed_ = false;
};

class SaveJob : public Job {
 public:
  using Job::Job;
  int nfproto = NFPROTO_IPV4;
  bool counters = false;
  std::string table;

  void Execute() override {
    Run();
    Blob::Give(std::move(buf_));
  }

  void Run() {
    int err = 0;
    std::vector<std::string> names;
    if (table.empty()) {
      names = TableNames(nfproto, &err);
      if (err) {
        Fail(err, std::string("cannot list the tables: ") + strerror(err));
        return;
      }
    } else {
      names.push_back(table);
    }
    for (const auto& n : names) {
      Table t(nfproto, n);
      if (int e = t.Read(Table::ReadMode::Full, &buf_)) {
        Fail(e, "Cannot initialize table '" + n + "': " + TcStrerror(Fn::Init, e));
        failure.table = n;
        return;
      }
      bool ok = false;
      std::string perr;
      bool ran = XtRun(nfproto, true, [&](StdioCapture& cap) {
        cap.TakeOut();
        ok = PrintTable(t, counters, &perr);
        text_ += cap.TakeOut();
        for (auto& w : cap.TakeErr()) warnings_.push_back(w);
      }, &perr);
      if (!ran || !ok) {
        Fail(EIO, perr);
        return;
      }
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("text", text_);
    Napi::Array w = Napi::Array::New(env, warnings_.size());
    for (size_t i = 0; i < warnings_.size(); i++) w.Set(i, warnings_[i]);
    r.Set("warnings", w);
    return r;
  }

 private:
  void Fail(int err, std::string m) {
    failure.kind = "save";
    failure.err = err;
    failure.message = std::move(m);
  }
  Blob buf_ = Blob::Take();
  std::string text_;
  std::vector<std::string> warnings_;
};

class LockJob : public Job {
 public:
  using Job::Job;
  LockReq lock;
  void Execute() override {
    out_ = lock.Take(&failure);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("fd", out_.fd);
    return r;
  }

 private:
  LockOutcome out_;
};

int FamilyOf(const Napi::Object& o) {
  Napi::Value f = o.Get("family");
  return f.IsNumber() && f.As<Napi::Number>().Int32Value() == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

LockReq LockOf(const Napi::Object& o) {
  LockReq l;
  Napi::Value v = o.Get("lock");
  if (!v.IsObject()) return l;
  Napi::Object lo = v.As<Napi::Object>();
  if (lo.Get("path").IsString()) l.path = lo.Get("path").As<Napi::String>().Utf8Value();
  if (lo.Get("wait").IsNumber()) l.wait = lo.Get("wait").As<Napi::Number>().DoubleValue();
  if (lo.Get("interval").IsNumber()) l.interval = lo.Get("interval").As<Napi::Number>().DoubleValue();
  return l;
}

// A JS string as UTF-8, into a pooled buffer. An ASCII text (the usual one: its UTF-8
// length is its length) is copied byte for byte, which for 20 MB is several times quicker
// than encoding it. False when out of memory.
bool TextOf(Napi::Env env, Napi::Value v, PooledText* out) {
  size_t len16 = 0, len8 = 0;
  if (napi_get_value_string_utf16(env, v, nullptr, 0, &len16) == napi_ok &&
      napi_get_value_string_utf8(env, v, nullptr, 0, &len8) == napi_ok && len8 == len16) {
    if (!out->Allocate(len8)) return false;
    size_t copied = 0;
    if (napi_get_value_string_latin1(env, v, out->data(), len8 + 1, &copied) == napi_ok && copied == len8) return true;
  }
  std::string u = v.As<Napi::String>().Utf8Value();
  if (!out->Allocate(u.size())) return false;
  memcpy(out->data(), u.data(), u.size());
  return true;
}

// A handle's cache can hold a few hundred thousand compiled commands: free it off the JS thread.
void FinalizeCache(Napi::Env, std::shared_ptr<HandleState>* p) {
  std::thread([p] { delete p; }).detach();
}

}  // namespace

}  // namespace ipt

// iptablesCache(): per-handle cache of compiled commands (an External).
Napi::Value IptablesCache(const Napi::CallbackInfo& info) {
  auto* p = new std::shared_ptr<ipt::HandleState>(std::make_shared<ipt::HandleState>());
  return Napi::External<std::shared_ptr<ipt::HandleState>>::New(info.Env(), p, ipt::FinalizeCache);
}

// iptablesDrop(cache): forgets a closed handle's compiled commands now rather than at GC.
Napi::Value IptablesDrop(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) {
    std::shared_ptr<ipt::HandleState> state = *info[0].As<Napi::External<std::shared_ptr<ipt::HandleState>>>().Data();
    // Jobs still holding the state keep it; what is left goes on another thread.
    std::thread([state]() mutable {
      state->commands.clear();
      state->GiveBack();
    }).detach();
  }
  return info.Env().Undefined();
}

// iptablesRestore(worker, cache | null, { family, counters, force, tables: [...], lock })
Napi::Value IptablesRestore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = WorkerArgs(info, info[2].IsObject(), "iptablesRestore(worker, cache, request)");
  if (w == nullptr) return env.Undefined();
  std::shared_ptr<ipt::HandleState> cache;
  if (info[1].IsExternal()) cache = *info[1].As<Napi::External<std::shared_ptr<ipt::HandleState>>>().Data();
  Napi::Object req = info[2].As<Napi::Object>();
  std::vector<ipt::TableReq> tables;
  Napi::Value tv = req.Get("tables");
  if (tv.IsArray()) {
    Napi::Array arr = tv.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Object t = arr.Get(i).As<Napi::Object>();
      ipt::TableReq tr;
      tr.name = t.Get("name").As<Napi::String>().Utf8Value();
      tr.flush = t.Get("flush").ToBoolean().Value();
      if (!ipt::TextOf(env, t.Get("body"), &tr.text)) {
        Napi::Error::New(env, "iptablesRestore: out of memory for the text").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      tr.line = t.Get("line").As<Napi::Number>().Uint32Value();
      tr.firstLine = t.Get("firstLine").As<Napi::Number>().Uint32Value();
      tr.commitLine = t.Get("commitLine").As<Napi::Number>().Uint32Value();
      Napi::Value ch = t.Get("chains");
      if (ch.IsNumber()) tr.chains = ch.As<Napi::Number>().Int64Value();
      Napi::Value base = t.Get("base");
      if (base.IsObject()) {
        tr.base = std::make_shared<ipt::RawTable>();
        if (!ipt::RawTableFromJs(base.As<Napi::Object>(), ipt::FamilyOf(req), tr.base.get())) {
          Napi::TypeError::New(env, "iptablesRestore: tables[" + std::to_string(i) + "].base is not a raw table").ThrowAsJavaScriptException();
          return env.Undefined();
        }
      }
      tables.push_back(std::move(tr));
    }
  }
  auto* job = new ipt::RestoreJob(env, cache);
  job->nfproto = ipt::FamilyOf(req);
  job->counters = req.Get("counters").ToBoolean().Value();
  job->force = req.Get("force").ToBoolean().Value();
  job->compileOnly = req.Get("compileOnly").ToBoolean().Value();
  job->dryRun = job->compileOnly || req.Get("dryRun").ToBoolean().Value();
  job->lock = ipt::LockOf(req);
  job->tables = std::move(tables);
  return w->Submit(env, job);
}

// iptablesSave(worker, { family, table, counters })
Napi::Value IptablesSave(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = WorkerArgs(info, info[1].IsObject(), "iptablesSave(worker, request)");
  if (w == nullptr) return env.Undefined();
  Napi::Object req = info[1].As<Napi::Object>();
  auto* job = new ipt::SaveJob(env);
  job->nfproto = ipt::FamilyOf(req);
  job->counters = req.Get("counters").ToBoolean().Value();
  if (req.Get("table").IsString()) job->table = req.Get("table").As<Napi::String>().Utf8Value();
  return w->Submit(env, job);
}

// iptablesLock(worker, { lock: { path, wait, interval } }): takes the xtables lock on the
// worker thread; resolves { fd } (or { fd: -1, error }).
Napi::Value IptablesLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = WorkerArgs(info, info[1].IsObject(), "iptablesLock(worker, request)");
  if (w == nullptr) return env.Undefined();
  auto* job = new ipt::LockJob(env);
  job->lock = ipt::LockOf(info[1].As<Napi::Object>());
  return w->Submit(env, job);
}

// iptablesUnlock(fd): releases a lock taken by iptablesLock.
Napi::Value IptablesUnlock(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) ipt::ReleaseXtablesLock(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

}  // namespace nlkit
