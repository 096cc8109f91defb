// netlinkSubscribe(worker, protocol, groups[], { rcvbuf? }): resolves the fd of a socket bound
// and joined to `groups`, opened by a job on the handle's worker thread.
// netlinkListen(fd, onData(data: Buffer, overrun: boolean)): a Listener that owns the fd and
// reads it on its own thread: every datagram waiting is gathered into one batch (up to
// kBatchBytes) and delivered to onData on the JS thread. ENOBUFS (the kernel dropped events
// because the socket's buffer was full, e.g. while JS was busy) is reported as overrun=true
// with the next batch. close() stops the thread and the deliveries; so does the environment's
// teardown, without calling into JavaScript.
#include "subscribe.h"

#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../core/worker.h"
#include "socket.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace nlkit {
namespace {

constexpr size_t kBatchBytes = 1 << 20;  // one delivery to JS at most
constexpr size_t kMaxQueued = 16;        // deliveries waiting for JS before the reader waits

class OpenJob : public Job {
 public:
  OpenJob(Napi::Env env, int protocol, std::vector<uint32_t> groups, int rcvbuf)
      : Job(env), protocol_(protocol), groups_(std::move(groups)), rcvbuf_(rcvbuf) {}

  void Execute() override {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol_);
    if (fd_ < 0) return Fail("cannot open a netlink socket for events");
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fail("cannot bind a netlink socket for events");
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf_, sizeof rcvbuf_) != 0)
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
    for (uint32_t g : groups_) {
      if (setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) != 0)
        return Fail("cannot join netlink group " + std::to_string(g));
    }
  }

  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, fd_); }

  ~OpenJob() override {
    if (failure.set() && fd_ >= 0) close(fd_);
  }

 private:
  void Fail(const std::string& what) {
    failure.err = errno;
    failure.message = what + ": " + strerror(errno);
  }
  int protocol_;
  std::vector<uint32_t> groups_;
  int rcvbuf_;
  int fd_ = -1;
};

struct Delivery {
  std::vector<uint8_t> bytes;
  bool overrun = false;
};

class Listener;
void Deliver(Napi::Env env, Napi::Function fn, Listener* self, Delivery* d);

class Listener : public Napi::ObjectWrap<Listener> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Listener", {InstanceMethod<&Listener::Close>("close")});
  }

  explicit Listener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Listener>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "netlinkListen(fd, onData)").ThrowAsJavaScriptException();
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) {
      close(fd_);
      fd_ = -1;
      Napi::Error::New(env, std::string("eventfd: ") + strerror(errno)).ThrowAsJavaScriptException();
      return;
    }
    tsfn_ = Tsfn::New(env, info[1].As<Napi::Function>(), "nlkit.subscription", kMaxQueued, 1, this);
    napi_add_env_cleanup_hook(env, Cleanup, this);
    hooked_ = true;
    thread_ = std::thread([this] { Run(); });
  }

  ~Listener() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, Cleanup, this);
    Stop(true);
  }

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<Listener, Delivery, Deliver>;

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop(true);
    return info.Env().Undefined();
  }

  static void Cleanup(void* arg) {
    auto* self = static_cast<Listener*>(arg);
    self->hooked_ = false;
    self->Stop(true);
  }

  // Wakes the reader, makes a delivery it waits on return (Abort), joins it, closes the fd.
  // Deliveries still queued are freed without calling into JS.
  void Stop(bool abort) {
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    if (wake_ >= 0) {
      uint64_t one = 1;
      (void)!write(wake_, &one, sizeof one);
    }
    if (abort && tsfn_) tsfn_.Abort();
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    if (wake_ >= 0) close(wake_);
    fd_ = wake_ = -1;
  }

  void Run() {
    std::vector<char> buf(1 << 20);
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
    bool overrun = false;
    while (!stopping_.load()) {
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents) return;
      auto d = std::make_unique<Delivery>();
      for (;;) {
        ssize_t n = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == ENOBUFS) {
            overrun = true;
            continue;
          }
          break;  // EAGAIN: drained
        }
        d->bytes.insert(d->bytes.end(), buf.data(), buf.data() + n);
        if (d->bytes.size() >= kBatchBytes) break;
      }
      if (d->bytes.empty() && !overrun) continue;
      d->overrun = overrun;
      overrun = false;
      // Waits while JS has kMaxQueued deliveries pending: the socket's buffer then fills and
      // the kernel reports the loss (ENOBUFS), which reaches JS as an overrun.
      if (tsfn_.BlockingCall(d.get()) != napi_ok) return;  // closing
      d.release();
    }
  }

  friend void Deliver(Napi::Env env, Napi::Function fn, Listener* self, Delivery* d);

  Napi::Env env_;
  Tsfn tsfn_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  bool hooked_ = false;
  int fd_ = -1;
  int wake_ = -1;
};

void Deliver(Napi::Env env, Napi::Function fn, Listener* self, Delivery* d) {
  std::unique_ptr<Delivery> owned(d);
  if (env == nullptr || fn.IsEmpty()) return;  // environment or subscription going away
  auto* vec = new std::vector<uint8_t>(std::move(d->bytes));
  Napi::Value data = vec->empty()
      ? (delete vec, Napi::Buffer<uint8_t>::New(env, 0))
      : Napi::Buffer<uint8_t>::New(env, vec->data(), vec->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, vec);
  fn.Call({data, Napi::Boolean::New(env, d->overrun)});
}

Napi::Value Subscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "netlinkSubscribe(worker, protocol, groups: number[], { rcvbuf? })";
  Worker* w = info.Length() >= 3 ? Worker::Unwrap(info[0]) : nullptr;
  if (w == nullptr || !info[1].IsNumber() || !KnownProtocol(info[1].As<Napi::Number>().Int32Value()) || !info[2].IsArray()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<uint32_t> groups;
  Napi::Array a = info[2].As<Napi::Array>();
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (!v.IsNumber() || v.As<Napi::Number>().Int64Value() < 1 || v.As<Napi::Number>().Int64Value() > 0xffffffffLL) {
      Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    groups.push_back(static_cast<uint32_t>(v.As<Napi::Number>().Int64Value()));
  }
  int rcvbuf = 8 << 20;
  if (info.Length() > 3 && info[3].IsObject()) {
    Napi::Value r = info[3].As<Napi::Object>().Get("rcvbuf");
    if (r.IsNumber() && r.As<Napi::Number>().Int32Value() > 0) rcvbuf = r.As<Napi::Number>().Int32Value();
  }
  return w->Submit(env, new OpenJob(env, info[1].As<Napi::Number>().Int32Value(), std::move(groups), rcvbuf));
}

}  // namespace

void RegisterSubscribe(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkSubscribe", Napi::Function::New<Subscribe>(env, "netlinkSubscribe"));
  exports.Set("NetlinkListener", Listener::Init(env));
}

}  // namespace nlkit
