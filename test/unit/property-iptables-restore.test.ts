// Property tests of the iptables-restore reader (no kernel): well-formed texts built from the
// format's grammar read back to what they were built from; mutated and random texts give a
// structure or an InvalidArgumentError with the line, never another exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  MAX_LINE, parseCounterPair, parseRestore, planRestore, quoteArg, tokenize, type ParsedTable,
} from '../../lib/iptables/restore-text.js';
import { InvalidArgumentError } from '../../lib/core/errors.js';
import { garbage, mutated, params, typed } from '../helpers/fuzz.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/iptables/${name}`, import.meta.url)), 'utf8');
const FIXTURES = ['input-v4.restore', 'input-v6.restore', 'kube.restore', 'save-v4-counters.txt', 'kube-save.txt'].map(fixture);

// A word of a line: anything but the line's end or a NUL (refused: C would cut the line there).
// Unicode, quotes and backslashes included.
const argWord = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replace(/[\n\0]/g, ''));
// Names are single words (iptables-restore splits them with strtok on blanks).
const name = (max: number) => fc.string({ unit: 'binary', minLength: 1, maxLength: max })
  .map((s) => s.replace(/[ \t\n\0]/g, '_'));
const U64 = (1n << 64n) - 1n;
const counters = fc.option(fc.tuple(fc.bigInt({ min: 0n, max: U64 }), fc.bigInt({ min: 0n, max: U64 })), { nil: undefined });

interface Built {
  name: string;
  chains: { name: string; policy: string; counters?: [bigint, bigint] }[];
  commands: { args: string[]; counters?: [bigint, bigint] }[];
}

const command = fc.record({
  // The first word is a command, so that the line is neither a comment nor a chain line.
  args: fc.tuple(fc.constantFrom('-A', '-I', '-N', '-D', '-F', '-X', '-P', '-R', '-Z'), fc.array(argWord, { maxLength: 8 }))
    .map(([c, rest]) => [c, ...rest]),
  counters,
});

const table: fc.Arbitrary<Built> = fc.record({
  name: name(10).filter((n) => n[0] !== '#'),
  chains: fc.array(fc.record({ name: name(28), policy: name(8), counters }), { maxLength: 4 }),
  commands: fc.array(command, { maxLength: 6 }),
});

const pair = (c: [bigint, bigint] | undefined) => (c ? `[${c[0]}:${c[1]}]` : undefined);

function print(tables: Built[]): string {
  let out = '# generated\n';
  for (const t of tables) {
    out += `*${t.name}\n`;
    for (const c of t.chains) out += `:${c.name} ${c.policy}${c.counters ? ` ${pair(c.counters)}` : ''}\n`;
    for (const c of t.commands) out += `${c.counters ? `${pair(c.counters)} ` : ''}${c.args.map(quoteArg).join(' ')}\n`;
    out += 'COMMIT\n';
  }
  return out;
}

const strip = (ts: ParsedTable[]) => ts.map((t) => ({
  name: t.name,
  chains: t.chains.map((c) => ({ name: c.name, policy: c.policy, ...(c.counters ? { counters: c.counters } : {}) })),
  commands: t.commands.map((c) => ({ args: c.args, ...(c.counters ? { counters: c.counters } : {}) })),
}));

const lineCount = (text: string) => text.split('\n').length;

/** A parse outcome is a structure, or InvalidArgumentError naming a line of the text (or the one after it). */
function checkOutcome(text: string, opts: { table?: string } = {}) {
  const r = typed(() => parseRestore(text, opts), text, [InvalidArgumentError]);
  if (!r.ok) {
    const e = r.error as InvalidArgumentError;
    assert.ok(Number.isInteger(e.line) && e.line! >= 1 && e.line! <= lineCount(text) + 1, `line ${e.line} of ${lineCount(text)}`);
    assert.equal(e.subsystem, 'iptables');
    assert.equal(e.code, 'EINVAL');
  }
  return r;
}

describe('iptables-restore reader: properties', () => {
  it('tokenize reads back what quoteArg wrote, for any words', () => {
    fc.assert(fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 16 }), { maxLength: 10 }), (args) => {
      assert.deepEqual(tokenize(args.map(quoteArg).join(' ')).args, args);
    }), params(500));
  });

  it('tokenize never throws and its word starts lie inside the line', () => {
    fc.assert(fc.property(fc.oneof(garbage, fc.string({ unit: 'binary' })), (s) => {
      const t = tokenize(s);
      assert.equal(t.args.length, t.starts.length);
      for (const st of t.starts) assert.ok(st >= 0 && st <= s.length);
    }), params(500));
  });

  it('parseCounterPair reads back every 64-bit pair and nothing without brackets', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: U64 }), fc.bigInt({ min: 0n, max: U64 }), (p, b) => {
      assert.deepEqual(parseCounterPair(`[${p}:${b}]`), [p, b]);
      assert.equal(parseCounterPair(`${p}:${b}`), undefined);
    }), params(300));
  });

  it('a text built from the grammar parses back to what it was built from', () => {
    fc.assert(fc.property(fc.array(table, { maxLength: 4 }), (tables) => {
      const text = print(tables);
      assert.deepEqual(strip(parseRestore(text)), tables.map((t) => ({
        name: t.name,
        chains: t.chains.map((c) => ({ name: c.name, policy: c.policy, ...(c.counters ? { counters: c.counters } : {}) })),
        commands: t.commands.map((c) => ({ args: c.args, ...(c.counters ? { counters: c.counters } : {}) })),
      })));
    }), params(300));
  });

  it('the -T table filter keeps exactly the tables of that name', () => {
    fc.assert(fc.property(fc.array(table, { minLength: 1, maxLength: 4 }), fc.nat(), (tables, k) => {
      const text = print(tables);
      const want = tables[k % tables.length]!.name;
      assert.deepEqual(strip(parseRestore(text, { table: want })), strip(parseRestore(text)).filter((t) => t.name === want));
    }), params(200));
  });

  it('planRestore never throws; its bodies are slices of the text in order', () => {
    fc.assert(fc.property(fc.oneof(mutated(fc.constantFrom(...FIXTURES)), garbage), (text) => {
      const plan = typed(() => planRestore(text), text, []);
      assert.ok(plan.ok);
      let from = 0;
      for (const t of plan.value.tables) {
        const at = text.indexOf(t.body, from);
        assert.ok(at >= 0, `body of ${t.name} is not in the text`);
        from = at;
        assert.ok(t.line < t.firstLine && t.firstLine <= t.commitLine + 1);
      }
      if (plan.value.error) assert.ok(plan.value.error.line >= 1 && plan.value.error.line <= lineCount(text) + 1);
    }), params(400));
  });

  it('mutated real texts give a structure or InvalidArgumentError with the line', () => {
    fc.assert(fc.property(mutated(fc.constantFrom(...FIXTURES)), fc.option(fc.constantFrom('filter', 'nat', 'raw', 'mangle'), { nil: undefined }), (text, t) => {
      checkOutcome(text, t === undefined ? {} : { table: t });
    }), params(400));
  });

  it('mutated generated texts and random text give a structure or InvalidArgumentError with the line', () => {
    fc.assert(fc.property(fc.oneof(mutated(fc.array(table, { maxLength: 3 }).map(print)), garbage), (text) => {
      checkOutcome(text);
    }), params(400));
  });

  it('a line longer than iptables-restore reads is refused at that line', () => {
    fc.assert(fc.property(fc.integer({ min: MAX_LINE, max: MAX_LINE + 50 }), fc.integer({ min: 1, max: 3 }), (len, where) => {
      const lines = ['*filter', '-A X -j ACCEPT', 'COMMIT'];
      lines.splice(where - 1, 0, `-A X ${'a'.repeat(len)}`);
      const r = checkOutcome(`${lines.join('\n')}\n`);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal((r.error as InvalidArgumentError).line, where);
    }), params(30));
  });
});
