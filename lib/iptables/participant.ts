// How iptables joins a transaction (lib/transaction/participant.ts): tx.iptables queues
// restore texts and table builders; each becomes one atomic commit per table and family, run
// after the sets their rules match and the services they steer to (phase 'iptables'). Every
// table is compiled by the native restore in dry-run mode before anything is touched; a table
// whose rules match a set this transaction creates is compiled once that set exists (libxt_set
// looks a set up by name in the kernel), right before the first table commits. The xtables lock
// is held from the snapshot until the transaction has applied or rolled back, so iptables tools
// see neither half. Undo restores each touched table from its saved text with counters, or from
// the kernel's own entries where that text cannot be read back; on nf_tables, from the table's
// own messages as the kernel dumped them (nft/snapshot.ts), in one batch.
import { InvalidArgumentError } from '../core/errors.js';
import { checkOpts } from '../core/args.js';
import type { RawTableSnapshot } from '../core/native.js';
import { createdSets } from '../ipset/participant.js';
import { blame, type Enqueue, type Participant, type ParticipantRun, type PlannedBase, type TxContext, type UndoLog } from '../transaction/participant.js';
import type { TxFamily } from '../transaction/options.js';
import { TableBuilder } from './builder.js';
import { planRestore } from './restore-text.js';
import { TxIptablesHandle } from './tx-check.js';
import type { NftTableSnapshot } from './nft/snapshot.js';

export interface TxRestoreOptions {
  /** Like `iptables-restore --noflush`. */
  noflush?: boolean;
  /** Only this table of the text. */
  table?: string;
  /** Default: the transaction's `family` option. */
  family?: TxFamily;
  /** Set rule counters from `[pkts:bytes]`. */
  counters?: boolean;
}

export interface TxTableOptions {
  /** Default: the transaction's `family` option. */
  family?: TxFamily;
  /** Keep the table's other chains (like --noflush); default false: the table becomes exactly what is built. */
  noflush?: boolean;
}

/** iptables changes. Every table is replaced with one atomic commit. */
export interface TxIptables {
  restore(text: string, opts?: TxRestoreOptions): this;
  /**
   * A builder for one whole table (lib/iptables/builder.ts), committed by the transaction: its
   * text() is read when the transaction applies (or plans), so rules may be added until the
   * callback returns. Do not commit() it yourself.
   */
  table(name: string, opts?: TxTableOptions): TableBuilder;
}

/** One table of one family: committed atomically. */
export type PlannedIptablesOp = Omit<PlannedBase, 'subsystem' | 'phase'> & {
  subsystem: 'iptables';
  op: 'iptables.restore';
  phase: 'iptables';
  family: 4 | 6;
  table: string;
  /** iptables-restore text of this one table (taken from a builder when planned). */
  text: string;
  noflush: boolean;
  counters: boolean;
};

/** An iptables call as queued: a text now, or a builder whose text is read when planning. */
export interface QueuedIptables {
  index: number;
  source: { text: string } | { table: string; builder: TableBuilder };
  family: TxFamily;
  table?: string;
  noflush: boolean;
  counters: boolean;
}

const OP = 'transaction';

function bad(message: string, argument?: string): InvalidArgumentError {
  return new InvalidArgumentError(`${OP}: ${message}`, { op: OP, ...(argument !== undefined ? { argument } : {}) });
}

function checkFamily(f: unknown): TxFamily {
  if (f !== 4 && f !== 6 && f !== 'both') throw bad(`family must be 4, 6 or 'both', not ${JSON.stringify(f)}`, String(f));
  return f;
}

const txCtx = (op: string) => ({ op: `tx.${op}`, subsystem: 'iptables' as const });

function api(enqueue: Enqueue<Omit<QueuedIptables, 'index'>>, defaultFamily: TxFamily): TxIptables {
  return {
    restore(text: string, opts: TxRestoreOptions = {}) {
      if (typeof text !== 'string') throw bad('tx.iptables.restore: text must be a string');
      checkOpts(txCtx('iptables.restore'), 'options', opts, { noflush: 'boolean', counters: 'boolean', table: 'string' });
      enqueue({
        source: { text }, family: checkFamily(opts.family ?? defaultFamily),
        ...(opts.table !== undefined ? { table: opts.table } : {}),
        noflush: opts.noflush === true, counters: opts.counters === true,
      });
      return this;
    },
    table(name: string, opts: TxTableOptions = {}): TableBuilder {
      if (typeof name !== 'string' || name.length === 0) throw bad('tx.iptables.table: a table name is needed', String(name));
      checkOpts(txCtx('iptables.table'), 'options', opts, { noflush: 'boolean' });
      const family = checkFamily(opts.family ?? defaultFamily);
      const builder = new TableBuilder(name, { noflush: opts.noflush === true });
      enqueue({ source: { table: name, builder }, family, table: name, noflush: opts.noflush === true, counters: false });
      return builder;
    },
  };
}

/** `iptables-restore -T nat --noflush`: one table's commit in the words of the tool. */
function describe(family: 4 | 6, table: string, noflush: boolean): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}-restore -T ${table}${noflush ? ' --noflush' : ''}`;
}

/**
 * One operation per table and family, with the builder's text read now. Throws
 * InvalidArgumentError for a text whose structure is broken (no table, no COMMIT).
 */
function planOne(o: QueuedIptables): PlannedIptablesOp[] {
  const text = 'text' in o.source ? o.source.text : o.source.builder.text();
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(`${OP}: the builder of table ${o.table} gave no text`, { op: OP, subsystem: 'iptables' });
  }
  const p = planRestore(text, o.table !== undefined ? { table: o.table } : {});
  if (p.error) {
    throw new InvalidArgumentError(`${OP}: iptables text queued as #${o.index}: line ${p.error.line}: ${p.error.message}`, {
      op: OP, subsystem: 'iptables', line: p.error.line,
    });
  }
  const tables = [...new Set(p.tables.map((t) => t.name))];
  if ('table' in o.source && tables.length === 0) {
    throw new InvalidArgumentError(`${OP}: the builder of table ${o.source.table} gave no *${o.source.table} table`, { op: OP, subsystem: 'iptables' });
  }
  const families: (4 | 6)[] = o.family === 'both' ? [4, 6] : [o.family];
  const out: PlannedIptablesOp[] = [];
  for (const family of families) {
    for (const table of tables) {
      out.push({
        subsystem: 'iptables', op: 'iptables.restore', index: o.index, phase: 'iptables',
        summary: describe(family, table, o.noflush), family, table, text, noflush: o.noflush, counters: o.counters,
      });
    }
  }
  return out;
}

/** Set names the rules of an iptables text match or target (set match, SET target). */
export function matchedSets(text: string): string[] {
  const out: string[] = [];
  const re = /--(?:match-set|add-set|del-set|map-set)\s+("?)([^\s"]+)\1/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[2]!);
  return out;
}

/**
 * Whether every command of iptables-save text is on one line: a quoted string (a comment, a log
 * prefix) holding a line break is printed raw, with its quote open at the end of the line.
 */
export function oneRulePerLine(text: string): boolean {
  for (const line of text.split('\n')) if ((line.replace(/\\./g, '').split('"').length - 1) % 2) return false;
  return true;
}

interface TableSnapshot {
  family: 4 | 6;
  table: string;
  /** On nf_tables: the table's own messages (its undo sends them again). */
  nft?: NftTableSnapshot;
  /** iptables-save text of the table, with counters. */
  text: string;
  /** The table's entries with their counters (IPT_SO_GET_ENTRIES), when the text cannot be read back. */
  raw?: RawTableSnapshot;
}

const tableKey = (family: 4 | 6, table: string) => `${family}/${table}`;

class IptablesRun implements ParticipantRun<PlannedIptablesOp> {
  readonly #handles = new Map<4 | 6, TxIptablesHandle>();
  /** Tables compiled once the sets their rules match exist. */
  #deferred: PlannedIptablesOp[] = [];
  /** By `family/table`. */
  readonly #tables = new Map<string, TableSnapshot>();

  constructor(private readonly ctx: TxContext) {}

  h(family: 4 | 6): TxIptablesHandle {
    let h = this.#handles.get(family);
    if (!h) {
      const backend = this.ctx.opts.iptables?.backend;
      h = new TxIptablesHandle({ ...this.ctx.base, family, ...(backend !== undefined ? { backend } : {}) });
      this.#handles.set(family, h);
    }
    return h;
  }

  async #check(o: PlannedIptablesOp): Promise<void> {
    try {
      await this.h(o.family).check(o.text, { table: o.table, noflush: o.noflush, counters: o.counters });
    } catch (e) {
      throw blame(e as Error, o);
    }
  }

  async validate(ops: PlannedIptablesOp[]): Promise<void> {
    const created = createdSets(this.ctx);
    const seen = new Set<string>();
    for (const o of ops) {
      const key = tableKey(o.family, o.table);
      // A second change to one table is compiled against the first when it applies, not now.
      if (seen.has(key)) continue;
      seen.add(key);
      // Compiled now, a rule matching a set the transaction has yet to create would fail.
      if (matchedSets(o.text).some((s) => created.has(s))) {
        this.#deferred.push(o);
        continue;
      }
      await this.#check(o);
    }
  }

  /** The xtables lock, once (re-entrant: inside a withLock() of the caller it is not taken again). */
  lock<T>(ops: PlannedIptablesOp[], fn: () => Promise<T>): Promise<T> {
    const { wait, waitTimeout, waitInterval } = this.ctx.opts;
    const opts = {
      ...(wait !== undefined ? { wait } : {}), ...(waitTimeout !== undefined ? { waitTimeout } : {}),
      ...(waitInterval !== undefined ? { waitInterval } : {}),
    };
    return this.h(ops[0]!.family).withLock(fn, opts);
  }

  /** Each touched table as iptables-save -c prints it (a rule names its sets there), or its raw entries. */
  async snapshot(ops: PlannedIptablesOp[]): Promise<void> {
    const work: Promise<unknown>[] = [];
    for (const o of ops) {
      const key = tableKey(o.family, o.table);
      if (this.#tables.has(key)) continue;
      const t: TableSnapshot = { family: o.family, table: o.table, text: '' };
      this.#tables.set(key, t);
      const h = this.h(o.family);
      work.push(h.onNft().then(async (nft) => {
        if (nft) {
          t.nft = await h.snapshotNft(o.table);
          return;
        }
        const text = await h.save({ table: o.table, counters: true });
        t.text = text;
        if (!oneRulePerLine(text)) t.raw = await h.saveRaw(o.table);
      }));
    }
    const results = await Promise.allSettled(work);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  /** The sets exist now: compile the tables whose rules match them. */
  async prepare(): Promise<void> {
    for (const d of this.#deferred) await this.#check(d);
  }

  async apply(o: PlannedIptablesOp): Promise<void> {
    await this.h(o.family).restore(o.text, { table: o.table, noflush: o.noflush, counters: o.counters });
  }

  async restore(started: PlannedIptablesOp[], _failedLast: boolean, log: UndoLog): Promise<void> {
    const keys = new Set(started.map((o) => tableKey(o.family, o.table)));
    for (const key of keys) {
      const t = this.#tables.get(key)!;
      const tool = t.family === 6 ? 'ip6tables' : 'iptables';
      const h = this.h(t.family);
      if (t.nft) {
        await log.step(`nft: ${t.family === 6 ? 'ip6' : 'ip'} table ${t.table} put back as it was (one batch)`, () => h.undoNft(t.nft!));
        continue;
      }
      await log.step(t.raw ? `${tool}-restore -T ${t.table} --counters (the snapshot's entries, replaced whole)` : `${tool}-restore -T ${t.table} --counters (the snapshot)`, () =>
        t.raw ? h.restoreRaw(t.raw) : h.restore(t.text, { table: t.table, counters: true }));
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#handles.values()].map((h) => h.close()));
  }
}

/**
 * The iptables participant of transaction(): its tables come after the sets their rules match,
 * the services they steer to and the addresses they name.
 *
 * @example
 *   await transaction((tx) => { tx.iptables.restore('*filter\n-A INPUT -j ACCEPT\nCOMMIT\n', { noflush: true }); });
 */
export const iptablesParticipant: Participant<'iptables', TxIptables, QueuedIptables, PlannedIptablesOp> = {
  name: 'iptables',
  after: ['link', 'ipset', 'ipvs'],
  api: (enqueue, opts) => api(enqueue, opts.family ?? 4),
  plan: (items) => items.flatMap(planOne),
  start: (ctx) => new IptablesRun(ctx),
};
