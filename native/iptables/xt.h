// libxtables glue: one process-wide lock around all of libxtables' global state, its
// initialisation with our own xtables_globals, exit_err turned into a longjmp back to the
// caller, and capture of what extensions print to C's stdout/stderr.
#pragma once
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include <xtables.h>
}

namespace nlkit {
namespace ipt {

// Everything that touches libxtables (parsing, the extensions' save/print functions, getopt
// state, the stdout/stderr swaps) holds this lock.
std::mutex& XtMutex();

// Initialises libxtables once (caller holds XtMutex) and selects the family for what
// follows: NFPROTO_IPV4 or NFPROTO_IPV6. Returns false with a message when it cannot.
bool XtUse(int nfproto, std::string* error);
int XtFamily();

// exit_err lands here: the message is recorded and control returns to the setjmp of the
// innermost XtTry. Frames between XtTry's setjmp and the failing call must be plain C.
struct XtJump {
  jmp_buf buf;
  char message[1024];
  int status;
};
extern XtJump* g_xt_jump;

// Redirects glibc's stdout and stderr to memory buffers for its lifetime (caller holds
// XtMutex). Node writes through libuv, not through C's FILE objects, so nothing of its own
// is captured; fd 1 and fd 2 are never touched.
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

// Call before libxtables looks up the extension `name` for `nfproto` (caller holds
// XtMutex): makes sure this family's variants of its plugin are registered even when the
// other family loaded the plugin first.
void EnsurePlugin(const char* name, int nfproto);

}  // namespace ipt
}  // namespace nlkit
