// A port of iptables 1.8.9's command-line parser (iptables/xshared.c do_parse and friends,
// iptables.c/ip6tables.c do_command) for one command of an iptables-restore text. The
// extensions are the host's own libxtables plugins, so every match and target iptables
// knows parses exactly as iptables parses it.
//
// Errors leave through libxtables' exit_err, which longjmps back into Compile(): every
// function between Compile's setjmp and an error is plain C (POD locals only, memory from
// malloc that Cleanup() releases), so nothing is skipped that needed destroying.
#include "parse.h"

#include "common.h"  // first: xtables.h brings net/if.h, which must precede linux/if.h
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

#include <memory>

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

namespace nlkit {
namespace ipt {

using namespace compile;

namespace {

constexpr int kMaxArgc = 255;  // xshared.h MAX_ARGC
#ifndef XT_OPTION_OFFSET_SCALE
#define XT_OPTION_OFFSET_SCALE 256  // xtables.h, under XTABLES_INTERNAL
#endif

constexpr int kNumberOfCmd = 16;

// xshared.c commands_v_options: + compulsory, x illegal, ' ' optional. Without xshared.c's six
// last columns, options of arptables and ebtables that iptables never sets (kOptions has its own).
const char commands_v_options[kNumberOfCmd][kNumberOfOpt] = {
    /*     -n  -s  -d  -p  -j  -v  -x  -i  -o --line -c -f */
    /*INSERT*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', ' ', ' '},
    /*DELETE*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', 'x', ' '},
    /*DELETE_NUM*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*REPLACE*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', ' ', ' '},
    /*APPEND*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', ' ', ' '},
    /*LIST*/ {' ', 'x', 'x', 'x', 'x', ' ', ' ', 'x', 'x', ' ', 'x', 'x'},
    /*FLUSH*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*ZERO*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*NEW_CHAIN*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*DEL_CHAIN*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*SET_POLICY*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', ' ', 'x'},
    /*RENAME*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*LIST_RULES*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*ZERO_NUM*/ {'x', 'x', 'x', 'x', 'x', ' ', 'x', 'x', 'x', 'x', 'x', 'x'},
    /*CHECK*/ {'x', ' ', ' ', ' ', ' ', ' ', 'x', ' ', ' ', 'x', 'x', ' '},
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

// Where an extension's parser puts its data: a zeroed blob in m->m / t->t, named as the
// entry will carry it.
template <typename K>
void NewBlob(typename K::Ext* e, const char* name) {
  PutBlob<K>(e, xtables_calloc(1, BlobSize<K>(e)), name);
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
  if (find_proto(st->protocol, XTF_DONT_LOAD, st->options & kOpt<'n'>, NULL) == NULL) return true;
  return !st->proto_used;
}

struct xtables_match* load_proto(State* st) {
  if (!should_load_proto(st)) return NULL;
  return find_proto(st->protocol, XTF_TRY_LOAD, st->options & kOpt<'n'>, &st->matches);
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
    NewBlob<MatchKind>(m, m->name);
    InitExt<MatchKind>(m);
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
  NewBlob<MatchKind>(m, m->real_name == NULL ? m->name : m->real_name);
  if (m->real_name != NULL && !(m->ext_flags & XTABLES_EXT_ALIAS))
    fprintf(stderr, "Notice: the %s match is converted into %s match in rule listing and saving.\n", m->name,
            m->real_name);
  InitExt<MatchKind>(m);
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
  NewBlob<TargetKind>(t, t->real_name == NULL ? st->jumpto : t->real_name);
  if (t->real_name != NULL && !(t->ext_flags & XTABLES_EXT_ALIAS))
    fprintf(stderr, "Notice: The %s target is converted into %s target in rule listing and saving.\n", st->jumpto,
            t->real_name);
  InitExt<TargetKind>(t);
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
  int i = 0;
  for (; option > 1; option >>= 1) i++;
  return kOptions[i].letter;
}

void set_option(State* st, unsigned int option, bool invert) {
  if (st->options & option) ERR("multiple -%c flags not allowed", opt2char(option));
  st->options |= option;
  unsigned i;
  for (i = 0; 1u << i != option; i++) {
  }
  if (i < (unsigned)kNumberOfOpt) st->opt_tok[i] = st->fault;
  if (invert) {
    if (!kOptions[i].inv) ERR("cannot have ! before -%c", opt2char(option));
    st->invflags |= kOptions[i].inv;
  }
}

void generic_opt_check(State* st) {
  for (int i = 0; i < kNumberOfOpt; i++) {
    int legal = 0;
    for (int j = 0; j < kNumberOfCmd; j++) {
      if (!(st->command & (1u << j))) continue;
      if (!(st->options & (1u << i))) {
        if (commands_v_options[j][i] == '+')
          ERR("You need to supply the `-%c' option for this command", kOptions[i].letter);
      } else {
        if (commands_v_options[j][i] != 'x')
          legal = 1;
        else if (legal == 0)
          legal = -1;
      }
    }
    if (legal == -1) {
      st->fault = st->opt_tok[i];
      ERR("Illegal option `-%c' with this command", kOptions[i].letter);
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

// The generic part of the entry, named alike in both families' structs.
template <typename Entry, typename Ip>
void set_header(State* st, Entry* e, Ip* ip, uint8_t goto_flag) {
  ip->flags = st->flags;
  ip->invflags = st->invflags;
  memcpy(ip->iniface, st->iniface, IFNAMSIZ);
  memcpy(ip->iniface_mask, st->iniface_mask, IFNAMSIZ);
  memcpy(ip->outiface, st->outiface, IFNAMSIZ);
  memcpy(ip->outiface_mask, st->outiface_mask, IFNAMSIZ);
  if (st->goto_set) ip->flags |= goto_flag;
  e->counters.pcnt = st->pcnt_cnt;
  e->counters.bcnt = st->bcnt_cnt;
}

// -s / -d: every address of the word (a list; names resolved) with its mask, as iptables does;
// token `tok` is at fault if it fails.
void parse_hosts(State* st, const char* word, int tok, void** addrs, void** masks, unsigned int* n) {
  st->fault = tok;
  if (IsV6(st))
    xtables_ip6parse_multiple(word, reinterpret_cast<struct in6_addr**>(addrs), reinterpret_cast<struct in6_addr**>(masks), n);
  else
    xtables_ipparse_multiple(word, reinterpret_cast<struct in_addr**>(addrs), reinterpret_cast<struct in_addr**>(masks), n);
}

void post_parse(State* st) {
  if (IsV6(st))
    set_header(st, FW6(st), &FW6(st)->ipv6, IP6T_F_GOTO);
  else
    set_header(st, FW(st), &FW(st)->ip, IPT_F_GOTO);
  if (st->command & (CMD_REPLACE | CMD_INSERT | CMD_DELETE | CMD_APPEND | CMD_CHECK)) {
    if (!(st->options & kOpt<'d'>)) st->dhostnetworkmask = IsV6(st) ? "::0/0" : "0.0.0.0/0";
    if (!(st->options & kOpt<'s'>)) st->shostnetworkmask = IsV6(st) ? "::0/0" : "0.0.0.0/0";
  }
  if (st->shostnetworkmask) parse_hosts(st, st->shostnetworkmask, st->opt_tok[1], &st->saddrs, &st->smasks, &st->nsaddrs);
  if (st->dhostnetworkmask) parse_hosts(st, st->dhostnetworkmask, st->opt_tok[2], &st->daddrs, &st->dmasks, &st->ndaddrs);
  uint8_t inv = IsV6(st) ? FW6(st)->ipv6.invflags : FW(st)->ip.invflags;
  if ((st->nsaddrs > 1 || st->ndaddrs > 1) && (inv & (IPT_INV_SRCIP | IPT_INV_DSTIP)))
    ERR("! not allowed with multiple source or destination IP addresses");
}

// -F, -Z, -X: the chain is optional, attached (-Fchain) or the next word.
void optional_chain(State* st, char** argv) {
  if (optarg) {
    st->chain = optarg;
    st->chain_tok = optind - 1;
  } else if (xs_has_arg(st)) {
    st->chain_tok = optind;
    st->chain = argv[optind++];
  }
}

// The chain a command names (getopt's argument of -A, -C, -D, ...).
void chain_arg(State* st) {
  st->chain = optarg;
  st->chain_tok = optind - 1;
}

// A rule number after the chain, when one follows: true when it did.
bool rule_number(State* st, char** argv) {
  if (!xs_has_arg(st)) return false;
  st->fault = optind;
  st->rulenum = parse_rulenumber(argv[optind++]);
  return true;
}

// -E, -P: the chain, then a word that must follow (the new name, the policy).
const char* chain_and_word(State* st, char** argv, const char* missing) {
  chain_arg(st);
  if (!xs_has_arg(st)) ERR("%s", missing);
  return argv[optind++];
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
        chain_arg(st);
        break;
      case 'C':
        add_command(&st->command, CMD_CHECK, CMD_NONE, invert);
        chain_arg(st);
        break;
      case 'D':
        add_command(&st->command, CMD_DELETE, CMD_NONE, invert);
        chain_arg(st);
        if (rule_number(st, argv)) st->command = CMD_DELETE_NUM;
        break;
      case 'R':
        add_command(&st->command, CMD_REPLACE, CMD_NONE, invert);
        chain_arg(st);
        if (!rule_number(st, argv)) ERR("-%c requires a rule number", cmd2char(CMD_REPLACE));
        break;
      case 'I':
        add_command(&st->command, CMD_INSERT, CMD_NONE, invert);
        chain_arg(st);
        if (!rule_number(st, argv)) st->rulenum = 1;
        break;
      case 'L':
      case 'S':
        ERR("-%c cannot be used in a restore text: it only lists (use save())", st->c);
      case 'F':
        add_command(&st->command, CMD_FLUSH, CMD_NONE, invert);
        optional_chain(st, argv);
        break;
      case 'Z':
        add_command(&st->command, CMD_ZERO, CMD_LIST | CMD_LIST_RULES, invert);
        optional_chain(st, argv);
        if (rule_number(st, argv)) st->command = CMD_ZERO_NUM;
        break;
      case 'N':
        st->chain_tok = optind - 1;
        assert_valid_chain_name(st, optarg);
        add_command(&st->command, CMD_NEW_CHAIN, CMD_NONE, invert);
        st->chain = optarg;
        break;
      case 'X':
        add_command(&st->command, CMD_DELETE_CHAIN, CMD_NONE, invert);
        optional_chain(st, argv);
        break;
      case 'E':
        add_command(&st->command, CMD_RENAME_CHAIN, CMD_NONE, invert);
        st->newname = chain_and_word(st, argv, "-E requires old-chain-name and new-chain-name");
        break;
      case 'P':
        add_command(&st->command, CMD_SET_POLICY, CMD_NONE, invert);
        st->policy = chain_and_word(st, argv, "-P requires a chain and a policy");
        break;
      case 'h':
        ERR("-h (help) cannot be used in a restore text");
      case 'p': {
        set_option(st, kOpt<'p'>, invert);
        for (st->protocol = argv[optind - 1]; *st->protocol; st->protocol++)
          *st->protocol = tolower((unsigned char)*st->protocol);
        st->protocol = argv[optind - 1];
        st->proto = xtables_parse_protocol(st->protocol);
        if (st->proto == 0 && (st->invflags & XT_INV_PROTO)) ERR("rule would never match protocol");
        proto_parse(st);
        break;
      }
      case 's':
        set_option(st, kOpt<'s'>, invert);
        st->shostnetworkmask = argv[optind - 1];
        break;
      case 'd':
        set_option(st, kOpt<'d'>, invert);
        st->dhostnetworkmask = argv[optind - 1];
        break;
      case 'g':
        set_option(st, kOpt<'j'>, invert);
        st->goto_set = true;
        st->target_tok = st->fault;
        st->jumpto = xt_parse_target(optarg);
        break;
      case 'j':
        set_option(st, kOpt<'j'>, invert);
        st->target_tok = st->fault;
        command_jump(st, argv[optind - 1]);
        break;
      case 'i':
        check_empty_interface(optarg);
        set_option(st, kOpt<'i'>, invert);
        xtables_parse_interface(argv[optind - 1], st->iniface, st->iniface_mask);
        break;
      case 'o':
        check_empty_interface(optarg);
        set_option(st, kOpt<'o'>, invert);
        xtables_parse_interface(argv[optind - 1], st->outiface, st->outiface_mask);
        break;
      case 'f':
        if (IsV6(st)) ERR("`-f' is not supported in IPv6, use -m frag instead");
        set_option(st, kOpt<'f'>, invert);
        st->flags |= IPT_F_FRAG;
        break;
      case 'v':
        if (!st->verbose) set_option(st, kOpt<'v'>, invert);
        st->verbose++;
        break;
      case 'm':
        command_match(st, invert);
        break;
      case 'n':
        set_option(st, kOpt<'n'>, invert);
        break;
      case 't':
        if (invert) ERR("unexpected ! flag before --table");
        // restore: the table is set by the text's *table line already
        ERR("The -t option cannot be used in %s.\n", xt_params->program_name);
      case 'x':
        set_option(st, kOpt<'x'>, invert);
        break;
      case 'V':
        ERR("-V (version) cannot be used in a restore text");
      case 'w':
        ERR("You cannot use `-w' from iptables-restore");
      case 'W':
        ERR("You cannot use `-W' from iptables-restore");
      case '0':
        set_option(st, kOpt<'0'>, invert);
        break;
      case 'M':
        break;  // modprobe program: nlkit never runs one
      case 'c': {
        set_option(st, kOpt<'c'>, invert);
        st->pcnt = optarg;
        st->bcnt = st->pcnt[0] ? strchr(st->pcnt + 1, ',') : NULL;
        if (st->bcnt) st->bcnt++;
        if (!st->bcnt && xs_has_arg(st)) st->bcnt = argv[optind++];
        if (!st->bcnt) ERR("-%c requires packet and byte counter", opt2char(kOpt<'c'>));
        if (sscanf(st->pcnt, "%llu", &st->pcnt_cnt) != 1) ERR("-%c packet counter not numeric", opt2char(kOpt<'c'>));
        if (sscanf(st->bcnt, "%llu", &st->bcnt_cnt) != 1) ERR("-%c byte counter not numeric", opt2char(kOpt<'c'>));
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
      if (st->options & kOpt<'o'>) ERR("Can't use -%c with %s\n", opt2char(kOpt<'o'>), st->chain);
    }
    if (strcmp(st->chain, "POSTROUTING") == 0 || strcmp(st->chain, "OUTPUT") == 0) {
      st->fault = st->opt_tok[7];
      if (st->options & kOpt<'i'>) ERR("Can't use -%c with %s\n", opt2char(kOpt<'i'>), st->chain);
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
    NewBlob<TargetKind>(st->target, st->jumpto);
    bool chain = strlen(st->jumpto) > 0;
    st->jump_is_chain = chain;
    if (IsV6(st) || st->is_chain(st->ctx, st->jumpto)) st->target->t->u.user.revision = 0;  // as the tools write it
    InitExt<TargetKind>(st->target);
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
  MakeArgv(nfproto, tokens, &storage, &argv);

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
    out->counters = (st->options & kOpt<'c'>) != 0;
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

}  // namespace ipt
}  // namespace nlkit
