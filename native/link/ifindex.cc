// What the link subsystem cannot do in TypeScript when it talks rtnetlink: a link NAME must be
// turned into its index in the handle's namespace, i.e. on the worker thread, so that an
// address batch on a named link is one crossing. TypeScript builds every request
// (lib/link/wire.ts) and parses every reply; native/netlink moves the bytes over the thread's
// rtnetlink socket (pipelined acks for linkSend, a dump for linkQuery). This file only gives
// both a hook that writes the resolved index into every request's ifinfomsg/ifaddrmsg.
#include <napi.h>
#include <errno.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <string.h>

#include <string>

#include "../netlink/jobs.h"

namespace nlkit {
namespace {

// ifinfomsg.ifi_index and ifaddrmsg.ifa_index both sit 4 bytes into the family header.
constexpr size_t kIndexOffset = NLMSG_HDRLEN + 4;

// The hook for options.ifname (none when absent); false with a TypeError thrown when the name is too long.
bool IfindexHook(const Napi::CallbackInfo& info, size_t at, BatchHook* hook) {
  if (info.Length() <= at || !info[at].IsObject()) return true;
  Napi::Value n = info[at].As<Napi::Object>().Get("ifname");
  if (!n.IsString()) return true;
  std::string ifname = n.As<Napi::String>().Utf8Value();
  if (ifname.empty()) return true;
  if (ifname.size() >= IFNAMSIZ) {
    Napi::TypeError::New(info.Env(), "link name longer than 15 bytes").ThrowAsJavaScriptException();
    return false;
  }
  *hook = [ifname](Failure& f, MessageBatch& batch) {
    unsigned index = if_nametoindex(ifname.c_str());
    if (index == 0) {
      f.err = errno == ENXIO || errno == 0 ? ENODEV : errno;
      f.kind = "nolink";
      f.message = "link " + ifname + " does not exist";
      return false;
    }
    size_t start = 0;
    for (uint32_t end : batch.ends) {
      if (end - start < kIndexOffset + 4) {
        f.err = EINVAL;
        f.message = "malformed message batch: no room for the link index";
        return false;
      }
      memcpy(batch.bytes + start + kIndexOffset, &index, 4);
      start = end;
    }
    return true;
  };
  return true;
}

constexpr size_t kChunkMessages = 256;  // acks in flight: well inside the receive buffer

}  // namespace

// linkSend(worker, bytes, ends, { ifname?, tolerate?: errno[], progress?: Uint32Array }): netlinkSend
// on the route socket that stops after a refused chunk (an errno not tolerated), with ifname's
// index in every request; resolves { errnos: Int32Array (-1: not sent), messages }.
Napi::Value LinkSend(const Napi::CallbackInfo& info) {
  SendOptions o;
  o.chunkMessages = kChunkMessages;
  o.stopOnRefusal = true;
  if (!IfindexHook(info, 3, &o.hook)) return info.Env().Undefined();
  return SubmitSend(info, NETLINK_ROUTE, 1, std::move(o), "linkSend(worker, Uint8Array, Uint32Array, { ifname?, tolerate?, progress? })");
}

// linkQuery(worker, bytes, ends, { ifname? }): netlinkDump on the route socket, run once (an
// interrupted dump is reported, lib/link retries), with ifname's index in every request;
// resolves { data, sections, errnos, messages, interrupted }.
Napi::Value LinkQuery(const Napi::CallbackInfo& info) {
  DumpOptions o;
  o.attempts = 1;
  o.reportInterrupted = true;
  if (!IfindexHook(info, 3, &o.hook)) return info.Env().Undefined();
  return SubmitDump(info, NETLINK_ROUTE, 1, std::move(o), "linkQuery(worker, Uint8Array, Uint32Array, { ifname? })");
}

}  // namespace nlkit
