// rtnetlink (NETLINK_ROUTE) for the link subsystem, on the handle's thread and in its
// namespace. TypeScript builds every request (lib/link/wire.ts) and parses every reply; this
// file stamps sequence numbers and flags, resolves a link name to its index where asked, and
// moves bytes:
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

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "../common/batch.h"
#include "../common/netlink.h"
#include "../common/worker.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace nlkit {
namespace {

constexpr size_t kChunkBytes = 256 << 10;  // one sendmsg() of requests
constexpr size_t kChunkMessages = 256;     // acks in flight: well inside the receive buffer
constexpr size_t kRecvBuffer = 1 << 20;    // a dump skb is at most a few tens of KiB
// ifinfomsg.ifi_index and ifaddrmsg.ifa_index both sit 4 bytes into the family header.
constexpr size_t kIndexOffset = NLMSG_HDRLEN + 4;

// One socket per worker thread: the thread lives in the handle's namespace, and so does
// the socket it opens.
struct RouteSocket {
  int fd = -1;
  uint32_t seq = 0x20000;
  ~RouteSocket() {
    if (fd >= 0) close(fd);
  }

  bool Open(Failure& f) {
    if (fd >= 0) return true;
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
      f.err = errno;
      f.message = std::string("cannot open a rtnetlink socket: ") + strerror(errno);
      return false;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      f.err = errno;
      f.message = std::string("cannot bind a rtnetlink socket: ") + strerror(errno);
      close(fd);
      fd = -1;
      return false;
    }
    int size = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    size = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);         // the kernel's own words
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);         // errors do not echo requests
    setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);  // dumps filter by ifindex
    return true;
  }

  void Stamp(nlmsghdr* h, uint32_t s, uint16_t extraFlags) const {
    h->nlmsg_flags |= NLM_F_REQUEST | extraFlags;
    h->nlmsg_seq = s;
    h->nlmsg_pid = 0;
  }
};
thread_local RouteSocket t_rtnl;

bool SendAll(Failure& f, const void* buf, size_t len) { return NetlinkSend(f, t_rtnl.fd, buf, len); }

// A batch of requests TypeScript built: checked, and its link name resolved, before sending.
class BatchJob : public Job {
 public:
  BatchJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, std::string ifname)
      : Job(env),
        batch_(data, ends),
        ifname_(std::move(ifname)) {}

 protected:
  bool Prepare(size_t minLen) {
    if (!t_rtnl.Open(failure)) return false;
    if (!batch_.Check(failure, minLen)) return false;
    size_t start = 0;
    for (uint32_t end : batch_.ends) {
      if (reinterpret_cast<nlmsghdr*>(batch_.bytes + start)->nlmsg_len != end - start) {
        failure.err = EINVAL;
        failure.message = "malformed message batch";
        return false;
      }
      start = end;
    }
    if (ifname_.empty()) return true;
    unsigned index = if_nametoindex(ifname_.c_str());
    if (index == 0) {
      failure.err = errno == ENXIO || errno == 0 ? ENODEV : errno;
      failure.kind = "nolink";
      failure.message = "link " + ifname_ + " does not exist";
      return false;
    }
    start = 0;
    for (uint32_t end : batch_.ends) {
      if (end - start < kIndexOffset + 4) {
        failure.err = EINVAL;
        failure.message = "malformed message batch: no room for the link index";
        return false;
      }
      memcpy(batch_.bytes + start + kIndexOffset, &index, 4);
      start = end;
    }
    return true;
  }

  MessageBatch batch_;
  std::string ifname_;
  std::vector<int32_t> errnos_;
  std::vector<std::pair<uint32_t, std::string>> messages_;

  void SetCommon(Napi::Env env, Napi::Object r) {
    Napi::Int32Array e = Napi::Int32Array::New(env, errnos_.size());
    if (!errnos_.empty()) memcpy(e.Data(), errnos_.data(), errnos_.size() * sizeof(int32_t));
    r.Set("errnos", e);
    Napi::Object m = Napi::Object::New(env);
    for (auto& [idx, text] : messages_) m.Set(idx, Napi::String::New(env, text));
    r.Set("messages", m);
  }
};

class SendJob : public BatchJob {
 public:
  SendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, std::string ifname, std::vector<int> tolerate)
      : BatchJob(env, data, ends, std::move(ifname)), tolerate_(std::move(tolerate)) {}

  void Execute() override {
    if (!Prepare(NLMSG_HDRLEN)) return;
    const size_t n = batch_.ends.size();
    errnos_.assign(n, -1);
    constexpr size_t kVec = 64;
    constexpr size_t kSlot = 4096;
    std::vector<char> slots(kVec * kSlot);
    mmsghdr msgs[kVec];
    iovec iovs[kVec];
    size_t i = 0;
    bool refused = false;
    while (i < n && !refused) {
      const size_t first = i;
      const size_t from = first == 0 ? 0 : batch_.ends[first - 1];
      const uint32_t base = t_rtnl.seq;
      // Every request of the chunk asks for an ack; the kernel runs them in order within
      // this one sendmsg() and queues one ack each.
      while (i < n && (i == first || (i - first < kChunkMessages && batch_.ends[i] - from <= kChunkBytes))) {
        size_t at = i == 0 ? 0 : batch_.ends[i - 1];
        t_rtnl.Stamp(reinterpret_cast<nlmsghdr*>(batch_.bytes + at), base + static_cast<uint32_t>(i - first), NLM_F_ACK);
        i++;
      }
      t_rtnl.seq += static_cast<uint32_t>(i - first);
      if (!SendAll(failure, batch_.bytes + from, batch_.ends[i - 1] - from)) return;
      size_t pending = i - first;
      while (pending > 0) {
        for (size_t k = 0; k < kVec; k++) {
          iovs[k] = {slots.data() + k * kSlot, kSlot};
          msgs[k] = {};
          msgs[k].msg_hdr.msg_iov = &iovs[k];
          msgs[k].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(t_rtnl.fd, msgs, kVec, MSG_WAITFORONE, nullptr);
        if (got < 0) {
          if (errno == EINTR) continue;
          failure.err = errno;
          failure.message = std::string("netlink receive: ") + strerror(errno);
          return;
        }
        for (int k = 0; k < got; k++) {
          if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
            failure.err = EMSGSIZE;
            failure.message = "netlink reply larger than the receive buffer";
            return;
          }
          int len = static_cast<int>(msgs[k].msg_len);
          for (auto* h = reinterpret_cast<nlmsghdr*>(iovs[k].iov_base); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type != NLMSG_ERROR) continue;
            uint32_t idx = h->nlmsg_seq - base;
            if (idx >= i - first || errnos_[first + idx] != -1) continue;  // stale: not this chunk's
            auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
            int e = -err->error;
            errnos_[first + idx] = e;
            if (e != 0) {
              if (std::find(tolerate_.begin(), tolerate_.end(), e) == tolerate_.end()) refused = true;
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
    SetCommon(env, r);
    return r;
  }

 private:
  std::vector<int> tolerate_;
};

class QueryJob : public BatchJob {
 public:
  using BatchJob::BatchJob;

  void Execute() override {
    if (!Prepare(NLMSG_HDRLEN)) return;
    out_ = std::make_unique<std::vector<uint8_t>>();
    recv_.resize(kRecvBuffer);
    size_t start = 0;
    for (uint32_t end : batch_.ends) {
      if (!Run(batch_.bytes + start, end - start)) return;
      start = end;
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    auto* vec = out_.release();
    if (vec->empty()) {
      delete vec;
      r.Set("data", Napi::Buffer<uint8_t>::New(env, 0));
    } else {
      // The reply bytes become the Buffer's memory: a large listing is not copied again.
      r.Set("data", Napi::Buffer<uint8_t>::New(env, vec->data(), vec->size(),
                                               [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, vec));
    }
    Napi::Uint32Array s = Napi::Uint32Array::New(env, sectionEnds_.size());
    if (!sectionEnds_.empty()) memcpy(s.Data(), sectionEnds_.data(), sectionEnds_.size() * sizeof(uint32_t));
    r.Set("sections", s);
    SetCommon(env, r);
    r.Set("interrupted", Napi::Boolean::New(env, interrupted_));
    return r;
  }

 private:
  // One request and everything it is answered with, up to NLMSG_DONE or the ack.
  bool Run(uint8_t* req, size_t len) {
    auto* h = reinterpret_cast<nlmsghdr*>(req);
    const uint32_t seq = t_rtnl.seq++;
    // A dump ends with NLMSG_DONE; a GET is acked after its reply, so both have an end.
    t_rtnl.Stamp(h, seq, (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP ? 0 : NLM_F_ACK);
    if (!SendAll(failure, req, len)) return false;
    int status = 0;
    for (bool done = false; !done;) {
      ssize_t n = recv(t_rtnl.fd, recv_.data(), recv_.size(), MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) continue;
        failure.err = errno;
        failure.message = std::string("netlink receive: ") + strerror(errno);
        return false;
      }
      if (static_cast<size_t>(n) > recv_.size()) {
        failure.err = EMSGSIZE;
        failure.message = "netlink reply larger than the receive buffer";
        return false;
      }
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
          if (status != 0) {
            std::string text = NetlinkExtAck(m);
            if (!text.empty()) messages_.emplace_back(static_cast<uint32_t>(errnos_.size()), std::move(text));
          }
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

  std::vector<char> recv_;
  std::unique_ptr<std::vector<uint8_t>> out_;
  std::vector<uint32_t> sectionEnds_;
  bool interrupted_ = false;
};

// (worker, Uint8Array, Uint32Array, options?) with options { ifname?: string, tolerate?: number[] }.
bool Args(const Napi::CallbackInfo& info, const char* usage, std::string& ifname, std::vector<int>& tolerate) {
  if (Worker::Unwrap(info[0]) == nullptr || !info[1].IsTypedArray() || !info[2].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsObject())) {
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

// linkSend(worker, bytes, ends, { ifname?, tolerate?: errno[] }): sends the requests
// bytes[ends[i-1]..ends[i]) pipelined; resolves { errnos: Int32Array (-1: not sent),
// messages: { [index]: extack text } }.
Napi::Value LinkSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname;
  std::vector<int> tolerate;
  if (!Args(info, "linkSend(worker, Uint8Array, Uint32Array, { ifname?, tolerate? })", ifname, tolerate))
    return env.Undefined();
  return Worker::Unwrap(info[0])->Submit(
      env, new SendJob(env, info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>(), std::move(ifname), std::move(tolerate)));
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
