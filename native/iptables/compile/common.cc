#include "common.h"

#include <string.h>

#include <utility>
#include <vector>

namespace nlkit {
namespace ipt {
namespace compile {

// xtables_find_target with XTF_TRY_LOAD, skipping the plugin search for names that have
// no plugin file (chain names): the result is the same, NULL.
struct xtables_target* FindTargetTry(const char* name, int nfproto) {
  bool standard = name[0] == '\0' || strcmp(name, "ACCEPT") == 0 || strcmp(name, "DROP") == 0 ||
                  strcmp(name, "QUEUE") == 0 || strcmp(name, "RETURN") == 0;
  if (standard) EnsurePlugin("standard", nfproto);
  if (!standard && !PluginMayExist(name, nfproto)) {
    // Loaded (already registered) targets are still found.
    for (struct xtables_target* t = xtables_targets; t; t = t->next)  // first letters first: chain names rarely share one
      if (t->name[0] == name[0] && strcmp(t->name, name) == 0) return xtables_find_target(name, XTF_TRY_LOAD);
    return NULL;
  }
  if (!standard) EnsurePlugin(name, nfproto);
  return xtables_find_target(name, XTF_TRY_LOAD);
}

namespace {

// Extensions whose parse depends on nothing but the text: their compiled bytes may be reused
// for the same text later. (set/SET look up kernel set indexes, bpf opens objects, owner and
// realm/devgroup read system databases, ...)
bool PureName(const char* n, const char* const* ok) {
  for (int i = 0; ok[i]; i++)
    if (strcmp(ok[i], n) == 0) return true;
  return false;
}

bool PureMatch(const char* n) {
  static const char* const ok[] = {
      "addrtype", "ah", "cluster", "comment", "connbytes", "connlimit", "connmark", "conntrack", "cpu", "dccp",
      "dscp", "dst", "ecn", "esp", "eui64", "frag", "hashlimit", "hbh", "helper", "hl", "icmp", "icmp6",
      "iprange", "ipv6header", "ipvs", "length", "limit", "mac", "mark", "mh", "multiport", "pkttype",
      "physdev", "quota", "recent", "rpfilter", "rt", "sctp", "socket", "srh", "state", "statistic", "string",
      "tcp", "tcpmss", "tos", "ttl", "u32", "udp", "udplite", NULL};
  return PureName(n, ok);
}

bool PureTarget(const char* n) {
  static const char* const ok[] = {
      "", "ACCEPT", "DROP", "QUEUE", "RETURN", "standard", "AUDIT", "CHECKSUM", "CLASSIFY", "CONNMARK", "CT",
      "DNAT", "DNPT", "DSCP", "ECN", "HL", "HMARK", "LOG", "MARK", "MASQUERADE", "NETMAP", "NFLOG", "NFQUEUE",
      "NOTRACK", "REDIRECT", "REJECT", "SNAT", "SNPT", "SYNPROXY", "TCPMSS", "TCPOPTSTRIP", "TEE", "TOS",
      "TPROXY", "TRACE", "TTL", NULL};
  return PureName(n, ok);
}

}  // namespace

// PureMatch/PureTarget remembered by name pointer (an extension's name lives as long as its
// plugin): every rule asks about the same few extensions. Inside XtRun.
bool PureExtension(const char* name, bool target) {
  static std::vector<std::pair<const char*, bool>> known[2];
  auto& k = known[target];
  for (const auto& e : k)
    if (e.first == name) return e.second;
  bool pure = target ? PureTarget(name) : PureMatch(name);
  k.emplace_back(name, pure);
  return pure;
}

}  // namespace compile
}  // namespace ipt
}  // namespace nlkit
