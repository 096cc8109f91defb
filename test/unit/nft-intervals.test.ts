// lib/nft/intervals.ts and payload-merge.ts without a kernel: the element layouts and listings
// nft 1.0.6 gave for the same inputs (see test/fixtures/nft/intervals.* and payload.*, captured
// from nft), reduced to the cases that decide the layout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TYPES } from '../../lib/nft/datatypes.js';
import { intervalChange, intervalElements, intervalOf, intervalRanges, intervalValues } from '../../lib/nft/intervals.js';
import { mergePlan, splitFields, type MergeCandidate } from '../../lib/nft/payload-merge.js';

const port = TYPES.inet_service;
const hex = (els: Array<{ key: Buffer; end: boolean; open?: boolean }>) => els.map((e) => `${e.key.toString('hex')}${e.end ? 'E' : ''}${e.open ? 'O' : ''}`);

describe('nft interval elements', () => {
  it('later add/delete element: overlaps refused, deletes by start and end, auto-merge deletes what it merges (the shape of what nft sent for 11.0.0.0/8 into an auto-merge set holding 10.0.0.0/8, seen with strace)', () => {
    const r = (a: number, b: number): [Buffer, Buffer] => [TYPES.inet_service.parse(a)!, TYPES.inet_service.parse(b)!];
    const keys = (l: Array<{ key: Buffer; end: boolean }>) => l.map((e) => `${e.key.readUInt16BE(0)}${e.end ? 'e' : ''}`);
    const existing = [r(10, 19)];
    assert.deepEqual(keys(intervalChange('add', [r(30, 39)], existing, false, 'e').add), ['30', '40e']);
    assert.throws(() => intervalChange('add', [r(15, 25)], existing, false, 'e'), /conflicting intervals/);
    const merged = intervalChange('add', [r(20, 29)], existing, true, 'e');
    assert.deepEqual([keys(merged.del), keys(merged.add)], [['10', '20e', '30', '40e'], ['10', '40e']]);
    assert.deepEqual(existing.map(([a, b]) => [a.readUInt16BE(0), b.readUInt16BE(0)]), [[10, 39]]);
    assert.deepEqual(intervalChange('add', [r(12, 13)], existing, true, 'e'), { del: [], add: [] });
    assert.deepEqual(keys(intervalChange('delete', [r(10, 39)], existing, false, 'e').del), ['10', '40e']);
    assert.deepEqual(existing, []);
    assert.deepEqual(intervalRanges([{ key: Buffer.from([0, 0]), end: true }, { key: Buffer.from([0, 22]), end: false }, { key: Buffer.from([0, 23]), end: true }]), [[Buffer.from([0, 22]), Buffer.from([0, 22])]]);
  });

  it('values, ranges and an open range of a named set: every interval closed by its own END, a leading END at 0', () => {
    // nft -f of `elements = { 1000-2000, 22, 23, 65000-65535 }` sent these keys (intervals.batch.hex).
    const els = intervalElements([[1000, 2000], [22, 22], [23, 23], [65000, 65535]].map(([a, b]) => intervalOf({ range: [a, b] }, port, 'e')), 'e');
    assert.deepEqual(hex(els), ['0000E', '0016', '0017E', '0017', '0018E', '03e8', '07d1E', 'fde8O']);
  });
  it('an anonymous set merges adjacent intervals (nft lists { 22, 80-90, 91, 100-200 } as { 22, 80-91, 100-200 })', () => {
    const ranges = [22, [80, 90], 91, [100, 200]].map((v) => intervalOf(Array.isArray(v) ? { range: v } : v, port, 'e'));
    const els = intervalElements(ranges, 'e', true);
    assert.deepEqual(intervalValues(els, port), [22, { range: [80, 91] }, { range: [100, 200] }]);
  });
  it('a set starting at 0 has no leading END; overlaps are refused', () => {
    assert.deepEqual(hex(intervalElements([intervalOf({ range: [0, 10] }, port, 'e')], 'e')), ['0000', '000bE']);
    assert.throws(() => intervalElements([intervalOf({ range: [1, 10] }, port, 'e'), intervalOf(5, port, 'e')], 'e'), /conflicting intervals/);
  });
  it('addresses list as prefixes when aligned, as ranges otherwise', () => {
    const v4 = TYPES.ipv4_addr, v6 = TYPES.ipv6_addr;
    const els = intervalElements([{ prefix: { addr: '10.0.0.0', len: 8 } }, '192.168.1.1', { range: ['172.16.0.1', '172.16.0.9'] }].map((v) => intervalOf(v, v4, 'e')), 'e');
    assert.deepEqual(intervalValues(els, v4), [{ prefix: { addr: '10.0.0.0', len: 8 } }, { range: ['172.16.0.1', '172.16.0.9'] }, '192.168.1.1']);
    const six = intervalElements([{ prefix: { addr: 'ff00::', len: 8 } }, '::1'].map((v) => intervalOf(v, v6, 'e')), 'e');
    assert.deepEqual(intervalValues(six, v6), ['::1', { prefix: { addr: 'ff00::', len: 8 } }]);
    assert.throws(() => intervalOf({ prefix: { addr: '10.0.0.0', len: 33 } }, v4, 'e'), /from 0 to 32/);
    assert.throws(() => intervalOf({ prefix: { addr: '10.0.0.0', len: 8 } }, port, 'e'), /needs an address key/);
  });
});

describe('nft payload merges', () => {
  const c = (offset: number, len: number, op = '==', base = 2, protocolKey = false): MergeCandidate => ({ base, offset, len, op, protocolKey });
  it('merges adjacent == matches up to 4 bytes past the link layer; 4 + 4 stays apart (nft: tcp sequence, ackseq)', () => {
    const plan = mergePlan([c(0, 2), c(2, 2)], (s) => s, () => false);
    assert.deepEqual(plan, [{ kind: 'merged', base: 2, offset: 0, len: 4, op: '==', members: [0, 1] }, { kind: 'absorbed' }]);
    assert.deepEqual(mergePlan([c(4, 4), c(8, 4)], (s) => s, () => false), [{ kind: 'keep' }, { kind: 'keep' }]);
    // Link layer: ether saddr + type (6 + 2) merge.
    assert.equal(mergePlan([c(6, 6, '==', 0), c(12, 2, '==', 0)], (s) => s, () => false)[0]!.kind, 'merged');
  });
  it('the merged match takes the place of the lower field, or of a protocol key (nft: ip protocol tcp meta mark 1 ip ttl 3)', () => {
    const stmts = [c(9, 1, '==', 1, true), undefined, c(8, 1, '==', 1)];
    const plan = mergePlan(stmts, (s) => s, () => false);
    assert.equal(plan[0]!.kind, 'merged');
    assert.equal(plan[2]!.kind, 'absorbed');
  });
  it('!= merges with != only; a non-expression statement ends a run only after two were collected', () => {
    assert.deepEqual(mergePlan([c(0, 2, '!='), c(2, 2)], (s) => s, () => false).map((p) => p.kind), ['keep', 'keep']);
    const brk = Symbol('counter');
    const stmts: Array<MergeCandidate | symbol> = [c(0, 2), brk, c(2, 2)];
    assert.deepEqual(mergePlan(stmts, (s) => (typeof s === 'symbol' ? undefined : s), (s) => s === brk).map((p) => p.kind), ['merged', 'keep', 'absorbed']);
  });
  it('splits a merged load into whole fields only', () => {
    assert.deepEqual(splitFields([['sport', 0, 2], ['dport', 2, 2]], 0, 4), ['sport', 'dport']);
    assert.equal(splitFields([['sport', 0, 2], ['dport', 2, 2]], 1, 2), undefined);
  });
});
