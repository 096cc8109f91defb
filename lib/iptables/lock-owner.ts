// Who holds the xtables lock inside this process. flock() conflicts between two opens of the
// file even in one process, so ownership is the async context that took it (withLock(), or a
// transaction through it): code running inside it (awaited or not) uses the lock it holds;
// every other context takes the lock itself, and waits or fails as the iptables tools would.
import { AsyncLocalStorage } from 'node:async_hooks';

/** One withLock() of one lock file; `held` turns false when it lets go. */
interface Holding {
  readonly path: string;
  held: boolean;
}

const owner = new AsyncLocalStorage<readonly Holding[]>();

/** The lock file the iptables tools use: `$XTABLES_LOCKFILE` or /run/xtables.lock. */
export const xtablesLockPath = (): string => process.env.XTABLES_LOCKFILE || '/run/xtables.lock';

/**
 * Whether the calling async context holds the xtables lock at `path` (it runs inside a
 * withLock() that has not let go yet).
 *
 * @example
 *   if (!holdsXtablesLock(xtablesLockPath())) req.lock = lockRequest(op, opts);
 */
export function holdsXtablesLock(path: string): boolean {
  return owner.getStore()?.some((h) => h.held && h.path === path) ?? false;
}

/**
 * Runs `fn` as the holder of the lock at `path`, which the caller has just taken, and
 * calls `release` once `fn` has settled. Work that `fn` started and left running is no
 * longer the holder after that.
 *
 * @example
 *   return runHoldingXtablesLock(path, fn, () => binding().iptablesUnlock(fd));
 */
export async function runHoldingXtablesLock<T>(path: string, fn: () => Promise<T> | T, release: () => void): Promise<T> {
  const h: Holding = { path, held: true };
  try {
    return await owner.run([...(owner.getStore() ?? []), h], fn);
  } finally {
    h.held = false;
    release();
  }
}
