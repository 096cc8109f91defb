// The fast path of rule compilation (FastCompile, declared in parse.h): an append whose
// words mean the same with or without getopt skips do_parse.
#include "parse.h"

#include "common.h"  // first: xtables.h brings net/if.h, which must precede linux/if.h
#include "../model/table.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <malloc.h>

#include <memory>
#include <string_view>
#include <unordered_map>

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

namespace nlkit {
namespace ipt {

using namespace compile;

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
  unsigned options;  // kOpt bits seen
  uint16_t proto;
  uint16_t invflags;
  uint8_t flags;      // IPT_F_FRAG / IP6T_F_PROTO as args->flags
  uint8_t v6flags;    // fw6.ipv6.flags during parsing (IP6T_F_PROTO after -p)
  uint16_t fwInv;     // fw's invflags during parsing: what they were at the last -p
  const char* host[2];   // the -s and -d words
  const char* iface[2];  // the -i and -o words
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
// The next segment: a match (t NULL) or a target (m NULL), as written `name`, no options yet.
void AddSeg(FastState* fs, struct xtables_match* m, struct xtables_target* t, const char* name) {
  FastSeg* sg = &fs->segs[fs->nsegs++];
  sg->target = t != NULL;
  sg->m = m;
  sg->t = t;
  sg->name = name;
  sg->nopts = 0;
}

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
      // g is s d p i o f j g or m (GenericVal): an option of kOptions as do_parse sets it, -g
      // being a jump too, and -m none.
      int k = OptIndex(static_cast<char>(g == 'g' ? 'j' : g));
      unsigned opt = k < 0 ? 0 : 1u << k;
      int inv = k < 0 ? 0 : kOptions[k].inv;
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
        case 'd':
          fs->host[g == 'd'] = a;
          break;
        case 'i':
        case 'o':
          if (a[0] == '\0' || strlen(a) + 1 > IFNAMSIZ) return false;
          fs->iface[g == 'o'] = a;
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
          AddSeg(fs, m, NULL, a);
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
          AddSeg(fs, NULL, t, a);
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
  if ((fs->options & kOpt<'o'>) && (strcmp(chain, "PREROUTING") == 0 || strcmp(chain, "INPUT") == 0)) return false;
  if ((fs->options & kOpt<'i'>) && (strcmp(chain, "POSTROUTING") == 0 || strcmp(chain, "OUTPUT") == 0)) return false;
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

// One extension's blob (a spare, named `name`), filled by its own parser option by option,
// then its final check; the blob moves to *blob.
template <typename K, typename SetFw>
void ParseExt(FastState* fs, FastSeg* sg, typename K::Ext* e, const char* name, unsigned char* fw, unsigned char** blob,
              SetFw& setFw) {
  PutBlob<K>(e, t_spares.Take(e, BlobSize<K>(e)), name);
  K::Flags(e) = 0;
  InitExt<K>(e);
  for (int k = 0; k < sg->nopts; k++) {
    const FastOpt* o = &sg->opts[k];
    setFw(o);
    optarg = o->arg >= 0 ? fs->argv[o->arg] : NULL;
    optind = (o->arg >= 0 ? o->arg : o->tok) + 1;
    // The fast path takes old-style parsers for matches only (targets: x6 always).
    if (o->x6 || K::kTarget) {
      struct xt_option_call cb;
      cb.entry = o->x6;
      cb.arg = optarg;
      cb.invert = o->invert;
      cb.ext_name = e->name;
      cb.data = K::BlobOf(e)->data;
      cb.xflags = K::Flags(e);
      K::Point(cb, e);
      cb.xt_entry = fw;
      cb.udata = e->udata;
      e->x6_parse(&cb);
      K::Flags(e) = cb.xflags;
    } else {
      e->parse(o->val, fs->argv, o->invert, &K::Flags(e), fw, &K::BlobOf(e));
    }
  }
  K::Final(e);
  *blob = reinterpret_cast<unsigned char*>(K::BlobOf(e));
  K::BlobOf(e) = NULL;
}

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
  if (!sg->target)
    ParseExt<MatchKind>(fs, sg, sg->m, sg->m->name, fw, blob, setFw);
  else
    ParseExt<TargetKind>(fs, sg, sg->t, sg->name, fw, blob, setFw);
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
  MakeArgv(nfproto, tokens, &storage, &argv);
  memset(fs, 0, offsetof(FastState, segs));
  fs->nfproto = nfproto;
  fs->argc = static_cast<int>(tokens.size() + 1);
  fs->argv = argv.data();
  fs->jumpto = "";
  fs->targetTok = -1;
  if (!FastScan(fs, table, isChain, ctx)) return false;

  bool v6 = nfproto == NFPROTO_IPV6;
  alignas(8) unsigned char src[16], smsk[16], dst[16], dmsk[16];
  if (!FastAddress(fs->host[0], v6, src, smsk) || !FastAddress(fs->host[1], v6, dst, dmsk)) return false;

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
  char face[2][IFNAMSIZ] = {};  // in, out
  unsigned char mask[2][IFNAMSIZ] = {};
  for (int k = 0; k < 2; k++)
    if (fs->iface[k]) xtables_parse_interface(fs->iface[k], face[k], mask[k]);  // lengths checked by FastScan
  uint8_t flags = fs->flags | (fs->gotoSet ? (v6 ? IP6T_F_GOTO : IPT_F_GOTO) : 0);
  // generate_entry's header: the two families' entries name their fields alike
  auto header = [&](auto* h, auto& ip, size_t alen) {
    memcpy(&ip.src, src, alen);
    memcpy(&ip.smsk, smsk, alen);
    memcpy(&ip.dst, dst, alen);
    memcpy(&ip.dmsk, dmsk, alen);
    memcpy(ip.iniface, face[0], IFNAMSIZ);
    memcpy(ip.iniface_mask, mask[0], IFNAMSIZ);
    memcpy(ip.outiface, face[1], IFNAMSIZ);
    memcpy(ip.outiface_mask, mask[1], IFNAMSIZ);
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
