#include "wire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

namespace nlkit {

bool NetlinkSend(Failure& f, int fd, const void* buf, size_t len) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    if (sendto(fd, buf, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) >= 0) return true;
    if (errno == EINTR) continue;
    f.err = errno;
    f.message = std::string("netlink send: ") + strerror(errno);
    return false;
  }
}

long NetlinkReceive(Failure& f, int fd, std::vector<char>& buf, int flags) {
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), flags | MSG_TRUNC);
    if (n >= 0) {
      if (static_cast<size_t>(n) <= buf.size()) return static_cast<long>(n);
      f.err = EMSGSIZE;
      f.message = "netlink reply larger than the receive buffer";
      return -1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    f.err = errno;
    if (errno == ENOBUFS) {
      f.kind = "overrun";
      f.message = "netlink replies were lost (receive buffer overrun)";
    } else {
      f.message = std::string("netlink receive: ") + strerror(errno);
    }
    return -1;
  }
}

namespace {
// The attribute `type` of an error reply's TLVs (after the request or its capped header).
const nlattr* ExtAckAttr(const nlmsghdr* h, uint16_t type) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || h->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) return nullptr;
  const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - NLMSG_HDRLEN;
  off = NLMSG_ALIGN(off);
  const char* base = reinterpret_cast<const char*>(h);
  while (off + NLA_HDRLEN <= h->nlmsg_len) {
    const auto* a = reinterpret_cast<const nlattr*>(base + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len) break;
    if ((a->nla_type & NLA_TYPE_MASK) == type) return a;
    off += NLA_ALIGN(a->nla_len);
  }
  return nullptr;
}
}  // namespace

std::string NetlinkExtAck(const nlmsghdr* h) {
  const nlattr* a = ExtAckAttr(h, NLMSGERR_ATTR_MSG);
  if (a == nullptr || a->nla_len <= NLA_HDRLEN) return {};
  const char* p = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
  return std::string(p, strnlen(p, a->nla_len - NLA_HDRLEN));
}

int64_t NetlinkExtAckOffset(const nlmsghdr* h) {
  const nlattr* a = ExtAckAttr(h, NLMSGERR_ATTR_OFFS);
  if (a == nullptr || a->nla_len < NLA_HDRLEN + 4) return -1;
  uint32_t v;
  memcpy(&v, reinterpret_cast<const char*>(a) + NLA_HDRLEN, 4);
  return v;
}

}  // namespace nlkit
