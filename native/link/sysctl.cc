// sysctls of the handle's namespace: /proc/sys files read and written on the handle's worker
// thread, because /proc/sys/net shows the network namespace of the task that looks it up (the
// worker entered the handle's namespace once; the JS thread and libuv's pool did not).
//   sysctlRead(worker, path) -> Promise<string>; sysctlWrite(worker, path, value) -> Promise<void>
// The path was built and checked in TypeScript (lib/link/sysctl.ts); failures are the errno.
#include <napi.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "../core/job.h"
#include "../core/open_file.h"
#include "../core/worker.h"

namespace nlkit {
namespace {

class SysctlJob : public Job {
 public:
  SysctlJob(Napi::Env env, std::string path, bool write, std::string value)
      : Job(env), path_(std::move(path)), write_(write), value_(std::move(value)) {}

  void Execute() override {
    std::string why;
    int fd = OpenRegularFile(path_, write_ ? O_WRONLY : O_RDONLY, 0, &why);
    if (fd < 0) {
      Fail(errno, why.empty() ? "cannot open " + path_ : why);
      return;
    }
    if (write_) {
      // One write(): the kernel parses the whole value at offset 0, as sysctl(8) writes it.
      ssize_t n = write(fd, value_.data(), value_.size());
      if (n < 0) Fail(errno, "cannot write " + path_);
      else if (static_cast<size_t>(n) != value_.size()) Fail(EINVAL, "short write to " + path_);
    } else {
      char buf[4096];
      for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          Fail(errno, "cannot read " + path_);
          break;
        }
        if (n == 0 || out_.size() > (1 << 20)) break;
        out_.append(buf, static_cast<size_t>(n));
      }
    }
    close(fd);
  }

  Napi::Value Result(Napi::Env env) override {
    return write_ ? env.Undefined() : Napi::String::New(env, out_);
  }

 private:
  void Fail(int err, const std::string& what) {
    failure.err = err;
    failure.message = what + ": " + strerror(err);
  }
  std::string path_;
  bool write_;
  std::string value_;
  std::string out_;
};

bool Args(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  bool ok = info.Length() >= n && Worker::Unwrap(info[0]) != nullptr;
  for (size_t i = 1; ok && i < n; i++) ok = info[i].IsString();
  if (ok) {
    std::string p = info[1].As<Napi::String>().Utf8Value();
    ok = p.rfind("/proc/sys/", 0) == 0 && p.find("/..") == std::string::npos;
  }
  if (!ok) Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
  return ok;
}

}  // namespace

Napi::Value SysctlRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, 2, "sysctlRead(worker, '/proc/sys/...')")) return env.Undefined();
  return Worker::Unwrap(info[0])->Submit(env, new SysctlJob(env, info[1].As<Napi::String>(), false, ""));
}

Napi::Value SysctlWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, 3, "sysctlWrite(worker, '/proc/sys/...', value)")) return env.Undefined();
  return Worker::Unwrap(info[0])->Submit(
      env, new SysctlJob(env, info[1].As<Napi::String>(), true, info[2].As<Napi::String>()));
}

}  // namespace nlkit
