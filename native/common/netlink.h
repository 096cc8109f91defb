// Netlink plumbing shared by the subsystems that talk to the kernel themselves.
#pragma once
#include <linux/netlink.h>
#include <stddef.h>
#include <string>
#include "job.h"

namespace nlkit {

// sendto() the kernel, retrying on EINTR; a failure is recorded in f.
bool NetlinkSend(Failure& f, int fd, const void* buf, size_t len);

// The extended-ack message (NLMSGERR_ATTR_MSG) of an error reply, if the kernel gave one.
std::string NetlinkExtAck(const nlmsghdr* h);

}  // namespace nlkit
