// restore()'s one-pass parse and encode (lib/nft/restore-stream.ts) against the two-pass path it
// replaces (parseScript, then encodeCommands): the same batch byte for byte, the same command of
// each message and the same lines; undefined (the two-pass path then runs and reports) wherever
// the one pass could not give those bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { encodeCommands } from '../../lib/nft/encode.js';
import { parseScript } from '../../lib/nft/parse.js';
import { streamScript } from '../../lib/nft/restore-stream.js';
import { NftWriter } from '../../lib/nft/wire.js';

const dir = new URL('../fixtures/nft/', import.meta.url);
const texts = [
  // (Not bitconcat's listing: nft 1.0.6 prints `ip6 dscp >> 6 . tcp dport` there, which both parsers refuse.)
  ...readdirSync(dir).filter((f) => f.endsWith('.list.nft') && f !== 'bitconcat.list.nft').map((f) => [f, readFileSync(new URL(f, dir), 'utf8')]),
  ...readdirSync(new URL('cases/', dir)).filter((f) => f.endsWith('.nft')).map((f) => [`cases/${f}`, readFileSync(new URL(`cases/${f}`, dir), 'utf8')]),
] as Array<[string, string]>;

/** The two-pass batch, or undefined when encodeCommands refuses the text's commands. */
function twoPass(text: string, generation?: number) {
  const p = parseScript(text);
  try {
    return { ...encodeCommands(p.commands, generation === undefined ? {} : { generation }), lines: p.lines };
  } catch {
    return undefined;
  }
}

function assertSame(text: string, generation?: number): boolean {
  const s = streamScript(text, '<text>', generation === undefined ? {} : { generation });
  if (!s) return false;
  const want = twoPass(text, generation);
  assert.ok(want, 'streamed a text the encoder refuses');
  assert.equal(s.batch.buf.toString('hex'), want.buf.toString('hex'));
  assert.deepEqual(s.batch.commandOf, want.commandOf);
  assert.deepEqual(s.lines, want.lines);
  assert.deepEqual([...s.batch.sets.keys()], [...want.sets.keys()]);
  assert.equal(s.batch.generation, want.generation);
  return true;
}

describe('nft restore stream: the batch of parse then encode', () => {
  assert.ok(texts.length >= 10, 'fixture texts present');
  it('fixture texts (nft list output and the cases nft -f read)', () => {
    let streamed = 0;
    for (const [name, text] of texts) {
      if (!twoPass(text)) continue;
      try {
        if (assertSame(text, 42)) streamed++;
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message.slice(0, 300)}`);
      }
    }
    // Kernel sets, interfaces and the like send a text to the two-pass path; most stream.
    assert.ok(streamed >= texts.length / 2, `${streamed} of ${texts.length} streamed`);
  });

  it('a table block: chains, objects, sets and rules moved into nft order, with top-level commands around it', () => {
    const text = [
      'flush ruleset',
      'add table ip a',
      'table ip t {',
      '\tchain c1 {',
      '\t\tip daddr @s1 counter accept',
      '\t\ttcp dport { 22, 80 } drop comment "x"',
      '\t}',
      '\tset s1 { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }',
      '\tcounter k { packets 1 bytes 2 }',
      '\tchain c2 { type filter hook input priority filter; policy accept; jump c1; }',
      '\tcomment "table comment at the end"',
      '}',
      'add rule ip t c2 ip saddr @s1 drop',
      'create table ip z { chain q { type filter hook output priority 0; } }',
      'add element ip t s1 { 10.0.0.3 }',
    ].join('\n') + '\n';
    // The set named before its declaration: the stream cannot give its id to the rule.
    assert.equal(streamScript(text, '<text>', {}), undefined);
    const declaredFirst = text.replace('\tset s1 { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }\n', '').replace('table ip t {\n', 'table ip t {\n\tset s1 { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }\n');
    assert.ok(assertSame(declaredFirst));
    assert.ok(assertSame(declaredFirst, 7));
  });

  it('anonymous sets are numbered after every named set, as nft numbers them', () => {
    const anonFirst = 'table ip t {\n\tchain c { tcp dport { 1, 2 } drop; }\n}\nadd set ip t s { type ipv4_addr; }\n';
    assert.equal(streamScript(anonFirst, '<text>', {}), undefined);
    assert.ok(twoPass(anonFirst));
    assert.ok(assertSame('table ip t {\n\tset s { type ipv4_addr; }\n\tchain c { tcp dport { 1, 2 } drop; ip daddr @s accept; }\n}\nadd rule ip t c udp dport { 3, 4 } accept\n'));
  });

  it('what the stream leaves to the two-pass path', () => {
    // A syntax error (the two-pass path reports it with its line and column).
    assert.equal(streamScript('add table ip t\nadd chain ip t c {\n', '<text>', {}), undefined);
    // A set the encoder would read from the kernel; an interface index.
    assert.equal(streamScript('add element ip t s { 10.0.0.1 }\n', '<text>', {}), undefined);
    assert.equal(streamScript('add table ip t\nadd chain ip t c\nadd rule ip t c meta iif "lo" accept\n', '<text>', {}), undefined);
    // A set without a type, refused where its block ends.
    assert.equal(streamScript('table ip t {\n\tset s { flags interval; }\n}\n', '<text>', {}), undefined);
    assert.equal(streamScript(42 as unknown as string, '<text>', {}), undefined);
  });
});

describe('nft writer', () => {
  it('bytes() that grow the buffer land in the new one', () => {
    const w = new NftWriter(0, 16);
    const v = Buffer.from(Array.from({ length: 100 }, (_, i) => i + 1));
    w.pos = 12;
    w.bytes(6, v);
    assert.deepEqual(w.buf.subarray(16, 116), v);
  });
});
