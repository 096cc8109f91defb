#include "socket.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace nlkit {

void NetlinkSocket::SizeBuffers() {
  GrowReceive(8 << 20);
  GrowSend(4 << 20);
}

void NetlinkSocket::AskExtAcks() {
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  CapAcks(true);
}

void NetlinkSocket::CapAcks(bool on) {
  if (capAck == static_cast<int>(on)) return;
  int v = on;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &v, sizeof v);
  capAck = on;
}

namespace {
// The kernel doubles what it is given and reports the doubled figure; we remember what we asked.
void Grow(int fd, int& current, size_t bytes, int force, int plain) {
  if (bytes > (1u << 30)) bytes = 1u << 30;
  int size = static_cast<int>(bytes);
  if (size <= current) return;
  if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof size) != 0 &&
      setsockopt(fd, SOL_SOCKET, plain, &size, sizeof size) != 0)
    return;
  current = size;
}
}  // namespace

void NetlinkSocket::GrowSend(size_t bytes) { Grow(fd, sndbuf, bytes, SO_SNDBUFFORCE, SO_SNDBUF); }
void NetlinkSocket::GrowReceive(size_t bytes) { Grow(fd, rcvbuf, bytes, SO_RCVBUFFORCE, SO_RCVBUF); }

void NetlinkSocket::Stamp(nlmsghdr* h, uint32_t s, uint16_t extraFlags) const {
  h->nlmsg_flags |= NLM_F_REQUEST | extraFlags;
  h->nlmsg_seq = s;
  h->nlmsg_pid = 0;
}

bool KnownProtocol(int protocol) {
  return protocol == NETLINK_ROUTE || protocol == NETLINK_GENERIC || protocol == NETLINK_NETFILTER;
}

namespace {

struct OwnedSocket : NetlinkSocket {
  explicit OwnedSocket(uint32_t firstSeq) : NetlinkSocket(firstSeq) {}
  ~OwnedSocket() {
    if (fd >= 0) close(fd);
  }
};

// Sequence numbers start apart per protocol, so a stale reply is never mistaken for another's.
thread_local OwnedSocket t_route(0x20000);
thread_local OwnedSocket t_generic(0x30000);
thread_local OwnedSocket t_netfilter(0x40000);

const char* Name(int protocol) {
  switch (protocol) {
    case NETLINK_ROUTE: return "rtnetlink";
    case NETLINK_GENERIC: return "generic netlink";
    default: return "netfilter netlink";
  }
}

}  // namespace

NetlinkSocket* ThreadSocket(int protocol, Failure& f) {
  OwnedSocket* s = protocol == NETLINK_ROUTE ? &t_route
                   : protocol == NETLINK_GENERIC ? &t_generic
                   : protocol == NETLINK_NETFILTER ? &t_netfilter : nullptr;
  if (s == nullptr) {
    f.err = EPROTONOSUPPORT;
    f.message = "unknown netlink protocol " + std::to_string(protocol);
    return nullptr;
  }
  if (s->fd >= 0) return s;
  s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (s->fd < 0) {
    f.err = errno;
    f.message = std::string("cannot open a ") + Name(protocol) + " socket: " + strerror(errno);
    return nullptr;
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (bind(s->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    f.err = errno;
    f.message = std::string("cannot bind a ") + Name(protocol) + " socket: " + strerror(errno);
    close(s->fd);
    s->fd = -1;
    return nullptr;
  }
  s->sndbuf = s->rcvbuf = 0;
  s->capAck = -1;
  s->SizeBuffers();
  s->AskExtAcks();
  if (protocol == NETLINK_ROUTE) {
    int one = 1;  // dumps filter by ifindex
    setsockopt(s->fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
  }
  return s;
}

}  // namespace nlkit
