// What a transaction saves before it applies: only what it touches. Sets as `ipset save`
// prints them (and the names of touched sets that do not exist), tables as iptables-save -c
// prints them (a rule names its sets there, so they are found again if a set is made anew) or,
// where that text cannot be read back (a comment holding a line break), as the kernel's own
// entries, and IPVS as one listServices() with real servers.
import type { Service } from '../ipvs/types.js';
import type { RawTableSnapshot } from '../native.js';
import type { TxHandles } from './handles.js';
import type { PlannedOp } from './types.js';

export interface TableSnapshot {
  family: 4 | 6;
  table: string;
  /** iptables-save text of the table, with counters. */
  text: string;
  /** The table's entries with their counters (IPT_SO_GET_ENTRIES), when the text cannot be read back. */
  raw?: RawTableSnapshot;
}

export interface Snapshot {
  /** Touched sets that existed: their `ipset save` text. */
  sets: Map<string, string>;
  /** Touched set names that did not exist. */
  absent: Set<string>;
  /** By `family/table`. */
  tables: Map<string, TableSnapshot>;
  /** Present when the transaction has IPVS operations. */
  ipvs?: Service[];
}

export const tableKey = (family: 4 | 6, table: string) => `${family}/${table}`;

export async function takeSnapshot(plan: PlannedOp[], setsTouched: string[], handles: TxHandles): Promise<Snapshot> {
  const snap: Snapshot = { sets: new Map(), absent: new Set(), tables: new Map() };
  // One subsystem after the other: libipset and libxtables in two worker threads at once have
  // crashed the process (see the report of issue #5); the saves of one subsystem are pipelined.
  if (setsTouched.length) {
    const h = handles.ipset();
    const names = new Set(await h.names());
    const saves: Promise<unknown>[] = [];
    for (const n of setsTouched) {
      if (!names.has(n)) snap.absent.add(n);
      else saves.push(h.save(n).then((t) => snap.sets.set(n, t)));
    }
    await settleAll(saves);
  }
  const tables: Promise<unknown>[] = [];
  for (const o of plan) {
    if (o.subsystem !== 'iptables') continue;
    const key = tableKey(o.family, o.table);
    if (snap.tables.has(key)) continue;
    const t: TableSnapshot = { family: o.family, table: o.table, text: '' };
    snap.tables.set(key, t);
    const h = handles.iptables(o.family);
    tables.push(h.save({ table: o.table, counters: true }).then(async (text) => {
      t.text = text;
      if (!oneRulePerLine(text)) t.raw = await h.saveRaw(o.table);
    }));
  }
  await settleAll(tables);
  if (plan.some((o) => o.subsystem === 'ipvs')) snap.ipvs = await handles.ipvs().listServices({ destinations: true });
  return snap;
}

/**
 * Whether every command of iptables-save text is on one line: a quoted string (a comment, a log
 * prefix) holding a line break is printed raw, with its quote open at the end of the line.
 */
export function oneRulePerLine(text: string): boolean {
  for (const line of text.split('\n')) if ((line.replace(/\\./g, '').split('"').length - 1) % 2) return false;
  return true;
}

/** Waits for all, then throws the first failure. */
async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
