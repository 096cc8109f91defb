// NetlinkBatchJob: an nfnetlink transaction in one sendmsg(). Splitting BATCH_BEGIN ..
// BATCH_END over several sendmsg() calls would make the kernel see an unterminated batch in
// the first (it aborts it) and orphan messages in the next. As nftables' mnl_batch_talk()
// does: the send buffer is grown to hold the whole batch, the receive buffer to hold one
// reply per message, and the replies are drained without blocking once sendmsg() returned
// (nfnetlink runs the batch inside the sendmsg() call, so every reply is queued by then).
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>

#include "jobs.h"

namespace nlkit {
namespace {
constexpr size_t kReplyRoom = 1024;     // what one queued ack or error costs the receive buffer
constexpr size_t kRecvBuffer = 1 << 20;  // one reply skb
}  // namespace

NetlinkBatchJob::NetlinkBatchJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends)
    : Job(env), protocol_(protocol), batch_(data, ends) {}

void NetlinkBatchJob::Execute() {
  NetlinkSocket* s = ThreadSocket(protocol_, failure);
  if (s == nullptr || !CheckLengths(failure, batch_, NLMSG_HDRLEN)) return;
  const size_t n = batch_.ends.size();
  if (n == 0) return;
  // Small error replies with the kernel's words and the offending attribute's offset.
  s->CapAcks(true);
  const uint32_t base = s->seq;
  firstSeq_ = base;
  for (size_t i = 0; i < n; i++)
    s->Stamp(reinterpret_cast<nlmsghdr*>(batch_.bytes + batch_.begin(i)), base + static_cast<uint32_t>(i), 0);
  s->seq += static_cast<uint32_t>(n);
  // netlink_sendmsg() refuses a message longer than the send buffer (EMSGSIZE).
  s->GrowSend(batch_.size + 4096);
  s->GrowReceive(n * kReplyRoom);
  if (!NetlinkSend(failure, s->fd, batch_.bytes, batch_.size)) {
    if (failure.err == EMSGSIZE)
      failure.message = "netlink batch of " + std::to_string(batch_.size) + " bytes does not fit the socket's send buffer";
    return;
  }
  Drain(*s, base);
}

bool NetlinkBatchJob::Drain(NetlinkSocket& s, uint32_t base) {
  const size_t n = batch_.ends.size();
  std::vector<char> buf(kRecvBuffer);
  data_ = std::make_unique<std::vector<uint8_t>>();
  for (;;) {
    // Everything was queued while sendmsg() ran: nothing waiting means nothing more to come.
    long got = NetlinkReceive(failure, s.fd, buf, MSG_DONTWAIT);
    if (got < 0) {
      // ENOBUFS: the kernel applied or refused the batch, but some replies were dropped, so
      // which messages failed is no longer known.
      if (failure.err == ENOBUFS) failure.message = "replies to the netlink batch were lost (receive buffer overrun)";
      return false;
    }
    if (got == 0) return true;
    int left = static_cast<int>(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      const uint32_t idx = h->nlmsg_seq - base;
      if (idx >= n) continue;  // stale: an earlier exchange's
      if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_HDRLEN + sizeof(nlmsgerr)) {
        const int e = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
        if (e == 0) {
          acked_++;
          continue;
        }
        refusals_.push_back({idx, e, NetlinkExtAck(h), NetlinkExtAckOffset(h)});
        continue;
      }
      const auto* p = reinterpret_cast<const uint8_t*>(h);
      data_->insert(data_->end(), p, p + NLMSG_ALIGN(h->nlmsg_len));
    }
  }
}

Napi::Value NetlinkBatchJob::Result(Napi::Env env) {
  Napi::Object r = Napi::Object::New(env);
  Napi::Array errors = Napi::Array::New(env, refusals_.size());
  for (size_t k = 0; k < refusals_.size(); k++) {
    const Refusal& f = refusals_[k];
    Napi::Object e = Napi::Object::New(env);
    e.Set("index", Napi::Number::New(env, f.index));
    e.Set("errno", Napi::Number::New(env, f.err));
    if (!f.message.empty()) e.Set("message", Napi::String::New(env, f.message));
    if (f.offset >= 0) e.Set("offset", Napi::Number::New(env, static_cast<double>(f.offset)));
    errors.Set(static_cast<uint32_t>(k), e);
  }
  r.Set("errors", errors);
  r.Set("acked", Napi::Number::New(env, acked_));
  r.Set("firstSeq", Napi::Number::New(env, firstSeq_));
  auto* vec = data_.release();
  if (vec == nullptr || vec->empty()) {
    delete vec;
    r.Set("data", Napi::Buffer<uint8_t>::New(env, 0));
  } else {
    r.Set("data", Napi::Buffer<uint8_t>::New(env, vec->data(), vec->size(),
                                             [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, vec));
  }
  return r;
}

}  // namespace nlkit
