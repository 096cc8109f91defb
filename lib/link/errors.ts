// The kernel's rtnetlink errno values, read in the context of the request that got them,
// become the typed errors of DESIGN.md with a message that names the link and the address.
import { constants } from 'node:os';
import {
  ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError, PermissionError, UnsupportedError, errnoText,
} from '../core/errors.js';
import type { NativeFailure } from '../core/native.js';
import { SUBSYSTEM } from './addr.js';

const E = constants.errno;

export const codeName = errnoText;

export interface ErrorContext {
  /** The link the request was about. */
  link?: string;
  /** The address the request was about ('10.96.0.1/32'). */
  address?: string;
  /** Creating a link of this kind. */
  kind?: string;
  /** The request added the address (EADDRNOTAVAIL then means it cannot be assigned, not that it is missing). */
  adding?: boolean;
  /** The kernel's extended-ack text. */
  detail?: string;
}

/** Failures recorded by the native side: the socket, or a link name that resolves to nothing. */
export function linkFailure(op: string, f: NativeFailure): NlkitError {
  const opts = { op, subsystem: SUBSYSTEM, errno: f.errno, detail: f.message };
  if (f.kind === 'nolink') return new NotFoundError(`${op}: ${f.message}`, { ...opts, code: 'ENODEV' });
  if (f.errno === E.EPERM || f.errno === E.EACCES) return new PermissionError(`${op}: ${f.message} (needs CAP_NET_ADMIN)`, opts);
  return new NlkitError(`${op}: ${f.message}`, opts);
}

export function kernelError(op: string, errno: number, ctx: ErrorContext): NlkitError {
  const opts = { op, subsystem: SUBSYSTEM, errno, ...(ctx.detail ? { detail: ctx.detail } : {}) };
  const said = ctx.detail ? `: ${ctx.detail}` : '';
  const link = ctx.link !== undefined ? `link ${ctx.link}` : 'link';
  const what = ctx.address !== undefined ? `address ${ctx.address} on ${link}` : link;
  const code = codeName(errno);
  if (errno === E.EOPNOTSUPP) Object.assign(opts, { code: 'EOPNOTSUPP' });
  switch (errno) {
    case E.EEXIST:
      return new ExistsError(ctx.address !== undefined
        ? `${op}: address ${ctx.address} already exists on ${link}${said}`
        : `${op}: ${link} already exists${said}`, opts);
    case E.ENODEV:
      return new NotFoundError(`${op}: ${link} does not exist${said}`, opts);
    case E.EADDRNOTAVAIL:
      if (ctx.adding) {
        return new InvalidArgumentError(`${op}: the kernel cannot assign address ${ctx.address ?? ''} to ${link} (EADDRNOTAVAIL)${said}`
          .replace('address  to', 'the address to'), { ...opts, ...(ctx.address !== undefined ? { argument: ctx.address } : {}) });
      }
      if (ctx.address !== undefined) return new NotFoundError(`${op}: address ${ctx.address} is not on ${link}${said}`, opts);
      return new NotFoundError(`${op}: address not available on ${link} (EADDRNOTAVAIL)${said}`, opts);
    case E.ENOENT:
      return new NotFoundError(`${op}: ${what}: not found (ENOENT)${said}`, opts);
    case E.EOPNOTSUPP:
      if (ctx.kind !== undefined) {
        return new UnsupportedError(
          `${op}: the running kernel has no ${ctx.kind} links (kernel module ${ctx.kind}, CONFIG_${ctx.kind.toUpperCase()}; ` +
          `load it with \`modprobe ${ctx.kind}\`)${said}`, opts);
      }
      return new UnsupportedError(`${op}: ${what}: not supported (EOPNOTSUPP)${said}`, opts);
    case E.EAFNOSUPPORT: case E.EPROTONOSUPPORT:
      return new UnsupportedError(`${op}: ${what}: the running kernel has no support for this address family (${code})${said}`, opts);
    case E.EPERM: case E.EACCES:
      return new PermissionError(`${op}: ${what}: permission denied (${code}; needs CAP_NET_ADMIN, and IPv6 enabled on the link for IPv6)${said}`, opts);
    case E.EBUSY:
      return new InUseError(`${op}: ${what}: busy (EBUSY)${said}`, opts);
    case E.EINVAL: case E.ERANGE: case E.E2BIG:
      return new InvalidArgumentError(`${op}: the kernel refused ${what} (${code})${said}`, {
        ...opts, ...(ctx.address !== undefined ? { argument: ctx.address } : ctx.link !== undefined ? { argument: ctx.link } : {}),
      });
    default:
      return new NlkitError(`${op}: the kernel refused ${what} (${code})${said}`, opts);
  }
}
