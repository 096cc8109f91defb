// Netlink plumbing shared by the job kinds: send, and read an error reply's extended ack.
#pragma once
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>
#include <string>
#include <vector>
#include "../core/job.h"

namespace nlkit {

// Calls fn(attr, offset) for every well-formed attribute in base[from, to), in order; stops at
// the first malformed one.
template <typename Fn>
void ForEachAttr(const uint8_t* base, size_t from, size_t to, Fn&& fn) {
  size_t off = from;
  while (off + NLA_HDRLEN <= to) {
    const auto* a = reinterpret_cast<const nlattr*>(base + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > to) return;
    fn(a, off);
    off += NLA_ALIGN(a->nla_len);
  }
}

// sendto() the kernel, retrying on EINTR; a failure is recorded in f.
bool NetlinkSend(Failure& f, int fd, const void* buf, size_t len);

// recv() one datagram of replies into buf, retrying on EINTR: its length; 0 when none is
// waiting (MSG_DONTWAIT); -1 with f set on failure (a reply larger than buf: EMSGSIZE;
// replies dropped because the receive buffer overflowed: ENOBUFS, kind "overrun").
long NetlinkReceive(Failure& f, int fd, std::vector<char>& buf, int flags);

// The extended-ack message (NLMSGERR_ATTR_MSG) of an error reply, if the kernel gave one.
std::string NetlinkExtAck(const nlmsghdr* h);

// NLMSGERR_ATTR_OFFS of an error reply: the byte offset, in the refused request, of the
// attribute the kernel objected to; -1 when it gave none.
int64_t NetlinkExtAckOffset(const nlmsghdr* h);

}  // namespace nlkit
