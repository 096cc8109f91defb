// Checks on what an onProgress callback saw (test/kernel/progress.test.ts, ipvs-progress.test.ts).
import assert from 'node:assert/strict';
import type { Progress } from '../../lib/index.js';

/** Checks a call's reports: increasing, intermediates below total, one final report last. */
export function checkReports(seen: Progress[], total: number, final: number, what: string): void {
  assert.ok(seen.length >= 1, `${what}: no report`);
  for (const p of seen) assert.equal(p.total, total, `${what}: total`);
  const last = seen[seen.length - 1]!;
  assert.equal(last.done, final, `${what}: final done`);
  const mid = seen.slice(0, -1);
  for (let i = 0; i < mid.length; i++) {
    assert.ok(mid[i]!.done < total, `${what}: intermediate ${mid[i]!.done} must be below ${total}`);
    if (i > 0) assert.ok(mid[i]!.done > mid[i - 1]!.done, `${what}: intermediates must increase`);
  }
  assert.equal(seen.filter((p) => p.done === total).length, final === total ? 1 : 0, `${what}: done === total once, at the end`);
}

