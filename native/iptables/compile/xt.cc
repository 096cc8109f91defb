#include "xt.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio_ext.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

namespace nlkit {
namespace ipt {

XtJump* g_xt_jump = nullptr;

namespace {

// iptables.c's original_opts: the generic options every rule line may use.
struct option g_orig_opts[] = {
    {"append", 1, nullptr, 'A'},
    {"delete", 1, nullptr, 'D'},
    {"check", 1, nullptr, 'C'},
    {"insert", 1, nullptr, 'I'},
    {"replace", 1, nullptr, 'R'},
    {"list", 2, nullptr, 'L'},
    {"list-rules", 2, nullptr, 'S'},
    {"flush", 2, nullptr, 'F'},
    {"zero", 2, nullptr, 'Z'},
    {"new-chain", 1, nullptr, 'N'},
    {"delete-chain", 2, nullptr, 'X'},
    {"rename-chain", 1, nullptr, 'E'},
    {"policy", 1, nullptr, 'P'},
    {"source", 1, nullptr, 's'},
    {"destination", 1, nullptr, 'd'},
    {"src", 1, nullptr, 's'},
    {"dst", 1, nullptr, 'd'},
    {"protocol", 1, nullptr, 'p'},
    {"in-interface", 1, nullptr, 'i'},
    {"jump", 1, nullptr, 'j'},
    {"table", 1, nullptr, 't'},
    {"match", 1, nullptr, 'm'},
    {"numeric", 0, nullptr, 'n'},
    {"out-interface", 1, nullptr, 'o'},
    {"verbose", 0, nullptr, 'v'},
    {"wait", 2, nullptr, 'w'},
    {"wait-interval", 2, nullptr, 'W'},
    {"exact", 0, nullptr, 'x'},
    {"fragments", 0, nullptr, 'f'},
    {"version", 0, nullptr, 'V'},
    {"help", 2, nullptr, 'h'},
    {"line-numbers", 0, nullptr, '0'},
    {"modprobe", 1, nullptr, 'M'},
    {"set-counters", 1, nullptr, 'c'},
    {"goto", 1, nullptr, 'g'},
    {"ipv4", 0, nullptr, '4'},
    {"ipv6", 0, nullptr, '6'},
    {nullptr, 0, nullptr, 0},
};

int g_family = 0;
bool g_initialised = false;

// libxtables' exit_err: never prints, never exits. Leaves by longjmp to the innermost guard;
// XtRun, the only way into libxtables, sets one before anything runs.
[[noreturn]] void ExitErr(enum xtables_exittype status, const char* msg, ...) {
  XtJump* j = g_xt_jump;
  va_list ap;
  va_start(ap, msg);
  vsnprintf(j->message, sizeof j->message, msg, ap);
  va_end(ap);
  j->status = status;
  longjmp(j->buf, 1);
}

// Like xtables_compatible_revision, without the modprobe and without exit(): asks the
// kernel which revision of an extension it has, on a socket of the calling thread.
std::map<std::tuple<int, std::string, int, int>, int> g_revisions;

int CompatRev(const char* name, uint8_t revision, int opt) {
  auto key = std::make_tuple(g_family, std::string(name), static_cast<int>(revision), opt);
  auto it = g_revisions.find(key);
  if (it != g_revisions.end()) return it->second;
  int af = g_family == NFPROTO_IPV6 ? AF_INET6 : AF_INET;
  int level = g_family == NFPROTO_IPV6 ? IPPROTO_IPV6 : IPPROTO_IP;
  int fd = socket(af, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  int ok;
  if (fd < 0) {
    ok = 1;  // cannot ask (no CAP_NET_RAW): assume it is supported, like iptables does
  } else {
    struct xt_get_revision rev;
    socklen_t s = sizeof rev;
    memset(&rev, 0, sizeof rev);
    strncpy(rev.name, name, XT_EXTENSION_MAXNAMELEN - 1);
    rev.revision = revision;
    if (getsockopt(fd, level, opt, &rev, &s) < 0) {
      // ENOENT/EPROTONOSUPPORT: not there at all; ENOPROTOOPT: an old kernel. Revision 0 is
      // assumed so that the kernel's own refusal names the problem later.
      ok = revision == 0;
    } else {
      ok = 1;
    }
    close(fd);
  }
  g_revisions.emplace(key, ok);
  return ok;
}

struct xtables_globals g_globals = {
    0,                      // option_offset
    "iptables-restore",     // program_name
    "1.8.9 (legacy)",       // program_version
    g_orig_opts,            // orig_opts
    nullptr,                // opts
    ExitErr,                // exit_err
    CompatRev,              // compat_rev
};

}  // namespace

namespace {

std::mutex& XtMutex() {
  static std::mutex m;
  return m;
}

// Initialises libxtables once and selects the family for what follows.
bool XtUse(int nfproto, std::string* error) {
  if (!g_initialised) {
    if (xtables_init_all(&g_globals, nfproto) < 0) {
      *error = "libxtables: initialisation failed";
      return false;
    }
    g_initialised = true;
  }
  // xtables_init_all may have installed its defaults: keep ours.
  xt_params = &g_globals;
  g_globals.exit_err = ExitErr;
  g_globals.compat_rev = CompatRev;
  if (g_family != nfproto) {
    xtables_set_nfproto(nfproto);
    g_family = nfproto;
  }
  g_globals.program_name = nfproto == NFPROTO_IPV6 ? "ip6tables-restore" : "iptables-restore";
  return true;
}

// What an unexpected exit_err may have left half done: parse buffers of the extensions and
// the merged option table. (Nothing of this is in use between two runs.)
void ResetParseState() {
  for (struct xtables_match* m = xtables_matches; m; m = m->next) {
    free(m->m);
    m->m = nullptr;
    m->mflags = 0;
  }
  for (struct xtables_target* t = xtables_targets; t; t = t->next) {
    free(t->t);
    t->t = nullptr;
    t->tflags = 0;
    t->used = 0;
  }
  xtables_free_opts(1);
  optind = 0;
}

}  // namespace

int XtFamily() { return g_family; }

bool XtRun(int nfproto, bool captureStdout, void (*body)(void* ctx, StdioCapture& capture), void* ctx,
           std::string* fatal) {
  std::lock_guard<std::mutex> lock(XtMutex());
  StdioCapture capture(captureStdout);
  XtJump guard;
  guard.message[0] = '\0';
  guard.status = 0;
  g_xt_jump = &guard;
  if (setjmp(guard.buf) != 0) {
    g_xt_jump = nullptr;
    ResetParseState();
    *fatal = std::string("libxtables failed: ") + guard.message;
    while (!fatal->empty() && (fatal->back() == '\n' || fatal->back() == ' ')) fatal->pop_back();
    return false;
  }
  if (!XtUse(nfproto, fatal)) {
    g_xt_jump = nullptr;
    return false;
  }
  capture.TakeErr();  // whatever loading the plugins printed
  body(ctx, capture);
  g_xt_jump = nullptr;
  return true;
}

StdioCapture::StdioCapture(bool captureStdout) : lock_(StdioLock()) {
  fflush(stdout);
  fflush(stderr);
  if (captureStdout) {
    out_ = open_memstream(&outBuf_, &outLen_);
    if (out_) {
      savedOut_ = stdout;
      stdout = out_;
    }
  }
  err_ = open_memstream(&errBuf_, &errLen_);
  if (err_) {
    savedErr_ = stderr;
    stderr = err_;
  }
}

StdioCapture::~StdioCapture() {
  if (out_) {
    fflush(out_);
    stdout = savedOut_;
    fclose(out_);
    free(outBuf_);
  }
  if (err_) {
    fflush(err_);
    stderr = savedErr_;
    fclose(err_);
    free(errBuf_);
  }
}

std::string StdioCapture::TakeOut() {
  if (!out_) return {};
  fflush(out_);
  std::string s(outBuf_ + outTaken_, outLen_ - outTaken_);
  outTaken_ = outLen_;
  return s;
}

std::vector<std::string> StdioCapture::TakeErr() {
  std::vector<std::string> lines;
  if (!err_) return lines;
  if (__fpending(err_) == 0 && errLen_ == errTaken_) return lines;  // nothing printed since (the common case)
  fflush(err_);
  std::string s(errBuf_ + errTaken_, errLen_ - errTaken_);
  errTaken_ = errLen_;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    if (nl > start) lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

namespace {
// Names of the plugins in the xtables directories, by family prefix.
struct PluginIndex {
  bool scanned = false;
  bool usable = true;
  std::map<std::string, std::string> xt, ipt, ip6t;  // name -> first path (search order)
  uint64_t lengths = 0;  // bit n: some plugin's name is n long (n < 64); most chain names are not
};
PluginIndex g_plugins;

// libxtables' own xtables_libdir is not exported: the same environment variables, then the
// directory it was built for (`xtables` next to the library itself).
std::string PluginDirs() {
  for (const char* v : {"XTABLES_LIBDIR", "IPTABLES_LIB_DIR", "IP6TABLES_LIB_DIR"}) {
    const char* d = getenv(v);
    if (d != nullptr) return d;
  }
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&xtables_init), &info) && info.dli_fname) {
    std::string lib = info.dli_fname;
    size_t slash = lib.rfind('/');
    if (slash != std::string::npos) return lib.substr(0, slash) + "/xtables";
  }
  return {};
}

void ScanPlugins() {
  g_plugins.scanned = true;
  std::string all = PluginDirs();
  if (all.empty()) {
    g_plugins.usable = false;
    return;
  }
  size_t start = 0;
  while (start <= all.size()) {
    size_t colon = all.find(':', start);
    if (colon == std::string::npos) colon = all.size();
    std::string dir = all.substr(start, colon - start);
    start = colon + 1;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) {
      if (errno != ENOENT) g_plugins.usable = false;
      continue;
    }
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() < 4 || n.compare(n.size() - 3, 3, ".so") != 0) continue;
      n.resize(n.size() - 3);
      std::string path = dir + "/" + e->d_name;
      std::string name;
      if (n.rfind("libxt_", 0) == 0) g_plugins.xt.emplace(name = n.substr(6), path);
      else if (n.rfind("libipt_", 0) == 0) g_plugins.ipt.emplace(name = n.substr(7), path);
      else if (n.rfind("libip6t_", 0) == 0) g_plugins.ip6t.emplace(name = n.substr(8), path);
      else continue;
      g_plugins.lengths |= name.size() < 64 ? uint64_t(1) << name.size() : 0;
    }
    closedir(d);
  }
}
}  // namespace

namespace {
// libxtables registers only the current family's variants of an extension when its plugin
// is dlopened (xtables_register_match/target drop the others), and dlopen loads a file once
// per process. So the first family to use a plugin lets libxtables load it as usual; when
// the other family needs the same plugin later, a private in-memory copy of the file is
// loaded, whose constructor registers that family's variants.
std::map<std::pair<dev_t, ino_t>, unsigned> g_loaded;  // plugin file -> families (bit per NFPROTO)
std::vector<int> g_copies;                             // memfds of the copies (their /proc/self/fd names must stay unique)

bool CopyFile(int src, int dst) {
  char buf[65536];
  ssize_t n;
  if (lseek(src, 0, SEEK_SET) != 0) return false;
  while ((n = read(src, buf, sizeof buf)) > 0)
    if (write(dst, buf, n) != n) return false;
  return n == 0;
}

void LoadCopy(const std::string& path) {
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return;
  bool loaded = false;
  int mfd = memfd_create("nlkit-xtables", MFD_CLOEXEC);
  if (mfd >= 0) {
    if (CopyFile(src, mfd)) {
      char p[64];
      snprintf(p, sizeof p, "/proc/self/fd/%d", mfd);
      loaded = dlopen(p, RTLD_NOW) != nullptr;
    }
    g_copies.push_back(mfd);
  }
  if (!loaded) {
    // memfds may not be executable (vm.memfd_noexec): a private temporary file instead
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/nlkit-xtables-XXXXXX";
    int fd = mkstemp(&tmpl[0]);
    if (fd >= 0) {
      if (CopyFile(src, fd)) dlopen(tmpl.c_str(), RTLD_NOW);
      unlink(tmpl.c_str());  // the mapping stays
      close(fd);
    }
  }
  close(src);
}
}  // namespace

void EnsurePlugin(const char* name, int nfproto) {
  if (name == nullptr || name[0] == '\0') return;
  // The names ensured last, by family: a text uses the same few extensions on every line.
  static char recent[2][8][XT_EXTENSION_MAXNAMELEN];
  static unsigned nextRecent[2];
  int f = nfproto == NFPROTO_IPV6 ? 1 : 0;
  for (const char* r : recent[f])
    if (strcmp(r, name) == 0) return;
  if (strlen(name) < XT_EXTENSION_MAXNAMELEN) strcpy(recent[f][nextRecent[f]++ % 8], name);
  static std::set<std::string> ensured[2];
  std::set<std::string>& done = ensured[nfproto == NFPROTO_IPV6 ? 1 : 0];
  std::string n(name);
  if (n == "icmpv6" || n == "ipv6-icmp") n = "icmp6";  // xtables_find_match's own renaming
  if (n == "ACCEPT" || n == "DROP" || n == "QUEUE" || n == "RETURN") n = "standard";
  if (!done.insert(n).second) return;
  if (!g_plugins.scanned) ScanPlugins();
  unsigned bit = 1u << nfproto;
  const auto& fam = nfproto == NFPROTO_IPV6 ? g_plugins.ip6t : g_plugins.ipt;
  const std::map<std::string, std::string>* idxs[] = {&fam, &g_plugins.xt};
  for (const auto* idx : idxs) {
    auto it = idx->find(n);
    if (it == idx->end()) continue;
    struct stat st;
    if (stat(it->second.c_str(), &st) != 0) continue;
    unsigned& fams = g_loaded[{st.st_dev, st.st_ino}];
    if (fams & bit) continue;
    if (fams != 0) LoadCopy(it->second);  // loaded for the other family: register this one's variants
    // else libxtables' own lookup loads it now, for this family
    fams |= bit;
  }
}

bool PluginMayExist(const char* name, int nfproto) {
  if (!g_plugins.scanned) ScanPlugins();
  if (!g_plugins.usable) return true;
  size_t len = strlen(name);
  if (len >= 64 || !(g_plugins.lengths & (uint64_t(1) << len))) return false;
  std::string n(name);
  if (g_plugins.xt.count(n)) return true;
  return nfproto == NFPROTO_IPV6 ? g_plugins.ip6t.count(n) > 0 : g_plugins.ipt.count(n) > 0;
}

// iptables' own proto_to_name (xshared.c), used by its parser and its save alike.
const char* proto_to_name(uint16_t proto, int nolookup) {
  for (unsigned i = 0; xtables_chain_protos[i].name != NULL; ++i)
    if (xtables_chain_protos[i].num == proto) return xtables_chain_protos[i].name;
  if (proto && !nolookup) {
    struct protoent* pent = getprotobynumber(proto);
    if (pent) return pent->p_name;
  }
  return NULL;
}

}  // namespace ipt
}  // namespace nlkit
