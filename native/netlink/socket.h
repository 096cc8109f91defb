// A worker thread's netlink sockets: the thread lives in the handle's namespace, and so do
// the sockets it opens. One per protocol (route, generic, netfilter), opened on first use and
// closed when the thread ends.
#pragma once
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/job.h"

namespace nlkit {

struct NetlinkSocket {
  explicit NetlinkSocket(uint32_t firstSeq) : seq(firstSeq) {}

  int fd = -1;
  uint32_t seq;

  // Buffers large enough for a chunk of acks in flight and for a dump's replies.
  void SizeBuffers();
  // The kernel's own words in errors (extended acks), without the request echoed back.
  void AskExtAcks();
  // NETLINK_CAP_ACK on or off: off, an error reply echoes the whole refused request
  // (ipset reads the failing entry's line from it).
  void CapAcks(bool on);
  // Grows (never shrinks) the buffers so that one sendmsg() of `bytes` fits and `bytes` of
  // replies can queue; SO_*BUFFORCE first (root may pass the rmem/wmem limits).
  void GrowSend(size_t bytes);
  void GrowReceive(size_t bytes);
  void Stamp(nlmsghdr* h, uint32_t s, uint16_t extraFlags) const;

  int sndbuf = 0;
  int rcvbuf = 0;
  int capAck = -1;  // unknown
};

// NETLINK_ROUTE, NETLINK_GENERIC or NETLINK_NETFILTER.
bool KnownProtocol(int protocol);

// The calling worker thread's socket for `protocol`, opened (bound, buffers sized, extended
// acks asked for) on first use; nullptr with f set when it cannot be opened.
NetlinkSocket* ThreadSocket(int protocol, Failure& f);

}  // namespace nlkit
