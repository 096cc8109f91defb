// A partial commit on the nf_tables backend (--noflush restores and the builder's changes):
// the table as nf_tables holds it (decoded, with each rule's handle) against the table the text
// leaves (compiled from it by the native restore), turned into only the changes: chains
// created or deleted, built-in chains' policies set, rules deleted by handle and rules inserted
// next to a rule that stays. Rules that stay are not sent again (they keep their handles and
// counters, as under iptables-nft-restore --noflush, which edits rule by rule). Pure: the
// caller sends the messages in one batch with the generation the old table was read at.
import { CHAIN, FAMILY, MSG, RULE, TABLE, VERDICT } from '../../nft/consts.js';
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST } from '../../netlink/headers.js';
import { words } from '../restore-text.js';
import type { Family } from '../types.js';
import { writeRule } from './encode.js';
import type { Entry, EntryChain } from './entries.js';
import { Messages, writeBuiltinChain, type BatchMessage } from './restore.js';
import { BUILTIN_TABLES } from './tables.js';
import { NATIVE_ENCODING, type NftEncoding } from './version.js';

/** One table's two states: what nf_tables holds (`old`, with rule handles) and what the text leaves (`next`). */
export interface PartialTable {
  name: string;
  /** The text's lines of this table (all its `*table` blocks), for the order chains are created in. */
  body: string;
  /** Whether nf_tables has the table now. */
  exists: boolean;
  /**
   * The chains nf_tables has now, decoded; `handles` gives each rule's handle (same order).
   * Chains the text does not name may be `skipped` (rules not read) in both old and next.
   */
  old: EntryChain[];
  handles: Map<string, bigint[]>;
  next: EntryChain[];
  /** `--counters`: a `:CHAIN` line's `[p:b]` is set; else the tool sets the counters to 0. */
  counters: boolean;
}

/** Edit scripts longer than this fall back to deleting and re-adding the chain's rules. */
const MAX_EDITS = 1000;

/**
 * A key that is equal for two rules exactly when they are the same rule with the same counters
 * (the bytes iptables-nft would encode from; jumps by chain name).
 * @example ruleKey(readEntries(4, raw)[0].rules[0]);
 */
export function ruleKey(e: Entry): string {
  const ip = e.ip;
  const a = e.action;
  const act = a.kind === 'none' ? '' : a.kind === 'verdict' ? a.verdict : a.kind === 'jump' ? `${a.goto ? 'g' : 'j'}:${a.chain}` : `t:${a.target.name}:${a.target.revision}:${a.target.data.toString('hex')}`;
  return [
    ip.src.toString('hex'), ip.dst.toString('hex'), ip.smsk.toString('hex'), ip.dmsk.toString('hex'),
    ip.iniface, ip.outiface, ip.proto, ip.flags, ip.invflags,
    e.matches.map((m) => `${m.name}:${m.revision}:${m.data.toString('hex')}`).join(','),
    act, e.packets, e.bytes,
  ].join('|');
}

/**
 * Myers' shortest edit script between a and b: for each element of b, the index in a of the
 * element it keeps, or -1 for an insert; undefined when it needs more than `max` edits.
 * @example keptFrom(['x', 'y'], ['y', 'z'], 10); // [1, -1]
 */
export function keptFrom(a: string[], b: string[], max: number): number[] | undefined {
  const n = a.length, m = b.length;
  // common prefix and suffix first: the usual change touches a few rules of a long chain
  let pre = 0;
  while (pre < n && pre < m && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < n - pre && suf < m - pre && a[n - 1 - suf] === b[m - 1 - suf]) suf++;
  const out = new Array<number>(m).fill(-1);
  for (let i = 0; i < pre; i++) out[i] = i;
  for (let i = 0; i < suf; i++) out[m - 1 - i] = n - 1 - i;
  const A = a.slice(pre, n - suf), B = b.slice(pre, m - suf);
  const N = A.length, M = B.length;
  if (N === 0 || M === 0) return out;
  const off = N + M;
  const v = new Int32Array(2 * off + 2);
  // V as it was before each step d, only its live window [-d-1, d+1] (memory O(D^2), not O(D(N+M)))
  const trace: Int32Array[] = [];
  const at = (tv: Int32Array, d: number, k: number) => tv[k + d + 1]!;
  for (let d = 0; d <= Math.min(N + M, max); d++) {
    trace.push(v.slice(off - d - 1, off + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!) ? v[off + k + 1]! : v[off + k - 1]! + 1;
      let y = x - k;
      while (x < N && y < M && A[x] === B[y]) x++, y++;
      v[off + k] = x;
      if (x < N || y < M) continue;
      // walk back through the trace, marking the diagonal (kept) moves
      let cx = N, cy = M;
      for (let dd = d; dd > 0; dd--) {
        const pv = trace[dd]!;
        const kk = cx - cy;
        const prevK = kk === -dd || (kk !== dd && at(pv, dd, kk - 1) < at(pv, dd, kk + 1)) ? kk + 1 : kk - 1;
        const px = at(pv, dd, prevK), py = px - prevK;
        while (cx > px && cy > py) out[pre + --cy] = pre + --cx;
        cx = px, cy = py;
      }
      while (cx > 0 && cy > 0) out[pre + --cy] = pre + --cx;
      return out;
    }
  }
  return undefined;
}

const CHAIN_ARG = /^(?:-[AIRDNFXZE]|--(?:append|insert|replace|delete|new-chain|flush|delete-chain|zero|rename-chain))$/;

/**
 * The chains a body names, in the order it first names them (`:X`, the chain of each command,
 * both names of a rename); `all` is set when a command names none (`-F`, `-X`, `-Z` alone
 * touch every chain).
 */
function namedOrder(body: string): { names: string[]; all: boolean } {
  const names: string[] = [];
  const seen = new Set<string>();
  let all = false;
  const add = (n: string | undefined) => {
    if (n === undefined || n[0] === '-') return void (all = true);
    if (!seen.has(n)) seen.add(n), names.push(n);
  };
  for (const l of body.split('\n')) {
    if (l[0] === ':') add(words(l.slice(1))[0]);
    else if (l[0] === '-' || l[0] === '[') {
      const w = words(l.replace(/^\[[^\]]*\]\s*/, ''));
      const i = w.findIndex((x) => CHAIN_ARG.test(x));
      if (i < 0) continue;
      add(w[i + 1]);
      if (w[i] === '-E' || w[i] === '--rename-chain') add(w[i + 2]);
    }
  }
  return { names, all };
}

/**
 * The chains a noflush body can change (every other chain keeps its rules: its rules need not
 * be read or compared); undefined when it can change any.
 * @example touchedChains('-A KUBE-SVC-X -j KUBE-SEP-Y\n'); // Set { 'KUBE-SVC-X' }
 */
export function touchedChains(body: string): Set<string> | undefined {
  const { names, all } = namedOrder(body);
  return all ? undefined : new Set(names);
}

/**
 * The messages that turn `old` into `next` for each table, appended to `w`.
 * @example const w = new Messages(0); partialMessages(w, 4, [{ name: 'filter', body, exists: true, old, handles, next, counters: false }]);
 */
export function partialMessages(w: Messages, family: Family, tables: PartialTable[], enc: NftEncoding = NATIVE_ENCODING): Messages {
  const fam = family === 4 ? FAMILY.ip : FAMILY.ip6;
  for (const t of tables) {
    const builtins = BUILTIN_TABLES[t.name];
    if (!builtins) throw new Error(`table ${t.name} is not one iptables-nft knows`);
    const oldBy = new Map(t.old.map((c) => [c.name, c]));
    const nextBy = new Map(t.next.map((c) => [c.name, c]));
    const named = new Set(t.body.split('\n').filter((l) => l[0] === ':').map((l) => words(l.slice(1))[0]!));
    const mentioned = namedOrder(t.body).names;
    // Chains to create: those the text names that nf_tables lacks (a built-in one only when the
    // text names it, as the tool creates a built-in chain when a command needs it).
    const create: EntryChain[] = [];
    const want = (c: EntryChain | undefined) => {
      if (!c || oldBy.has(c.name) || create.includes(c)) return;
      if (c.hook !== undefined && !mentioned.includes(c.name) && !c.rules.length) return;
      create.push(c);
    };
    for (const n of mentioned) want(nextBy.get(n));
    for (const c of t.next) if (c.hook === undefined || c.rules.length) want(c);
    if (!t.exists && create.length) {
      w.begin(MSG.NEWTABLE, NLM_F_REQUEST | NLM_F_CREATE, fam);
      w.str(TABLE.NAME, t.name);
      w.done({ table: t.name, what: `table ${t.name}` });
    }
    const policyOf = (c: EntryChain) => (c.policy === 'DROP' ? VERDICT.drop : VERDICT.accept);
    const countersOf = (c: EntryChain): [bigint, bigint] => (t.counters ? [c.packets, c.bytes] : [0n, 0n]);
    for (const c of create) {
      const b = builtins.find((x) => x.name === c.name);
      if (b) {
        writeBuiltinChain(w, fam, t.name, b, VERDICT.accept);
        w.done({ table: t.name, what: `chain ${c.name}` });
        if (named.has(c.name)) {
          writeBuiltinChain(w, fam, t.name, b, policyOf(c), countersOf(c));
          w.done({ table: t.name, what: `chain ${c.name}` });
        }
      } else {
        w.begin(MSG.NEWCHAIN, NLM_F_REQUEST | NLM_F_EXCL, fam);
        w.str(CHAIN.TABLE, t.name);
        w.str(CHAIN.NAME, c.name);
        w.done({ table: t.name, what: `chain ${c.name}` });
      }
    }
    // nft_chain_set for each `:CHAIN` line of a built-in chain that was there: policy and counters
    for (const b of builtins) {
      const c = nextBy.get(b.name);
      if (!c || !oldBy.has(b.name) || !named.has(b.name)) continue;
      writeBuiltinChain(w, fam, t.name, b, policyOf(c), countersOf(c));
      w.done({ table: t.name, what: `chain ${c.name}` });
    }
    // Rules: deletes first (jumps to chains deleted below go with them), then inserts.
    const inserts: Array<() => void> = [];
    for (const c of t.next) {
      if (c.skipped) continue;  // not named by the text: as it was
      const o = oldBy.get(c.name);
      const handles = t.handles.get(c.name) ?? [];
      const about: BatchMessage = { table: t.name, what: '', chain: c.name };
      const oldRules = o?.rules ?? [];
      const kept = oldRules.length && c.rules.length
        ? keptFrom(oldRules.map(ruleKey), c.rules.map(ruleKey), MAX_EDITS)
        : undefined;
      const keptOld = new Set<number>();
      const from = kept ?? new Array<number>(c.rules.length).fill(-1);
      for (const i of from) if (i >= 0) keptOld.add(i);
      oldRules.forEach((_, i) => {
        if (keptOld.has(i)) return;
        w.begin(MSG.DELRULE, NLM_F_REQUEST, fam);
        w.str(RULE.TABLE, t.name);
        w.str(RULE.CHAIN, c.name);
        w.be64(RULE.HANDLE, handles[i]!);
        w.done({ table: t.name, what: `rule ${i + 1} of chain ${c.name} (delete)`, chain: c.name });
      });
      // New rules go after the last rule kept before them; those before any kept rule go
      // before the first kept rule; with none kept, appended in order.
      const firstKept = from.find((i) => i >= 0);
      let anchor: bigint | undefined;
      let run: Array<[Entry, number]> = [];
      const flush = () => {
        const r = run;
        run = [];
        if (!r.length) return;
        const at = anchor;
        inserts.push(() => {
          // inserting after one rule reverses a run: write it backwards
          const order = at !== undefined ? [...r].reverse() : r;
          for (const [e, n] of order) {
            const pos = at !== undefined ? { handle: at, after: true } : firstKept !== undefined ? { handle: handles[firstKept]!, after: false } : undefined;
            writeRule(w, family, t.name, c.name, e, pos, enc);
            w.ruleDone(about, n + 1);
          }
        });
      };
      c.rules.forEach((e, n) => {
        const k = from[n]!;
        if (k >= 0) {
          flush();
          anchor = handles[k]!;
        } else {
          run.push([e, n]);
        }
      });
      flush();
    }
    for (const f of inserts) f();
    for (const o of t.old) {
      if (nextBy.has(o.name)) continue;
      w.begin(MSG.DELCHAIN, NLM_F_REQUEST, fam);
      w.str(CHAIN.TABLE, t.name);
      w.str(CHAIN.NAME, o.name);
      w.done({ table: t.name, what: `chain ${o.name} (delete)` });
    }
  }
  return w;
}
