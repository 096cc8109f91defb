// Sends netlink messages that TypeScript built (ipset's nfnetlink protocol) and collects
// the kernel's acknowledgements, on the handle's thread and in its namespace. Each message
// is acknowledged before the next goes out; the first refusal stops the batch.
#include <napi.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "../common/batch.h"
#include "../common/netlink.h"
#include "../common/worker.h"

namespace nlkit {
namespace {

constexpr int kAttrLineno = 9;  // IPSET_ATTR_LINENO, top level of an ipset message

// One socket per worker thread: the thread lives in the handle's namespace, and so does
// the socket it opens.
struct NetfilterSocket {
  int fd = -1;
  uint32_t seq = 0;
  ~NetfilterSocket() {
    if (fd >= 0) close(fd);
  }
  int Open() {
    if (fd >= 0) return 0;
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return errno;
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int e = errno;
      close(fd);
      fd = -1;
      return e;
    }
    int size = 4 << 20;  // room for the kernel's echo of a large refused message
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    return 0;
  }
};
thread_local NetfilterSocket t_socket;

// The lineno the kernel wrote into its echo of the refused request (ipset's batch errors).
uint32_t EchoedLineno(const nlmsgerr* err, size_t avail) {
  const nlmsghdr* req = &err->msg;
  if (avail < sizeof(nlmsgerr) || req->nlmsg_len > avail - offsetof(nlmsgerr, msg)) return 0;
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  const char* base = reinterpret_cast<const char*>(req);
  while (off + NLA_HDRLEN <= req->nlmsg_len) {
    auto* a = reinterpret_cast<const nlattr*>(base + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > req->nlmsg_len) break;
    if ((a->nla_type & NLA_TYPE_MASK) == kAttrLineno && a->nla_len >= NLA_HDRLEN + 4) {
      uint32_t v;
      memcpy(&v, base + off + NLA_HDRLEN, 4);
      return v;
    }
    off += NLA_ALIGN(a->nla_len);
  }
  return 0;
}

class SendJob : public Job {
 public:
  SendJob(Napi::Env env, Napi::Uint8Array data, Napi::Uint32Array ends)
      : Job(env),
        batch_(data, ends) {}

  void Execute() override {
    if (int e = t_socket.Open()) {
      failure.err = e;
      failure.message = std::string("cannot open a netfilter netlink socket: ") + strerror(e);
      return;
    }
    if (!batch_.Check(failure, NLMSG_HDRLEN)) return;
    std::vector<char> reply(1 << 16);
    size_t start = 0;
    for (uint32_t end : batch_.ends) {
      auto* nlh = reinterpret_cast<nlmsghdr*>(batch_.bytes + start);
      uint32_t seq = ++t_socket.seq;
      nlh->nlmsg_seq = seq;
      nlh->nlmsg_pid = 0;
      if (!NetlinkSend(failure, t_socket.fd, nlh, end - start)) return;
      if (reply.size() < end - start + 4096) reply.resize(end - start + 4096);
      int status = Await(seq, reply);
      if (status < 0) return;  // failure recorded
      if (status > 0) {
        errno_ = status;
        return;
      }
      acked_++;
      start = end;
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("acked", Napi::Number::New(env, acked_));
    r.Set("errno", Napi::Number::New(env, errno_));
    r.Set("lineno", Napi::Number::New(env, lineno_));
    return r;
  }

 private:
  // 0: acknowledged; >0: the kernel's errno; <0: transport failure (recorded).
  int Await(uint32_t seq, std::vector<char>& buf) {
    for (;;) {
      ssize_t n = recv(t_socket.fd, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        failure.err = errno;
        failure.message = std::string("netlink receive: ") + strerror(errno);
        return -1;
      }
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR) continue;  // stale or not an ack
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (err->error == 0) return 0;
        lineno_ = EchoedLineno(err, h->nlmsg_len - NLMSG_HDRLEN);
        return -err->error;
      }
    }
  }

  MessageBatch batch_;
  uint32_t acked_ = 0;
  int errno_ = 0;
  uint32_t lineno_ = 0;
};

}  // namespace

// ipsetSend(worker, bytes, ends): sends the messages bytes[ends[i-1]..ends[i]) in order.
Napi::Value IpsetSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Worker* w = Worker::Unwrap(info[0]);
  if (w == nullptr || !info[1].IsTypedArray() || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "ipsetSend(worker, Uint8Array, Uint32Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return w->Submit(env, new SendJob(env, info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>()));
}

}  // namespace nlkit
