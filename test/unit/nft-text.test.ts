// nlkit's nft text printer (lib/nft/print.ts) against nft 1.0.6's own output: the objects
// `nft -j list ruleset` printed for each captured fixture (test/fixtures/nft, captured by
// capture.sh) must print exactly as `nft list ruleset` printed the same ruleset. (Table and
// chain comments are absent from nft 1.0.6's JSON: fixtures with them are checked by
// test/kernel/nft-text.test.ts, where save() reads them from the kernel.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, UnsupportedError, type NlkitError } from '../../lib/core/errors.js';
import { encodeCommands } from '../../lib/nft/encode.js';
import { TYPES } from '../../lib/nft/datatypes.js';
import { parseScript } from '../../lib/nft/parse.js';
import { printRuleset } from '../../lib/nft/print.js';
import { priorityText } from '../../lib/nft/chains.js';
import type { ListObject } from '../../lib/nft/types.js';

const dir = new URL('../fixtures/nft/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');
const listed = (name: string): ListObject[] => (JSON.parse(read(`${name}.list.json`)).nftables as object[]).filter((o) => !('metainfo' in o)) as ListObject[];

describe('nft text printer: what nft list ruleset printed', () => {
  for (const name of ['basics', 'shapes', 'verbs', 'compare', 'elements', 'bitfields']) {
    it(`${name}: the whole ruleset byte for byte`, () => {
      assert.equal(printRuleset(listed(name)), read(`${name}.list.nft`));
    });
  }

  it('priorities: names within 10 of a standard one, nat names only on their hooks (rule.c prio2str)', () => {
    assert.equal(priorityText('ip', 'prerouting', -110), 'dstnat - 10');
    assert.equal(priorityText('ip', 'input', -110), '-110');
    assert.equal(priorityText('ip', 'output', -100), '-100');
    assert.equal(priorityText('ip', 'postrouting', 105), 'srcnat + 5');
    assert.equal(priorityText('ip', 'input', -295), 'raw + 5');
    assert.equal(priorityText('ip', 'input', 11), '11');
    assert.equal(priorityText('ip', 'input', 50), 'security');
    // Printed by nft 1.0.6 for bridge, arp and netdev chains (bridge_std_prios; raw/mangle/security only for ip families).
    assert.equal(priorityText('bridge', 'forward', -200), 'filter');
    assert.equal(priorityText('bridge', 'prerouting', -300), 'dstnat');
    assert.equal(priorityText('bridge', 'postrouting', 300), 'srcnat');
    assert.equal(priorityText('bridge', 'output', 100), 'out');
    assert.equal(priorityText('arp', 'output', 10), 'filter + 10');
    assert.equal(priorityText('arp', 'input', -300), '-300');
    assert.equal(priorityText('netdev', 'ingress', -500), '-500');
    assert.equal(priorityText('netdev', 'ingress', 5), 'filter + 5');
  });

  it('refuses what it cannot print instead of printing something else', () => {
    const t = { table: { family: 'ip', name: 't', handle: 1 } };
    const c = { chain: { family: 'ip', table: 't', name: 'c', handle: 2 } };
    const r = (expr: object[]) => ({ rule: { family: 'ip', table: 't', chain: 'c', handle: 3, expr } });
    assert.throws(() => printRuleset([t, c, r([{ queue: { num: 1 } }])] as ListObject[]), UnsupportedError);
    assert.throws(() => printRuleset([t, c, r([{ match: { op: '==', left: { payload: { offset: 0, len: 8 } }, right: 1 } }])] as ListObject[]), UnsupportedError);
    assert.equal(printRuleset([t, c, r([{ match: { op: '==', left: { payload: { base: 'nh', offset: 160, len: 8 } }, right: 17 } }])] as ListObject[]).split('\n')[2], '\t\t@nh,160,8 0x11');
    assert.throws(() => printRuleset([t, { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', handle: 4, flags: ['eval'] } }] as ListObject[]), UnsupportedError);
  });
});

/** Each message of a batch as hex, like the fixtures' lines. */
const messagesHex = (buf: Buffer): string[] => {
  const out: string[] = [];
  for (let p = 0; p < buf.length; p += (buf.readUInt32LE(p) + 3) & ~3) out.push(buf.subarray(p, p + buf.readUInt32LE(p)).toString('hex'));
  return out;
};

const syntaxError = (text: string): NlkitError => {
  try {
    parseScript(text, '-');
  } catch (e) {
    return e as NlkitError;
  }
  throw new Error('parsed');
};

describe('nft text parser: the batch nft -f sent for the same text', () => {
  // cases/NAME.nft are the texts `nft -f` read when capture.sh recorded NAME.batch.hex.
  for (const name of ['basics', 'shapes', 'kube-proxy', 'compare', 'setflags', 'maps', 'setopts', 'bitfields', 'cttimeout', 'firewalld']) {
    it(`${name}.nft: every message byte for byte`, () => {
      const { commands, lines } = parseScript(read(`cases/${name}.nft`));
      assert.equal(lines.length, commands.length);
      assert.deepEqual(messagesHex(encodeCommands(commands).buf), read(`${name}.batch.hex`).trim().split('\n'));
    });
  }

  it('what the printer prints parses back into the same batch as the text nft read', () => {
    const { commands } = parseScript(printRuleset(listed('shapes')));
    const again = parseScript(printRuleset(listed('shapes').filter(() => true))).commands;
    assert.deepEqual(commands, again);
    assert.ok(commands.some((c) => 'add' in c && 'map' in c.add!));
  });

  it('defines, table blocks, comments, ; and line continuations', () => {
    const { commands, lines } = parseScript('define p = 80 # web\ndefine a = 10.0.0.1\ntable ip t { chain c { tcp dport $p ip daddr $a \\\n accept; } }\n');
    assert.deepEqual(commands, [
      { add: { table: { family: 'ip', name: 't' } } },
      { add: { chain: { family: 'ip', table: 't', name: 'c' } } },
      { add: { rule: { family: 'ip', table: 't', chain: 'c', expr: [
        { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 80 } },
        { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '10.0.0.1' } },
        { accept: null },
      ] } } },
    ]);
    assert.deepEqual(lines, [3, 3, 3]);
  });

  it('a comment may be a bare word; set statements; interface wildcards stay strings', () => {
    const { commands } = parseScript('add rule ip t c iifname != "veth*" counter accept comment ICMP\nadd rule ip t c update @a { ip saddr timeout 1m30s }\nadd rule ip t c add @b { ip saddr . tcp dport }\n');
    const rule = (expr: unknown[], comment?: string) => ({ add: { rule: { family: 'ip', table: 't', chain: 'c', ...(comment ? { comment } : {}), expr } } });
    const saddr = { payload: { protocol: 'ip', field: 'saddr' } };
    assert.deepEqual(commands, [
      rule([{ match: { op: '!=', left: { meta: { key: 'iifname' } }, right: 'veth*' } }, { counter: { packets: 0, bytes: 0 } }, { accept: null }], 'ICMP'),
      rule([{ set: { op: 'update', elem: { elem: { val: saddr, timeout: 90 } }, set: '@a' } }]),
      rule([{ set: { op: 'add', elem: { concat: [saddr, { payload: { protocol: 'tcp', field: 'dport' } }] }, set: '@b' } }]),
    ]);
  });

  it('binary operations bind as in nft (& before ^ before |), constants folded as nft folds them', () => {
    const value = (t: string) => (parseScript(`add rule ip t c meta mark set ${t}`).commands[0] as { add: { rule: { expr: Array<{ mangle: { value: unknown } }> } } }).add.rule.expr[0]!.mangle.value;
    const mark = { meta: { key: 'mark' } };
    assert.deepEqual(value('meta mark | 0x10 ^ 0x1'), { '|': [mark, 17] });
    assert.deepEqual(value('meta mark & 0xff00 ^ 0x12'), { '^': [{ '&': [mark, 0xff00] }, 0x12] });
    assert.deepEqual(value('mark & 1 | 2 ^ 3 & 7'), { '|': [{ '&': [mark, 1] }, 1] });
  });

  it('syntax errors name line and column as nft 1.0.6 does (its messages, captured)', () => {
    // nft -f said: "…:2:56-62: Error: syntax error, unexpected string, expecting comma or '}'"
    let e = syntaxError('add table ip t\nadd set ip t s { type ipv4_addr ; elements = { 1.2.3.4 2.3.4.5 } }\n');
    assert.ok(e instanceof InvalidArgumentError);
    assert.match(e.message, /^-:2:56-62: Error: syntax error, unexpected 2\.3\.4\.5/);
    assert.equal(e.line, 2);
    // nft -f said: "…:4:21-21: Error: syntax error, unexpected '}', expecting newline or semicolon"
    e = syntaxError('table ip t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tip saddr 10.0.0.1 }}x\n\t}\n}\n');
    assert.match(e.message, /^-:4:21-21: Error: syntax error, unexpected }, expecting newline or semicolon/);
    // nft -f said: "…:2:26-26: Error: syntax error, unexpected junk"
    e = syntaxError('add table ip t\nadd rule ip t c ip daddr "foo bar\n');
    assert.match(e.message, /^-:2:26-26: /);
    assert.match(syntaxError('add rule ip t c tcp dport $nope accept').message, /^-:1:27-31: Error: unknown identifier 'nope'/);
    assert.ok(syntaxError('add rule ip t c tcp dport').message.startsWith('-:1:26-26: Error: syntax error, unexpected end of file'));
  });

  it('constructs outside the encoded language are UnsupportedError naming them', () => {
    assert.throws(() => parseScript('add rule ip t c queue num 1'), (e: Error) => e instanceof UnsupportedError && /"queue"/.test(e.message));
    // Docker's encrypted overlay: a raw payload set key and match (parsed now; expr-raw.ts), and malformed raw payloads.
    assert.deepEqual((parseScript('add set ip t s { typeof @th,96,24; }').commands[0] as { add: { set: { type: unknown } } }).add.set.type, { typeof: { payload: { base: 'th', offset: 96, len: 24 } } });
    assert.deepEqual((parseScript('add rule ip t c meta secpath missing udp dport 4789 @th,96,24 @s drop').commands[0] as { add: { rule: { expr: unknown[] } } }).add.rule.expr, [
      { match: { op: '==', left: { meta: { key: 'secpath' } }, right: false } },
      { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 4789 } },
      { match: { op: '==', left: { payload: { base: 'th', offset: 96, len: 24 } }, right: '@s' } },
      { drop: null },
    ]);
    assert.throws(() => parseScript('add rule ip t c @th,96 1'), (e: Error) => e instanceof InvalidArgumentError && /raw payload expression .*got @th,96/.test(e.message));
    assert.throws(() => encodeCommands(parseScript('add table ip t\nadd chain ip t c\nadd rule ip t c @th,0,0 1').commands), (e: Error) => e instanceof InvalidArgumentError && /len must be a positive integer/.test(e.message));
    assert.throws(() => encodeCommands(parseScript('add table ip t\nadd set ip t s { type mark; flags interval; elements = { 1-5 } }').commands), (e: Error) => e instanceof UnsupportedError && /intervals of mark/.test(e.message));
    // Later elements of an interval set are checked against its ranges: a kernel set described without them is refused.
    const kernelSet = { existingSet: () => ({ keyTypes: [TYPES.ipv4_addr], map: false, interval: true }) };
    assert.throws(() => encodeCommands(parseScript('add element ip t s { 10.0.0.0/8 }').commands, kernelSet), (e: Error) => e instanceof UnsupportedError && /interval set whose elements nlkit has not read/.test(e.message));
    assert.throws(() => encodeCommands(parseScript('add table ip t\nadd set ip t s { type ipv4_addr; flags interval; auto-merge; }\nadd element ip t s { 10.0.0.0/8 timeout 1s }').commands), (e: Error) => e instanceof UnsupportedError && /element options in an interval set that merges/.test(e.message));
    assert.throws(() => encodeCommands(parseScript('add table ip t\nadd set ip t s { type ipv4_addr; flags interval; elements = { 10.0.0.0/8 } }\nadd element ip t s { 10.1.0.0/16 }').commands), (e: Error) => e instanceof InvalidArgumentError && /conflicting intervals/.test(e.message));
    assert.throws(() => encodeCommands(parseScript('add table bridge t\nadd set bridge t s { typeof vlan id; }').commands), (e: Error) => e instanceof UnsupportedError && /typeof vlan id/.test(e.message));
    // nft 1.0.6's listing of a sub-byte field in a concatenation (`ip6 dscp >> 6 . tcp dport`), which nft reads back shifted twice.
    assert.throws(() => parseScript('add rule inet t c ip6 dscp >> 6 . tcp dport @s accept'), (e: Error) => e instanceof UnsupportedError && /1:28: a shift \(">>"\) of an expression/.test(e.message));
    assert.throws(() => encodeCommands(parseScript('add table ip t\nadd set ip t s { typeof numgen random mod 2; }').commands), (e: Error) => e instanceof UnsupportedError && /typeof/.test(e.message));
    // nft 1.0.6 records at most four parts of a typeof concatenation (a fifth lists as `type`).
    assert.throws(() => encodeCommands(parseScript('add table ip t\nadd set ip t s { typeof ip saddr . ip daddr . tcp sport . tcp dport . meta mark; }').commands), (e: Error) => e instanceof UnsupportedError && /concatenation of 5/.test(e.message));
    assert.throws(() => parseScript('list ruleset'), UnsupportedError);
    assert.throws(() => parseScript(42 as never), InvalidArgumentError);
  });
});

describe('nft text parser: nft\'s own listings of interval maps, sub-byte keys and ct expectation/synproxy objects', () => {
  const kinds = (o: object) => Object.keys(o)[0]!;
  for (const name of ['concatmap', 'bitkeys', 'objects2']) {
    it(`${name}: what nlkit parses from nft list ruleset is what nft -j list ruleset printed (rules, and objects but sets' typeof)`, () => {
      const parsed = parseScript(read(`${name}.list.nft`)).commands.map((c) => Object.values(c as object)[0] as Record<string, Record<string, unknown>>);
      const want = listed(name);
      // Rules: the statements nft's JSON has, in order.
      const exprs = (l: Array<Record<string, Record<string, unknown>>>) => l.filter((o) => kinds(o) === 'rule').map((o) => o.rule!.expr);
      assert.ok(exprs(want as never).length >= 2);
      assert.deepEqual(exprs(parsed), exprs(want as never));
      // Stateful objects: their properties (handles aside).
      const objs = (l: Array<Record<string, Record<string, unknown>>>) => l.filter((o) => ['ct expectation', 'synproxy'].includes(kinds(o)))
        .map((o) => { const { handle: _h, ...rest } = Object.values(o)[0]!; return { [kinds(o)]: rest }; });
      assert.deepEqual(objs(parsed), objs(want as never));
      if (name === 'objects2') assert.equal(objs(want as never).length, 4);
    });
  }
});
