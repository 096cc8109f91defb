import { statSync, type Stats } from 'node:fs';
import { InvalidArgumentError, NotFoundError } from './errors.js';
import { badArgument, checkNoNul } from './args.js';

/**
 * A name made by `ip netns add` (no '/'), or an absolute path such as /proc/PID/ns/net or
 * /run/netns/NAME. Relative paths are refused rather than resolved from the working directory.
 */
export type NetnsRef = string;

export function netnsPath(ref: NetnsRef): string {
  return ref.startsWith('/') ? ref : `/run/netns/${ref}`;
}

/** Refuses what is neither a namespace name nor an absolute path, whatever its JS type. */
export function checkNetnsRef(ref: unknown, op: string): NetnsRef {
  const ctx = { op, subsystem: 'netns' as const };
  const expected = 'a namespace name (as `ip netns add` makes) or an absolute path such as /proc/PID/ns/net';
  if (typeof ref !== 'string') throw badArgument(ctx, 'netns', ref, expected);
  checkNoNul(ctx, 'netns', ref);
  if (ref === '' || ref === '.' || ref === '..' || (ref.includes('/') && !ref.startsWith('/'))) {
    throw new InvalidArgumentError(`${op}: netns must be ${expected}, not ${JSON.stringify(ref)}` +
      (ref.includes('/') ? ' (a relative path is not resolved from the working directory)' : ''),
    { op, subsystem: 'netns', argument: 'netns' });
  }
  return ref;
}

/** Resolves and checks the namespace at open() time, so a typo fails where it was made. */
export function resolveNetns(ref: unknown, op: string): string | undefined {
  if (ref === undefined) return undefined;
  const path = netnsPath(checkNetnsRef(ref, op));
  // stat, not open: opening a FIFO would wait for a writer (the worker opens without blocking).
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) {
    throw new NotFoundError(`network namespace ${ref} not found (${path})`, { op, subsystem: 'netns' });
  }
  if (!st.isFile()) {
    throw new InvalidArgumentError(`${op}: network namespace ${ref}: ${path} is ${fileKind(st)}, not a namespace file`,
      { op, subsystem: 'netns', argument: 'netns' });
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
