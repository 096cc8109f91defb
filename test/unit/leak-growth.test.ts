// The leak tests' measure (test/helpers/leak.ts): a steady leak counts, malloc settling does not.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leakGrowth, LIMIT } from '../helpers/leak.js';

const MB = 1024 * 1024;
const rounds = (...v: number[]) => v.map((x) => x * MB);

describe('leakGrowth', () => {
  it('counts memory that grows every round', () => {
    assert.equal(leakGrowth(rounds(10, 12, 14, 16, 18, 20, 22)), 2 * MB);
    // 2.5 MB a round is a leak the limit catches.
    assert.ok(leakGrowth(rounds(60, 62.5, 65, 67.5, 70, 72.5, 75)) >= LIMIT);
    // Uneven growth still counts: the median round's.
    assert.ok(leakGrowth(rounds(60, 61, 64, 66, 70, 72, 75)) >= LIMIT);
  });
  it('does not count malloc settling in the first rounds, or a one-time step anywhere', () => {
    // Loops that failed counted first to last (12.7 and 10.8 MB), with three flat rounds added.
    assert.ok(leakGrowth(rounds(59.2, 71.8, 72.1, 71.8, 71.9, 71.9, 72.0)) < 0.5 * MB);
    assert.ok(leakGrowth(rounds(59.7, 64.4, 69.4, 69.9, 70.5, 70.5, 70.6)) < LIMIT);
    const flat = [59.2, 59.3, 59.1, 59.2, 59.3, 59.2, 59.3];
    for (let at = 1; at < flat.length; at++) {
      const v = rounds(...flat.map((x, i) => (i >= at ? x + 12.6 : x)));
      assert.ok(leakGrowth(v) < 0.5 * MB, `step at round ${at + 1}: ${leakGrowth(v) / MB} MB`);
    }
  });
  it('is 0 for fewer than two rounds', () => {
    assert.equal(leakGrowth([]), 0);
    assert.equal(leakGrowth([5]), 0);
  });
});
