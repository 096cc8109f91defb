// Expressions in and out of netlink attributes, each with its attributes in the order libnftnl
// 1.2.4 writes them (the bytes match `nft --debug=mnl`; see test/fixtures/nft).
import { AttrWriter } from '../netlink/attr-writer.js';
import { attrMap, be32, readAttrs, str } from './attrs.js';
import { DATA, EXPR, LIST_ELEM, VERDICT_ATTR } from './consts.js';
import type { KExpr, Verdict } from './ir.js';

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
      case 'ct':
        this.be32(2, e.key); this.be32(1, e.dreg);
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

/** The expressions of NFTA_RULE_EXPRESSIONS, as the kernel dumps them. */
export function readExprs(b: Buffer): KExpr[] {
  return readAttrs(b).map((el) => {
    const m = attrMap(el.data);
    const name = str(m.get(EXPR.NAME)) ?? '';
    const d = attrMap(m.get(EXPR.DATA) ?? Buffer.alloc(0));
    const u = (t: number) => be32(d.get(t));
    const need = (t: number): number => u(t) ?? 0;
    switch (name) {
      case 'payload': return { op: 'payload', dreg: need(1), base: need(2), offset: need(3), len: need(4) };
      case 'meta': return d.has(3) ? { op: 'meta_set', key: need(2), sreg: need(3) } : { op: 'meta', key: need(2), dreg: need(1) };
      case 'ct':
        if (d.has(3)) return { op: 'unknown', name: 'ct with direction' };
        return d.has(4) ? { op: 'ct_set', key: need(2), sreg: need(4) } : { op: 'ct', key: need(2), dreg: need(1) };
      case 'cmp': return { op: 'cmp', sreg: need(1), cmp: need(2), data: readData(d.get(3) ?? Buffer.alloc(0)).value ?? Buffer.alloc(0) };
      case 'bitwise':
        if ((u(6) ?? 0) !== 0) return { op: 'unknown', name: 'bitwise shift' };
        return {
          op: 'bitwise', sreg: need(1), dreg: need(2), len: need(3), bool: d.has(6),
          mask: readData(d.get(4) ?? Buffer.alloc(0)).value ?? Buffer.alloc(0), xor: readData(d.get(5) ?? Buffer.alloc(0)).value ?? Buffer.alloc(0),
        };
      case 'lookup': {
        if ((u(5) ?? 0) !== 0) return { op: 'unknown', name: 'inverted lookup' };
        const e: KExpr = { op: 'lookup', sreg: need(2), set: str(d.get(1)) ?? '' };
        if (d.has(3)) e.dreg = need(3);
        return e;
      }
      case 'immediate': {
        const data = readData(d.get(2) ?? Buffer.alloc(0));
        return data.verdict ? { op: 'immediate', dreg: need(1), verdict: data.verdict } : { op: 'immediate', dreg: need(1), data: data.value ?? Buffer.alloc(0) };
      }
      // Counters read as bigints straight from the wire: a Number loses what lies past 2^53.
      case 'counter': return { op: 'counter', bytes: d.get(1)?.readBigUInt64BE(0), packets: d.get(2)?.readBigUInt64BE(0) };
      case 'numgen': return { op: 'numgen', dreg: need(1), mod: need(2), type: need(3), offset: need(4) };
      case 'fib': return { op: 'fib', flags: need(3), result: need(2), dreg: need(1) };
      case 'nat':
        // The kernel dumps a range's end registers equal to its start when none was given.
        if ((d.has(4) && u(4) !== u(3)) || (d.has(6) && u(6) !== u(5))) return { op: 'unknown', name: 'nat range' };
        return { op: 'nat', type: need(1), family: need(2), regAddrMin: u(3), regProtoMin: u(5), flags: u(7) };
      case 'masq':
        if (d.has(2)) return { op: 'unknown', name: 'masquerade to ports' };
        return { op: 'masq', flags: u(1) };
      case 'reject': return { op: 'reject', type: need(1), code: d.get(2)?.[0] ?? 0 };
      case 'byteorder': return { op: 'byteorder', sreg: need(1), dreg: need(2), bop: need(3), len: need(4), size: need(5) };
      default: return { op: 'unknown', name, data: m.get(EXPR.DATA) ?? Buffer.alloc(0) };
    }
  });
}
