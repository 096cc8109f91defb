// The two exchanges a subsystem that builds its own netlink messages has with the kernel,
// over its worker thread's socket (generic netlink for IPVS, rtnetlink for link):
//   NetlinkSendJob:  many requests sent in large sendmsg() chunks, acknowledgements collected
//                    with recvmmsg(): one errno (and the kernel's extended-ack text) per request.
//   NetlinkQueryJob: requests answered with data (dumps and GETs) run one after another; every
//                    reply message is returned in one buffer, split into one section per request.
// The subsystem opens its socket and checks its batch in Prepare(), on the worker thread.
#pragma once
#include <napi.h>
#include <linux/netlink.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "batch.h"
#include "job.h"

namespace nlkit {

// A worker thread's netlink socket: the thread lives in the handle's namespace, and so does
// the socket it opens.
struct NetlinkSocket {
  explicit NetlinkSocket(uint32_t firstSeq) : seq(firstSeq) {}

  int fd = -1;
  uint32_t seq;
  int type = -1;  // every request's nlmsg_type (a generic netlink family id); -1: as built

  // Buffers large enough for a chunk of acks in flight and for a dump's replies.
  void SizeBuffers() const;
  // The kernel's own words in errors (extended acks), without the request echoed back.
  void AskExtAcks() const;
  void Stamp(nlmsghdr* h, uint32_t s, uint16_t extraFlags) const;
};

// (worker, Uint8Array, Uint32Array, ...): how every batch call starts.
bool IsWorkerBatch(const Napi::CallbackInfo& info);

class NetlinkSendJob : public Job {
 public:
  // chunkMessages: most acks in flight per sendmsg(). stopOnRefusal: after a chunk in which
  // the kernel refused a request with an errno not in tolerate, nothing more is sent.
  NetlinkSendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends, size_t chunkMessages,
                 bool stopOnRefusal, std::vector<int> tolerate = {});

  void Execute() override;
  // { errnos: Int32Array (-1: not sent), messages: { [index]: extack text } }
  Napi::Value Result(Napi::Env env) override;

 protected:
  // Opens the thread's socket and checks batch_; nullptr with failure set.
  virtual NetlinkSocket* Prepare() = 0;

  MessageBatch batch_;

 private:
  size_t chunkMessages_;
  bool stopOnRefusal_;
  std::vector<int> tolerate_;
  std::vector<int32_t> errnos_;
  std::vector<std::pair<uint32_t, std::string>> messages_;
};

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

  MessageBatch batch_;
  std::unique_ptr<std::vector<uint8_t>> out_;
  std::vector<uint32_t> sectionEnds_;
  std::vector<int32_t> errnos_;

 private:
  bool withMessages_;
  NetlinkSocket* socket_ = nullptr;
  std::vector<char> recv_;
  std::vector<std::pair<uint32_t, std::string>> messages_;
  bool interrupted_ = false;
};

}  // namespace nlkit
