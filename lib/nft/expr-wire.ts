// Expressions in and out of netlink attributes, each with its attributes in the order libnftnl
// 1.2.4 writes them (the bytes match `nft --debug=mnl`; see test/fixtures/nft).
import { AttrWriter } from '../netlink/attr-writer.js';
import { attrIndex, AttrWalk, strIsAscii } from '../netlink/reader.js';
import { AttrTable, attrMap, be32, Names, str, strAt } from './attrs.js';
import { DATA, EXPR, LIST_ELEM, VERDICT_ATTR } from './consts.js';
import type { KExpr, Verdict } from './ir.js';

/** The highest NFTA_*_ attribute type readExprs looks at in an expression's data. */
const EXPR_ATTR_MAX = 16;
/** Values up to this length are copied into buffers the reader keeps (an IPv6 address: 16). */
const POOLED_MAX = 16;
const EMPTY = Buffer.alloc(0);

function copyBytes(b: Buffer, at: number, v: Uint8Array): void {
  const n = v.length;
  if (n > 64) b.set(v, at);
  else for (let i = 0; i < n; i++) b[at + i] = v[i]!;
}

/** An expression's LIST_ELEM nest header and NFTA_EXPR_NAME attribute, by name (made once). */
const HEADS = new Map<string, Uint8Array>();
function exprHead(name: string): Uint8Array {
  let h = HEADS.get(name);
  if (h === undefined) {
    const w = new AttrWriter(64);
    w.nest(LIST_ELEM);
    w.str(EXPR.NAME, name);
    h = Uint8Array.from(w.buf.subarray(0, w.pos));
    HEADS.set(name, h);
  }
  return h;
}

/** The attribute writer with the shapes nf_tables messages use. */
export class NftAttrWriter extends AttrWriter {
  /** A nest whose attributes fn writes (hot paths use nest()/endNest(): no closure per call). */
  within(type: number, fn: () => void): void {
    const at = this.nest(type);
    fn();
    this.endNest(at);
  }

  /** nft_data: a value (NFTA_DATA_VALUE) inside the nest `type`. */
  dataValue(type: number, v: Uint8Array): void {
    const at = this.nest(type);
    this.bytes(DATA.VALUE, v);
    this.endNest(at);
  }

  /** nft_data: a verdict inside the nest `type`. */
  dataVerdict(type: number, v: Verdict): void {
    this.dataVerdictOf(type, v.code, v.chain);
  }

  /** dataVerdict() of a code and chain (no Verdict object: a map's elements). */
  dataVerdictOf(type: number, code: number, chain: string | undefined): void {
    const at = this.nest(type), inner = this.nest(DATA.VERDICT);
    this.be32(VERDICT_ATTR.CODE, code);
    if (chain !== undefined) this.str(VERDICT_ATTR.CHAIN, chain);
    this.endNest(inner);
    this.endNest(at);
  }

  /** One expression as an element of NFTA_RULE_EXPRESSIONS. */
  expr(e: KExpr): void {
    if (e.op === 'unknown') throw new Error(`cannot encode expression ${e.name}`);
    // The element's nest and NFTA_EXPR_NAME as bytes made once per name (what nest() and str() write).
    const h = exprHead(e.op === 'meta_set' ? 'meta' : e.op === 'ct_set' ? 'ct' : e.op === 'raw' ? e.name : e.op === 'shift' ? 'bitwise' : e.op);
    const at = this.pos, n = h.length;
    if (at + n > this.buf.length) this.ensure(n);
    const b = this.buf;
    for (let i = 0; i < n; i++) b[at + i] = h[i]!;
    this.pos = at + n;
    if (e.op !== 'raw') {
      const d = this.nest(EXPR.DATA);
      this.exprData(e);
      this.endNest(d);
    } else if (e.data) {
      const d = this.nest(EXPR.DATA);
      this.raw(e.data);
      this.endNest(d);
    }
    this.endNest(at);
  }

  /** An attribute of `len` payload bytes (padding zeroed); returns where the payload goes, for the caller to fill. */
  valueAttr(type: number, len: number): number {
    return this.attr(type, len);
  }

  /** Attributes already laid out. */
  raw(data: Uint8Array): void {
    const n = data.length, p = this.pos;
    if (p + n > this.buf.length) this.ensure(n);
    copyBytes(this.buf, p, data);
    this.pos = p + n;
  }

  /** As AttrWriter's, with short values copied byte by byte (TypedArray set() costs more below ~64 bytes). */
  override bytes(type: number, v: Uint8Array): void {
    // attr() first: it may grow the buffer (`this.buf` read before the call would be the old one).
    const at = this.attr(type, v.length);
    copyBytes(this.buf, at, v);
  }

  private exprData(e: KExpr): void {
    switch (e.op) {
      case 'payload':
        this.be32(1, e.dreg); this.be32(2, e.base); this.be32(3, e.offset); this.be32(4, e.len);
        return;
      case 'meta':
      case 'ct':
        this.be32(2, e.key); this.be32(1, e.dreg);
        if (e.op === 'ct' && e.dir !== undefined) this.u8(3, e.dir);
        return;
      case 'meta_set':
      case 'ct_set':
        // The source register: NFTA_META_SREG is 3, NFTA_CT_SREG 4 (3 is the ct direction).
        this.be32(2, e.key); this.be32(e.op === 'meta_set' ? 3 : 4, e.sreg);
        return;
      case 'cmp':
        this.be32(1, e.sreg); this.be32(2, e.cmp); this.dataValue(3, e.data);
        return;
      case 'bitwise':
        this.be32(1, e.sreg); this.be32(2, e.dreg);
        if (e.bool) this.be32(6, 0);
        this.be32(3, e.len); this.dataValue(4, e.mask); this.dataValue(5, e.xor);
        return;
      case 'shift': {
        // NFTA_BITWISE_OP RSHIFT and NFTA_BITWISE_DATA: the shift as a host-order u32.
        this.be32(1, e.sreg); this.be32(2, e.dreg); this.be32(6, 2); this.be32(3, e.len);
        const n = Buffer.alloc(4);
        n.writeUInt32LE(e.rshift);
        this.dataValue(7, n);
        return;
      }
      case 'lookup':
        this.be32(2, e.sreg);
        if (e.dreg !== undefined) this.be32(3, e.dreg);
        this.str(1, e.set);
        if (e.setId !== undefined) this.be32(4, e.setId);
        if (e.inv) this.be32(5, 1);
        return;
      case 'immediate':
        this.be32(1, e.dreg);
        if (e.verdict) this.dataVerdict(2, e.verdict);
        else this.dataValue(2, e.data!);
        return;
      case 'counter':
        if (e.bytes !== undefined) this.be64(1, e.bytes);
        if (e.packets !== undefined) this.be64(2, e.packets);
        return;
      case 'numgen':
        this.be32(1, e.dreg); this.be32(2, e.mod); this.be32(3, e.type); this.be32(4, e.offset);
        return;
      case 'fib':
        this.be32(3, e.flags); this.be32(2, e.result); this.be32(1, e.dreg);
        return;
      case 'range':
        this.be32(1, e.sreg); this.be32(2, e.rop); this.dataValue(3, e.from); this.dataValue(4, e.to);
        return;

      case 'byteorder':
        this.be32(1, e.sreg); this.be32(2, e.dreg); this.be32(3, e.bop); this.be32(4, e.len); this.be32(5, e.size);
        return;
    }
  }
}

/** nft_data's value bytes, or its verdict. */
export function readData(b: Buffer): { value?: Buffer; verdict?: Verdict } {
  const m = attrMap(b);
  const v = m.get(DATA.VALUE);
  if (v) return { value: v };
  const vd = m.get(DATA.VERDICT);
  if (!vd) return {};
  const vm = attrMap(vd);
  const code = be32(vm.get(VERDICT_ATTR.CODE)) ?? 0;
  const chain = str(vm.get(VERDICT_ATTR.CHAIN));
  return { verdict: chain === undefined ? { code } : { code, chain } };
}

/**
 * Reads one rule's expressions by offset (attrIndex into reused index arrays): a 20k-service
 * ruleset has ~2M attributes, and a Buffer view and Map per attribute made most of list()'s time.
 * Methods rather than closures: a closure made per rule costs too (tsx names each one). One
 * reader serves every rule of a dump.
 */
export class ExprReader {
  private readonly walk = new AttrWalk();
  private readonly exprWalk = new AttrWalk();
  private readonly dataWalk = new AttrWalk();
  // The types set in d (the rest of d is 0).
  private readonly setTypes = new Int32Array(EXPR_ATTR_MAX + 1);
  private nset = 0;
  // The expression's NFTA_EXPR_DATA (offset 0: absent; an attribute's payload never starts at 0).
  private dataAt = 0;
  private dataLen = 0;
  // Payload offsets in the data, by type.
  private readonly d = new Int32Array(EXPR_ATTR_MAX + 1);
  private readonly dl = new Int32Array(EXPR_ATTR_MAX + 1);
  private readonly dat = new Int32Array(3);
  private readonly dlen = new Int32Array(3);
  private readonly vat = new Int32Array(VERDICT_ATTR.CHAIN + 1);
  private readonly vlen = new Int32Array(VERDICT_ATTR.CHAIN + 1);
  private b: Buffer = EMPTY;
  // Value buffers by length, reused from rule to rule (used[len]: how many the current rule took).
  private readonly pool: Buffer[][] = [];
  private readonly used = new Int32Array(POOLED_MAX + 1);
  // The index of each extension expression of the rule being read (tables[0..ntables)), handed on in its KExpr.
  private readonly tables: AttrTable[] = [];
  private ntables = 0;

  /** Expression names: a few distinct ones, kept apart from the (many) chain names. */
  private readonly exprNames = new Names();
  // The last name seen per (first two bytes, length): checked in one pass over its bytes before the
  // hash lookup (a listing reads ~600k names, a dozen distinct ones).
  private readonly recent: string[] = new Array<string>(1024).fill('');

  /** `names`: jump targets made once each (a listing shares its chain names). */
  constructor(private readonly names = new Names()) {}

  /**
   * The expressions in b[from, to) (an NFTA_RULE_EXPRESSIONS payload), into `out` (from its
   * start; a listing passes one array for every rule: the decoder is done with a rule's
   * expressions before the next rule is read). Their values (cmp data, masks, immediates) are
   * the reader's own buffers, valid until its next read(): a view per value made most of a
   * listing's Buffer objects.
   */
  read(b: Buffer, from = 0, to = b.length, out: KExpr[] = []): KExpr[] {
    this.b = b;
    const w = this.walk, ew = this.exprWalk;
    let n = 0;
    this.ntables = 0;
    this.used.fill(0);
    for (w.start(b, from, to); w.next();) {
      let nameAt = 0, nameLen = 0;
      this.dataAt = 0;
      this.dataLen = 0;
      for (ew.start(b, w.at, w.at + w.len); ew.next();) {
        if (ew.type === EXPR.NAME) { nameAt = ew.at; nameLen = ew.len; } else if (ew.type === EXPR.DATA) { this.dataAt = ew.at; this.dataLen = ew.len; }
      }
      const name = nameAt ? this.exprName(b, nameAt, nameLen) : '';
      this.indexData();
      out[n++] = this.expr(name);
    }
    // pop(), not a shorter length: setting length is a runtime call, and at 0 it drops the array's store.
    while (out.length > n) out.pop();
    return out;
  }

  /**
   * The data attributes by type into d/dl, clearing only what the previous expression set (an
   * expression has a few of the 17 types; zeroing all of them per expression was ~2% of a listing).
   */
  private indexData(): void {
    const d = this.d, dl = this.dl, set = this.setTypes, b = this.b;
    for (let k = 0; k < this.nset; k++) d[set[k]!] = 0;
    let nset = 0;
    const da = this.dataAt;
    if (da) {
      for (const w = this.dataWalk.start(b, da, da + this.dataLen); w.next();) {
        const t = w.type;
        if (t > EXPR_ATTR_MAX) continue;
        if (d[t] === 0) set[nset++] = t;
        d[t] = w.at;
        dl[t] = w.len;
      }
    }
    this.nset = nset;
  }

  /** An expression's name (NFTA_EXPR_NAME's payload b[at, at + len)). */
  private exprName(b: Buffer, at: number, len: number): string {
    const k = (b[at]! ^ (len > 1 ? b[at + 1]! << 2 : 0) ^ (len << 5)) & 1023;
    const s = this.recent[k]!;
    if (s !== '' && strIsAscii(b, at, len, s)) return s;
    return this.recent[k] = this.exprNames.get(b, at, len);
  }

  /** The current expression's data attributes as an AttrTable of the rule's own (a copy of d/dl: the decoder reads it after later expressions were indexed). */
  private attrTable(): AttrTable {
    const t = this.tables[this.ntables] ??= new AttrTable(EXPR_ATTR_MAX);
    this.ntables++;
    return t.copy(this.b, this.d, this.dl);
  }

  private has(t: number): boolean { return this.d[t]! !== 0; }
  private u(t: number): number | undefined { return this.d[t]! !== 0 && this.dl[t]! >= 4 ? this.b.readUInt32BE(this.d[t]!) : undefined; }
  private need(t: number): number { return this.u(t) ?? 0; }
  private u64(t: number): bigint | undefined { return this.d[t]! !== 0 ? this.b.readBigUInt64BE(this.d[t]!) : undefined; }

  /** The value of the nft_data in data attribute t (an empty Buffer when there is none). */
  private value(t: number): Buffer {
    if (!this.has(t)) return EMPTY;
    attrIndex(this.b, this.d[t]!, this.d[t]! + this.dl[t]!, 2, this.dat, this.dlen);
    const v = this.dat[DATA.VALUE]!;
    if (!v) return EMPTY;
    const len = this.dlen[DATA.VALUE]!, b = this.b;
    if (len === 0 || len > POOLED_MAX) return b.subarray(v, v + len);
    const list = this.pool[len] ??= [];
    const out = list[this.used[len]!++] ??= Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = b[v + i]!;
    return out;
  }

  /** The verdict of the nft_data in data attribute t, if it holds one (read as readData does). */
  private verdict(t: number): Verdict | undefined {
    if (!this.has(t)) return undefined;
    const b = this.b;
    attrIndex(b, this.d[t]!, this.d[t]! + this.dl[t]!, 2, this.dat, this.dlen);
    const vd = this.dat[DATA.VERDICT]!;
    if (this.dat[DATA.VALUE] || !vd) return undefined;
    attrIndex(b, vd, vd + this.dlen[DATA.VERDICT]!, VERDICT_ATTR.CHAIN, this.vat, this.vlen);
    const c = this.vat[VERDICT_ATTR.CODE]!, ch = this.vat[VERDICT_ATTR.CHAIN]!;
    const code = c && this.vlen[VERDICT_ATTR.CODE]! >= 4 ? b.readUInt32BE(c) : 0;
    return ch ? { code, chain: this.names.get(b, ch, this.vlen[VERDICT_ATTR.CHAIN]!) } : { code };
  }

  private expr(name: string): KExpr {
    switch (name) {
      case 'payload':
        // A write (NFTA_PAYLOAD_SREG): read by statements.ts from its attributes.
        if (this.has(5)) return { op: 'unknown', name: 'payload write', data: this.b.subarray(this.dataAt, this.dataAt + this.dataLen), attrs: this.attrTable() };
        return { op: 'payload', dreg: this.need(1), base: this.need(2), offset: this.need(3), len: this.need(4) };
      case 'meta': return this.has(3) ? { op: 'meta_set', key: this.need(2), sreg: this.need(3) } : { op: 'meta', key: this.need(2), dreg: this.need(1) };
      case 'ct':
        if (this.has(3)) return this.has(4) ? { op: 'unknown', name: 'ct set with direction' } : { op: 'ct', key: this.need(2), dreg: this.need(1), dir: this.b[this.d[3]!]! };
        return this.has(4) ? { op: 'ct_set', key: this.need(2), sreg: this.need(4) } : { op: 'ct', key: this.need(2), dreg: this.need(1) };
      case 'cmp': return { op: 'cmp', sreg: this.need(1), cmp: this.need(2), data: this.value(3) };
      case 'bitwise':
        if (this.u(6) === 2 && this.has(7)) {
          const n = this.value(7);
          if (n.length === 4) return { op: 'shift', sreg: this.need(1), dreg: this.need(2), len: this.need(3), rshift: n.readUInt32LE(0) };
        }
        if ((this.u(6) ?? 0) !== 0) return { op: 'unknown', name: 'bitwise shift' };
        return { op: 'bitwise', sreg: this.need(1), dreg: this.need(2), len: this.need(3), bool: this.has(6), mask: this.value(4), xor: this.value(5) };
      case 'lookup': {
        if ((this.u(5) ?? 0) & ~1) return { op: 'unknown', name: 'lookup flags' };
        const e: KExpr = { op: 'lookup', sreg: this.need(2), set: this.has(1) ? strAt(this.b, this.d[1]!, this.dl[1]!) : '' };
        if (this.u(5) === 1) e.inv = true;
        if (this.has(3)) e.dreg = this.need(3);
        return e;
      }
      case 'immediate': {
        const v = this.verdict(2);
        return v ? { op: 'immediate', dreg: this.need(1), verdict: v } : { op: 'immediate', dreg: this.need(1), data: this.value(2) };
      }
      // Counters read as bigints straight from the wire: a Number loses what lies past 2^53.
      case 'counter': return { op: 'counter', bytes: this.u64(1), packets: this.u64(2) };
      case 'numgen': return { op: 'numgen', dreg: this.need(1), mod: this.need(2), type: this.need(3), offset: this.need(4) };
      case 'fib': return { op: 'fib', flags: this.need(3), result: this.need(2), dreg: this.need(1) };
      case 'range': return { op: 'range', sreg: this.need(1), rop: this.need(2), from: this.value(3), to: this.value(4) };
      case 'byteorder': return { op: 'byteorder', sreg: this.need(1), dreg: this.need(2), bop: this.need(3), len: this.need(4), size: this.need(5) };
      default: {
        const da = this.dataAt;
        return { op: 'unknown', name, data: da ? this.b.subarray(da, da + this.dataLen) : Buffer.alloc(0), attrs: this.attrTable() };
      }
    }
  }
}

/** The expressions of NFTA_RULE_EXPRESSIONS, as the kernel dumps them. */
export function readExprs(b: Buffer): KExpr[] {
  return new ExprReader().read(b);
}
