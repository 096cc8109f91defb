#include "netlink_jobs.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>

#include "netlink.h"
#include "worker.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace nlkit {
namespace {

constexpr size_t kChunkBytes = 256 << 10;  // one sendmsg() of requests
constexpr size_t kRecvBuffer = 1 << 20;    // a dump skb is at most a few tens of KiB

bool Truncated(Failure& f) {
  f.err = EMSGSIZE;
  f.message = "netlink reply larger than the receive buffer";
  return false;
}

bool ReceiveFailed(Failure& f) {
  f.err = errno;
  f.message = std::string("netlink receive: ") + strerror(errno);
  return false;
}

void SetErrnos(Napi::Env env, Napi::Object r, const std::vector<int32_t>& errnos) {
  Napi::Int32Array e = Napi::Int32Array::New(env, errnos.size());
  if (!errnos.empty()) memcpy(e.Data(), errnos.data(), errnos.size() * sizeof(int32_t));
  r.Set("errnos", e);
}

void SetMessages(Napi::Env env, Napi::Object r, const std::vector<std::pair<uint32_t, std::string>>& messages) {
  Napi::Object m = Napi::Object::New(env);
  for (auto& [idx, text] : messages) m.Set(idx, Napi::String::New(env, text));
  r.Set("messages", m);
}

}  // namespace

void NetlinkSocket::SizeBuffers() const {
  int size = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  size = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

void NetlinkSocket::AskExtAcks() const {
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
}

void NetlinkSocket::Stamp(nlmsghdr* h, uint32_t s, uint16_t extraFlags) const {
  if (type >= 0) h->nlmsg_type = static_cast<uint16_t>(type);
  h->nlmsg_flags |= NLM_F_REQUEST | extraFlags;
  h->nlmsg_seq = s;
  h->nlmsg_pid = 0;
}

bool IsWorkerBatch(const Napi::CallbackInfo& info) {
  return Worker::Unwrap(info[0]) != nullptr && info[1].IsTypedArray() && info[2].IsTypedArray() &&
         info[1].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array &&
         info[2].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array;
}

NetlinkSendJob::NetlinkSendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, size_t chunkMessages,
                               bool stopOnRefusal, std::vector<int> tolerate)
    : Job(env),
      batch_(data, ends),
      chunkMessages_(chunkMessages),
      stopOnRefusal_(stopOnRefusal),
      tolerate_(std::move(tolerate)) {}

void NetlinkSendJob::Execute() {
  NetlinkSocket* s = Prepare();
  if (s == nullptr) return;
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
    const size_t from = batch_.begin(first);
    const uint32_t base = s->seq;
    // Every request of the chunk asks for an ack; the kernel runs them in order within
    // this one sendmsg() and queues one ack each.
    while (i < n && (i == first || (i - first < chunkMessages_ && batch_.ends[i] - from <= kChunkBytes))) {
      s->Stamp(reinterpret_cast<nlmsghdr*>(batch_.bytes + batch_.begin(i)), base + static_cast<uint32_t>(i - first), NLM_F_ACK);
      i++;
    }
    s->seq += static_cast<uint32_t>(i - first);
    if (!NetlinkSend(failure, s->fd, batch_.bytes + from, batch_.ends[i - 1] - from)) return;
    size_t pending = i - first;
    while (pending > 0) {
      for (size_t k = 0; k < kVec; k++) {
        iovs[k] = {slots.data() + k * kSlot, kSlot};
        msgs[k] = {};
        msgs[k].msg_hdr.msg_iov = &iovs[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
      }
      int got = recvmmsg(s->fd, msgs, kVec, MSG_WAITFORONE, nullptr);
      if (got < 0) {
        if (errno == EINTR) continue;
        ReceiveFailed(failure);
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
          if (idx >= i - first || errnos_[first + idx] != -1) continue;  // stale: not this chunk's
          auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
          int e = -err->error;
          errnos_[first + idx] = e;
          if (e != 0) {
            if (stopOnRefusal_ && std::find(tolerate_.begin(), tolerate_.end(), e) == tolerate_.end()) refused = true;
            std::string m = NetlinkExtAck(h);
            if (!m.empty()) messages_.emplace_back(static_cast<uint32_t>(first + idx), std::move(m));
          }
          pending--;
        }
      }
    }
  }
}

Napi::Value NetlinkSendJob::Result(Napi::Env env) {
  Napi::Object r = Napi::Object::New(env);
  SetErrnos(env, r, errnos_);
  SetMessages(env, r, messages_);
  return r;
}

NetlinkQueryJob::NetlinkQueryJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, bool withMessages)
    : Job(env),
      batch_(data, ends),
      withMessages_(withMessages) {}

bool NetlinkQueryJob::RunAll() {
  socket_ = Prepare();
  if (socket_ == nullptr) return false;
  out_ = std::make_unique<std::vector<uint8_t>>();
  recv_.resize(kRecvBuffer);
  for (size_t i = 0; i < batch_.ends.size(); i++) {
    if (!Run(batch_.bytes + batch_.begin(i), batch_.ends[i] - batch_.begin(i))) return false;
  }
  return true;
}

bool NetlinkQueryJob::Run(uint8_t* req, size_t len) {
  auto* h = reinterpret_cast<nlmsghdr*>(req);
  const uint32_t seq = socket_->seq++;
  // A dump ends with NLMSG_DONE; a GET is acked after its reply, so both have an end.
  socket_->Stamp(h, seq, (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP ? 0 : NLM_F_ACK);
  if (!NetlinkSend(failure, socket_->fd, req, len)) return false;
  int status = 0;
  for (bool done = false; !done;) {
    ssize_t n = recv(socket_->fd, recv_.data(), recv_.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ReceiveFailed(failure);
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
        if (status != 0 && withMessages_) {
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

Napi::Value NetlinkQueryJob::Result(Napi::Env env) {
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
  r.Set("sections", s);
  SetErrnos(env, r, errnos_);
  if (withMessages_) SetMessages(env, r, messages_);
  r.Set("interrupted", Napi::Boolean::New(env, interrupted_));
  return r;
}

}  // namespace nlkit
