// sysctls of a handle's namespace (h.sysctls): /proc/sys files read and written on the
// handle's worker thread, the one that entered the namespace (native/link/sysctl.cc).
import { constants } from 'node:os';
import { InvalidArgumentError, PermissionError, type NlkitError } from '../core/errors.js';
import { isNativeFailure } from '../core/handle.js';
import { binding, type RawWorker } from '../core/native.js';
import { kernelError } from '../netlink/transport.js';
import { SUBSYSTEM } from './addr.js';

/** How a sysctl value may be given: text as written to /proc/sys, an integer, or several (space-separated). */
export type SysctlValue = string | number | bigint | (string | number | bigint)[];

/** Queues one native call on the handle, in call order (LinkHandle's runOne). */
export type RunOne = <T>(op: string, call: (w: RawWorker) => Promise<T>) => Promise<T>;

/**
 * The /proc/sys path of a key as sysctl(8) reads it: 'net.ipv4.ip_forward' or
 * 'net/ipv4/conf/eth0.100/forwarding' (with '/' separators a '.' belongs to the name).
 */
export function sysctlPath(key: unknown, op: string): string {
  let why: string | undefined;
  let parts: string[] = [];
  if (typeof key !== 'string') why = `must be a string, got ${key === null ? 'null' : Array.isArray(key) ? 'an array' : typeof key}`;
  else {
    parts = key.includes('/') ? key.replace(/^\/+/, '').split('/') : key.split('.');
    if (key === '') why = 'is empty';
    else if (/[\0-\x1f\x7f]/.test(key)) why = 'contains a control character';
    else if (parts.some((p) => p === '' || p === '.' || p === '..')) why = 'has an empty, "." or ".." component';
  }
  if (why !== undefined) {
    throw new InvalidArgumentError(`${op}: sysctl key ${why}`, { op, subsystem: SUBSYSTEM, argument: String(key) });
  }
  return `/proc/sys/${parts.join('/')}`;
}

/** The text written for a value; numbers must be integers. */
export function sysctlText(value: unknown, op: string): string {
  const one = (v: unknown): string => {
    if (typeof v === 'string' && !v.includes('\0')) return v;
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
    throw new InvalidArgumentError(`${op}: sysctl value must be a string, an integer or an array of them, got ${
      typeof v === 'number' ? v : typeof v === 'string' ? 'a string with NUL' : v === null ? 'null' : typeof v}`,
    { op, subsystem: SUBSYSTEM, argument: String(v) });
  };
  if (Array.isArray(value)) {
    if (value.length === 0) return one(undefined);
    return value.map(one).join(' ');
  }
  return one(value);
}

/**
 * h.sysctls: sysctls as the handle's namespace has them.
 * @example await h.sysctls.set('net.ipv4.vs.conntrack', 1);
 */
export class Sysctls {
  readonly #run: RunOne;

  /** @internal made by LinkHandle */
  constructor(run: RunOne) {
    this.#run = run;
  }

  /**
   * A sysctl's value as `sysctl -n KEY` prints it in the namespace (tabs between several
   * values). NotFoundError for an unknown key.
   * @example const fwd = await h.sysctls.get('net.ipv4.ip_forward'); // '0'
   */
  get(key: string): Promise<string> {
    const op = 'link.sysctls.get';
    let path: string;
    try {
      path = sysctlPath(key, op);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#run(op, (w) => binding().sysctlRead(w, path).then((t) => t.replace(/\n$/, ''), (e: unknown) => {
      throw mapped(op, key, e);
    }));
  }

  /**
   * Sets a sysctl in the namespace, as `sysctl -w KEY=VALUE` does. NotFoundError for an unknown
   * key, InvalidArgumentError for a value the kernel refuses, PermissionError for a read-only one.
   * @example await h.sysctls.set('net.ipv4.ip_forward', 1);
   * await h.sysctls.set('net.ipv4.ip_local_port_range', [20000, 30000]);
   */
  set(key: string, value: SysctlValue): Promise<void> {
    const op = 'link.sysctls.set';
    let path: string, text: string;
    try {
      path = sysctlPath(key, op);
      text = sysctlText(value, op);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#run(op, (w) => binding().sysctlWrite(w, path, text).catch((e: unknown) => {
      throw mapped(op, key, e);
    }));
  }
}

/** A failure of the file itself (not the handle's: closed, namespace gone) as the typed error. */
function mapped(op: string, key: string, e: unknown): unknown {
  if (!isNativeFailure(e) || e.kind !== undefined) return e;
  if (e.errno === constants.errno.EACCES || e.errno === constants.errno.EPERM) {
    // Not the netlink meaning (CAP_NET_ADMIN): a read-only file, or a sysctl this namespace may not change.
    return new PermissionError(`${op}: sysctl ${key}: ${e.message} (read-only, or not writable from this namespace)`,
      { op, subsystem: SUBSYSTEM, errno: e.errno });
  }
  const err: NlkitError = kernelError(op, SUBSYSTEM, e.errno, { what: `sysctl ${key}`, detail: e.message });
  return err;
}
