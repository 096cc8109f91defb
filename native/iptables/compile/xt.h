// libxtables glue: one process-wide lock around all of libxtables' global state, its
// initialisation with our own xtables_globals, exit_err turned into a longjmp back to a
// guard, and capture of what extensions print to C's stdout/stderr.
#pragma once
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string>
#include <vector>

#include "../../core/stdio_lock.h"

extern "C" {
#include <xtables.h>
}

namespace nlkit {
namespace ipt {

// The family XtRun selected: NFPROTO_IPV4 or NFPROTO_IPV6.
int XtFamily();
// A protocol number's name as iptables prints it (its table, then /etc/protocols unless nolookup).
const char* proto_to_name(uint16_t proto, int nolookup);

// exit_err lands here: the message is recorded and control returns to the setjmp of the
// innermost guard. Frames between a guard's setjmp and the failing call must be plain C.
struct XtJump {
  jmp_buf buf;
  char message[1024];
  int status;
};
extern XtJump* g_xt_jump;

class StdioCapture;

// The only way into libxtables (parsing, the extensions' save/print functions, getopt state,
// the stdout/stderr swaps): runs `body` holding the lock on its global state, with C's
// stderr (and stdout when asked) captured and libxtables initialised for `nfproto`, under a
// guard of its own. Finer guards inside catch the errors they expect; an exit_err none of
// them catches (a libxtables error where none was expected) ends `body` there and returns
// false with the message in *fatal. Frames left that way are not unwound (what they held is
// lost), but the lock, the capture and libxtables' parse state are put right here: the job
// fails, nothing aborts.
bool XtRun(int nfproto, bool captureStdout, void (*body)(void* ctx, StdioCapture& capture), void* ctx,
           std::string* fatal);
template <typename F>
bool XtRun(int nfproto, bool captureStdout, F&& body, std::string* fatal) {
  return XtRun(
      nfproto, captureStdout, [](void* ctx, StdioCapture& c) { (*static_cast<F*>(ctx))(c); }, &body, fatal);
}

// Redirects glibc's stdout and stderr to memory buffers for its lifetime (made by XtRun).
// Node writes through libuv, not through C's FILE objects, so nothing of its own is
// captured; fd 1 and fd 2 are never touched.
class StdioCapture {
 public:
  explicit StdioCapture(bool captureStdout = true);
  ~StdioCapture();
  // What was printed to stdout so far (flushes first).
  std::string TakeOut();
  // Lines printed to stderr (warnings, notices).
  std::vector<std::string> TakeErr();
  FILE* out() const { return out_; }

 private:
  std::unique_lock<std::mutex> lock_;  // first member: held until the streams are restored
  FILE* savedOut_ = nullptr;
  FILE* savedErr_ = nullptr;
  FILE* out_ = nullptr;
  FILE* err_ = nullptr;
  char* outBuf_ = nullptr;
  size_t outLen_ = 0;
  char* errBuf_ = nullptr;
  size_t errLen_ = 0;
  size_t outTaken_ = 0;
  size_t errTaken_ = 0;
};

// True when an extension plugin of this name may exist in the xtables directory (libxt_,
// libipt_ or libip6t_ prefix), so that names which cannot be extensions (chain names) skip
// libxtables' search. Conservative: true when the directory cannot be read.
bool PluginMayExist(const char* name, int nfproto);

// Call before libxtables looks up the extension `name` for `nfproto` (inside XtRun): makes
// sure this family's variants of its plugin are registered even when the other family
// loaded the plugin first.
void EnsurePlugin(const char* name, int nfproto);

}  // namespace ipt
}  // namespace nlkit
