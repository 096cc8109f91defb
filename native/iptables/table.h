// One legacy xtables table (IPv4 or IPv6) as libiptc models it: chains in the kernel's
// order (built-ins in hook order, then user-defined chains sorted by name), rules with
// their targets resolved to verdicts or chains, and libiptc's counter mapping. It reads the
// kernel's blob with IPT_SO_GET_INFO/GET_ENTRIES and writes the whole table back with one
// IPT_SO_SET_REPLACE (plus IPT_SO_SET_ADD_COUNTERS when counters must be carried over), on
// sockets of the calling thread, hence in its network namespace.
//
// The operations mirror libiptc's (TC_APPEND_ENTRY, TC_CREATE_CHAIN, ...) including their
// errno values, so that what a restore text does and how it fails is what iptables-restore
// does; but chains are found through a hash map and the blob is assembled in one pass, so
// nothing grows faster than the table.
#pragma once
#include <stdint.h>
#include <linux/netfilter/x_tables.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace nlkit {
namespace ipt {

// Which libiptc function failed, for its strerror table.
enum class Fn { None, Init, DeleteChain, CreateChain, Insert, Replace, DeleteNum, DeleteEntry, SetPolicy, Append,
                Flush, Zero, ZeroCounter, Rename, Commit, Check };
const char* TcStrerror(Fn fn, int err);

enum class MapType : uint8_t { NoMap, NormalMap, Zeroed, Set };
enum class RuleKind : uint8_t { Fallthrough, Standard, Jump, Module };

struct Chain;

struct Rule {
  const uint8_t* entry = nullptr;  // header + matches + target; owned by the table's keep list
  uint32_t size = 0;
  RuleKind kind = RuleKind::Module;
  int verdict = 0;        // Standard
  Chain* jump = nullptr;  // Jump
  MapType map = MapType::NoMap;
  uint32_t mappos = 0;
  struct xt_counters counters = {0, 0};
  uint32_t offset = 0, index = 0;  // commit scratch
};

struct Chain {
  std::string name;
  unsigned hooknum = 0;  // 0: user-defined; else hook number + 1
  int verdict = 0;       // built-in: policy verdict
  struct xt_counters counters = {0, 0};
  MapType map = MapType::NoMap;
  uint32_t mappos = 0;
  std::vector<Rule> rules;
  uint32_t references = 0;
  bool dead = false;  // deleted (stays allocated until the table goes)
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
  int Read(ReadMode mode, std::vector<uint8_t>* buf);
  // The built-in chains the kernel's table has (valid after ReadInfo or Read).
  int ReadInfo();
  std::vector<std::string> BuiltinNames() const;

  Chain* Find(std::string_view name) const;
  bool IsChain(std::string_view name) const { return Find(name) != nullptr; }
  // hook + 1 for built-in chains, 0 otherwise (also when missing, like TC_BUILTIN)
  unsigned Builtin(std::string_view name) const;
  // Chains in the order iptables-save prints them (and the blob holds them).
  std::vector<Chain*> Ordered() const;

  // libiptc's operations; 0 or an errno, with the failing function in last_fn().
  int CreateChain(const std::string& name);
  int DeleteChain(const std::string& name);
  int RenameChain(const std::string& from, const std::string& to);
  int Flush(const std::string& chain);
  int Zero(const std::string& chain);
  int ZeroCounter(const std::string& chain, unsigned rulenum);  // 1-based
  int SetPolicy(const std::string& chain, const std::string& policy, const struct xt_counters* counters);
  int Append(const std::string& chain, const uint8_t* entry, uint32_t size);
  int Insert(const std::string& chain, const uint8_t* entry, uint32_t size, unsigned rulenum0);
  int Replace(const std::string& chain, const uint8_t* entry, uint32_t size, unsigned rulenum0);
  int DeleteNum(const std::string& chain, unsigned rulenum0);
  int DeleteEntry(const std::string& chain, const uint8_t* entry, uint32_t size, const uint8_t* mask, bool dryRun);
  Fn last_fn() const { return fn_; }
  bool changed() const { return changed_; }
  void MarkChanged() { changed_ = true; }

  struct CommitStats {
    double serializeMs = 0, replaceMs = 0, countersMs = 0;
    uint32_t entries = 0, bytes = 0;
  };
  // Replaces the kernel's table with this one (nothing when unchanged, unless forced),
  // assembling the blob in `buf` (reused between commits). Returns 0 or the errno of
  // IPT_SO_SET_REPLACE / ADD_COUNTERS (EAGAIN: the kernel's table changed since Read()).
  int Commit(bool force, std::vector<uint8_t>* buf, CommitStats* stats);

  // Kernel info after Read().
  uint32_t num_entries() const { return num_entries_; }

 private:
  int MapTarget(Rule& r);
  Chain* AddChain(const std::string& name, unsigned hooknum);
  void DropRule(Rule& r);
  int Socket();

  const Family& fam_;
  std::string name_;
  int fd_ = -1;
  uint32_t valid_hooks_ = 0, num_entries_ = 0;
  std::vector<std::unique_ptr<Chain>> owned_;
  std::unordered_map<std::string_view, Chain*> byName_;  // views of Chain::name
  std::vector<Chain*> builtins_;  // in the kernel's order
  std::vector<Chain*> users_;     // user-defined chains (some may be dead)
  size_t dead_ = 0;
  bool infoRead_ = false;
  uint32_t hook_entry_[5] = {}, underflow_[5] = {};  // NF_INET_NUMHOOKS
  uint32_t size_ = 0;
  Fn fn_ = Fn::None;
  bool changed_ = false;
};

// Names of the tables the thread's namespace has (ip_tables_names / ip6_tables_names).
std::vector<std::string> TableNames(int nfproto, int* err);

}  // namespace ipt
}  // namespace nlkit
