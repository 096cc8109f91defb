// The order a transaction applies in, from what each participant says it needs first. A
// participant's changes run after those of the participants it comes `after` (iptables rules
// reference sets: sets first); the deletions it marks as releases run in the reverse order,
// after everything that could still use what they delete (a set is destroyed once the rules
// that matched it are gone). With link, ipset, ipvs, nft and iptables:
//
//   link, ipset, ipvs, nft, iptables, ipvs-release, ipset-release, link-release
//
// Within a phase, operations keep the order the callback queued them in.
import type { Participant, PlannedBase } from './participant.js';

/**
 * The participants with each after those it names, otherwise in list order (a stable
 * topological sort). Throws on a name not in the list or a cycle: both are mistakes in the list.
 *
 * @example
 *   dependencyOrder([iptables, ipset]).map((p) => p.name); // ['ipset', 'iptables'] (iptables is after ipset)
 */
export function dependencyOrder<P extends Pick<Participant, 'name' | 'after'>>(list: readonly P[]): P[] {
  const names = new Set(list.map((p) => p.name));
  for (const p of list) {
    for (const a of p.after ?? []) if (!names.has(a)) throw new Error(`transaction participant ${p.name} is after ${a}, which is not in the list`);
  }
  const out: P[] = [];
  const placed = new Set<string>();
  while (out.length < list.length) {
    const next = list.find((p) => !placed.has(p.name) && (p.after ?? []).every((a) => placed.has(a)));
    if (!next) throw new Error(`transaction participants depend on each other in a cycle: ${list.filter((p) => !placed.has(p.name)).map((p) => p.name).join(', ')}`);
    out.push(next);
    placed.add(next.name);
  }
  return out;
}

/** Every phase, in the order they run: changes in dependency order, then releases in reverse. */
export function phaseOrder(ordered: readonly Pick<Participant, 'name' | 'releases'>[]): string[] {
  return [...ordered.map((p) => p.name), ...[...ordered].reverse().filter((p) => p.releases).map((p) => `${p.name}-release`)];
}

/** Planned operations in apply order: by phase, queue order within one (the sort is stable). */
export function byPhase<O extends PlannedBase>(ops: O[], phases: readonly string[]): O[] {
  const rank = new Map(phases.map((p, i) => [p, i]));
  return ops.sort((a, b) => rank.get(a.phase)! - rank.get(b.phase)! || a.index - b.index);
}

/** Names an operation works on; '*' stands for every one (a flush of all sets). */
export const EVERY = '*';

/**
 * The queue indices of the deletions that wait for their participant's release phase: a
 * deletion stays in the first phase when a later operation of the queue names the same thing
 * (so `destroy a; create a ...` still runs in that order).
 *
 * @example
 *   const late = releases(items, (o) => o.op.endsWith('.delete'), (o) => [o.name]);
 *   items.map((o) => ({ ...o, phase: late.has(o.index) ? 'foo-release' : 'foo' }));
 */
export function releases<Q extends { index: number }>(items: readonly Q[], isRelease: (o: Q) => boolean, names: (o: Q) => string[]): Set<number> {
  const late = new Set<number>();
  const later = new Set<string>();
  const meets = (list: string[]) => later.size > 0 && (later.has(EVERY) || list.some((n) => n === EVERY || later.has(n)));
  for (let i = items.length - 1; i >= 0; i--) {
    const o = items[i]!;
    const list = names(o);
    if (isRelease(o) && !meets(list)) late.add(o.index);
    else for (const n of list) later.add(n);
  }
  return late;
}
