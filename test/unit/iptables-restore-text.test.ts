// The restore-format reader (no kernel): structure, iptables-restore's tokenizer, and real
// output captured from iptables-legacy-save (test/fixtures/iptables/capture.sh).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  columnOfByte, lineAt, parseCounterPair, parseRestore, planRestore, quoteArg, tokenize,
} from '../../lib/iptables/restore-text.js';
import { InvalidArgumentError } from '../../lib/core/errors.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/iptables/${name}`, import.meta.url)), 'utf8');

describe('iptables-restore tokenizer', () => {
  const cases: [string, string[]][] = [
    ['-A INPUT -j ACCEPT', ['-A', 'INPUT', '-j', 'ACCEPT']],
    ['  -A\tINPUT   -j  ACCEPT  ', ['-A', 'INPUT', '-j', 'ACCEPT']],
    ['-m comment --comment "two words"', ['-m', 'comment', '--comment', 'two words']],
    ['--comment "say \\"hi\\""', ['--comment', 'say "hi"']],
    ['--comment "back\\\\slash"', ['--comment', 'back\\slash']],
    ['--comment back\\slash', ['--comment', 'back\\slash']], // no escapes outside quotes
    ['"ab"cd', ['ab', 'cd']],                                  // a closing quote ends the word
    ['ab"cd ef"gh', ['abcd ef', 'gh']],
    ['--comment ""', ['--comment', '']],
    ['--comment "" -j X', ['--comment', '', '-j', 'X']],
    ['', []],
  ];
  for (const [line, want] of cases) {
    it(`splits ${JSON.stringify(line)}`, () => assert.deepEqual(tokenize(line).args, want));
  }

  it('keeps the newline inside an unterminated quote, as fgets hands it over', () => {
    assert.deepEqual(tokenize('--comment "open').args, ['--comment', 'open\n']);
    assert.deepEqual(tokenize('--comment "open', false).args, ['--comment', 'open']);
  });

  it('reports where each word starts', () => {
    const t = tokenize('-A  X "a b" c');
    assert.deepEqual(t.starts, [0, 4, 6, 12]);
  });

  it('quoteArg round-trips through the tokenizer', () => {
    const args = ['plain', 'two words', 'quote"d', 'back\\slash', '', 'tab\there', '"', 'ünïcödé'];
    assert.deepEqual(tokenize(args.map(quoteArg).join(' ')).args, args);
  });
});

describe('restore text structure', () => {
  it('finds tables, their bodies and COMMIT lines', () => {
    const text = '# c\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n\n*nat extra words\n-A X\nCOMMIT\n';
    const plan = planRestore(text);
    assert.equal(plan.error, undefined);
    assert.deepEqual(plan.tables.map((t) => [t.name, t.line, t.firstLine, t.commitLine]), [['filter', 2, 3, 5], ['nat', 7, 8, 9]]);
    assert.equal(plan.tables[0]!.body, ':INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n');
    assert.equal(plan.tables[1]!.body, '-A X\n');
  });

  it('counts each body\'s chain lines, and its lines are commitLine - firstLine', () => {
    const text = '*filter\n:INPUT ACCEPT [0:0]\n# :not a chain\n\n:A - [0:0]\n-A A -j ACCEPT\n:B - [0:0]\nCOMMIT\n*nat\n-A X\nCOMMIT\n*raw\n:C - [0:0]\n';
    const plan = planRestore(text);
    assert.deepEqual(plan.tables.map((t) => t.chains), [3, 0, 1]);
    for (const t of plan.tables) {
      const lines = t.body === '' ? 0 : t.body.split('\n').length - (t.body.endsWith('\n') ? 1 : 0);
      assert.equal(t.commitLine - t.firstLine, lines, t.name);
    }
  });

  it('COMMIT must be exactly "COMMIT" with its newline', () => {
    for (const bad of ['COMMIT ', 'COMMIT\r', ' COMMIT']) {
      const plan = planRestore(`*filter\n${bad}\n`);
      assert.equal(plan.error?.message, 'COMMIT expected');
      assert.equal(plan.error?.line, 3);
      assert.equal(plan.tables[0]!.body, `${bad}\n`); // the native side reads it as a command
    }
    const last = planRestore('*filter\nCOMMIT');
    assert.equal(last.error?.line, 3);
  });

  it('reports lines outside any table and a nameless table', () => {
    assert.deepEqual(planRestore('-A INPUT -j ACCEPT\n').error, { line: 1, message: 'not inside a table (a "*table" line must come first)' });
    assert.equal(planRestore('*filter\nCOMMIT\n:X - [0:0]\n').error?.line, 3);
    assert.deepEqual(planRestore('*\n').error, { line: 1, message: 'table name invalid' });
  });

  it('keeps what comes before a structural error for checking', () => {
    const plan = planRestore('*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A X\n');
    assert.equal(plan.error?.line, 6);
    assert.deepEqual(plan.tables.map((t) => [t.name, t.body]), [['filter', '-A INPUT -j ACCEPT\n'], ['nat', '-A X\n']]);
  });

  it('-T skips other tables without reading them', () => {
    const text = '*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n';
    assert.deepEqual(planRestore(text, { table: 'nat' }).tables.map((t) => t.name), ['nat']);
    assert.deepEqual(planRestore(text, { table: 'raw' }).tables, []);
  });

  it('refuses lines longer than iptables-restore reads', () => {
    const plan = planRestore(`*filter\n-A INPUT -m comment --comment ${'x'.repeat(10300)}\nCOMMIT\n`);
    assert.equal(plan.error?.line, 2);
  });

  it('parses counters as sscanf("[%llu:%llu]") does', () => {
    assert.deepEqual(parseCounterPair('[1:2]'), [1n, 2n]);
    assert.deepEqual(parseCounterPair('[18446744073709551615:0]'), [18446744073709551615n, 0n]);
    assert.equal(parseCounterPair('[1]'), undefined);
    assert.equal(parseCounterPair(undefined), undefined);
  });

  it('maps byte offsets to columns in UTF-8 lines', () => {
    const line = '-A X -m comment --comment "héllo" -j NOPE';
    const byte = Buffer.byteLength(line.slice(0, line.indexOf('-j')));
    assert.equal(columnOfByte(line, byte), line.indexOf('-j') + 1);
    assert.equal(lineAt('a\nb\nc', 2), 'b');
    assert.equal(lineAt('a\nb\nc', 3), 'c');
  });
});

describe('captured iptables-legacy-save output', () => {
  for (const [file, family] of [['save-v4.txt', 4], ['save-v4-counters.txt', 4], ['save-v6.txt', 6], ['save-v6-counters.txt', 6], ['kube-save.txt', 4]] as const) {
    it(`reads ${file}`, () => {
      const text = fixture(file);
      const tables = parseRestore(text);
      const lines = text.split('\n');
      assert.equal(tables.length, lines.filter((l) => l.startsWith('*')).length);
      assert.equal(tables.reduce((n, t) => n + t.chains.length, 0), lines.filter((l) => l.startsWith(':')).length);
      const commands = tables.flatMap((t) => t.commands);
      assert.equal(commands.length, lines.filter((l) => /^(\[\d+:\d+\] )?-A /.test(l)).length);
      for (const c of commands) {
        assert.equal(c.args[0], '-A');
        assert.equal(lines[c.line - 1]!.slice(c.columns[0]! - 1).startsWith('-A'), true);
      }
      if (file.includes('counters')) assert.ok(commands.every((c) => c.counters !== undefined));
      if (family === 6) assert.ok(commands.some((c) => c.args.some((a) => /^[0-9a-f:]+::?[0-9a-f:]*\/\d+$/.test(a))));
    });
  }

  it('reads policies, counters and quoted comments', () => {
    const tables = parseRestore(fixture('save-v4-counters.txt'));
    assert.deepEqual(tables.map((t) => t.name), ['security', 'filter', 'nat', 'mangle', 'raw']); // as /proc listed them
    const f = tables.find((t) => t.name === 'filter')!;
    assert.deepEqual(f.chains.find((c) => c.name === 'INPUT'), { name: 'INPUT', policy: 'DROP', counters: [100n, 20000n], line: f.chains[0]!.line });
    assert.deepEqual(f.chains.find((c) => c.name === 'SSH')?.policy, '-');
    const quoted = f.commands.find((c) => c.args.includes('--comment') && c.args.some((a) => a.includes('"word"')))!;
    assert.equal(quoted.args[quoted.args.indexOf('--comment') + 1], 'quoted "word" and back\\slash');
    assert.deepEqual(f.commands[0]!.counters, [3n, 180n]);
  });

  it('refuses a broken text with the line at fault', () => {
    assert.throws(() => parseRestore('*filter\n:\nCOMMIT\n'), (e: unknown) => e instanceof InvalidArgumentError && e.line === 2);
    assert.throws(() => parseRestore('*filter\n[1:2 -A X\nCOMMIT\n'), (e: unknown) => e instanceof InvalidArgumentError && e.line === 2);
    assert.throws(() => parseRestore('*filter\n'), (e: unknown) => e instanceof InvalidArgumentError && e.line === 2);
  });
});
