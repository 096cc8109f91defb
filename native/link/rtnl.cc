// rtnetlink (NETLINK_ROUTE) for the link subsystem, on the handle's thread and in its
// namespace. TypeScript builds every request (lib/link/wire.ts) and parses every reply; this
// file opens the socket and resolves a link name to its index where asked, and
// native/netlink moves the bytes over the thread's rtnetlink socket:
//   linkSend:  many requests (RTM_NEWADDR, RTM_DELADDR, RTM_NEWLINK, ...) sent pipelined in
//              large sendmsg() chunks, acknowledgements collected with recvmmsg(): one errno
//              (and the kernel's extended-ack text) per request. After a chunk in which the
//              kernel refused a request (with an errno the caller does not tolerate),
//              nothing more is sent; requests not sent report -1.
//   linkQuery: requests answered with data (dumps, GETs) run one after another; every reply
//              message is returned in one buffer, split into one section per request.
// Both take an optional link name: it is resolved on the worker thread (so in the handle's
// namespace) and its index written into every request's ifinfomsg/ifaddrmsg, so an address
// batch on a named link is one crossing.
#include <napi.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "../netlink/jobs.h"
#include "../core/worker.h"

namespace nlkit {
namespace {

constexpr size_t kChunkMessages = 256;  // acks in flight: well inside the receive buffer
// ifinfomsg.ifi_index and ifaddrmsg.ifa_index both sit 4 bytes into the family header.
constexpr size_t kIndexOffset = NLMSG_HDRLEN + 4;

// A batch of requests TypeScript built: checked, and its link name resolved (on the worker
// thread, so in the handle's namespace), before sending.
NetlinkSocket* PrepareBatch(Failure& failure, MessageBatch& batch, const std::string& ifname) {
  NetlinkSocket* s = ThreadSocket(NETLINK_ROUTE, failure);
  if (s == nullptr || !CheckLengths(failure, batch, NLMSG_HDRLEN)) return nullptr;
  if (ifname.empty()) return s;
  unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) {
    failure.err = errno == ENXIO || errno == 0 ? ENODEV : errno;
    failure.kind = "nolink";
    failure.message = "link " + ifname + " does not exist";
    return nullptr;
  }
  size_t start = 0;
  for (uint32_t end : batch.ends) {
    if (end - start < kIndexOffset + 4) {
      failure.err = EINVAL;
      failure.message = "malformed message batch: no room for the link index";
      return nullptr;
    }
    memcpy(batch.bytes + start + kIndexOffset, &index, 4);
    start = end;
  }
  return s;
}

class SendJob : public NetlinkSendJob {
 public:
  static SendOptions Options(std::vector<int> tolerate) {
    SendOptions o;
    o.chunkMessages = kChunkMessages;
    o.stopOnRefusal = true;
    o.tolerate = std::move(tolerate);
    return o;
  }

  SendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, std::string ifname, std::vector<int> tolerate)
      : NetlinkSendJob(env, data, ends, Options(std::move(tolerate))), ifname_(std::move(ifname)) {}

 private:
  NetlinkSocket* Prepare() override { return PrepareBatch(failure, batch_, ifname_); }
  std::string ifname_;
};

class QueryJob : public NetlinkQueryJob {
 public:
  QueryJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, std::string ifname)
      : NetlinkQueryJob(env, data, ends, /*withMessages=*/true), ifname_(std::move(ifname)) {}

 private:
  NetlinkSocket* Prepare() override { return PrepareBatch(failure, batch_, ifname_); }
  std::string ifname_;
};

// (worker, Uint8Array, Uint32Array, options?) with options { ifname?: string, tolerate?: number[] }.
bool Args(const Napi::CallbackInfo& info, const char* usage, std::string& ifname, std::vector<int>& tolerate) {
  if (!IsWorkerBatch(info) || (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsObject())) {
    Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
    return false;
  }
  if (info.Length() > 3 && info[3].IsObject()) {
    Napi::Object o = info[3].As<Napi::Object>();
    Napi::Value n = o.Get("ifname");
    if (n.IsString()) ifname = n.As<Napi::String>().Utf8Value();
    Napi::Value t = o.Get("tolerate");
    if (t.IsArray()) {
      Napi::Array a = t.As<Napi::Array>();
      for (uint32_t k = 0; k < a.Length(); k++) {
        Napi::Value v = a.Get(k);
        if (v.IsNumber()) tolerate.push_back(v.As<Napi::Number>().Int32Value());
      }
    }
  }
  if (ifname.size() >= IFNAMSIZ) {
    Napi::TypeError::New(info.Env(), "link name longer than 15 bytes").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

}  // namespace

// linkSend(worker, bytes, ends, { ifname?, tolerate?: errno[], progress?: Uint32Array }): sends
// the requests bytes[ends[i-1]..ends[i]) pipelined; resolves { errnos: Int32Array (-1: not
// sent), messages: { [index]: extack text } }; progress[0]: requests acknowledged so far.
Napi::Value LinkSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname;
  std::vector<int> tolerate;
  if (!Args(info, "linkSend(worker, Uint8Array, Uint32Array, { ifname?, tolerate?, progress? })", ifname, tolerate))
    return env.Undefined();
  auto* job = new SendJob(env, info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>(), std::move(ifname), std::move(tolerate));
  if (info.Length() > 3 && info[3].IsObject()) job->TrackProgress(info[3].As<Napi::Object>().Get("progress"));
  return Worker::Unwrap(info[0])->Submit(env, job);
}

// linkQuery(worker, bytes, ends, { ifname? }): runs each request in turn; resolves
// { data: Buffer, sections: Uint32Array (end offsets), errnos: Int32Array, messages, interrupted }.
Napi::Value LinkQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname;
  std::vector<int> tolerate;
  if (!Args(info, "linkQuery(worker, Uint8Array, Uint32Array, { ifname? })", ifname, tolerate)) return env.Undefined();
  return Worker::Unwrap(info[0])->Submit(
      env, new QueryJob(env, info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>(), std::move(ifname)));
}

}  // namespace nlkit
