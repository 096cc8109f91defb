// Rule positions by index in a chain the same batch already changed, as nft 1.0.6 resolves them
// (evaluate.c rule_cache_update and link_rules; mnl.c mnl_nft_rule_add): nft keeps the chain's
// rules in its cache as the batch adds and inserts rules, so `index N` counts the rules added
// before it in the batch too (deletes, replaces and flushes it does not follow: nor does nlkit). A rule of the kernel is referred
// to by its handle (NFTA_RULE_POSITION); a rule of the batch by NFTA_RULE_POSITION_ID, the
// NFTA_RULE_ID nft gives the referred rule (numbered from 1 in the order rules are first referred
// to; the kernel's nf_tables_newrule finds it among the transaction's new rules). The batch is
// planned before it is encoded, since the referred rule's message comes first.
import { NotFoundError } from '../core/errors.js';
import { unsupported, withIndex } from './errors.js';
import type { Family } from './types.js';

/** Where the rule of one command goes, and the id others refer to it by. */
export interface RulePlace {
  /** NFTA_RULE_POSITION: a kernel rule's handle. */
  position?: number;
  /** NFTA_RULE_POSITION_ID: the NFTA_RULE_ID of a rule earlier in the batch. */
  positionId?: number;
  /** NFTA_RULE_ID: later rules refer to this one. */
  id?: number;
}

type Entry = { handle: number } | { cmd: number };
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The positions of a batch's rules where an `index` counts rules of the batch itself; undefined
 * when no rule has an index in a chain an earlier command changed (the encoder then resolves
 * indexes against the kernel's chain alone). `ruleAt`: the handle of the kernel chain's i-th rule.
 * Errors carry the failing command's index.
 * @example planPositions([{ add: { rule: { family: 'ip', table: 't', chain: 'c', expr: [] } } }, { add: { rule: { family: 'ip', table: 't', chain: 'c', index: 0, expr: [] } } }], () => undefined, (i) => `commands[${i}]`)
 */
export function planPositions(list: unknown[], ruleAt: ((f: Family, t: string, c: string, i: number) => number | undefined) | undefined, where: (i: number) => string): Map<number, RulePlace> | undefined {
  // A cheap scan first (property reads, no allocation): the usual batch has no index at all.
  let any = false;
  for (let i = 0; i < list.length && !any; i++) {
    const cmd = list[i] as Record<string, { rule?: Record<string, unknown> } | undefined> | null;
    if (cmd === null || typeof cmd !== 'object') continue;
    const r = (cmd.add ?? cmd.insert ?? cmd.create)?.rule;
    if (r === null || typeof r !== 'object') continue;
    // for-in, not `r.index`: a rule object built by spreading has a hidden class of its own (a
    // read by name misses V8's caches), and the encoder's for-in over it reuses the keys listed here.
    for (const k in r) if (k === 'index' && r[k] !== undefined) { any = true; break; }
  }
  if (!any) return undefined;
  const rules: Array<{ i: number; verb: string; o: Record<string, unknown>; key: string }> = [];
  const seen = new Set<string>();
  let indexed = false;
  for (let i = 0; i < list.length; i++) {
    const cmd = list[i];
    if (!isObj(cmd)) continue;
    const [verb, body] = Object.entries(cmd)[0] ?? [];
    if (!isObj(body) || !isObj(body.rule)) continue;
    const o = body.rule;
    const key = `${String(o.family)}\0${String(o.table)}\0${String(o.chain)}`;
    if (typeof o.index === 'number' && seen.has(key)) indexed = true;
    seen.add(key);
    rules.push({ i, verb: verb!, o, key });
  }
  if (!indexed) return undefined;
  if (!ruleAt) {
    const first = rules.find((r) => r.o.index !== undefined)!.i;
    throw withIndex(unsupported(`${where(first)}.index`, 'rule indexes without the kernel\'s chain (apply or restore resolve them)'), first);
  }

  const chains = new Map<string, Entry[]>();
  const chainOf = (o: Record<string, unknown>, key: string): Entry[] => {
    let m = chains.get(key);
    if (!m) {
      m = [];
      for (let k = 0; ; k++) {
        const h = ruleAt(o.family as Family, String(o.table), String(o.chain), k);
        if (h === undefined) break;
        m.push({ handle: h });
      }
      chains.set(key, m);
    }
    return m;
  };
  const plan = new Map<number, RulePlace>();
  const place = (i: number): RulePlace => { let p = plan.get(i); if (!p) plan.set(i, p = {}); return p; };
  let refId = 0;
  for (const { i, verb, o, key } of rules) {
    // nft 1.0.6's cache follows adds and inserts only: a deleted rule still counts, a replaced
    // one keeps its handle (and is referred to by it), and a flush leaves the cache as it was.
    if (verb !== 'add' && verb !== 'insert' && verb !== 'create') continue;
    const w = where(i);
    const m = chainOf(o, key);
    const byHandle = (h: unknown) => m.findIndex((e) => 'handle' in e && e.handle === h);
    let ref = -1;
    if (typeof o.index === 'number') {
      ref = o.index;
      if (ref >= m.length) throw withIndex(new NotFoundError(`${w}.index: chain ${String(o.family)} ${String(o.table)} ${String(o.chain)} has no rule at index ${ref}`, { subsystem: 'nft', op: 'nft.apply' }), i);
      const e = m[ref]!;
      if ('handle' in e) place(i).position = e.handle;
      else {
        const target = place(e.cmd);
        target.id ??= ++refId;
        place(i).positionId = target.id;
      }
    } else if (o.handle !== undefined) ref = byHandle(o.handle);
    const e: Entry = { cmd: i };
    if (verb === 'insert') m.splice(ref >= 0 ? ref : 0, 0, e);
    else if (ref >= 0) m.splice(ref + 1, 0, e);
    else m.push(e);
  }
  return plan;
}
