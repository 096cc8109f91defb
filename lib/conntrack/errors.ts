// Refusals of ctnetlink requests as the typed errors of DESIGN.md (the errno-to-class table is
// lib/netlink/transport.ts's kernelError), with messages that name the flow.
import type { NlkitError } from '../core/errors.js';
import { kernelError } from '../netlink/transport.js';

/** An error for a refused ctnetlink request; `what` names the flow or table ("flow tcp 10.0.0.1:1 -> 10.0.0.2:80"). */
export const conntrackError = (op: string, errno: number, what: string, detail?: string): NlkitError =>
  kernelError(op, 'conntrack', errno, { what, ...(detail ? { detail } : {}) });

/** How a flow is named in messages: "flow tcp 10.0.0.1:40000 -> 10.0.0.2:80" (zone added when not 0). */
export function describeFlow(proto: string | number, t: { src: string; dst: string; sport?: number; dport?: number }, zone?: number): string {
  const ep = (a: string, p?: number) => (p === undefined ? a : a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  return `flow ${proto} ${ep(t.src, t.sport)} -> ${ep(t.dst, t.dport)}${zone ? ` zone ${zone}` : ''}`;
}
