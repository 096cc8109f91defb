// keptFrom (lib/iptables/nft/partial.ts): the rules a partial commit keeps must be a longest
// common subsequence of the chain's old and new rules (fewest deletes and inserts), in order;
// touchedChains: the chains whose rules it reads and compares at all.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keptFrom, touchedChains } from '../../lib/iptables/nft/partial.js';

function lcs(a: string[], b: string[]): number {
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) dp[i]![j] = a[i - 1] === b[j - 1] ? dp[i - 1]![j - 1]! + 1 : Math.max(dp[i - 1]![j]!, dp[i]![j - 1]!);
  }
  return dp[a.length]![b.length]!;
}

describe('keptFrom', () => {
  it('keeps a longest common subsequence, in order, on 5000 random pairs', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let t = 0; t < 5000; t++) {
      const gen = () => Array.from({ length: rnd(12) }, () => 'abcd'[rnd(4)]!);
      const a = gen(), b = gen();
      const k = keptFrom(a, b, 1000)!;
      assert.equal(k.length, b.length);
      let last = -1, kept = 0;
      k.forEach((i, j) => {
        if (i < 0) return;
        assert.ok(i > last, `${a.join('')} -> ${b.join('')}: kept out of order`);
        assert.equal(a[i], b[j]);
        last = i;
        kept++;
      });
      assert.equal(kept, lcs(a, b), `${a.join('')} -> ${b.join('')}: not a longest common subsequence`);
    }
  });

  it('one rule changed in a 20000-rule chain keeps the other 19999; gives up past max edits', () => {
    const a = Array.from({ length: 20000 }, (_, i) => `r${i}`);
    const b = [...a];
    b[12345] = 'changed';
    const k = keptFrom(a, b, 10)!;
    assert.equal(k.filter((i) => i >= 0).length, 19999);
    assert.equal(k[12345], -1);
    assert.equal(keptFrom(a, [...a].reverse(), 10), undefined);
  });
});

describe('touchedChains', () => {
  it('names the chains a noflush body can change; none when a command touches every chain', () => {
    assert.deepEqual(touchedChains(':X - [0:0]\n[1:2] -A Y -j X\n-E OLD NEW\n-D Z 1\n'), new Set(['X', 'Y', 'OLD', 'NEW', 'Z']));
    assert.equal(touchedChains('-A Y -j ACCEPT\n-F\n'), undefined);
    assert.equal(touchedChains('-Z -t nat\n'), undefined);
    assert.equal(touchedChains('-X\n'), undefined);
  });
});
