// IPVS over generic netlink, on the handle's thread and in its namespace. TypeScript builds
// every message (lib/ipvs/wire.ts) and parses every reply; this file only resolves the
// "IPVS" family with libnl-genl-3 (once per worker thread), stamps family id, sequence
// numbers and flags, and moves bytes:
//   ipvsSend:  many requests sent in large sendmsg() chunks, acknowledgements collected with
//              recvmmsg(): one errno (and the kernel's extended-ack text) per request.
//   ipvsQuery: requests answered with data (dumps and GETs) run one after another; every
//              reply message is returned in one buffer, split into one section per request.
//              With followDests, each service of the first section's dump is followed by a
//              dump of its real servers, so a full listing is one crossing.
#include <napi.h>
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "../common/batch.h"
#include "../common/netlink.h"
#include "../common/worker.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace nlkit {
namespace {

// From linux/ip_vs.h; only what the follow-up dumps need.
constexpr uint8_t kCmdGetDest = 8;
constexpr uint16_t kCmdAttrService = 1;
constexpr uint16_t kSvcAttrKeyMax = 5;  // AF, PROTOCOL, ADDR, PORT, FWMARK
constexpr uint8_t kGenlVersion = 1;

constexpr size_t kChunkBytes = 256 << 10;  // one sendmsg() of requests
constexpr size_t kChunkMessages = 512;     // acks in flight: well inside the receive buffer
constexpr size_t kRecvBuffer = 1 << 20;    // a dump skb is at most a few tens of KiB

// One socket per worker thread: the thread lives in the handle's namespace, and so does
// the socket it opens. The family id is resolved once it is known to exist.
struct IpvsSocket {
  nl_sock* sk = nullptr;
  int fd = -1;
  int family = -1;
  uint32_t seq = 0x10000;
  ~IpvsSocket() {
    if (sk) nl_socket_free(sk);
  }

  bool Open(Failure& f) {
    if (family >= 0) return true;
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
      int size = 8 << 20;
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
      size = 4 << 20;
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    int id = genl_ctrl_resolve(sk, "IPVS");
    if (id < 0) {
      // Not cached: after `modprobe ip_vs` the next call finds it.
      f.err = ENOENT;
      f.kind = "ipvs-missing";
      f.message = std::string("generic netlink family IPVS not found: ") + nl_geterror(id);
      return false;
    }
    family = id;
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);  // the kernel's own words
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);  // errors do not echo requests
    return true;
  }

  void Stamp(nlmsghdr* h, uint32_t s, uint16_t extraFlags) const {
    h->nlmsg_type = static_cast<uint16_t>(family);
    h->nlmsg_flags |= NLM_F_REQUEST | extraFlags;
    h->nlmsg_seq = s;
    h->nlmsg_pid = 0;
  }
};
thread_local IpvsSocket t_ipvs;

bool SendAll(Failure& f, const void* buf, size_t len) { return NetlinkSend(f, t_ipvs.fd, buf, len); }

bool Truncated(Failure& f) {
  f.err = EMSGSIZE;
  f.message = "netlink reply larger than the receive buffer";
  return false;
}

class SendJob : public Job {
 public:
  SendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends)
      : Job(env),
        batch_(data, ends) {}

  void Execute() override {
    if (!t_ipvs.Open(failure)) return;
    const size_t n = batch_.ends.size();
    errnos_.assign(n, 0);
    if (!batch_.Check(failure, NLMSG_HDRLEN + GENL_HDRLEN)) return;
    std::vector<char> buf(64 << 10);
    constexpr size_t kVec = 64;
    std::vector<char> slots(kVec * 4096);
    mmsghdr msgs[kVec];
    iovec iovs[kVec];
    size_t i = 0;
    while (i < n) {
      const size_t first = i;
      const size_t from = first == 0 ? 0 : batch_.ends[first - 1];
      const uint32_t base = t_ipvs.seq;
      // Every request of the chunk asks for an ack; the kernel runs them in order within
      // this one sendmsg() and queues one ack each.
      while (i < n && (i == first || (i - first < kChunkMessages && batch_.ends[i] - from <= kChunkBytes))) {
        size_t at = i == 0 ? 0 : batch_.ends[i - 1];
        t_ipvs.Stamp(reinterpret_cast<nlmsghdr*>(batch_.bytes + at), base + static_cast<uint32_t>(i - first), NLM_F_ACK);
        i++;
      }
      t_ipvs.seq += static_cast<uint32_t>(i - first);
      if (!SendAll(failure, batch_.bytes + from, batch_.ends[i - 1] - from)) return;
      size_t pending = i - first;
      while (pending > 0) {
        for (size_t k = 0; k < kVec; k++) {
          iovs[k] = {slots.data() + k * 4096, 4096};
          msgs[k] = {};
          msgs[k].msg_hdr.msg_iov = &iovs[k];
          msgs[k].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(t_ipvs.fd, msgs, kVec, MSG_WAITFORONE, nullptr);
        if (got < 0) {
          if (errno == EINTR) continue;
          failure.err = errno;
          failure.message = std::string("netlink receive: ") + strerror(errno);
          return;
        }
        for (int k = 0; k < got; k++) {
          if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
            Truncated(failure);
            return;
          }
          int len = static_cast<int>(msgs[k].msg_len);
          for (auto* h = reinterpret_cast<nlmsghdr*>(iovs[k].iov_base); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type != NLMSG_ERROR) continue;
            uint32_t idx = h->nlmsg_seq - base;
            if (idx >= i - first) continue;  // stale: not this chunk's
            auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
            errnos_[first + idx] = -err->error;
            if (err->error != 0) {
              std::string m = NetlinkExtAck(h);
              if (!m.empty()) messages_.emplace_back(static_cast<uint32_t>(first + idx), std::move(m));
            }
            pending--;
          }
        }
      }
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    Napi::Int32Array e = Napi::Int32Array::New(env, errnos_.size());
    if (!errnos_.empty()) memcpy(e.Data(), errnos_.data(), errnos_.size() * sizeof(int32_t));
    r.Set("errnos", e);
    Napi::Object m = Napi::Object::New(env);
    for (auto& [idx, text] : messages_) m.Set(idx, Napi::String::New(env, text));
    r.Set("messages", m);
    return r;
  }

 private:
  MessageBatch batch_;
  std::vector<int32_t> errnos_;
  std::vector<std::pair<uint32_t, std::string>> messages_;
};

class QueryJob : public Job {
 public:
  QueryJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, bool followDests)
      : Job(env),
        batch_(data, ends),
        follow_(followDests) {}

  void Execute() override {
    if (!t_ipvs.Open(failure)) return;
    out_ = std::make_unique<std::vector<uint8_t>>();
    recv_.resize(kRecvBuffer);
    if (!batch_.Check(failure, NLMSG_HDRLEN + GENL_HDRLEN, "malformed request batch")) return;
    for (size_t i = 0; i < batch_.ends.size(); i++) {
      if (!Run(batch_.bytes + batch_.begin(i), batch_.ends[i] - batch_.begin(i))) return;
    }
    if (follow_ && !sectionEnds_.empty() && errnos_[0] == 0) FollowDests(sectionEnds_[0]);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    auto* vec = out_.release();
    if (vec->empty()) {
      delete vec;
      r.Set("data", Napi::Buffer<uint8_t>::New(env, 0));
    } else {
      // The reply bytes become the Buffer's memory: a 50 MB listing is not copied again.
      r.Set("data", Napi::Buffer<uint8_t>::New(env, vec->data(), vec->size(),
                                               [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, vec));
    }
    Napi::Uint32Array s = Napi::Uint32Array::New(env, sectionEnds_.size());
    if (!sectionEnds_.empty()) memcpy(s.Data(), sectionEnds_.data(), sectionEnds_.size() * sizeof(uint32_t));
    Napi::Int32Array e = Napi::Int32Array::New(env, errnos_.size());
    if (!errnos_.empty()) memcpy(e.Data(), errnos_.data(), errnos_.size() * sizeof(int32_t));
    r.Set("sections", s);
    r.Set("errnos", e);
    r.Set("interrupted", Napi::Boolean::New(env, interrupted_));
    return r;
  }

 private:
  // One request and everything it is answered with, up to NLMSG_DONE or the ack.
  bool Run(uint8_t* req, size_t len) {
    auto* h = reinterpret_cast<nlmsghdr*>(req);
    const uint32_t seq = t_ipvs.seq++;
    // A dump ends with NLMSG_DONE; a GET is acked after its reply, so both have an end.
    t_ipvs.Stamp(h, seq, (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP ? 0 : NLM_F_ACK);
    if (!SendAll(failure, req, len)) return false;
    int status = 0;
    for (bool done = false; !done;) {
      ssize_t n = recv(t_ipvs.fd, recv_.data(), recv_.size(), MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) continue;
        failure.err = errno;
        failure.message = std::string("netlink receive: ") + strerror(errno);
        return false;
      }
      if (static_cast<size_t>(n) > recv_.size()) return Truncated(failure);
      int left = static_cast<int>(n);
      for (auto* m = reinterpret_cast<nlmsghdr*>(recv_.data()); NLMSG_OK(m, left); m = NLMSG_NEXT(m, left)) {
        if (m->nlmsg_seq != seq) continue;  // stale
        if (m->nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
        if (m->nlmsg_type == NLMSG_DONE) {
          if (m->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)) {
            int e;
            memcpy(&e, NLMSG_DATA(m), sizeof e);
            if (e < 0) status = -e;
          }
          done = true;
          break;
        }
        if (m->nlmsg_type == NLMSG_ERROR) {
          status = -static_cast<nlmsgerr*>(NLMSG_DATA(m))->error;
          done = true;
          break;
        }
        const auto* p = reinterpret_cast<const uint8_t*>(m);
        out_->insert(out_->end(), p, p + NLMSG_ALIGN(m->nlmsg_len));
      }
    }
    sectionEnds_.push_back(static_cast<uint32_t>(out_->size()));
    errnos_.push_back(status);
    return true;
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

  MessageBatch batch_;
  bool follow_;
  std::vector<char> recv_;
  std::unique_ptr<std::vector<uint8_t>> out_;
  std::vector<uint32_t> sectionEnds_;
  std::vector<int32_t> errnos_;
  bool interrupted_ = false;
};

bool Args(const Napi::CallbackInfo& info, const char* usage) {
  if (Worker::Unwrap(info[0]) == nullptr || !info[1].IsTypedArray() || !info[2].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

}  // namespace

// ipvsSend(worker, bytes, ends): sends the requests bytes[ends[i-1]..ends[i]) pipelined;
// resolves { errnos: Int32Array, messages: { [index]: extack text } }.
Napi::Value IpvsSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "ipvsSend(worker, Uint8Array, Uint32Array)")) return env.Undefined();
  return Worker::Unwrap(info[0])->Submit(
      env, new SendJob(env, info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>()));
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
