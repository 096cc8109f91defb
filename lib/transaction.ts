// transaction(): changes to ipsets, IPVS and iptables queued by a callback, checked whole
// before the kernel is touched, applied in dependency order (lib/transaction/order.ts), and on
// any failure undone from a snapshot of what they touch, then reported as TransactionError.
//
//   await transaction((tx) => {
//     tx.ipset.create('allowed', 'hash:ip').add('allowed', ['10.0.0.1', '10.0.0.2']);
//     tx.iptables.restore('*filter\n-A INPUT -m set --match-set allowed src -j ACCEPT\nCOMMIT\n', { noflush: true });
//   }, { netns: 'blue', waitTimeout: 5_000 });
//
// A validation error (bad entry, bad rule, unknown set) is thrown as it is (an NlkitError
// subclass with `index`, the position of the call in the queue) and nothing was changed.
// When the iptables tables are touched, the xtables lock is held from the snapshot until the
// transaction has applied or rolled back, so iptables tools see neither half; inside a
// withLock() of the caller it is already held and not taken again. Transactions in one
// namespace of this process run one at a time (lib/transaction/serialize.ts).
//
// Limits: validation reads the kernel (set headers; the tables a text is compiled against; as
// with `iptables -t nat -S`, reading a legacy table the namespace lacks makes the kernel create
// it empty). A table whose rules match a set the transaction creates is compiled once that set
// exists, after the ipset phase; a dry run checks only its structure. A rollback puts back set
// members with the timeouts and counters the snapshot saw, and table counters as saved.
import { NlkitError, TransactionError } from './errors.js';
import { badArgument, checkFunction, checkOpts } from './args.js';
import { checkNetnsRef } from './netns.js';
import { TableBuilder } from './iptables/builder.js';
import { TxHandles } from './transaction/handles.js';
import { TxQueue } from './transaction/queue.js';
import { blame, checkTable, validate } from './transaction/validate.js';
import { takeSnapshot } from './transaction/snapshot.js';
import { rollback } from './transaction/rollback.js';
import { oneAtATime } from './transaction/serialize.js';
import type { PlannedOp, TransactionFn, TransactionOptions, TransactionResult, TransactionTimings, Tx } from './transaction/types.js';

export type * from './transaction/types.js';

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

async function run(fn: (tx: Tx) => void | Promise<void>, opts: TransactionOptions = {}): Promise<TransactionResult> {
  checkTransaction(fn, opts);
  const t0 = now();
  const timings: TransactionTimings = { validateMs: 0, lockMs: 0, snapshotMs: 0, applyMs: 0, rollbackMs: 0, totalMs: 0 };
  const queue = new TxQueue(opts.family ?? 4, (name, o) => new TableBuilder(name, o));
  try {
    await fn(queue);
  } finally {
    queue.seal();
  }
  const plan = queue.plan();
  const handles = new TxHandles(opts);
  try {
    let t = now();
    const checked = await validate(plan, handles);
    timings.validateMs = now() - t;
    if (opts.dryRun || plan.length === 0) {
      timings.totalMs = now() - t0;
      return { plan, applied: 0, dryRun: opts.dryRun === true, timings };
    }

    const body = async (): Promise<number> => {
      timings.lockMs = now() - t;
      t = now();
      const snap = await takeSnapshot(plan, checked.setsTouched, handles);
      timings.snapshotMs = now() - t;
      t = now();
      const started: PlannedOp[] = [];
      let applied = 0;
      let deferredChecked = checked.deferred.length === 0;
      let current: PlannedOp | undefined;
      let inDeferred = false;
      try {
        for (const o of plan) {
          if (!deferredChecked && o.phase !== 'ipset') {
            // The sets exist now: compile the tables whose rules match them.
            deferredChecked = true;
            inDeferred = true;
            for (const d of checked.deferred) {
              current = d;
              await checkTable(d, handles);
            }
            inDeferred = false;
          }
          current = o;
          started.push(o);
          await applyOne(o, handles);
          applied++;
        }
      } catch (e) {
        timings.applyMs = now() - t;
        t = now();
        const cause = e instanceof NlkitError ? e : new NlkitError(`transaction: ${(e as Error)?.message ?? String(e)}`, { op: 'transaction', cause: e });
        const r = await rollback(snap, started, handles, !inDeferred);
        timings.rollbackMs = now() - t;
        throw failure(current, cause, r.undone, r.errors);
      }
      timings.applyMs = now() - t;
      return applied;
    };

    t = now();
    let applied: number;
    // One at a time per namespace in this process; inside the xtables lock when iptables is touched.
    const exclusive = () => oneAtATime(opts.netns, body);
    if (plan.some((o) => o.subsystem === 'iptables')) {
      const first = plan.find((o) => o.subsystem === 'iptables')!;
      const lock = {
        ...(opts.wait !== undefined ? { wait: opts.wait } : {}), ...(opts.waitTimeout !== undefined ? { waitTimeout: opts.waitTimeout } : {}),
        ...(opts.waitInterval !== undefined ? { waitInterval: opts.waitInterval } : {}),
      };
      // Re-entrant: inside a withLock() of the caller's async context it is not taken again.
      applied = await handles.iptables(first.subsystem === 'iptables' ? first.family : 4).withLock(exclusive, lock);
    } else {
      applied = await exclusive();
    }
    timings.totalMs = now() - t0;
    return { plan, applied, dryRun: false, timings };
  } finally {
    await handles.close();
  }
}

function failure(o: PlannedOp | undefined, cause: NlkitError, undone: string[], undoErrors: NlkitError[]): TransactionError {
  if (o) blame(cause, o);
  const rolledBack = undoErrors.length === 0;
  const what = cause.message.replace(/^transaction: /, '');
  const tail = rolledBack
    ? `; rolled back${undone.length ? ` (${undone.join('; ')})` : ' (nothing had changed)'}`
    : `; ROLLBACK INCOMPLETE: ${undoErrors.map((e) => e.message).join('; ')}`;
  return new TransactionError(`transaction failed: ${what}${tail}`, {
    op: 'transaction', subsystem: o?.subsystem ?? cause.subsystem, code: cause.code, errno: cause.errno, cause,
    ...(o ? { failed: { op: o, error: cause } } : { failed: { error: cause } }),
    rolledBack, undone, undoErrors,
  });
}

async function applyOne(o: PlannedOp, h: TxHandles): Promise<void> {
  switch (o.subsystem) {
    case 'ipset': {
      const s = h.ipset();
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
      return;
    }
    case 'iptables':
      await h.iptables(o.family).restore(o.text, { table: o.table, noflush: o.noflush, counters: o.counters });
      return;
    case 'ipvs': {
      const v = h.ipvs();
      switch (o.op) {
        case 'ipvs.addService': return v.addService(o.service);
        case 'ipvs.updateService': return v.updateService(o.service);
        case 'ipvs.deleteService': return v.deleteService(o.service);
        case 'ipvs.addDestination': return v.addDestination(o.service, o.destination);
        case 'ipvs.updateDestination': return v.updateDestination(o.service, o.destination);
        case 'ipvs.deleteDestination': return v.deleteDestination(o.service, o.destination);
        case 'ipvs.flush': return v.flush();
        case 'ipvs.sync': await v.sync(o.services, o.options); return;
      }
    }
  }
}

/**
 * Runs the ipset, IPVS and iptables changes that `fn` queues as one unit: everything is checked
 * first, applied in dependency order, and on any failure what it touched is put back
 * (TransactionError). `transaction.plan(fn)` returns the operations without applying them.
 * @example
 * await transaction((tx) => {
 *   tx.ipset.create('allowed', 'hash:ip').add('allowed', ['10.0.0.1']);
 *   tx.ipvs.addService({ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr' });
 * }, { netns: 'node', waitTimeout: 5_000 });
 */
export const transaction: TransactionFn = Object.assign(run, {
  plan: async (fn: (tx: Tx) => void | Promise<void>, opts: TransactionOptions = {}): Promise<PlannedOp[]> => {
    checkTransaction(fn, opts);
    return (await run(fn, { ...opts, dryRun: true })).plan;
  },
});
