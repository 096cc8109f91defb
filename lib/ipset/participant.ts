// How ipset joins a transaction (lib/transaction/participant.ts): tx.ipset queues set changes;
// they are checked whole as one `ipset restore` text against the sets the kernel has, run
// before the rules that match their sets (phase 'ipset'), and the deletions nothing later in
// the queue depends on run after the rules that used their sets are gone ('ipset-release').
// Undo puts existing sets back by swapping in a copy made from their `ipset save` text (packets
// see one change), then destroys the sets the transaction created once no restored rule holds them.
import { InUseError, InvalidArgumentError, NlkitError, NotFoundError } from '../errors.js';
import { badArgument, checkOptions, checkOpts, checkString, type ArgContext } from '../args.js';
import { blame, type Enqueue, type Participant, type ParticipantRun, type PlannedBase, type TxContext, type UndoLog } from '../transaction/participant.js';
import { EVERY, releases } from '../transaction/order.js';
import { IpsetHandle } from './handle.js';
import { renamedSaved } from './saved-text.js';
import type { IpsetSyncOptions } from './sync.js';
import { formatCreate, formatEntry, validateRestore, type KnownSet } from './syntax.js';
import type { CreateOptions, Entry, SetInfo, SetType } from './types.js';

export interface TxExistOption {
  /** Like `ipset -exist`: no error for a set/entry that already exists (or is already gone). */
  exist?: boolean;
}

/** Options of tx.ipset.sync(), as IpsetHandle.sync takes them (`create` makes the set when missing). */
export type TxIpsetSyncOptions = IpsetSyncOptions;

/** ipset changes of a transaction. Each call only queues; nothing runs until the callback returns. */
export interface TxIpset {
  create(name: string, type: SetType, opts?: CreateOptions, o?: TxExistOption): this;
  /** Destroys one set (or every set when no name is given) once the rules using it are gone. */
  destroy(name?: string): this;
  flush(name?: string): this;
  add(name: string, entries: Entry | Entry[], o?: TxExistOption): this;
  del(name: string, entries: Entry | Entry[], o?: TxExistOption): this;
  rename(from: string, to: string): this;
  swap(a: string, b: string): this;
  /** `ipset restore` text (checked whole, with the transaction's other ipset changes). */
  restore(text: string, o?: TxExistOption): this;
  /** Atomically replaces the members (IpsetHandle.replace). */
  replace(name: string, entries: Entry[]): this;
  /** Makes the members equal to `entries`, sending only the difference (IpsetHandle.sync). */
  sync(name: string, entries: Entry[], opts?: TxIpsetSyncOptions): this;
}

type IpsetVariant =
  | { op: 'ipset.create'; name: string; type: SetType; options: CreateOptions; exist: boolean }
  | { op: 'ipset.destroy'; name?: string }
  | { op: 'ipset.flush'; name?: string }
  | { op: 'ipset.add' | 'ipset.del'; name: string; entries: Entry[]; exist: boolean }
  | { op: 'ipset.rename'; from: string; to: string }
  | { op: 'ipset.swap'; a: string; b: string }
  | { op: 'ipset.restore'; text: string; exist: boolean }
  | { op: 'ipset.replace'; name: string; entries: Entry[] }
  | { op: 'ipset.sync'; name: string; entries: Entry[]; options: TxIpsetSyncOptions };

/** When a set operation runs: before the rules ('ipset') or after them ('ipset-release'). */
export type PlannedIpsetOp = Omit<PlannedBase, 'subsystem' | 'phase'> & { subsystem: 'ipset'; phase: 'ipset' | 'ipset-release' } & IpsetVariant;

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

function knownOf(s: SetInfo): KnownSet {
  const h = s.header;
  return {
    type: s.type, family: h.family ?? 'inet', timeout: h.timeout !== undefined,
    counters: h.counters === true, comment: h.comment === true, skbinfo: h.skbinfo === true,
  };
}

interface Span {
  o: PlannedIpsetOp;
  /** First line of the operation in the text. */
  line: number;
  /** Line of its first entry (add, del, replace, sync). */
  entryLine?: number;
}

/** The ipset operations as one restore text, checked as one. */
function checkIpset(ops: PlannedIpsetOp[], known: Map<string, KnownSet>): { touched: string[]; created: Set<string> } {
  const types = new Map<string, SetType>([...known].map(([n, k]) => [n, k.type]));
  const lines: string[] = [];
  const spans: Span[] = [];
  const created = new Set<string>();
  const adds = (o: PlannedIpsetOp, cmd: 'add' | 'del', name: string, list: Entry[], exist: boolean, span: Span) => {
    const type = types.get(name);
    span.entryLine = lines.length + 1;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      let text: string;
      try {
        // A string is checked by validateRestore below; here only that it stays one line.
        if (typeof e === 'string' && !/[\r\n]/.test(e)) text = e;
        else if (type !== undefined) text = formatEntry(type, e);
        else throw new NotFoundError(`set '${name}' does not exist`, { op: o.op, subsystem: 'ipset' });
      } catch (err) {
        throw blame(err as Error, o, i);
      }
      lines.push(`${cmd} ${name} ${text}${exist ? ' -exist' : ''}`);
    }
  };
  for (const o of ops) {
    const span: Span = { o, line: lines.length + 1 };
    spans.push(span);
    try {
      switch (o.op) {
        case 'ipset.create':
          lines.push(formatCreate(o.name, o.type, o.options) + (o.exist ? ' -exist' : ''));
          if (!types.has(o.name)) created.add(o.name);
          types.set(o.name, o.type);
          break;
        case 'ipset.destroy':
          lines.push(o.name === undefined ? 'destroy' : `destroy ${o.name}`);
          if (o.name === undefined) types.clear();
          else types.delete(o.name);
          break;
        case 'ipset.flush':
          lines.push(o.name === undefined ? 'flush' : `flush ${o.name}`);
          break;
        case 'ipset.add':
        case 'ipset.del':
          adds(o, o.op === 'ipset.add' ? 'add' : 'del', o.name, o.entries, o.exist, span);
          break;
        case 'ipset.rename': {
          lines.push(`rename ${o.from} ${o.to}`);
          const t = types.get(o.from);
          types.delete(o.from);
          if (t !== undefined) types.set(o.to, t);
          if (created.delete(o.from) || !known.has(o.to)) created.add(o.to);
          break;
        }
        case 'ipset.swap': {
          lines.push(`swap ${o.a} ${o.b}`);
          const a = types.get(o.a), b = types.get(o.b);
          if (a !== undefined && b !== undefined) {
            types.set(o.a, b);
            types.set(o.b, a);
          }
          break;
        }
        case 'ipset.restore': {
          const own = o.text.replace(/\n$/, '').split('\n');
          // -exist on the first command line holds for the rest of the text, as in libipset.
          const first = own.findIndex((l) => l.trim() !== '' && !l.trimStart().startsWith('#') && l.trim() !== 'COMMIT');
          if (o.exist && first >= 0) own[first] += ' -exist';
          lines.push(...own);
          followRestore(o.text, types, created, known);
          break;
        }
        case 'ipset.replace':
          lines.push(`flush ${o.name}`);
          adds(o, 'add', o.name, o.entries, false, span);
          break;
        case 'ipset.sync': {
          const c = o.options.create;
          if (c && !types.has(o.name)) {
            lines.push(formatCreate(o.name, c.type, c.options ?? {}));
            types.set(o.name, c.type);
            created.add(o.name);
          }
          lines.push(`flush ${o.name}`);
          adds(o, 'add', o.name, o.entries, false, span);
          break;
        }
      }
    } catch (e) {
      throw blame(e as Error, o);
    }
  }
  try {
    const checked = validateRestore(lines.join('\n') + '\n', known, { op: OP });
    const touched = new Set(checked.touched);
    for (const o of ops) {
      if (o.op === 'ipset.add' || o.op === 'ipset.del') touched.add(o.name);
    }
    return { touched: [...touched], created };
  } catch (e) {
    const line = (e as { line?: number }).line;
    if (!(e instanceof NlkitError) || line === undefined) throw e;
    let span = spans[0]!;
    for (const s of spans) if (s.line <= line) span = s;
    const o = span.o;
    if (span.entryLine !== undefined && line >= span.entryLine) {
      delete (e as { line?: number }).line;
      delete (e as { column?: number }).column;
      throw blame(e, o, line - span.entryLine);
    }
    if (o.op === 'ipset.restore') (e as { line?: number }).line = line - span.line + 1;
    else {
      delete (e as { line?: number }).line;
      delete (e as { column?: number }).column;
    }
    e.message = e.message.replace(/^transaction: line \d+: /, o.op === 'ipset.restore' ? `line ${line - span.line + 1}: ` : '');
    throw blame(e, o);
  }
}

/** Follows the sets a restore text creates, renames, swaps and destroys, for the lines after it. */
function followRestore(text: string, types: Map<string, SetType>, created: Set<string>, known: Map<string, KnownSet>): void {
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/).filter((x) => x && !/^-(exist|!|q|quiet)$/.test(x));
    const [cmd, a, b] = w;
    if (cmd === 'create' || cmd === '-N' || cmd === 'n') {
      if (a && b) {
        if (!types.has(a)) created.add(a);
        types.set(a, b as SetType);
      }
    } else if (cmd === 'destroy' || cmd === '-X' || cmd === 'x') {
      if (a) types.delete(a);
      else types.clear();
    } else if ((cmd === 'rename' || cmd === '-E' || cmd === 'e') && a && b) {
      const t = types.get(a);
      types.delete(a);
      if (t) types.set(b, t);
      if (created.delete(a) || !known.has(b)) created.add(b);
    } else if ((cmd === 'swap' || cmd === '-W' || cmd === 'w') && a && b) {
      const ta = types.get(a), tb = types.get(b);
      if (ta && tb) {
        types.set(a, tb);
        types.set(b, ta);
      }
    }
  }
}

// ---- the run: snapshot, apply, undo ----

let tempCounter = 0;
const tempName = () => `nlkit-tx-${process.pid.toString(36)}-${(tempCounter++).toString(36)}`.slice(0, 31);

/** Type and family: what `ipset swap` needs to match. */
function kind(saveText: string): string {
  const create = /^create \S+ (\S+)(.*)$/m.exec(saveText);
  if (!create) return '';
  return `${create[1]} ${/ family (\S+)/.exec(create[2]!)?.[1] ?? ''}`;
}

class IpsetRun implements ParticipantRun<PlannedIpsetOp> {
  #h: IpsetHandle | undefined;
  /** Sets the operations work on (every set, for a destroy or flush without a name). */
  #touched: string[] = [];
  /** Touched sets that existed: their `ipset save` text. */
  readonly sets = new Map<string, string>();
  /** Touched set names that did not exist. */
  readonly absent = new Set<string>();
  readonly #temps: string[] = [];

  constructor(private readonly ctx: TxContext) {}

  get h(): IpsetHandle {
    return (this.#h ??= new IpsetHandle(this.ctx.base));
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
    let pending = now.filter((n) => this.absent.has(n) || this.#temps.includes(n));
    // A list:set holds its members: what is still in use is tried again after the others.
    for (let round = 0; pending.length && round < 3; round++) {
      const busy: string[] = [];
      for (const name of pending) {
        try {
          await h.destroy(name);
          if (!this.#temps.includes(name)) log.done(`ipset destroy ${name}`);
        } catch (e) {
          if (e instanceof InUseError && round < 2) busy.push(name);
          else log.failed(e, `ipset destroy ${name}`);
        }
      }
      pending = busy;
    }
  }

  async close(): Promise<void> {
    await this.#h?.close();
  }
}

/**
 * The ipset participant of transaction().
 *
 * @example
 *   await transaction((tx) => { tx.ipset.create('allowed', 'hash:ip').add('allowed', ['10.0.0.1']); });
 */
export const ipsetParticipant: Participant<'ipset', TxIpset, QueuedIpset, PlannedIpsetOp> = {
  name: 'ipset',
  after: [],
  releases: true,
  api: (enqueue) => api(enqueue),
  plan,
  start: (ctx) => new IpsetRun(ctx),
};
