// ipset commands run through libipset's own parser and session, exactly as `ipset restore`
// runs them: entries of one set aggregate into few netlink messages, and list/save output is
// libipset's own text. TypeScript validates and builds the command text; this file only runs
// it, captures what libipset would have printed, and stops at the first error.
#include <napi.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include <libipset/ipset.h>
#include <libipset/session.h>
#include <libipset/types.h>
}

#include "../core/stdio_lock.h"
#include "../core/args.h"
#include "../core/worker.h"

namespace nlkit {
namespace {

// libipset keeps process-wide state (registered types, a cache of set names that belongs
// to no namespace): one command text at a time per process, and a fresh session each time.
std::mutex g_libipset;
std::once_flag g_types_loaded;

struct Message {
  int type;  // enum ipset_err_type
  std::string text;
};

struct Capture {
  std::string output;
  std::vector<Message> messages;
  std::string error;
  bool failed = false;
  jmp_buf jump;
};

extern "C" int CaptureOutput(struct ipset_session*, void* p, const char* fmt, ...) {
  auto* cap = static_cast<Capture*>(p);
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return n;
  if (static_cast<size_t>(n) < sizeof small) {
    cap->output.append(small, n);
  } else {
    size_t at = cap->output.size();
    cap->output.resize(at + n + 1);
    va_start(ap, fmt);
    vsnprintf(&cap->output[at], n + 1, fmt, ap);
    va_end(ap);
    cap->output.resize(at + n);
  }
  return n;
}

// libipset's default error handlers print and exit(); these record and leave by longjmp
// instead. Only libipset's C frames lie between the jump and its target.
extern "C" int CaptureCustomError(struct ipset* ipset, void* p, int status, const char* msg, ...) {
  auto* cap = static_cast<Capture*>(p);
  if (status == 0 || msg == nullptr) return 0;
  char buf[IPSET_ERRORBUFLEN];
  va_list ap;
  va_start(ap, msg);
  vsnprintf(buf, sizeof buf, msg, ap);
  va_end(ap);
  // A session error already carries the session's report (with its "Error in line N:").
  cap->error = buf;
  cap->failed = true;
  longjmp(cap->jump, 1);
}

extern "C" int CaptureStandardError(struct ipset* ipset, void* p) {
  auto* cap = static_cast<Capture*>(p);
  struct ipset_session* session = ipset_session(ipset);
  enum ipset_err_type type = ipset_session_report_type(session);
  if (type == IPSET_ERROR) {
    cap->error = ipset_session_report_msg(session);
    cap->failed = true;
    longjmp(cap->jump, 1);
  }
  if (type != IPSET_NO_ERROR) cap->messages.push_back({type, ipset_session_report_msg(session)});
  ipset_session_report_reset(session);
  return -1;
}

// Only plain C locals here: longjmp lands in this frame.
int RunStream(struct ipset* ipset, FILE* in, Capture* cap) {
  if (setjmp(cap->jump) != 0) return -1;
  return ipset_parse_stream(ipset, in);
}

class ExecJob : public Job {
 public:
  ExecJob(Napi::Env env, std::string text, bool exist)
      : Job(env), text_(std::move(text)), exist_(exist) {}

  void Execute() override {
    std::lock_guard<std::mutex> lock(g_libipset);
    // The session's life spans a look at `stdout` at both ends (see stdio_lock.h).
    std::lock_guard<std::mutex> stdio(StdioLock());
    std::call_once(g_types_loaded, [] { ipset_load_types(); });
    struct ipset* ipset = ipset_init();
    if (ipset == nullptr) {
      failure.err = ENOMEM;
      failure.message = "libipset: cannot initialise a session";
      return;
    }
    ipset_custom_printf(ipset, CaptureCustomError, CaptureStandardError, CaptureOutput, &cap_);
    if (exist_) ipset_envopt_set(ipset_session(ipset), IPSET_ENV_EXIST);
    FILE* in = fmemopen(const_cast<char*>(text_.data()), text_.size(), "r");
    if (in == nullptr) {
      failure.err = errno;
      failure.message = "fmemopen failed";
    } else {
      RunStream(ipset, in, &cap_);
      fclose(in);
    }
    ipset_fini(ipset);
    if (cap_.failed) {
      failure.message = cap_.error;
      failure.kind = "ipset";
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("output", Napi::String::New(env, cap_.output));
    Napi::Array msgs = Napi::Array::New(env, cap_.messages.size());
    for (size_t i = 0; i < cap_.messages.size(); i++) {
      Napi::Object m = Napi::Object::New(env);
      m.Set("type", cap_.messages[i].type == IPSET_WARNING ? "warning" : "notice");
      m.Set("text", cap_.messages[i].text);
      msgs.Set(i, m);
    }
    r.Set("messages", msgs);
    return r;
  }

 private:
  std::string text_;
  bool exist_;
  Capture cap_;
};

}  // namespace

// ipsetExec(worker, text, exist): runs an ipset restore-format text on the worker.
Napi::Value IpsetExec(const Napi::CallbackInfo& info) {
  return SubmitChecked(info, info[1].IsString(), "ipsetExec(worker, text, exist)", [&] {
    return new ExecJob(info.Env(), info[1].As<Napi::String>().Utf8Value(), info[2].ToBoolean().Value());
  });
}

}  // namespace nlkit
