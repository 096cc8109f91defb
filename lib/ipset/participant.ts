// How ipset joins a transaction (lib/transaction/participant.ts): tx.ipset queues set changes;
// they are checked whole as one `ipset restore` text against the sets the kernel has, run
// before the rules that match their sets (phase 'ipset'), and the deletions nothing later in
// the queue depends on run after the rules that used their sets are gone ('ipset-release').
// Undo puts existing sets back by swapping in a copy made from their `ipset save` text (packets
// see one change), then destroys the sets the transaction created once no restored rule holds them.
import { InUseError, InvalidArgumentError } from '../core/errors.js';
import { badArgument, checkOptions, checkOpts, checkString, type ArgContext } from '../core/args.js';
import { HandleRun, participant, undoInRounds, type Enqueue, type ParticipantRun, type TxContext, type UndoLog } from '../transaction/participant.js';
import { EVERY, releases } from '../transaction/order.js';
import { IpsetHandle } from './handle.js';
import { renamedSaved } from './saved-text.js';
import { checkIpset, knownOf } from './tx-check.js';
import type { IpsetVariant, PlannedIpsetOp, TxExistOption, TxIpset, TxIpsetSyncOptions } from './tx-types.js';
import type { CreateOptions, Entry, SetType } from './types.js';

export type { IpsetVariant, PlannedIpsetOp, TxExistOption, TxIpset, TxIpsetSyncOptions } from './tx-types.js';

export type QueuedIpset = IpsetVariant & { index: number };

const OP = 'transaction';
const ALL = EVERY;

function bad(message: string, argument?: string): InvalidArgumentError {
  return new InvalidArgumentError(`${OP}: ${message}`, { op: OP, ...(argument !== undefined ? { argument } : {}) });
}

/** A copy of the entries, each a string or an object (their fields are checked against the set later). */
const copyEntries = (e: Entry | Entry[], op = 'ipset'): Entry[] =>
  (Array.isArray(e) ? e : [e]).map((x, i) => {
    if (typeof x === 'string') return x;
    if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x) || Array.isArray(x)) {
      throw badArgument({ op: `tx.${op}`, subsystem: 'ipset' }, `entry ${i}`, x, 'a string or an entry object');
    }
    return { ...x };
  });

const txCtx = (op: string): ArgContext => ({ op: `tx.${op}`, subsystem: 'ipset' });
const existOf = (op: string, o: TxExistOption | undefined): boolean => checkOpts(txCtx(op), 'options', o, { exist: 'boolean' }).exist === true;

function api(enqueue: Enqueue<IpsetVariant>): TxIpset {
  const ipset = (o: IpsetVariant): void => {
    // Set names are checked whole at validation; a wrong JS type is refused here, where it is named.
    for (const k of ['name', 'from', 'to', 'a', 'b', 'type'] as const) {
      const v = (o as Record<string, unknown>)[k];
      if (k in o && (typeof v !== 'string' || (v as string).includes('\0'))) {
        checkString({ op: `tx.${o.op}`, subsystem: 'ipset' }, k === 'type' ? 'type' : 'set name', v, { nul: false });
      }
    }
    enqueue(o);
  };
  return {
    create(name: string, type: SetType, opts: CreateOptions = {}, o: TxExistOption = {}) {
      checkOptions(txCtx('ipset.create'), 'create options', opts);
      ipset({ op: 'ipset.create', name, type, options: { ...opts }, exist: existOf('ipset.create', o) });
      return this;
    },
    destroy(name?: string) {
      ipset(name === undefined ? { op: 'ipset.destroy' } : { op: 'ipset.destroy', name });
      return this;
    },
    flush(name?: string) {
      ipset(name === undefined ? { op: 'ipset.flush' } : { op: 'ipset.flush', name });
      return this;
    },
    add(name: string, entries: Entry | Entry[], o: TxExistOption = {}) {
      ipset({ op: 'ipset.add', name, entries: copyEntries(entries, 'ipset.add'), exist: existOf('ipset.add', o) });
      return this;
    },
    delete(name: string, entries: Entry | Entry[], o: TxExistOption = {}) {
      // Queued as 'ipset.del' (the plan's op name).
      ipset({ op: 'ipset.del', name, entries: copyEntries(entries, 'ipset.delete'), exist: existOf('ipset.delete', o) });
      return this;
    },
    del(name: string, entries: Entry | Entry[], o: TxExistOption = {}) {
      ipset({ op: 'ipset.del', name, entries: copyEntries(entries, 'ipset.del'), exist: existOf('ipset.del', o) });
      return this;
    },
    rename(from: string, to: string) {
      ipset({ op: 'ipset.rename', from, to });
      return this;
    },
    swap(a: string, b: string) {
      ipset({ op: 'ipset.swap', a, b });
      return this;
    },
    restore(text: string, o: TxExistOption = {}) {
      if (typeof text !== 'string') throw bad('tx.ipset.restore: text must be a string');
      ipset({ op: 'ipset.restore', text, exist: existOf('ipset.restore', o) });
      return this;
    },
    replace(name: string, entries: Entry[]) {
      if (!Array.isArray(entries)) throw bad('tx.ipset.replace: entries must be an array');
      ipset({ op: 'ipset.replace', name, entries: copyEntries(entries) });
      return this;
    },
    sync(name: string, entries: Entry[], opts: TxIpsetSyncOptions = {}) {
      if (!Array.isArray(entries)) throw bad('tx.ipset.sync: entries must be an array');
      checkOpts(txCtx('ipset.sync'), 'options', opts, { create: 'object' });
      ipset({ op: 'ipset.sync', name, entries: copyEntries(entries), options: { ...opts } });
      return this;
    },
  };
}

// ---- describe and order ----

const entryText = (e: Entry | undefined): string => (typeof e === 'string' ? e : JSON.stringify(e));
const count = (n: number) => `(${n} ${n === 1 ? 'entry' : 'entries'})`;
const entries = (list: Entry[]): string => (list.length === 1 ? entryText(list[0]) : count(list.length));

function describe(o: IpsetVariant): string {
  switch (o.op) {
    case 'ipset.create': return `ipset create ${o.name} ${o.type}${o.exist ? ' -exist' : ''}`;
    case 'ipset.destroy': return `ipset destroy${o.name !== undefined ? ` ${o.name}` : ''}`;
    case 'ipset.flush': return `ipset flush${o.name !== undefined ? ` ${o.name}` : ''}`;
    case 'ipset.add': return `ipset add ${o.name} ${entries(o.entries)}${o.exist ? ' -exist' : ''}`;
    case 'ipset.del': return `ipset del ${o.name} ${entries(o.entries)}${o.exist ? ' -exist' : ''}`;
    case 'ipset.rename': return `ipset rename ${o.from} ${o.to}`;
    case 'ipset.swap': return `ipset swap ${o.a} ${o.b}`;
    case 'ipset.restore': return `ipset restore (${o.text.split('\n').filter((l) => l.trim()).length} lines)${o.exist ? ' -exist' : ''}`;
    case 'ipset.replace': return `ipset replace ${o.name} ${count(o.entries.length)}`;
    case 'ipset.sync': return `ipset sync ${o.name} ${count(o.entries.length)}`;
  }
}

/** Set names an ipset operation works on ('*': every set). */
function ipsetNames(o: IpsetVariant): string[] {
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

const isRelease = (o: IpsetVariant) => o.op === 'ipset.del' || o.op === 'ipset.flush' || o.op === 'ipset.destroy';

/**
 * Dels, flushes and destroys wait for the release phase, unless a later operation of the queue
 * names the same set (so `destroy a; create a ...` still runs in that order).
 */
function plan(items: QueuedIpset[]): PlannedIpsetOp[] {
  const late = releases(items, isRelease, ipsetNames);
  return items.map((o) => ({ ...o, subsystem: 'ipset', phase: late.has(o.index) ? 'ipset-release' : 'ipset', summary: describe(o) }) as PlannedIpsetOp);
}

// ---- validation ----

/** What the ipset run tells the participants after it: sets the transaction creates that do not exist yet. */
export const CREATED_SETS = 'ipset.created';

/** The sets a transaction creates that the kernel does not have yet (empty when it touches no set). */
export const createdSets = (ctx: TxContext): ReadonlySet<string> => (ctx.shared.get(CREATED_SETS) as Set<string> | undefined) ?? new Set();

// ---- the run: snapshot, apply, undo ----

let tempCounter = 0;
const tempName = () => `nlkit-tx-${process.pid.toString(36)}-${(tempCounter++).toString(36)}`.slice(0, 31);

/** Type and family: what `ipset swap` needs to match. */
function kind(saveText: string): string {
  const create = /^create \S+ (\S+)(.*)$/m.exec(saveText);
  if (!create) return '';
  return `${create[1]} ${/ family (\S+)/.exec(create[2]!)?.[1] ?? ''}`;
}

class IpsetRun extends HandleRun<IpsetHandle> implements ParticipantRun<PlannedIpsetOp> {
  /** Sets the operations work on (every set, for a destroy or flush without a name). */
  #touched: string[] = [];
  /** Touched sets that existed: their `ipset save` text. */
  readonly sets = new Map<string, string>();
  /** Touched set names that did not exist. */
  readonly absent = new Set<string>();
  readonly #temps: string[] = [];

  constructor(ctx: TxContext) {
    super(ctx, (base) => new IpsetHandle(base));
  }

  async validate(ops: PlannedIpsetOp[]): Promise<void> {
    const sets = await this.h.list(undefined, { members: false });
    const known = new Map(sets.map((s) => [s.name, knownOf(s)]));
    const { touched, created } = checkIpset(ops, known);
    this.#touched = touched;
    this.ctx.shared.set(CREATED_SETS, new Set([...created].filter((s) => !known.has(s))));
  }

  async snapshot(): Promise<void> {
    if (!this.#touched.length) return;
    const names = new Set(await this.h.names());
    const saves: Promise<unknown>[] = [];
    for (const n of this.#touched) {
      if (!names.has(n)) this.absent.add(n);
      else saves.push(this.h.save(n).then((t) => this.sets.set(n, t)));
    }
    const results = await Promise.allSettled(saves);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  async apply(o: PlannedIpsetOp): Promise<void> {
    const s = this.h;
    switch (o.op) {
      case 'ipset.create': return s.create(o.name, o.type, o.options, { exist: o.exist });
      case 'ipset.destroy': return s.destroy(o.name);
      case 'ipset.flush': return s.flush(o.name);
      case 'ipset.add': return s.add(o.name, o.entries, { exist: o.exist });
      case 'ipset.del': return s.del(o.name, o.entries, { exist: o.exist });
      case 'ipset.rename': return s.rename(o.from, o.to);
      case 'ipset.swap': return s.swap(o.a, o.b);
      case 'ipset.restore': return s.restore(o.text, { exist: o.exist });
      case 'ipset.replace': return s.replace(o.name, o.entries);
      case 'ipset.sync': await s.sync(o.name, o.entries, o.options); return;
    }
  }

  /**
   * Renames and swaps are undone as such, newest first, so that each set keeps its identity (a
   * rule holds a set by its index, not by its name); then the sets that existed come back as
   * the snapshot saw them (recreated, or their members put back by swapping in a copy).
   */
  async restore(started: PlannedIpsetOp[], failedLast: boolean, log: UndoLog): Promise<void> {
    const h = this.h;
    // Best effort: where one cannot be undone (a later operation took the name), the steps
    // below put names and members back by content.
    const done = failedLast ? started.slice(0, -1) : started;
    for (const o of [...done].reverse()) {
      if (o.op !== 'ipset.rename' && o.op !== 'ipset.swap') continue;
      const [what, fn] = o.op === 'ipset.rename'
        ? [`ipset rename ${o.to} ${o.from}`, () => h.rename(o.to, o.from)]
        : [`ipset swap ${o.b} ${o.a}`, () => h.swap(o.b, o.a)];
      await fn().then(() => log.done(what), () => undefined);
    }
    if (!this.sets.size) return;
    let now = new Set<string>();
    await log.step('ipset list -n', async () => (now = new Set(await h.names())), true);
    // list:set members are other sets: those come back first.
    const order = [...this.sets].sort(([, a], [, b]) => Number(kind(a).startsWith('list:set')) - Number(kind(b).startsWith('list:set')));
    for (const [name, text] of order) {
      if (!now.has(name)) {
        await log.step(`ipset restore ${name} (recreated from the snapshot)`, () => h.restoreSaved(text));
        continue;
      }
      let current = '';
      if (!(await log.step(`ipset save ${name}`, async () => (current = await h.save(name)), true)) || current === text) continue;
      const tmp = tempName();
      if (kind(current) === kind(text)) {
        await log.step(`ipset swap ${name} with a copy of its snapshot`, async () => {
          await h.restoreSaved(renamedSaved(text, tmp));
          this.#temps.push(tmp);
          await h.swap(tmp, name);
        });
      } else {
        // A set of another type now has the name (destroyed and recreated): move it aside.
        await log.step(`ipset rename ${name} ${tmp}; ipset restore ${name} (recreated from the snapshot)`, async () => {
          await h.rename(name, tmp);
          this.#temps.push(tmp);
          await h.restoreSaved(text);
        });
      }
    }
  }

  /** Sets that did not exist, and the temporary copies: destroyed, once no restored rule holds them. */
  async release(_started: PlannedIpsetOp[], _failedLast: boolean, log: UndoLog): Promise<void> {
    const h = this.h;
    let now: string[] = [];
    await log.step('ipset list -n', async () => (now = await h.names()), true);
    // A list:set holds its members: what is still in use is tried again after the others.
    await undoInRounds(log, now.filter((n) => this.absent.has(n) || this.#temps.includes(n)), (n) => `ipset destroy ${n}`, (n) => h.destroy(n),
      { retry: (e) => e instanceof InUseError, quiet: (n) => this.#temps.includes(n) });
  }
}

/**
 * The ipset participant of transaction().
 *
 * @example
 *   await transaction((tx) => { tx.ipset.create('allowed', 'hash:ip').add('allowed', ['10.0.0.1']); });
 */
export const ipsetParticipant = participant<'ipset', TxIpset, QueuedIpset, PlannedIpsetOp>('ipset', IpsetRun, { releases: true, api, plan });
