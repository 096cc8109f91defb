// Sends netlink messages that TypeScript built (ipset's nfnetlink protocol) over the worker
// thread's netfilter socket (native/netlink) and collects the kernel's acknowledgements.
// Each message is acknowledged before the next goes out; the first refusal stops the batch,
// and its echo (the refused request, as the kernel rewrote it) says which line failed.
#include <napi.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>

#include <string>
#include <vector>

#include "../core/args.h"
#include "../core/worker.h"
#include "../netlink/jobs.h"

namespace nlkit {
namespace {

constexpr int kAttrLineno = 9;  // IPSET_ATTR_LINENO, top level of an ipset message

// The lineno the kernel wrote into its echo of the refused request (ipset's batch errors).
uint32_t EchoedLineno(const nlmsgerr* err, size_t avail) {
  const nlmsghdr* req = &err->msg;
  if (avail < sizeof(nlmsgerr) || req->nlmsg_len > avail - offsetof(nlmsgerr, msg)) return 0;
  const auto* base = reinterpret_cast<const uint8_t*>(req);
  uint32_t v = 0;
  ForEachAttr(base, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)), req->nlmsg_len, [&](const nlattr* a, size_t at) {
    if ((a->nla_type & NLA_TYPE_MASK) == kAttrLineno && a->nla_len >= NLA_HDRLEN + 4 && v == 0)
      memcpy(&v, base + at + NLA_HDRLEN, 4);
  });
  return v;
}

SendOptions Serial() {
  SendOptions o;
  o.chunkMessages = 1;
  o.stopOnRefusal = true;
  o.echo = true;
  return o;
}

class SendJob : public NetlinkSendJob {
 public:
  SendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends)
      : NetlinkSendJob(env, NETLINK_NETFILTER, data, ends, Serial()) {}

  // The first refusal becomes the one failure record: kind "refused", the kernel's errno (an
  // ipset IPSET_ERR_* code or a system errno), index = the refused message's position (the
  // messages before it were applied) and line = the lineno the kernel echoed (0: none).
  void Execute() override {
    NetlinkSendJob::Execute();
    if (failure.set()) return;
    for (size_t i = 0; i < errnos_.size(); i++) {
      int32_t e = errnos_[i];
      if (e == 0) continue;
      if (e < 0) break;  // not sent: only after a refusal, which ends the loop first
      failure.err = e;
      failure.kind = "refused";
      failure.index = static_cast<long>(i);
      failure.message = "the kernel refused message " + std::to_string(i);
      if (!replies_.empty()) {
        const auto& reply = replies_.front().second;
        const auto* h = reinterpret_cast<const nlmsghdr*>(reply.data());
        failure.line = EchoedLineno(static_cast<const nlmsgerr*>(NLMSG_DATA(h)), h->nlmsg_len - NLMSG_HDRLEN);
      }
      return;
    }
  }

  // Every message was acknowledged: nothing to return.
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }
};

}  // namespace

// ipsetSend(worker, bytes, ends, progress?): sends the messages bytes[ends[i-1]..ends[i]) in
// order; resolves when all were acknowledged, rejects with the failure record at the first
// refusal; progress (a Uint32Array) holds the number of messages acknowledged so far.
Napi::Value IpsetSend(const Napi::CallbackInfo& info) {
  return SubmitChecked(info, info[1].IsTypedArray() && info[2].IsTypedArray(), "ipsetSend(worker, Uint8Array, Uint32Array)", [&] {
    auto* job = new SendJob(info.Env(), info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>());
    if (info.Length() > 3) job->TrackProgress(info[3]);
    return job;
  });
}

}  // namespace nlkit
