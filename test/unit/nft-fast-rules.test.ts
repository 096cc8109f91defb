// compile-fast.ts against RuleCompiler: every `ip`, `ip6` and `inet` rule of the fixtures,
// kube-proxy's rules (IPv4 and IPv6 tables) and edge cases around what the fast path takes.
// Where it takes a rule, the rule's message must be byte for byte RuleCompiler's; where
// RuleCompiler refuses a rule, the fast path must not take it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { FastRules } from '../../lib/nft/compile-fast.js';
import { RuleCompiler } from '../../lib/nft/compile.js';
import { NftWriter } from '../../lib/nft/wire.js';
import type { Family } from '../../lib/nft/types.js';
import { kubeProxyCommands } from '../helpers/nft-kube.js';

type Fam = 'ip' | 'ip6' | 'inet';
const ctxOf = (family: Fam) => ({ family, set: () => undefined, anonymousMap: () => ({ name: '__map%d', id: 1 }), anonymousSet: () => ({ name: '__set%d', id: 1 }), anonymousMapOf: () => ({ name: '__map%d', id: 1 }) });

/** The rule's message through RuleCompiler, or undefined when it refuses the rule. */
function slow(expr: unknown[], family: Fam): Buffer | undefined {
  const rc = new RuleCompiler(ctxOf(family));
  try { rc.statements(expr, 'expr'); } catch { return undefined; }
  const w = new NftWriter(0);
  w.rule(0, 2, 't', 'c', rc.out);
  return Buffer.from(w.bytesWritten());
}

/** The rule's message through the fast path, or undefined when it leaves the rule to RuleCompiler. */
function fast(f: FastRules, expr: unknown[], family: Family): Buffer | undefined {
  const n = f.compile(expr, family);
  if (n < 0) return undefined;
  const w = new NftWriter(0);
  w.rule(0, 2, 't', 'c', f.out, n);
  return Buffer.from(w.bytesWritten());
}

/** Every rule of the ip, ip6 and inet tables in a batch: [family, statements]. */
function rulesOf(input: unknown): Array<[Fam, unknown[]]> {
  const out: Array<[Fam, unknown[]]> = [];
  const cmds = Array.isArray(input) ? input : (input as { nftables: unknown[] }).nftables;
  for (const c of cmds) {
    const v = c as Record<string, Record<string, { family?: string; expr?: unknown[] }> | undefined>;
    const r = (v.add ?? v.insert ?? v.create ?? v.replace)?.rule;
    const family = r?.family ?? 'ip';
    if (r && (family === 'ip' || family === 'ip6' || family === 'inet') && Array.isArray(r.expr)) out.push([family, r.expr]);
  }
  return out;
}

const pl = (protocol: string, field: string) => ({ payload: { protocol, field } });
const m = (left: unknown, right: unknown, op = '==') => ({ match: { op, left, right } });
const EDGES: unknown[][] = [
  [m(pl('ip', 'saddr'), '10.0.0.1'), m(pl('ip', 'daddr'), '10.0.0.2')],  // adjacent fields, same op: nft merges them
  [m(pl('ip', 'saddr'), '10.0.0.1', '!='), m(pl('ip', 'daddr'), '10.0.0.2')],
  [m(pl('tcp', 'sport'), 1), m(pl('tcp', 'dport'), 2)],
  [m(pl('tcp', 'dport'), 80), m(pl('udp', 'dport'), 53)],
  [m({ meta: { key: 'l4proto' } }, 0), m(pl('tcp', 'dport'), 80)],
  [m({ meta: { key: 'l4proto' } }, 'tcp', '!='), m(pl('tcp', 'dport'), 80)],
  [m({ meta: { key: 'l4proto' } }, 'udp'), m(pl('tcp', 'dport'), 80)],
  [m({ meta: { key: 'l4proto' } }, 'udp'), { dnat: { addr: '10.0.0.1', port: 53 } }],
  [{ dnat: { addr: '10.0.0.1', port: 53 } }],
  [{ dnat: { addr: '10.0.0.1' } }],
  [{ dnat: { addr: '10.0.0.1', family: 'ip6' } }],
  [m(pl('tcp', 'dport'), 80), { dnat: { addr: '10.0.0.1', port: 8080, flags: 'random' } }],
  [m(pl('tcp', 'dport'), 80), { dnat: { addr: '10.0.0.1', port: '8080' } }],
  [m(pl('ip', 'saddr'), { prefix: { addr: '10.0.0.0', len: 8 } }, '!=')],
  [m(pl('ip', 'saddr'), { prefix: { addr: '10.1.2.3', len: 12 } })],
  [m(pl('ip', 'saddr'), { prefix: { addr: '10.1.2.3', len: 32 } })],
  [m(pl('ip', 'saddr'), { prefix: { addr: '10.1.2.3', len: 0 } })],
  [m(pl('ip', 'saddr'), { prefix: { addr: '10.1.2.3', len: 33 } })],
  [m(pl('ip', 'saddr'), { prefix: { addr: '010.1.2.3', len: 8 } })],
  [m(pl('ip', 'daddr'), '10.0.0.256')],
  [m(pl('ip', 'daddr'), '@s')],
  [m(pl('ip', 'daddr'), { set: ['10.0.0.1'] })],
  [m(pl('ip', 'daddr'), { range: ['10.0.0.1', '10.0.0.9'] })],
  [m(pl('ip', 'daddr'), '10.0.0.1', '<')],
  [m(pl('tcp', 'dport'), 'http')],
  [m(pl('tcp', 'dport'), 65536)],
  [m(pl('th', 'dport'), 80)],
  [m({ numgen: { mode: 'random', mod: 3, offset: 7 } }, 2)],
  [m({ numgen: { mode: 'inc', mod: 3 } }, 2, '!=')],
  [m({ numgen: { mode: 'random', mod: 0 } }, 0)],
  [m({ numgen: { mode: 'random', mod: 2 } }, 0, '<')],
  [{ counter: null }, { accept: null }],
  [{ counter: { packets: 1 } }],
  [{ drop: 1 }],
  [{ jump: { target: '' } }],
  [{ goto: { target: 'x'.repeat(255) } }],
  [{ goto: { target: 'x'.repeat(256) } }],
  [{ return: null }, { continue: null }],
  [{ accept: null, drop: null }],
];

/** Edge cases of ip6 and inet tables (the ip cases above run in all three families too). */
const EDGES6: unknown[][] = [
  [m(pl('ip6', 'saddr'), 'fd00::1'), m(pl('ip6', 'daddr'), 'fd00::2')],  // adjacent (8+16 = 24): merged by nft
  [m(pl('ip6', 'daddr'), 'fd00::2'), m(pl('ip6', 'saddr'), 'fd00::1', '!=')],
  [m(pl('ip6', 'daddr'), '::'), m(pl('ip6', 'saddr'), '::1')],
  [m(pl('ip6', 'daddr'), '1:2:3:4:5:6:7:8')],
  [m(pl('ip6', 'daddr'), '1:2:3:4:5:6:7::')],
  [m(pl('ip6', 'daddr'), '::2:3:4:5:6:7:8')],
  [m(pl('ip6', 'daddr'), '1:2:3:4:5:6:7:8::')],
  [m(pl('ip6', 'daddr'), '1::2::3')],
  [m(pl('ip6', 'daddr'), 'FD00:ABCD::Ef')],
  [m(pl('ip6', 'daddr'), 'fd0G::1')], [m(pl('ip6', 'daddr'), 'fd0g::1')], [m(pl('ip6', 'daddr'), 'fd0@::1')], [m(pl('ip6', 'daddr'), 'fd0`::1')], [m(pl('ip6', 'daddr'), 'fd0/::1')],
  [m(pl('ip6', 'daddr'), '::ffff:10.0.0.1')],
  [m(pl('ip6', 'daddr'), 'fe80::1%eth0')],
  [m(pl('ip6', 'daddr'), '12345::')],
  [m(pl('ip6', 'daddr'), ':1::')],
  [m(pl('ip6', 'daddr'), '1:')],
  [m(pl('ip6', 'daddr'), '10.0.0.1')],
  [m(pl('ip6', 'daddr'), ['fd00::1'])],
  [m(pl('ip6', 'daddr'), { set: ['fd00::1'] })],
  [m(pl('ip6', 'daddr'), '@s6')],
  [m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00:10::', len: 64 } }, '!=')],
  [m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00:10::ff', len: 120 } })],
  [m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00:10::ff', len: 121 } })],
  [m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00:1f::', len: 27 } })],
  [m(pl('ip6', 'saddr'), { prefix: { addr: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', len: 1 } })],
  [m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00::1', len: 128 } })],
  [m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00::1', len: 129 } })],
  [m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00::1', len: 0 } })],
  [m(pl('ip6', 'saddr'), { prefix: { addr: '10.0.0.0', len: 8 } })],
  [m(pl('ip6', 'daddr'), 'fd00::1'), m(pl('tcp', 'dport'), 80), m(pl('ip6', 'saddr'), { prefix: { addr: 'fd00:10::', len: 64 } }, '!='), { jump: { target: 'mark-for-masquerade' } }],
  [m({ meta: { key: 'l4proto' } }, 'tcp'), { dnat: { addr: 'fd00::1', port: 8080 } }],
  [m({ meta: { key: 'l4proto' } }, 'tcp'), { dnat: { addr: 'fd00::1', port: 8080, family: 'ip6' } }],
  [m({ meta: { key: 'l4proto' } }, 'tcp'), { dnat: { addr: '10.0.0.1', port: 8080, family: 'ip' } }],
  [m({ meta: { key: 'l4proto' } }, 'tcp'), { dnat: { addr: '::ffff:10.0.0.1', port: 8080, family: 'ip6' } }],
  [{ dnat: { addr: 'fd00::1' } }],
  [{ dnat: { addr: 'fd00::1', family: 'ip6' } }],
  [{ dnat: { addr: 'fd00::1', family: 'ip' } }],
  [{ dnat: { addr: '10.0.0.1', family: 'ip6' } }],
  [{ dnat: { addr: 'fd00::1', family: 'inet' } }],
  [{ dnat: { addr: 'fd00::1', port: 80, family: 'ip6' } }],
  [{ dnat: { addr: '[fd00::1]', family: 'ip6' } }],
  // inet: the meta nfproto dependency, once; a second network protocol refused.
  [m(pl('ip', 'saddr'), '10.0.0.1'), m(pl('tcp', 'dport'), 80), m(pl('ip', 'saddr'), { prefix: { addr: '10.0.0.0', len: 9 } }, '!=')],
  [m(pl('tcp', 'dport'), 80), m(pl('ip6', 'daddr'), 'fd00::1'), { accept: null }],
  [m(pl('ip', 'saddr'), '10.0.0.1'), m(pl('ip6', 'daddr'), 'fd00::1')],
  [m(pl('ip6', 'saddr'), 'fd00::1'), m(pl('ip', 'daddr'), '10.0.0.1')],
  [m(pl('ip6', 'saddr'), 'fd00::1'), m(pl('tcp', 'sport'), 1), m(pl('ip6', 'daddr'), { prefix: { addr: 'fd00::', len: 16 } })],
  [m({ meta: { key: 'nfproto' } }, 'ipv4'), m(pl('ip', 'saddr'), '10.0.0.1')],
  [m(pl('ip', 'saddr'), '10.0.0.1'), { dnat: { addr: 'fd00::1', family: 'ip6' } }],
  [m(pl('th', 'dport'), 53), m(pl('ip6', 'saddr'), '::1'), { counter: null }, { drop: null }],
];

/** Compares the fast path with RuleCompiler on each rule; returns how many rules it took, by family. */
function compare(rules: Array<[Fam, unknown[]]>): Record<Fam, number> {
  const f = new FastRules();
  const taken = { ip: 0, ip6: 0, inet: 0 };
  for (const [family, expr] of rules) {
    const a = fast(f, expr, family), b = slow(expr, family);
    if (a === undefined) continue;
    taken[family]++;
    assert.ok(b, `RuleCompiler refuses what the fast path took in ${family}: ${JSON.stringify(expr)}`);
    assert.equal(a.toString('hex'), b.toString('hex'), `${family}: ${JSON.stringify(expr)}`);
  }
  return taken;
}

test('fast rules: byte for byte RuleCompiler\'s, on every ip, ip6 and inet rule of the fixtures, kube-proxy\'s and edge cases', () => {
  const dir = new URL('../fixtures/nft/cases/', import.meta.url);
  const rules: Array<[Fam, unknown[]]> = [];
  for (const family of ['ip', 'ip6', 'inet'] as const) for (const e of [...EDGES, ...EDGES6]) rules.push([family, e]);
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) rules.push(...rulesOf(JSON.parse(readFileSync(new URL(f, dir), 'utf8'))));
  for (const family of ['ip', 'ip6'] as const) rules.push(...rulesOf(kubeProxyCommands(3, 3, 'cascade', family)), ...rulesOf(kubeProxyCommands(3, 2, 'vmap', family)));
  const taken = compare(rules);
  assert.ok(taken.ip > 40 && taken.ip6 > 40 && taken.inet > 40, `the fast path took ${JSON.stringify(taken)} rules`);
});

test('fast rules: in inet tables as RuleCompiler, every ip and ip6 rule of the fixtures and kube-proxy\'s', () => {
  const dir = new URL('../fixtures/nft/cases/', import.meta.url);
  const rules: Array<[Fam, unknown[]]> = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) rules.push(...rulesOf(JSON.parse(readFileSync(new URL(f, dir), 'utf8'))));
  for (const family of ['ip', 'ip6'] as const) rules.push(...rulesOf(kubeProxyCommands(3, 3, 'cascade', family)));
  const taken = compare(rules.map(([, e]): [Fam, unknown[]] => ['inet', e]));
  assert.ok(taken.inet > 40, `the fast path took ${taken.inet} rules`);
});

test('fast rules: kube-proxy\'s per-service and per-endpoint rules all take the fast path (ip and ip6 tables)', () => {
  const f = new FastRules();
  for (const family of ['ip', 'ip6'] as const) {
    const rules = rulesOf(kubeProxyCommands(5, 3, 'cascade', family)).slice(-5 * 8);
    for (const [fam, expr] of rules) assert.ok(f.compile(expr, fam) >= 0, `${fam}: ${JSON.stringify(expr)}`);
  }
});

test('fast rules: IPv6 addresses as RuleCompiler reads them (random text)', () => {
  // A seeded generator (xorshift): the same strings every run.
  let x = 0x2545f491;
  const rnd = (n: number) => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n; };
  const parts = ['0', '1', 'f', 'F', 'ab', 'fd00', 'FFFF', '12345', ':', ':', ':', '::', '.', '10.0.0.1', '%', 'g', ''];
  const HEX = '0123456789abcdefABCDEF';
  /** Mostly near-valid: 1-9 groups of 0-5 hex digits, maybe a `::`, an IPv4 tail or one character changed. */
  const near = (): string => {
    const g = Array.from({ length: 1 + rnd(9) }, () => Array.from({ length: rnd(6) === 0 ? rnd(6) : 1 + rnd(4) }, () => HEX[rnd(HEX.length)]).join(''));
    if (rnd(3) === 0) g[g.length - 1] = `${rnd(256)}.${rnd(256)}.${rnd(300)}.${rnd(256)}`;
    let s = g.join(':');
    if (rnd(3) > 0) { const at = rnd(s.length + 1); s = `${s.slice(0, at)}${s[at - 1] === ':' ? ':' : '::'}${s.slice(at)}`; }
    if (rnd(8) === 0) { const at = rnd(s.length); s = s.slice(0, at) + ':.%1/@G`g'[rnd(9)] + s.slice(at + 1); }
    return s;
  };
  const f = new FastRules();
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    let s = '';
    if (i % 4 === 0) for (let k = rnd(16); k >= 0; k--) s += parts[rnd(parts.length)];
    else s = near();
    // (`@name` is a set lookup: not an address, never the fast path's.)
    if (s.startsWith('@')) continue;
    for (const expr of [[m(pl('ip6', 'daddr'), s)], [m({ meta: { key: 'l4proto' } }, 'udp'), { dnat: { addr: s, port: 53 } }]]) {
      const a = fast(f, expr, 'ip6'), b = slow(expr, 'ip6');
      assert.equal(a?.toString('hex'), b?.toString('hex'), JSON.stringify(s));
      if (b) accepted++;
    }
  }
  assert.ok(accepted > 8000, `${accepted} addresses`);
});
