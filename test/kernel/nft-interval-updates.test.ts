// add element / delete element on interval sets after their declaration (issue #13 item 6),
// against nft 1.0.6 in throwaway namespaces: nft reads the set's ranges, refuses overlaps,
// deletes ranges by start and end, and in an auto-merge set deletes the ranges a new one
// overlaps or touches and adds the merged range; interval maps (single keys: the value on the
// start element, overlaps refused; concatenated keys: start and end key per element, overlaps
// left to the kernel, as nft leaves them) and concatenated sets likewise. Each step is applied by `nft` in one
// namespace and by nlkit's restore() (text) and apply() (JSON) in others; `nft list ruleset`
// and `nft -j list ruleset` are compared whole after every step.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExistsError, InvalidArgumentError, NotFoundError, type NlkitError } from '../../lib/core/errors.js';
import type { NftHandle } from '../../lib/nft/index.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');

const setup = `add table ip t
add set ip t s { type ipv4_addr ; flags interval ; elements = { 10.0.0.0/8, 192.168.1.0/24 } ; }
add set ip t m { type ipv4_addr ; flags interval ; auto-merge ; elements = { 10.0.0.0/8, 12.0.0.0/8 } ; }
add set ip t p { type inet_service ; flags interval ; auto-merge ; }
add chain ip t j
add map ip t im { type ipv4_addr : verdict ; flags interval ; elements = { 10.0.0.0/8 : accept, 192.168.1.0/24 : drop } ; }
add map ip t dm { type inet_service : mark ; flags interval ; elements = { 1000-2000 : 0x1 } ; }
add map ip t cm { type ipv4_addr . inet_service : verdict ; flags interval ; elements = { 10.0.0.0/8 . 80-90 : accept } ; }
add map ip t cd { typeof ip saddr . tcp dport : meta mark ; flags interval ; }
add set ip t cs { type ipv4_addr . inet_service ; flags interval ; elements = { 10.0.0.0/8 . 80-90 } ; }
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
  // Interval maps: the value on each interval's start, overlaps checked against the kernel's elements; a delete names the key.
  ['add element ip t im { 172.16.0.1 : drop, 11.0.0.0/8 : jump j }', [{ add: E('im', [['172.16.0.1', { drop: null }], [pfx('11.0.0.0', 8), { jump: { target: 'j' } }]]) }]],
  ['delete element ip t im { 10.0.0.0/8 }', [{ delete: E('im', [pfx('10.0.0.0', 8)]) }]],
  ['delete element ip t im { 192.168.1.0/24 : drop }\nadd element ip t im { 10.0.0.0/8 : accept, 255.0.0.0/8 : drop }', [{ delete: E('im', [[pfx('192.168.1.0', 24), { drop: null }]]) }, { add: E('im', [[pfx('10.0.0.0', 8), { accept: null }], [pfx('255.0.0.0', 8), { drop: null }]]) }]],
  ['add element ip t dm { 2001-3000 : 0x2, 80 : 0x3 }', [{ add: E('dm', [[{ range: [2001, 3000] }, 2], [80, 3]]) }]],
  ['delete element ip t dm { 1000-2000 }', [{ delete: E('dm', [{ range: [1000, 2000] }]) }]],
  // Concatenated interval maps and sets (pipapo): start and end key per element; the kernel checks overlaps.
  ['add element ip t cm { 10.0.0.0/8 . 91-100 : drop, 1.2.3.4 . 22 : jump j }', [{ add: E('cm', [[{ concat: [pfx('10.0.0.0', 8), { range: [91, 100] }] }, { drop: null }], [{ concat: ['1.2.3.4', 22] }, { jump: { target: 'j' } }]]) }]],
  ['delete element ip t cm { 10.0.0.0/8 . 80-90 }', [{ delete: E('cm', [{ concat: [pfx('10.0.0.0', 8), { range: [80, 90] }] }]) }]],
  ['add element ip t cd { 10.0.0.0/8 . 80-90 : 0x5, 192.168.0.1-192.168.0.9 . 22 : 0x6 }', [{ add: E('cd', [[{ concat: [pfx('10.0.0.0', 8), { range: [80, 90] }] }, 5], [{ concat: [{ range: ['192.168.0.1', '192.168.0.9'] }, 22] }, 6]]) }]],
  ['delete element ip t cs { 10.0.0.0/8 . 80-90 }\nadd element ip t cs { 10.0.0.0/8 . 80-100, 192.168.0.0/16 . 1-1023 }', [{ delete: E('cs', [{ concat: [pfx('10.0.0.0', 8), { range: [80, 90] }] }]) }, { add: E('cs', [{ concat: [pfx('10.0.0.0', 8), { range: [80, 100] }] }, { concat: [pfx('192.168.0.0', 16), { range: [1, 1023] }] }]) }]],
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

  it('interval maps: an overlap (nft: "interval overlaps"), a concatenated overlap (the kernel: EEXIST), part of an interval deleted and a key of the wrong length apply nothing', () => withNetns(2, async (a, b) => {
    for (const ns of [a, b]) ns.run('nft', ['-f', '-'], setup);
    const before = b.run('nft', ['list', 'ruleset']);
    const tries: Array<[string, unknown[], new (...x: never[]) => NlkitError, RegExp]> = [
      ['add element ip t im { 10.1.0.0/16 : drop }\n', [{ add: E('im', [[pfx('10.1.0.0', 16), { drop: null }]]) }], InvalidArgumentError, /conflicting intervals/],
      ['add element ip t cm { 10.0.0.0/8 . 85 : drop }\n', [{ add: E('cm', [[{ concat: [pfx('10.0.0.0', 8), 85] }, { drop: null }]]) }], ExistsError, /EEXIST/],
      // Part of an interval (nft: "element does not exist"), in a map and in an auto-merge set.
      ['delete element ip t im { 10.1.0.0/16 }\n', [{ delete: E('im', [pfx('10.1.0.0', 16)]) }], NotFoundError, /element does not exist/],
      ['delete element ip t m { 10.0.0.0/16 }\n', [{ delete: E('m', [pfx('10.0.0.0', 16)]) }], NotFoundError, /element does not exist/],
    ];
    for (const [text, json, cls, re] of tries) {
      assert.notEqual(a.try('nft', ['-f', '-'], text).status, 0, text);
      for (const run of [(h: NftHandle) => h.restore(text), (h: NftHandle) => h.apply(json)]) {
        const e = await withNft(b, (h) => run(h).then(() => undefined, (x: NlkitError) => x));
        assert.ok(e instanceof cls, `${text}: ${String(e)}`);
        assert.match(e.message, re);
        assert.equal(b.run('nft', ['list', 'ruleset']), before);
      }
    }
    const e = await withNft(b, (h) => h.apply([{ add: E('cm', [[{ concat: [pfx('10.0.0.0', 8)] }, { drop: null }]]) }]).then(() => undefined, (x: NlkitError) => x));
    assert.ok(e instanceof InvalidArgumentError, String(e));
    assert.match(e.message, /must be \{ concat: \[\.\.\.\] \} of 2 values/);
    assert.equal(b.run('nft', ['list', 'ruleset']), before);
  }));
});
