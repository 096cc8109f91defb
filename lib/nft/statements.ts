// nf_tables expressions -> nft's JSON statements, the way nft 1.0.6's netlink_delinearize.c
// and json.c show them: payload dependencies (meta nfproto / meta l4proto matches that only
// make a later header load valid) are dropped and name the header's protocol; flag matches
// are `in`; shortened or masked address loads are prefixes. A layout nft would show differently
// than these rules assume is refused (UnsupportedError), never guessed.
import { UnsupportedError } from '../core/errors.js';
import { ADDRTYPE, CT_STATE, CT_STATUS, FIB_F_PRESENT, FIB_FLAGS, FIB_RESULT_OIF, FIB_RESULT_TYPE, META_TYPES, PAYLOAD, type ValueType } from './match-tables.js';
import { VERDICT } from './consts.js';
import { ifnameCmpText, TYPES, type DataType } from './datatypes.js';
import { AttrTable } from './attrs.js';
import { EXT_DECODERS } from './ext-table.js';
import { isRawTypeof, RAW_MAX_VALUE_BYTES, rawJson, rawType } from './expr-raw.js';

/** Protocols whose every sub-byte field nlkit decodes (bitfields.ts): a masked load of theirs that is none of them nft lists raw ('': no protocol). */
const RAW_MASKED_PROTOS = new Set(['', 'th', 'udp', 'ip', 'ip6']);
import type { DecodeCtx, DecodedValue } from './ext.js';
import { BYTEORDER_OP, CMP, CT_KEY, META_KEY, NUMGEN, PAYLOAD_BASE, type KExpr, type Verdict } from './ir.js';
import type { Family, Statement } from './types.js';
import { CT_DIRS, EXTRA_CT, EXTRA_TYPES, ifaceIndexType, L4_PROTOCOLS } from './payload-fields.js';
import { splitFields } from './payload-merge.js';
import { concatIntervalJson, intervalValues } from './intervals.js';
import { intervalMapJson } from './map-intervals.js';
import { bitKeyType } from './bitkeys.js';
import { BIT_FIELDS, bitFieldAt, bitJson, flagJson, type BitField } from './bitfields.js';

/** An anonymous map's elements, by the name the kernel gave it (`__map0`). */
export interface AnonymousMaps {
  /** `set`: an anonymous set (`{ a, b }` in a match), its keys read with the rule's key types. */
  get(name: string): { keyType: DataType; elements: Array<[Buffer, Verdict]>; set?: boolean; ends?: boolean[]; keyEnds?: Buffer[]; data?: DataType[]; values?: Buffer[] } | undefined;
}

interface Load { bits?: BitField; shifted?: boolean; map?: boolean; parts?: Array<{ json: Statement; type: ValueType; len: number }>; reg: number; json: Statement; type: ValueType; payload?: { proto: string; field: string; full: number; len: number; transport: boolean; network: boolean }; bitwise?: { mask: Buffer; xor: Buffer; bool: boolean }; data?: Buffer; hton?: boolean }

/**
 * A constant table reversed (value -> its first name), built once: a lookup per expression of a
 * 20k-service dump, by array index for small non-negative values (a Map for the rest: verdict
 * codes are negative).
 */
class Reversed {
  private readonly small: Array<string | undefined> = [];
  private readonly other = new Map<number, string>();
  constructor(table: Record<string, number>) {
    for (const [k, v] of Object.entries(table)) {
      if (v >= 0 && v < 256 && Number.isInteger(v)) this.small[v] ??= k;
      else if (!this.other.has(v)) this.other.set(v, k);
    }
    for (let i = 0; i < this.small.length; i++) this.small[i] ??= undefined;
  }

  get(n: number): string | undefined {
    return n >= 0 && n < this.small.length ? this.small[n] : this.other.get(n);
  }
}
const CMP_NAMES = new Reversed(CMP), META_NAMES = new Reversed(META_KEY), CT_NAMES = new Reversed(CT_KEY), VERDICT_NAMES = new Reversed(VERDICT as unknown as Record<string, number>);
const NAMES = new Map<object, Reversed>([[CMP, CMP_NAMES], [VERDICT, VERDICT_NAMES], [META_KEY, META_NAMES], [CT_KEY, CT_NAMES]]);
const cmpName = (n: number): string => CMP_NAMES.get(n) ?? '?';
const keyName = (table: Record<string, number>, n: number): string | undefined =>
  table === META_KEY ? META_NAMES.get(n) : table === CT_KEY ? CT_NAMES.get(n) : (NAMES.get(table) ?? new Reversed(table)).get(n);

/** PAYLOAD's fields per protocol, listed once (decodeStatements looks a load up in them per expression of a dump). */
const PAYLOAD_FIELDS = new Map(Object.entries(PAYLOAD).map(([proto, fields]) =>
  [proto, Object.entries(fields ?? {}).flatMap(([n, f]) => (f ? [[n, f] as const] : []))]));

type Field = NonNullable<ReturnType<typeof PAYLOAD_FIELDS.get>>[number][1];
/** A payload load's field (and, for fields nft merged into one load, their names). */
interface PayloadField { field: string; f: Field; parts?: string[] }

/** Transport protocol names by number (the first name of a number, as L4_PROTOCOLS lists them). */
const L4_NAMES = new Map<number, string>();
for (const [p, v] of Object.entries(L4_PROTOCOLS)) if (v && !L4_NAMES.has(v.l4)) L4_NAMES.set(v.l4, p);

function refuseRule(what: string): never {
  throw new UnsupportedError(`a rule with ${what} cannot be decoded by nlkit`, { subsystem: 'nft', op: 'nft.list', detail: what });
}

/**
 * The pending load into register `reg`, taken off the list (by moving the later ones down and
 * pop(): splice() makes an array of what it removes, and a shorter length drops the list's store).
 */
function takeLoad(pending: Load[], reg: number): Load {
  const n = pending.length;
  let i = 0;
  while (i < n && pending[i]!.reg !== reg) i++;
  if (i === n) refuseRule(`a register read before it is written (reg ${reg})`);
  const l = pending[i]!;
  for (let j = i + 1; j < n; j++) pending[j - 1] = pending[j]!;
  pending.pop();
  return l;
}

export function verdictJson(v: Verdict): Statement {
  const name = VERDICT_NAMES.get(v.code);
  // Literals for the common ones: an object with a computed key is built the slow way.
  switch (name) {
    case 'jump': return { jump: { target: v.chain } };
    case 'goto': return { goto: { target: v.chain } };
    case 'accept': return { accept: null };
    case 'drop': return { drop: null };
    case 'return': return { return: null };
    default: break;
  }
  if (!name || name === 'break') throw new UnsupportedError(`verdict code ${v.code}`, { subsystem: 'nft', op: 'nft.list' });
  return { [name]: null };
}

function flagNames(table: Record<string, number | undefined>, mask: number): string | string[] {
  const names = Object.entries(table).filter(([, v]) => v !== undefined && (mask & v) !== 0).map(([k]) => k);
  return names.length === 1 ? names[0]! : names;
}

/** Formats register bytes as a value of type t. */
export function formatValue(t: ValueType, b: Buffer): string | number {
  if ('format' in t) return t.format(b);
  // `missing` / `exists` as nft's JSON has them (false / true).
  if (t.name === 'fib_present') return (b.readUInt32LE(0) !== 0) as unknown as number;
  if (t.name === 'fib_addrtype') return ADDRTYPE[b.readUInt32LE(0)] ?? b.readUInt32LE(0);
  return b.readUInt32LE(0);
}

/**
 * Orders elements as nft lists them (list_expr_sort): as numbers read in the key's byte order.
 * Big-endian types compare byte for byte; host-order types and concatenations (byte order
 * "invalid", read as host order) compare from the last byte back.
 */
export function compareKeys(types: DataType[], a: Buffer, b: Buffer): number {
  if (types.length === 1 && types[0]!.byteorder === 2) return Buffer.compare(a, b);
  for (let i = Math.max(a.length, b.length) - 1; i >= 0; i--) {
    const x = a[i] ?? 0, y = b[i] ?? 0;
    if (x !== y) return x - y;
  }
  return 0;
}

/** One value of a set key: a single value or { concat: [...] }. */
export function keyJson(types: DataType[], b: Buffer): unknown {
  const n = types.length;
  if (n === 1) {
    const t = types[0]!;
    return t.formatAt && b.length >= t.len ? t.formatAt(b, 0) : t.format(b.subarray(0, t.len));
  }
  // Components read in place where the type can (no view per component), into an array of their count.
  const out = new Array<unknown>(n);
  let p = 0;
  for (let i = 0; i < n; i++) {
    const t = types[i]!;
    out[i] = t.formatAt && p + t.len <= b.length ? t.formatAt(b, p) : t.format(b.subarray(p, p + t.len));
    p += (t.len + 3) & ~3;
  }
  return { concat: out };
}

const EMPTY = Buffer.alloc(0);

/**
 * Statements of one rule's expressions at a time (decodeRuleset reuses one decoder for every rule
 * of a listing): the state of a rule in fields, the extension context (DecodeCtx) the decoder
 * itself, so that a rule makes no closures (a 20k-service listing has 140k rules).
 */
export class RuleDecoder implements DecodeCtx {
  family: Family = 'ip';
  out: Statement[] = [];
  private pending: Load[] = [];
  private readonly scratch: Statement[] = [];
  private nfproto: number | undefined;
  private l4proto: number | undefined;
  // A match that may turn out to be a payload dependency: its index in out, and what it set.
  private nfDep: number | undefined;
  private l4Dep: number | undefined;
  private llDep: number | undefined;
  // `ether type 8021q`: the dependency of vlan fields (and what makes link-layer offsets from 14 on vlan's).
  private vlanDep: number | undefined;
  private vlan = false;
  /** A statement was dropped (a dependency): out has holes to filter. */
  private dropped = false;
  /** A payload load's field by protocol, then base/offset/length (null: none nft would show). */
  private readonly fields = new Map<string, Map<number, PayloadField | null>>();
  /** An extension expression's attributes, indexed anew for each (no Map or views per expression). */
  private readonly attrs = new AttrTable();

  constructor(private readonly anon: AnonymousMaps, private readonly ifname?: (index: number) => string | undefined) {}

  // DecodeCtx: what extensions (ext.ts) see of this decoder.
  take(reg: number): DecodedValue {
    const l = takeLoad(this.pending, reg);
    return { json: l.json, data: l.data, plain: !l.bitwise && !l.hton && !(l.payload && l.payload.len < l.payload.full) };
  }

  takeLoads(): DecodedValue[] {
    const loads = this.unloaded();
    return loads.map((l) => ({ json: l.json, plain: !l.bitwise && !l.hton && !(l.payload && l.payload.len < l.payload.full) }));
  }

  load(reg: number, json: Statement, type: DataType): void {
    this.pending.push({ reg, json, type });
  }

  isMap(reg: number): boolean {
    return this.pending.some((l) => l.reg === reg && l.map === true);
  }

  dropL4Dep(): void {
    this.drop(this.l4Dep);
    this.l4Dep = undefined;
  }

  // Without a pending dependency, the network protocol an earlier header load already established (`ip6 daddr ... reject with icmpv6`).
  dropNfDep(): number | undefined {
    if (this.nfDep === undefined) return this.nfproto;
    this.drop(this.nfDep);
    this.nfDep = undefined;
    return this.nfproto;
  }

  refuse(what: string): never {
    return refuseRule(what);
  }

  private drop(i: number | undefined): void {
    if (i === undefined) return;
    this.out[i] = undefined as unknown as Statement;
    this.dropped = true;
  }

  /** The pending loads that are not immediates, taken off the list (in load order). */
  private unloaded(): Load[] {
    const p = this.pending, loads: Load[] = [];
    let k = 0;
    for (let i = 0; i < p.length; i++) {
      const l = p[i]!;
      if (l.data) p[k++] = l;
      else loads.push(l);
    }
    while (p.length > k) p.pop();
    return loads;
  }

  /** The field a payload load of `proto` reads (see decode()). */
  private payloadField(proto: string, base: number, offset: number, len: number): PayloadField | null {
    let byProto = this.fields.get(proto);
    if (!byProto) this.fields.set(proto, byProto = new Map());
    const k = (base * 0x10000 + offset) * 0x100 + len;
    let r = byProto.get(k);
    if (r !== undefined) return r;
    const fields = PAYLOAD_FIELDS.get(proto) ?? [];
    const exact = fields.find(([, f]) => f[0] === base && f[1] === offset && f[2] === len);
    // A shortened load is a prefix of an address; a longer one, fields nft merged (payload-merge.ts).
    const shorter = exact ?? fields.find(([, f]) => f[0] === base && f[1] === offset && len < f[2] && (f[3] === TYPES.ipv4_addr || f[3] === TYPES.ipv6_addr));
    const parts = shorter ? undefined : splitFields(fields.filter(([, f]) => f[0] === base).map(([n, f]) => [n, f[1], f[2]]), offset, len);
    if (!shorter && !parts) r = null;
    else {
      const [field, f] = shorter ?? fields.find(([n]) => n === parts![0])!;
      r = { field, f, ...(parts ? { parts } : {}) };
    }
    byProto.set(k, r);
    return r;
  }

  /**
   * Whether nft lists a load of these bytes as a raw payload: no header description for the base
   * (inner header; network in inet tables before meta nfproto; link layer in ip/ip6/inet tables
   * without `meta iiftype ether`), or none of the protocol's fields (byte or bit) starts in the
   * first byte (nft would name or split it; nlkit refuses those).
   */
  private rawListed(proto: string, base: number, offset: number, len: number): boolean {
    if (base > PAYLOAD_BASE.TRANSPORT || !proto) return len <= RAW_MAX_VALUE_BYTES;
    if (base === PAYLOAD_BASE.LL && this.llDep === undefined && this.family !== 'bridge' && this.family !== 'netdev') return len <= RAW_MAX_VALUE_BYTES;
    if (base === PAYLOAD_BASE.LL) return false;
    const fields = PAYLOAD_FIELDS.get(proto) ?? [];
    if (fields.some(([, f]) => f[0] === base && f[1] === offset)) return false;
    if (Object.values(BIT_FIELDS[proto] ?? {}).some((b) => b.base === base && b.offset === offset)) return false;
    return len <= RAW_MAX_VALUE_BYTES;
  }

  /** A payload write (NFTA_PAYLOAD_SREG): nlkit lists raw payloads set from a value only. */
  private payloadWrite(d: AttrTable): void {
    const u = (k: number) => d.be32(k);
    const sreg = u(5), base = u(2), offset = u(3), len = u(4);
    if (sreg === undefined || base === undefined || offset === undefined || len === undefined || (u(6) ?? 0) !== 0 || (u(8) ?? 0) !== 0) refuseRule('a payload write with a checksum update');
    const network = base === PAYLOAD_BASE.NETWORK, transport = base === PAYLOAD_BASE.TRANSPORT;
    const proto = network ? (this.nfproto === 2 ? 'ip' : this.nfproto === 10 ? 'ip6' : '')
      : transport ? (this.l4proto === undefined ? undefined : L4_NAMES.get(this.l4proto)) ?? 'th' : base === PAYLOAD_BASE.LL ? 'ether' : '';
    if (!this.rawListed(proto, base!, offset!, len!)) refuseRule(`a payload write at base ${base} offset ${offset} length ${len}`);
    const v = takeLoad(this.pending, sreg!);
    if (!v.data || v.data.length < len!) refuseRule('a payload set from anything but a value');
    this.out.push({ mangle: { key: rawJson(base!, offset! * 8, len! * 8), value: v.data!.readUIntBE(0, len!) } });
  }

  /** The statements of one rule's expressions. */
  decode(exprs: KExpr[], family: Family): Statement[] {
    // The statements are gathered in one array for every rule and copied out at their count: a
    // new array grown by push() has room for 17 (152 bytes kept per rule of a listing).
    const out = this.scratch;
    while (out.length) out.pop();
    this.family = family;
    this.out = out;
    while (this.pending.length) this.pending.pop();
    this.nfproto = family === 'ip' ? 2 : family === 'ip6' ? 10 : undefined;
    this.l4proto = undefined;
    this.nfDep = undefined; this.l4Dep = undefined; this.llDep = undefined; this.vlanDep = undefined;
    this.vlan = false;
    this.dropped = false;
    const pending = this.pending;
    const refuse = refuseRule;
    const anon = this.anon;

    for (let i = 0; i < exprs.length; i++) {
      const e = exprs[i]!;
      switch (e.op) {
        case 'payload': {
          const l2 = family === 'bridge' || family === 'netdev';
          if (family !== 'ip' && family !== 'ip6' && family !== 'inet' && !(l2 && e.base === PAYLOAD_BASE.LL)) refuse(`payload matches in a ${family} table`);
          const network = e.base === PAYLOAD_BASE.NETWORK, transport = e.base === PAYLOAD_BASE.TRANSPORT;
          const proto = network ? (this.nfproto === 2 ? 'ip' : this.nfproto === 10 ? 'ip6' : '')
            : transport ? (this.l4proto === undefined ? undefined : L4_NAMES.get(this.l4proto)) ?? 'th'
            : e.base === PAYLOAD_BASE.LL ? (this.vlan && e.offset >= 14 ? 'vlan' : 'ether') : '';
          // A sub-byte field (bitfields.ts): the load, then its mask.
          const nx = exprs[i + 1];
          const mask = nx?.op === 'bitwise' && nx.sreg === e.dreg && nx.dreg === e.dreg && nx.xor.every((x) => x === 0) ? nx.mask : undefined;
          // Only masked loads and vlan's are candidates: a kube-proxy dump's address and port loads skip the lookup.
          const bits = mask ? bitFieldAt(proto, e.base, e.offset, e.len, mask) : proto === 'vlan' ? bitFieldAt(proto, e.base, e.offset, e.len, undefined) : undefined;
          if (bits) {
            if (network) { this.drop(this.nfDep); this.nfDep = undefined; }
            if (transport) { this.drop(this.l4Dep); this.l4Dep = undefined; }
            if (e.base === PAYLOAD_BASE.LL) { this.drop(this.llDep); this.llDep = undefined; }
            // nft keeps `ether type 8021q` in front of `vlan type` when it lists it.
            if (proto === 'vlan' && bits.field !== 'type') { this.drop(this.vlanDep); this.vlanDep = undefined; }
            pending.push({ reg: e.dreg, json: { payload: { protocol: proto, field: bits.field } }, type: TYPES.integer, bits });
            if (bits.mask) i++;
            break;
          }
          // The link layer in ip/ip6/inet tables without `meta iiftype ether`: nft has no header for it, a raw payload.
          const llRaw = e.base === PAYLOAD_BASE.LL && !l2 && this.llDep === undefined && !this.vlan;
          const pf = llRaw ? null : this.payloadField(proto, e.base, e.offset, e.len);
          if (!pf) {
            // A raw payload (`@th,96,24`): nft lists one where its protocol has no field starting in its first byte; it drops no dependency.
            // Masked (a raw payload not on byte boundaries, `@th,0,8 & 0x1f == 0x3`): nft lists it raw when no field of the
            // protocol has those bytes and that mask (bitFieldAt found none); nlkit knows every sub-byte field of these.
            if (mask ? !RAW_MASKED_PROTOS.has(llRaw ? '' : proto) || e.len > RAW_MAX_VALUE_BYTES : !this.rawListed(proto, e.base, e.offset, e.len)) refuse(`payload base ${e.base} offset ${e.offset} length ${e.len}${mask ? ' under a mask' : ''}`);
            pending.push({ reg: e.dreg, json: rawJson(e.base, e.offset * 8, e.len * 8), type: rawType(e.len) });
            break;
          }
          if (network) { this.drop(this.nfDep); this.nfDep = undefined; }
          if (transport) {
            this.drop(this.l4Dep); this.l4Dep = undefined;
            if (L4_PROTOCOLS[proto]?.nfproto !== undefined) { this.drop(this.nfDep); this.nfDep = undefined; }
          }
          if (e.base === PAYLOAD_BASE.LL) { this.drop(this.llDep); this.llDep = undefined; }
          const { field, f, parts } = pf!;
          const load: Load = { reg: e.dreg, json: { payload: { protocol: proto, field } }, type: f[3], payload: { proto, field, full: f[2], len: e.len, network, transport } };
          if (parts) load.parts = parts.map((n: string) => ({ json: { payload: { protocol: proto, field: n } }, type: PAYLOAD[proto]![n]![3], len: PAYLOAD[proto]![n]![2] }));
          pending.push(load);
          break;
        }
        case 'meta': {
          const key = keyName(META_KEY, e.key);
          if (key === 'iif' || key === 'oif') {
            const ifname = this.ifname;
            pending.push({ reg: e.dreg, json: { meta: { key } }, type: ifaceIndexType(() => undefined, ifname ?? (() => undefined)) });
            break;
          }
          if (!key || (key !== 'nfproto' && !META_TYPES[key])) refuse(`meta key ${e.key}`);
          pending.push({ reg: e.dreg, json: { meta: { key } }, type: META_TYPES[key!]! });
          break;
        }
        case 'ct': {
          if (e.dir !== undefined || !keyName(CT_KEY, e.key)) {
            const x = ctExtraLoad(e.key, e.dir, family);
            if (!x) refuse(`ct key ${e.key}${e.dir !== undefined ? ` direction ${e.dir}` : ''}`);
            pending.push({ reg: e.dreg, ...x! });
            break;
          }
          const key = keyName(CT_KEY, e.key);
          if (!key) refuse(`ct key ${e.key}`);
          pending.push({ reg: e.dreg, json: { ct: { key } }, type: key === 'mark' ? TYPES.mark : { name: key === 'state' ? 'ct_state' : 'ct_status', len: 4 } });
          break;
        }
        case 'fib': {
          if (e.result === FIB_RESULT_OIF && e.flags & FIB_F_PRESENT) {
            const flags = Object.entries(FIB_FLAGS).filter(([, v]) => v !== undefined && (e.flags & v) !== 0).map(([k]) => k);
            pending.push({ reg: e.dreg, json: { fib: { result: 'oif', flags } }, type: { name: 'fib_present', len: 4 } });
            break;
          }
          if (e.result !== FIB_RESULT_TYPE) refuse(`fib result ${e.result}`);
          const flags = Object.entries(FIB_FLAGS).filter(([, v]) => v !== undefined && (e.flags & v) !== 0).map(([k]) => k);
          pending.push({ reg: e.dreg, json: { fib: { result: 'type', flags } }, type: { name: 'fib_addrtype', len: 4 } });
          break;
        }
        case 'numgen':
          if (e.type !== NUMGEN.random && e.type !== NUMGEN.inc) refuse(`numgen type ${e.type}`);
          pending.push({ reg: e.dreg, json: { numgen: { mode: e.type === NUMGEN.inc ? 'inc' : 'random', mod: e.mod, offset: e.offset } }, type: TYPES.integer });
          break;
        case 'bitwise': {
          const l = takeLoad(pending, e.sreg);
          if (l.bitwise || e.dreg !== e.sreg) refuse('chained bitwise operations');
          l.bitwise = { mask: e.mask, xor: e.xor, bool: e.bool };
          pending.push(l);
          break;
        }
        case 'shift': {
          // A sub-byte field shifted to its own value: a set key (bitkeys.ts).
          const l = takeLoad(pending, e.sreg);
          if (!l.bits || l.shifted || e.dreg !== e.sreg || e.len !== l.bits.len || e.rshift !== l.bits.shift) refuse('a bitwise shift');
          l.shifted = true;
          l.type = bitKeyType(l.bits!);
          pending.push(l);
          break;
        }
        case 'byteorder': {
          // nft converts a host-order value to network order before an ordering comparison.
          const l = takeLoad(pending, e.sreg);
          // Also before a lookup in a concatenated interval set: a 1-byte value converted in 2-byte units (nft's sizes).
          const size = e.len % 8 === 0 ? 8 : e.len % 4 === 0 ? 4 : 2;
          if (e.dreg !== e.sreg || e.bop !== BYTEORDER_OP.hton || e.size !== size || (e.len !== 4 && e.len !== 2 && e.len !== 1) || l.bitwise || l.payload || l.hton) refuse('a byte-order conversion');
          l.hton = true;
          pending.push(l);
          break;
        }
        case 'immediate':
          if (e.verdict) { out.push(verdictJson(e.verdict)); break; }
          pending.push({ reg: e.dreg, json: {}, type: TYPES.integer, data: e.data });
          break;
        case 'range': {
          const l = takeLoad(pending, e.sreg);
          if (e.rop !== 1 || l.data || l.bitwise || l.hton || l.parts) refuse('a range comparison');
          const t = loadType([l]);
          out.push({ match: { op: '!=', left: l.json, right: { range: [t.format(e.from), t.format(e.to)] } } });
          break;
        }
        case 'cmp': {
          // `a-b`: nft writes >= a then <= b on the same load.
          const n = exprs[i + 1];
          if (e.cmp === CMP['>='] && n?.op === 'cmp' && n.cmp === CMP['<='] && n.sreg === e.sreg) {
            const l = takeLoad(pending, e.sreg);
            if (l.data || l.bitwise || l.hton || l.parts || !l.payload && !('id' in l.type)) refuse('a range comparison');
            const t = loadType([l]);
            out.push({ match: { op: '==', left: l.json, right: { range: [t.format(e.data), t.format(n.data)] } } });
            i++;
            break;
          }
          const l = takeLoad(pending, e.sreg);
          if (l.data) refuse('a comparison with a constant register');
          const op = cmpName(e.cmp);
          const bw = l.bitwise;
          if (l.bits) {
            if (e.cmp !== CMP['=='] && e.cmp !== CMP['!=']) refuse(`"${op}" on ${l.bits.protocol} ${l.bits.field}`);
            out.push({ match: { op, left: l.json, right: bitJson(l.bits, e.data) } });
            break;
          }
          // tcp flags: `syn` (& syn != 0, nft's `in`) or `syn / syn,ack` (& mask ==|!= value).
          if (bw && l.type === EXTRA_TYPES.tcp_flag && bw.xor.every((x) => x === 0)) {
            if (e.cmp === CMP['!='] && e.data[0] === 0) out.push({ match: { op: 'in', left: l.json, right: flagJson(bw.mask[0]!) } });
            else if (e.cmp === CMP['=='] || e.cmp === CMP['!=']) out.push({ match: { op, left: { '&': [l.json, flagJson(bw.mask[0]!)] }, right: flagJson(e.data[0]!) } });
            else refuse(`"${op}" after a mask of tcp flags`);
            break;
          }
          if (l.parts) {
            if (bw || l.hton || (e.cmp !== CMP['=='] && e.cmp !== CMP['!='])) refuse('a comparison of merged header fields');
            let at = 0;
            for (const p of l.parts) {
              out.push({ match: { op, left: p.json, right: formatValue(p.type, e.data.subarray(at, at + p.len)) } });
              at += p.len;
            }
            break;
          }
          if (l.hton) {
            if (e.cmp === CMP['=='] || e.cmp === CMP['!=']) refuse('a byte-order conversion before an equality');
            out.push({ match: { op, left: l.json, right: formatValue(l.type, Buffer.from(e.data).reverse()) } });
            break;
          }
          // The kernel dumps NFTA_BITWISE_OP always: the loaded value's type says what the mask was.
          if (bw && 'name' in l.type && (l.type.name === 'ct_state' || l.type.name === 'ct_status')) {
            if (e.cmp !== CMP['!='] || !e.data.equals(Buffer.alloc(4)) || !bw.xor.equals(Buffer.alloc(4))) refuse('a ct flag comparison');
            const table = l.type.name === 'ct_state' ? CT_STATE : CT_STATUS;
            out.push({ match: { op: 'in', left: l.json, right: flagNames(table, bw.mask.readUInt32LE(0)) } });
            break;
          }
          if (bw && isRawTypeof(l.json)) {
            // `@th,0,8 & 0x1f == 0x3`, as nft lists a raw payload not on byte boundaries.
            if ((e.cmp !== CMP['=='] && e.cmp !== CMP['!=']) || !bw.xor.every((x) => x === 0)) refuse('a masked raw payload compared by order or with a xor');
            out.push({ match: { op, left: { '&': [l.json, bw.mask.readUIntBE(0, bw.mask.length)] }, right: e.data.readUIntBE(0, e.data.length) } });
            break;
          }
          if (bw && !l.payload) {
            if (l.type !== TYPES.mark) refuse('a binary operation on anything but a mark');
            out.push({ match: { op, left: binopJson(l.json, bw.mask, bw.xor), right: formatValue(l.type, e.data) } });
            break;
          }
          if (bw || (l.payload && l.payload.len < l.payload.full)) {
            // Prefixes: a masked load, or a shortened one (of addresses: nft lists other masked fields as `& mask ==`).
            if (!l.payload || !('format' in l.type) || (l.type !== TYPES.ipv4_addr && l.type !== TYPES.ipv6_addr)) refuse(`a masked comparison${l.payload ? ` of ${l.payload.proto} ${l.payload.field}` : ''}`);
            const full = Buffer.alloc(l.payload!.full);
            e.data.copy(full);
            let len = l.payload!.len * 8;
            if (bw) {
              len = 0;
              for (const byte of bw.mask) for (let b = 7; b >= 0; b--) if (byte & (1 << b)) len++;
            }
            out.push({ match: { op, left: l.json, right: { prefix: { addr: formatValue(l.type, full), len } } } });
            break;
          }
          // meta nfproto / meta l4proto matches may be dependencies of later header loads.
          const key = (l.json.meta as { key?: string } | undefined)?.key;
          if (key === 'nfproto') {
            if (e.cmp !== CMP['==']) refuse('meta nfproto !=');
            const nfproto = this.nfproto = e.data[0];
            this.nfDep = out.length;
            out.push({ match: { op, left: l.json, right: nfproto === 2 ? 'ipv4' : nfproto === 10 ? 'ipv6' : nfproto! } });
            break;
          }
          if (key === 'iiftype' && e.cmp === CMP['=='] && e.data.length === 2 && e.data[0] === 1 && e.data[1] === 0) this.llDep = out.length;
          const pl = l.json.payload as { protocol?: string; field?: string } | undefined;
          // (vlan headers are read in every family: ip, ip6 and inet tables too, after meta iiftype ether.)
          if (pl?.protocol === 'ether' && pl.field === 'type' && e.cmp === CMP['=='] && e.data.length === 2 && e.data[0] === 0x81 && e.data[1] === 0) {
            this.vlanDep = out.length;
            this.vlan = true;
          }
          if (key === 'l4proto' && e.cmp === CMP['==']) {
            this.l4proto = e.data[0];
            this.l4Dep = out.length;
          }
          out.push({ match: { op, left: l.json, right: l.type === TYPES.ifname ? ifnameCmpText(e.data) : formatValue(l.type, e.data) } });
          break;
        }
        case 'lookup': {
          const loads = this.unloaded();
          if (loads.length === 0) refuse('a lookup without a key');
          for (const l of loads) if (l.bitwise) refuse('a lookup of a masked value');
          // Sub-byte fields as keys have their own types; nft lists a shifted one in a concatenation as `x >> n`.
          for (const l of loads) if (l.bits && (l.shifted || loads.length > 1)) l.type = bitKeyType(l.bits);
          const key = loads.length === 1 ? loads[0]!.json : { concat: loads.map((l) => (l.shifted ? { '>>': [l.json, l.bits!.shift] } : l.json)) };
          if (e.dreg === undefined) {
            const a = anon.get(e.set);
            if (a?.set) {
              const bits = loads.length === 1 && !loads[0]!.shifted ? loads[0]!.bits : undefined;
              const right = bits
                ? a.elements.map(([k]) => k).sort(Buffer.compare).map((k) => bitJson(bits, k))
                : a.keyEnds
                ? a.elements.map(([k], j) => concatIntervalJson(k, a.keyEnds![j]!, keyTypesOf(loads)))
                : a.ends
                ? intervalValues(a.elements.map(([k], j) => ({ key: k, end: a.ends![j]! })), loadType(loads))
                : anonymousSetJson(loads.map((l) => l.type), a.elements.map(([k]) => k));
              out.push({ match: { op: e.inv ? '!=' : '==', left: key, right: { set: right } } });
              break;
            }
            if (e.inv) refuse('an inverted lookup in a named set');
            out.push({ match: { op: '==', left: key, right: `@${e.set}` } });
          } else if (e.inv || (e.dreg !== 0 && e.dreg !== 1)) {
            refuse('a map lookup into a register other than 1');
          } else if (loads.length === 1 && loads[0]!.shifted && !anon.get(e.set)) {
            // nft 1.0.6 lists it as a raw payload expression (compile.ts refuses to write it).
            refuse(`a lookup of ${loads[0]!.bits!.protocol} ${loads[0]!.bits!.field} in a named map`);
          } else if (e.dreg === 1) {
            // A data map's value for the next statement (meta/ct mark set, dnat/snat): `key map @m`.
            const a = anon.get(e.set);
            let data: unknown = `@${e.set}`;
            if (a) {
              if (!a.data || !a.values) refuse(`a data lookup in verdict map ${e.set}`);
              const ts = keyTypesOf(loads);
              const bits = loads.length === 1 && !loads[0]!.shifted ? loads[0]!.bits : undefined;
              if (bits) {
                // Keyed by a lone sub-byte field: keys in place (bitkeys.ts), sorted as bytes.
                const order = a.elements.map((_, j) => j).sort((x, y) => Buffer.compare(a.elements[x]![0], a.elements[y]![0]));
                data = { set: order.map((j) => [bitJson(bits, a.elements[j]![0]), keyJson(a.data!, a.values![j]!)]) };
              } else if (a.ends || a.keyEnds) data = { set: intervalMapJson(a.elements.map(([k]) => k), a, ts, (j) => keyJson(a.data!, a.values![j]!)) };
              else {
                const order = a.elements.map((_, j) => j).sort((x, y) => compareKeys(ts, a.elements[x]![0], a.elements[y]![0]));
                data = { set: order.map((j) => [keyJson(ts, a.elements[j]![0]), keyJson(a.data!, a.values![j]!)]) };
              }
            }
            pending.push({ reg: 1, json: { map: { key, data } }, type: a?.data?.length === 1 ? a.data[0]! : TYPES.integer, map: true });
          } else {
            const a = anon.get(e.set);
            if (!a) { out.push({ vmap: { key, data: `@${e.set}` } }); break; }
            const ts = keyTypesOf(loads);
            if (a.ends || a.keyEnds) {
              out.push({ vmap: { key, data: { set: intervalMapJson(a.elements.map(([k]) => k), a, ts, (j) => verdictJson(a.elements[j]![1])) } } });
              break;
            }
            const bits = loads.length === 1 && !loads[0]!.shifted ? loads[0]!.bits : undefined;
            if (bits) {
              // A map on a sub-byte field keeps its keys in place (bitkeys.ts), as its anonymous sets do.
              const byKey = [...a.elements].sort((x, y) => Buffer.compare(x[0], y[0]));
              out.push({ vmap: { key, data: { set: byKey.map(([k, v]) => [bitJson(bits, k), verdictJson(v)]) } } });
              break;
            }
            const els = [...a.elements].sort((x, y) => compareKeys(ts, x[0], y[0]));
            out.push({ vmap: { key, data: { set: els.map(([k, v]) => [keyJson(ts, k), verdictJson(v)]) } } });
          }
          break;
        }
        case 'meta_set': case 'ct_set': {
          if (e.key !== (e.op === 'meta_set' ? META_KEY.mark : CT_KEY.mark)) refuse(`setting ${e.op === 'meta_set' ? 'meta' : 'ct'} key ${e.key}`);
          const l = takeLoad(pending, e.sreg);
          let value: unknown;
          if (l.data) value = l.data.readUInt32LE(0);
          else if (l.bitwise) value = binopJson(l.json, l.bitwise.mask, l.bitwise.xor);
          else value = l.json;
          out.push({ mangle: { key: e.op === 'meta_set' ? { meta: { key: 'mark' } } : { ct: { key: 'mark' } }, value } });
          break;
        }
        case 'counter':
          out.push({ counter: { packets: Number(e.packets ?? 0n), bytes: Number(e.bytes ?? 0n) } });
          break;
        default: {
          // The reader's index of the expression's attributes (ExprReader), else indexed here.
          if (e.op === 'unknown' && e.name === 'payload write') { this.payloadWrite(e.attrs ?? this.attrs.index(e.data ?? EMPTY)); break; }
          const ext = e.op === 'unknown' ? EXT_DECODERS[e.name] : undefined;
          if (ext) { ext((e.op === 'unknown' ? e.attrs : undefined) ?? this.attrs.index(e.data ?? EMPTY), this); break; }
          refuse(`the expression "${(e as { name?: string }).name ?? (e as { op: string }).op}"`);
        }
      }
    }
    if (pending.length) refuse('a value loaded but never used');
    const r = this.dropped ? out.filter((s) => s !== undefined) : out.slice();
    while (out.length) out.pop();
    return r;
  }
}

/**
 * The statements of one rule's expressions.
 * @example decodeStatements(readExprs(b), 'ip', new Map()) // [{ match: ... }, { accept: null }]
 */
export function decodeStatements(exprs: KExpr[], family: Family, anon: AnonymousMaps, ifname?: (index: number) => string | undefined): Statement[] {
  return new RuleDecoder(anon, ifname).decode(exprs, family);
}

/** The data type of a single key load (intervals and ranges need one). */
function loadType(loads: Load[]): DataType {
  const t = loads.length === 1 ? loads[0]!.type : undefined;
  if (!t || !('id' in t) || (t as DataType).byteorder !== 2) throw new UnsupportedError('a range or interval of this key', { subsystem: 'nft', op: 'nft.list' });
  return t as DataType;
}

/** An anonymous set's keys in nft's order (list_expr_sort), formatted with the key expression's types. */
/** The data types of a lookup's key loads (ct state as its symbolic type). */
function keyTypesOf(loads: Load[]): DataType[] {
  const dt = loads.map((l) => l.type).map((t) => ('id' in t ? t : t.name === 'ct_state' ? EXTRA_TYPES.ct_state : undefined));
  if (dt.some((t) => !t)) throw new UnsupportedError('an anonymous set or map of flags', { subsystem: 'nft', op: 'nft.list' });
  return dt as DataType[];
}

function anonymousSetJson(types: ValueType[], keys: Buffer[]): unknown[] {
  const dt = types.map((t) => ('id' in t ? t : t.name === 'ct_state' ? EXTRA_TYPES.ct_state : undefined));
  if (dt.some((t) => !t)) throw new UnsupportedError('an anonymous set of flags', { subsystem: 'nft', op: 'nft.list' });
  const ts = dt as DataType[];
  return [...keys].sort((x, y) => compareKeys(ts, x, y)).map((k) => keyJson(ts, k));
}

/** A ct load of payload-fields.ts's keys as nft's JSON names it. */
function ctExtraLoad(key: number, dir: number | undefined, family: Family): { json: Statement; type: ValueType } | undefined {
  const hit = Object.entries(EXTRA_CT).find(([, k]) => k && k.key === key && k.dir === (dir !== undefined));
  if (!hit || (dir !== undefined && !CT_DIRS[dir])) return undefined;
  const [name, k] = hit;
  let type = k!.type;
  if (type === 'addr') {
    if (family !== 'ip' && family !== 'ip6') return undefined;
    type = family === 'ip' ? TYPES.ipv4_addr : TYPES.ipv6_addr;
  }
  return { json: { ct: dir === undefined ? { key: name } : { key: name, dir: CT_DIRS[dir] } }, type };
}

function binopJson(left: Statement, mask: Buffer, xor: Buffer): Statement {
  const m = mask.readUInt32LE(0), x = xor.readUInt32LE(0);
  if (x === 0) return { '&': [left, m] };
  if (m === 0xffffffff) return { '^': [left, x] };
  if (((~m) >>> 0) === x) return { '|': [left, x] };
  // Combinations as nft 1.0.6 lists them: bits the xor sets outside the mask make it
  // `& (mask | xor) | xor` (`| xor` when that mask is all ones); else `& mask ^ xor`.
  if ((x & ~m) !== 0) {
    const shown = (m | x) >>> 0;
    return shown === 0xffffffff ? { '|': [left, x] } : { '|': [{ '&': [left, shown] }, x] };
  }
  return { '^': [{ '&': [left, m] }, x] };
}


