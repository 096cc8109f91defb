// Rule positions, as firewalld places its rules: add after / insert before a rule given by
// handle (`add rule ... handle H`, JSON "handle" on add/insert) or by index in the kernel's chain
// (`index N`, JSON "index"). In one namespace nft -f (or nft -j -f) applies the commands, in
// another nlkit's restore() (or apply()); `nft list` and `nft -j list` must be equal, whole.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, UnsupportedError, type NlkitError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');
const base = 'table inet firewalld {\n chain c {\n  accept\n  drop\n  return\n }\n chain d {\n  counter\n }\n}\n';

/** The handles nft gave the rules of chain c (in order). */
const handles = (ns: Netns, chain: string): number[] =>
  nftJson(ns).flatMap((o) => ('rule' in o && (o.rule as { chain: string }).chain === chain ? [(o.rule as { handle: number }).handle] : []));

describe('nft rule positions against nft -f', { skip }, () => {
  it('restore(): add/insert at a handle, then at an index, leave what nft -f leaves', () => withNetns(2, async (a, b) => {
    for (const ns of [a, b]) ns.run('nft', ['-f', '-'], base);
    const [h0, h1] = handles(a, 'c');
    assert.deepEqual(handles(b, 'c'), handles(a, 'c'));
    const steps = [
      `add rule inet firewalld c handle ${h0} counter comment "after the first"\ninsert rule inet firewalld c handle ${h1} log prefix "before the second"\n`,
      'add rule inet firewalld c index 1 meta l4proto tcp accept\ninsert rule inet firewalld d index 0 meta nfproto ipv4 drop\n',
      'insert rule inet firewalld c index 0 ct state established accept\n',
    ];
    for (const text of steps) {
      a.run('nft', ['-f', '-'], text);
      await withNft(b, (h) => h.restore(text));
      assert.equal(b.run('nft', ['list', 'ruleset']), a.run('nft', ['list', 'ruleset']));
      assert.deepEqual(nftJson(b), nftJson(a));
    }
  }));

  // (nft 1.0.6's JSON parser drops "handle" on add and appends the rule; nlkit takes it as the
  // position, as libnftables-json(5) and nft's text have it: not compared here.)
  it('apply(): JSON index on add/insert leaves what nft -j -f leaves', () => withNetns(2, async (a, b) => {
    for (const ns of [a, b]) ns.run('nft', ['-f', '-'], base);
    const rule = (verb: string, chain: string, pos: object, expr: unknown[]) => ({ [verb]: { rule: { family: 'inet', table: 'firewalld', chain, ...pos, expr } } });
    const batches = [
      [rule('add', 'c', { index: 0 }, [{ counter: null }]), rule('insert', 'd', { index: 0 }, [{ accept: null }])],
      [rule('add', 'c', { index: 2 }, [{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } }, { drop: null }])],
    ];
    const dir = mkdtempSync(join(tmpdir(), 'nlkit-nft-'));
    try {
      for (const cmds of batches) {
        const file = join(dir, 'pos.json');
        writeFileSync(file, JSON.stringify({ nftables: cmds }));
        a.run('nft', ['-j', '-f', file]);
        await withNft(b, (h) => h.apply(cmds));
        assert.equal(b.run('nft', ['list', 'ruleset']), a.run('nft', ['list', 'ruleset']));
        assert.deepEqual(nftJson(b), nftJson(a));
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
  }));

  // nft counts the rules the batch added, inserted, replaced or deleted before (NFTA_RULE_POSITION_ID
  // for a rule of the batch, NFTA_RULE_POSITION for the kernel's): positions.ts.
  it('an index in a chain the same batch changed counts the batch\'s rules, as nft -f and nft -j -f do', () => withNetns(2, async (a, b) => {
    for (const ns of [a, b]) ns.run('nft', ['-f', '-'], base);
    const [h0, h1, h2] = handles(a, 'c');
    assert.deepEqual(handles(b, 'c'), [h0, h1, h2]);
    const steps = [
      'add rule inet firewalld c counter\nadd rule inet firewalld c index 0 meta mark 1\ninsert rule inet firewalld c index 4 meta mark 2\nadd rule inet firewalld c index 5 meta mark 3\n',
      // (nft's cache does not follow deletes, replaces and flushes: index 1 is still the deleted rule's place.)
      `delete rule inet firewalld c handle ${h1}\nreplace rule inet firewalld c handle ${h2} meta mark 4\nadd rule inet firewalld c index 1 meta mark 5\ninsert rule inet firewalld d index 0 meta mark 6\nadd rule inet firewalld d index 0 meta mark 7\nadd rule inet firewalld d index 2 meta mark 8\n`,
      `replace rule inet firewalld c handle ${h2} meta mark 9\nadd rule inet firewalld c index 2 meta mark 10\nadd rule inet firewalld d meta mark 11\nflush chain inet firewalld d\nadd rule inet firewalld d index 0 meta mark 12\n`,
    ];
    for (const text of steps) {
      a.run('nft', ['-f', '-'], text);
      await withNft(b, (h) => h.restore(text));
      assert.equal(b.run('nft', ['list', 'ruleset']), a.run('nft', ['list', 'ruleset']));
      assert.deepEqual(nftJson(b), nftJson(a));
    }
    const rule = (verb: string, chain: string, pos: object, expr: unknown[]) => ({ [verb]: { rule: { family: 'inet', table: 'firewalld', chain, ...pos, expr } } });
    const cmds = [rule('add', 'd', {}, [{ drop: null }]), rule('insert', 'd', { index: 1 }, [{ accept: null }]), rule('add', 'd', { index: 1 }, [{ return: null }])];
    const dir = mkdtempSync(join(tmpdir(), 'nlkit-nft-'));
    try {
      writeFileSync(join(dir, 'pos.json'), JSON.stringify({ nftables: cmds }));
      a.run('nft', ['-j', '-f', join(dir, 'pos.json')]);
    } finally {
      rmSync(dir, { recursive: true });
    }
    await withNft(b, (h) => h.apply(cmds));
    assert.equal(b.run('nft', ['list', 'ruleset']), a.run('nft', ['list', 'ruleset']));
    assert.deepEqual(nftJson(b), nftJson(a));
  }));

  it('an index past the chain (counting the batch\'s rules) is NotFoundError; nothing applied', () => withNetns(1, async (ns) => {
    ns.run('nft', ['-f', '-'], base);
    const before = ns.run('nft', ['list', 'ruleset']);
    assert.notEqual(ns.try('nft', ['-f', '-'], 'add rule inet firewalld c index 7 accept\n').status, 0);
    assert.notEqual(ns.try('nft', ['-f', '-'], 'add rule inet firewalld c accept\nadd rule inet firewalld c index 4 accept\n').status, 0);
    await withNft(ns, async (h) => {
      const e1 = await h.restore('add table inet keep\nadd rule inet firewalld c index 7 accept\n').then(() => undefined, (x: NlkitError) => x);
      assert.ok(e1 instanceof NotFoundError, String(e1));
      assert.match(e1.message, /chain inet firewalld c has no rule at index 7/);
      const e2 = await h.restore('add rule inet firewalld c accept\nadd rule inet firewalld c index 4 drop\n').then(() => undefined, (x: NlkitError) => x);
      assert.ok(e2 instanceof NotFoundError, String(e2));
      assert.equal(e2.index, 1);
    });
    assert.equal(ns.run('nft', ['list', 'ruleset']), before);
  }));
});
