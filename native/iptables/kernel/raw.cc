#include <net/if.h>  // before the linux headers that bring linux/if.h
#include <netinet/in.h>  // before linux/in.h
#include "raw.h"
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <chrono>
#include <thread>
#include "../model/table.h"

namespace nlkit {
namespace ipt {

namespace {

struct Fd {
  int fd;
  explicit Fd(int af) : fd(socket(af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int GetInfo(int fd, const Family& f, const std::string& name, struct ipt_getinfo* info) {
  memset(info, 0, sizeof *info);
  if (name.size() >= XT_TABLE_MAXNAMELEN) return EINVAL;
  strcpy(info->name, name.c_str());
  socklen_t len = sizeof *info;
  return getsockopt(fd, f.level, IPT_SO_GET_INFO, info, &len) < 0 ? errno : 0;
}

}  // namespace

int ReadRaw(int nfproto, const std::string& name, RawTable* out) {
  const Family& f = Family::Of(nfproto);
  Fd s(f.af);
  if (s.fd < 0) return errno;
  const size_t head = offsetof(struct ipt_get_entries, entrytable);
  for (int attempt = 0;; attempt++) {
    struct ipt_getinfo info;
    if (int e = GetInfo(s.fd, f, name, &info)) return e;
    std::vector<uint8_t> buf(head + info.size);
    auto* ge = reinterpret_cast<struct ipt_get_entries*>(buf.data());
    strcpy(ge->name, name.c_str());
    ge->size = info.size;
    socklen_t len = buf.size();
    if (getsockopt(s.fd, f.level, IPT_SO_GET_ENTRIES, buf.data(), &len) < 0) {
      if (errno == EAGAIN && attempt < 100) continue;  // the table changed size meanwhile
      return errno;
    }
    out->nfproto = nfproto;
    out->name = name;
    out->valid_hooks = info.valid_hooks;
    out->num_entries = info.num_entries;
    memcpy(out->hook_entry, info.hook_entry, sizeof out->hook_entry);
    memcpy(out->underflow, info.underflow, sizeof out->underflow);
    out->entries.assign(buf.begin() + head, buf.end());
    return 0;
  }
}

int WriteRaw(const RawTable& t) {
  const Family& f = Family::Of(t.nfproto);
  if (t.name.size() >= XT_TABLE_MAXNAMELEN) return EINVAL;
  // The counters to set, one per entry, in order (the kernel zeroes them on replace).
  std::vector<struct xt_counters> counters;
  counters.reserve(t.num_entries);
  for (size_t off = 0; off < t.entries.size();) {
    uint16_t next;
    memcpy(&next, t.entries.data() + off + f.off_next, sizeof next);
    if (next == 0 || off + next > t.entries.size()) return EINVAL;
    struct xt_counters c;
    memcpy(&c, t.entries.data() + off + f.off_counters, sizeof c);
    counters.push_back(c);
    off += next;
  }
  if (counters.size() != t.num_entries) return EINVAL;
  Fd s(f.af);
  if (s.fd < 0) return errno;
  const size_t head = offsetof(struct ipt_replace, entries);
  std::vector<uint8_t> buf(head + t.entries.size());
  memcpy(buf.data() + head, t.entries.data(), t.entries.size());
  for (int attempt = 0;; attempt++) {
    struct ipt_getinfo info;
    if (int e = GetInfo(s.fd, f, t.name, &info)) return e;
    if (info.valid_hooks != t.valid_hooks) return EINVAL;
    std::vector<struct xt_counters> old(info.num_entries ? info.num_entries : 1);
    auto* r = reinterpret_cast<struct ipt_replace*>(buf.data());
    memset(r, 0, head);
    strcpy(r->name, t.name.c_str());
    r->valid_hooks = t.valid_hooks;
    r->num_entries = t.num_entries;
    r->size = t.entries.size();
    memcpy(r->hook_entry, t.hook_entry, sizeof r->hook_entry);
    memcpy(r->underflow, t.underflow, sizeof r->underflow);
    r->num_counters = info.num_entries;
    r->counters = old.data();
    if (setsockopt(s.fd, f.level, IPT_SO_SET_REPLACE, buf.data(), buf.size()) == 0) break;
    // EAGAIN: the table changed between GET_INFO and the replace.
    if (errno != EAGAIN || attempt >= 4) return errno;
    std::this_thread::sleep_for(std::chrono::milliseconds(1 << attempt));
  }
  bool any = false;
  for (const auto& c : counters) any = any || c.pcnt || c.bcnt;
  if (!any) return 0;
  const size_t ciHead = offsetof(struct xt_counters_info, counters);
  std::vector<uint8_t> cbuf(ciHead + sizeof(struct xt_counters) * counters.size());
  auto* ci = reinterpret_cast<struct xt_counters_info*>(cbuf.data());
  memset(ci, 0, ciHead);
  strcpy(ci->name, t.name.c_str());
  ci->num_counters = counters.size();
  memcpy(cbuf.data() + ciHead, counters.data(), sizeof(struct xt_counters) * counters.size());
  return setsockopt(s.fd, f.level, IPT_SO_SET_ADD_COUNTERS, cbuf.data(), cbuf.size()) < 0 ? errno : 0;
}

}  // namespace ipt
}  // namespace nlkit
