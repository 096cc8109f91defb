// What the table model and its kernel I/O share about entries: the standard verdicts, the
// sizes of the standard and error targets, and reads of an entry's fields.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <chrono>

#include "table.h"

namespace nlkit {
namespace ipt {
namespace entry {

constexpr int kReturn = XT_RETURN;  // -NF_REPEAT - 1
constexpr int kAccept = -NF_ACCEPT - 1;
constexpr int kDrop = -NF_DROP - 1;
constexpr int kQueue = -NF_QUEUE - 1;

inline constexpr const char* kHookNames[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};

constexpr size_t kStdTargetSize = XT_ALIGN(sizeof(struct xt_standard_target));
constexpr size_t kErrTargetSize = XT_ALIGN(sizeof(struct xt_error_target));
// Tables whose blob is at least this large are written by two threads.
constexpr size_t kParallelBlob = 8u << 20;

inline uint16_t Get16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}
inline void Put16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }

inline const struct xt_entry_target* TargetOf(const Family& f, const uint8_t* e) {
  return reinterpret_cast<const struct xt_entry_target*>(e + Get16(e + f.off_target));
}

inline int StdVerdict(const Family& f, const uint8_t* e) {
  int v;
  memcpy(&v, reinterpret_cast<const uint8_t*>(TargetOf(f, e)) + offsetof(struct xt_standard_target, verdict), sizeof v);
  return v;
}

inline struct xt_counters CountersOf(const Family& f, const uint8_t* e) {
  struct xt_counters c;
  memcpy(&c, e + f.off_counters, sizeof c);
  return c;
}

static_assert(offsetof(struct ipt_get_entries, entrytable) == offsetof(struct ip6t_get_entries, entrytable),
              "get_entries layouts differ");
static_assert(offsetof(struct ipt_replace, entries) == offsetof(struct ip6t_replace, entries),
              "replace layouts differ");
static_assert(sizeof(struct ipt_getinfo) == sizeof(struct ip6t_getinfo), "getinfo layouts differ");

inline double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace entry
}  // namespace ipt
}  // namespace nlkit
