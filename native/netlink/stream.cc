// netlinkDumpStream(worker, protocol, bytes, ends, onChunk(data: Buffer, index: number), { chunkBytes?, borrow? }):
// a dump whose replies are handed to JavaScript in chunks of about chunkBytes while it runs
// (a 1M-entry conntrack table need not be held at once), through a thread-safe function with
// a bounded queue: when JS falls behind, the worker thread waits (and the kernel holds the
// rest of the dump). Resolves { chunks, errnos, messages, interrupted } after the last chunk
// was queued; lib/netlink/transport.ts waits for `chunks` deliveries before resolving, since
// the two travel on different thread-safe functions. NLM_F_DUMP_INTR cannot restart what was
// already delivered: it is reported (`interrupted`) for the caller to decide.
// borrow: the chunks are a few buffers of the job's own, used again and again: a chunk's Buffer
// is valid during onChunk only (it is detached when onChunk returns, so a kept one reads as
// empty, never as reused memory); the worker thread keeps them for its later dumps. Fresh
// memory per chunk cost a page fault per 4 KiB: 13-15% of list()'s CPU at 100k flows (perf).
#include <napi.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../core/worker.h"
#include "jobs.h"

namespace nlkit {
namespace {

constexpr size_t kMaxQueued = 4;

// The borrowed buffers of one dump: the worker takes a free one, JS gives it back after onChunk.
// Shared by the job and its queued chunks, which may outlive it.
struct Pool {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<uint8_t>> slots;
  std::vector<size_t> free;
  const size_t bytes;

  Pool(size_t n, size_t bytes) : slots(n), bytes(bytes) {
    for (size_t i = 0; i < n; i++) {
      slots[i].reserve(bytes);
      free.push_back(i);
    }
  }
  size_t Take() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !free.empty(); });
    size_t i = free.back();
    free.pop_back();
    slots[i].clear();
    return i;
  }
  void Give(size_t i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      free.push_back(i);
    }
    cv.notify_one();
  }
};

struct Chunk {
  std::vector<uint8_t> bytes;  // owned (not borrowing)
  std::shared_ptr<Pool> pool;  // borrowing: the slot's bytes
  size_t slot = 0;
  uint32_t index = 0;
  std::vector<uint8_t>& data() { return pool ? pool->slots[slot] : bytes; }
};

void DeliverChunk(Napi::Env env, Napi::Function fn, std::nullptr_t*, Chunk* c) {
  std::unique_ptr<Chunk> owned(c);
  if (c->pool == nullptr) {
    if (env == nullptr || fn.IsEmpty()) return;
    auto* vec = new std::vector<uint8_t>(std::move(c->bytes));
    Napi::Value data = Napi::Buffer<uint8_t>::New(env, vec->data(), vec->size(),
                                                  [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, vec);
    fn.Call({data, Napi::Number::New(env, c->index)});
    return;
  }
  // The slot goes back whatever onChunk did, or the worker would wait for it for ever.
  struct GiveBack {
    Chunk* c;
    ~GiveBack() { c->pool->Give(c->slot); }
  } give{c};
  if (env == nullptr || fn.IsEmpty()) return;
  std::vector<uint8_t>& v = c->data();
  Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::New(env, v.data(), v.size());
  fn.Call({data, Napi::Number::New(env, c->index)});
  napi_detach_arraybuffer(env, data.ArrayBuffer());
}

using ChunkTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Chunk, DeliverChunk>;

class StreamJob : public Job {
 public:
  StreamJob(Napi::Env env, int protocol, Napi::Uint8Array data, Napi::Uint32Array ends, Napi::Function onChunk,
            size_t chunkBytes, bool borrow)
      : Job(env), protocol_(protocol), batch_(data, ends), chunkBytes_(chunkBytes), borrow_(borrow) {
    tsfn_ = ChunkTsfn::New(env, onChunk, "nlkit.dumpStream", kMaxQueued, 1);
  }

  ~StreamJob() override {
    if (!released_) tsfn_.Release();
  }

  void Execute() override {
    NetlinkSocket* s = ThreadSocket(protocol_, failure);
    if (s == nullptr || !CheckLengths(failure, batch_, NLMSG_HDRLEN)) return Done();
    if (borrow_) {
      // The worker thread keeps its pool for its next dumps: memory the kernel mapped once (a
      // previous dump's chunks still queued for JS are given back to it as they are read).
      // Room for the queued chunks, the one JS reads and the one being filled; a slot holds a
      // chunk plus the largest message that may end it.
      thread_local std::shared_ptr<Pool> t_pool;
      const size_t bytes = chunkBytes_ + (64 << 10);
      if (t_pool == nullptr || t_pool->bytes != bytes) t_pool = std::make_shared<Pool>(kMaxQueued + 2, bytes);
      pool_ = t_pool;
    }
    std::vector<char> buf(1 << 20);
    auto fresh = [&]() {
      auto c = std::make_unique<Chunk>();
      if (pool_) {
        c->pool = pool_;
        c->slot = pool_->Take();
      }
      return c;
    };
    auto chunk = fresh();
    bool closing = false;
    auto flush = [&]() {
      if (chunk->data().empty() || closing) return;
      chunk->index = chunks_;
      if (tsfn_.BlockingCall(chunk.get()) != napi_ok) {
        closing = true;  // the environment is going away: stop reading
        return;
      }
      chunk.release();
      chunks_++;
      chunk = fresh();
    };
    for (size_t i = 0; i < batch_.ends.size() && !closing; i++) {
      int status = 0;
      std::string ack;
      bool ok = Exchange(failure, *s, batch_.bytes + batch_.begin(i), batch_.ends[i] - batch_.begin(i), buf, &status, &ack,
                         &interrupted_, [&](const nlmsghdr* m) {
                           const auto* p = reinterpret_cast<const uint8_t*>(m);
                           std::vector<uint8_t>& d = chunk->data();
                           d.insert(d.end(), p, p + NLMSG_ALIGN(m->nlmsg_len));
                           if (d.size() >= chunkBytes_) flush();
                         });
      if (!ok) break;
      errnos_.push_back(status);
      if (!ack.empty()) messages_.emplace_back(static_cast<uint32_t>(i), std::move(ack));
    }
    flush();
    if (chunk->pool) chunk->pool->Give(chunk->slot);  // the unsent last one (empty, or closing)
    if (closing && !failure.set()) {
      failure.err = ECANCELED;
      failure.kind = "closed";
      failure.message = "dump stopped: the environment is shutting down";
    }
    Done();
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("chunks", Napi::Number::New(env, chunks_));
    Napi::Int32Array e = Napi::Int32Array::New(env, errnos_.size());
    for (size_t k = 0; k < errnos_.size(); k++) e[k] = errnos_[k];
    r.Set("errnos", e);
    Napi::Object m = Napi::Object::New(env);
    for (auto& [idx, text] : messages_) m.Set(idx, Napi::String::New(env, text));
    r.Set("messages", m);
    r.Set("interrupted", Napi::Boolean::New(env, interrupted_));
    return r;
  }

 private:
  // No more chunks: the worker thread lets go of the thread-safe function.
  void Done() {
    released_ = true;
    tsfn_.Release();
  }

  int protocol_;
  MessageBatch batch_;
  size_t chunkBytes_;
  bool borrow_;
  std::shared_ptr<Pool> pool_;
  ChunkTsfn tsfn_;
  bool released_ = false;
  uint32_t chunks_ = 0;
  bool interrupted_ = false;
  std::vector<int32_t> errnos_;
  std::vector<std::pair<uint32_t, std::string>> messages_;
};

}  // namespace

Napi::Value NetlinkDumpStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "netlinkDumpStream(worker, protocol, Uint8Array, Uint32Array, onChunk, { chunkBytes? })";
  bool ok = info.Length() >= 5 && Worker::Unwrap(info[0]) != nullptr && info[1].IsNumber() &&
            KnownProtocol(info[1].As<Napi::Number>().Int32Value()) && info[2].IsTypedArray() && info[3].IsTypedArray() &&
            info[2].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array &&
            info[3].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array && info[4].IsFunction();
  if (!ok) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t chunkBytes = 1 << 20;
  bool borrow = false;
  if (info.Length() > 5 && info[5].IsObject()) {
    Napi::Value c = info[5].As<Napi::Object>().Get("chunkBytes");
    if (c.IsNumber() && c.As<Napi::Number>().Int64Value() > 0) chunkBytes = static_cast<size_t>(c.As<Napi::Number>().Int64Value());
    borrow = info[5].As<Napi::Object>().Get("borrow").ToBoolean();
  }
  return Worker::Unwrap(info[0])->Submit(
      env, new StreamJob(env, info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Uint8Array>(),
                         info[3].As<Napi::Uint32Array>(), info[4].As<Napi::Function>(), chunkBytes, borrow));
}

}  // namespace nlkit
