import { statSync, type Stats } from 'node:fs';
import { InvalidArgumentError, NotFoundError } from './errors.js';

/** A name made by `ip netns add`, or a path such as /proc/PID/ns/net or /run/netns/NAME. */
export type NetnsRef = string;

export function netnsPath(ref: NetnsRef): string {
  return ref.includes('/') ? ref : `/run/netns/${ref}`;
}

/** Resolves and checks the namespace at open() time, so a typo fails where it was made. */
export function resolveNetns(ref: NetnsRef | undefined, op: string): string | undefined {
  if (ref === undefined) return undefined;
  const path = netnsPath(ref);
  // stat, not open: opening a FIFO would wait for a writer (the worker opens without blocking).
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) {
    throw new NotFoundError(`network namespace ${ref} not found (${path})`, { op, subsystem: 'netns' });
  }
  if (!st.isFile()) {
    throw new InvalidArgumentError(`${op}: network namespace ${ref}: ${path} is ${fileKind(st)}, not a namespace file`,
      { op, subsystem: 'netns', argument: ref });
  }
  return path;
}

/** What kind of file `st` is, in words, for errors about a file that should be regular. */
export function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}
