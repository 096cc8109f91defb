// What a handle remembers of its nf_tables tables between --noflush commits: every chain of
// every iptables table (name, hook, policy; no rules), true at one ruleset generation. A
// noflush commit whose GETGEN still answers that generation reads only the rules of the chains
// its text touches and takes the rest from here, instead of dumping and decoding 40k chains;
// any other writer (iptables-nft, nft, another handle) moves the generation and the next commit
// reads the table again. Pure functions; the slot lives on the handle.
import { attrMap, be32, splitMessages, str } from '../../nft/attrs.js';
import { CHAIN, HOOK, MSG, NFNL_SUBSYS_NFTABLES, TABLE } from '../../nft/consts.js';
import type { Family } from '../types.js';
import type { NftChain, NftTable } from './dump-read.js';

/** The chains (rules left out) of each iptables table that exists, as nf_tables held them at `generation`. */
export interface NftModel { generation: number; tables: Map<string, Map<string, NftChain>> }

/** A handle's place for its model; empty until a commit read the tables, emptied when in doubt. */
export interface NftModelSlot { current?: NftModel }

const NFPROTO = { 4: 2, 6: 10 } as const;

/**
 * The model of a fresh read (groupDumpBytes' tables: every chain, some with rules).
 * @example slot.current = modelOf(read.generation, groupDumpBytes(data, from, to, 4));
 */
export function modelOf(generation: number, tables: NftTable[]): NftModel {
  return { generation, tables: new Map(tables.map((t) => [t.name, new Map(t.chains.map((c) => [c.name, bare(c)]))])) };
}

/** A chain without its rules (a copy: the model is never shared with what decoding reads). */
function bare(c: NftChain): NftChain {
  const o: NftChain = { name: c.name, packets: c.packets, bytes: c.bytes, rules: [] };
  if (c.hook !== undefined) o.hook = c.hook;
  if (c.prio !== undefined) o.prio = c.prio;
  if (c.type !== undefined) o.type = c.type;
  if (c.policy !== undefined) o.policy = c.policy;
  return o;
}

/**
 * The generation nf_tables answers after one committed batch: nf_tables_commit bumps its
 * base_seq by one, skipping 0. A guess that is wrong only costs a fresh read: another writer
 * moves it further.
 * @example nextGeneration(0xffffffff); // 1
 */
export function nextGeneration(g: number): number {
  const n = (g + 1) >>> 0;
  return n === 0 ? 1 : n;
}

/**
 * Table `name` of the model with only the chains `keep` says (and every base chain), each
 * without rules: what a rule dump of the touched chains is read onto.
 * @example const t = slice(model, 'nat', (n) => touched.has(n));
 */
export function slice(model: NftModel, name: string, keep: (chain: string) => boolean): NftTable | undefined {
  const chains = model.tables.get(name);
  if (!chains) return undefined;
  const out: NftChain[] = [];
  for (const c of chains.values()) if (c.hook !== undefined || keep(c.name)) out.push(bare(c));
  return { name, chains: out };
}

/**
 * Adds to a sliced table the model's chains named in `names` it lacks (jump targets).
 * @example widen(model, table, ['KUBE-SEP-X']);
 */
export function widen(model: NftModel, t: NftTable, names: Iterable<string>): void {
  const chains = model.tables.get(t.name);
  if (!chains) return;
  const have = new Set(t.chains.map((c) => c.name));
  for (const n of names) {
    const c = chains.get(n);
    if (c && !have.has(n)) t.chains.push(bare(c)), have.add(n);
  }
}

/**
 * The user chains a table's rules jump or go to, by name, from the dump's rules.
 * @example ruleTargets(table.chains.filter((c) => touched.has(c.name)));
 */
export function ruleTargets(chains: NftChain[]): Set<string> {
  const out = new Set<string>();
  for (const c of chains) {
    for (const r of c.rules) for (const e of r.exprs) if (e.op === 'immediate' && e.verdict?.chain !== undefined) out.add(e.verdict.chain);
  }
  return out;
}

const JUMP = /(?:^|\s)(?:-j|--jump|-g|--goto)\s+"?([^\s"]+)/g;

/**
 * The names a restore body jumps or goes to (chains or targets: only the model's chains count).
 * @example textTargets('-A X -j KUBE-SEP-Y\n'); // Set { 'KUBE-SEP-Y' }
 */
export function textTargets(body: string): Set<string> {
  const out = new Set<string>();
  for (const m of body.matchAll(JUMP)) out.add(m[1]!);
  return out;
}

/**
 * The model after a committed batch of `family` (its message bytes, without BEGIN/END): tables
 * and chains made, chains deleted, base chains' policies set; rules are not modeled.
 * @example apply(model, msgs.batch().bytes, 4, nextGeneration(read.generation));
 */
export function applySent(model: NftModel, bytes: Uint8Array, family: Family, generation: number): NftModel {
  for (const m of splitMessages(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
    if (m.family !== NFPROTO[family] || m.type >> 8 !== NFNL_SUBSYS_NFTABLES) continue;
    const t = m.type & 0xff;
    if (t !== MSG.NEWTABLE && t !== MSG.NEWCHAIN && t !== MSG.DELCHAIN) continue;
    const a = attrMap(m.body);
    if (t === MSG.NEWTABLE) {
      const n = str(a.get(TABLE.NAME)) ?? '';
      if (!model.tables.has(n)) model.tables.set(n, new Map());
      continue;
    }
    const table = model.tables.get(str(a.get(CHAIN.TABLE)) ?? '');
    const name = str(a.get(CHAIN.NAME)) ?? '';
    if (!table) continue;
    if (t === MSG.DELCHAIN) {
      table.delete(name);
      continue;
    }
    const policy = be32(a.get(CHAIN.POLICY));
    const had = table.get(name);
    if (had) {
      if (policy !== undefined) had.policy = policy;
      continue;
    }
    const c: NftChain = { name, packets: 0n, bytes: 0n, rules: [] };
    const hook = a.get(CHAIN.HOOK);
    if (hook) {
      const h = attrMap(hook);
      c.hook = be32(h.get(HOOK.HOOKNUM)) ?? 0;
      c.prio = (be32(h.get(HOOK.PRIORITY)) ?? 0) | 0;
      c.type = str(a.get(CHAIN.TYPE)) ?? '';
      if (policy !== undefined) c.policy = policy;
    }
    table.set(name, c);
  }
  model.generation = generation;
  return model;
}
