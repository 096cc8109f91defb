// nft's JSON statements -> nf_tables expressions, as nft 1.0.6's netlink_linearize.c lays them
// out: registers (NFT_REG_1 for a single value; 32-bit registers inside concatenations), the
// payload dependencies it inserts (meta nfproto in inet tables, meta l4proto before tcp/udp
// headers), prefix matches as shortened loads or bitwise masks, flag matches as
// bitwise + cmp neq 0. Anything else is refused by name rather than encoded differently.
import { NFT_REG_1, regAt, VERDICT } from './consts.js';
import { BYTEORDER, concatLen, ifnameCmpBytes, TYPES, type DataType } from './datatypes.js';
import { invalid, unsupported } from './errors.js';
import { BYTEORDER_OP, CMP, CT_KEY, META_KEY, NUMGEN, PAYLOAD_BASE, type KExpr, type Verdict } from './ir.js';
import { EXT_EXPRESSIONS, EXT_STATEMENTS } from './ext-table.js';
import { exprData, type CompileCtx } from './ext.js';
import { objref } from './objref.js';
import type { Family } from './types.js';
import { CT_DIRS, EXTRA_CT, EXTRA_META, EXTRA_PAYLOAD, EXTRA_TYPES, ifaceIndexType, L4_PROTOCOLS, PROTOCOL_FIELDS } from './payload-fields.js';
import { mergePlan, type MergeCandidate } from './payload-merge.js';
import { concatTypeofPrefix, typeofKey } from './typeof.js';
import { concatIntervalOf, intervalOf } from './intervals.js';
import { BIT_FIELDS, bitValue, flagMask, type BitField } from './bitfields.js';
import { BOOLEAN, rawLayout, rawType, rawValue, type RawLayout } from './expr-raw.js';
import { bitKeyType, keyBitField } from './bitkeys.js';
import { ADDRTYPE, CT_STATE, CT_STATUS, FIB_F_PRESENT, FIB_FLAGS, FIB_RESULT_OIF, FIB_RESULT_TYPE, META_TYPES, PAYLOAD, type ValueType } from './match-tables.js';

const NFPROTO: Record<string, number | undefined> = { ip: 2, ip6: 10 };

/** What the compiler needs to know about the rule's surroundings. */
export interface RuleContext {
  family: Family;
  /** A set or map known by name (created earlier in the batch or read from the kernel). */
  set(name: string): { keyTypes: DataType[]; map: boolean; id?: number; data?: DataType[]; interval?: boolean } | undefined;
  /** Adds an anonymous verdict map (before the rule in the batch); returns its name and id. */
  anonymousMap(keyType: DataType, elements: Array<[Buffer, Verdict]>): { name: string; id: number };
  /** Adds an anonymous set (`{ a, b }` on the right of a match) before the rule; returns its name and id. */
  anonymousSet?(keyTypes: DataType[], keys: Buffer[] | Array<[Buffer, Buffer]>, key: { byteorder: number; typeof?: Buffer; concat?: boolean }): { name: string; id: number };
  /** The index of interface `name` in the target namespace (`meta iif "lo"`); undefined: none. */
  ifindex?(name: string): number | undefined;
  /** Adds an anonymous verdict map (data undefined) or data map on any key before the rule; returns its name and id. */
  anonymousMapOf?(m: AnonymousMapSpec): { name: string; id: number };
  /** A set statement (dynset) writes to set `name`: flag it NFT_SET_EVAL if this batch declares it. */
  dynamic?(name: string): void;
  /**
   * `${base}.${part}` (`${base}[${part}]` for a number), possibly a string made before: the
   * encoder's positions are made once per path, not per rule (encode.ts).
   */
  path?(base: string, part: string | number): string;
}

/** An anonymous map as the rule compiler hands it to the encoder. */
export interface AnonymousMapSpec {
  keyTypes: DataType[];
  /** The data types of a data map; undefined: a verdict map. */
  data?: DataType[];
  elements: Array<[Buffer, Verdict | Buffer]>;
  /**
   * Instead of elements, an interval map's [start, end, value] (prefixes or ranges in the keys):
   * single keys become start and INTERVAL_END elements (intervals.ts), concatenations one element
   * with a KEY_END each (the kernel's pipapo set, NFT_SET_CONCAT).
   */
  ranges?: Array<[Buffer, Buffer, Verdict | Buffer]>;
  /** The key's byte order (nft records the key expression's) and, for concatenations, its typeof record. */
  byteorder: number;
  typeof?: Buffer;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The one key of a `{ name: body }` object and its body. */
export function single(v: unknown, where: string): [string, unknown] {
  const k = soleKey(v, where);
  return [k, (v as Record<string, unknown>)[k]];
}

/**
 * The one own key of an object, or undefined (soleKey's test without throwing: the fast rule
 * compiler's way to step aside). for-in, not Object.keys: no array per expression.
 * @example oneKey({ accept: null }) // 'accept'; oneKey({ a: 1, b: 2 }) // undefined
 */
export function oneKey(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  let only: string | undefined, n = 0;
  for (const k in v) { if (n++) return undefined; only = k; }
  return n === 1 && Object.hasOwn(v, only!) ? only : undefined;
}

/**
 * The one key of a `{ name: body }` object (single() without the pair: the hot paths read the
 * body themselves, no array per expression).
 * @example soleKey({ accept: null }, 'expr[0]') // 'accept'
 */
export function soleKey(v: unknown, where: string): string {
  if (!isObj(v)) throw invalid(where, `expected an object with one key, got ${JSON.stringify(v)}`);
  const only = oneKey(v);
  if (only !== undefined) return only;
  const keys = Object.keys(v);
  if (keys.length !== 1) throw invalid(where, `expected an object with one key, got ${keys.length} (${keys.join(', ')})`);
  return keys[0]!;
}

/** A payload match nft may merge with others: == or != of a known field and a plain value. */
function mergeCandidateOf(st: unknown): MergeCandidate | undefined {
  if (!isObj(st) || !isObj(st.match)) return undefined;
  const { op, left, right } = st.match;
  if ((op !== '==' && op !== '!=') || !isObj(left) || !isObj(left.payload)) return undefined;
  if (!(typeof right === 'number' || (typeof right === 'string' && !right.startsWith('@') && !right.startsWith('$')))) return undefined;
  const { protocol, field } = left.payload;
  const f = PAYLOAD[String(protocol)]?.[String(field)];
  if (!f) return undefined;
  return { base: f[0], offset: f[1], len: f[2], op, protocolKey: PROTOCOL_FIELDS.has(`${String(protocol)} ${String(field)}`) };
}

/** Whether two of the statements are payload matches nft may merge: same base and op, one's bytes right after the other's. */
function mayMerge(list: unknown[]): boolean {
  let first: MergeCandidate | undefined, more: MergeCandidate[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const c = mergeCandidateOf(list[i]);
    if (!c) continue;
    if (!first) { first = c; continue; }
    (more ??= [first]).push(c);
  }
  if (!more) return false;
  for (const a of more) for (const b of more) if (a !== b && a.base === b.base && a.op === b.op && a.offset + a.len === b.offset) return true;
  return false;
}

/** Statements that end a run of merge candidates: all but matches and vmaps. */
const breaksMerge = (st: unknown): boolean => !isObj(st) || !('match' in st || 'vmap' in st);

// One-byte values of dependency matches, shared: the encoder only reads them.
const BYTES = Array.from({ length: 256 }, (_, i) => Buffer.from([i]));
const byteValue = (v: number): Buffer => BYTES[v] ?? Buffer.from([v]);

/** nft's type ids of the sub-byte fields it types in sets (TYPE_DSCP, TYPE_ECN). */
const BITFIELD_SET_TYPE: Record<string, number | undefined> = { dscp: 36, ecn: 37 };

/** Whether nft converts key component x (of type t) to network order for a concatenated interval set: host-order values (meta keys but interface names, marks). */
function swappedKey(x: unknown, t: DataType, where: string): boolean {
  if (t === TYPES.ifname || t.byteorder === BYTEORDER.BIG) return false;
  const k = soleKey(x, where);
  return k === 'meta' || (k !== 'payload' && t.byteorder === BYTEORDER.HOST);
}


export class RuleCompiler {
  readonly out: KExpr[] = [];
  /** Dependencies already established in this rule (by a match or an inserted one). */
  private nfproto: number | undefined;
  private l4proto: number | undefined;
  private lldep = false;
  /** An `ether type 8021q` match (nft's dependency of vlan fields) is in the rule. */
  private vlandep = false;
  /** The match being compiled tests a fib result for presence (`fib ... oif missing`). */
  private fibPresence = false;

  constructor(private readonly ctx: RuleContext) {
    if (ctx.family === 'ip') this.nfproto = 2;
    if (ctx.family === 'ip6') this.nfproto = 10;
  }

  /** A rule's statements, with nft's merges of payload matches on adjacent header bytes (payload-merge.ts). */
  statements(list: unknown[], where: string): void {
    // No two payload matches that nft could merge (same base and op, adjacent bytes): no plan.
    // mergePlan merges only such pairs, so this is exact; it spares kube-proxy's service rules
    // (ip daddr, tcp dport: two candidates, different bases) the plan's allocations.
    if (!mayMerge(list)) {
      for (let i = 0; i < list.length; i++) this.statement(list[i], this.path(where, i));
      return;
    }
    const plan = mergePlan(list, mergeCandidateOf, breaksMerge);
    for (let i = 0; i < list.length; i++) {
      const st = list[i], step = plan[i]!;
      const w = `${where}[${i}]`;
      if (step.kind === 'keep') { this.statement(st, w); continue; }
      const left = (st as { match: { left: unknown } }).match.left;
      this.deps(left, `${w}.match.left`);
      if (step.kind === 'absorbed') continue;
      const parts: Buffer[] = [];
      for (const m of step.members) {
        const { left: l, right } = (list[m] as { match: { left: unknown; right: unknown } }).match;
        const start = this.out.length;
        const t = this.load(l, NFT_REG_1, `${where}[${m}].match.left`);
        this.out.splice(start);
        parts.push(this.value(t, right, `${where}[${m}].match.right`));
      }
      this.out.push(
        { op: 'payload', dreg: NFT_REG_1, base: step.base, offset: step.offset, len: step.len },
        { op: 'cmp', sreg: NFT_REG_1, cmp: CMP[step.op as '==' | '!='], data: Buffer.concat(parts) },
      );
    }
  }


  /** A position below `base` (RuleContext.path). */
  private path(base: string, part: string | number): string {
    return this.ctx.path ? this.ctx.path(base, part) : typeof part === 'number' ? `${base}[${part}]` : `${base}.${part}`;
  }

  statement(st: unknown, where: string): void {
    const kind = soleKey(st, where), body = (st as Record<string, unknown>)[kind];
    const w = this.path(where, kind);
    switch (kind) {
      case 'match': return this.match(body, w);
      case 'accept': case 'drop': case 'return': case 'continue':
        if (body !== null && body !== undefined) throw invalid(w, 'takes no value (null)');
        return this.verdict({ code: VERDICT[kind] });
      case 'jump': case 'goto': return this.verdict(this.verdictOf(kind, body, w));
      case 'counter': return this.counter(body, w);
      case 'mangle': return this.mangle(body, w);
      case 'vmap': return this.vmap(body, w);
      default:
        if (EXT_STATEMENTS[kind]) return EXT_STATEMENTS[kind](body, this.extCtx(), w);
        throw unsupported(where, `statement "${kind}"`);
    }
  }

  verdictOf(kind: string, body: unknown, where: string): Verdict {
    if (kind === 'accept' || kind === 'drop' || kind === 'return' || kind === 'continue') return { code: VERDICT[kind] };
    if (kind !== 'jump' && kind !== 'goto') throw unsupported(where, `verdict "${kind}"`);
    if (!isObj(body) || typeof body.target !== 'string' || body.target === '') throw invalid(where, 'needs { target: "chain name" }');
    if (Buffer.byteLength(body.target) > 255) throw invalid(where, 'chain names are at most 255 bytes');
    return { code: VERDICT[kind], chain: body.target };
  }

  /** What extensions (ext.ts) see of this compiler (made once per rule that uses one). */
  private ext: CompileCtx | undefined;
  private extCtx(): CompileCtx {
    return this.ext ??= this.makeExtCtx();
  }

  private makeExtCtx(): CompileCtx {
    return new RuleCompiler.ExtView(this);
  }

  /** The compiler as extensions see it: one object, methods rather than closures (tsx names every closure it makes). */
  private static readonly ExtView = class implements CompileCtx {
    constructor(private readonly rc: RuleCompiler) {}
    get family(): Family { return this.rc.ctx.family; }
    get out(): KExpr[] { return this.rc.out; }
    l4proto(): number | undefined { return this.rc.l4proto; }
    needL4(p: number, where: string): void { this.dep(META_KEY.l4proto, this.rc.l4proto, p, 'meta l4proto', where); this.rc.l4proto = p; }
    needNfproto(p: number, where: string): void { this.dep(META_KEY.nfproto, this.rc.nfproto, p, 'meta nfproto', where); this.rc.nfproto = p; }
    private dep(key: number, have: number | undefined, want: number, what: string, where: string): void {
      if (have === want) return;
      if (have !== undefined) throw invalid(where, `needs ${what} ${want}, the rule matches ${have}`);
      this.rc.out.push({ op: 'meta', key, dreg: NFT_REG_1 }, { op: 'cmp', sreg: NFT_REG_1, cmp: CMP['=='], data: byteValue(want) });
    }
    loadMap(body: unknown, want: (concat: boolean) => DataType[], where: string): DataType[] { return this.rc.mapValue(body, want, where); }
    setRef(name: string): { keyLen: number; map: boolean; id?: number } | undefined {
      const s = this.rc.ctx.set(name);
      return s && { keyLen: s.keyTypes.length > 1 ? concatLen(s.keyTypes) : s.keyTypes[0]!.len, map: s.map, ...(s.id !== undefined ? { id: s.id } : {}) };
    }
    dynamic(name: string): void { this.rc.ctx.dynamic?.(name); }
    loadAt(e: unknown, word: number, where: string): number {
      this.rc.deps(e, where);
      const [kind, body] = single(e, where);
      const parts = kind === 'concat' && Array.isArray(body) ? body : [e];
      let len = 0;
      for (let i = 0; i < parts.length; i++) {
        const t = this.rc.load(parts[i], regAt(word), parts.length > 1 ? `${where}.concat[${i}]` : where);
        const n = 'id' in t ? t.len : 4;
        len += parts.length > 1 ? (n + 3) & ~3 : n;
        word += (n + 3) >> 2;
      }
      return len;
    }
  };

  private verdict(v: Verdict): void {
    this.out.push({ op: 'immediate', dreg: 0, verdict: v });
  }

  // --- loading values into registers ---------------------------------------------------------

  /** The dependencies a left-hand expression needs, inserted before its loads. */
  private deps(e: unknown, where: string): void {
    if (!isObj(e)) return;
    const kind = soleKey(e, where), body = e[kind];
    if (kind === 'concat' && Array.isArray(body)) return body.forEach((x, i) => this.deps(x, `${where}.concat[${i}]`));
    if ((kind === '&' || kind === '|' || kind === '^') && Array.isArray(body)) return this.deps(body[0], `${where}["${kind}"][0]`);
    if (kind !== 'payload' || !isObj(body) || 'base' in body) return;
    const proto = String(body.protocol);
    // nft's dependencies there are link-layer (meta protocol, ether type): nlkit encodes ether and vlan's only.
    const l2 = this.ctx.family === 'bridge' || this.ctx.family === 'netdev';
    if (this.ctx.family !== 'ip' && this.ctx.family !== 'ip6' && this.ctx.family !== 'inet' && !(l2 && (proto === 'ether' || proto === 'vlan'))) throw unsupported(where, `${proto} header matches in ${this.ctx.family} tables`);
    if (proto === 'vlan') {
      // As nft: meta iiftype ether (all but bridge tables), then ether type 8021q, unless the rule has them.
      if (this.ctx.family !== 'bridge' && !this.lldep) {
        this.out.push({ op: 'meta', key: META_KEY.iiftype, dreg: NFT_REG_1 }, { op: 'cmp', sreg: NFT_REG_1, cmp: CMP['=='], data: Buffer.from([1, 0]) });
        this.lldep = true;
      }
      if (!this.vlandep) {
        this.out.push({ op: 'payload', dreg: NFT_REG_1, base: PAYLOAD_BASE.LL, offset: 12, len: 2 }, { op: 'cmp', sreg: NFT_REG_1, cmp: CMP['=='], data: Buffer.from([0x81, 0]) });
        this.vlandep = true;
      }
      return;
    }
    if (proto === 'ether' && this.ctx.family === 'bridge') return;
    if (proto in NFPROTO) {
      const want = NFPROTO[proto]!;
      // After an ether header nft's dependency is `ether type ip`, not meta nfproto: not encoded.
      if (this.nfproto === undefined && this.lldep) throw unsupported(where, `${proto} header after an ether header in ${this.ctx.family} tables`);
      if (this.nfproto === undefined) {
        this.out.push({ op: 'meta', key: META_KEY.nfproto, dreg: NFT_REG_1 }, { op: 'cmp', sreg: NFT_REG_1, cmp: CMP['=='], data: byteValue(want) });
        this.nfproto = want;
      } else if (this.nfproto !== want) throw invalid(where, `${proto} header in a rule that matches another network protocol`);
    } else if (L4_PROTOCOLS[proto]) {
      const { l4: want, nfproto } = L4_PROTOCOLS[proto]!;
      // icmp and icmpv6 name their network protocol too (meta nfproto first in inet tables).
      if (nfproto !== undefined) this.deps({ payload: { protocol: nfproto === 2 ? 'ip' : 'ip6', field: 'saddr' } }, where);
      if (this.l4proto === undefined) {
        this.out.push({ op: 'meta', key: META_KEY.l4proto, dreg: NFT_REG_1 }, { op: 'cmp', sreg: NFT_REG_1, cmp: CMP['=='], data: byteValue(want) });
        this.l4proto = want;
      } else if (this.l4proto !== want) throw invalid(where, `${proto} header in a rule that matches another transport protocol`);
    } else if (proto === 'ether' && !this.lldep) {
      // nft checks the input interface is an Ethernet one before reading its header.
      this.out.push({ op: 'meta', key: META_KEY.iiftype, dreg: NFT_REG_1 }, { op: 'cmp', sreg: NFT_REG_1, cmp: CMP['=='], data: Buffer.from([1, 0]) });
      this.lldep = true;
    }
  }

  /** Loads e into register `reg`; returns its type. `shorten`: a prefix length to load only whole bytes of. */
  private load(e: unknown, reg: number, where: string, loadLen?: number): ValueType {
    const kind = soleKey(e, where), body = (e as Record<string, unknown>)[kind];
    const w = this.path(where, kind);
    switch (kind) {
      case 'payload': {
        if (!isObj(body)) throw invalid(w, 'needs { protocol, field }');
        if ('base' in body) {
          const r = this.raw(body, w);
          if (r.mask) throw unsupported(w, `a raw payload not on byte boundaries (${String(body.offset)}, ${String(body.len)}) anywhere but compared with == or != a value`);
          this.out.push({ op: 'payload', dreg: reg, base: r.base, offset: r.offset, len: r.len });
          return rawType(r.len);
        }
        const f = PAYLOAD[String(body.protocol)]?.[String(body.field)];
        const bk = f ? undefined : keyBitField(e);
        if (bk) return this.loadBitKey(bk, reg, w);
        if (!f) throw unsupported(w, `payload "${body.protocol} ${body.field}"`);
        if (this.ctx.family !== 'inet' && (body.protocol === 'ip' || body.protocol === 'ip6') && NFPROTO[String(body.protocol)] !== this.nfproto) {
          throw invalid(w, `${body.protocol} header in an ${this.ctx.family} table`);
        }
        this.out.push({ op: 'payload', dreg: reg, base: f[0], offset: f[1], len: loadLen ?? f[2] });
        return f[3];
      }
      case 'meta': {
        const key = isObj(body) ? String(body.key) : '';
        if (key === 'iif' || key === 'oif') {
          // nft resolves names to indexes in its namespace when it reads the rule.
          const ifindex = this.ctx.ifindex;
          this.out.push({ op: 'meta', key: META_KEY[key], dreg: reg });
          return ifaceIndexType((n) => ifindex?.(n) ?? (() => { throw invalid(where, `interface ${JSON.stringify(n)} does not exist in the namespace (meta ${key} takes an existing interface; iifname/oifname match by name)`); })(), () => undefined);
        }
        const t = META_TYPES[key];
        if (!t) throw unsupported(w, `meta key "${key}"`);
        this.out.push({ op: 'meta', key: META_KEY[key as keyof typeof META_KEY], dreg: reg });
        return t;
      }
      case 'ct': {
        if (!isObj(body)) throw invalid(w, 'needs { key }');
        if (body.family !== undefined) throw unsupported(w, 'ct with a family');
        const key = String(body.key);
        if (body.dir !== undefined || EXTRA_CT[key]) return this.ctExtra(key, body.dir, reg, w);
        if (!(key in CT_KEY)) throw unsupported(w, `ct key "${key}"`);
        this.out.push({ op: 'ct', key: CT_KEY[key as keyof typeof CT_KEY], dreg: reg });
        return key === 'mark' ? TYPES.mark : { name: key === 'state' ? 'ct_state' : 'ct_status', len: 4 };
      }
      case 'fib': {
        // `oif` only tested for presence (`missing`/`exists`: a boolean on the right, see match()).
        if (!isObj(body) || (body.result !== 'type' && !(body.result === 'oif' && this.fibPresence))) throw unsupported(w, `fib result "${isObj(body) ? body.result : body}"${isObj(body) && body.result === 'oif' ? ' (only tested with missing or exists)' : ''}`);
        const flags = Array.isArray(body.flags) ? body.flags : [body.flags];
        let f = 0;
        for (const x of flags) {
          if (typeof x !== 'string' || !(x in FIB_FLAGS)) throw invalid(w, `unknown fib flag ${JSON.stringify(x)}`);
          f |= FIB_FLAGS[x]!;
        }
        if (body.result === 'oif') {
          this.out.push({ op: 'fib', flags: f | FIB_F_PRESENT, result: FIB_RESULT_OIF, dreg: reg });
          return { name: 'fib_present', len: 4 };
        }
        this.out.push({ op: 'fib', flags: f, result: FIB_RESULT_TYPE, dreg: reg });
        return { name: 'fib_addrtype', len: 4 };
      }
      case 'numgen': {
        if (!isObj(body) || (body.mode !== 'random' && body.mode !== 'inc')) throw unsupported(w, `numgen mode "${isObj(body) ? body.mode : body}"`);
        const mod = body.mod, offset = body.offset ?? 0;
        if (typeof mod !== 'number' || !Number.isInteger(mod) || mod < 1 || mod > 0xffffffff) throw invalid(w, 'mod must be an integer from 1');
        if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > 0xffffffff) throw invalid(w, 'offset must be a non-negative integer');
        this.out.push({ op: 'numgen', dreg: reg, mod, type: NUMGEN[body.mode], offset });
        return TYPES.integer;
      }
      default:
        if (EXT_EXPRESSIONS[kind]) return EXT_EXPRESSIONS[kind](body, this.extCtx(), reg, w);
        throw unsupported(w, `expression "${kind}"`);
    }
  }

  /** ct keys of payload-fields.ts: direction, zone, l3proto, protocol, `ct original|reply saddr|daddr|proto-src|proto-dst`. */
  private ctExtra(key: string, dir: unknown, reg: number, where: string): DataType {
    const k = EXTRA_CT[key];
    if (!k) throw unsupported(where, `ct key "${key}"${dir !== undefined ? ` with a direction` : ''}`);
    if (k.dir && dir === undefined) throw invalid(where, `ct ${key} needs a direction (original or reply)`);
    if (!k.dir && dir !== undefined) throw unsupported(where, `ct ${String(dir)} ${key}`);
    const d = dir === undefined ? undefined : CT_DIRS.indexOf(String(dir));
    if (d !== undefined && d < 0) throw invalid(where, `unknown ct direction ${JSON.stringify(dir)} (original or reply)`);
    let t = k.type;
    if (t === 'addr') {
      if (this.ctx.family !== 'ip' && this.ctx.family !== 'ip6') throw invalid(where, `ct ${String(dir)} ${key} in an ${this.ctx.family} table needs a family (ct ${String(dir)} ip ${key})`);
      t = this.ctx.family === 'ip' ? TYPES.ipv4_addr : TYPES.ipv6_addr;
    }
    if ((key === 'proto-src' || key === 'proto-dst') && this.l4proto === undefined) throw invalid(where, `ct ${String(dir)} ${key} needs a transport protocol match first (meta l4proto)`);
    this.out.push(d === undefined ? { op: 'ct', key: k.key, dreg: reg } : { op: 'ct', key: k.key, dreg: reg, dir: d });
    return t;
  }

  /** Loads a concatenation or a single value; returns the component types. */
  private loadKey(e: unknown, where: string, concatInterval = false): DataType[] {
    const [kind, body] = single(e, where);
    if (kind !== 'concat') {
      const t = this.load(e, NFT_REG_1, where);
      if (!('id' in t)) throw unsupported(where, `${t.name} as a set key`);
      return [t];
    }
    if (!Array.isArray(body) || body.length < 2) throw invalid(`${where}.concat`, 'needs at least two expressions');
    const types: DataType[] = [];
    let word = 0;
    body.forEach((x, i) => {
      const t = this.load(x, regAt(word), `${where}.concat[${i}]`);
      if (!('id' in t)) throw unsupported(`${where}.concat[${i}]`, `${t.name} in a concatenation`);
      // A concatenated interval set compares big-endian fields: nft converts host-order values (meta keys but names, marks).
      if (concatInterval && swappedKey(x, t, where)) {
        const reg = regAt(word);
        this.out.push({ op: 'byteorder', sreg: reg, dreg: reg, bop: BYTEORDER_OP.hton, len: t.len, size: t.len % 8 === 0 ? 8 : t.len % 4 === 0 ? 4 : 2 });
      }
      types.push(t);
      word += (t.len + 3) >> 2;
    });
    return types;
  }

  // --- statements ----------------------------------------------------------------------------

  private match(body: unknown, where: string): void {
    if (!isObj(body)) throw invalid(where, 'needs { op, left, right }');
    const { op, left, right } = body;
    if (typeof op !== 'string') throw invalid(`${where}.op`, 'must be a string');
    const wl = this.path(where, 'left');
    this.deps(left, wl);
    const lkind = soleKey(left, wl), lbody = (left as Record<string, unknown>)[lkind];
    // Only sub-byte fields and tcp flags tests go there (a cheap test first: this runs for every match).
    const bitCandidate = lkind === 'payload' ? BIT_FIELDS[String((lbody as Record<string, unknown>).protocol)]?.[String((lbody as Record<string, unknown>).field)] !== undefined || (lbody as Record<string, unknown>).field === 'flags'
      : lkind === '&' || op === 'in';
    if (bitCandidate && this.bitMatch(op, left, right, where)) return;
    if (lkind === 'payload' && isObj(lbody) && 'base' in lbody && this.rawBits(op, lbody, right, where)) return;
    if (lkind === '&' && Array.isArray(lbody) && isObj(lbody[0]) && isObj(lbody[0].payload) && 'base' in lbody[0].payload) return this.rawMasked(op, lbody, right, where);
    if (lkind === 'fib' && isObj(lbody) && lbody.result === 'oif') {
      // `fib saddr . iif oif missing` (false) / `exists` (true): the present flag and a 32-bit boolean.
      if ((op !== '==' && op !== '!=') || typeof right !== 'boolean') throw unsupported(where, 'fib oif compared with anything but missing/exists (false/true)');
      this.fibPresence = true;
      try { this.load(left, NFT_REG_1, wl); } finally { this.fibPresence = false; }
      const data = Buffer.alloc(4);
      data.writeUInt32LE(right ? 1 : 0);
      this.out.push({ op: 'cmp', sreg: NFT_REG_1, cmp: CMP[op], data });
      return;
    }

    // Set lookups: `left == @set`.
    if (typeof right === 'string' && right.startsWith('@')) {
      if (op !== '==') throw unsupported(where, `"${op}" with a set (only "==")`);
      const name = right.slice(1);
      const s = this.ctx.set(name);
      const types = this.loadKey(left, wl, s?.interval === true && s.keyTypes.length > 1);
      this.checkSet(name, types, false, `${where}.right`);
      this.out.push({ op: 'lookup', sreg: NFT_REG_1, set: name, setId: s?.id });
      return;
    }
    if (isObj(right) && Array.isArray(right.set) && this.ctx.anonymousSet) return this.anonymousSetMatch(op, left, right.set, where);
    if (isObj(right) && 'range' in right && lkind !== 'concat') return this.rangeMatch(op, left, right.range, where);
    if (lkind === 'concat') throw unsupported(where, 'a concatenation compared with a value (only with @set)');

    // Binary operations on the left: `meta mark & 0x4000 == 0`.
    if (lkind === '&' || lkind === '|' || lkind === '^') {
      if (op !== '==' && op !== '!=') throw unsupported(where, `"${op}" after a binary operation`);
      const [inner, mask, xor] = this.binop(lkind, lbody, wl);
      this.out.push({ op: 'cmp', sreg: NFT_REG_1, cmp: CMP[op], data: this.value(inner, right, `${where}.right`) });
      void mask; void xor;
      return;
    }

    // Flag matches: `ct state { established, related }` -> bitwise & mask, != 0.
    if (lkind === 'ct' && isObj(lbody) && (lbody.key === 'state' || lbody.key === 'status')) {
      if (op !== 'in') throw unsupported(where, `ct ${lbody.key} with "${op}" (only "in")`);
      this.load(left, NFT_REG_1, wl);
      const names = Array.isArray(right) ? right : [right];
      const table = lbody.key === 'state' ? CT_STATE : CT_STATUS;
      let m = 0;
      names.forEach((n, i) => {
        if (typeof n !== 'string' || !(n in table)) throw invalid(`${where}.right${Array.isArray(right) ? `[${i}]` : ''}`, `unknown ct ${lbody.key} ${JSON.stringify(n)}`);
        m |= table[n]!;
      });
      const mask = Buffer.alloc(4);
      mask.writeUInt32LE(m);
      this.out.push(
        { op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: 4, mask, xor: Buffer.alloc(4), bool: false },
        { op: 'cmp', sreg: NFT_REG_1, cmp: CMP['!='], data: Buffer.alloc(4) },
      );
      return;
    }

    if (!(op in CMP)) throw unsupported(where, `match operator "${op}"`);
    const ordering = op !== '==' && op !== '!=';

    // Prefixes: whole bytes shorten the load; the rest is masked.
    if (isObj(right) && 'prefix' in right) {
      if (ordering) throw unsupported(where, `"${op}" with a prefix`);
      const p = right.prefix;
      if (lkind !== 'payload' || !isObj(p)) throw unsupported(where, 'a prefix on anything but an address');
      const f = PAYLOAD[String((lbody as Record<string, unknown>).protocol)]?.[String((lbody as Record<string, unknown>).field)];
      if (!f || (f[3] !== TYPES.ipv4_addr && f[3] !== TYPES.ipv6_addr)) throw unsupported(where, 'a prefix on anything but an address');
      const bits = f[2] * 8, len = p.len;
      if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > bits) throw invalid(`${where}.right.prefix.len`, `must be an integer from 0 to ${bits}`);
      const addr = f[3].parse(p.addr);
      if (!addr) throw invalid(`${where}.right.prefix.addr`, `not an ${f[3].name}: ${JSON.stringify(p.addr)}`);
      if (len === 0) throw unsupported(where, 'a /0 prefix');
      const maskBytes = Buffer.alloc(f[2]);
      for (let i = 0; i < len; i++) maskBytes[i >> 3]! |= 0x80 >> (i & 7);
      const net = Buffer.from(addr.map((b, i) => b & maskBytes[i]!));
      if (len % 8 === 0) {
        this.load(left, NFT_REG_1, wl, len / 8);
        this.out.push({ op: 'cmp', sreg: NFT_REG_1, cmp: CMP[op as keyof typeof CMP], data: net.subarray(0, len / 8) });
      } else {
        this.load(left, NFT_REG_1, wl);
        this.out.push(
          { op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: f[2], mask: maskBytes, xor: Buffer.alloc(f[2]), bool: false },
          { op: 'cmp', sreg: NFT_REG_1, cmp: CMP[op as keyof typeof CMP], data: net },
        );
      }
      return;
    }
    if (Array.isArray(right) || (isObj(right) && ('set' in right || 'range' in right))) throw unsupported(where, 'anonymous sets and ranges on the right of a match');

    const t = this.load(left, NFT_REG_1, wl);
    // Interface names: `"veth*"` compares the bytes before the `*` (nft's wildcard).
    const wr = this.path(where, 'right');
    let data = t === TYPES.ifname && typeof right === 'string' && !right.startsWith('$') ? this.ifnameCmp(right, wr) : this.value(t, right, wr);
    if (ordering) {
      // As nft: host-order values (marks, numgen) are compared in network order.
      if (!('byteorder' in t) || t.byteorder === BYTEORDER.INVALID || (t.byteorder === BYTEORDER.HOST && t.len !== 4)) throw unsupported(where, `"${op}" on a ${t.name}`);
      if (t.byteorder === BYTEORDER.HOST) {
        this.out.push({ op: 'byteorder', sreg: NFT_REG_1, dreg: NFT_REG_1, bop: BYTEORDER_OP.hton, len: 4, size: 4 });
        data = Buffer.from(data).reverse();
      }
    }
    this.out.push({ op: 'cmp', sreg: NFT_REG_1, cmp: CMP[op as keyof typeof CMP], data });
    // An explicit protocol match is the dependency later headers need.
    if (op === '==' && lkind === 'payload' && isObj(lbody) && lbody.protocol === 'ether' && lbody.field === 'type' && data.equals(Buffer.from([0x81, 0]))) this.vlandep = true;
    if (op === '==' && lkind === 'meta' && isObj(lbody)) {
      if (lbody.key === 'l4proto') this.l4proto = data[0];
      if (lbody.key === 'nfproto') this.nfproto = data[0];
    }
  }

  /** `left ==|!= { a, b, ... }`: an anonymous constant set and a lookup (inverted for !=), as nft makes them. */
  private anonymousSetMatch(op: string, left: unknown, elems: unknown[], where: string): void {
    if (op !== '==' && op !== '!=') throw unsupported(where, `"${op}" with an anonymous set (only == and !=)`);
    if (elems.length === 0) throw invalid(`${where}.right.set`, 'must not be empty');
    const start = this.out.length;
    // A prefix or range inside a concatenation makes a concatenated interval set (intervals.ts, concatIntervalOf).
    const concatInterval = soleKey(left, `${where}.left`) === 'concat' && elems.some((e) => isObj(e) && Array.isArray(e.concat) && e.concat.some((c) => isObj(c) && ('prefix' in c || 'range' in c)));
    const types = concatInterval ? this.loadKey(left, `${where}.left`, true) : this.loadKeyValues(left, `${where}.left`);
    const loads = this.out.splice(start);
    // Any prefix or range makes it an interval set (intervals.ts): single big-endian keys only.
    const interval = elems.some((e) => isObj(e) && ('prefix' in e || 'range' in e));
    if (interval && types.length !== 1) throw unsupported(`${where}.right`, 'prefixes and ranges in an anonymous set of concatenations');
    if (concatInterval) {
      const ranges = elems.map((e, i) => {
        if (isObj(e) && 'elem' in e) throw unsupported(`${where}.right.set[${i}]`, 'element options in an anonymous set');
        return concatIntervalOf(e, types, `${where}.right.set[${i}]`);
      });
      const parts = (left as { concat: unknown[] }).concat;
      const swapped = parts.findIndex((x, i) => swappedKey(x, types[i]!, where));
      const s = this.ctx.anonymousSet!(types, ranges, { byteorder: BYTEORDER.INVALID, typeof: concatTypeofPrefix(swapped < 0 ? parts : parts.slice(0, swapped)), concat: true });
      this.out.push(...loads, { op: 'lookup', sreg: NFT_REG_1, set: s.name, setId: s.id, ...(op === '!=' ? { inv: true } : {}) });
      return;
    }
    const keys = elems.map((e, i) => {
      const w = `${where}.right.set[${i}]`;
      if (isObj(e) && 'elem' in e) throw unsupported(w, 'element options in an anonymous set');
      if (interval) return intervalOf(e, types[0]!, w);
      return types.length === 1 ? this.value(types[0]!, e, w) : elementKey(e, types as DataType[], w);
    }) as Buffer[] | Array<[Buffer, Buffer]>;
    // nft records the key expression in the set: its byte order (meta and most ct keys host, payload big endian) and typeof.
    const [lk, lb] = single(left, `${where}.left`);
    const byteorder = types.length > 1 ? BYTEORDER.INVALID : lk === 'payload' ? BYTEORDER.BIG : lk === 'meta' ? (types[0]!.byteorder === BYTEORDER.BIG ? BYTEORDER.BIG : BYTEORDER.HOST)
      : lk === 'ct' && types[0] === TYPES.inet_proto ? BYTEORDER.BIG : types[0]!.byteorder;
    void lb;
    // nft's record of a concatenation stops before a shifted sub-byte field (bitkeys.ts), as before a converted one.
    const shifted = lk === 'concat' ? (lb as unknown[]).findIndex((x) => (keyBitField(x)?.shift ?? 0) > 0) : -1;
    const s = this.ctx.anonymousSet!(types as DataType[], keys, { byteorder, typeof: shifted >= 0 ? concatTypeofPrefix((lb as unknown[]).slice(0, shifted)) : typeofKey(left).udata });
    this.out.push(...loads, { op: 'lookup', sreg: NFT_REG_1, set: s.name, setId: s.id, ...(op === '!=' ? { inv: true } : {}) });
  }

  /** The byte order nft records for a key expression in an anonymous set or map's user data. */
  private keyByteorder(left: unknown, types: DataType[], where: string): number {
    const [lk] = single(left, where);
    return types.length > 1 ? BYTEORDER.INVALID : lk === 'payload' ? BYTEORDER.BIG : lk === 'meta' ? (types[0]!.byteorder === BYTEORDER.BIG ? BYTEORDER.BIG : BYTEORDER.HOST)
      : lk === 'ct' && types[0] === TYPES.inet_proto ? BYTEORDER.BIG : types[0]!.byteorder;
  }

  /**
   * `{ key, data: "@map" | { set: [[key, value], ...] } }`: the key looked up in a data map, its
   * value into NFT_REG_1 (as nft: `meta mark set ip saddr map @m`, `dnat to ... map { }`).
   * `want` gives an anonymous map's data types (by whether its values are concatenations).
   * Returns the data types.
   */
  mapValue(body: unknown, want: (concat: boolean) => DataType[], where: string): DataType[] {
    if (!isObj(body)) throw invalid(where, 'needs { key, data }');
    for (const k of Object.keys(body)) if (k !== 'key' && k !== 'data') throw invalid(`${where}.${k}`, 'unknown map property (key, data)');
    this.deps(body.key, `${where}.key`);
    const data = body.data;
    if (typeof data === 'string' && data.startsWith('@')) {
      const name = data.slice(1);
      const s = this.ctx.set(name);
      this.noShiftedMapKey(body.key, `${where}.key`);
      const types = this.loadKey(body.key, `${where}.key`);
      if (s && (!s.map || !s.data)) throw invalid(`${where}.data`, `@${name} is ${s.map ? 'a verdict map (use vmap)' : 'a set'}`);
      if (s) this.checkSet(name, types, true, `${where}.data`);
      this.out.push({ op: 'lookup', sreg: NFT_REG_1, dreg: NFT_REG_1, set: name, setId: s?.id });
      return s?.data ?? want(false);
    }
    if (!isObj(data) || !Array.isArray(data.set)) throw invalid(`${where}.data`, 'must be "@map" or { set: [[key, value], ...] }');
    if (data.set.length === 0) throw invalid(`${where}.data.set`, 'must not be empty');
    if (!this.ctx.anonymousMapOf) throw unsupported(where, 'anonymous maps here');
    const first = data.set[0];
    const dataTypes = want(Array.isArray(first) && isObj(first[1]) && 'concat' in first[1]);
    if (hasIntervals(data.set)) {
      const loads = this.intervalMap(body.key, data.set, dataTypes, where);
      this.out.push(...loads);
      return dataTypes;
    }
    const bf = keyBitField(body.key);
    if (bf) { this.bitFieldMap(bf, data.set, dataTypes, where); return dataTypes; }
    const start = this.out.length;
    const types = this.loadKeyValues(body.key, `${where}.key`);
    const loads = this.out.splice(start);
    const elements = data.set.map((pair, i): [Buffer, Buffer] => {
      const w = `${where}.data.set[${i}]`;
      if (!Array.isArray(pair) || pair.length !== 2) throw invalid(w, 'must be [key, value]');
      if (isObj(pair[0]) && ('elem' in pair[0] || 'prefix' in pair[0] || 'range' in pair[0])) throw unsupported(`${w}[0]`, 'element options, prefixes and ranges in an anonymous map');
      // Values may be concatenations too (`dnat ip to ip daddr map { a : b . port }`), padded as keys are.
      return [types.length === 1 ? this.value(types[0]!, pair[0], `${w}[0]`) : elementKey(pair[0], types, `${w}[0]`),
        dataTypes.length === 1 ? this.value(dataTypes[0]!, pair[1], `${w}[1]`) : elementKey(pair[1], dataTypes, `${w}[1]`)];
    });
    const byteorder = this.keyByteorder(body.key, types, `${where}.key`);
    const m = this.ctx.anonymousMapOf({ keyTypes: types, data: dataTypes, elements, byteorder, ...(types.length > 1 ? { typeof: typeofKey(body.key).udata } : {}) });
    this.out.push(...loads, { op: 'lookup', sreg: NFT_REG_1, dreg: NFT_REG_1, set: m.name, setId: m.id });
    return dataTypes;
  }

  /**
   * Sub-byte fields (bitfields.ts: load, mask, compare the shifted value) and tcp flags tests
   * (`in`: & mask != 0; `{ "&": [tcp flags, mask] } ==|!= value`); false for other matches.
   */
  private bitMatch(op: string, left: unknown, right: unknown, where: string): boolean {
    const [lk, lb] = single(left, `${where}.left`);
    const pay = (e: unknown) => (isObj(e) && isObj(e.payload) ? e.payload as Record<string, unknown> : undefined);
    const isFlags = (e: unknown) => pay(e)?.protocol === 'tcp' && pay(e)?.field === 'flags';
    const p = lk === 'payload' && isObj(lb) ? lb : undefined;
    const bf = p ? BIT_FIELDS[String(p.protocol)]?.[String(p.field)] : undefined;
    if (bf) {
      // `ip dscp @s`: a lookup of the shifted value (match(), loadBitKey).
      if (typeof right === 'string' && right.startsWith('@') && keyBitField(left)) return false;
      if (op !== '==' && op !== '!=') throw unsupported(where, `"${op}" on ${bf.protocol} ${bf.field}`);
      // A set of dscp or ecn values (one-byte loads): the masked load looked up in an anonymous
      // set of values in place, typed dscp/ecn, as nft makes it (no typeof record).
      // A set of one value is that value, as nft evaluates it.
      if (isObj(right) && Array.isArray(right.set) && right.set.length === 1 && Object.keys(right).length === 1) right = right.set[0];
      // (ip6 dscp and flowlabel, ip hdrlength: wider loads, integer-typed sets but for dscp and ecn.)
      const setType = isObj(right) && Array.isArray(right.set) && bf.protocol !== 'vlan' && bf.mask ? BITFIELD_SET_TYPE[bf.field] ?? TYPES.integer.id : undefined;
      if (setType && isObj(right) && Array.isArray(right.set) && this.ctx.anonymousSet) {
        if (right.set.length === 0) throw invalid(`${where}.right.set`, 'must not be empty');
        const keys = right.set.map((v, i) => {
          const b = typeof v === 'number' || typeof v === 'string' ? bitValue(bf, v) : undefined;
          if (!b) throw invalid(`${where}.right.set[${i}]`, `not a valid ${bf.protocol} ${bf.field}: ${JSON.stringify(v)}`);
          return b;
        });
        this.deps(left, `${where}.left`);
        const s = this.ctx.anonymousSet([{ name: bf.field, id: setType, len: bf.len, byteorder: BYTEORDER.BIG, parse: () => undefined, format: (b) => b[0]! }], keys, { byteorder: BYTEORDER.BIG });
        this.out.push(
          { op: 'payload', dreg: NFT_REG_1, base: bf.base, offset: bf.offset, len: bf.len },
          { op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: bf.len, mask: bf.mask!, xor: Buffer.alloc(bf.len), bool: true },
          { op: 'lookup', sreg: NFT_REG_1, set: s.name, setId: s.id, ...(op === '!=' ? { inv: true } : {}) },
        );
        return true;
      }
      if (typeof right !== 'number' && typeof right !== 'string') throw unsupported(`${where}.right`, `${JSON.stringify(right)} with ${bf.protocol} ${bf.field} (only a value)`);
      if (this.ctx.family !== 'inet' && (bf.protocol === 'ip' || bf.protocol === 'ip6') && NFPROTO[bf.protocol] !== this.nfproto) throw invalid(`${where}.left`, `${bf.protocol} header in an ${this.ctx.family} table`);
      const data = bitValue(bf, right);
      if (!data) throw invalid(`${where}.right`, `not a valid ${bf.protocol} ${bf.field}: ${JSON.stringify(right)}`);
      this.out.push({ op: 'payload', dreg: NFT_REG_1, base: bf.base, offset: bf.offset, len: bf.len });
      if (bf.mask) this.out.push({ op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: bf.len, mask: bf.mask, xor: Buffer.alloc(bf.len), bool: true });
      this.out.push({ op: 'cmp', sreg: NFT_REG_1, cmp: CMP[op], data });
      return true;
    }
    const masked = lk === '&' && Array.isArray(lb) && lb.length === 2 && isFlags(lb[0]);
    if (!(op === 'in' && isFlags(left)) && !masked) return false;
    const mask = flagMask(masked ? (lb as unknown[])[1] : right);
    if (mask === undefined) throw invalid(masked ? `${where}.left["&"][1]` : `${where}.right`, `not tcp flags: ${JSON.stringify(masked ? (lb as unknown[])[1] : right)}`);
    if (masked && op !== '==' && op !== '!=') throw unsupported(where, `"${op}" after a mask of tcp flags`);
    const value = masked ? flagMask(right) : 0;
    if (value === undefined) throw invalid(`${where}.right`, `not tcp flags: ${JSON.stringify(right)}`);
    this.load(masked ? (lb as unknown[])[0] : left, NFT_REG_1, `${where}.left`);
    this.out.push(
      { op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: 1, mask: Buffer.from([mask]), xor: Buffer.alloc(1), bool: masked },
      { op: 'cmp', sreg: NFT_REG_1, cmp: CMP[masked ? op as '==' | '!=' : '!='], data: Buffer.from([value]) },
    );
    return true;
  }

  /** `left ==|!= a-b`: as nft, two comparisons (>= a, <= b) for ==, one range expression for !=. */
  private rangeMatch(op: string, left: unknown, range: unknown, where: string): void {
    if (op !== '==' && op !== '!=') throw unsupported(where, `"${op}" with a range`);
    const t = this.load(left, NFT_REG_1, `${where}.left`);
    if (!('parse' in t)) throw unsupported(where, `a range of ${t.name}`);
    const [from, to] = intervalOf({ range }, t, `${where}.right`);
    if (op === '==') this.out.push({ op: 'cmp', sreg: NFT_REG_1, cmp: CMP['>='], data: from }, { op: 'cmp', sreg: NFT_REG_1, cmp: CMP['<='], data: to });
    else this.out.push({ op: 'range', sreg: NFT_REG_1, rop: 1, from, to });
  }

  /** A sub-byte field as a set key (bitkeys.ts): loaded, masked and shifted to its value. */
  private loadBitKey(bf: BitField, reg: number, where: string): DataType {
    if (this.ctx.family !== 'inet' && NFPROTO[bf.protocol] !== this.nfproto) throw invalid(where, `${bf.protocol} header in an ${this.ctx.family} table`);
    this.out.push(
      { op: 'payload', dreg: reg, base: bf.base, offset: bf.offset, len: bf.len },
      { op: 'bitwise', sreg: reg, dreg: reg, len: bf.len, mask: bf.mask!, xor: Buffer.alloc(bf.len), bool: true },
    );
    if (bf.shift) this.out.push({ op: 'shift', sreg: reg, dreg: reg, len: bf.len, rshift: bf.shift });
    return bitKeyType(bf);
  }

  /** Like loadKey, for keys of any value type with a length (header fields of payload-fields.ts too). */
  private loadKeyValues(e: unknown, where: string): DataType[] {
    const [kind, body] = single(e, where);
    if (kind === 'concat') return this.loadKey(e, where);
    // nft keeps a lone sub-byte field's values in place in a rule's own set or map (bitMatch, anonymousVmap), not shifted.
    if (keyBitField(e)) throw unsupported(where, `${(body as { protocol: string }).protocol} ${(body as { field: string }).field} as this key (sets, maps and lookups only)`);
    const t = this.load(e, NFT_REG_1, where);
    void body;
    if (t.name === 'ct_state') return [EXTRA_TYPES.ct_state];
    if (!('parse' in t)) throw unsupported(where, `${t.name} in an anonymous set`);
    return [t];
  }

  private ifnameCmp(v: string, where: string): Buffer {
    const b = ifnameCmpBytes(v);
    if (!b) throw invalid(where, `not a valid ifname: ${JSON.stringify(v)}`);
    return b;
  }

  /** A constant of type t. */
  private value(t: ValueType, v: unknown, where: string): Buffer {
    if (t.name === 'fib_addrtype') {
      const i = typeof v === 'string' ? ADDRTYPE.indexOf(v) : -1;
      if (i < 0) throw invalid(where, `unknown address type ${JSON.stringify(v)}`);
      const b = Buffer.alloc(4);
      b.writeUInt32LE(i);
      return b;
    }
    if (!('parse' in t)) throw unsupported(where, `a ${t.name} compared with a value`);
    if (typeof v === 'string' && v.startsWith('$')) throw unsupported(where, 'variables');
    const b = t.parse(v);
    if (!b) throw invalid(where, `not a valid ${t.name}: ${JSON.stringify(v)}`);
    return b;
  }

  /** `{ "&": [expr, value] }` etc. on register 1: loads, then one bitwise; returns the type. */
  private binop(kind: string, body: unknown, where: string, nested = false): [ValueType, Buffer, Buffer] {
    // A chain (`mark & 0xff00 ^ 0x12`, firewalld's masked marks) folds into one mask and xor, as nft's netlink_gen_binop does.
    const chain: Array<[string, unknown, string]> = [];
    let k = kind, b = body, w = where;
    for (;;) {
      if (!Array.isArray(b) || b.length !== 2) throw invalid(`${w}["${k}"]`, 'needs [expression, value]');
      chain.push([k, b[1], `${w}["${k}"][1]`]);
      const ik = isObj(b[0]) ? soleKey(b[0], `${w}["${k}"][0]`) : '';
      if (ik !== '&' && ik !== '|' && ik !== '^') break;
      if (!nested) throw unsupported(where, 'a chain of binary operations here (only when setting a mark)');
      w = `${w}["${k}"][0]`; b = (b[0] as Record<string, unknown>)[ik]; k = ik;
    }
    const t = this.load((b as unknown[])[0], NFT_REG_1, `${w}["${k}"][0]`);
    if (t !== TYPES.mark) throw unsupported(where, `binary operations on ${t.name} (only marks)`);
    let m = 0xffffffff, x = 0;
    for (let i = chain.length - 1; i >= 0; i--) {
      const [op, val, wv] = chain[i]!;
      const v = this.value(t, val, wv).readUInt32LE(0);
      if (op === '&') { m = (m & v) >>> 0; x = (x & v) >>> 0; }
      else if (op === '|') { m = (m & ~v) >>> 0; x = (x | v) >>> 0; }
      else x = (x ^ v) >>> 0;
    }
    const mask = Buffer.alloc(4), xor = Buffer.alloc(4);
    mask.writeUInt32LE(m);
    xor.writeUInt32LE(x);
    this.out.push({ op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: 4, mask, xor, bool: true });
    return [t, mask, xor];
  }

  private checkSet(name: string, types: DataType[], map: boolean, where: string): void {
    const s = this.ctx.set(name);
    if (!s) return; // not in this batch: the kernel knows it or refuses the rule
    if (s.map !== map) throw invalid(where, `@${name} is a ${s.map ? 'map' : 'set'}`);
    if (s.keyTypes.length !== types.length || s.keyTypes.some((t, i) => t !== types[i])) {
      throw invalid(where, `@${name} has keys of type ${s.keyTypes.map((t) => t.name).join(' . ')}, the expression is ${types.map((t) => t.name).join(' . ')}`);
    }
  }

  private counter(body: unknown, where: string): void {
    if (body === null || body === undefined) return void this.out.push({ op: 'counter' });
    if (typeof body === 'string') return objref(this.out, 'counter', body, where);
    if (!isObj(body)) throw invalid(where, 'must be null, { packets, bytes } or a counter name');
    const n = (k: string): bigint | undefined => {
      const v = body[k];
      if (v === undefined || v === 0) return undefined;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`${where}.${k}`, 'must be a non-negative integer');
      return BigInt(v);
    };
    this.out.push({ op: 'counter', bytes: n('bytes'), packets: n('packets') });
  }

  /** A raw payload's layout, checked. */
  private raw(body: Record<string, unknown>, where: string): RawLayout {
    const r = rawLayout(body);
    if (typeof r === 'string') throw invalid(where, r);
    return r;
  }

  /** `@nh,9,3 1`: a raw payload not on byte boundaries compared with a value, as nft: the bytes, masked, == the value shifted to its bits. */
  private rawBits(op: string, body: Record<string, unknown>, right: unknown, where: string): boolean {
    const r = this.raw(body, `${where}.left.payload`);
    if (!r.mask) return false;
    if ((op !== '==' && op !== '!=') || isObj(right) || Array.isArray(right)) throw unsupported(where, `"${op}" ${isObj(right) ? `with ${Object.keys(right)[0]} ` : ''}on a raw payload not on byte boundaries (only == and != a value)`);
    const data = rawValue(right, r.bits, r.len, r.shift);
    if (!data) throw invalid(`${where}.right`, `must be an integer that fits ${r.bits} bits, got ${JSON.stringify(right)}`);
    this.out.push(
      { op: 'payload', dreg: NFT_REG_1, base: r.base, offset: r.offset, len: r.len },
      { op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: r.len, mask: r.mask, xor: Buffer.alloc(r.len), bool: true },
      { op: 'cmp', sreg: NFT_REG_1, cmp: CMP[op], data },
    );
    return true;
  }

  /** `@th,0,8 & 0x1f == 0x3` (how nft lists a raw payload not on byte boundaries): the load, the mask, the comparison. */
  private rawMasked(op: string, body: unknown[], right: unknown, where: string): void {
    const w = `${where}.left["&"]`;
    const r = this.raw((body[0] as { payload: Record<string, unknown> }).payload, `${w}[0].payload`);
    if (r.mask) throw unsupported(`${w}[0]`, 'a mask on a raw payload not on byte boundaries');
    if (body.length !== 2) throw invalid(w, 'needs [expression, mask]');
    if (op !== '==' && op !== '!=') throw unsupported(where, `"${op}" after a mask of a raw payload (only == and !=)`);
    const mask = rawValue(body[1], r.bits, r.len);
    if (!mask) throw invalid(`${w}[1]`, `must be an integer that fits ${r.bits} bits, got ${JSON.stringify(body[1])}`);
    const data = rawValue(right, r.bits, r.len);
    if (!data) throw invalid(`${where}.right`, `must be an integer that fits ${r.bits} bits, got ${JSON.stringify(right)}`);
    this.out.push(
      { op: 'payload', dreg: NFT_REG_1, base: r.base, offset: r.offset, len: r.len },
      { op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: r.len, mask, xor: Buffer.alloc(r.len), bool: true },
      { op: 'cmp', sreg: NFT_REG_1, cmp: CMP[op], data },
    );
  }

  /** `@th,96,24 set 0x5` (payload write, no checksum update: nft knows no checksum for raw bits); sub-byte: the other bits kept, as nft. */
  private rawMangle(key: Record<string, unknown>, v: unknown, where: string): void {
    const r = this.raw(key, `${where}.key.payload`);
    const data = rawValue(v, r.bits, r.len, r.shift);
    if (!data) throw (isObj(v) ? unsupported(`${where}.value`, 'setting a raw payload from anything but a number') : invalid(`${where}.value`, `must be an integer that fits ${r.bits} bits, got ${JSON.stringify(v)}`));
    if (r.mask) {
      const keep = Buffer.from(r.mask.map((b) => ~b & 0xff));
      this.out.push(
        { op: 'payload', dreg: NFT_REG_1, base: r.base, offset: r.offset, len: r.len },
        { op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: r.len, mask: keep, xor: data, bool: true },
      );
    } else this.out.push({ op: 'immediate', dreg: NFT_REG_1, data });
    this.out.push({ op: 'raw', name: 'payload', data: exprData((w) => { w.be32(5, NFT_REG_1); w.be32(2, r.base); w.be32(3, r.offset); w.be32(4, r.len); }) });
  }

  private mangle(body: unknown, where: string): void {
    if (!isObj(body)) throw invalid(where, 'needs { key, value }');
    if (isObj(body.key) && isObj(body.key.payload) && 'base' in body.key.payload) return this.rawMangle(body.key.payload, body.value, where);
    // `tcp option maxseg size set ...` (stmt-exthdr.ts).
    if (isObj(body.key) && 'tcp option' in body.key) return EXT_STATEMENTS['mangle tcp option']!(body, this.extCtx(), where);
    const [kk, kb] = single(body.key, `${where}.key`);
    if (!((kk === 'meta' || kk === 'ct') && isObj(kb) && kb.key === 'mark' && kb.dir === undefined)) throw unsupported(`${where}.key`, `setting ${JSON.stringify(body.key)} (only meta mark and ct mark)`);
    const v = body.value;
    if (isObj(v)) {
      const [vk, vb] = single(v, `${where}.value`);
      if (vk === '&' || vk === '|' || vk === '^') this.binop(vk, vb, `${where}.value`, true);
      else if (vk === 'map') {
        const d = this.mapValue(vb, () => [TYPES.mark], `${where}.value.map`);
        if (d.length !== 1 || (d[0] !== TYPES.mark && d[0] !== TYPES.integer)) throw invalid(`${where}.value.map`, `maps to ${d.map((t) => t.name).join(' . ')}, not a mark`);
      } else if (!([TYPES.mark, TYPES.integer] as ValueType[]).includes(this.load(v, NFT_REG_1, `${where}.value`))) throw unsupported(`${where}.value`, 'setting a mark from anything but a mark, numgen or hash');
    } else {
      this.out.push({ op: 'immediate', dreg: NFT_REG_1, data: this.value(TYPES.mark, v, `${where}.value`) });
    }
    this.out.push(kk === 'meta' ? { op: 'meta_set', key: META_KEY.mark, sreg: NFT_REG_1 } : { op: 'ct_set', key: CT_KEY.mark, sreg: NFT_REG_1 });
  }

  /** `key vmap { k : verdict, ... }` on any key but numgen (single values or concatenations), as nft makes the map. */
  private anonymousVmap(key: unknown, set: unknown[], where: string): void {
    if (!this.ctx.anonymousMapOf) throw unsupported(`${where}.key`, 'anonymous verdict maps here');
    if (set.length === 0) throw invalid(`${where}.data.set`, 'must not be empty');
    if (hasIntervals(set)) {
      const loads = this.intervalMap(key, set, undefined, where);
      this.out.push(...loads);
      return;
    }
    const bf = keyBitField(key);
    if (bf) return this.bitFieldMap(bf, set, undefined, where);
    const start = this.out.length;
    const types = this.loadKeyValues(key, `${where}.key`);
    const loads = this.out.splice(start);
    const elements = set.map((pair, i): [Buffer, Verdict] => {
      const w = `${where}.data.set[${i}]`;
      if (!Array.isArray(pair) || pair.length !== 2) throw invalid(w, 'must be [key, verdict]');
      if (isObj(pair[0]) && ('elem' in pair[0] || 'prefix' in pair[0] || 'range' in pair[0])) throw unsupported(`${w}[0]`, 'element options, prefixes and ranges in an anonymous verdict map');
      const [vk, vb] = single(pair[1], `${w}[1]`);
      return [types.length === 1 ? this.value(types[0]!, pair[0], `${w}[0]`) : elementKey(pair[0], types, `${w}[0]`), this.verdictOf(vk, vb, `${w}[1]`)];
    });
    const byteorder = this.keyByteorder(key, types, `${where}.key`);
    const m = this.ctx.anonymousMapOf({ keyTypes: types, elements, byteorder, ...(types.length > 1 ? { typeof: typeofKey(key).udata } : {}) });
    this.out.push(...loads, { op: 'lookup', sreg: NFT_REG_1, dreg: 0, set: m.name, setId: m.id });
  }

  /**
   * An anonymous map keyed by a lone sub-byte field (`ip dscp vmap { cs1 : accept }`, `meta mark
   * set ip dscp map { cs1 : 0x1 }`): as nft, the masked load and the keys in place (as in
   * bitMatch's sets). `dataTypes` undefined: a verdict map.
   */
  private bitFieldMap(bf: BitField, pairs: unknown[], dataTypes: DataType[] | undefined, where: string): void {
    const elements = pairs.map((pair, i): [Buffer, Verdict | Buffer] => {
      const w = `${where}.data.set[${i}]`;
      if (!Array.isArray(pair) || pair.length !== 2) throw invalid(w, `must be [key, ${dataTypes ? 'value' : 'verdict'}]`);
      const k = typeof pair[0] === 'number' || typeof pair[0] === 'string' ? bitValue(bf, pair[0]) : undefined;
      if (!k) throw invalid(`${w}[0]`, `not a valid ${bf.protocol} ${bf.field}: ${JSON.stringify(pair[0])}`);
      if (dataTypes) return [k, dataTypes.length === 1 ? this.value(dataTypes[0]!, pair[1], `${w}[1]`) : elementKey(pair[1], dataTypes, `${w}[1]`)];
      const [vk, vb] = single(pair[1], `${w}[1]`);
      return [k, this.verdictOf(vk, vb, `${w}[1]`)];
    });
    const t: DataType = { name: bf.field, id: BITFIELD_SET_TYPE[bf.field] ?? TYPES.integer.id, len: bf.len, byteorder: BYTEORDER.BIG, parse: () => undefined, format: (b) => b[0]! };
    const m = this.ctx.anonymousMapOf!({ keyTypes: [t], ...(dataTypes ? { data: dataTypes } : {}), elements, byteorder: BYTEORDER.BIG });
    this.out.push(
      { op: 'payload', dreg: NFT_REG_1, base: bf.base, offset: bf.offset, len: bf.len },
      { op: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: bf.len, mask: bf.mask!, xor: Buffer.alloc(bf.len), bool: true },
      { op: 'lookup', sreg: NFT_REG_1, dreg: dataTypes ? NFT_REG_1 : 0, set: m.name, setId: m.id },
    );
  }

  /**
   * An anonymous interval map (`ip saddr vmap { 10.0.0.0/8 : accept }`, `ip saddr . tcp dport
   * map { 10.0.0.0/8 . 80-90 : 0x1 }`): the key's loads (host-order fields of a concatenation
   * converted to network order, as for concatenated interval sets) and the lookup, as nft makes
   * them. `dataTypes` undefined: a verdict map.
   */
  private intervalMap(key: unknown, pairs: unknown[], dataTypes: DataType[] | undefined, where: string): KExpr[] {
    const concat = soleKey(key, `${where}.key`) === 'concat';
    const start = this.out.length;
    const types = concat ? this.loadKey(key, `${where}.key`, true) : this.loadKeyValues(key, `${where}.key`);
    const loads = this.out.splice(start);
    const ranges = pairs.map((pair, i): [Buffer, Buffer, Verdict | Buffer] => {
      const w = `${where}.data.set[${i}]`;
      if (!Array.isArray(pair) || pair.length !== 2) throw invalid(w, `must be [key, ${dataTypes ? 'value' : 'verdict'}]`);
      if (isObj(pair[0]) && 'elem' in pair[0]) throw unsupported(`${w}[0]`, 'element options in an anonymous map');
      const [lo, hi] = concat ? concatIntervalOf(pair[0], types, `${w}[0]`) : intervalOf(pair[0], types[0]!, `${w}[0]`);
      let value: Verdict | Buffer;
      if (dataTypes) value = dataTypes.length === 1 ? this.value(dataTypes[0]!, pair[1], `${w}[1]`) : elementKey(pair[1], dataTypes, `${w}[1]`);
      else { const [vk, vb] = single(pair[1], `${w}[1]`); value = this.verdictOf(vk, vb, `${w}[1]`); }
      return [lo, hi, value];
    });
    const byteorder = this.keyByteorder(key, types, `${where}.key`);
    // (Unlike an anonymous set's, a map's typeof record has every component, converted ones too.)
    const m = this.ctx.anonymousMapOf!({ keyTypes: types, ...(dataTypes ? { data: dataTypes } : {}), elements: [], ranges, byteorder, ...(concat ? { typeof: typeofKey(key).udata } : {}) });
    return [...loads, dataTypes ? { op: 'lookup', sreg: NFT_REG_1, dreg: NFT_REG_1, set: m.name, setId: m.id } : { op: 'lookup', sreg: NFT_REG_1, dreg: 0, set: m.name, setId: m.id }];
  }

  /** nft 1.0.6 lists a named map's lookup of a lone shifted sub-byte field as a raw payload (`(@nh,8,8 & 0xfc) >> 2 vmap @m`): refused. */
  private noShiftedMapKey(key: unknown, where: string): void {
    const bf = keyBitField(key);
    if (bf?.shift) throw unsupported(where, `a named map keyed by ${bf.protocol} ${bf.field} (nft 1.0.6 lists its lookup as a raw payload expression)`);
  }

  private vmap(body: unknown, where: string): void {
    if (!isObj(body)) throw invalid(where, 'needs { key, data }');
    this.deps(body.key, `${where}.key`);
    const data = body.data;
    if (typeof data === 'string' && data.startsWith('@')) {
      const name = data.slice(1);
      this.noShiftedMapKey(body.key, `${where}.key`);
      const types = this.loadKey(body.key, `${where}.key`);
      this.checkSet(name, types, true, `${where}.data`);
      this.out.push({ op: 'lookup', sreg: NFT_REG_1, dreg: 0, set: name, setId: this.ctx.set(name)?.id });
      return;
    }
    if (!isObj(data) || !Array.isArray(data.set)) throw invalid(`${where}.data`, 'must be "@map" or { set: [[key, verdict], ...] }');
    const [kk] = single(body.key, `${where}.key`);
    if (kk !== 'numgen') return this.anonymousVmap(body.key, data.set, where);
    const start = this.out.length;
    const t = this.loadKey(body.key, `${where}.key`)[0]!;
    const loads = this.out.splice(start);
    const elements: Array<[Buffer, Verdict]> = data.set.map((pair, i) => {
      const w = `${where}.data.set[${i}]`;
      if (!Array.isArray(pair) || pair.length !== 2) throw invalid(w, 'must be [key, verdict]');
      const [vk, vb] = single(pair[1], `${w}[1]`);
      return [this.value(t, pair[0], `${w}[0]`), this.verdictOf(vk, vb, `${w}[1]`)];
    });
    if (elements.length === 0) throw invalid(`${where}.data.set`, 'must not be empty');
    const m = this.ctx.anonymousMap(t, elements);
    this.out.push(...loads, { op: 'lookup', sreg: NFT_REG_1, dreg: 0, set: m.name, setId: m.id });
  }
}

/** Whether a map's [key, value] pairs have a prefix or range in a key (or in a part of one): an interval map. */
function hasIntervals(pairs: unknown[]): boolean {
  const iv = (k: unknown) => isObj(k) && ('prefix' in k || 'range' in k);
  return pairs.some((p) => Array.isArray(p) && (iv(p[0]) || (isObj(p[0]) && Array.isArray(p[0].concat) && p[0].concat.some(iv))));
}

/** The key bytes of a set element (a value or `{ concat: [...] }`) for the set's key types. */
export function elementKey(v: unknown, types: DataType[], where: string): Buffer {
  if (types.length === 1) {
    const b = types[0]!.parse(v);
    if (!b) throw invalid(where, `not a valid ${types[0]!.name}: ${JSON.stringify(v)}`);
    return b;
  }
  if (!isObj(v) || !Array.isArray(v.concat) || v.concat.length !== types.length) {
    throw invalid(where, `needs { concat: [${types.map((t) => t.name).join(', ')}] }`);
  }
  const out = Buffer.alloc(concatLen(types));
  let p = 0;
  (v.concat as unknown[]).forEach((x, i) => {
    const t = types[i]!;
    const b = t.parse(x);
    if (!b) throw invalid(`${where}.concat[${i}]`, `not a valid ${t.name}: ${JSON.stringify(x)}`);
    b.copy(out, p);
    p += (t.len + 3) & ~3;
  });
  return out;
}
