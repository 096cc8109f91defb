// transaction(): changes queued by a callback on `tx.<participant>` (link, ipset, ipvs, nft,
// iptables: lib/transaction/participants.ts), checked whole before the kernel is touched,
// applied in dependency order (lib/transaction/order.ts), and on any failure undone from a
// snapshot of what they touch, then reported as TransactionError. The engine knows the
// participant interface (lib/transaction/participant.ts), never a subsystem.
//
//   await transaction((tx) => {
//     tx.ipset.create('allowed', 'hash:ip').add('allowed', ['10.0.0.1', '10.0.0.2']);
//     tx.iptables.restore('*filter\n-A INPUT -m set --match-set allowed src -j ACCEPT\nCOMMIT\n', { noflush: true });
//   }, { netns: 'blue', wait: 5_000 });
//
// A validation error (bad entry, bad rule, unknown set) is thrown as it is (an NlkitError
// subclass with `index`, the position of the call in the queue) and nothing was changed. A
// participant with a lock other tools take (the xtables lock) holds it from the snapshot until
// the transaction has applied or rolled back. Transactions in one namespace of this process run
// one at a time (lib/transaction/serialize.ts).
//
// Rollback: first every participant that had started puts back what existed, in dependency
// order (the sets the old rules need come back before the rules), then each removes what the
// transaction created, in reverse order (sets are destroyed once no restored rule holds them).
import { NlkitError, TransactionError } from '../core/errors.js';
import { badArgument, checkFunction, checkOpts } from '../core/args.js';
import { checkNetnsRef } from '../core/netns.js';
import { blame, blamedOn, type ParticipantRun, type PlannedBase, type TxContext, type UndoLog } from './participant.js';
import { ordered, TxQueue } from './queue.js';
import { oneAtATime } from './serialize.js';
import type { PlannedOp, TransactionFn, TransactionOptions, TransactionResult, TransactionTimings, Tx } from './types.js';

export type * from './types.js';

const now = () => performance.now();

/** The callback and options, checked before anything runs (wrong types are InvalidArgumentError). */
function checkTransaction(fn: unknown, opts: TransactionOptions | undefined): void {
  const ctx = { op: 'transaction', subsystem: 'nlkit' as const };
  checkFunction(ctx, 'fn', fn as Function);
  const o = checkOpts(ctx, 'options', opts, {
    netns: 'string', wait: 'number|true', waitTimeout: 'number', waitInterval: 'number', iptables: 'object', dryRun: 'boolean',
  });
  if (o.family !== undefined && o.family !== 4 && o.family !== 6 && o.family !== 'both') throw badArgument(ctx, 'options.family', o.family, "4, 6 or 'both'");
  if (o.netns !== undefined) checkNetnsRef(o.netns, 'transaction');
}

/** One participant's part of this transaction. */
interface Part {
  run: ParticipantRun<PlannedBase>;
  /** Its operations, in apply order. */
  ops: PlannedBase[];
  /** Its operations that began. */
  started: PlannedBase[];
  /** prepare() has run. */
  prepared: boolean;
}

async function run(fn: (tx: Tx) => void | Promise<void>, opts: TransactionOptions = {}): Promise<TransactionResult> {
  checkTransaction(fn, opts);
  const t0 = now();
  const timings: TransactionTimings = { validateMs: 0, lockMs: 0, snapshotMs: 0, applyMs: 0, rollbackMs: 0, totalMs: 0 };
  const queue = new TxQueue(opts);
  try {
    await fn(queue.tx);
  } finally {
    queue.seal();
  }
  const plan = queue.plan();
  const ctx: TxContext = { opts, base: opts.netns !== undefined ? { netns: opts.netns } : {}, shared: new Map() };
  // Only the participants the plan touches, in dependency order.
  const parts = new Map<string, Part>();
  for (const p of ordered) {
    const ops = (plan as PlannedBase[]).filter((o) => o.subsystem === p.name);
    if (ops.length) parts.set(p.name, { run: p.start(ctx), ops, started: [], prepared: false });
  }
  try {
    let t = now();
    for (const part of parts.values()) await part.run.validate(part.ops);
    timings.validateMs = now() - t;
    if (opts.dryRun || plan.length === 0) {
      timings.totalMs = now() - t0;
      return { plan, applied: 0, dryRun: opts.dryRun === true, timings };
    }

    const body = async (): Promise<number> => {
      timings.lockMs = now() - t;
      t = now();
      // One participant after the other: libipset and libxtables in two worker threads at once
      // have crashed the process (see the report of issue #5).
      for (const part of parts.values()) await part.run.snapshot(part.ops);
      timings.snapshotMs = now() - t;
      t = now();
      let applied = 0;
      let current: PlannedBase | undefined;
      let failed: Part | undefined;
      try {
        for (const o of plan as PlannedBase[]) {
          const part = parts.get(o.subsystem)!;
          current = o;
          if (!part.prepared) {
            part.prepared = true;
            await part.run.prepare?.();
          }
          part.started.push(o);
          failed = part;
          await part.run.apply(o);
          failed = undefined;
          applied++;
        }
      } catch (e) {
        timings.applyMs = now() - t;
        t = now();
        const cause = e instanceof NlkitError ? e : new NlkitError(`transaction: ${(e as Error)?.message ?? String(e)}`, { op: 'transaction', cause: e });
        // A check in prepare() names the operation it is about.
        if (!failed) current = blamedOn(cause) ?? current;
        const r = await rollback([...parts.values()], failed);
        timings.rollbackMs = now() - t;
        throw failure(current, cause, r.undone, r.errors);
      }
      timings.applyMs = now() - t;
      return applied;
    };

    t = now();
    // One at a time per namespace in this process; inside every lock the touched participants
    // hold (taken in dependency order, the queue last: one order everywhere, so a transaction
    // started inside the caller's withLock() cannot deadlock against one waiting for that lock).
    let exclusive = () => oneAtATime(opts.netns, body);
    for (const part of [...parts.values()].reverse()) {
      const inner = exclusive;
      if (part.run.lock) exclusive = () => part.run.lock!(part.ops, inner);
    }
    const applied = await exclusive();
    timings.totalMs = now() - t0;
    return { plan, applied, dryRun: false, timings };
  } finally {
    await Promise.allSettled([...parts.values()].map((p) => p.run.close()));
  }
}

/** Every participant that began puts back what existed (dependency order), then removes what it created (reverse). */
async function rollback(parts: Part[], failed: Part | undefined): Promise<{ undone: string[]; errors: NlkitError[] }> {
  const undone: string[] = [];
  const errors: NlkitError[] = [];
  const asError = (e: unknown): NlkitError =>
    e instanceof NlkitError ? e : new NlkitError(`transaction rollback: ${e instanceof Error ? e.message : String(e)}`, { op: 'transaction', cause: e });
  const log: UndoLog = {
    async step(what, fn, quiet) {
      try {
        await fn();
        if (!quiet) undone.push(what);
        return true;
      } catch (e) {
        log.failed(e, what);
        return false;
      }
    },
    done: (what) => void undone.push(what),
    failed(e, what) {
      const err = asError(e);
      if (what !== undefined) err.message = `${what}: ${err.message}`;
      errors.push(err);
    },
  };
  const began = parts.filter((p) => p.started.length);
  for (const p of began) {
    try {
      await p.run.restore(p.started, p === failed, log);
    } catch (e) {
      log.failed(e);
    }
  }
  for (const p of [...began].reverse()) {
    try {
      await p.run.release?.(p.started, p === failed, log);
    } catch (e) {
      log.failed(e);
    }
  }
  return { undone, errors };
}

function failure(o: PlannedBase | undefined, cause: NlkitError, undone: string[], undoErrors: NlkitError[]): TransactionError {
  if (o) blame(cause, o);
  const rolledBack = undoErrors.length === 0;
  const what = cause.message.replace(/^transaction: /, '');
  const tail = rolledBack
    ? `; rolled back${undone.length ? ` (${undone.join('; ')})` : ' (nothing had changed)'}`
    : `; ROLLBACK INCOMPLETE: ${undoErrors.map((e) => e.message).join('; ')}`;
  return new TransactionError(`transaction failed: ${what}${tail}`, {
    op: 'transaction', subsystem: (o?.subsystem ?? cause.subsystem) as TransactionError['subsystem'], code: cause.code, errno: cause.errno, cause,
    ...(o ? { failed: { op: o as PlannedOp, error: cause } } : { failed: { error: cause } }),
    rolledBack, undone, undoErrors,
  });
}

/**
 * Runs the changes that `fn` queues on `tx.ipset`, `tx.iptables`, `tx.ipvs`, `tx.nft` and `tx.link` as one
 * unit: everything is checked first, applied in dependency order, and on any failure what it
 * touched is put back (TransactionError). `transaction.plan(fn)` returns the operations without
 * applying them.
 * @example
 * await transaction((tx) => {
 *   tx.ipset.create('allowed', 'hash:ip').add('allowed', ['10.0.0.1']);
 *   tx.ipvs.addService({ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr' });
 * }, { netns: 'node', wait: 5_000 });
 */
export const transaction: TransactionFn = Object.assign(run, {
  plan: async (fn: (tx: Tx) => void | Promise<void>, opts: TransactionOptions = {}): Promise<PlannedOp[]> => {
    checkTransaction(fn, opts);
    return (await run(fn, { ...opts, dryRun: true })).plan;
  },
});
