#include "lock.h"
#include "../../core/job.h"
#include "../../core/open_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace nlkit {
namespace ipt {

int LockHolderPid(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  FILE* f = fopen("/proc/locks", "re");
  if (!f) return 0;
  char want[64];
  snprintf(want, sizeof want, "%02x:%02x:%lu", major(st.st_dev), minor(st.st_dev), (unsigned long)st.st_ino);
  char line[512];
  int pid = 0;
  while (fgets(line, sizeof line, f)) {
    // "1: FLOCK  ADVISORY  WRITE 1234 00:19:5678 0 EOF"; waiters carry "->" after the number
    if (strstr(line, "->") || !strstr(line, "FLOCK")) continue;
    char kind[16], adv[16], mode[16], dev[64];
    int p;
    const char* colon = strchr(line, ':');
    if (!colon) continue;
    if (sscanf(colon + 1, "%15s %15s %15s %d %63s", kind, adv, mode, &p, dev) != 5) continue;
    if (strcmp(dev, want) == 0) {
      pid = p;
      break;
    }
  }
  fclose(f);
  return pid;
}

LockOutcome AcquireXtablesLock(const LockOptions& opts) {
  LockOutcome out;
  std::string why;
  int fd = OpenRegularFile(opts.path, O_CREAT, 0600, &why);
  if (fd < 0) {
    out.err = errno;
    out.message = "can't open lock file " + opts.path + ": " + (why.empty() ? strerror(errno) : why);
    return out;
  }
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      out.fd = fd;
      return out;
    }
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      out.err = errno;
      out.message = "can't lock " + opts.path + ": " + strerror(errno);
      close(fd);
      return out;
    }
    if (JobAbandoned()) {
      out.err = ECANCELED;
      out.message = "stopped waiting for the xtables lock (" + opts.path + "): the environment is shutting down";
      close(fd);
      return out;
    }
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (opts.waitSeconds >= 0 && waited >= opts.waitSeconds) {
      out.err = ETIMEDOUT;
      out.holderPid = LockHolderPid(opts.path);
      char buf[128];
      if (opts.waitSeconds == 0)
        snprintf(buf, sizeof buf, "the xtables lock (%s) is held by another holder", opts.path.c_str());
      else
        snprintf(buf, sizeof buf, "the xtables lock (%s) stayed held by another holder; stopped waiting after %gs",
                 opts.path.c_str(), opts.waitSeconds);
      out.message = buf;
      close(fd);
      return out;
    }
    double sleepMs = opts.intervalMs > 0 ? opts.intervalMs : 1;
    if (opts.waitSeconds >= 0) {
      double left = (opts.waitSeconds - waited) * 1000;
      if (left < sleepMs) sleepMs = left > 0.1 ? left : 0.1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long>(sleepMs * 1000)));
  }
}

void ReleaseXtablesLock(int fd) {
  if (fd >= 0) close(fd);
}

}  // namespace ipt
}  // namespace nlkit
