import { existsSync } from 'node:fs';
import { NotFoundError } from './errors.js';

/** A name made by `ip netns add`, or a path such as /proc/PID/ns/net or /run/netns/NAME. */
export type NetnsRef = string;

export function netnsPath(ref: NetnsRef): string {
  return ref.includes('/') ? ref : `/run/netns/${ref}`;
}

/** Resolves and checks the namespace at open() time, so a typo fails where it was made. */
export function resolveNetns(ref: NetnsRef | undefined, op: string): string | undefined {
  if (ref === undefined) return undefined;
  const path = netnsPath(ref);
  if (!existsSync(path)) {
    throw new NotFoundError(`network namespace ${ref} not found (${path})`, { op, subsystem: 'netns' });
  }
  return path;
}
