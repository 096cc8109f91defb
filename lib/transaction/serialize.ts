// One transaction at a time per network namespace in this process. Each undoes from a
// snapshot taken before it applied: two at once in one namespace would each put back a state
// without the other's change. ipset-only transactions take no xtables lock, so this queue is
// the lock they need. Transactions that touch iptables take it after the xtables lock (one
// order everywhere: xtables lock, then this queue), so a transaction started inside
// withLock() cannot deadlock against one waiting for that lock.
import { statSync } from 'node:fs';
import { netnsPath } from '../core/netns.js';

/** The last transaction queued per namespace; it settles when that one is done. */
const tails = new Map<string, Promise<void>>();

/** The namespace itself (device and inode of its nsfs file): a name and its /run/netns path are one. */
function namespaceKey(netns: string | undefined): string {
  const path = netns === undefined ? '/proc/self/ns/net' : netnsPath(netns);
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}` : path;
}

/**
 * Runs `fn` once every transaction queued before it in the same namespace has finished.
 *
 * @example
 *   const applied = await oneAtATime(opts.netns, () => snapshotApplyOrUndo());
 */
export async function oneAtATime<T>(netns: string | undefined, fn: () => Promise<T>): Promise<T> {
  const key = namespaceKey(netns);
  const before = tails.get(key) ?? Promise.resolve();
  let done!: () => void;
  const tail = before.then(() => new Promise<void>((resolve) => (done = resolve)));
  tails.set(key, tail);
  await before;
  try {
    return await fn();
  } finally {
    done();
    if (tails.get(key) === tail) tails.delete(key);
  }
}
