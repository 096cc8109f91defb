// The exchanges a subsystem that builds its own netlink messages has with the kernel, over
// its worker thread's socket (native/netlink/socket.h):
//   NetlinkSendJob:  many requests sent pipelined in large sendmsg() chunks, acknowledgements
//                    collected with recvmmsg(): one errno (and extended-ack text) per request.
//   NetlinkBatchJob: an nfnetlink transaction (BATCH_BEGIN .. messages .. BATCH_END) in ONE
//                    sendmsg(), so the kernel applies all of it or none; every error reply is
//                    mapped to the index of the message it refuses (batch.cc).
//   NetlinkQueryJob: requests answered with data (dumps and GETs) run one after another; every
//                    reply message is returned in one buffer, split into one section per request.
//   NetlinkDumpJob:  a NetlinkQueryJob whose whole run is restarted when a reply carries
//                    NLM_F_DUMP_INTR, a bounded number of times.
// The subsystem opens its socket and checks its batch in Prepare(), on the worker thread.
#pragma once
#include <napi.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

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

// (worker, Uint8Array, Uint32Array, ...): how every batch call starts.
bool IsWorkerBatch(const Napi::CallbackInfo& info, int first = 0);

// Every message's nlmsg_len matches its end offset (and is at least minLen).
bool CheckLengths(Failure& f, const MessageBatch& batch, size_t minLen);

struct SendOptions {
  size_t chunkMessages = 256;  // most acks in flight per sendmsg()
  // After a chunk in which the kernel refused a request with an errno not in tolerate,
  // nothing more is sent.
  bool stopOnRefusal = false;
  std::vector<int> tolerate;
  // Error replies carry the refused request (NETLINK_CAP_ACK off) and are kept whole.
  bool echo = false;
};

class NetlinkSendJob : public Job {
 public:
  NetlinkSendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, SendOptions opts);

  void Execute() override;
  // { errnos: Int32Array (-1: not sent), messages: { [index]: extack text }, replies?: { [index]: Buffer } }
  Napi::Value Result(Napi::Env env) override;
  // Optional: the number of requests the kernel acknowledged with 0 (applied) so far is stored
  // in progress[0] while the job runs (progress.h).
  void TrackProgress(const Napi::Value& progress) { progress_.Track(progress); }

 protected:
  // Opens the thread's socket and checks batch_; nullptr with failure set.
  virtual NetlinkSocket* Prepare() = 0;

  MessageBatch batch_;
  SendOptions opts_;
  ProgressCounter progress_;
  std::vector<int32_t> errnos_;
  std::vector<std::pair<uint32_t, std::string>> messages_;
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

class NetlinkQueryJob : public Job {
 public:
  // withMessages: the result carries the extended-ack text of refused requests.
  NetlinkQueryJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, bool withMessages);

  void Execute() override { RunAll(); }
  // { data: Buffer, sections: Uint32Array (end offsets), errnos: Int32Array, messages?, interrupted }
  Napi::Value Result(Napi::Env env) override;

 protected:
  // Opens the thread's socket and checks batch_; nullptr with failure set.
  virtual NetlinkSocket* Prepare() = 0;
  // Every request of batch_ in turn; false with failure set.
  bool RunAll();
  // One request and everything it is answered with, up to NLMSG_DONE or the ack: one section.
  bool Run(uint8_t* req, size_t len);
  // Forgets the replies collected so far (before a dump is restarted).
  void Reset();

  MessageBatch batch_;
  std::unique_ptr<std::vector<uint8_t>> out_;
  std::vector<uint32_t> sectionEnds_;
  std::vector<int32_t> errnos_;
  bool interrupted_ = false;

 private:
  bool withMessages_;
  NetlinkSocket* socket_ = nullptr;
  std::vector<char> recv_;
  std::vector<std::pair<uint32_t, std::string>> messages_;
};

// A query on a protocol's thread socket whose whole run restarts when the kernel's tables
// changed during it (NLM_F_DUMP_INTR); after `attempts` interrupted runs it fails with
// EINTR, kind "interrupted". Result as NetlinkQueryJob's, plus `attempts`.
class NetlinkDumpJob : public NetlinkQueryJob {
 public:
  NetlinkDumpJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends, int attempts);
  void Execute() override;
  Napi::Value Result(Napi::Env env) override;

 protected:
  NetlinkSocket* Prepare() override;

 private:
  int protocol_;
  int attempts_;
  int ran_ = 0;
};

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
