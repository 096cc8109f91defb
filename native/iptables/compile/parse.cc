// A port of iptables 1.8.9's command-line parser (iptables/xshared.c do_parse and friends,
// iptables.c/ip6tables.c do_command) for one command of an iptables-restore text. The
// extensions are the host's own libxtables plugins, so every match and target iptables
// knows parses exactly as iptables parses it.
//
// Errors leave through libxtables' exit_err, which longjmps back into Compile(): every
// function between Compile's setjmp and an error is plain C (POD locals only, memory from
// malloc that Cleanup() releases), so nothing is skipped that needed destroying.
#include "parse.h"

#include "xt.h"  // first: xtables.h brings net/if.h, which must precede linux/if.h
#include "../model/table.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <malloc.h>

#include <algorithm>
#include <memory>
#include <string_view>
#include <unordered_map>

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>


namespace nlkit {
namespace ipt {

namespace {

struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};


constexpr int kMaxArgc = 255;  // xshared.h MAX_ARGC
#ifndef XT_OPTION_OFFSET_SCALE
#define XT_OPTION_OFFSET_SCALE 256  // xtables.h, under XTABLES_INTERNAL
#endif

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

constexpr int kNumberOfCmd = 16;
constexpr int kNumberOfOpt = 18;
const char optflags[kNumberOfOpt] = {'n', 's', 'd', 'p', 'j', 'v', 'x', 'i', 'o', '0', 'c', 'f', 2, 3, 'l', 4, 5, 6};

// xshared.c commands_v_options: + compulsory, x illegal, ' ' optional.
const char commands_v_options[kNumberOfCmd][kNumberOfOpt] = {
    /*     -n  -s  -d  -p  -j  -v  -x  -i  -o --line -c -f 2 3 l 4 5 6 */
    /*INSERT*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
    /*DELETE*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', 'x', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
    /*DELETE_NUM*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*REPLACE*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
    /*APPEND*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
    /*LIST*/ {' ', 'x', 'x', 'x', 'x', ' ', ' ', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*FLUSH*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*ZERO*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*NEW_CHAIN*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*DEL_CHAIN*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*SET_POLICY*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*RENAME*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*LIST_RULES*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*ZERO_NUM*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*CHECK*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', 'x', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
};

const int inverse_for_options[kNumberOfOpt] = {
    /* -n */ 0,
    /* -s */ IPT_INV_SRCIP,
    /* -d */ IPT_INV_DSTIP,
    /* -p */ XT_INV_PROTO,
    /* -j */ 0,
    /* -v */ 0,
    /* -x */ 0,
    /* -i */ IPT_INV_VIA_IN,
    /* -o */ IPT_INV_VIA_OUT,
    /*--line*/ 0,
    /* -c */ 0,
    /* -f */ IPT_INV_FRAG,
    0, 0, 0, 0, 0, 0,
};

// IPT_OPTSTRING of xshared.h
const char kOptstring[] = "-:A:C:D:E:F::I:L::M:N:P:VX::Z::c:d:i:j:o:p:s:t:R:S::W::46bfg:h::m:nvw::x";

constexpr int kMaxMatches = 64;

// Everything do_parse/do_command keep: iptables_command_state, xtables_args and xt_cmd_parse
// in one plain struct.
struct State {
  // inputs
  int nfproto;
  const char* table;
  int argc;
  char** argv;
  IsChainFn is_chain;
  void* ctx;
  // iptables_command_state
  // cs->fw / cs->fw6 (C++ allows no flexible array member inside a struct)
  alignas(8) unsigned char fwbuf[sizeof(struct ip6t_entry)];
  int c;
  unsigned options;
  struct xtables_rule_match* matches;
  struct xtables_target* target;
  char* protocol;
  int proto_used;
  const char* jumpto;
  // xtables_args
  uint16_t proto;
  uint8_t flags;
  uint16_t invflags;
  char iniface[IFNAMSIZ], outiface[IFNAMSIZ];
  unsigned char iniface_mask[IFNAMSIZ], outiface_mask[IFNAMSIZ];
  bool goto_set;
  const char *shostnetworkmask, *dhostnetworkmask;
  const char *pcnt, *bcnt;
  void *saddrs, *smasks, *daddrs, *dmasks;
  unsigned int nsaddrs, ndaddrs;
  unsigned long long pcnt_cnt, bcnt_cnt;
  // xt_cmd_parse
  unsigned command;
  unsigned rulenum;
  const char* chain;
  const char* newname;
  const char* policy;
  int verbose;
  // which argv element is at fault, for messages
  int fault;
  int chain_tok;
  int opt_tok[kNumberOfOpt];
  int invert_tok;
  int target_tok;
  int nmatches;
  int match_tok[kMaxMatches];
  // results
  void* entry;
  unsigned entry_size;
  unsigned char* mask;
  bool jump_is_chain;
};

#define FW(st) (reinterpret_cast<struct ipt_entry*>((st)->fwbuf))
#define FW6(st) (reinterpret_cast<struct ip6t_entry*>((st)->fwbuf))
#define ERR(...) xtables_error(PARAMETER_PROBLEM, __VA_ARGS__)

bool IsV6(const State* st) { return st->nfproto == NFPROTO_IPV6; }

bool xs_has_arg(State* st) {
  return optind < st->argc && st->argv[optind][0] != '-' && st->argv[optind][0] != '!';
}

void xs_init_target(struct xtables_target* target) {
  if (target->udata_size != 0) {
    free(target->udata);
    target->udata = xtables_calloc(1, target->udata_size);
  }
  if (target->init != NULL) target->init(target->t);
}

void xs_init_match(struct xtables_match* match) {
  if (match->udata_size != 0) {
    free(match->udata);
    match->udata = xtables_calloc(1, match->udata_size);
  }
  if (match->init != NULL) match->init(match->m);
}

// Where an extension's parser puts its data: a zeroed blob in m->m / t->t, named as the
// entry will carry it.
void NewMatchBlob(struct xtables_match* m, const char* name) {
  size_t size = XT_ALIGN(sizeof(struct xt_entry_match)) + m->size;
  m->m = (struct xt_entry_match*)xtables_calloc(1, size);
  m->m->u.match_size = size;
  strcpy(m->m->u.user.name, name);
  m->m->u.user.revision = m->revision;
}

void NewTargetBlob(struct xtables_target* t, const char* name) {
  size_t size = XT_ALIGN(sizeof(struct xt_entry_target)) + t->size;
  t->t = (struct xt_entry_target*)xtables_calloc(1, size);
  t->t->u.target_size = size;
  strcpy(t->t->u.user.name, name);
  t->t->u.user.revision = t->revision;
}

// The extension's options added to getopt's table (x6 or old style), as each -m, -j and
// implicit protocol match does.
void MergeOptions(const struct xt_option_entry* x6, const struct option* extra, unsigned int* offset) {
  struct option* opts = xt_params->opts;
  if (x6 != NULL)
    opts = xtables_options_xfrm(xt_params->orig_opts, opts, x6, offset);
  else if (extra != NULL)
    opts = xtables_merge_options(xt_params->orig_opts, opts, extra, offset);
  if (opts == NULL) xtables_error(OTHER_PROBLEM, "can't alloc memory!");
  xt_params->opts = opts;
}

// xtables_find_target with XTF_TRY_LOAD, skipping the plugin search for names that have
// no plugin file (chain names): the result is the same, NULL.
struct xtables_target* FindTargetTry(const char* name, int nfproto) {
  bool standard = name[0] == '\0' || strcmp(name, "ACCEPT") == 0 || strcmp(name, "DROP") == 0 ||
                  strcmp(name, "QUEUE") == 0 || strcmp(name, "RETURN") == 0;
  if (standard) EnsurePlugin("standard", nfproto);
  if (!standard && !PluginMayExist(name, nfproto)) {
    // Loaded (already registered) targets are still found.
    for (struct xtables_target* t = xtables_targets; t; t = t->next)  // first letters first: chain names rarely share one
      if (t->name[0] == name[0] && strcmp(t->name, name) == 0) return xtables_find_target(name, XTF_TRY_LOAD);
    return NULL;
  }
  if (!standard) EnsurePlugin(name, nfproto);
  return xtables_find_target(name, XTF_TRY_LOAD);
}

struct xtables_match* find_proto(const char* pname, enum xtables_tryload tryload, int nolookup,
                                 struct xtables_rule_match** matches) {
  unsigned int proto;
  int nfproto = XtFamily();
  if (xtables_strtoui(pname, NULL, &proto, 0, UINT8_MAX)) {
    const char* protoname = proto_to_name(proto, nolookup);
    if (protoname) {
      EnsurePlugin(protoname, nfproto);
      return xtables_find_match(protoname, tryload, matches);
    }
  } else {
    EnsurePlugin(pname, nfproto);
    return xtables_find_match(pname, tryload, matches);
  }
  return NULL;
}

void NoteMatchToken(State* st, int tok) {
  if (st->nmatches < kMaxMatches) st->match_tok[st->nmatches] = tok;
  st->nmatches++;
}

bool should_load_proto(State* st) {
  if (st->protocol == NULL) return false;
  if (find_proto(st->protocol, XTF_DONT_LOAD, st->options & OPT_NUMERIC, NULL) == NULL) return true;
  return !st->proto_used;
}

struct xtables_match* load_proto(State* st) {
  if (!should_load_proto(st)) return NULL;
  return find_proto(st->protocol, XTF_TRY_LOAD, st->options & OPT_NUMERIC, &st->matches);
}

int command_default(State* st, bool invert) {
  struct xtables_target* t = st->target;
  if (t != NULL && (t->parse != NULL || t->x6_parse != NULL) && st->c >= (int)t->option_offset &&
      st->c < (int)(t->option_offset + XT_OPTION_OFFSET_SCALE)) {
    xtables_option_tpcall(st->c, st->argv, invert, t, FW(st));
    return 0;
  }
  for (struct xtables_rule_match* matchp = st->matches; matchp; matchp = matchp->next) {
    struct xtables_match* m = matchp->match;
    if (matchp->completed || (m->x6_parse == NULL && m->parse == NULL)) continue;
    if (st->c < (int)m->option_offset || st->c >= (int)(m->option_offset + XT_OPTION_OFFSET_SCALE)) continue;
    xtables_option_mpcall(st->c, st->argv, invert, m, FW(st));
    return 0;
  }
  // Try loading the protocol's match (`-p tcp --dport 80` without `-m tcp`).
  struct xtables_match* m = load_proto(st);
  if (m != NULL) {
    NoteMatchToken(st, st->fault);
    st->proto_used = 1;
    NewMatchBlob(m, m->name);
    xs_init_match(m);
    MergeOptions(m->x6_options, m->extra_opts, &m->option_offset);
    optind--;
    return 1;  // rerun getopt immediately
  }
  if (st->c == ':') ERR("option \"%s\" requires an argument", st->argv[optind - 1]);
  if (st->c == '?') ERR("unknown option \"%s\"", st->argv[optind - 1]);
  ERR("Unknown arg \"%s\"", optarg);
}

void command_match(State* st, bool invert) {
  if (invert) ERR("unexpected ! flag before --match");
  EnsurePlugin(optarg, st->nfproto);
  struct xtables_match* m = xtables_find_match(optarg, XTF_LOAD_MUST_SUCCEED, &st->matches);
  NoteMatchToken(st, st->fault);
  NewMatchBlob(m, m->real_name == NULL ? m->name : m->real_name);
  if (m->real_name != NULL && !(m->ext_flags & XTABLES_EXT_ALIAS))
    fprintf(stderr, "Notice: the %s match is converted into %s match in rule listing and saving.\n", m->name,
            m->real_name);
  xs_init_match(m);
  if (m == m->next) return;  // a clone: its options are merged already
  MergeOptions(m->x6_options, m->extra_opts, &m->option_offset);
}

const char* xt_parse_target(const char* targetname) {
  if (strlen(targetname) < 1) ERR("Invalid target name (too short)");
  if (strlen(targetname) >= XT_EXTENSION_MAXNAMELEN)
    ERR("Invalid target name `%s' (%u chars max)", targetname, XT_EXTENSION_MAXNAMELEN - 1);
  for (const char* ptr = targetname; *ptr; ptr++)
    if (isspace((unsigned char)*ptr)) ERR("Invalid target name `%s'", targetname);
  return targetname;
}

void command_jump(State* st, const char* jumpto) {
  st->jumpto = xt_parse_target(jumpto);
  struct xtables_target* t = st->target = FindTargetTry(st->jumpto, st->nfproto);
  if (t == NULL) return;
  NewTargetBlob(t, t->real_name == NULL ? st->jumpto : t->real_name);
  if (t->real_name != NULL && !(t->ext_flags & XTABLES_EXT_ALIAS))
    fprintf(stderr, "Notice: The %s target is converted into %s target in rule listing and saving.\n", st->jumpto,
            t->real_name);
  xs_init_target(t);
  MergeOptions(t->x6_options, t->extra_opts, &t->option_offset);
}

char cmd2char(int option) {
  static const char cmdflags[] = {'I', 'D', 'D', 'R', 'A', 'L', 'F', 'Z', 'N', 'X', 'P', 'E', 'S', 'Z', 'C'};
  unsigned i;
  for (i = 0; option > 1; option >>= 1, i++) {
  }
  if (i >= sizeof cmdflags) xtables_error(OTHER_PROBLEM, "cmd2char(): Invalid command number %u.", 1u << i);
  return cmdflags[i];
}

void add_command(unsigned* cmd, const int newcmd, const int othercmds, int invert) {
  if (invert) ERR("unexpected '!' flag");
  if (*cmd & (~othercmds)) ERR("Cannot use -%c with -%c", cmd2char(newcmd), cmd2char(*cmd & (~othercmds)));
  *cmd |= newcmd;
}

int parse_rulenumber(const char* rule) {
  unsigned int rulenum;
  if (!xtables_strtoui(rule, NULL, &rulenum, 1, INT_MAX)) ERR("Invalid rule number `%s'", rule);
  return rulenum;
}

char opt2char(int option) {
  const char* ptr;
  for (ptr = optflags; option > 1; option >>= 1, ptr++) {
  }
  return *ptr;
}

void set_option(State* st, unsigned int option, bool invert) {
  if (st->options & option) ERR("multiple -%c flags not allowed", opt2char(option));
  st->options |= option;
  unsigned i;
  for (i = 0; 1u << i != option; i++) {
  }
  if (i < (unsigned)kNumberOfOpt) st->opt_tok[i] = st->fault;
  if (invert) {
    if (!inverse_for_options[i]) ERR("cannot have ! before -%c", opt2char(option));
    st->invflags |= inverse_for_options[i];
  }
}

void generic_opt_check(State* st) {
  for (int i = 0; i < kNumberOfOpt; i++) {
    int legal = 0;
    for (int j = 0; j < kNumberOfCmd; j++) {
      if (!(st->command & (1u << j))) continue;
      if (!(st->options & (1u << i))) {
        if (commands_v_options[j][i] == '+')
          ERR("You need to supply the `-%c' option for this command", optflags[i]);
      } else {
        if (commands_v_options[j][i] != 'x')
          legal = 1;
        else if (legal == 0)
          legal = -1;
      }
    }
    if (legal == -1) {
      st->fault = st->opt_tok[i];
      ERR("Illegal option `-%c' with this command", optflags[i]);
    }
  }
}

void assert_valid_chain_name(State* st, const char* chainname) {
  if (strlen(chainname) >= XT_EXTENSION_MAXNAMELEN)
    ERR("chain name `%s' too long (must be under %u chars)", chainname, XT_EXTENSION_MAXNAMELEN);
  if (*chainname == '-' || *chainname == '!') ERR("chain name not allowed to start with `%c'", *chainname);
  if (FindTargetTry(chainname, st->nfproto)) ERR("chain name may not clash with target name");
  for (const char* ptr = chainname; *ptr; ptr++)
    if (isspace((unsigned char)*ptr)) ERR("Invalid chain name `%s'", chainname);
}

void check_empty_interface(const char* arg) {
  if (*arg != '\0') return;
  ERR("%s", "Empty interface is likely to be undesired");
}

void proto_parse(State* st) {
  if (IsV6(st)) {
    FW6(st)->ipv6.proto = st->proto;
    FW6(st)->ipv6.invflags = st->invflags;
    st->flags |= IP6T_F_PROTO;
    FW6(st)->ipv6.flags |= IP6T_F_PROTO;
    uint16_t p = FW6(st)->ipv6.proto;
    if ((p == IPPROTO_ROUTING || p == IPPROTO_FRAGMENT || p == IPPROTO_AH || p == IPPROTO_DSTOPTS) &&
        (FW6(st)->ipv6.invflags & XT_INV_PROTO) == 0)
      fprintf(stderr, "Warning: never matched protocol: %s. use extension match instead.\n", st->protocol);
  } else {
    FW(st)->ip.proto = st->proto;
    FW(st)->ip.invflags = st->invflags;
  }
}

void post_parse(State* st) {
  if (IsV6(st)) {
    FW6(st)->ipv6.flags = st->flags;
    FW6(st)->ipv6.invflags = st->invflags;
    memcpy(FW6(st)->ipv6.iniface, st->iniface, IFNAMSIZ);
    memcpy(FW6(st)->ipv6.iniface_mask, st->iniface_mask, IFNAMSIZ);
    memcpy(FW6(st)->ipv6.outiface, st->outiface, IFNAMSIZ);
    memcpy(FW6(st)->ipv6.outiface_mask, st->outiface_mask, IFNAMSIZ);
    if (st->goto_set) FW6(st)->ipv6.flags |= IP6T_F_GOTO;
    FW6(st)->counters.pcnt = st->pcnt_cnt;
    FW6(st)->counters.bcnt = st->bcnt_cnt;
  } else {
    FW(st)->ip.flags = st->flags;
    FW(st)->ip.invflags = st->invflags;
    memcpy(FW(st)->ip.iniface, st->iniface, IFNAMSIZ);
    memcpy(FW(st)->ip.iniface_mask, st->iniface_mask, IFNAMSIZ);
    memcpy(FW(st)->ip.outiface, st->outiface, IFNAMSIZ);
    memcpy(FW(st)->ip.outiface_mask, st->outiface_mask, IFNAMSIZ);
    if (st->goto_set) FW(st)->ip.flags |= IPT_F_GOTO;
    FW(st)->counters.pcnt = st->pcnt_cnt;
    FW(st)->counters.bcnt = st->bcnt_cnt;
  }
  if (st->command & (CMD_REPLACE | CMD_INSERT | CMD_DELETE | CMD_APPEND | CMD_CHECK)) {
    if (!(st->options & OPT_DESTINATION)) st->dhostnetworkmask = IsV6(st) ? "::0/0" : "0.0.0.0/0";
    if (!(st->options & OPT_SOURCE)) st->shostnetworkmask = IsV6(st) ? "::0/0" : "0.0.0.0/0";
  }
  if (st->shostnetworkmask) {
    st->fault = st->opt_tok[1];
    if (IsV6(st))
      xtables_ip6parse_multiple(st->shostnetworkmask, (struct in6_addr**)&st->saddrs, (struct in6_addr**)&st->smasks,
                                &st->nsaddrs);
    else
      xtables_ipparse_multiple(st->shostnetworkmask, (struct in_addr**)&st->saddrs, (struct in_addr**)&st->smasks,
                               &st->nsaddrs);
  }
  if (st->dhostnetworkmask) {
    st->fault = st->opt_tok[2];
    if (IsV6(st))
      xtables_ip6parse_multiple(st->dhostnetworkmask, (struct in6_addr**)&st->daddrs, (struct in6_addr**)&st->dmasks,
                                &st->ndaddrs);
    else
      xtables_ipparse_multiple(st->dhostnetworkmask, (struct in_addr**)&st->daddrs, (struct in_addr**)&st->dmasks,
                               &st->ndaddrs);
  }
  uint8_t inv = IsV6(st) ? FW6(st)->ipv6.invflags : FW(st)->ip.invflags;
  if ((st->nsaddrs > 1 || st->ndaddrs > 1) && (inv & (IPT_INV_SRCIP | IPT_INV_DSTIP)))
    ERR("! not allowed with multiple source or destination IP addresses");
}

// xshared.c do_parse, restore mode, for a table given up front.
void do_parse(State* st) {
  int argc = st->argc;
  char** argv = st->argv;
  bool invert = false;

  optind = 0;
  for (struct xtables_match* m = xtables_matches; m; m = m->next) m->mflags = 0;
  for (struct xtables_target* t = xtables_targets; t; t = t->next) {
    t->tflags = 0;
    t->used = 0;
  }
  opterr = 0;
  xt_params->option_offset = 0;
  xt_params->opts = xt_params->orig_opts;
  for (;;) {
    st->fault = optind == 0 ? 1 : optind;
    st->c = getopt_long(argc, argv, kOptstring, xt_params->opts, NULL);
    if (st->c == -1) break;
    switch (st->c) {
      case 'A':
        add_command(&st->command, CMD_APPEND, CMD_NONE, invert);
        st->chain = optarg;
        st->chain_tok = optind - 1;
        break;
      case 'C':
        add_command(&st->command, CMD_CHECK, CMD_NONE, invert);
        st->chain = optarg;
        st->chain_tok = optind - 1;
        break;
      case 'D':
        add_command(&st->command, CMD_DELETE, CMD_NONE, invert);
        st->chain = optarg;
        st->chain_tok = optind - 1;
        if (xs_has_arg(st)) {
          st->fault = optind;
          st->rulenum = parse_rulenumber(argv[optind++]);
          st->command = CMD_DELETE_NUM;
        }
        break;
      case 'R':
        add_command(&st->command, CMD_REPLACE, CMD_NONE, invert);
        st->chain = optarg;
        st->chain_tok = optind - 1;
        if (xs_has_arg(st)) {
          st->fault = optind;
          st->rulenum = parse_rulenumber(argv[optind++]);
        } else {
          ERR("-%c requires a rule number", cmd2char(CMD_REPLACE));
        }
        break;
      case 'I':
        add_command(&st->command, CMD_INSERT, CMD_NONE, invert);
        st->chain = optarg;
        st->chain_tok = optind - 1;
        if (xs_has_arg(st)) {
          st->fault = optind;
          st->rulenum = parse_rulenumber(argv[optind++]);
        } else {
          st->rulenum = 1;
        }
        break;
      case 'L':
      case 'S':
        ERR("-%c cannot be used in a restore text: it only lists (use save())", st->c);
      case 'F':
        add_command(&st->command, CMD_FLUSH, CMD_NONE, invert);
        if (optarg) {
          st->chain = optarg;
          st->chain_tok = optind - 1;
        } else if (xs_has_arg(st)) {
          st->chain_tok = optind;
          st->chain = argv[optind++];
        }
        break;
      case 'Z':
        add_command(&st->command, CMD_ZERO, CMD_LIST | CMD_LIST_RULES, invert);
        if (optarg) {
          st->chain = optarg;
          st->chain_tok = optind - 1;
        } else if (xs_has_arg(st)) {
          st->chain_tok = optind;
          st->chain = argv[optind++];
        }
        if (xs_has_arg(st)) {
          st->fault = optind;
          st->rulenum = parse_rulenumber(argv[optind++]);
          st->command = CMD_ZERO_NUM;
        }
        break;
      case 'N':
        st->chain_tok = optind - 1;
        assert_valid_chain_name(st, optarg);
        add_command(&st->command, CMD_NEW_CHAIN, CMD_NONE, invert);
        st->chain = optarg;
        break;
      case 'X':
        add_command(&st->command, CMD_DELETE_CHAIN, CMD_NONE, invert);
        if (optarg) {
          st->chain = optarg;
          st->chain_tok = optind - 1;
        } else if (xs_has_arg(st)) {
          st->chain_tok = optind;
          st->chain = argv[optind++];
        }
        break;
      case 'E':
        add_command(&st->command, CMD_RENAME_CHAIN, CMD_NONE, invert);
        st->chain = optarg;
        st->chain_tok = optind - 1;
        if (xs_has_arg(st))
          st->newname = argv[optind++];
        else
          ERR("-%c requires old-chain-name and new-chain-name", cmd2char(CMD_RENAME_CHAIN));
        break;
      case 'P':
        add_command(&st->command, CMD_SET_POLICY, CMD_NONE, invert);
        st->chain = optarg;
        st->chain_tok = optind - 1;
        if (xs_has_arg(st))
          st->policy = argv[optind++];
        else
          ERR("-%c requires a chain and a policy", cmd2char(CMD_SET_POLICY));
        break;
      case 'h':
        ERR("-h (help) cannot be used in a restore text");
      case 'p': {
        set_option(st, OPT_PROTOCOL, invert);
        for (st->protocol = argv[optind - 1]; *st->protocol; st->protocol++)
          *st->protocol = tolower((unsigned char)*st->protocol);
        st->protocol = argv[optind - 1];
        st->proto = xtables_parse_protocol(st->protocol);
        if (st->proto == 0 && (st->invflags & XT_INV_PROTO)) ERR("rule would never match protocol");
        proto_parse(st);
        break;
      }
      case 's':
        set_option(st, OPT_SOURCE, invert);
        st->shostnetworkmask = argv[optind - 1];
        break;
      case 'd':
        set_option(st, OPT_DESTINATION, invert);
        st->dhostnetworkmask = argv[optind - 1];
        break;
      case 'g':
        set_option(st, OPT_JUMP, invert);
        st->goto_set = true;
        st->target_tok = st->fault;
        st->jumpto = xt_parse_target(optarg);
        break;
      case 'j':
        set_option(st, OPT_JUMP, invert);
        st->target_tok = st->fault;
        command_jump(st, argv[optind - 1]);
        break;
      case 'i':
        check_empty_interface(optarg);
        set_option(st, OPT_VIANAMEIN, invert);
        xtables_parse_interface(argv[optind - 1], st->iniface, st->iniface_mask);
        break;
      case 'o':
        check_empty_interface(optarg);
        set_option(st, OPT_VIANAMEOUT, invert);
        xtables_parse_interface(argv[optind - 1], st->outiface, st->outiface_mask);
        break;
      case 'f':
        if (IsV6(st)) ERR("`-f' is not supported in IPv6, use -m frag instead");
        set_option(st, OPT_FRAGMENT, invert);
        st->flags |= IPT_F_FRAG;
        break;
      case 'v':
        if (!st->verbose) set_option(st, OPT_VERBOSE, invert);
        st->verbose++;
        break;
      case 'm':
        command_match(st, invert);
        break;
      case 'n':
        set_option(st, OPT_NUMERIC, invert);
        break;
      case 't':
        if (invert) ERR("unexpected ! flag before --table");
        // restore: the table is set by the text's *table line already
        ERR("The -t option cannot be used in %s.\n", xt_params->program_name);
      case 'x':
        set_option(st, OPT_EXPANDED, invert);
        break;
      case 'V':
        ERR("-V (version) cannot be used in a restore text");
      case 'w':
        ERR("You cannot use `-w' from iptables-restore");
      case 'W':
        ERR("You cannot use `-W' from iptables-restore");
      case '0':
        set_option(st, OPT_LINENUMBERS, invert);
        break;
      case 'M':
        break;  // modprobe program: nlkit never runs one
      case 'c': {
        set_option(st, OPT_COUNTERS, invert);
        st->pcnt = optarg;
        st->bcnt = st->pcnt[0] ? strchr(st->pcnt + 1, ',') : NULL;
        if (st->bcnt) st->bcnt++;
        if (!st->bcnt && xs_has_arg(st)) st->bcnt = argv[optind++];
        if (!st->bcnt) ERR("-%c requires packet and byte counter", opt2char(OPT_COUNTERS));
        if (sscanf(st->pcnt, "%llu", &st->pcnt_cnt) != 1) ERR("-%c packet counter not numeric", opt2char(OPT_COUNTERS));
        if (sscanf(st->bcnt, "%llu", &st->bcnt_cnt) != 1) ERR("-%c byte counter not numeric", opt2char(OPT_COUNTERS));
        break;
      }
      case '4':
        if (!IsV6(st)) break;
        return;  // ip6tables-restore ignores -4 lines
      case '6':
        if (IsV6(st)) break;
        return;  // iptables-restore ignores -6 lines
      case 1:  // non option
        if (optarg[0] == '!' && optarg[1] == '\0') {
          if (invert) ERR("multiple consecutive ! not allowed");
          invert = true;
          st->invert_tok = st->fault;
          optarg[0] = '\0';
          continue;
        }
        ERR("Bad argument `%s'", optarg);
      default:
        if (command_default(st, invert)) continue;
        break;
    }
    invert = false;
  }

  if (strcmp(st->table, "nat") == 0 &&
      ((st->policy != NULL && strcmp(st->policy, "DROP") == 0) ||
       (st->jumpto != NULL && strcmp(st->jumpto, "DROP") == 0))) {
    st->fault = st->policy != NULL ? st->chain_tok + 1 : st->target_tok;
    ERR("\nThe \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.\n\n");
  }

  int i = 0;
  for (struct xtables_rule_match* matchp = st->matches; matchp; matchp = matchp->next, i++) {
    st->fault = i < kMaxMatches ? st->match_tok[i] : -1;
    xtables_option_mfcall(matchp->match);
  }
  if (st->target != NULL) {
    st->fault = st->target_tok;
    xtables_option_tfcall(st->target);
  }

  st->fault = optind;
  if (optind < argc) ERR("unknown arguments found on commandline");
  st->fault = -1;
  if (!st->command) ERR("no command specified");
  if (invert) {
    st->fault = st->invert_tok;
    ERR("nothing appropriate following !");
  }

  post_parse(st);

  if (st->command == CMD_REPLACE && (st->nsaddrs != 1 || st->ndaddrs != 1)) {
    st->fault = st->nsaddrs != 1 ? st->opt_tok[1] : st->opt_tok[2];
    ERR("Replacement rule does not specify a unique address");
  }

  generic_opt_check(st);

  if (st->chain != NULL && strlen(st->chain) >= XT_EXTENSION_MAXNAMELEN) {
    st->fault = st->chain_tok;
    ERR("chain name `%s' too long (must be under %u chars)", st->chain, XT_EXTENSION_MAXNAMELEN);
  }

  if (st->command & (CMD_APPEND | CMD_DELETE | CMD_DELETE_NUM | CMD_CHECK | CMD_INSERT | CMD_REPLACE)) {
    if (strcmp(st->chain, "PREROUTING") == 0 || strcmp(st->chain, "INPUT") == 0) {
      st->fault = st->opt_tok[8];
      if (st->options & OPT_VIANAMEOUT) ERR("Can't use -%c with %s\n", opt2char(OPT_VIANAMEOUT), st->chain);
    }
    if (strcmp(st->chain, "POSTROUTING") == 0 || strcmp(st->chain, "OUTPUT") == 0) {
      st->fault = st->opt_tok[7];
      if (st->options & OPT_VIANAMEIN) ERR("Can't use -%c with %s\n", opt2char(OPT_VIANAMEIN), st->chain);
    }
  }
}

unsigned char* make_delete_mask(State* st, size_t entry_size) {
  unsigned int size = entry_size;
  for (struct xtables_rule_match* matchp = st->matches; matchp; matchp = matchp->next)
    size += XT_ALIGN(sizeof(struct xt_entry_match)) + matchp->match->size;
  unsigned char* mask =
      (unsigned char*)xtables_calloc(1, size + XT_ALIGN(sizeof(struct xt_entry_target)) + st->target->size);
  memset(mask, 0xFF, entry_size);
  unsigned char* mptr = mask + entry_size;
  for (struct xtables_rule_match* matchp = st->matches; matchp; matchp = matchp->next) {
    memset(mptr, 0xFF, XT_ALIGN(sizeof(struct xt_entry_match)) + matchp->match->userspacesize);
    mptr += XT_ALIGN(sizeof(struct xt_entry_match)) + matchp->match->size;
  }
  memset(mptr, 0xFF, XT_ALIGN(sizeof(struct xt_entry_target)) + st->target->userspacesize);
  st->entry_size = size + XT_ALIGN(sizeof(struct xt_entry_target)) + st->target->size;
  return mask;
}

// The rest of do_command4/6 for rule commands: resolve the target against the table's
// chains and build the entry.
void build_entry(State* st) {
  unsigned cmd = st->command;
  if (!(cmd & (CMD_APPEND | CMD_DELETE | CMD_CHECK | CMD_INSERT | CMD_REPLACE))) return;
  st->fault = st->target_tok;
  if (st->target && st->is_chain(st->ctx, st->jumpto)) {
    fprintf(stderr, "Warning: using chain %s, not extension\n", st->jumpto);
    free(st->target->t);
    st->target->t = NULL;
    st->target = NULL;
  }
  if (!st->target && (strlen(st->jumpto) == 0 || st->is_chain(st->ctx, st->jumpto))) {
    EnsurePlugin("standard", st->nfproto);
    st->target = xtables_find_target(XT_STANDARD_TARGET, XTF_LOAD_MUST_SUCCEED);
    NewTargetBlob(st->target, st->jumpto);
    bool chain = strlen(st->jumpto) > 0;
    st->jump_is_chain = chain;
    if (IsV6(st) || st->is_chain(st->ctx, st->jumpto)) st->target->t->u.user.revision = 0;  // as the tools write it
    xs_init_target(st->target);
  }
  if (!st->target) {
    bool isGoto = IsV6(st) ? (FW6(st)->ipv6.flags & IP6T_F_GOTO) : (FW(st)->ip.flags & IPT_F_GOTO);
    if (isGoto) ERR("goto '%s' is not a chain", st->jumpto);
    EnsurePlugin(st->jumpto, st->nfproto);
    xtables_find_target(st->jumpto, XTF_LOAD_MUST_SUCCEED);
    ERR("Couldn't load target `%s'", st->jumpto);  // not reached: the line above fails
  }
  size_t hdr = IsV6(st) ? sizeof(struct ip6t_entry) : sizeof(struct ipt_entry);
  unsigned size = hdr;
  for (struct xtables_rule_match* matchp = st->matches; matchp; matchp = matchp->next)
    size += matchp->match->m->u.match_size;
  unsigned total = size + st->target->t->u.target_size;
  unsigned char* e = (unsigned char*)xtables_calloc(1, total);
  if (IsV6(st)) {
    struct ip6t_entry* e6 = (struct ip6t_entry*)e;
    memcpy(e6, FW6(st), sizeof(struct ip6t_entry));
    e6->target_offset = size;
    e6->next_offset = total;
  } else {
    struct ipt_entry* e4 = (struct ipt_entry*)e;
    memcpy(e4, FW(st), sizeof(struct ipt_entry));
    e4->target_offset = size;
    e4->next_offset = total;
  }
  unsigned off = hdr;
  for (struct xtables_rule_match* matchp = st->matches; matchp; matchp = matchp->next) {
    memcpy(e + off, matchp->match->m, matchp->match->m->u.match_size);
    off += matchp->match->m->u.match_size;
  }
  memcpy(e + off, st->target->t, st->target->t->u.target_size);
  st->entry = e;
  st->entry_size = total;
  if (cmd & (CMD_DELETE | CMD_CHECK)) {
    unsigned keep = st->entry_size;
    st->mask = make_delete_mask(st, hdr);
    st->entry_size = keep;
  }
}

// Runs the parse with exit_err bound to this frame. Only State (plain data) crosses the jump.
int Guarded(State* st, XtJump* jump) {
  XtJump* outer = g_xt_jump;
  g_xt_jump = jump;
  if (setjmp(jump->buf) != 0) {
    g_xt_jump = outer;
    return -1;
  }
  do_parse(st);
  build_entry(st);
  g_xt_jump = outer;
  return 0;
}

void Cleanup(State* st) {
  xtables_rule_matches_free(&st->matches);
  if (st->target) {
    free(st->target->t);
    st->target->t = NULL;
    free(st->target->udata);
    st->target->udata = NULL;
    if (st->target == st->target->next) free(st->target);
    st->target = NULL;
  }
  free(st->saddrs);
  free(st->smasks);
  free(st->daddrs);
  free(st->dmasks);
  free(st->entry);
  free(st->mask);
  xtables_free_opts(1);
}

// Extensions whose parse depends on nothing but the text: their compiled bytes may be reused
// for the same text later. (set/SET look up kernel set indexes, bpf opens objects, owner and
// realm/devgroup read system databases, ...)
bool PureName(const char* n, const char* const* ok) {
  for (int i = 0; ok[i]; i++)
    if (strcmp(ok[i], n) == 0) return true;
  return false;
}

bool PureMatch(const char* n) {
  static const char* const ok[] = {
      "addrtype", "ah", "cluster", "comment", "connbytes", "connlimit", "connmark", "conntrack", "cpu", "dccp",
      "dscp", "dst", "ecn", "esp", "eui64", "frag", "hashlimit", "hbh", "helper", "hl", "icmp", "icmp6",
      "iprange", "ipv6header", "ipvs", "length", "limit", "mac", "mark", "mh", "multiport", "pkttype",
      "physdev", "quota", "recent", "rpfilter", "rt", "sctp", "socket", "srh", "state", "statistic", "string",
      "tcp", "tcpmss", "tos", "ttl", "u32", "udp", "udplite", NULL};
  return PureName(n, ok);
}

bool PureTarget(const char* n) {
  static const char* const ok[] = {
      "", "ACCEPT", "DROP", "QUEUE", "RETURN", "standard", "AUDIT", "CHECKSUM", "CLASSIFY", "CONNMARK", "CT",
      "DNAT", "DNPT", "DSCP", "ECN", "HL", "HMARK", "LOG", "MARK", "MASQUERADE", "NETMAP", "NFLOG", "NFQUEUE",
      "NOTRACK", "REDIRECT", "REJECT", "SNAT", "SNPT", "SYNPROXY", "TCPMSS", "TCPOPTSTRIP", "TEE", "TOS",
      "TPROXY", "TRACE", "TTL", NULL};
  return PureName(n, ok);
}

// PureMatch/PureTarget remembered by name pointer (an extension's name lives as long as its
// plugin): every rule asks about the same few extensions. Inside XtRun.
bool PureExtension(const char* name, bool target) {
  static std::vector<std::pair<const char*, bool>> known[2];
  auto& k = known[target];
  for (const auto& e : k)
    if (e.first == name) return e.second;
  bool pure = target ? PureTarget(name) : PureMatch(name);
  k.emplace_back(name, pure);
  return pure;
}

// Numeric addresses only (no host name lookups), each optionally with /mask.
bool NumericAddresses(const char* list, bool v6) {
  if (list == NULL) return true;
  char buf[256];
  const char* p = list;
  while (*p) {
    const char* comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char* slash = strchr(buf, '/');
    if (slash) *slash = '\0';
    unsigned char addr[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) != 1) return false;
    if (slash) {
      unsigned char m[16];
      unsigned bits;
      if (!xtables_strtoui(slash + 1, NULL, &bits, 0, v6 ? 128 : 32) &&
          inet_pton(v6 ? AF_INET6 : AF_INET, slash + 1, m) != 1)
        return false;
    }
    if (!comma) break;
    p = comma + 1;
  }
  return true;
}

}  // namespace

bool Tokenize(const char* line, size_t len, bool newlineAtEnd, size_t reserved, Tokens* out, std::string* error) {
  // xshared.c add_param_to_argv: whitespace ends a word, double quotes group, a backslash
  // inside quotes takes the next character as it is. `line` has no newline; fgets' newline
  // is fed at the end when the line had one (it matters inside an open quote). Runs of
  // plain characters are copied at once.
  const size_t n = len + (newlineAtEnd ? 1 : 0);
  auto at = [&](size_t i) { return i < len ? line[i] : '\n'; };
  const size_t old = out->buf.size();
  out->buf.resize(old + 2 * n + 2);  // each word: at most its characters and a NUL
  char* const base = &out->buf[0];
  char* o = base + old;
  const size_t words = out->size();
  bool quote = false, started = false;
  size_t plen = 0;  // length of the word being collected
  auto begin = [&](size_t i) {
    if (started) return;
    out->starts.push_back(static_cast<uint32_t>(o - base));
    out->offsets.push_back(static_cast<uint32_t>(i));
    started = true;
    plen = 0;
  };
  auto fail = [&](const char* m) {
    *error = m;
    out->buf.resize(o - base);
    return false;
  };
  auto emit = [&]() {
    *o++ = '\0';
    started = false;
    plen = 0;
    return out->size() - words + reserved + 1 < static_cast<size_t>(kMaxArgc);
  };
  auto run = [&](size_t from, size_t to) {  // plain characters of line[from, to)
    memcpy(o, line + from, to - from);
    o += to - from;
    plen += to - from;
    return plen < 1024;
  };
  size_t i = 0;
  while (i < n) {
    if (quote) {
      size_t j = i;
      while (j < len && line[j] != '\\' && line[j] != '"') j++;
      if (!run(i, j)) return fail("Parameter too long!");
      i = j;
      if (i >= n) break;
      char ch = at(i);
      if (ch == '\\') {
        if (i + 1 < n) {
          *o++ = at(i + 1);
          if (++plen >= 1024) return fail("Parameter too long!");
        }
        i += 2;
      } else if (ch == '"') {
        quote = false;  // the word ends here, even when empty
        if (!emit()) return fail("Parser cannot handle more arguments");
        i++;
      } else {  // the newline at the end
        *o++ = ch;
        if (++plen >= 1024) return fail("Parameter too long!");
        i++;
      }
      continue;
    }
    char ch = at(i);
    if (ch == '"') {
      begin(i);
      quote = true;
      i++;
    } else if (ch == ' ' || ch == '\t' || ch == '\n') {
      if (plen > 0 && !emit()) return fail("Parser cannot handle more arguments");
      i++;
    } else {
      size_t j = i + 1;
      while (j < len && line[j] != ' ' && line[j] != '\t' && line[j] != '\n' && line[j] != '"') j++;
      begin(i);
      if (!run(i, j)) return fail("Parameter too long!");
      i = j;
    }
  }
  if (started) {
    if (plen > 0) {
      if (!emit()) return fail("Parser cannot handle more arguments");
    } else {
      out->starts.pop_back();  // an open quote that got nothing: iptables adds no word
      out->offsets.pop_back();
    }
  }
  out->buf.resize(o - base);
  return true;
}

bool Compile(int nfproto, const char* table, const Tokens& tokens, IsChainFn isChain, void* ctx, Command* out,
             CompileError* err) {
  // argv: program name, then the words, as writable strings (getopt and the parser write
  // into them); the buffers and the parse state are reused from call to call.
  static thread_local std::string storage;
  static thread_local std::vector<char*> argv;
  // Owned by the thread, freed when it ends (one per handle's worker).
  static thread_local std::unique_ptr<State, FreeDeleter> owned(static_cast<State*>(calloc(1, sizeof(State))));
  State* st = owned.get();
  const char* prog = nfproto == NFPROTO_IPV6 ? "ip6tables-restore" : "iptables-restore";
  size_t plen = strlen(prog) + 1;
  storage.assign(prog, plen);
  storage.append(tokens.buf);
  argv.assign(tokens.size() + 2, nullptr);
  argv[0] = &storage[0];
  for (size_t i = 0; i < tokens.size(); i++) argv[i + 1] = &storage[plen + tokens.starts[i]];

  if (st == nullptr) {
    err->message = "out of memory";
    return false;
  }
  memset(st, 0, sizeof(State));
  st->nfproto = nfproto;
  st->table = table;
  st->argc = static_cast<int>(tokens.size() + 1);
  st->argv = argv.data();
  st->is_chain = isChain;
  st->ctx = ctx;
  st->jumpto = "";
  st->fault = -1;
  st->chain_tok = -1;
  st->invert_tok = -1;
  st->target_tok = -1;
  for (int i = 0; i < kNumberOfOpt; i++) st->opt_tok[i] = -1;

  XtJump jump;
  jump.message[0] = '\0';
  jump.status = 0;
  bool ok = Guarded(st, &jump) == 0;
  if (!ok) {
    err->message = jump.message;
    // iptables' messages sometimes carry their own newlines
    while (!err->message.empty() && (err->message.back() == '\n' || err->message.back() == ' '))
      err->message.pop_back();
    while (!err->message.empty() && err->message.front() == '\n') err->message.erase(0, 1);
    err->token = st->fault >= 1 ? st->fault - 1 : -1;
  } else {
    out->command = st->command;
    out->chain = st->chain ? st->chain : "";
    out->newname = st->newname ? st->newname : "";
    out->policy = st->policy ? st->policy : "";
    out->rulenum = st->rulenum;
    out->counters = (st->options & OPT_COUNTERS) != 0;
    out->pcnt = st->pcnt_cnt;
    out->bcnt = st->bcnt_cnt;
    out->jumpto = st->jumpto ? st->jumpto : "";
    out->jumpIsChain = st->jump_is_chain;
    out->chainToken = st->chain_tok >= 1 ? st->chain_tok - 1 : -1;
    out->targetToken = st->target_tok >= 1 ? st->target_tok - 1 : -1;
    out->policyToken = st->policy && st->chain_tok >= 1 ? st->chain_tok : -1;
    if (st->entry) {
      bool v6 = nfproto == NFPROTO_IPV6;
      out->entrySize = st->entry_size;
      out->blob.reserve(static_cast<size_t>(st->entry_size) * st->nsaddrs * st->ndaddrs);
      for (unsigned i = 0; i < st->nsaddrs; i++) {
        for (unsigned j = 0; j < st->ndaddrs; j++) {
          std::string e(static_cast<const char*>(st->entry), st->entry_size);
          if (v6) {
            auto* e6 = reinterpret_cast<struct ip6t_entry*>(&e[0]);
            e6->ipv6.src = static_cast<struct in6_addr*>(st->saddrs)[i];
            e6->ipv6.smsk = static_cast<struct in6_addr*>(st->smasks)[i];
            e6->ipv6.dst = static_cast<struct in6_addr*>(st->daddrs)[j];
            e6->ipv6.dmsk = static_cast<struct in6_addr*>(st->dmasks)[j];
          } else {
            auto* e4 = reinterpret_cast<struct ipt_entry*>(&e[0]);
            e4->ip.src = static_cast<struct in_addr*>(st->saddrs)[i];
            e4->ip.smsk = static_cast<struct in_addr*>(st->smasks)[i];
            e4->ip.dst = static_cast<struct in_addr*>(st->daddrs)[j];
            e4->ip.dmsk = static_cast<struct in_addr*>(st->dmasks)[j];
          }
          out->blob.append(e);
        }
      }
      if (st->mask) out->mask.assign(reinterpret_cast<const char*>(st->mask), st->entry_size);
    }
    bool pure = NumericAddresses(st->shostnetworkmask, nfproto == NFPROTO_IPV6) &&
                NumericAddresses(st->dhostnetworkmask, nfproto == NFPROTO_IPV6);
    for (struct xtables_rule_match* m = st->matches; m && pure; m = m->next)
      pure = PureExtension(m->match->name, false);
    if (pure && st->target && !st->jump_is_chain) pure = PureExtension(st->target->name, true);
    out->pure = pure;
  }
  Cleanup(st);
  return ok;
}


// ---------------------------------------------------------------------------------------
// The fast path. Phase 1 walks the words as getopt would see them, but only accepts words
// whose meaning is certain without getopt: exact long or short generic options, and exact
// long options of the extension loaded last (getopt's first exact match in the merged
// table, after the generic ones, is that extension's). Phase 2 runs each extension's own
// parser on its options, as xtables_option_mpcall/tpcall would, under the exit_err guard.
// Phase 3 builds the entry exactly as post_parse and generate_entry do.
namespace {

constexpr int kFastSegs = 16;
constexpr int kFastOpts = 24;

struct FastOpt {
  int tok;       // the option word
  int arg;       // its argument word, -1 when none
  int extra;     // a further word the parser takes (tcp --tcp-flags), -1 when none
  bool invert;
  const struct xt_option_entry* x6;  // x6 extensions
  int val;                           // old-style extensions: getopt's val
  uint16_t proto;                    // what the entry looked like when getopt reached the option
  uint16_t invflags;
  uint8_t v6flags;
};

struct FastSeg {
  bool target;
  struct xtables_match* m;
  struct xtables_target* t;
  const char* name;  // as written after -m / -j
  int nopts;
  FastOpt opts[kFastOpts];
};

struct FastState {
  int nfproto;
  int argc;
  char** argv;
  unsigned options;  // OPT_* seen
  uint16_t proto;
  uint16_t invflags;
  uint8_t flags;      // IPT_F_FRAG / IP6T_F_PROTO as args->flags
  uint8_t v6flags;    // fw6.ipv6.flags during parsing (IP6T_F_PROTO after -p)
  uint16_t fwInv;     // fw's invflags during parsing: what they were at the last -p
  const char* shost;  // -s / -d words
  const char* dhost;
  const char* iniface;
  const char* outiface;
  const char* jumpto;
  bool gotoSet;
  bool jumpIsChain;
  int targetTok;
  int nsegs;
  FastSeg segs[kFastSegs];
};

// Generic options the fast path handles: getopt's val, or 0 for the rest.
int GenericVal(const char* w) {
  if (w[0] != '-') return 0;
  if (w[1] != '-') {
    if (w[1] == '\0' || w[2] != '\0') return 0;
    switch (w[1]) {
      case 's': case 'd': case 'p': case 'i': case 'o': case 'j': case 'g': case 'm': case 'f':
        return w[1];
    }
    return -1;  // another short option (or a group): getopt's business
  }
  // every generic long option: the ones handled here by their val, the rest -1 (getopt's)
  static const std::unordered_map<std::string_view, int> longs = [] {
    std::unordered_map<std::string_view, int> m;
    for (const struct option* o = xt_params->orig_opts; o->name; o++) m[o->name] = -1;
    for (const char* n : {"source", "src", "destination", "dst", "protocol", "in-interface", "out-interface", "jump",
                          "goto", "match", "fragments"})
      m[n] = 0;
    for (const struct option* o = xt_params->orig_opts; o->name; o++)
      if (m[o->name] == 0) m[o->name] = o->val;
    return m;
  }();
  // which lengths the names starting with each letter have: most extension options miss here
  static const std::vector<uint64_t> lengths = [] {
    std::vector<uint64_t> l(256, 0);
    for (const auto& kv : longs)
      if (!kv.first.empty() && kv.first.size() < 64)
        l[static_cast<unsigned char>(kv.first[0])] |= uint64_t(1) << kv.first.size();
    return l;
  }();
  std::string_view name(w + 2);
  if (name.empty() || name.size() >= 64 ||
      !(lengths[static_cast<unsigned char>(name[0])] & (uint64_t(1) << name.size())))
    return 0;
  auto it = longs.find(name);
  return it == longs.end() ? 0 : it->second;
}

bool NoWhitespace(const char* s) {
  for (; *s; s++) {
    unsigned char c = static_cast<unsigned char>(*s);
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_') continue;  // most of a chain name
    if (isspace(c)) return false;
  }
  return true;
}

// The extension's option of this exact name: x6 entry or getopt val and has_arg.
bool FindOption(const struct xt_option_entry* x6, const struct option* extra, const char* name,
                const struct xt_option_entry** entry, int* val, int* hasArg) {
  if (x6) {
    for (const struct xt_option_entry* e = x6; e->name; e++)
      if (e->name[0] == name[0] && strcmp(e->name, name) == 0) {
        *entry = e;
        *hasArg = e->type != XTTYPE_NONE;
        return true;
      }
    return false;
  }
  if (extra) {
    for (const struct option* o = extra; o->name; o++)
      if (o->name[0] == name[0] && strcmp(o->name, name) == 0) {
        *val = o->val;
        *hasArg = o->has_arg;
        return true;
      }
  }
  return false;
}

// xtables_find_match (loading the plugin when needed) remembered by family and name for
// the fast path: a text names the same few extensions on every line, and libxtables never
// frees an extension it registered. Clones are not remembered (the fast path takes none).
struct xtables_match* FindMatchKnown(const char* name, int nfproto) {
  struct Known {
    int nfproto;
    size_t len;
    char name[XT_EXTENSION_MAXNAMELEN];
    struct xtables_match* m;
  };
  constexpr unsigned kKnown = 16;
  static thread_local Known known[kKnown];
  static thread_local unsigned count;
  size_t len = strlen(name);
  for (unsigned i = 0; i < std::min(count, kKnown); i++) {
    const Known& k = known[i];
    if (k.nfproto == nfproto && k.len == len && memcmp(k.name, name, len) == 0) return k.m;
  }
  EnsurePlugin(name, nfproto);
  struct xtables_match* m = xtables_find_match(name, XTF_TRY_LOAD, NULL);
  if (m && m->next != m && len < XT_EXTENSION_MAXNAMELEN) {
    Known& k = known[count++ % kKnown];
    k.nfproto = nfproto;
    k.len = len;
    memcpy(k.name, name, len + 1);
    k.m = m;
  }
  return m;
}

// Phase 1. False: not for the fast path.
bool FastScan(FastState* fs, const char* table, IsChainFn isChain, void* ctx) {
  char** argv = fs->argv;
  int argc = fs->argc;
  bool v6 = fs->nfproto == NFPROTO_IPV6;
  bool invert = false;
  for (int i = 3; i < argc; i++) {
    const char* w = argv[i];
    if (w[0] == '!' && w[1] == '\0') {
      if (invert) return false;
      invert = true;
      continue;
    }
    int g = GenericVal(w);
    if (g < 0) return false;
    if (g > 0) {
      unsigned opt = 0;
      int inv = 0;
      switch (g) {
        case 's': opt = OPT_SOURCE; inv = IPT_INV_SRCIP; break;
        case 'd': opt = OPT_DESTINATION; inv = IPT_INV_DSTIP; break;
        case 'p': opt = OPT_PROTOCOL; inv = XT_INV_PROTO; break;
        case 'i': opt = OPT_VIANAMEIN; inv = IPT_INV_VIA_IN; break;
        case 'o': opt = OPT_VIANAMEOUT; inv = IPT_INV_VIA_OUT; break;
        case 'f': opt = OPT_FRAGMENT; inv = IPT_INV_FRAG; break;
        case 'j': case 'g': opt = OPT_JUMP; break;
        case 'm': opt = 0; break;
      }
      if (opt) {
        if (fs->options & opt) return false;
        fs->options |= opt;
      }
      if (invert) {
        if (!inv) return false;
        fs->invflags |= inv;
      }
      invert = false;
      if (g == 'f') {
        if (v6) return false;
        fs->flags |= IPT_F_FRAG;
        continue;
      }
      if (i + 1 >= argc) return false;
      const char* a = argv[++i];
      switch (g) {
        case 's':
          fs->shost = a;
          break;
        case 'd':
          fs->dhost = a;
          break;
        case 'i':
        case 'o':
          if (a[0] == '\0' || strlen(a) + 1 > IFNAMSIZ) return false;
          if (g == 'i') fs->iniface = a; else fs->outiface = a;
          break;
        case 'p': {
          // lower case, like the tool, then only names it knows without a lookup
          for (char* p = argv[i]; *p; p++) *p = tolower((unsigned char)*p);
          unsigned n;
          int proto = -1;
          if (xtables_strtoui(a, NULL, &n, 0, UINT8_MAX)) {
            proto = n;
          } else {
            for (unsigned k = 0; xtables_chain_protos[k].name; k++)
              if (strcmp(a, xtables_chain_protos[k].name) == 0) proto = xtables_chain_protos[k].num;
          }
          if (proto < 0) return false;
          if (proto == 0 && (fs->invflags & XT_INV_PROTO)) return false;
          if (v6 && (proto == IPPROTO_ROUTING || proto == IPPROTO_FRAGMENT || proto == IPPROTO_AH ||
                     proto == IPPROTO_DSTOPTS))
            return false;
          fs->proto = proto;
          fs->fwInv = fs->invflags;
          if (v6) {
            fs->flags |= IP6T_F_PROTO;
            fs->v6flags |= IP6T_F_PROTO;
          }
          break;
        }
        case 'm': {
          if (fs->nsegs >= kFastSegs || strlen(a) >= XT_EXTENSION_MAXNAMELEN) return false;
          struct xtables_match* m = FindMatchKnown(a, fs->nfproto);
          if (!m || m->real_name || m == m->next || (!m->x6_parse && !m->parse) || m->m) return false;
          if (!m->x6_parse && strcmp(m->name, "tcp") != 0) return false;  // old-style parsers: tcp only
          FastSeg* sg = &fs->segs[fs->nsegs++];
          sg->target = false;
          sg->m = m;
          sg->t = NULL;
          sg->name = a;
          sg->nopts = 0;
          break;
        }
        case 'j':
        case 'g': {
          if (a[0] == '\0' || strlen(a) >= XT_EXTENSION_MAXNAMELEN || !NoWhitespace(a)) return false;
          fs->jumpto = a;
          fs->targetTok = i - 1;
          if (g == 'g') {
            if (!isChain(ctx, a)) return false;
            fs->gotoSet = true;
            fs->jumpIsChain = true;
            break;
          }
          struct xtables_target* t = FindTargetTry(a, fs->nfproto);
          bool chain = isChain(ctx, a);
          if (t && chain) return false;  // "using chain, not extension"
          if (!t) {
            if (!chain) return false;  // the error is Compile's to report
            fs->jumpIsChain = true;
            break;
          }
          if (t->real_name || t == t->next || (!t->x6_parse && !t->parse && t->extra_opts) || t->t) return false;
          if (!t->x6_parse && t->parse) return false;  // old-style target parsers: not here
          if (fs->nsegs >= kFastSegs) return false;
          FastSeg* sg = &fs->segs[fs->nsegs++];
          sg->target = true;
          sg->m = NULL;
          sg->t = t;
          sg->name = a;
          sg->nopts = 0;
          break;
        }
      }
      continue;
    }
    // an extension option: exactly one of the newest extension's long options
    if (w[0] != '-' || w[1] != '-' || w[2] == '\0' || strchr(w, '=')) return false;
    if (fs->nsegs == 0) return false;
    FastSeg* sg = &fs->segs[fs->nsegs - 1];
    const struct xt_option_entry* x6 = NULL;
    int val = 0, hasArg = 0;
    bool found = sg->target ? FindOption(sg->t->x6_options, sg->t->extra_opts, w + 2, &x6, &val, &hasArg)
                            : FindOption(sg->m->x6_options, sg->m->extra_opts, w + 2, &x6, &val, &hasArg);
    if (!found || sg->nopts >= kFastOpts) return false;
    FastOpt* o = &sg->opts[sg->nopts++];
    o->tok = i;
    o->arg = -1;
    o->extra = -1;
    o->invert = invert;
    o->x6 = x6;
    o->val = val;
    o->proto = fs->proto;
    o->invflags = fs->fwInv;
    o->v6flags = fs->v6flags;
    invert = false;
    if (hasArg == 1) {
      if (i + 1 >= argc) return false;
      o->arg = ++i;
    }
    if (!x6 && strcmp(w, "--tcp-flags") == 0) {
      // libxt_tcp takes the next word too (and refuses one that looks like an option)
      if (i + 1 >= argc || argv[i + 1][0] == '-' || argv[i + 1][0] == '!') return false;
      o->extra = ++i;
    }
  }
  if (invert) return false;
  const char* chain = argv[2];
  if (strlen(chain) >= XT_EXTENSION_MAXNAMELEN) return false;
  if (strcmp(table, "nat") == 0 && fs->jumpto && strcmp(fs->jumpto, "DROP") == 0) return false;
  if ((fs->options & OPT_VIANAMEOUT) && (strcmp(chain, "PREROUTING") == 0 || strcmp(chain, "INPUT") == 0)) return false;
  if ((fs->options & OPT_VIANAMEIN) && (strcmp(chain, "POSTROUTING") == 0 || strcmp(chain, "OUTPUT") == 0)) return false;
  return true;
}

// One address with an optional prefix length, numeric only (what xtables_ipparse_multiple
// and xtables_ip6parse_multiple give for such a word, masked the same way).
bool FastAddress(const char* w, bool v6, void* addr, void* mask) {
  if (w == NULL) {
    memset(addr, 0, v6 ? 16 : 4);
    memset(mask, 0, v6 ? 16 : 4);
    return true;
  }
  char buf[64];
  size_t n = strlen(w);
  if (n == 0 || n >= sizeof buf || strchr(w, ',')) return false;
  memcpy(buf, w, n + 1);
  int bits = v6 ? 128 : 32;
  char* slash = strchr(buf, '/');
  if (slash) {
    *slash = '\0';
    const char* p = slash + 1;
    if (*p == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0')) return false;
    bits = 0;
    for (; *p; p++) {
      if (*p < '0' || *p > '9') return false;
      bits = bits * 10 + (*p - '0');
    }
    if (bits > (v6 ? 128 : 32)) return false;
  }
  unsigned char a[16], m[16];
  if (v6) {
    if (inet_pton(AF_INET6, buf, a) != 1) return false;
  } else {
    // dotted quad with no leading zeros: inet_pton and xtables_numeric_to_ipaddr agree
    int parts = 0;
    for (const char* p = buf; *p; parts++) {
      if (*p < '0' || *p > '9') return false;
      if (p[0] == '0' && p[1] >= '0' && p[1] <= '9') return false;
      unsigned v = 0;
      int d = 0;
      while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0'), d++;
      if (d > 3 || v > 255 || parts >= 4) return false;
      a[parts] = static_cast<unsigned char>(v);  // what inet_pton makes of such a quad
      if (*p == '.') p++;
      else if (*p) return false;
    }
    if (parts != 4 || buf[n - (slash ? strlen(slash + 1) + 2 : 1)] == '.') return false;
  }
  int len = v6 ? 16 : 4;
  for (int i = 0; i < len; i++) {
    int b = bits - i * 8;
    m[i] = b >= 8 ? 0xff : b <= 0 ? 0 : static_cast<unsigned char>(0xff << (8 - b));
    a[i] &= m[i];
  }
  memcpy(addr, a, len);
  memcpy(mask, m, len);
  return true;
}

// The fast path's extension blobs, one spare per extension and thread: every rule needs
// the same few, and a zeroed spare is cheaper than calloc and free each time. (A parser
// may realloc its blob: what comes back is kept, if it is large enough next time.)
class SpareBlobs {
 public:
  ~SpareBlobs() {
    for (auto& s : spares_) free(s.second);
  }
  void* Take(const void* ext, size_t size) {
    for (auto& s : spares_) {
      if (s.first != ext || !s.second) continue;
      void* p = s.second;
      s.second = nullptr;
      if (malloc_usable_size(p) >= size) {
        memset(p, 0, size);
        return p;
      }
      free(p);
      break;
    }
    return xtables_calloc(1, size);
  }
  void Give(const void* ext, void* p) {
    for (auto& s : spares_) {
      if (s.first != ext) continue;
      if (s.second) free(s.second);
      s.second = p;
      return;
    }
    if (spares_.size() >= 64) {
      free(p);
      return;
    }
    spares_.emplace_back(ext, p);
  }

 private:
  std::vector<std::pair<const void*, void*>> spares_;
};
thread_local SpareBlobs t_spares;

// Phase 2 for one extension: its blob, parsed with its own parser. Plain C: exit_err
// lands in FastParseGuarded.
void FastParse(FastState* fs, FastSeg* sg, unsigned char* fw, unsigned char** blob) {
  bool v6 = fs->nfproto == NFPROTO_IPV6;
  auto setFw = [&](const FastOpt* o) {
    if (v6) {
      struct ip6t_entry* e = (struct ip6t_entry*)fw;
      e->ipv6.proto = o->proto;
      e->ipv6.invflags = o->invflags;
      e->ipv6.flags = o->v6flags;
    } else {
      struct ipt_entry* e = (struct ipt_entry*)fw;
      e->ip.proto = o->proto;
      e->ip.invflags = o->invflags;
    }
  };
  if (!sg->target) {
    struct xtables_match* m = sg->m;
    size_t size = XT_ALIGN(sizeof(struct xt_entry_match)) + m->size;
    m->m = static_cast<struct xt_entry_match*>(t_spares.Take(m, size));
    m->m->u.match_size = size;
    strcpy(m->m->u.user.name, m->name);
    m->m->u.user.revision = m->revision;
    m->mflags = 0;
    xs_init_match(m);
    for (int k = 0; k < sg->nopts; k++) {
      const FastOpt* o = &sg->opts[k];
      setFw(o);
      optarg = o->arg >= 0 ? fs->argv[o->arg] : NULL;
      optind = (o->arg >= 0 ? o->arg : o->tok) + 1;
      if (o->x6) {
        struct xt_option_call cb;
        cb.entry = o->x6;
        cb.arg = optarg;
        cb.invert = o->invert;
        cb.ext_name = m->name;
        cb.data = m->m->data;
        cb.xflags = m->mflags;
        cb.match = &m->m;
        cb.xt_entry = fw;
        cb.udata = m->udata;
        m->x6_parse(&cb);
        m->mflags = cb.xflags;
      } else {
        m->parse(o->val, fs->argv, o->invert, &m->mflags, fw, &m->m);
      }
    }
    xtables_option_mfcall(m);
    *blob = (unsigned char*)m->m;
    m->m = NULL;
  } else {
    struct xtables_target* t = sg->t;
    size_t size = XT_ALIGN(sizeof(struct xt_entry_target)) + t->size;
    t->t = static_cast<struct xt_entry_target*>(t_spares.Take(t, size));
    t->t->u.target_size = size;
    strcpy(t->t->u.user.name, sg->name);
    t->t->u.user.revision = t->revision;
    t->tflags = 0;
    xs_init_target(t);
    for (int k = 0; k < sg->nopts; k++) {
      const FastOpt* o = &sg->opts[k];
      setFw(o);
      optarg = o->arg >= 0 ? fs->argv[o->arg] : NULL;
      optind = (o->arg >= 0 ? o->arg : o->tok) + 1;
      struct xt_option_call cb;
      cb.entry = o->x6;
      cb.arg = optarg;
      cb.invert = o->invert;
      cb.ext_name = t->name;
      cb.data = t->t->data;
      cb.xflags = t->tflags;
      cb.target = &t->t;
      cb.xt_entry = fw;
      cb.udata = t->udata;
      t->x6_parse(&cb);
      t->tflags = cb.xflags;
    }
    xtables_option_tfcall(t);
    *blob = (unsigned char*)t->t;
    t->t = NULL;
  }
}

int FastParseGuarded(FastState* fs, FastSeg* sg, unsigned char* fw, unsigned char** blob) {
  XtJump jump;
  XtJump* outer = g_xt_jump;
  g_xt_jump = &jump;
  if (setjmp(jump.buf) != 0) {
    g_xt_jump = outer;
    if (sg->target) {
      free(sg->t->t);
      sg->t->t = NULL;
    } else {
      free(sg->m->m);
      sg->m->m = NULL;
    }
    return -1;
  }
  optind = 0;  // getopt's state is of no concern to these parsers, but start clean
  FastParse(fs, sg, fw, blob);
  g_xt_jump = outer;
  return 0;
}

}  // namespace

bool FastCompile(int nfproto, const char* table, const Tokens& tokens, IsChainFn isChain, void* ctx, Arena* arena,
                 FastRule* out) {
  if (tokens.size() < 2) return false;
  const char* cmd = tokens.word(0);
  if (strcmp(cmd, "-A") != 0 && strcmp(cmd, "--append") != 0) return false;
  static thread_local std::string storage;
  static thread_local std::vector<char*> argv;
  static thread_local std::unique_ptr<FastState, FreeDeleter> owned(static_cast<FastState*>(calloc(1, sizeof(FastState))));
  FastState* fs = owned.get();
  if (!fs) return false;
  // argv as the parsers expect it: program name, the words (argv[1] is -A, argv[2] the chain)
  const char* prog = nfproto == NFPROTO_IPV6 ? "ip6tables-restore" : "iptables-restore";
  size_t plen = strlen(prog) + 1;
  storage.assign(prog, plen);
  storage.append(tokens.buf);
  argv.assign(tokens.size() + 2, nullptr);
  argv[0] = &storage[0];
  for (size_t i = 0; i < tokens.size(); i++) argv[i + 1] = &storage[plen + tokens.starts[i]];
  memset(fs, 0, offsetof(FastState, segs));
  fs->nfproto = nfproto;
  fs->argc = static_cast<int>(tokens.size() + 1);
  fs->argv = argv.data();
  fs->jumpto = "";
  fs->targetTok = -1;
  if (!FastScan(fs, table, isChain, ctx)) return false;

  bool v6 = nfproto == NFPROTO_IPV6;
  alignas(8) unsigned char src[16], smsk[16], dst[16], dmsk[16];
  if (!FastAddress(fs->shost, v6, src, smsk) || !FastAddress(fs->dhost, v6, dst, dmsk)) return false;

  // Phase 2: the extensions' blobs, from their parsers. (Caching them by option text was
  // tried: kube-proxy's comments and DNAT targets are mostly unique, and the lookups cost
  // more than the x6 parsers.)
  unsigned char* blobs[kFastSegs];
  size_t sizes[kFastSegs];
  bool pure = true;
  alignas(8) unsigned char fw[sizeof(struct ip6t_entry)];
  auto freeBlobs = [&](int n) {
    for (int k = 0; k < n; k++) {
      const FastSeg* g = &fs->segs[k];
      t_spares.Give(g->target ? static_cast<const void*>(g->t) : static_cast<const void*>(g->m), blobs[k]);
    }
  };
  for (int s = 0; s < fs->nsegs; s++) {
    FastSeg* sg = &fs->segs[s];
    pure = pure && PureExtension(sg->target ? sg->t->name : sg->m->name, sg->target);
    memset(fw, 0, sizeof fw);
    blobs[s] = nullptr;
    if (FastParseGuarded(fs, sg, fw, &blobs[s]) != 0) {  // Compile reports it
      freeBlobs(s);
      return false;
    }
    sizes[s] = sg->target ? ((struct xt_entry_target*)blobs[s])->u.target_size
                          : ((struct xt_entry_match*)blobs[s])->u.match_size;
  }

  // The target when it is a chain, a goto, or nothing: the standard target with the name.
  bool targetSeg = fs->nsegs > 0 && fs->segs[fs->nsegs - 1].target;
  size_t stdSize = 0;
  uint8_t stdRevision = 0;
  if (!targetSeg) {
    EnsurePlugin("standard", nfproto);
    struct xtables_target* std = xtables_find_target(XT_STANDARD_TARGET, XTF_TRY_LOAD);  // never DONT_LOAD: a miss would poison libxtables' negative cache
    if (!std) {
      freeBlobs(fs->nsegs);
      return false;
    }
    stdSize = sizeof(struct xt_entry_target) + std->size;
    if (!v6 && !fs->jumpIsChain) stdRevision = std->revision;
  }

  // Phase 3: post_parse + generate_entry, straight into the arena.
  size_t hdr = v6 ? sizeof(struct ip6t_entry) : sizeof(struct ipt_entry);
  size_t matches = 0;
  for (int s = 0; s < fs->nsegs; s++)
    if (!fs->segs[s].target) matches += sizes[s];
  size_t tsize = targetSeg ? sizes[fs->nsegs - 1] : stdSize;
  size_t total = hdr + matches + tsize;
  unsigned char* e = arena->Alloc(total);
  if (!e) {
    freeBlobs(fs->nsegs);
    return false;
  }
  memset(e, 0, hdr);
  char inface[IFNAMSIZ] = {}, outface[IFNAMSIZ] = {};
  unsigned char inmask[IFNAMSIZ] = {}, outmask[IFNAMSIZ] = {};
  if (fs->iniface) xtables_parse_interface(fs->iniface, inface, inmask);  // lengths checked by FastScan
  if (fs->outiface) xtables_parse_interface(fs->outiface, outface, outmask);
  uint8_t flags = fs->flags | (fs->gotoSet ? (v6 ? IP6T_F_GOTO : IPT_F_GOTO) : 0);
  // generate_entry's header: the two families' entries name their fields alike
  auto header = [&](auto* h, auto& ip, size_t alen) {
    memcpy(&ip.src, src, alen);
    memcpy(&ip.smsk, smsk, alen);
    memcpy(&ip.dst, dst, alen);
    memcpy(&ip.dmsk, dmsk, alen);
    memcpy(ip.iniface, inface, IFNAMSIZ);
    memcpy(ip.iniface_mask, inmask, IFNAMSIZ);
    memcpy(ip.outiface, outface, IFNAMSIZ);
    memcpy(ip.outiface_mask, outmask, IFNAMSIZ);
    ip.proto = fs->proto;
    ip.flags = flags;
    ip.invflags = fs->invflags;
    h->target_offset = hdr + matches;
    h->next_offset = total;
  };
  if (v6) {
    auto* h = reinterpret_cast<struct ip6t_entry*>(e);
    header(h, h->ipv6, 16);
  } else {
    auto* h = reinterpret_cast<struct ipt_entry*>(e);
    header(h, h->ip, 4);
  }
  size_t off = hdr;
  for (int s = 0; s < fs->nsegs; s++) {
    if (fs->segs[s].target) continue;
    memcpy(e + off, blobs[s], sizes[s]);
    off += sizes[s];
  }
  if (targetSeg) {
    memcpy(e + off, blobs[fs->nsegs - 1], tsize);
  } else {
    memset(e + off, 0, tsize);
    auto* t = reinterpret_cast<struct xt_entry_target*>(e + off);
    t->u.target_size = tsize;
    strcpy(t->u.user.name, fs->jumpto);
    t->u.user.revision = stdRevision;
  }
  freeBlobs(fs->nsegs);

  out->entry = e;
  out->size = static_cast<uint32_t>(total);
  out->chain = tokens.word(1);
  out->jumpto = fs->targetTok >= 1 ? tokens.word(fs->targetTok) : "";
  out->jumpIsChain = fs->jumpIsChain;
  out->pure = pure;
  out->targetToken = fs->targetTok >= 1 ? fs->targetTok - 1 : -1;
  return true;
}

}  // namespace ipt
}  // namespace nlkit
