// Named network namespaces, interoperable with `ip netns`: a namespace is a bind mount of a
// namespace file on /run/netns/NAME. The mounts are done by native/link/netns.cc on a thread
// of their own (never the JS thread, never a pool thread that would stay in the namespace).
import { readdir } from 'node:fs/promises';
import { InvalidArgumentError, NlkitError } from '../core/errors.js';
import { isNativeFailure } from '../core/handle.js';
import { binding } from '../core/native.js';
import { kernelError } from '../netlink/transport.js';
import { SUBSYSTEM } from './addr.js';

/** Where iproute2 keeps named namespaces (NETNS_RUN_DIR). */
export const NETNS_RUN_DIR = '/run/netns';

/**
 * iproute2's is_valid_netns_name(): not empty, shorter than NAME_MAX, no '/', not '.' or '..'.
 * Returns the name, or throws InvalidArgumentError naming `op`.
 * @example const name = link.namespaces.checkNetnsName(input, 'myapp.setup');
 */
export function checkNetnsName(name: unknown, op: string): string {
  let why: string | undefined;
  if (typeof name !== 'string') why = `must be a string, got ${name === null ? 'null' : typeof name}`;
  else if (name === '' || name === '.' || name === '..') why = `"${name}" cannot name a namespace`;
  else if (name.includes('/') || name.includes('\0')) why = 'must not contain "/" or NUL';
  else if (Buffer.byteLength(name) >= 255) why = 'must be shorter than 255 bytes';
  if (why !== undefined) {
    throw new InvalidArgumentError(`${op}: namespace name ${why}`, { op, subsystem: SUBSYSTEM, argument: String(name) });
  }
  return name as string;
}

/** Checks the name, then runs the native job; its failure record becomes the typed error. */
async function mountJob(op: string, name: string, job: (name: string) => Promise<void>): Promise<void> {
  checkNetnsName(name, op);
  try {
    await job(name);
  } catch (e) {
    if (!isNativeFailure(e)) throw e;
    throw kernelError(op, SUBSYSTEM, e.errno, { what: `namespace ${name}`, detail: e.message });
  }
}

/**
 * Creates a named network namespace exactly as `ip netns add NAME` does; `ip netns exec NAME`
 * and `link.open({ netns: NAME })` enter it. ExistsError when the name is taken.
 * @example await link.namespaces.add('blue'); const h = link.open({ netns: 'blue' });
 */
export function add(name: string): Promise<void> {
  return mountJob('link.namespaces.add', name, (n) => binding().netnsAdd(n));
}

/**
 * Deletes a named namespace as `ip netns delete NAME` does (the mount is detached; the
 * namespace itself lives on while something still uses it). NotFoundError when there is none.
 * @example await link.namespaces.delete('blue');
 */
function remove(name: string): Promise<void> {
  return mountJob('link.namespaces.delete', name, (n) => binding().netnsDelete(n));
}
export { remove as delete };

/**
 * The named namespaces, as `ip netns list` finds them (the entries of /run/netns), sorted.
 * @example const names = await link.namespaces.list(); // ['blue', 'red']
 */
export async function list(): Promise<string[]> {
  try {
    return (await readdir(NETNS_RUN_DIR)).sort();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return [];
    throw new NlkitError(`link.namespaces.list: cannot read ${NETNS_RUN_DIR}: ${err.message}`, {
      op: 'link.namespaces.list', subsystem: SUBSYSTEM, errno: typeof err.errno === 'number' ? -err.errno : 0,
    });
  }
}
