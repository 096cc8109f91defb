// sync(): the smallest batch that makes one table equal to the desired objects, diffed the way
// kube-proxy's partial sync does (pkg/proxy/nftables/proxier.go): new chains and sets added,
// a chain whose rules differ flushed and rewritten whole, set and map elements added and deleted
// one by one (a map element whose verdict changed: deleted and re-added), chains and sets no
// longer wanted flushed and deleted last. Both sides are compared in list()'s form: the desired
// objects are encoded as apply() would and decoded back (so any spelling apply() accepts compares
// equal to what the kernel returns for it). Pure: no kernel access.
import type { SyncResult } from '../core/sync.js';
import { attrMap, splitMessages, str } from './attrs.js';
import { decodeRuleset, sortDump } from './decode.js';
import { encodeCommands } from './encode.js';
import { FAMILY, familyName, MSG, NFNL_SUBSYS_NFTABLES } from './consts.js';
import { invalid } from './errors.js';
import type { Family, ListObject } from './types.js';

/** What sync() did: tables, chains, sets and elements counted (rules as part of their chain), and the commands it sent. */
export interface NftSyncResult extends SyncResult {
  /** The commands of the one batch sent (empty: nothing was sent). */
  commands: object[];
}

type Obj = Record<string, unknown>;
const WANTED = new Set<number>([MSG.NEWTABLE, MSG.NEWCHAIN, MSG.NEWRULE, MSG.NEWSET, MSG.NEWSETELEM]);

/** list() objects carry handles, which on an add would be positions: the desired state has none. */
function withoutHandles(desired: unknown): unknown {
  const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  const list = isObj(desired) && Array.isArray(desired.nftables) ? desired.nftables : desired;
  if (!Array.isArray(list)) return desired;
  return list.map((o: unknown) => {
    if (!isObj(o)) return o;
    const keys = Object.keys(o);
    const b = o[keys[0]!];
    if (keys.length !== 1 || !['table', 'chain', 'rule', 'set', 'map'].includes(keys[0]!) || !isObj(b) || !('handle' in b)) return o;
    return { [keys[0]!]: stripHandle(b) };
  });
}

/** The desired objects (list() objects, apply() commands that add, or `{ nftables }`) as list() would return them once applied. */
export function canonicalObjects(desired: unknown, family: Family, table: string): ListObject[] {
  const enc = encodeCommands(withoutHandles(desired), { numberAnonymous: true });
  const msgs = splitMessages(enc.buf).filter((m) => m.type >> 8 === NFNL_SUBSYS_NFTABLES && (m.type & 0xff) !== 0x10 && (m.type & 0xff) !== 0x11);
  for (const m of msgs) {
    if (!WANTED.has(m.type & 0xff)) throw invalid('desired', 'may only add tables, chains, rules, sets, maps and elements (no delete, flush, insert or replace)', { op: 'nft.sync' });
    // Attribute 1 of every one of these messages is the table's name.
    const t = str(attrMap(m.body).get(1));
    if (m.family !== FAMILY[family] || t !== table) {
      throw invalid('desired', `holds an object of table ${familyName(m.family)} ${String(t)}; sync() changes ${family} ${table} only`, { op: 'nft.sync' });
    }
  }
  return decodeRuleset(sortDump(msgs));
}

const stripHandle = (b: Obj): Obj => {
  const { handle: _h, ...rest } = b;
  return rest;
};
const ruleKey = (r: Obj): string => JSON.stringify([r.expr, r.comment ?? null]);
const elemKey = (e: unknown, map: boolean): string => {
  let k = map ? (e as unknown[])[0] : e;
  if (typeof k === 'object' && k !== null && 'elem' in k) k = (k as { elem: { val: unknown } }).elem.val;
  return JSON.stringify(k);
};

interface Side {
  table?: Obj;
  chains: Map<string, Obj>;
  rules: Map<string, Obj[]>;
  sets: Map<string, { kind: 'set' | 'map'; body: Obj }>;
}

function sides(objs: ListObject[]): Side {
  const s: Side = { chains: new Map(), rules: new Map(), sets: new Map() };
  for (const o of objs) {
    if ('table' in o) s.table = stripHandle(o.table as unknown as Obj);
    else if ('chain' in o) s.chains.set(o.chain.name, stripHandle(o.chain as unknown as Obj));
    else if ('rule' in o) {
      const r = stripHandle(o.rule as unknown as Obj);
      const l = s.rules.get(o.rule.chain) ?? [];
      l.push(r);
      s.rules.set(o.rule.chain, l);
    } else if ('set' in o) s.sets.set(o.set.name, { kind: 'set', body: stripHandle(o.set as unknown as Obj) });
    else if ('map' in o) s.sets.set(o.map.name, { kind: 'map', body: stripHandle(o.map as unknown as Obj) });
  }
  return s;
}

/** The commands that turn `current` (list() of the table, [] when it does not exist) into `desired` (canonicalObjects()), and what they count. */
export function syncPlan(current: ListObject[], desired: ListObject[], family: Family, table: string): NftSyncResult {
  const cur = sides(current), want = sides(desired);
  const T = { family, table };
  const commands: object[] = [];
  const late: object[] = [], last: object[] = [];
  const r: NftSyncResult = { added: 0, updated: 0, removed: 0, unchanged: 0, commands };
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

  if (!cur.table) {
    commands.push({ add: { table: want.table ?? { family, name: table } } });
    r.added++;
  } else r.unchanged++;

  // Sets first (rules look them up), then chains (rules jump to them), then the rules.
  const elemOps: object[] = [];
  for (const [name, w] of want.sets) {
    const c = cur.sets.get(name);
    const { elem: wElem, ...wDef } = w.body;
    if (!c || c.kind !== w.kind || !same(wDef, (({ elem: _e, ...d }) => d)(c.body))) {
      // A changed type or flags needs the set deleted and made again, which the rules that use it prevent.
      if (c) throw invalid(`desired ${w.kind} ${name}`, `differs in its definition from the kernel's (${JSON.stringify(c.body.type)} -> ${JSON.stringify(w.body.type)}); delete it first`, { op: 'nft.sync' });
      // Its elements after the chains, which map elements jump to.
      commands.push({ add: { [w.kind]: wDef } });
      if ((wElem as unknown[] | undefined)?.length) elemOps.push({ add: { element: { ...T, name, elem: wElem } } });
      r.added += 1 + ((wElem as unknown[] | undefined)?.length ?? 0);
      continue;
    }
    r.unchanged++;
    const isMap = w.kind === 'map';
    const have = new Map(((c.body.elem as unknown[] | undefined) ?? []).map((e) => [elemKey(e, isMap), e]));
    const add: unknown[] = [], del: unknown[] = [];
    for (const e of (wElem as unknown[] | undefined) ?? []) {
      const k = elemKey(e, isMap), h = have.get(k);
      have.delete(k);
      if (h === undefined) { add.push(e); r.added++; } else if (!same(h, e)) { del.push(h); add.push(e); r.updated++; } else r.unchanged++;
    }
    for (const e of have.values()) { del.push(e); r.removed++; }
    if (del.length) elemOps.push({ delete: { element: { ...T, name, elem: del } } });
    if (add.length) elemOps.push({ add: { element: { ...T, name, elem: add } } });
  }
  for (const [name, c] of cur.sets) if (!want.sets.has(name)) { last.push({ delete: { [c.kind]: { ...T, name } } }); r.removed += 1 + ((c.body.elem as unknown[] | undefined)?.length ?? 0); }

  const ruleOps: object[] = [];
  for (const [name, w] of want.chains) {
    const c = cur.chains.get(name);
    const wRules = want.rules.get(name) ?? [], cRules = cur.rules.get(name) ?? [];
    if (!c) {
      commands.push({ add: { chain: w } });
      for (const rule of wRules) ruleOps.push({ add: { rule } });
      r.added++;
      continue;
    }
    const defChanged = !same(w, c);
    if (defChanged) commands.push({ add: { chain: w } });
    const rulesChanged = wRules.length !== cRules.length || wRules.some((x, i) => ruleKey(x) !== ruleKey(cRules[i]!));
    if (rulesChanged) {
      ruleOps.push({ flush: { chain: { ...T, name } } });
      for (const rule of wRules) ruleOps.push({ add: { rule } });
    }
    if (defChanged || rulesChanged) r.updated++; else r.unchanged++;
  }
  const gone = [...cur.chains.keys()].filter((n) => !want.chains.has(n));
  // Chains may jump to each other: every one is emptied before any is deleted.
  for (const name of gone) if (cur.rules.get(name)?.length) late.push({ flush: { chain: { ...T, name } } });
  for (const name of gone) last.unshift({ delete: { chain: { ...T, name } } });
  r.removed += gone.length;

  commands.push(...ruleOps, ...elemOps, ...late, ...last);
  return r;
}
