// Element timeouts against the real kernel, in throwaway namespaces: what nft -f, nlkit's apply()
// and nlkit's restore() leave for the same elements (timeout, expires, comment, counter) must list
// the same in `nft list ruleset` and `nft -j list ruleset`, and save()/list() of nft's ruleset must
// equal nft's own output. The kernel counts expiry down between two listings, so `expires` is the
// one field compared loosely (it must be there, and no later than the time given); the rest whole.
// (Elements without timeouts are in the fixture case test/fixtures/nft/cases/elements, compared whole.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');
const fixture = new URL('../fixtures/nft/timeouts/', import.meta.url);
const text = readFileSync(new URL('timeouts.nft', fixture), 'utf8');
const json = JSON.parse(readFileSync(new URL('timeouts.json', fixture), 'utf8'));

/** `expires 19s564ms` -> `expires <n>` (all six elements with a timeout have one). */
function maskText(s: string): string {
  const re = / expires (?:\d+(?:ms|d|h|m|s))+(?=[ ,\n])/g;
  assert.equal(s.match(re)?.length, 6, s);
  return s.replace(re, ' expires <n>');
}

/** nft -j's objects without the elements' expires (checked to be there and at most `most` s). */
function maskJson(objs: object[], most: number): object[] {
  let seen = 0;
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (!v || typeof v !== 'object') return v;
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === 'expires') {
        assert.ok(typeof x === 'number' && x >= 0 && x <= most, `expires ${String(x)}`);
        seen++;
        continue;
      }
      o[k] = strip(x);
    }
    return o;
  };
  const out = objs.map(strip) as object[];
  assert.ok(seen >= 5, `expires seen ${seen} times`);
  return out;
}

describe('nft element timeouts, expires, comments and counters against the kernel', { skip }, () => {
  it('apply() and restore() leave what nft -f leaves; save() and list() of it are nft list and nft -j list', () => withNetns(3, async (a, b, c) => {
    a.run('nft', ['-f', fileURLToPath(new URL('timeouts.nft', fixture))]);
    await withNft(b, (h) => h.apply(json));
    await withNft(c, (h) => h.restore(text));
    const want = maskText(a.run('nft', ['list', 'ruleset']));
    assert.match(want, /10\.0\.0\.4 \. 80 counter packets 3 bytes 100 timeout 2m30s500ms expires <n> comment "x"/);
    assert.equal(maskText(b.run('nft', ['list', 'ruleset'])), want);
    assert.equal(maskText(c.run('nft', ['list', 'ruleset'])), want);
    const wantJson = maskJson(nftJson(a), 3600);
    assert.deepEqual(maskJson(nftJson(b), 3600), wantJson);
    assert.deepEqual(maskJson(nftJson(c), 3600), wantJson);
    await withNft(a, async (h) => {
      assert.equal(maskText(await h.save()), want);
      assert.deepEqual(maskJson(await h.list(), 3600), wantJson);
      // What save() printed restores to the same ruleset again.
      const saved = await h.save();
      await withNetns(1, async (d) => {
        await withNft(d, (hd) => hd.restore(saved));
        assert.equal(maskText(d.run('nft', ['list', 'ruleset'])), want);
      });
    });
  }));
});
