#include "netlink.h"

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

std::string NetlinkExtAck(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - NLMSG_HDRLEN;
  off = NLMSG_ALIGN(off);
  const char* base = reinterpret_cast<const char*>(h);
  while (off + NLA_HDRLEN <= h->nlmsg_len) {
    const auto* a = reinterpret_cast<const nlattr*>(base + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len) break;
    if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a->nla_len > NLA_HDRLEN)
      return std::string(base + off + NLA_HDRLEN, strnlen(base + off + NLA_HDRLEN, a->nla_len - NLA_HDRLEN));
    off += NLA_ALIGN(a->nla_len);
  }
  return {};
}

}  // namespace nlkit
