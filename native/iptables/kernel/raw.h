// A legacy table exactly as the kernel holds it: the entries blob of IPT_SO_GET_ENTRIES with
// the layout of IPT_SO_GET_INFO. Put back with one IPT_SO_SET_REPLACE (and its counters), it
// round-trips what no text can (iptables-save prints a comment's newline raw, and
// iptables-restore cannot read it back).
#pragma once
#include <stdint.h>
#include <netinet/in.h>  // before linux/in.h, which linux/netfilter.h brings
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>

#include <string>
#include <vector>

namespace nlkit {
namespace ipt {

struct RawTable {
  int nfproto = 0;
  std::string name;
  uint32_t valid_hooks = 0, num_entries = 0;
  uint32_t hook_entry[NF_INET_NUMHOOKS] = {}, underflow[NF_INET_NUMHOOKS] = {};
  std::vector<uint8_t> entries;  // counters included
};

/** Reads one table; 0 or an errno. */
int ReadRaw(int nfproto, const std::string& name, RawTable* out);

/** Replaces the kernel's table with `t` and sets its counters to those in `t`; 0 or an errno. */
int WriteRaw(const RawTable& t);

}  // namespace ipt
}  // namespace nlkit
