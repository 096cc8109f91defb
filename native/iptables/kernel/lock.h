// The xtables lock: the same flock(LOCK_EX) on $XTABLES_LOCKFILE or /run/xtables.lock that
// the iptables tools hold across reading and committing a table. Waiting polls with LOCK_NB
// on the calling (worker) thread: no signals, no blocking flock.
#pragma once
#include <string>

namespace nlkit {
namespace ipt {

struct LockOptions {
  std::string path;         // empty: do not lock
  double waitSeconds = -1;  // < 0: forever
  double intervalMs = 100;
};

struct LockOutcome {
  int fd = -1;
  int err = 0;           // errno of open/flock; ETIMEDOUT when the wait ran out
  int holderPid = 0;     // from /proc/locks, 0 when unknown
  std::string message;
};

// Takes the lock; on success fd >= 0 (close it to release).
LockOutcome AcquireXtablesLock(const LockOptions& opts);
void ReleaseXtablesLock(int fd);
// The pid holding a flock on `path`, from /proc/locks (0 when none is found).
int LockHolderPid(const std::string& path);

}  // namespace ipt
}  // namespace nlkit
