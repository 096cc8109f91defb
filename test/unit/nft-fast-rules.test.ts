// compile-fast.ts against RuleCompiler: every `ip` rule of the fixtures, kube-proxy's rules and
// edge cases around what the fast path takes. Where it takes a rule, the rule's message must be
// byte for byte RuleCompiler's; where RuleCompiler refuses a rule, the fast path must not take it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { FastRules } from '../../lib/nft/compile-fast.js';
import { RuleCompiler } from '../../lib/nft/compile.js';
import { NftWriter } from '../../lib/nft/wire.js';
import { kubeProxyCommands } from '../helpers/nft-kube.js';

const ctx = { family: 'ip' as const, set: () => undefined, anonymousMap: () => ({ name: '__map%d', id: 1 }), anonymousSet: () => ({ name: '__set%d', id: 1 }), anonymousMapOf: () => ({ name: '__map%d', id: 1 }) };

/** The rule's message through RuleCompiler, or undefined when it refuses the rule. */
function slow(expr: unknown[]): Buffer | undefined {
  const rc = new RuleCompiler(ctx);
  try { rc.statements(expr, 'expr'); } catch { return undefined; }
  const w = new NftWriter(0);
  w.rule(0, 2, 't', 'c', rc.out);
  return Buffer.from(w.bytesWritten());
}

/** The rule's message through the fast path, or undefined when it leaves the rule to RuleCompiler. */
function fast(f: FastRules, expr: unknown[]): Buffer | undefined {
  const n = f.compile(expr);
  if (n < 0) return undefined;
  const w = new NftWriter(0);
  w.rule(0, 2, 't', 'c', f.out, n);
  return Buffer.from(w.bytesWritten());
}

function rulesOf(input: unknown): unknown[][] {
  const out: unknown[][] = [];
  const cmds = Array.isArray(input) ? input : (input as { nftables: unknown[] }).nftables;
  for (const c of cmds) {
    const body = (c as Record<string, Record<string, { family?: string; expr?: unknown[] }> | undefined>).add ?? (c as Record<string, Record<string, { family?: string; expr?: unknown[] }> | undefined>).insert;
    const r = body?.rule;
    if (r && (r.family ?? 'ip') === 'ip' && Array.isArray(r.expr)) out.push(r.expr);
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

test('fast rules: byte for byte RuleCompiler\'s, on every ip rule of the fixtures, kube-proxy\'s and edge cases', () => {
  const dir = new URL('../fixtures/nft/cases/', import.meta.url);
  const rules: unknown[][] = [...EDGES];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) rules.push(...rulesOf(JSON.parse(readFileSync(new URL(f, dir), 'utf8'))));
  rules.push(...rulesOf(kubeProxyCommands(3, 3, 'cascade')), ...rulesOf(kubeProxyCommands(3, 2, 'vmap')));
  const f = new FastRules();
  let taken = 0;
  for (const expr of rules) {
    const a = fast(f, expr), b = slow(expr);
    if (a === undefined) continue;
    taken++;
    assert.ok(b, `RuleCompiler refuses what the fast path took: ${JSON.stringify(expr)}`);
    assert.equal(a.toString('hex'), b.toString('hex'), JSON.stringify(expr));
  }
  assert.ok(taken > 40, `the fast path took ${taken} rules`);
});

test('fast rules: kube-proxy\'s per-service and per-endpoint rules all take the fast path', () => {
  const f = new FastRules();
  const rules = rulesOf(kubeProxyCommands(5, 3, 'cascade')).slice(-5 * 8);
  for (const expr of rules) assert.ok(f.compile(expr) >= 0, JSON.stringify(expr));
});
