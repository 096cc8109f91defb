// What both rule compilers (Compile, the port of iptables' do_parse, and FastCompile, the
// path without getopt) share: option bits, extension initialisation, target lookup, and
// which extensions compile from the text alone. Inside XtRun.
#pragma once
#include "xt.h"  // first: xtables.h brings net/if.h, which must precede linux/if.h

#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "parse.h"

namespace nlkit {
namespace ipt {
namespace compile {

struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};

enum : unsigned {
  OPT_NONE = 0,
  OPT_NUMERIC = 1 << 0,
  OPT_SOURCE = 1 << 1,
  OPT_DESTINATION = 1 << 2,
  OPT_PROTOCOL = 1 << 3,
  OPT_JUMP = 1 << 4,
  OPT_VERBOSE = 1 << 5,
  OPT_EXPANDED = 1 << 6,
  OPT_VIANAMEIN = 1 << 7,
  OPT_VIANAMEOUT = 1 << 8,
  OPT_LINENUMBERS = 1 << 9,
  OPT_COUNTERS = 1 << 10,
  OPT_FRAGMENT = 1 << 11,
};

// argv as getopt and the extensions' parsers take it: the program name, then the words, as
// writable strings in `storage` (both reused from line to line).
inline void MakeArgv(int nfproto, const Tokens& tokens, std::string* storage, std::vector<char*>* argv) {
  const char* prog = nfproto == NFPROTO_IPV6 ? "ip6tables-restore" : "iptables-restore";
  size_t plen = strlen(prog) + 1;
  storage->assign(prog, plen);
  storage->append(tokens.buf);
  argv->assign(tokens.size() + 2, nullptr);
  (*argv)[0] = &(*storage)[0];
  for (size_t i = 0; i < tokens.size(); i++) (*argv)[i + 1] = &(*storage)[plen + tokens.starts[i]];
}

void xs_init_target(struct xtables_target* target);
void xs_init_match(struct xtables_match* match);

// xtables_find_target with XTF_TRY_LOAD, skipping the plugin search for names that have
// no plugin file (chain names): the result is the same, NULL.
struct xtables_target* FindTargetTry(const char* name, int nfproto);

// Whether an extension's parse depends on nothing but the text (its compiled bytes may be
// reused for the same text later); remembered by name pointer.
bool PureExtension(const char* name, bool target);

}  // namespace compile
}  // namespace ipt
}  // namespace nlkit
