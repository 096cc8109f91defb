// Puts back what a failed transaction changed, from its snapshot, in the same dependency order
// it applies in: the sets the old rules need come back first (recreated, or their members put
// back by swapping in a copy made from the snapshot, which packets see as one change), then
// IPVS, then the tables (restored from their saved text with counters, or replaced whole by
// their saved entries where the text cannot be read back), and last the sets the
// transaction created are destroyed, once no restored rule holds them.
// Only what the operations that started can have changed is undone.
import { InUseError, NlkitError } from '../errors.js';
import { planIpvsSync, type DesiredService } from '../ipvs/sync.js';
import { renamedSaved } from '../ipset/saved-text.js';
import type { TxHandles } from './handles.js';
import { tableKey, type Snapshot } from './snapshot.js';
import type { PlannedOp } from './types.js';

export interface RollbackResult {
  /** What was done, in order. */
  undone: string[];
  /** Undo steps that failed. */
  errors: NlkitError[];
}

let tempCounter = 0;
const tempName = () => `nlkit-tx-${process.pid.toString(36)}-${(tempCounter++).toString(36)}`.slice(0, 31);

const asError = (e: unknown): NlkitError =>
  e instanceof NlkitError ? e : new NlkitError(`transaction rollback: ${e instanceof Error ? e.message : String(e)}`, { op: 'transaction', cause: e });

/** Type and family: what `ipset swap` needs to match. */
function kind(saveText: string): string {
  const create = /^create \S+ (\S+)(.*)$/m.exec(saveText);
  if (!create) return '';
  return `${create[1]} ${/ family (\S+)/.exec(create[2]!)?.[1] ?? ''}`;
}

/**
 * `started`: the operations that began, in order; `failedLast`: the last of them failed (it
 * changed nothing, or undid itself, or the snapshot covers it).
 */
export async function rollback(snap: Snapshot, started: PlannedOp[], handles: TxHandles, failedLast = true): Promise<RollbackResult> {
  const undone: string[] = [];
  const errors: NlkitError[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      undone.push(what);
    } catch (e) {
      const err = asError(e);
      err.message = `${what}: ${err.message}`;
      errors.push(err);
    }
  };
  const setsChanged = started.some((o) => o.subsystem === 'ipset');
  const temps: string[] = [];

  // 0. Renames and swaps are undone as such, newest first, so that each set keeps its identity
  // (a rule holds a set by its index, not by its name). Best effort: where one cannot be (a
  // later operation took the name), the steps below put names and members back by content.
  const done = failedLast ? started.slice(0, -1) : started;
  for (const o of [...done].reverse()) {
    if (o.subsystem !== 'ipset' || (o.op !== 'ipset.rename' && o.op !== 'ipset.swap')) continue;
    const [what, fn] = o.op === 'ipset.rename'
      ? [`ipset rename ${o.to} ${o.from}`, () => handles.ipset().rename(o.to, o.from)]
      : [`ipset swap ${o.b} ${o.a}`, () => handles.ipset().swap(o.b, o.a)];
    await fn().then(() => undone.push(what), () => undefined);
  }

  // 1. Sets that existed: back as they were.
  if (setsChanged && snap.sets.size) {
    const h = handles.ipset();
    let now = new Set<string>();
    try {
      now = new Set(await h.names());
    } catch (e) {
      errors.push(asError(e));
    }
    // list:set members are other sets: those come back first.
    const order = [...snap.sets].sort(([, a], [, b]) => Number(kind(a).startsWith('list:set')) - Number(kind(b).startsWith('list:set')));
    for (const [name, text] of order) {
      if (!now.has(name)) {
        await step(`ipset restore ${name} (recreated from the snapshot)`, () => h.restoreSaved(text));
        continue;
      }
      let current: string;
      try {
        current = await h.save(name);
      } catch (e) {
        errors.push(asError(e));
        continue;
      }
      if (current === text) continue;
      const tmp = tempName();
      if (kind(current) === kind(text)) {
        await step(`ipset swap ${name} with a copy of its snapshot`, async () => {
          await h.restoreSaved(renamedSaved(text, tmp));
          temps.push(tmp);
          await h.swap(tmp, name);
        });
      } else {
        // A set of another type now has the name (destroyed and recreated): move it aside.
        await step(`ipset rename ${name} ${tmp}; ipset restore ${name} (recreated from the snapshot)`, async () => {
          await h.rename(name, tmp);
          temps.push(tmp);
          await h.restoreSaved(text);
        });
      }
    }
  }

  // 2. IPVS: the smallest set of operations back to the snapshot.
  if (snap.ipvs && started.some((o) => o.subsystem === 'ipvs')) {
    const h = handles.ipvs();
    const wanted = snap.ipvs as unknown as DesiredService[];
    await step('ipvs back to the snapshot', async () => {
      const current = await h.listServices({ destinations: true });
      const plan = planIpvsSync(current, wanted, { prune: true });
      if (plan.operations.length === 0) return;
      const results = await h.apply(plan.operations);
      const failed = results.filter((r) => !r.ok);
      if (failed.length) throw (failed[0] as { error: NlkitError }).error;
    });
  }

  // 3. Tables of the started iptables operations.
  const tables = new Set<string>();
  for (const o of started) if (o.subsystem === 'iptables') tables.add(tableKey(o.family, o.table));
  for (const key of tables) {
    const t = snap.tables.get(key)!;
    const tool = t.family === 6 ? 'ip6tables' : 'iptables';
    await step(t.raw ? `${tool}-restore -T ${t.table} --counters (the snapshot's entries, replaced whole)` : `${tool}-restore -T ${t.table} --counters (the snapshot)`, () =>
      t.raw ? handles.iptables(t.family).restoreRaw(t.raw) : handles.iptables(t.family).restore(t.text, { table: t.table, counters: true }));
  }

  // 4. Sets that did not exist, and the temporary copies: destroyed.
  if (setsChanged) {
    const h = handles.ipset();
    let now: string[] = [];
    try {
      now = await h.names();
    } catch (e) {
      errors.push(asError(e));
    }
    let pending = now.filter((n) => snap.absent.has(n) || temps.includes(n));
    // A list:set holds its members: what is still in use is tried again after the others.
    for (let round = 0; pending.length && round < 3; round++) {
      const busy: string[] = [];
      for (const name of pending) {
        try {
          await h.destroy(name);
          if (!temps.includes(name)) undone.push(`ipset destroy ${name}`);
        } catch (e) {
          if (e instanceof InUseError && round < 2) busy.push(name);
          else errors.push(Object.assign(asError(e), { message: `ipset destroy ${name}: ${(e as Error).message}` }));
        }
      }
      pending = busy;
    }
  }
  return { undone, errors };
}
