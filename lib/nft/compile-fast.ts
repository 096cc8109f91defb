// The common rules of `ip`, `ip6` and `inet` tables (kube-proxy's: payload matches of addresses
// and ports, prefixes, meta l4proto, numgen, verdicts, counter, dnat to an address and port)
// compiled without RuleCompiler: into expression objects reused from rule to rule, with their
// values in reused buffers, so that a 20k-service batch makes no objects per rule. The
// expressions are exactly RuleCompiler's (compile.ts) for these statements, its dependencies
// included (meta l4proto before tcp/udp ports; in inet tables meta nfproto before the first ip or
// ip6 header field); anything else, or anything it would refuse, makes compile() return -1 and
// the caller compiles the rule with RuleCompiler (which names the error). Nothing is written or
// changed before a rule is known to fit.
import { parseIPv4 } from '../core/address.js';
import { NFT_REG_1, VERDICT } from './consts.js';
import { oneKey } from './compile.js';
import { TYPES } from './datatypes.js';
import { BIT_FIELDS } from './bitfields.js';
import { PAYLOAD } from './match-tables.js';
import { CMP, META_KEY, NUMGEN, type KExpr } from './ir.js';
import type { Family } from './types.js';

/** Value kinds of the fields compiled here. */
const IPV4 = 0, PORT = 1, IPV6 = 2;
/**
 * A payload field compiled here: [base, offset, len, kind, transport dependency (meta l4proto's
 * value; 0: none), network dependency (meta nfproto's value; 0: none)].
 */
type Field = [number, number, number, typeof IPV4 | typeof PORT | typeof IPV6, number, number];
/**
 * The fields by family, then protocol and field name. As RuleCompiler.deps: tcp/udp ports need
 * meta l4proto, th none; ip and ip6 fields need nothing in their own table and meta nfproto in an
 * inet table (the other network protocol's fields are not here: RuleCompiler refuses them in ip
 * and ip6 tables).
 */
const FIELDS = new Map<Family, Map<string, Map<string, Field>>>();
for (const [family, protos] of [
  ['ip', [['ip', 0, 0]]], ['ip6', [['ip6', 0, 0]]], ['inet', [['ip', 0, 2], ['ip6', 0, 10]]],
] as Array<[Family, Array<[string, number, number]>]>) {
  const byProto = new Map<string, Map<string, Field>>();
  for (const [proto, l4, nf] of [...protos, ['tcp', 6, 0], ['udp', 17, 0], ['th', 0, 0]] as Array<[string, number, number]>) {
    const m = new Map<string, Field>();
    for (const [field, f] of Object.entries(PAYLOAD[proto] ?? {})) {
      if (!f || BIT_FIELDS[proto]?.[field] !== undefined || field === 'flags') continue;
      const kind = f[3] === TYPES.ipv4_addr ? IPV4 : f[3] === TYPES.ipv6_addr ? IPV6 : f[3] === TYPES.inet_service ? PORT : -1;
      if (kind >= 0) m.set(field, [f[0], f[1], f[2], kind as Field[3], l4, nf]);
    }
    byProto.set(proto, m);
  }
  FIELDS.set(family, byProto);
}
/** meta l4proto's names (datatypes.ts PROTOCOLS) that are taken here; others go to RuleCompiler. */
const L4_NAMES = new Map([['tcp', 6], ['udp', 17], ['sctp', 132]]);
/** NAT attributes (stmt-nat.ts). */
const NAT_TYPE = 1, NAT_FAMILY = 2, NAT_ADDR_MIN = 3, NAT_PROTO_MIN = 5, NAT_FLAGS = 7, NAT_F_PROTO_SPECIFIED = 0x2;
/** Expressions a rule may have here (more: RuleCompiler). */
const MAX = 24;

/** A 32-bit network-order attribute (type t, value v) at b[n]; returns the offset after it. */
function put(b: Buffer, n: number, t: number, v: number): number {
  b[n] = 8; b[n + 1] = 0; b[n + 2] = t; b[n + 3] = 0;
  b[n + 4] = v >>> 24; b[n + 5] = (v >>> 16) & 0xff; b[n + 6] = (v >>> 8) & 0xff; b[n + 7] = v & 0xff;
  return n + 8;
}

/**
 * IPv6 text of hex groups with at most one `::` into b[0..16): true when it is one. False for
 * anything else (an IPv4 tail, a zone, bad text): ipv6() asks TYPES.ipv6_addr.parse then, so
 * what this takes is a subset of what RuleCompiler takes, with the same bytes.
 */
function ipv6Into(s: string, b: Buffer): boolean {
  const n = s.length;
  if (n < 2 || n > 39) return false;
  let w = 0, gap = -1, i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0; i = 2;
    if (i === n) { b.fill(0, 0, 16); return true; }
  }
  for (;;) {
    let v = 0, d = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      const x = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (x < 0) break;
      if (++d > 4) return false;
      v = v * 16 + x;
    }
    if (d === 0 || w === 8) return false;
    b[2 * w] = v >>> 8; b[2 * w + 1] = v & 0xff; w++;
    if (i === n) break;
    if (s.charCodeAt(i++) !== 58 || i === n) return false;
    if (s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = w;
      if (++i === n) break;
    }
  }
  if (gap < 0) return w === 8;
  if (w > 7) return false;
  // The groups after `::` move to the end; zeros between.
  const tail = w - gap;
  b.copyWithin(16 - 2 * tail, 2 * gap, 2 * w);
  b.fill(0, 2 * gap, 16 - 2 * tail);
  return true;
}

/** An IPv6 address as RuleCompiler reads it (TYPES.ipv6_addr) into b[0..16); false: not one. */
function ipv6(s: string, b: Buffer): boolean {
  if (ipv6Into(s, b)) return true;
  const v = TYPES.ipv6_addr.parse(s);
  if (!v) return false;
  b.set(v, 0);
  return true;
}

/** An address of kind k (IPV4 or IPV6) into b[0..4|16); false: not one. */
const addrInto = (k: number, s: string, b: Buffer): boolean => (k === IPV4 ? parseIPv4(s, b, 0) !== undefined : ipv6(s, b));

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A reusable value buffer and its views by length (cmp and immediate data). */
class Bytes {
  readonly b = Buffer.alloc(40);
  readonly views = Array.from({ length: 41 }, (_, n) => this.b.subarray(0, n));
}

/**
 * One per encoder. compile() puts a rule's expressions at the start of `out` (valid until the
 * next call) and returns their count, or -1 when RuleCompiler must compile the rule.
 * @example const f = new FastRules(); f.compile([{ accept: null }], 'ip6') // 1: f.out[0] is { op: 'immediate', dreg: 0, verdict: { code: 1 } }
 */
export class FastRules {
  /** The expressions (a fixed array: `length = 0` would drop its store and push() grow a new one per rule). */
  readonly out: KExpr[] = new Array<KExpr>(MAX).fill({ op: 'counter' });
  private n = 0;
  private readonly payloads = Array.from({ length: MAX }, () => ({ op: 'payload' as const, dreg: NFT_REG_1, base: 0, offset: 0, len: 0 }));
  private readonly metas = Array.from({ length: MAX }, () => ({ op: 'meta' as const, key: 0, dreg: NFT_REG_1 }));
  private readonly cmps = Array.from({ length: MAX }, () => ({ op: 'cmp' as const, sreg: NFT_REG_1, cmp: 0, data: Buffer.alloc(0), bytes: new Bytes() }));
  private readonly imms = Array.from({ length: MAX }, () => ({ op: 'immediate' as const, dreg: 0, data: undefined as Buffer | undefined, verdict: undefined as { code: number; chain: string | undefined } | undefined, bytes: new Bytes(), v: { code: 0, chain: undefined as string | undefined } }));
  private readonly numgens = Array.from({ length: MAX }, () => ({ op: 'numgen' as const, dreg: NFT_REG_1, mod: 0, type: 0, offset: 0 }));
  // IPv4 and IPv6 prefixes' masks (xor stays zero).
  private readonly bitwises = Array.from({ length: MAX }, () => ({ op: 'bitwise' as const, sreg: NFT_REG_1, dreg: NFT_REG_1, len: 4, mask: Buffer.alloc(4), xor: Buffer.alloc(4), bool: false }));
  private readonly bitwises6 = Array.from({ length: MAX }, () => ({ op: 'bitwise' as const, sreg: NFT_REG_1, dreg: NFT_REG_1, len: 16, mask: Buffer.alloc(16), xor: Buffer.alloc(16), bool: false }));
  private readonly nats = Array.from({ length: MAX }, () => ({ op: 'raw' as const, name: 'nat', data: Buffer.alloc(0), bytes: new Bytes() }));
  private readonly counter: KExpr = { op: 'counter' };
  private np = 0; private nm = 0; private nc = 0; private ni = 0; private nn = 0; private nb = 0; private nt = 0;
  /** This rule's payload matches nft may merge (compile.ts mayMerge): base, offset, len, op. */
  private readonly cand = new Int32Array(MAX * 4);
  private ncand = 0;
  /** The transport protocol the rule has matched (-1: none yet). */
  private l4proto = -1;
  /** The network protocol of an inet table's rule, once a dependency is in (-1: none yet). */
  private nfproto = -1;
  /** The table's family: its fields, and dnat's address family (undefined: an inet table's dnat names it). */
  private fields: Map<string, Map<string, Field>> | undefined;
  private natFamily: 'ip' | 'ip6' | undefined;

  /** The expressions of a rule of an `ip`, `ip6` or `inet` table, or -1 (RuleCompiler compiles it). */
  compile(list: unknown[], family: Family): number {
    this.n = 0;
    this.np = this.nm = this.nc = this.ni = this.nn = this.nb = this.nt = this.ncand = 0;
    this.l4proto = this.nfproto = -1;
    this.fields = FIELDS.get(family);
    if (this.fields === undefined || list.length > MAX / 2) return -1;
    this.natFamily = family === 'ip' ? 'ip' : family === 'ip6' ? 'ip6' : undefined;
    for (let i = 0; i < list.length; i++) if (!this.statement(list[i])) return -1;
    // Two payload matches nft merges (same base and op, adjacent bytes): RuleCompiler's plan.
    const c = this.cand;
    for (let a = 0; a < this.ncand; a++) {
      for (let b = 0; b < this.ncand; b++) {
        if (a !== b && c[a * 4] === c[b * 4] && c[a * 4 + 3] === c[b * 4 + 3] && c[a * 4 + 1]! + c[a * 4 + 2]! === c[b * 4 + 1]) return -1;
      }
    }
    return this.n;
  }

  /** Appends e (false when the rule has more expressions than `out` holds). */
  private push(e: KExpr): boolean {
    if (this.n >= MAX) return false;
    this.out[this.n++] = e;
    return true;
  }

  private statement(st: unknown): boolean {
    const kind = oneKey(st);
    if (kind === undefined) return false;
    const body = (st as Record<string, unknown>)[kind];
    switch (kind) {
      case 'match': return this.match(body);
      case 'accept': case 'drop': case 'return': case 'continue':
        return (body === null || body === undefined) && this.verdict(VERDICT[kind], undefined);
      case 'jump': case 'goto': {
        if (!isObj(body)) return false;
        const t = body.target;
        if (typeof t !== 'string' || t === '' || (t.length * 3 > 255 && Buffer.byteLength(t) > 255)) return false;
        return this.verdict(VERDICT[kind], t);
      }
      case 'counter':
        if (body !== null && body !== undefined) return false;
        return this.push(this.counter);
      case 'dnat': return this.dnat(body);
      default: return false;
    }
  }

  private verdict(code: number, chain: string | undefined): boolean {
    if (this.ni >= MAX) return false;
    const e = this.imms[this.ni++]!;
    e.dreg = 0; e.data = undefined; e.v.code = code; e.v.chain = chain; e.verdict = e.v;
    return this.push(e as KExpr);
  }

  private cmp(op: number, n: number): Buffer | undefined {
    if (this.nc >= MAX) return undefined;
    const e = this.cmps[this.nc++]!;
    e.cmp = op; e.data = e.bytes.views[n]!;
    return this.push(e as KExpr) ? e.bytes.b : undefined;
  }

  private payload(base: number, offset: number, len: number): boolean {
    if (this.np >= MAX) return false;
    const e = this.payloads[this.np++]!;
    e.base = base; e.offset = offset; e.len = len;
    return this.push(e);
  }

  private meta(key: number): boolean {
    if (this.nm >= MAX) return false;
    const e = this.metas[this.nm++]!;
    e.key = key;
    return this.push(e);
  }

  /** `== | !=` of a payload field, meta l4proto or numgen (match() in compile.ts for these). */
  private match(body: unknown): boolean {
    if (!isObj(body)) return false;
    const op = body.op, left = body.left, right = body.right;
    if (op !== '==' && op !== '!=') return false;
    const cmp = op === '==' ? CMP['=='] : CMP['!='];
    const lkind = oneKey(left);
    if (lkind === undefined) return false;
    const lbody = (left as Record<string, unknown>)[lkind];
    if (!isObj(lbody)) return false;
    if (lkind === 'payload') {
      const proto = lbody.protocol, field = lbody.field;
      if (typeof proto !== 'string' || typeof field !== 'string' || 'base' in lbody) return false;
      const f = this.fields!.get(proto)?.get(field);
      if (!f) return false;
      // The dependencies (meta nfproto in inet tables, meta l4proto), as RuleCompiler.deps inserts them.
      const nf = f[5];
      if (nf && this.nfproto !== nf) {
        if (this.nfproto !== -1 || !this.meta(META_KEY.nfproto)) return false;
        const d = this.cmp(CMP['=='], 1);
        if (!d) return false;
        d[0] = nf;
        this.nfproto = nf;
      }
      const dep = f[4];
      if (dep && this.l4proto !== dep) {
        if (this.l4proto !== -1) return false;
        if (!this.meta(META_KEY.l4proto)) return false;
        const d = this.cmp(CMP['=='], 1);
        if (!d) return false;
        d[0] = dep;
        this.l4proto = dep;
      }
      if (typeof right === 'object' && right !== null) {
        // Prefixes of addresses: whole bytes shorten the load, the rest is masked.
        if (Array.isArray(right) || f[3] === PORT || 'set' in right || 'range' in right || !('prefix' in right)) return false;
        const p = (right as Record<string, unknown>).prefix;
        if (!isObj(p)) return false;
        const len = p.len, addr = p.addr, size = f[2];
        if (typeof len !== 'number' || !Number.isInteger(len) || len < 1 || len > size * 8 || typeof addr !== 'string') return false;
        if (len % 8 === 0) {
          if (!this.payload(f[0], f[1], len / 8)) return false;
          // The whole address is parsed (and checked), the load's bytes of it compared.
          const d = this.cmp(cmp, len / 8);
          if (!d || !addrInto(f[3], addr, d)) return false;
        } else {
          if (!this.payload(f[0], f[1], size) || this.nb >= MAX) return false;
          const bw = (size === 4 ? this.bitwises : this.bitwises6)[this.nb++]!;
          if (!this.push(bw)) return false;
          const d = this.cmp(cmp, size);
          if (!d || !addrInto(f[3], addr, d)) return false;
          for (let i = 0; i < size; i++) {
            const bits = len - i * 8, m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff00 >> bits) & 0xff;
            bw.mask[i] = m; d[i] = d[i]! & m;
          }
        }
        return true;
      }
      if (!this.payload(f[0], f[1], f[2])) return false;
      if (f[3] !== PORT) {
        if (typeof right !== 'string') return false;
        const d = this.cmp(cmp, f[2]);
        if (!d || !addrInto(f[3], right, d)) return false;
      } else {
        if (typeof right !== 'number' || !Number.isInteger(right) || right < 0 || right > 0xffff) return false;
        const d = this.cmp(cmp, 2);
        if (!d) return false;
        d[0] = right >>> 8; d[1] = right & 0xff;
      }
      this.mergeCandidate(f[0], f[1], f[2], cmp);
      return true;
    }
    if (lkind === 'meta') {
      if (lbody.key !== 'l4proto') return false;
      const n = typeof right === 'string' ? L4_NAMES.get(right) : typeof right === 'number' && Number.isInteger(right) && right >= 0 && right <= 255 ? right : undefined;
      if (n === undefined || !this.meta(META_KEY.l4proto)) return false;
      const d = this.cmp(cmp, 1);
      if (!d) return false;
      d[0] = n;
      if (cmp === CMP['==']) this.l4proto = n;
      return true;
    }
    if (lkind === 'numgen') {
      const mode = lbody.mode, mod = lbody.mod, offset = lbody.offset ?? 0;
      if (mode !== 'random' && mode !== 'inc') return false;
      if (typeof mod !== 'number' || !Number.isInteger(mod) || mod < 1 || mod > 0xffffffff) return false;
      if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > 0xffffffff) return false;
      if (typeof right !== 'number' || !Number.isInteger(right) || right < 0 || right > 0xffffffff || this.nn >= MAX) return false;
      const e = this.numgens[this.nn++]!;
      e.mod = mod; e.type = NUMGEN[mode]; e.offset = offset;
      if (!this.push(e)) return false;
      const d = this.cmp(cmp, 4);
      if (!d) return false;
      d[0] = right & 0xff; d[1] = (right >>> 8) & 0xff; d[2] = (right >>> 16) & 0xff; d[3] = right >>> 24;
      return true;
    }
    return false;
  }

  /** A payload match compile.ts's mayMerge counts: == or != of a field and a plain value. */
  private mergeCandidate(base: number, offset: number, len: number, op: number): void {
    const i = this.ncand++ * 4, c = this.cand;
    c[i] = base; c[i + 1] = offset; c[i + 2] = len; c[i + 3] = op;
  }

  /**
   * `dnat to addr[:port]` (stmt-nat.ts nat() for a single address and port, no flags): the
   * table's family, or in an inet table the one the statement names.
   */
  private dnat(body: unknown): boolean {
    if (!isObj(body)) return false;
    for (const k in body) if (k !== 'addr' && k !== 'port' && k !== 'family') return false;
    const fam = body.family === undefined ? this.natFamily : body.family;
    if (fam !== 'ip' && fam !== 'ip6') return false;
    if (this.natFamily !== undefined && fam !== this.natFamily) return false;
    const addr = body.addr, port = body.port;
    if (typeof addr !== 'string') return false;
    if (this.ni >= MAX - 1 || this.nt >= MAX) return false;
    const a = this.imms[this.ni++]!, size = fam === 'ip' ? 4 : 16;
    a.dreg = NFT_REG_1; a.verdict = undefined; a.data = a.bytes.views[size]!;
    if (!addrInto(fam === 'ip' ? IPV4 : IPV6, addr, a.bytes.b) || !this.push(a as KExpr)) return false;
    const hasPort = port !== undefined;
    if (hasPort) {
      // A port needs a transport protocol match first (ports() in stmt-nat.ts); its register is the one after the address's.
      if (this.l4proto === -1 || typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 0xffff) return false;
      const p = this.imms[this.ni++]!;
      p.dreg = NFT_REG_1 + 1; p.verdict = undefined; p.data = p.bytes.views[2]!;
      p.bytes.b[0] = port >>> 8; p.bytes.b[1] = port & 0xff;
      if (!this.push(p as KExpr)) return false;
    }
    // be32Attrs' layout: TYPE dnat, FAMILY, ADDR_MIN reg 1, then PROTO_MIN and FLAGS with a port.
    const e = this.nats[this.nt++]!, b = e.bytes.b;
    let n = put(b, 0, NAT_TYPE, 1);
    n = put(b, n, NAT_FAMILY, fam === 'ip' ? 2 : 10);
    n = put(b, n, NAT_ADDR_MIN, NFT_REG_1);
    if (hasPort) { n = put(b, n, NAT_PROTO_MIN, NFT_REG_1 + 1); n = put(b, n, NAT_FLAGS, NAT_F_PROTO_SPECIFIED); }
    e.data = e.bytes.views[n]!;
    return this.push(e);
  }
}
