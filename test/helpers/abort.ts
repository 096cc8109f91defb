// The AbortedError every aborted long operation rejects with, checked whole.
import assert from 'node:assert/strict';
import { AbortedError } from '../../lib/index.js';

/** The reason the tests abort with (the error's `cause` must be it). */
export const REASON = new Error('stop now');

/** Asserts that `p` rejects with an AbortedError of `op` ('AbortError', 'ABORT_ERR', cause REASON) that applied `applied`. */
export async function rejectsAborted(p: Promise<unknown>, op: string, applied = 0): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AbortedError, `${op}: ${String(e)}`);
    assert.equal(e.name, 'AbortError');
    assert.equal(e.code, 'ABORT_ERR');
    assert.equal(e.op, op);
    assert.equal(e.applied, applied);
    assert.equal(e.cause, REASON);
    return true;
  });
}
