// One legacy xtables table (IPv4 or IPv6) as libiptc models it: chains in the kernel's
// order (built-ins in hook order, then user-defined chains sorted by name), rules with
// their targets resolved to verdicts or chains, and libiptc's counter mapping. It reads the
// kernel's blob with IPT_SO_GET_INFO/GET_ENTRIES and writes the whole table back with one
// IPT_SO_SET_REPLACE (plus IPT_SO_SET_ADD_COUNTERS when counters must be carried over), on
// sockets of the calling thread, hence in its network namespace.
//
// The operations mirror libiptc's (TC_APPEND_ENTRY, TC_CREATE_CHAIN, ...) including their
// errno values, so that what a restore text does and how it fails is what iptables-restore
// does. Unlike libiptc nothing here grows faster than the table: chains are found through a
// hash table, rules live in one arena as per-chain lists, chain names are views of text
// that outlives the table, and the blob is assembled in one pass.
#pragma once
#include <stdint.h>
#include <string.h>
#include <linux/netfilter/x_tables.h>

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../memory/memory.h"

namespace nlkit {
namespace ipt {

// Which libiptc function failed, for its strerror table.
enum class Fn { None, Init, DeleteChain, CreateChain, Insert, Replace, DeleteNum, DeleteEntry, SetPolicy, Append,
                Flush, Zero, ZeroCounter, Rename, Commit, Check };
const char* TcStrerror(Fn fn, int err);

enum class MapType : uint8_t { NoMap, NormalMap, Zeroed, Set };
enum class RuleKind : uint8_t { Fallthrough, Standard, Jump, Module };

constexpr uint32_t kNone = 0xffffffffu;

struct Chain;

struct Rule {
  const uint8_t* entry = nullptr;  // header + matches + target; owned by the caller / read buffer
  uint32_t size = 0;
  RuleKind kind = RuleKind::Module;
  MapType map = MapType::NoMap;
  int verdict = 0;        // Standard
  Chain* jump = nullptr;  // Jump
  uint32_t mappos = 0;
  uint32_t next = kNone;  // next rule of the chain
  struct xt_counters counters = {0, 0};
  uint32_t offset = 0, index = 0;  // commit scratch
};

struct Chain {
  Chain() = default;
  Chain(const Chain&) = delete;  // name may view the chain's own nameBuf
  Chain& operator=(const Chain&) = delete;
  std::string_view name;  // views nameBuf, or (a longer name) text that outlives the table
  // The name's bytes next to the rest of the chain: an index lookup that finds the chain
  // compares names without another cache miss into the text it came from.
  char nameBuf[32];
  void SetName(std::string_view n) {
    if (n.size() > sizeof nameBuf) {
      name = n;
      return;
    }
    memcpy(nameBuf, n.data(), n.size());
    name = std::string_view(nameBuf, n.size());
  }
  unsigned hooknum = 0;   // 0: user-defined; else hook number + 1
  int verdict = 0;        // built-in: policy verdict
  struct xt_counters counters = {0, 0};
  MapType map = MapType::NoMap;
  uint32_t mappos = 0;
  uint32_t first = kNone, last = kNone, count = 0;  // rules
  uint32_t references = 0;
  bool dead = false;
  uint32_t head_offset = 0, foot_offset = 0, foot_index = 0;  // read and commit scratch
};

struct Family {
  int nfproto;  // NFPROTO_IPV4 / NFPROTO_IPV6
  int af;
  int level;
  size_t hdr;  // sizeof(ipt_entry) / sizeof(ip6t_entry)
  size_t off_target, off_next, off_comefrom, off_counters, off_flags;
  uint8_t goto_flag;
  static const Family& Of(int nfproto);
};

// Open addressing, string_view keys (the chains' own names).
class ChainIndex {
 public:
  void Reserve(size_t n);
  Chain* Find(std::string_view name) const;
  Chain* Find(std::string_view name, uint64_t hash) const;
  void Put(Chain* c);
  void Put(Chain* c, uint64_t hash);
  void Erase(std::string_view name);
  void Clear();

 private:
  struct Slot {
    uint64_t hash;
    Chain* chain;  // nullptr: empty; kTomb: deleted
  };
  void Grow();
  static constexpr size_t kNoSlot = ~size_t(0);
  // The slot holding `name`, else the empty slot that ends its probe; *tomb (when given and
  // still kNoSlot) gets the first deleted slot passed, where a new entry can go.
  size_t SlotOf(std::string_view name, uint64_t hash, size_t* tomb) const;
  Chain* Probe(std::string_view name, uint64_t hash) const;
  // Past recent_: the names not found lately, then the slots; remembers what it learns.
  Chain* Lookup(std::string_view name, uint64_t hash) const;
  Chain* Recent(std::string_view name) const;
  void Remember(Chain* c) const;
  void Forget() const;
  std::vector<Slot> slots_;
  size_t used_ = 0;  // live + tombstones
  // The chains found last: a text's lines name the same few chains one after another
  // (a chain's rules, the chain jumped to, then that chain's rules), so most lookups end
  // here without hashing or touching the slots.
  static constexpr int kRecent = 4;
  mutable Chain* recent_[kRecent] = {};
  mutable unsigned next_ = 0;
  // Names looked up last and not found (a target's, DNAT, is looked up as a chain on every
  // other line of a kube-proxy text): creating a chain forgets them, as it forgets recent_.
  struct Missed {
    bool set;
    uint8_t len;
    char name[30];
  };
  static constexpr int kMissed = 2;
  mutable Missed missed_[kMissed] = {};
  mutable unsigned nextMissed_ = 0;
  bool WasMissed(std::string_view name) const;
  void RememberMiss(std::string_view name) const;
};

class Table {
 public:
  Table(int nfproto, std::string name);
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  const Family& fam() const { return fam_; }
  const std::string& name() const { return name_; }

  enum class ReadMode {
    Full,          // every chain and rule (what --noflush and save need)
    BuiltinsOnly,  // only the built-in chains' policies and counters (a flushing restore)
    InfoOnly,      // not even those: the text sets every built-in chain's policy
  };
  // Reads the kernel's table into `buf` (kept by the caller for as long as the table, and
  // reused between reads). Returns 0 or an errno (ENOENT: no such table).
  int Read(ReadMode mode, Blob* buf);
  // The kernel's GET_INFO (valid hooks, size): enough to decide how to Read.
  int ReadInfo();
  // The built-in chains of `validHooks` with policy ACCEPT, without the kernel (compile_job.cc).
  int InitBuiltins(uint32_t validHooks);
  // Reads a blob given in GET_INFO/GET_ENTRIES' layout (an nf_tables table decoded by
  // lib/iptables/nft) instead of the kernel's; `entries` must outlive the table.
  int Load(uint32_t validHooks, const uint32_t* hookEntry, const uint32_t* underflow, uint32_t numEntries,
           const uint8_t* entries, uint32_t size, Blob* buf);
  std::vector<std::string> BuiltinNames() const;
  // Room for this many more chains and rules (avoids regrowth while a text is applied).
  void Reserve(size_t chains, size_t rules);

  Chain* Find(std::string_view name) const { return index_.Find(name); }
  Chain* FindHashed(std::string_view name, uint64_t hash) const { return index_.Find(name, hash); }
  // Append of a rule whose target is already resolved (the cache's fast path); `jump` for
  // RuleKind::Jump. Counters zero.
  void AppendResolved(Chain* c, const uint8_t* entry, uint32_t size, RuleKind kind, int verdict, Chain* jump);
  bool IsChain(std::string_view name) const { return Find(name) != nullptr; }
  // hook + 1 for built-in chains, 0 otherwise (also when missing, like TC_BUILTIN)
  unsigned Builtin(std::string_view name) const;
  // Chains in the order iptables-save prints them (and the blob holds them).
  std::vector<Chain*> Ordered() const;
  // Built-in chains in the kernel's order, then user chains in the order they were made.
  std::vector<Chain*> Created() const;
  // Rules of a chain in order.
  const Rule& RuleAt(uint32_t i) const { return rules_[i]; }
  Rule& RuleAt(uint32_t i) { return rules_[i]; }

  // libiptc's operations; 0 or an errno, with the failing function in last_fn(). Names
  // passed in must outlive the table.
  int CreateChain(std::string_view name);
  int DeleteChain(std::string_view name);
  int RenameChain(std::string_view from, std::string_view to);
  int Flush(std::string_view chain);
  int Zero(std::string_view chain);
  int ZeroCounter(std::string_view chain, unsigned rulenum);  // 1-based
  int SetPolicy(std::string_view chain, std::string_view policy, const struct xt_counters* counters);
  // The rule index of the new rule in *added (for counters set afterwards).
  int Append(std::string_view chain, const uint8_t* entry, uint32_t size, const struct xt_counters& c);
  int Insert(std::string_view chain, const uint8_t* entry, uint32_t size, unsigned rulenum0, const struct xt_counters& c);
  int Replace(std::string_view chain, const uint8_t* entry, uint32_t size, unsigned rulenum0, const struct xt_counters& c);
  int DeleteNum(std::string_view chain, unsigned rulenum0);
  int DeleteEntry(std::string_view chain, const uint8_t* entry, uint32_t size, const uint8_t* mask, bool dryRun);
  Fn last_fn() const { return fn_; }
  bool changed() const { return changed_; }

  struct CommitStats {
    double serializeMs = 0, replaceMs = 0, countersMs = 0;
    uint32_t entries = 0, bytes = 0;
  };
  // Replaces the kernel's table with this one (nothing when unchanged, unless forced),
  // assembling the blob in `buf` (reused between commits). Returns 0 or the errno of
  // IPT_SO_SET_REPLACE / ADD_COUNTERS (EAGAIN: the kernel's table changed since Read()).
  int Commit(bool force, Blob* buf, CommitStats* stats);

  uint32_t num_entries() const { return num_entries_; }

 private:
  int MapTarget(Rule& r);
  // fn_ = fn, then op(c) on the chain named `chain` (ENOENT when there is none); the table has
  // changed when op returns 0.
  template <typename Op>
  int OnChain(Fn fn, std::string_view chain, Op&& op);
  // `hash`: of the name, when the caller has it already.
  Chain* AddChain(std::string_view name, unsigned hooknum, const uint64_t* hash = nullptr);
  void Link(Chain* c, uint32_t at, uint32_t idx);  // insert rule idx at position `at`
  void LinkLast(Chain* c, uint32_t idx);  // rule idx (in rules_ or about to be) ends the chain
  uint32_t NthRule(const Chain* c, unsigned n) const;  // 0-based; kNone when past the end
  void Unlink(Chain* c, uint32_t prev, uint32_t idx);
  void DropRule(Rule& r);
  int NewRule(const uint8_t* entry, uint32_t size, const struct xt_counters& c, uint32_t* idx);
  int Socket();

  const Family& fam_;
  std::string name_;
  int fd_ = -1;
  uint32_t valid_hooks_ = 0, num_entries_ = 0;
  std::deque<Chain> chains_;
  std::vector<Rule> rules_;
  ChainIndex index_;
  std::vector<Chain*> builtins_;  // in the kernel's order
  std::vector<Chain*> users_;     // user-defined chains (some may be dead)
  std::deque<std::string> names_;  // names read from the kernel
  size_t dead_ = 0;
  uint32_t hook_entry_[5] = {}, underflow_[5] = {};  // NF_INET_NUMHOOKS
  uint32_t size_ = 0;
  const uint8_t* given_ = nullptr;  // Load()'s blob
  Fn fn_ = Fn::None;
  bool changed_ = false;
  // Some rule may carry counters to add after a commit (read from the kernel, or given):
  // without one, a commit of 160k new rules need not look at each for counters.
  bool countedRules_ = false;
};

// The bytes of an entry that opens user chain `name` (an ERROR target; p zeroed before) and a
// rule's standard verdict: what Commit writes, and compile_job.cc without the kernel.
void PutChainHead(const Family& f, uint8_t* p, std::string_view name);
void SetStdVerdict(const Family& f, uint8_t* e, int verdict, bool clearName);
// A chain's last entry (p zeroed before): a built-in chain's policy, a user chain's RETURN.
void PutChainFoot(const Family& f, uint8_t* p, const Chain& c);

// Names of the tables the thread's namespace has (ip_tables_names / ip6_tables_names).
std::vector<std::string> TableNames(int nfproto, int* err);

uint64_t HashBytes(const void* p, size_t n);
// The verdict of ACCEPT, DROP, QUEUE or RETURN; false for anything else.
bool LabelVerdict(std::string_view name, int* verdict);
// ACCEPT, DROP, QUEUE or RETURN.
bool IsStdLabel(std::string_view name);

}  // namespace ipt
}  // namespace nlkit
