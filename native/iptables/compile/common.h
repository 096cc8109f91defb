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

// libxtables keeps matches and targets in twin structs (m / t, mflags / tflags, match_size /
// target_size, mfcall / tfcall): ExtKind names the fields of one, so that code handling either
// is written once (MatchKind, TargetKind).
template <typename E, typename B, B* E::*kBlob, unsigned int E::*kFlags, __u16 decltype(B::u)::*kSize,
          B** xt_option_call::*kCall, void (*kFinal)(E*), bool kIsTarget>
struct ExtKind {
  using Ext = E;
  using Blob = B;
  static constexpr bool kTarget = kIsTarget;
  static Blob*& BlobOf(Ext* e) { return e->*kBlob; }
  static unsigned int& Flags(Ext* e) { return e->*kFlags; }
  static void SetSize(Blob* b, size_t n) { b->u.*kSize = static_cast<__u16>(n); }
  static void Final(Ext* e) { kFinal(e); }
  static void Point(struct xt_option_call& cb, Ext* e) { cb.*kCall = &(e->*kBlob); }
};
using MatchKind = ExtKind<xtables_match, xt_entry_match, &xtables_match::m, &xtables_match::mflags,
                          &decltype(xt_entry_match::u)::match_size, &xt_option_call::match, xtables_option_mfcall, false>;
using TargetKind = ExtKind<xtables_target, xt_entry_target, &xtables_target::t, &xtables_target::tflags,
                           &decltype(xt_entry_target::u)::target_size, &xt_option_call::target, xtables_option_tfcall, true>;

// xs_init_match / xs_init_target of iptables: fresh udata, then the extension's own init.
template <typename K>
void InitExt(typename K::Ext* e) {
  if (e->udata_size != 0) {
    free(e->udata);
    e->udata = xtables_calloc(1, e->udata_size);
  }
  if (e->init != NULL) e->init(K::BlobOf(e));
}

template <typename K>
size_t BlobSize(const typename K::Ext* e) {
  return XT_ALIGN(sizeof(typename K::Blob)) + e->size;
}

// Where an extension's parser puts its data: `mem` (BlobSize bytes, zeroed) as its blob,
// named as the entry will carry it.
template <typename K>
void PutBlob(typename K::Ext* e, void* mem, const char* name) {
  auto* b = static_cast<typename K::Blob*>(mem);
  K::BlobOf(e) = b;
  K::SetSize(b, BlobSize<K>(e));
  strcpy(b->u.user.name, name);
  b->u.user.revision = e->revision;
}

// xtables_find_target with XTF_TRY_LOAD, skipping the plugin search for names that have
// no plugin file (chain names): the result is the same, NULL.
struct xtables_target* FindTargetTry(const char* name, int nfproto);

// Whether an extension's parse depends on nothing but the text (its compiled bytes may be
// reused for the same text later); remembered by name pointer.
bool PureExtension(const char* name, bool target);

}  // namespace compile
}  // namespace ipt
}  // namespace nlkit
