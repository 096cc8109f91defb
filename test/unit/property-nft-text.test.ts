// Property tests of nft's text (no kernel): rulesets built from the supported grammar print
// (lib/nft/print.ts) to text that parses (lib/nft/parse.ts) back into the same objects; mutated
// and random text gives commands or a typed NlkitError (with a line for syntax errors), never
// another exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { InvalidArgumentError, UnsupportedError } from '../../lib/core/errors.js';
import { encodeCommands } from '../../lib/nft/encode.js';
import { parseScript } from '../../lib/nft/parse.js';
import { streamScript } from '../../lib/nft/restore-stream.js';
import { printRuleset } from '../../lib/nft/print.js';
import type { ListObject } from '../../lib/nft/types.js';
import { garbage, mutated, params, typed } from '../helpers/fuzz.js';

const byte = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(fc.integer({ min: 1, max: 223 }), byte, byte, byte).map((p) => p.join('.'));
const port = fc.integer({ min: 1, max: 65535 });
const mark = fc.integer({ min: 0, max: 0xffffffff });
const name = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_/'.split('')), minLength: 1, maxLength: 20 }).filter((n) => /^[a-z]/.test(n));
const comment = fc.string({ unit: fc.constantFrom(...'abc xyz:/.-_0123'.split('')), maxLength: 30 });
const pl = (protocol: string, field: string) => ({ payload: { protocol, field } });

const match = fc.oneof(
  fc.tuple(fc.constantFrom('saddr', 'daddr'), fc.constantFrom('==', '!='), v4).map(([f, op, a]) => ({ match: { op, left: pl('ip', f), right: a } })),
  fc.tuple(fc.constantFrom('saddr', 'daddr'), v4, fc.integer({ min: 1, max: 32 })).map(([f, a, len]) => ({ match: { op: '==', left: pl('ip', f), right: { prefix: { addr: a, len } } } })),
  fc.tuple(fc.constantFrom('tcp', 'udp', 'th'), fc.constantFrom('sport', 'dport'), fc.constantFrom('==', '!=', '<', '>', '<=', '>='), port)
    .map(([p, f, op, v]) => ({ match: { op, left: pl(p, f), right: v } })),
  fc.tuple(fc.constantFrom('==', '!=', '<', '>='), mark).map(([op, v]) => ({ match: { op, left: { meta: { key: 'mark' } }, right: v } })),
  fc.tuple(mark, mark).map(([m, v]) => ({ match: { op: '==', left: { '&': [{ meta: { key: 'mark' } }, m] }, right: v } })),
  fc.subarray(['invalid', 'established', 'related', 'new'], { minLength: 1 }).map((s) => ({ match: { op: 'in', left: { ct: { key: 'state' } }, right: s.length === 1 ? s[0] : s } })),
  fc.constantFrom('iifname', 'oifname').chain((k) => name.map((n) => ({ match: { op: '==', left: { meta: { key: k } }, right: n } }))),
  fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 99 })).map(([m, v]) => ({ match: { op: '<', left: { numgen: { mode: 'random', mod: m, offset: 0 } }, right: v } })),
  fc.constant({ match: { op: '==', left: { fib: { result: 'type', flags: ['daddr'] } }, right: 'local' } }),
);
const final = fc.oneof(
  fc.constantFrom({ accept: null }, { drop: null }, { return: null }, { counter: { packets: 0, bytes: 0 } }, { masquerade: null }, { masquerade: { flags: 'fully-random' } }),
  name.map((target) => ({ jump: { target } })),
  fc.tuple(v4, fc.option(port, { nil: undefined })).map(([addr, p]) => ({ dnat: p === undefined ? { addr } : { addr, port: p } })),
  mark.map((value) => ({ mangle: { key: { meta: { key: 'mark' } }, value } })),
  mark.map((v) => ({ mangle: { key: { meta: { key: 'mark' } }, value: { '|': [{ meta: { key: 'mark' } }, v] } } })),
  fc.array(name, { minLength: 1, maxLength: 4 }).map((ts) => ({ vmap: { key: { numgen: { mode: 'random', mod: ts.length, offset: 0 } }, data: { set: ts.map((t, i) => [i, { goto: { target: t } }]) } } })),
);
const rule = fc.record({ expr: fc.tuple(fc.array(match, { maxLength: 4 }), final).map(([m, f]) => [...m, f]), comment: fc.option(comment, { nil: undefined }) });

const ruleset = fc.record({
  table: name, tcomment: fc.option(comment, { nil: undefined }),
  chains: fc.uniqueArray(fc.record({ name, comment: fc.option(comment, { nil: undefined }), rules: fc.array(rule, { maxLength: 4 }), base: fc.boolean(), prio: fc.integer({ min: -400, max: 400 }) }), { selector: (c) => c.name, maxLength: 4 }),
  elems: fc.uniqueArray(v4, { maxLength: 7 }),
}).map((r) => {
  const T = { family: 'ip', table: r.table };
  const objs: object[] = [{ table: { family: 'ip', name: r.table, handle: 1, ...(r.tcomment !== undefined ? { comment: r.tcomment } : {}) } }];
  if (r.elems.length) objs.push({ set: { ...T, name: 'addrs', type: 'ipv4_addr', handle: 2, elem: r.elems } });
  for (const c of r.chains) {
    objs.push({ chain: { ...T, name: c.name, handle: 3, ...(c.comment !== undefined ? { comment: c.comment } : {}), ...(c.base ? { type: 'filter', hook: 'input', prio: c.prio, policy: 'accept' } : {}) } });
  }
  for (const c of r.chains) {
    for (const x of c.rules) objs.push({ rule: { ...T, chain: c.name, handle: 4, ...(x.comment !== undefined ? { comment: x.comment } : {}), expr: x.expr } });
  }
  return objs as ListObject[];
});

/** The objects a parsed `table { }` block adds, as list() shows them (no handles; priorities as numbers). */
const STD: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };
function added(text: string): object[] {
  return parseScript(text).commands.map((c) => {
    const [[k, v]] = Object.entries(c.add!) as [[string, Record<string, unknown>]];
    if (typeof v.prio === 'string') {
      const [n, sign, off] = v.prio.split(' ');
      v.prio = STD[n!]! + (sign === '-' ? -Number(off) : sign === '+' ? Number(off) : 0);
    }
    return { [k]: v };
  });
}
const withoutHandles = (objs: ListObject[]): object[] => objs.map((o) => {
  const [[k, v]] = Object.entries(o) as [[string, Record<string, unknown>]];
  const { handle: _h, ...rest } = v;
  return { [k]: k === 'set' ? { family: rest.family, table: rest.table, name: rest.name, type: rest.type, elem: rest.elem } : rest };
});
const sortKey = (o: object) => JSON.stringify(o);

describe('nft text: printed rulesets parse back', () => {
  it('parse(print(ruleset)) adds exactly the printed objects', () => {
    fc.assert(fc.property(ruleset, (objs) => {
      const text = printRuleset(objs);
      const got = added(text).map(sortKey).sort();
      const want = withoutHandles(objs).map((o) => {
        const [[k, v]] = Object.entries(o) as [[string, Record<string, unknown>]];
        // nft sorts set elements; the printer keeps list()'s order, which is already sorted there.
        return sortKey({ [k]: k === 'table' ? { family: v.family, name: v.name, ...(v.comment !== undefined ? { comment: v.comment } : {}) } : v });
      }).sort();
      assert.deepEqual(got, want, text);
    }), params(200));
  });
});

describe('nft text: any input gives commands or a typed error', () => {
  const fixtures = ['basics', 'shapes', 'kube-proxy', 'compare'].map((n) => readFileSync(new URL(`../fixtures/nft/cases/${n}.nft`, import.meta.url), 'utf8'));
  it('mutated fixtures and printed rulesets', () => {
    fc.assert(fc.property(mutated(fc.oneof(fc.constantFrom(...fixtures), ruleset.map((o) => printRuleset(o)))), (text) => {
      const r = typed(() => parseScript(text), text, [InvalidArgumentError, UnsupportedError]);
      if (!r.ok && r.error instanceof InvalidArgumentError) assert.ok(typeof r.error.line === 'number' && /:\d+:\d+-\d+: Error: /.test(r.error.message), r.error.message);
    }), params(300));
  });
  it('garbage', () => {
    fc.assert(fc.property(garbage, (text) => { typed(() => parseScript(text), text, [InvalidArgumentError, UnsupportedError]); }), params(300));
  });
});

describe('nft text: restore()\'s one-pass encoding', () => {
  it('gives the batch of parse then encode, byte for byte, or leaves the text to that path', () => {
    let streamed = 0;
    fc.assert(fc.property(ruleset, (objs) => {
      const text = printRuleset(objs);
      const s = streamScript(text, '<text>', {});
      const p = parseScript(text);
      let want;
      try { want = encodeCommands(p.commands); } catch { want = undefined; }
      if (!s) return;
      streamed++;
      assert.ok(want, text);
      assert.equal(s.batch.buf.toString('hex'), want.buf.toString('hex'), text);
      assert.deepEqual(s.batch.commandOf, want.commandOf);
      assert.deepEqual(s.lines, p.lines);
    }), params(200));
    assert.ok(streamed > 0);
  });
});
