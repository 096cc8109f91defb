#include "jobs.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>

#include "../core/worker.h"

namespace nlkit {
namespace {

constexpr size_t kChunkBytes = 256 << 10;  // one sendmsg() of requests
constexpr size_t kRecvBuffer = 1 << 20;    // a dump skb is at most a few tens of KiB

// The bytes become the Buffer's memory: a 50 MB listing is not copied again.
Napi::Value TakeBuffer(Napi::Env env, std::unique_ptr<std::vector<uint8_t>>& out) {
  auto* vec = out.release();
  if (vec == nullptr || vec->empty()) {
    delete vec;
    return Napi::Buffer<uint8_t>::New(env, 0);
  }
  return Napi::Buffer<uint8_t>::New(env, vec->data(), vec->size(),
                                    [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, vec);
}

}  // namespace

bool CheckLengths(Failure& f, const MessageBatch& batch, size_t minLen) {
  if (!batch.Check(f, minLen)) return false;
  size_t start = 0;
  for (uint32_t end : batch.ends) {
    if (reinterpret_cast<const nlmsghdr*>(batch.bytes + start)->nlmsg_len != end - start) {
      f.err = EINVAL;
      f.message = "malformed message batch";
      return false;
    }
    start = end;
  }
  return true;
}

NetlinkSocket* NetlinkRequestsJob::Prepare(const BatchHook& hook) {
  NetlinkSocket* s = ThreadSocket(protocol_, failure);
  if (s == nullptr || !CheckLengths(failure, batch_, NLMSG_HDRLEN) || (hook && !hook(failure, batch_))) return nullptr;
  return s;
}

Napi::Object NetlinkRequestsJob::Outcome(Napi::Env env) const {
  Napi::Object r = Napi::Object::New(env);
  Napi::Int32Array e = Napi::Int32Array::New(env, errnos_.size());
  if (!errnos_.empty()) memcpy(e.Data(), errnos_.data(), errnos_.size() * sizeof(int32_t));
  r.Set("errnos", e);
  Napi::Object m = Napi::Object::New(env);
  for (auto& [idx, text] : messages_) m.Set(idx, Napi::String::New(env, text));
  r.Set("messages", m);
  return r;
}

NetlinkSendJob::NetlinkSendJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends, SendOptions opts)
    : NetlinkRequestsJob(env, protocol, data, ends), opts_(std::move(opts)) {}

void NetlinkSendJob::Execute() {
  NetlinkSocket* s = Prepare(opts_.hook);
  if (s == nullptr) return;
  s->CapAcks(!opts_.echo);
  const size_t n = batch_.ends.size();
  errnos_.assign(n, -1);
  constexpr size_t kMaxVec = 64;
  const size_t nvec = std::max<size_t>(1, std::min(kMaxVec, opts_.chunkMessages));
  // An echoed refusal is as long as the request it echoes.
  size_t slot = 4096;
  if (opts_.echo)
    for (size_t i = 0; i < n; i++) slot = std::max<size_t>(slot, batch_.ends[i] - batch_.begin(i) + 4096);
  std::vector<char> slots(nvec * slot);
  mmsghdr msgs[kMaxVec];
  iovec iovs[kMaxVec];
  size_t i = 0;
  uint32_t done = 0;  // acknowledged with 0: applied (a tolerated refusal changed nothing)
  bool refused = false;
  while (i < n && !refused) {
    const size_t first = i;
    const size_t from = batch_.begin(first);
    const uint32_t base = s->seq;
    // Every request of the chunk asks for an ack; the kernel runs them in order within
    // this one sendmsg() and queues one ack each.
    while (i < n && (i == first || (i - first < opts_.chunkMessages && batch_.ends[i] - from <= kChunkBytes))) {
      auto* h = reinterpret_cast<nlmsghdr*>(batch_.bytes + batch_.begin(i));
      if (opts_.errorsOnly) h->nlmsg_flags &= ~NLM_F_ACK;
      s->Stamp(h, base + static_cast<uint32_t>(i - first), opts_.errorsOnly ? 0 : NLM_F_ACK);
      i++;
    }
    s->seq += static_cast<uint32_t>(i - first);
    if (!NetlinkSend(failure, s->fd, batch_.bytes + from, batch_.ends[i - 1] - from)) return;
    size_t pending = i - first;
    // errorsOnly: the refusals are queued already; read until none is left, then the rest applied.
    const int flags = opts_.errorsOnly ? MSG_DONTWAIT : MSG_WAITFORONE;
    while (pending > 0) {
      for (size_t k = 0; k < nvec; k++) {
        iovs[k] = {slots.data() + k * slot, slot};
        msgs[k] = {};
        msgs[k].msg_hdr.msg_iov = &iovs[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
      }
      int got = recvmmsg(s->fd, msgs, static_cast<unsigned>(nvec), flags, nullptr);
      if (got < 0 && opts_.errorsOnly && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        for (size_t k = first; k < i; k++)
          if (errnos_[k] == -1) errnos_[k] = 0, done++;
        progress_.Store(done);
        break;
      }
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
          if (e == 0) done++;
          if (e != 0) {
            if (opts_.stopOnRefusal && std::find(opts_.tolerate.begin(), opts_.tolerate.end(), e) == opts_.tolerate.end())
              refused = true;
            std::string m = NetlinkExtAck(h);
            if (!m.empty()) messages_.emplace_back(static_cast<uint32_t>(first + idx), std::move(m));
            if (opts_.echo) {
              const auto* p = reinterpret_cast<const uint8_t*>(h);
              replies_.emplace_back(static_cast<uint32_t>(first + idx), std::vector<uint8_t>(p, p + h->nlmsg_len));
            }
          }
          pending--;
        }
      }
      progress_.Store(done);
    }
  }
}

Napi::Value NetlinkSendJob::Result(Napi::Env env) {
  Napi::Object r = Outcome(env);
  if (opts_.echo) {
    Napi::Object m = Napi::Object::New(env);
    for (auto& [idx, bytes] : replies_) m.Set(idx, Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size()));
    r.Set("replies", m);
  }
  return r;
}

NetlinkDumpJob::NetlinkDumpJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends, DumpOptions opts)
    : NetlinkRequestsJob(env, protocol, data, ends), opts_(std::move(opts)) {
  opts_.attempts = std::max(1, opts_.attempts);
}

void NetlinkDumpJob::Execute() {
  NetlinkSocket* s = Prepare(opts_.hook);
  if (s == nullptr) return;
  recv_.resize(kRecvBuffer);
  for (ran_ = 1; ran_ <= opts_.attempts; ran_++) {
    if (!RunAll(*s) || !interrupted_) return;
  }
  ran_ = opts_.attempts;
  if (opts_.reportInterrupted) return;
  failure.err = EINTR;
  failure.kind = "interrupted";
  failure.message = "dump interrupted by concurrent changes " + std::to_string(opts_.attempts) + " times in a row";
}

bool NetlinkDumpJob::RunAll(NetlinkSocket& s) {
  out_ = std::make_unique<std::vector<uint8_t>>();
  sectionEnds_.clear();
  errnos_.clear();
  messages_.clear();
  interrupted_ = false;
  for (size_t i = 0; i < batch_.ends.size(); i++) {
    if (!Run(s, batch_.bytes + batch_.begin(i), batch_.ends[i] - batch_.begin(i))) return false;
  }
  if (!opts_.follow.head.empty() && !sectionEnds_.empty() && errnos_[0] == 0) return Follow(s, sectionEnds_[0]);
  return true;
}

bool NetlinkDumpJob::Run(NetlinkSocket& s, uint8_t* req, size_t len) {
  int status = 0;
  std::string ack;
  std::vector<uint8_t>& out = *out_;
  if (!Exchange(failure, s, req, len, recv_, &status, &ack, &interrupted_, [&out](const nlmsghdr* m) {
        const auto* p = reinterpret_cast<const uint8_t*>(m);
        out.insert(out.end(), p, p + NLMSG_ALIGN(m->nlmsg_len));
      }))
    return false;
  if (!ack.empty()) messages_.emplace_back(static_cast<uint32_t>(errnos_.size()), std::move(ack));
  sectionEnds_.push_back(static_cast<uint32_t>(out_->size()));
  errnos_.push_back(status);
  return true;
}

bool NetlinkDumpJob::Follow(NetlinkSocket& s, size_t end) {
  const FollowSpec& f = opts_.follow;
  const size_t first = NLMSG_ALIGN(f.head.size());  // replies carry the same family header
  std::vector<uint8_t> req;
  size_t off = 0;
  while (off + NLMSG_HDRLEN <= end) {
    // out_ grows in Run(): the reply is read before the request goes.
    const uint8_t* base = out_->data() + off;
    const size_t mlen = reinterpret_cast<const nlmsghdr*>(base)->nlmsg_len;
    if (mlen < first || off + mlen > end) break;
    off += NLMSG_ALIGN(mlen);
    req.assign(f.head.begin(), f.head.end());
    req.resize(first + NLA_HDRLEN, 0);
    bool found = false;
    ForEachAttr(base, first, mlen, [&](const nlattr* top, size_t at) {
      if ((top->nla_type & NLA_TYPE_MASK) != f.attr) return;
      found = true;
      ForEachAttr(base, at + NLA_HDRLEN, at + top->nla_len, [&](const nlattr* in, size_t) {
        const uint16_t t = in->nla_type & NLA_TYPE_MASK;
        if (t >= 32 || !(f.keep & (1u << t))) return;
        const size_t to = req.size();
        req.resize(to + NLA_ALIGN(in->nla_len), 0);
        memcpy(req.data() + to, in, in->nla_len);
      });
    });
    if (!found) continue;
    auto* h = reinterpret_cast<nlmsghdr*>(req.data());
    h->nlmsg_len = static_cast<uint32_t>(req.size());
    auto* nest = reinterpret_cast<nlattr*>(req.data() + first);
    nest->nla_type = NLA_F_NESTED | f.attr;
    nest->nla_len = static_cast<uint16_t>(req.size() - first);
    if (!Run(s, req.data(), req.size())) return false;
  }
  return true;
}

Napi::Value NetlinkDumpJob::Result(Napi::Env env) {
  Napi::Object r = Outcome(env);
  r.Set("data", TakeBuffer(env, out_));
  Napi::Uint32Array sec = Napi::Uint32Array::New(env, sectionEnds_.size());
  if (!sectionEnds_.empty()) memcpy(sec.Data(), sectionEnds_.data(), sectionEnds_.size() * sizeof(uint32_t));
  r.Set("sections", sec);
  r.Set("interrupted", Napi::Boolean::New(env, interrupted_));
  r.Set("attempts", Napi::Number::New(env, ran_));
  return r;
}

}  // namespace nlkit
