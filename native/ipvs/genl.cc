// IPVS over generic netlink, on the handle's thread and in its namespace. TypeScript builds
// every message (lib/ipvs/wire.ts) and parses every reply; this file only resolves the
// "IPVS" family with libnl-genl-3 (once per worker thread), whose id native/netlink/jobs
// stamps on every request while it moves the bytes:
//   ipvsSend:  many requests sent pipelined, one errno (and extended-ack text) per request.
//   ipvsQuery: requests answered with data (dumps and GETs) run one after another, their
//              replies in one buffer, one section per request. With followDests, each service
//              of the first section's dump is followed by a dump of its real servers, so a
//              full listing is one crossing.
#include <napi.h>
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <string.h>

#include <string>
#include <vector>

#include "../netlink/jobs.h"
#include "../core/worker.h"

namespace nlkit {
namespace {

// From linux/ip_vs.h; only what the follow-up dumps need.
constexpr uint8_t kCmdGetDest = 8;
constexpr uint16_t kCmdAttrService = 1;
constexpr uint16_t kSvcAttrKeyMax = 5;  // AF, PROTOCOL, ADDR, PORT, FWMARK
constexpr uint8_t kGenlVersion = 1;

constexpr size_t kChunkMessages = 512;  // acks in flight: well inside the receive buffer

// The thread's generic netlink socket; its type (the family id) is resolved once the family
// is known to exist.
struct IpvsSocket : NetlinkSocket {
  nl_sock* sk = nullptr;
  IpvsSocket() : NetlinkSocket(0x10000) {}
  ~IpvsSocket() {
    if (sk) nl_socket_free(sk);
  }

  bool Open(Failure& f) {
    if (type >= 0) return true;
    if (sk == nullptr) {
      sk = nl_socket_alloc();
      if (sk == nullptr) {
        f.err = ENOMEM;
        f.message = "cannot allocate a netlink socket";
        return false;
      }
      int r = genl_connect(sk);
      if (r < 0) {
        f.err = errno ? errno : EIO;
        f.message = std::string("cannot open a generic netlink socket: ") + nl_geterror(r);
        nl_socket_free(sk);
        sk = nullptr;
        return false;
      }
      fd = nl_socket_get_fd(sk);
      SizeBuffers();
    }
    int id = genl_ctrl_resolve(sk, "IPVS");
    if (id < 0) {
      // Not cached: after `modprobe ip_vs` the next call finds it.
      f.err = ENOENT;
      f.kind = "ipvs-missing";
      f.message = std::string("generic netlink family IPVS not found: ") + nl_geterror(id);
      return false;
    }
    type = id;
    AskExtAcks();
    return true;
  }
};
thread_local IpvsSocket t_ipvs;

class SendJob : public NetlinkSendJob {
 public:
  static SendOptions Options() {
    SendOptions o;
    o.chunkMessages = kChunkMessages;
    return o;
  }

  SendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends)
      : NetlinkSendJob(env, data, ends, Options()) {}

 private:
  NetlinkSocket* Prepare() override {
    if (!t_ipvs.Open(failure) || !batch_.Check(failure, NLMSG_HDRLEN + GENL_HDRLEN)) return nullptr;
    return &t_ipvs;
  }
};

class QueryJob : public NetlinkQueryJob {
 public:
  QueryJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, bool followDests)
      : NetlinkQueryJob(env, data, ends, /*withMessages=*/false),
        follow_(followDests) {}

  void Execute() override {
    if (RunAll() && follow_ && !sectionEnds_.empty() && errnos_[0] == 0) FollowDests(sectionEnds_[0]);
  }

 private:
  NetlinkSocket* Prepare() override {
    if (!t_ipvs.Open(failure) || !batch_.Check(failure, NLMSG_HDRLEN + GENL_HDRLEN, "malformed request batch"))
      return nullptr;
    return &t_ipvs;
  }

  // For every service message in out_[0, end): dump its real servers. The request carries
  // only the service's key attributes, copied from the reply.
  void FollowDests(size_t end) {
    std::vector<uint8_t> req;
    size_t off = 0;
    while (off + NLMSG_HDRLEN <= end) {
      // out_ grows below: copy what is needed before Run() appends.
      const auto* m = reinterpret_cast<const nlmsghdr*>(out_->data() + off);
      const size_t mlen = m->nlmsg_len;
      if (mlen < NLMSG_HDRLEN + GENL_HDRLEN || off + mlen > end) break;
      req.assign(NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN, 0);
      const uint8_t* base = out_->data() + off;
      size_t a = NLMSG_HDRLEN + GENL_HDRLEN;
      bool found = false;
      while (a + NLA_HDRLEN <= mlen) {
        const auto* top = reinterpret_cast<const nlattr*>(base + a);
        if (top->nla_len < NLA_HDRLEN || a + top->nla_len > mlen) break;
        if ((top->nla_type & NLA_TYPE_MASK) == kCmdAttrService) {
          found = true;
          size_t b = a + NLA_HDRLEN;
          const size_t bend = a + top->nla_len;
          while (b + NLA_HDRLEN <= bend) {
            const auto* in = reinterpret_cast<const nlattr*>(base + b);
            if (in->nla_len < NLA_HDRLEN || b + in->nla_len > bend) break;
            uint16_t t = in->nla_type & NLA_TYPE_MASK;
            if (t >= 1 && t <= kSvcAttrKeyMax) {
              size_t at = req.size();
              req.resize(at + NLA_ALIGN(in->nla_len), 0);
              memcpy(req.data() + at, in, in->nla_len);
            }
            b += NLA_ALIGN(in->nla_len);
          }
        }
        a += NLA_ALIGN(top->nla_len);
      }
      off += NLMSG_ALIGN(mlen);
      if (!found) continue;
      auto* h = reinterpret_cast<nlmsghdr*>(req.data());
      h->nlmsg_len = static_cast<uint32_t>(req.size());
      h->nlmsg_flags = NLM_F_DUMP;
      auto* g = reinterpret_cast<genlmsghdr*>(req.data() + NLMSG_HDRLEN);
      g->cmd = kCmdGetDest;
      g->version = kGenlVersion;
      auto* nest = reinterpret_cast<nlattr*>(req.data() + NLMSG_HDRLEN + GENL_HDRLEN);
      nest->nla_type = NLA_F_NESTED | kCmdAttrService;
      nest->nla_len = static_cast<uint16_t>(req.size() - NLMSG_HDRLEN - GENL_HDRLEN);
      if (!Run(req.data(), req.size())) return;
    }
  }

  bool follow_;
};

bool Args(const Napi::CallbackInfo& info, const char* usage) {
  if (!IsWorkerBatch(info)) {
    Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

}  // namespace

// ipvsSend(worker, bytes, ends, { progress?: Uint32Array }): sends the requests
// bytes[ends[i-1]..ends[i]) pipelined; resolves { errnos: Int32Array, messages: { [index]:
// extack text } }; progress[0]: requests the kernel applied so far.
Napi::Value IpvsSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "ipvsSend(worker, Uint8Array, Uint32Array, { progress? })")) return env.Undefined();
  auto* job = new SendJob(env, info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>());
  if (info.Length() > 3 && info[3].IsObject()) job->TrackProgress(info[3].As<Napi::Object>().Get("progress"));
  return Worker::Unwrap(info[0])->Submit(env, job);
}

// ipvsQuery(worker, bytes, ends, followDests): runs each request in turn; resolves
// { data: Buffer, sections: Uint32Array (end offsets), errnos: Int32Array, interrupted }.
Napi::Value IpvsQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "ipvsQuery(worker, Uint8Array, Uint32Array, boolean)")) return env.Undefined();
  bool follow = info.Length() > 3 && info[3].ToBoolean().Value();
  return Worker::Unwrap(info[0])->Submit(
      env, new QueryJob(env, info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>(), follow));
}

}  // namespace nlkit
