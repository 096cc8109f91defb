// Named network namespaces as iproute2's `ip netns add/delete` makes them (ip/ipnetns.c):
// /run/netns is made a shared mount point (bound onto itself first when it is not a mount
// point), /run/netns/NAME is created, and a namespace is bind-mounted on it. Runs on a libuv
// pool thread, which itself never changes namespace: unshare(CLONE_NEWNET) happens on a
// short-lived thread of its own, whose namespace file is the one bind-mounted.
//   netnsAdd(name) -> Promise<void>; netnsDelete(name) -> Promise<void>
// Rejections are the one failure record ({ nativeFailure, errno, message, kind: 'netnsfile' }).
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "../core/job.h"

namespace nlkit {
namespace {

const char kRunDir[] = "/run/netns";

// The one failure record (native/core/job.h), kind "netnsfile".
struct Outcome : Failure {
  void Fail(int e, const std::string& what) {
    err = e;
    message = what + ": " + strerror(e);
    kind = "netnsfile";
  }
};

// What `ip netns add` does before creating the file: the directory, shared propagation.
bool PrepareRunDir(Outcome* o) {
  if (mkdir(kRunDir, 0755) != 0 && errno != EEXIST) {
    o->Fail(errno, std::string("cannot create ") + kRunDir);
    return false;
  }
  // iproute2 takes this lock since 5.10: parallel `ip netns add` runs otherwise stack bind
  // mounts of /run/netns onto itself (Debian bug 949235). Without the lock it proceeds, as ip does.
  int lock = open(kRunDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock < 0) {
    o->Fail(errno, std::string("cannot open ") + kRunDir);
    return false;
  }
  if (flock(lock, LOCK_EX) != 0) {
    close(lock);
    lock = -1;
  }
  struct Unlock {
    int fd;
    ~Unlock() {
      if (fd >= 0) close(fd);  // closing releases the flock
    }
  } unlock{lock};
  bool bound = false;
  while (mount("", kRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || bound) {
      o->Fail(errno, std::string("cannot make ") + kRunDir + " a shared mount point");
      return false;
    }
    if (mount(kRunDir, kRunDir, "none", MS_BIND | MS_REC, nullptr) != 0) {
      o->Fail(errno, std::string("cannot bind ") + kRunDir + " onto itself");
      return false;
    }
    bound = true;
  }
  return true;
}

// On a thread of its own: a new network namespace for this thread only, bound onto path.
void BindNewNamespace(const std::string& path, Outcome* o) {
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      o->Fail(errno, "cannot create a network namespace");
      return;
    }
    std::string self = "/proc/self/task/" + std::to_string(static_cast<long>(syscall(SYS_gettid))) + "/ns/net";
    if (mount(self.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
      o->Fail(errno, "cannot bind the namespace onto " + path);
    }
  });
  t.join();
}

class NetnsJob : public Napi::AsyncWorker {
 public:
  NetnsJob(Napi::Env env, std::string name, bool add)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), name_(std::move(name)), add_(add) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::string path = std::string(kRunDir) + "/" + name_;
    if (!add_) {
      // As `ip netns delete`: detach the mount (busy is fine), then remove the file.
      umount2(path.c_str(), MNT_DETACH);
      if (unlink(path.c_str()) != 0) o_.Fail(errno, "cannot remove namespace file " + path);
      return;
    }
    if (!PrepareRunDir(&o_)) return;
    int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0) {
      o_.Fail(errno, "cannot create namespace file " + path);
      return;
    }
    close(fd);
    BindNewNamespace(path, &o_);
    if (o_.err != 0) unlink(path.c_str());
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (o_.err == 0) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    deferred_.Reject(FailureValue(env, o_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string name_;
  bool add_;
  Outcome o_;
};

Napi::Value Run(const Napi::CallbackInfo& info, bool add) {
  Napi::Env env = info.Env();
  // The name was checked in TypeScript; this only guards the path.
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "netns: expected a name").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    Napi::TypeError::New(env, "netns: invalid name").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* job = new NetnsJob(env, name, add);
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

}  // namespace

Napi::Value NetnsAdd(const Napi::CallbackInfo& info) { return Run(info, true); }
Napi::Value NetnsDelete(const Napi::CallbackInfo& info) { return Run(info, false); }

}  // namespace nlkit
