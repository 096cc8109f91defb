// The order a transaction applies in. The kernel ties the subsystems together in one place:
// an iptables rule that matches a set holds a reference to it, so a set must exist (and be
// filled) before the rules that match it, and can be destroyed only after the rules that used
// it are gone. IPVS is independent of both in the kernel; its additions go before the rules
// that steer traffic to it, its deletions after them.
//
//   ipset          creates, adds, renames, swaps, restores, replaces, syncs
//   ipvs           additions and updates, syncs
//   iptables       one atomic restore per table and family, in the order queued
//   ipvs-release   service and real-server deletions, flush
//   ipset-release  dels, flushes, destroys
//
// A deletion stays in the early phase when a later early operation names the same set (or
// service), so `destroy a; create a ...` still runs in that order.
import { InvalidArgumentError } from '../errors.js';
import { planRestore } from '../iptables/restore-text.js';
import { normKey } from '../ipvs/validate.js';
import { describeIptables } from './describe.js';
import type { Queued, QueuedIpset, QueuedIpvs } from './queue.js';
import type { Phase, PlannedIptablesOp, PlannedOp } from './types.js';

export const PHASES: readonly Phase[] = ['ipset', 'ipvs', 'iptables', 'ipvs-release', 'ipset-release'];

const ALL = '*';

/** Set names an ipset operation works on ('*': every set). */
export function ipsetNames(o: QueuedIpset): string[] {
  switch (o.op) {
    case 'ipset.destroy':
    case 'ipset.flush':
      return [o.name ?? ALL];
    case 'ipset.rename': return [o.from, o.to];
    case 'ipset.swap': return [o.a, o.b];
    case 'ipset.restore': return restoreTextNames(o.text);
    default: return [o.name];
  }
}

/** Names an `ipset restore` text works on, read loosely (validation reads it exactly). */
export function restoreTextNames(text: string): string[] {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/).filter((x) => x && !/^-(exist|!|q|quiet)$/.test(x));
    const cmd = w[0];
    if (!cmd || cmd.startsWith('#') || cmd === 'COMMIT') continue;
    if (w[1] === undefined) names.add(ALL);
    else names.add(w[1]);
    if ((/^(rename|swap|-E|-W)$/.test(cmd)) && w[2] !== undefined) names.add(w[2]);
  }
  return [...names];
}

/** The service an IPVS operation works on ('*': every service). */
function ipvsNames(o: QueuedIpvs): string[] {
  if (o.op === 'ipvs.flush' || o.op === 'ipvs.sync') return [ALL];
  try {
    return [normKey('transaction', o.service).text];
  } catch {
    return [JSON.stringify(o.service)];
  }
}

const isIpsetRelease = (o: QueuedIpset) => o.op === 'ipset.del' || o.op === 'ipset.flush' || o.op === 'ipset.destroy';
const isIpvsRelease = (o: QueuedIpvs) => o.op === 'ipvs.deleteService' || o.op === 'ipvs.deleteDestination' || o.op === 'ipvs.flush';

const meets = (names: string[], later: Set<string>) =>
  later.size > 0 && (later.has(ALL) || names.some((n) => n === ALL || later.has(n)));

/**
 * The queued operations as a plan in apply order. An iptables call becomes one operation per
 * table and family, with the builder's text read now. Throws InvalidArgumentError for an
 * iptables text whose structure is broken (no table, no COMMIT).
 */
export function orderPlan(items: readonly Queued[]): PlannedOp[] {
  const phase = new Map<number, Phase>();
  const laterSets = new Set<string>();
  const laterServices = new Set<string>();
  for (let i = items.length - 1; i >= 0; i--) {
    const o = items[i]!;
    if (o.subsystem === 'ipset') {
      const names = ipsetNames(o);
      const late = isIpsetRelease(o) && !meets(names, laterSets);
      phase.set(o.index, late ? 'ipset-release' : 'ipset');
      if (!late) for (const n of names) laterSets.add(n);
    } else if (o.subsystem === 'ipvs') {
      const names = ipvsNames(o);
      const late = isIpvsRelease(o) && !meets(names, laterServices);
      phase.set(o.index, late ? 'ipvs-release' : 'ipvs');
      if (!late) for (const n of names) laterServices.add(n);
    } else {
      phase.set(o.index, 'iptables');
    }
  }
  const out: PlannedOp[] = [];
  for (const o of items) {
    if (o.subsystem === 'iptables') out.push(...iptablesOps(o));
    else out.push({ ...o, phase: phase.get(o.index)! } as PlannedOp);
  }
  const rank = (p: Phase) => PHASES.indexOf(p);
  // Array.prototype.sort is stable: queue order within a phase.
  return out.sort((a, b) => rank(a.phase) - rank(b.phase));
}

function iptablesOps(o: Extract<Queued, { subsystem: 'iptables' }>): PlannedIptablesOp[] {
  const op = 'transaction';
  const text = 'text' in o.source ? o.source.text : o.source.builder.text();
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(`${op}: the builder of table ${o.table} gave no text`, { op, subsystem: 'iptables' });
  }
  const p = planRestore(text, o.table !== undefined ? { table: o.table } : {});
  if (p.error) {
    throw new InvalidArgumentError(`${op}: iptables text queued as #${o.index}: line ${p.error.line}: ${p.error.message}`, {
      op, subsystem: 'iptables', line: p.error.line,
    });
  }
  const tables = [...new Set(p.tables.map((t) => t.name))];
  if ('table' in o.source && tables.length === 0) {
    throw new InvalidArgumentError(`${op}: the builder of table ${o.source.table} gave no *${o.source.table} table`, { op, subsystem: 'iptables' });
  }
  const families: (4 | 6)[] = o.family === 'both' ? [4, 6] : [o.family];
  const out: PlannedIptablesOp[] = [];
  for (const family of families) {
    for (const table of tables) {
      out.push({
        subsystem: 'iptables', op: 'iptables.restore', index: o.index, phase: 'iptables',
        summary: describeIptables(family, table, o.noflush), family, table, text, noflush: o.noflush, counters: o.counters,
      });
    }
  }
  return out;
}
