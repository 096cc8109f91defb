// Expressions in and out of netlink attributes, each with its attributes in the order libnftnl
// 1.2.4 writes them (the bytes match `nft --debug=mnl`; see test/fixtures/nft).
import { AttrWriter } from '../netlink/attr-writer.js';
import { attrIndex } from '../netlink/reader.js';
import { attrMap, be32, str } from './attrs.js';
import { DATA, EXPR, LIST_ELEM, VERDICT_ATTR } from './consts.js';
import type { KExpr, Verdict } from './ir.js';

/** The highest NFTA_*_ attribute type readExprs looks at in an expression's data. */
const EXPR_ATTR_MAX = 16;
const EMPTY = Buffer.alloc(0);

/** The attribute writer with the shapes nf_tables messages use. */
export class NftAttrWriter extends AttrWriter {
  /** A nest whose attributes fn writes. */
  within(type: number, fn: () => void): void {
    const at = this.nest(type);
    fn();
    this.endNest(at);
  }

  /** nft_data: a value (NFTA_DATA_VALUE) inside the nest `type`. */
  dataValue(type: number, v: Uint8Array): void {
    this.within(type, () => this.bytes(DATA.VALUE, v));
  }

  /** nft_data: a verdict inside the nest `type`. */
  dataVerdict(type: number, v: Verdict): void {
    this.within(type, () => this.within(DATA.VERDICT, () => {
      this.be32(VERDICT_ATTR.CODE, v.code);
      if (v.chain !== undefined) this.str(VERDICT_ATTR.CHAIN, v.chain);
    }));
  }

  /** One expression as an element of NFTA_RULE_EXPRESSIONS. */
  expr(e: KExpr): void {
    if (e.op === 'unknown') throw new Error(`cannot encode expression ${e.name}`);
    this.within(LIST_ELEM, () => {
      this.str(EXPR.NAME, e.op === 'meta_set' ? 'meta' : e.op === 'ct_set' ? 'ct' : e.op);
      this.within(EXPR.DATA, () => this.exprData(e));
    });
  }

  private exprData(e: KExpr): void {
    switch (e.op) {
      case 'payload':
        this.be32(1, e.dreg); this.be32(2, e.base); this.be32(3, e.offset); this.be32(4, e.len);
        return;
      case 'meta':
        this.be32(2, e.key); this.be32(1, e.dreg);
        return;
      case 'meta_set':
        this.be32(2, e.key); this.be32(3, e.sreg);
        return;
      case 'ct':
        this.be32(2, e.key); this.be32(1, e.dreg);
        return;
      case 'ct_set':
        this.be32(2, e.key); this.be32(4, e.sreg);
        return;
      case 'cmp':
        this.be32(1, e.sreg); this.be32(2, e.cmp); this.dataValue(3, e.data);
        return;
      case 'bitwise':
        this.be32(1, e.sreg); this.be32(2, e.dreg);
        if (e.bool) this.be32(6, 0);
        this.be32(3, e.len); this.dataValue(4, e.mask); this.dataValue(5, e.xor);
        return;
      case 'lookup':
        this.be32(2, e.sreg);
        if (e.dreg !== undefined) this.be32(3, e.dreg);
        this.str(1, e.set);
        if (e.setId !== undefined) this.be32(4, e.setId);
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
      case 'nat':
        this.be32(1, e.type); this.be32(2, e.family);
        if (e.regAddrMin !== undefined) this.be32(3, e.regAddrMin);
        if (e.regProtoMin !== undefined) this.be32(5, e.regProtoMin);
        if (e.flags !== undefined) this.be32(7, e.flags);
        return;
      case 'masq':
        if (e.flags !== undefined) this.be32(1, e.flags);
        return;
      case 'reject':
        this.be32(1, e.type); this.u8(2, e.code);
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

/** Attribute index arrays for readExprs (one set per call: no module-level state). */
interface ExprScratch { at: Int32Array; len: Int32Array; dat: Int32Array; dlen: Int32Array }

/** nft_data at b[from, to): the offsets of its value, or of its verdict's code and chain (0: absent; the last wins). */
function dataAt(b: Buffer, from: number, to: number, s: ExprScratch): void {
  attrIndex(b, from, to, 2, s.dat, s.dlen);
}

/** A NUL-terminated string attribute's text (as str() reads it). */
function strAt(b: Buffer, at: number, len: number): string {
  let e = at;
  const end = at + len;
  while (e < end && b[e] !== 0) e++;
  return b.toString('utf8', at, e);
}

/**
 * The expressions of NFTA_RULE_EXPRESSIONS, as the kernel dumps them. Attributes are read by
 * offset (attrIndex): a 20k-service ruleset has ~2M of them, and a Buffer view per attribute
 * made most of list()'s time (allocation and GC).
 */
export function readExprs(b: Buffer): KExpr[] {
  const s: ExprScratch = { at: new Int32Array(3), len: new Int32Array(3), dat: new Int32Array(3), dlen: new Int32Array(3) };
  const d = new Int32Array(EXPR_ATTR_MAX + 1), dl = new Int32Array(EXPR_ATTR_MAX + 1);
  const out: KExpr[] = [];
  // Payload offsets: 0 means absent (an attribute's payload never starts at 0).
  const has = (t: number) => d[t]! !== 0;
  const u = (t: number): number | undefined => (d[t]! !== 0 && dl[t]! >= 4 ? b.readUInt32BE(d[t]!) : undefined);
  const need = (t: number): number => u(t) ?? 0;
  /** The value of the nft_data in data attribute t (an empty Buffer when there is none). */
  const value = (t: number): Buffer => {
    if (!has(t)) return EMPTY;
    dataAt(b, d[t]!, d[t]! + dl[t]!, s);
    return s.dat[DATA.VALUE] ? b.subarray(s.dat[DATA.VALUE]!, s.dat[DATA.VALUE]! + s.dlen[DATA.VALUE]!) : EMPTY;
  };
  /** The verdict of the nft_data in data attribute t, if it holds one. */
  const verdict = (t: number): Verdict | undefined => {
    if (!has(t)) return undefined;
    dataAt(b, d[t]!, d[t]! + dl[t]!, s);
    if (s.dat[DATA.VALUE] || !s.dat[DATA.VERDICT]) return undefined;
    return readData(b.subarray(d[t]!, d[t]! + dl[t]!)).verdict;
  };
  let p = 0;
  const end = b.length;
  while (p + 4 <= end) {
    const elen = b.readUInt16LE(p);
    if (elen < 4 || p + elen > end) break;
    attrIndex(b, p + 4, p + elen, 2, s.at, s.len);
    p += (elen + 3) & ~3;
    const name = s.at[EXPR.NAME] ? strAt(b, s.at[EXPR.NAME]!, s.len[EXPR.NAME]!) : '';
    const da = s.at[EXPR.DATA]!, dlen = s.len[EXPR.DATA]!;
    if (da) attrIndex(b, da, da + dlen, EXPR_ATTR_MAX, d, dl);
    else d.fill(0);
    out.push(exprOf(name));
  }
  return out;

  function exprOf(name: string): KExpr {
    switch (name) {
      case 'payload': return { op: 'payload', dreg: need(1), base: need(2), offset: need(3), len: need(4) };
      case 'meta': return has(3) ? { op: 'meta_set', key: need(2), sreg: need(3) } : { op: 'meta', key: need(2), dreg: need(1) };
      case 'ct':
        if (has(3)) return { op: 'unknown', name: 'ct with direction' };
        return has(4) ? { op: 'ct_set', key: need(2), sreg: need(4) } : { op: 'ct', key: need(2), dreg: need(1) };
      case 'cmp': return { op: 'cmp', sreg: need(1), cmp: need(2), data: value(3) };
      case 'bitwise':
        if ((u(6) ?? 0) !== 0) return { op: 'unknown', name: 'bitwise shift' };
        return { op: 'bitwise', sreg: need(1), dreg: need(2), len: need(3), bool: has(6), mask: value(4), xor: value(5) };
      case 'lookup': {
        if ((u(5) ?? 0) !== 0) return { op: 'unknown', name: 'inverted lookup' };
        const e: KExpr = { op: 'lookup', sreg: need(2), set: has(1) ? strAt(b, d[1]!, dl[1]!) : '' };
        if (has(3)) e.dreg = need(3);
        return e;
      }
      case 'immediate': {
        const v = verdict(2);
        return v ? { op: 'immediate', dreg: need(1), verdict: v } : { op: 'immediate', dreg: need(1), data: value(2) };
      }
      // Counters read as bigints straight from the wire: a Number loses what lies past 2^53.
      case 'counter': return { op: 'counter', bytes: has(1) ? b.readBigUInt64BE(d[1]!) : undefined, packets: has(2) ? b.readBigUInt64BE(d[2]!) : undefined };
      case 'numgen': return { op: 'numgen', dreg: need(1), mod: need(2), type: need(3), offset: need(4) };
      case 'fib': return { op: 'fib', flags: need(3), result: need(2), dreg: need(1) };
      case 'nat':
        // The kernel dumps a range's end registers equal to its start when none was given.
        if ((has(4) && u(4) !== u(3)) || (has(6) && u(6) !== u(5))) return { op: 'unknown', name: 'nat range' };
        return { op: 'nat', type: need(1), family: need(2), regAddrMin: u(3), regProtoMin: u(5), flags: u(7) };
      case 'masq':
        if (has(2)) return { op: 'unknown', name: 'masquerade to ports' };
        return { op: 'masq', flags: u(1) };
      case 'reject': return { op: 'reject', type: need(1), code: has(2) && dl[2]! > 0 ? b[d[2]!]! : 0 };
      case 'byteorder': return { op: 'byteorder', sreg: need(1), dreg: need(2), bop: need(3), len: need(4), size: need(5) };
      default: {
        const da = s.at[EXPR.DATA]!;
        return { op: 'unknown', name, data: da ? b.subarray(da, da + s.len[EXPR.DATA]!) : Buffer.alloc(0) };
      }
    }
  }
}
