// The check every rolled-back transaction test makes on the error (the kernel-side check, the
// tools' whole dump before and after, stays in each test).
import assert from 'node:assert/strict';
import { TransactionError } from '../../lib/index.js';

/**
 * Asserts that `run` rejects with a TransactionError that says it rolled back; `check` then
 * looks at the rest of the error (failed op, undone steps, …).
 * @example
 * await rejectsRolledBack(transaction((tx) => { tx.ipset.del('s', '10.0.0.99'); }, { netns }), (e) => {
 *   assert.equal(e.failed?.op?.op, 'ipset.del');
 * });
 */
export async function rejectsRolledBack(run: Promise<unknown>, check: (e: TransactionError) => void = () => undefined): Promise<void> {
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof TransactionError, String(e));
    assert.equal(e.rolledBack, true, e.message);
    check(e);
    return true;
  });
}

/**
 * The whole rollback check: `run` (a transaction) rejects rolled back (see rejectsRolledBack)
 * and `dump` (the system tools' whole view of the namespace) reads the same after as before.
 * @example
 * await assertUndone(() => dump(ns), () => transaction((tx) => { tx.ipset.del('s', '10.0.0.99'); }, { netns: ns.path }));
 */
export async function assertUndone(dump: () => string, run: () => Promise<unknown>, check?: (e: TransactionError) => void): Promise<void> {
  const before = dump();
  await rejectsRolledBack(run(), check);
  assert.equal(dump(), before);
}
