// The kernel's IPVS errno values, read in the context of the command that got them, become
// the typed errors of DESIGN.md with a message that names the service and real server.
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import {
  ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError, PermissionError, UnsupportedError, errnoText,
} from '../core/errors.js';
import type { NativeFailure } from '../core/native.js';
import { GENL_FAMILY_MISSING } from '../netlink/genl.js';
import { AF_INET, Cmd } from './wire.js';
import { missingModule, type NormDest, type NormKey, type NormService } from './validate.js';

const E = constants.errno;

export interface ErrorContext {
  cmd: Cmd;
  svc?: NormKey | NormService;
  dest?: NormDest;
  /** Extra words for daemons, config. */
  what?: string;
  /** The kernel's extended-ack text. */
  detail?: string;
  /** The namespace's loopback is down (read after an IPv4 real server was refused). */
  loopbackDown?: boolean;
}

const codeName = errnoText;

/** Failures recorded by the native side (socket) or the family lookup (lib/netlink/genl.ts). */
export function ipvsFailure(op: string, f: NativeFailure): NlkitError {
  if (f.kind === GENL_FAMILY_MISSING) {
    return new UnsupportedError(
      `${op}: the running kernel has no IPVS (kernel module ip_vs, CONFIG_IP_VS; load it with \`modprobe ip_vs\`)`,
      { op, subsystem: 'ipvs', errno: f.errno, detail: f.message });
  }
  if (f.errno === E.EPERM || f.errno === E.EACCES) {
    return new PermissionError(`${op}: ${f.message} (needs CAP_NET_ADMIN)`, { op, subsystem: 'ipvs', errno: f.errno });
  }
  return new NlkitError(`${op}: ${f.message}`, { op, subsystem: 'ipvs', errno: f.errno });
}

export function kernelError(op: string, errno: number, ctx: ErrorContext): NlkitError {
  const opts = { op, subsystem: 'ipvs' as const, errno, ...(ctx.detail ? { detail: ctx.detail } : {}) };
  const svc = ctx.svc ? `service ${ctx.svc.text}` : 'service';
  const dest = ctx.dest ? `real server ${ctx.dest.text}` : 'real server';
  const isDest = ctx.cmd === Cmd.NewDest || ctx.cmd === Cmd.SetDest || ctx.cmd === Cmd.DelDest || ctx.cmd === Cmd.GetDest;
  const isDaemon = ctx.cmd === Cmd.NewDaemon || ctx.cmd === Cmd.DelDaemon;
  const said = ctx.detail ? `: ${ctx.detail}` : '';
  switch (errno) {
    case E.EEXIST:
      if (isDaemon) return new ExistsError(`${op}: a ${ctx.what ?? ''} sync daemon is already running`.replace('a  ', 'a '), opts);
      return new ExistsError(`${op}: ${isDest ? `${dest} already exists in ${svc}` : `${svc} already exists`}`, opts);
    case E.ESRCH:
      if (isDaemon) return new NotFoundError(`${op}: no ${ctx.what ?? ''} sync daemon is running`.replace('no  ', 'no '), opts);
      return new NotFoundError(`${op}: ${svc} does not exist`, opts);
    case E.ENOENT:
      if (ctx.cmd === Cmd.NewService || ctx.cmd === Cmd.SetService) {
        const s = ctx.svc as NormService;
        // The kernel says ENOENT for both; a scheduler already loaded cannot be the one missing.
        const hint = !s.pe ? 'scheduler' : existsSync(`/sys/module/ip_vs_${s.sched}`) ? 'engine'
          : existsSync(`/sys/module/ip_vs_pe_${s.pe}`) ? 'scheduler' : 'either';
        const e = missingModule(op, s, errno, hint);
        if (ctx.detail) e.detail = ctx.detail;
        return e;
      }
      if (isDest) return new NotFoundError(`${op}: ${dest} does not exist in ${svc}`, opts);
      return new NotFoundError(`${op}: not found (ENOENT)${said}`, opts);
    case E.EINVAL:
      if (ctx.cmd === Cmd.NewDest && ctx.loopbackDown && ctx.dest?.af === AF_INET) {
        // ip_vs_new_dest(): inet_addr_type() must find the address local or unicast, and with
        // `lo` down the namespace has no local routing table: every address reads as broadcast.
        return new InvalidArgumentError(
          `${op}: the kernel refused ${dest} in ${svc} (EINVAL): it checks an IPv4 real server's address against ` +
          "the namespace's routing tables (it must be a local or unicast address), and this namespace's loopback `lo` " +
          'is down, as `ip netns add` leaves it, so it has no local routing table and every address reads as broadcast. ' +
          "Bring lo up (`ip link set lo up` in the namespace, or link.open({ netns }).update('lo', { up: true })) and retry" + said,
          { ...opts, argument: ctx.dest.text });
      }
      if ((ctx.cmd === Cmd.NewDest || ctx.cmd === Cmd.SetDest) && ctx.dest && ctx.svc && ctx.dest.af !== ctx.svc.af) {
        return new InvalidArgumentError(
          `${op}: the kernel refused ${dest} of the other address family in ${svc}: ` +
          `that needs forward 'tunnel' and no sync daemon running (EINVAL)`, { ...opts, argument: ctx.dest.text });
      }
      if (ctx.cmd === Cmd.NewDaemon) {
        return new InvalidArgumentError(`${op}: the kernel refused to start the ${ctx.what ?? ''} sync daemon (EINVAL): ` +
          'it does not run while real servers of the other address family exist' + said, opts);
      }
      return new InvalidArgumentError(`${op}: the kernel refused ${isDest ? `${dest} in ${svc}` : svc} as invalid (EINVAL)${said}`, opts);
    case E.ERANGE:
      return new InvalidArgumentError(`${op}: ${dest}: lower threshold above upper threshold (ERANGE)${said}`, opts);
    case E.EAFNOSUPPORT:
      return new UnsupportedError(`${op}: the running kernel's IPVS has no support for this address family (EAFNOSUPPORT)`, opts);
    case E.ENODEV:
      return new NotFoundError(`${op}: ${ctx.what ? `interface of the ${ctx.what} sync daemon` : 'interface'} does not exist (ENODEV)${said}`, opts);
    case E.EPERM: case E.EACCES:
      return new PermissionError(`${op}: permission denied (needs CAP_NET_ADMIN)${said}`, opts);
    case E.EBUSY:
      return new InUseError(`${op}: busy (EBUSY)${said}`, opts);
    case E.EOPNOTSUPP: case E.EPROTONOSUPPORT:
      return new UnsupportedError(`${op}: not supported by the running kernel (${codeName(errno)})${said}`, opts);
    default:
      return new NlkitError(`${op}: the kernel refused ${isDest ? `${dest} in ${svc}` : ctx.svc ? svc : 'the request'} (${codeName(errno)})${said}`, opts);
  }
}
