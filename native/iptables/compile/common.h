// What both rule compilers (Compile, the port of iptables' do_parse, and FastCompile, the
// path without getopt) share: the generic options (bits, letters, `!` flags), extension
// initialisation, target lookup, and
// which extensions compile from the text alone. Inside XtRun.
#pragma once
#include "xt.h"  // first: xtables.h brings net/if.h, which must precede linux/if.h

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include <array>
#include <string>
#include <vector>

#include "parse.h"

namespace nlkit {
namespace ipt {
namespace compile {

struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};

// iptables' generic options (xshared.h OPT_*) in bit order, each with the letter iptables names
// it by (xshared.c optflags) and the flag a `!` before it sets (inverse_for_options; 0: `!` is
// not allowed). Both compilers take the bits, letters and flags from this one table.
struct OptionDef {
  char letter;
  uint16_t inv;
};
inline constexpr OptionDef kOptions[] = {
    {'n', 0}, {'s', IPT_INV_SRCIP}, {'d', IPT_INV_DSTIP}, {'p', XT_INV_PROTO}, {'j', 0}, {'v', 0},
    {'x', 0}, {'i', IPT_INV_VIA_IN}, {'o', IPT_INV_VIA_OUT}, {'0', 0}, {'c', 0}, {'f', IPT_INV_FRAG},
};
inline constexpr int kNumberOfOpt = sizeof kOptions / sizeof kOptions[0];

// kOptions' index by letter (-1: none): the fast path looks an option up per word.
inline constexpr std::array<int8_t, 128> kOptionByLetter = [] {
  std::array<int8_t, 128> t{};
  for (auto& x : t) x = -1;
  for (int i = 0; i < kNumberOfOpt; i++) t[static_cast<unsigned char>(kOptions[i].letter)] = static_cast<int8_t>(i);
  return t;
}();

// Where the option iptables names `letter` stands in kOptions (its bit), or -1.
constexpr int OptIndex(char letter) {
  return static_cast<unsigned char>(letter) < 128 ? kOptionByLetter[static_cast<unsigned char>(letter)] : -1;
}

// The bit of the option iptables names by `letter` (-s: kOpt<'s'>), where xshared.h names it
// OPT_SOURCE; a letter not in kOptions does not compile.
template <char letter>
inline constexpr unsigned kOpt = 1u << OptIndex(letter);

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
