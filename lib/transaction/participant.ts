// What a subsystem provides to join transaction(): the engine (lib/transaction/index.ts) knows only
// this interface and the list in ./participants.ts, never a subsystem by name.
//
// Writing a participant (lib/<subsystem>/participant.ts):
// - `name` is the property of `tx` the callback uses (`tx.link`) and the `subsystem` of its
//   planned operations; `after` names the participants whose changes its own need first (iptables
//   rules reference sets: iptables is `after: ['ipset']`). Its changes run in the phase `name`,
//   after those of the participants it comes after; the deletions it marks as releases run in
//   the phase `${name}-release`, in the reverse order (a set is destroyed after the rules that
//   used it are gone).
// - `api(enqueue, opts)` returns `tx.<name>`: each call checks its JS types, copies its
//   arguments and enqueues one item; nothing runs until the callback returns.
// - `plan(items)` turns its queued items into planned operations (with `phase` and `summary`),
//   in queue order; it may split one item into several (one per table).
// - `start(ctx)` opens its per-transaction run: `validate` every operation before anything is
//   touched (reads only), `snapshot` what they touch, `apply` one operation, and on failure
//   `restore` (put back what existed, in dependency order) and `release` (remove what the
//   transaction created, in reverse order) exactly, from the snapshot. `lock` wraps the whole
//   snapshot-apply-undo when the subsystem has a lock other tools take; `prepare` runs right
//   before its first operation applies (checks that need the earlier participants' changes).
import { NlkitError } from '../core/errors.js';
import type { TransactionOptions } from './options.js';

/** The fields every planned operation has, whatever its participant. */
export interface PlannedBase {
  /** The participant's name ('ipset', 'link', ...). */
  subsystem: string;
  /** `<subsystem>.<method>`, as the callback called it. */
  op: string;
  /** Position in the queue (the order the callback called it), 0-based. */
  index: number;
  /** `subsystem` or `${subsystem}-release`. */
  phase: string;
  /** What it does, in the words of the system tool (`ipset create a hash:ip`, `iptables -t nat (restore)`). */
  summary: string;
}

/** Records one call of `tx.<name>` and returns its queue index (throws once the transaction has started). */
export type Enqueue<Q> = (item: Q) => number;

/** What a rollback did and what failed, in order. */
export interface UndoLog {
  /**
   * Runs one undo step: records `what` as undone (unless `quiet`: a read, a temporary copy), or
   * its failure as an undo error whose message starts with `what`. Resolves to whether it worked.
   */
  step(what: string, fn: () => Promise<unknown>, quiet?: boolean): Promise<boolean>;
  /** Records a step done outside step(). */
  done(what: string): void;
  /** Records a failed step. */
  failed(e: unknown, what?: string): void;
}

/** What one transaction gives every participant run. */
export interface TxContext {
  readonly opts: TransactionOptions;
  /** `{ netns }` for the handles a run opens (empty for the caller's namespace). */
  readonly base: { netns?: string };
  /** What runs validated earlier publish for later ones (key: the publisher's name). */
  readonly shared: Map<string, unknown>;
}

/** A participant's work in one transaction: its handles, its snapshot. */
export interface ParticipantRun<Op extends PlannedBase> {
  /** Checks `ops` (this participant's, in apply order); throws the error of the first bad one (see blame()). */
  validate(ops: Op[]): Promise<void>;
  /** Holds the subsystem's own lock around `fn` (snapshot, apply and undo). */
  lock?<T>(ops: Op[], fn: () => Promise<T>): Promise<T>;
  /** Saves what `ops` touch. */
  snapshot(ops: Op[]): Promise<void>;
  /** Runs once, right before its first operation applies. */
  prepare?(): Promise<void>;
  apply(op: Op): Promise<void>;
  /** Puts back what existed; `started`: its operations that began; `failedLast`: the last of them failed. */
  restore(started: Op[], failedLast: boolean, log: UndoLog): Promise<void>;
  /** Removes what the transaction created, once the participants after it are restored. */
  release?(started: Op[], failedLast: boolean, log: UndoLog): Promise<void>;
  close(): Promise<void>;
}

/**
 * A subsystem that can join transactions.
 *
 * @example
 *   export const fooParticipant: Participant<'foo', TxFoo, QueuedFoo, PlannedFooOp> = {
 *     name: 'foo', after: ['link'],
 *     api: (enqueue) => ({ add(x) { enqueue({ op: 'foo.add', x }); return this; } }),
 *     plan: (items) => items.map((q) => ({ ...q, subsystem: 'foo', phase: 'foo', summary: `foo add ${q.x}` })),
 *     start: (ctx) => new FooRun(ctx),
 *   };
 */
export interface Participant<Name extends string = string, Api = unknown, Q extends { index: number } = { index: number }, Op extends PlannedBase = PlannedBase> {
  readonly name: Name;
  /** Participants whose changes this one's need first (names in the engine's list). */
  readonly after?: readonly string[];
  /** Whether some operations run in the release phase `${name}-release`. */
  readonly releases?: boolean;
  api(enqueue: Enqueue<Omit<Q, 'index'>>, opts: TransactionOptions): Api;
  /** Queued items (queue order) to planned operations, each with its phase. */
  plan(items: Q[]): Op[];
  start(ctx: TxContext): ParticipantRun<Op>;
}

/**
 * A participant whose run is a class constructed from the TxContext: `start` is `new Run(ctx)`.
 *
 * @example
 *   export const fooParticipant = participant<'foo', TxFoo, QueuedFoo, PlannedFooOp>('foo', FooRun, { after: ['link'], api, plan });
 */
export function participant<Name extends string, Api, Q extends { index: number }, Op extends PlannedBase>(
  name: Name, Run: new (ctx: TxContext) => ParticipantRun<Op>, p: Omit<Participant<Name, Api, Q, Op>, 'name' | 'start'>): Participant<Name, Api, Q, Op> {
  return { name, ...p, start: (ctx) => new Run(ctx) };
}

/** The operation an error is about (set by blame()). */
const blamedOp = new WeakMap<Error, PlannedBase>();

/** The operation blame() put in front of an error. */
export const blamedOn = (e: unknown): PlannedBase | undefined => (e instanceof Error ? blamedOp.get(e) : undefined);

/**
 * Puts the operation (and entry) at fault in front of an error's message, and its queue index
 * (and entry) on the error, once.
 *
 * @example
 *   try { check(o); } catch (e) { throw blame(e as Error, o); }
 */
export function blame<E extends Error>(e: E, o: PlannedBase, entry?: number): E {
  if (e instanceof NlkitError && !blamedOp.has(e)) {
    blamedOp.set(e, o);
    // The tool's or method's own prefix ('ipset: ', 'ip6tables.restore: ') gives way to the operation's.
    let msg = e.message.replace(/^(transaction|[a-z][a-z0-9]*)(\.\w+)*: /, '');
    if (entry !== undefined) msg = msg.replace(/^line \d+: /, '');
    e.message = `transaction: ${o.summary} (#${o.index})${entry !== undefined ? `: entry ${entry}` : ''}: ${msg}`;
    Object.assign(e, { index: o.index, ...(entry !== undefined ? { entry } : {}) });
    if (!e.op) e.op = o.op;
  }
  return e;
}

/**
 * Undo steps that may wait on each other (a route through a gateway needs the route to that
 * gateway; a list:set holds its members): each of three rounds runs `fn` on what is still
 * pending, and what fails with an error `retry` accepts (default: any) is tried again in the
 * next round. Each step is recorded in `log` as `what(item)`, done (unless `quiet(item)`: a
 * temporary copy) or, once it is not tried again, failed.
 *
 * @example
 *   await undoInRounds(log, routes, (r) => `ip route add ${r.dst}`, (r) => h.routes.add(r));
 */
export async function undoInRounds<T>(log: UndoLog, items: T[], what: (item: T) => string, fn: (item: T) => Promise<unknown>,
  opts: { retry?: (e: unknown) => boolean; quiet?: (item: T) => boolean } = {}): Promise<void> {
  const rounds = 3;
  let pending = items;
  for (let round = 0; pending.length && round < rounds; round++) {
    const again: T[] = [];
    for (const item of pending) {
      try {
        await fn(item);
        if (!opts.quiet?.(item)) log.done(what(item));
      } catch (e) {
        if (round < rounds - 1 && (opts.retry?.(e) ?? true)) again.push(item);
        else log.failed(e, what(item));
      }
    }
    pending = again;
  }
}

/**
 * The base of a run that works through one handle of its subsystem: opened on first use, in the
 * transaction's namespace, and closed with the run.
 *
 * @example
 *   class FooRun extends HandleRun<FooHandle> implements ParticipantRun<PlannedFooOp> {
 *     constructor(ctx: TxContext) { super(ctx, (base) => new FooHandle(base)); }
 *     async apply(o: PlannedFooOp) { await this.h.add(o.x); }
 *   }
 */
export abstract class HandleRun<H extends { close(): Promise<unknown> }> {
  #h: H | undefined;

  constructor(protected readonly ctx: TxContext, private readonly open: (base: TxContext['base']) => H) {}

  /** The run's handle (opened now if it is not yet). */
  get h(): H {
    return (this.#h ??= this.open(this.ctx.base));
  }

  async close(): Promise<void> {
    await this.#h?.close();
  }
}
