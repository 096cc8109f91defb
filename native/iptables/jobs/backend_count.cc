// How many rules the handle's namespace holds for one family, in each backend, counted on
// the handle's thread for backend detection (lib/iptables/backend.ts):
//   legacy: the tables in /proc/thread-self/net/ip{,6}_tables_names, each read with
//           IPT_SO_GET_INFO/GET_ENTRIES (only tables that exist: asking for another one
//           would make the kernel create it);
//   nft:    every nf_tables table of family ip (ip6), from two netlink dumps
//           (NFT_MSG_GETTABLE, NFT_MSG_GETRULE) over the thread's netfilter socket
//           (native/netlink), restarted together when either was interrupted.
// Only counts cross to JavaScript: printing or shipping a large ruleset would cost far more.
#include <napi.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../../core/args.h"
#include "../../core/worker.h"
#include "../../netlink/jobs.h"
#include "../model/table.h"

namespace nlkit {
namespace {

constexpr int kAttempts = 5;  // reads interrupted by a concurrent change are retried

using Counts = std::map<std::string, uint64_t>;

// A legacy table's blob holds, besides its rules, one policy entry per built-in chain, a
// head (ERROR target) and a tail (RETURN) per user-defined chain, and a final ERROR entry.
// IPv4 and IPv6 differ in the socket level and the entry's layout (ipt::Family); ip6t_getinfo
// and ip6t_get_entries have the layout of the ipt_ structs, and their sockopts the same numbers.
int CountLegacyTable(const ipt::Family& fam, int fd, const std::string& name, bool quick, uint64_t* rules) {
  for (int attempt = 0; attempt < kAttempts; attempt++) {
    ipt_getinfo info{};
    strncpy(info.name, name.c_str(), sizeof info.name - 1);
    socklen_t len = sizeof info;
    if (getsockopt(fd, fam.level, IPT_SO_GET_INFO, &info, &len) != 0) return errno;
    const uint64_t bare = __builtin_popcount(info.valid_hooks) + 1;
    // The check before a write only needs "empty or not": an upper bound (user chains count)
    // saves copying the blob, ~100 MB at kube-proxy scale.
    if (quick || info.num_entries <= bare) {
      *rules = info.num_entries > bare ? info.num_entries - bare : 0;
      return 0;
    }
    // Not zero-filled: the kernel writes all of it, and a large table's blob is ~600 bytes a rule.
    const size_t size = sizeof(ipt_get_entries) + info.size;
    std::unique_ptr<char[]> buf(new char[size]);
    auto* e = reinterpret_cast<ipt_get_entries*>(buf.get());
    memset(e, 0, sizeof *e);
    strncpy(e->name, name.c_str(), sizeof e->name - 1);
    e->size = info.size;
    len = static_cast<socklen_t>(size);
    if (getsockopt(fd, fam.level, IPT_SO_GET_ENTRIES, e, &len) != 0) {
      if (errno == EAGAIN) continue;  // the table was replaced in between
      return errno;
    }
    uint64_t errors = 0;
    const char* table = reinterpret_cast<const char*>(e->entrytable);
    for (uint32_t off = 0; off + fam.hdr <= info.size;) {
      uint16_t next, target;
      memcpy(&next, table + off + fam.off_next, sizeof next);
      memcpy(&target, table + off + fam.off_target, sizeof target);
      if (next == 0) break;
      const auto* t = reinterpret_cast<const xt_entry_target*>(table + off + target);
      if (strcmp(t->u.user.name, XT_ERROR_TARGET) == 0) errors++;
      off += next;
    }
    const uint64_t overhead = bare + 2 * (errors ? errors - 1 : 0);
    *rules = info.num_entries > overhead ? info.num_entries - overhead : 0;
    return 0;
  }
  return EAGAIN;
}

class CountJob : public Job {
 public:
  CountJob(Napi::Env env, uint8_t nfproto, bool quick) : Job(env), nfproto_(nfproto), quick_(quick) {}

  void Execute() override {
    if (!CountLegacy(ipt::Family::Of(nfproto_))) return;
    // Legacy in use decides the backend by itself.
    if (quick_ && std::any_of(legacy_.begin(), legacy_.end(), [](auto& t) { return t.second > 0; })) return;
    CountNft();
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("legacy", ToJs(env, legacy_));
    r.Set("nft", ToJs(env, tables_));
    return r;
  }

 private:
  static Napi::Array ToJs(Napi::Env env, const Counts& counts) {
    Napi::Array a = Napi::Array::New(env, counts.size());
    uint32_t i = 0;
    for (auto& [name, rules] : counts) {
      Napi::Object t = Napi::Object::New(env);
      t.Set("name", Napi::String::New(env, name));
      t.Set("rules", Napi::Number::New(env, static_cast<double>(rules)));
      a.Set(i++, t);
    }
    return a;
  }

  bool CountLegacy(const ipt::Family& fam) {
    int err = 0;
    std::vector<std::string> names = ipt::TableNames(fam.nfproto, &err);  // none without ip_tables in the kernel
    if (err) {
      Fail(err, fam.nfproto == NFPROTO_IPV6 ? "cannot read ip6_tables_names" : "cannot read ip_tables_names");
      return false;
    }
    if (names.empty()) return true;
    int fd = socket(fam.af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) {
      Fail(errno, "cannot open a raw socket to read the legacy tables");
      return false;
    }
    for (const auto& name : names) {
      uint64_t rules = 0;
      int err = CountLegacyTable(fam, fd, name, quick_, &rules);
      if (err == ENOENT) continue;  // removed since it was listed
      if (err) {
        Fail(err, "cannot read the legacy table " + name);
        close(fd);
        return false;
      }
      legacy_[name] = rules;
    }
    close(fd);
    return true;
  }

  void CountNft() {
    Failure open;
    NetlinkSocket* sock = ThreadSocket(NETLINK_NETFILTER, open);
    if (sock == nullptr) {
      // No nfnetlink in this kernel: nothing can live in nf_tables.
      if (open.err == EPROTONOSUPPORT || open.err == EAFNOSUPPORT) return;
      failure = open;
      return;
    }
    recv_.resize(1 << 20);
    for (int attempt = 0; attempt < kAttempts; attempt++) {
      tables_.clear();
      interrupted_ = false;
      if (!Dump(*sock, NFT_MSG_GETTABLE) || !Dump(*sock, NFT_MSG_GETRULE)) break;
      if (!interrupted_) break;
    }
  }

  void Fail(int err, const std::string& what) {
    failure.err = err;
    failure.message = what + ": " + strerror(err);
  }

  // One dump of `msg` for the family; tables and rules are tallied as they arrive.
  bool Dump(NetlinkSocket& sock, int msg) {
    struct {
      nlmsghdr h;
      nfgenmsg g;
    } req{};
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(nfgenmsg));
    req.h.nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg);
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.g.nfgen_family = nfproto_;
    req.g.version = NFNETLINK_V0;
    int e = 0;
    std::string ack;
    if (!Exchange(failure, sock, reinterpret_cast<uint8_t*>(&req), req.h.nlmsg_len, recv_, &e, &ack, &interrupted_,
                  [this, msg](const nlmsghdr* h) { Tally(h, msg); }))
      return false;
    if (e == 0) return true;
    // nf_tables is not in this kernel (and could not be loaded): nothing lives there.
    if (e == EOPNOTSUPP || e == ENOENT || e == EAFNOSUPPORT || e == EPROTONOSUPPORT) return true;
    failure.err = e;
    failure.message = "nf_tables dump: " + std::string(strerror(e)) + (ack.empty() ? "" : " (" + ack + ")");
    return false;
  }

  void Tally(const nlmsghdr* h, int msg) {
    // Dumps answer with NEWTABLE / NEWRULE messages.
    const int reply = msg == NFT_MSG_GETTABLE ? NFT_MSG_NEWTABLE : NFT_MSG_NEWRULE;
    if (h->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | reply) || h->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) return;
    const char* base = reinterpret_cast<const char*>(h);
    size_t off = NLMSG_ALIGN(NLMSG_LENGTH(sizeof(nfgenmsg)));
    // NFTA_TABLE_NAME and NFTA_RULE_TABLE are both attribute 1.
    while (off + NLA_HDRLEN <= h->nlmsg_len) {
      const auto* a = reinterpret_cast<const nlattr*>(base + off);
      if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len) break;
      if ((a->nla_type & NLA_TYPE_MASK) == NFTA_TABLE_NAME) {
        std::string name(base + off + NLA_HDRLEN, strnlen(base + off + NLA_HDRLEN, a->nla_len - NLA_HDRLEN));
        if (msg == NFT_MSG_GETTABLE)
          tables_.emplace(name, 0);
        else
          tables_[name]++;
        return;
      }
      off += NLA_ALIGN(a->nla_len);
    }
  }

  uint8_t nfproto_;
  bool quick_;
  bool interrupted_ = false;
  std::vector<char> recv_;
  Counts legacy_;
  Counts tables_;
};

}  // namespace

// iptablesBackendCount(worker, { family: 4 | 6, quick? }): resolves { legacy, nft }, each a list of
// { name, rules }: the worker's namespace's legacy tables, and its nf_tables tables of
// family ip / ip6, with their rule counts.
Napi::Value IptablesBackendCount(const Napi::CallbackInfo& info) {
  return SubmitChecked(info, info[1].IsObject(), "iptablesBackendCount(worker, { family })", [&] {
    Napi::Object o = info[1].As<Napi::Object>();
    Napi::Value f = o.Get("family");
    uint8_t nfproto = f.IsNumber() && f.As<Napi::Number>().Int32Value() == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
    return new CountJob(info.Env(), nfproto, o.Get("quick").ToBoolean());
  });
}

}  // namespace nlkit
