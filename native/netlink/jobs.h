// The exchanges a subsystem that builds its own netlink messages has with the kernel, over
// its worker thread's socket (native/netlink/socket.h):
//   NetlinkSendJob:  many requests sent pipelined in large sendmsg() chunks, acknowledgements
//                    collected with recvmmsg(): one errno (and extended-ack text) per request.
//   NetlinkBatchJob: an nfnetlink transaction (BATCH_BEGIN .. messages .. BATCH_END) in ONE
//                    sendmsg(), so the kernel applies all of it or none; every error reply is
//                    mapped to the index of the message it refuses (batch.cc).
//   NetlinkDumpJob:  requests answered with data (dumps and GETs) run one after another; every
//                    reply message is returned in one buffer, split into one section per
//                    request; the whole run is restarted when a reply carries NLM_F_DUMP_INTR,
//                    a bounded number of times.
// Each runs over the worker thread's socket of its protocol; a subsystem that must rewrite the
// batch where only the handle's namespace can (native/link: a link name's index) gives a hook.
#pragma once
#include <napi.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../core/batch.h"
#include "../core/job.h"
#include "../core/progress.h"
#include "socket.h"
#include "wire.h"

namespace nlkit {

// Every message's nlmsg_len matches its end offset (and is at least minLen).
bool CheckLengths(Failure& f, const MessageBatch& batch, size_t minLen);

// Runs on the worker thread after the batch was checked and before anything is sent: what only
// the handle's namespace knows goes into the messages. false with f set.
using BatchHook = std::function<bool(Failure& f, MessageBatch& batch)>;

struct SendOptions {
  size_t chunkMessages = 256;  // most acks in flight per sendmsg()
  // After a chunk in which the kernel refused a request with an errno not in tolerate,
  // nothing more is sent.
  bool stopOnRefusal = false;
  std::vector<int> tolerate;
  // Error replies carry the refused request (NETLINK_CAP_ACK off) and are kept whole.
  bool echo = false;
  // No ack asked for: the kernel runs a sendmsg()'s requests before it returns and answers
  // only the refused ones, whose replies are then read without waiting; the rest count as
  // applied. Saves an ack skb and its receive per request (bulk deletes).
  bool errorsOnly = false;
  BatchHook hook;
};

// What the send and dump jobs share: a batch for one protocol's thread socket, and one errno
// (and extended-ack text) per request in the result.
class NetlinkRequestsJob : public Job {
 protected:
  NetlinkRequestsJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends)
      : Job(env), protocol_(protocol), batch_(data, ends) {}
  // The thread's socket, batch_ checked, then hooked; nullptr with failure set.
  NetlinkSocket* Prepare(const BatchHook& hook);
  // { errnos: Int32Array, messages: { [index]: extack text } }
  Napi::Object Outcome(Napi::Env env) const;

  int protocol_;
  MessageBatch batch_;
  std::vector<int32_t> errnos_;
  std::vector<std::pair<uint32_t, std::string>> messages_;
};

class NetlinkSendJob : public NetlinkRequestsJob {
 public:
  NetlinkSendJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends, SendOptions opts);

  void Execute() override;
  // { errnos: Int32Array (-1: not sent), messages: { [index]: extack text }, replies?: { [index]: Buffer } }
  Napi::Value Result(Napi::Env env) override;
  // Optional: the number of requests the kernel acknowledged with 0 (applied) so far is stored
  // in progress[0] while the job runs (progress.h).
  void TrackProgress(const Napi::Value& progress) { progress_.Track(progress); }

 protected:
  SendOptions opts_;
  ProgressCounter progress_;
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> replies_;  // echo: the whole error reply
};

// One request and everything it is answered with, up to NLMSG_DONE or the ack. Calls
// onReply(h) for every other reply of its sequence number; sets *status (0 or errno), *ack
// (extended-ack text of a refusal, when wanted) and *interrupted (NLM_F_DUMP_INTR seen).
// false with f set when the socket failed.
template <typename OnReply>
bool Exchange(Failure& f, NetlinkSocket& s, uint8_t* req, size_t len, std::vector<char>& buf, int* status,
              std::string* ack, bool* interrupted, OnReply&& onReply) {
  auto* h = reinterpret_cast<nlmsghdr*>(req);
  const uint32_t seq = s.seq++;
  // A dump ends with NLMSG_DONE; a GET is acked after its reply, so both have an end.
  s.Stamp(h, seq, (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP ? 0 : NLM_F_ACK);
  if (!NetlinkSend(f, s.fd, req, len)) return false;
  *status = 0;
  for (;;) {
    long n = NetlinkReceive(f, s.fd, buf, 0);
    if (n < 0) return false;
    int left = static_cast<int>(n);
    for (auto* m = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(m, left); m = NLMSG_NEXT(m, left)) {
      if (m->nlmsg_seq != seq) continue;  // stale
      if (m->nlmsg_flags & NLM_F_DUMP_INTR) *interrupted = true;
      if (m->nlmsg_type == NLMSG_DONE) {
        if (m->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)) {
          int e;
          memcpy(&e, NLMSG_DATA(m), sizeof e);
          if (e < 0) *status = -e;
        }
        return true;
      }
      if (m->nlmsg_type == NLMSG_ERROR) {
        *status = -static_cast<nlmsgerr*>(NLMSG_DATA(m))->error;
        if (*status != 0 && ack != nullptr) *ack = NetlinkExtAck(m);
        return true;
      }
      onReply(m);
    }
  }
}

// A follow-up dump per reply: for every reply message of request 0, one more request made of
// `head` (nlmsghdr + family header, as TypeScript built it) and that reply's top-level
// attribute `attr`, nested, keeping only the inner attributes whose type's bit is set in
// `keep`. A listing with every object's children (IPVS: the services, then each one's real
// servers keyed by the service's identity) is then one crossing; TypeScript decides what to
// ask, this only copies attribute bytes.
struct FollowSpec {
  std::vector<uint8_t> head;
  uint16_t attr = 0;
  uint32_t keep = 0;
};

struct DumpOptions {
  // Whole runs when the kernel's tables keep changing (NLM_F_DUMP_INTR); after the last one
  // the job fails with EINTR, kind "interrupted", unless reportInterrupted: then the last
  // run's replies resolve with `interrupted` set, for the caller to decide.
  int attempts = 5;
  bool reportInterrupted = false;
  BatchHook hook;
  FollowSpec follow;
};

class NetlinkDumpJob : public NetlinkRequestsJob {
 public:
  NetlinkDumpJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends, DumpOptions opts);
  void Execute() override;
  // { data: Buffer, sections: Uint32Array (end offsets), errnos: Int32Array, messages, interrupted, attempts }
  Napi::Value Result(Napi::Env env) override;

 private:
  // Every request of batch_ in turn, then the follow-ups; false with failure set.
  bool RunAll(NetlinkSocket& s);
  // One request and everything it is answered with, up to NLMSG_DONE or the ack: one section.
  bool Run(NetlinkSocket& s, uint8_t* req, size_t len);
  bool Follow(NetlinkSocket& s, size_t end);

  DumpOptions opts_;
  int ran_ = 0;
  std::unique_ptr<std::vector<uint8_t>> out_;
  std::vector<uint32_t> sectionEnds_;
  bool interrupted_ = false;
  std::vector<char> recv_;
};

// The argument checks and options of netlinkSend / netlinkDump, shared with the subsystems whose
// own entry points add a hook: info[at] and info[at + 1] are the bytes and their ends,
// info[at + 2] the options; base carries what the caller set already. Returns the promise (or
// undefined with a TypeError thrown).
Napi::Value SubmitSend(const Napi::CallbackInfo& info, int protocol, size_t at, SendOptions base, const char* usage);
Napi::Value SubmitDump(const Napi::CallbackInfo& info, int protocol, size_t at, DumpOptions base, const char* usage);

// An nfnetlink transaction: the batch (BATCH_BEGIN first, BATCH_END last, as TypeScript built
// it) goes to the kernel in one sendmsg(); the kernel runs it before sendmsg() returns and has
// queued every reply by then, so the replies are drained without waiting.
// Result: { errors: [{ index, errno, message?, offset? }], acked, firstSeq, data: Buffer }
// (data: replies other than acks, e.g. NLM_F_ECHO notifications, in order).
class NetlinkBatchJob : public Job {
 public:
  NetlinkBatchJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends);
  void Execute() override;
  Napi::Value Result(Napi::Env env) override;

 private:
  struct Refusal {
    uint32_t index;
    int err;
    std::string message;
    int64_t offset;
  };
  bool Drain(NetlinkSocket& s, uint32_t base);

  int protocol_;
  MessageBatch batch_;
  uint32_t firstSeq_ = 0;
  uint32_t acked_ = 0;
  std::vector<Refusal> refusals_;
  std::unique_ptr<std::vector<uint8_t>> data_;
};

}  // namespace nlkit
