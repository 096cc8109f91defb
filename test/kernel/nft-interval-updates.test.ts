// add element / delete element on interval sets after their declaration (issue #13 item 6),
// against nft 1.0.6 in throwaway namespaces: nft reads the set's ranges, refuses overlaps,
// deletes ranges by start and end, and in an auto-merge set deletes the ranges a new one
// overlaps or touches and adds the merged range. Each step is applied by `nft` in one
// namespace and by nlkit's restore() (text) and apply() (JSON) in others; `nft list ruleset`
// and `nft -j list ruleset` are compared whole after every step.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, type NlkitError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');

const setup = `add table ip t
add set ip t s { type ipv4_addr ; flags interval ; elements = { 10.0.0.0/8, 192.168.1.0/24 } ; }
add set ip t m { type ipv4_addr ; flags interval ; auto-merge ; elements = { 10.0.0.0/8, 12.0.0.0/8 } ; }
add set ip t p { type inet_service ; flags interval ; auto-merge ; }
`;
const E = (name: string, elem: unknown[]) => ({ element: { family: 'ip', table: 't', name, elem } });
const pfx = (addr: string, len: number) => ({ prefix: { addr, len } });
/** Each step as nft's text and as JSON. */
const steps: Array<[string, unknown[]]> = [
  ['add element ip t s { 172.16.0.1, 192.168.2.0/24 }', [{ add: E('s', ['172.16.0.1', pfx('192.168.2.0', 24)]) }]],
  ['delete element ip t s { 10.0.0.0/8 }', [{ delete: E('s', [pfx('10.0.0.0', 8)]) }]],
  ['add element ip t s { 10.1.0.0/16 }', [{ add: E('s', [pfx('10.1.0.0', 16)]) }]],
  ['add element ip t m { 11.0.0.0/8 }', [{ add: E('m', [pfx('11.0.0.0', 8)]) }]],
  ['add element ip t m { 20.0.0.1-20.0.0.9, 20.0.0.5-20.0.0.20 }', [{ add: E('m', [{ range: ['20.0.0.1', '20.0.0.9'] }, { range: ['20.0.0.5', '20.0.0.20'] }]) }]],
  ['add element ip t p { 1000-2000 }\nadd element ip t p { 1500-3000, 80 }', [{ add: E('p', [{ range: [1000, 2000] }]) }, { add: E('p', [{ range: [1500, 3000] }, 80]) }]],
  ['delete element ip t p { 80 }', [{ delete: E('p', [80]) }]],
];

describe('nft interval sets: add and delete elements after the declaration', { skip }, () => {
  it('each step leaves what nft leaves (nft list and nft -j list, whole), text and JSON', () => withNetns(3, async (a, b, c) => {
    for (const ns of [a, b, c]) ns.run('nft', ['-f', '-'], setup);
    for (const [text, json] of steps) {
      a.run('nft', ['-f', '-'], `${text}\n`);
      await withNft(b, (h) => h.restore(`${text}\n`));
      await withNft(c, (h) => h.apply(json));
      const want = a.run('nft', ['list', 'ruleset']);
      for (const ns of [b, c]) {
        assert.equal(ns.run('nft', ['list', 'ruleset']), want, text);
        assert.deepEqual(nftJson(ns), nftJson(a), text);
      }
    }
    assert.match(a.run('nft', ['list', 'ruleset']), /10\.0\.0\.0-12\.255\.255\.255/);
  }));

  it('a declaration and later additions in one batch; an overlap is refused like nft and applies nothing', () => withNetns(2, async (a, b) => {
    const text = `${setup}add element ip t s { 172.16.0.0/12 }\nadd element ip t m { 13.0.0.0/8 }\n`;
    a.run('nft', ['-f', '-'], text);
    await withNft(b, (h) => h.restore(text));
    assert.equal(b.run('nft', ['list', 'ruleset']), a.run('nft', ['list', 'ruleset']));
    const before = b.run('nft', ['list', 'ruleset']);
    const bad = 'add element ip t s { 10.2.0.0/16 }\n';
    assert.notEqual(a.try('nft', ['-f', '-'], bad).status, 0);
    await withNft(b, async (h) => {
      const e = await h.restore(bad).then(() => undefined, (x: NlkitError) => x);
      assert.ok(e instanceof InvalidArgumentError, String(e));
      assert.match(e.message, /conflicting intervals/);
    });
    assert.equal(b.run('nft', ['list', 'ruleset']), before);
  }));
});
