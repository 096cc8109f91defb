// iptables rules as nf_tables expressions, exactly as iptables-nft 1.8.9 builds them
// (iptables/nft-ipv4.c nft_ipv4_add, nft-ipv6.c nft_ipv6_add, nft-shared.c add_iniface /
// add_outiface / add_l4proto / add_addr, nft.c add_match / add_target / add_action /
// add_counters / add_compat): interfaces and protocol as meta + cmp, addresses as payload +
// cmp (a prefix mask shortens the compare, any other mask adds a bitwise), the native
// translations of `limit`, `tcp`, `udp` and `mark`, `counter` before the verdict, NFLOG as
// `log`, TRACE as `meta nftrace set 1`, and nft_compat `match` / `target` expressions carrying
// the xt blob libxtables built for everything else.
//
// IPv6 rule counters: ip6tables-nft-restore 1.8.9 drops the `[p:b]` of rules (policy counters are
// kept); nlkit does the same, so that both leave the same table.
//
// Versions: the encoding is iptables-nft 1.8.9's (Debian 12) and 1.8.8's. iptables-nft 1.8.7
// and older emit `tcp`, `udp` and `mark` as compat matches and NFLOG as a compat target (and
// cannot decode the native form): with `enc.native` false (version.ts) they are written so.
import { NftWriter } from '../../nft/wire.js';
import { EXPR, LIST_ELEM, MSG, RULE, VERDICT } from '../../nft/consts.js';
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST } from '../../netlink/headers.js';
import { CMP, META_KEY, PAYLOAD_BASE } from '../../nft/ir.js';
import type { Family } from '../types.js';
import { INV, IPT_F_FRAG, type Entry, type XtBlob } from './entries.js';
import { NATIVE_ENCODING, type NftEncoding } from './version.js';

const REG_1 = 1;
const REG32_01 = 9;
const NFT_META_NFTRACE = 12;
const NFTA_RULE_COMPAT = 5, NFTA_RULE_COMPAT_PROTO = 1, NFTA_RULE_COMPAT_FLAGS = 2, NFT_RULE_COMPAT_F_INV = 2;
const IPPROTO_TCP = 6, IPPROTO_UDP = 17;
const LIMIT_SCALE = 10000;

/** A rule iptables-nft cannot express (it would refuse it too), e.g. `-m tcp --dport 80` without `-p tcp`. */
export class EncodeError extends Error {}

/** Writes one rule's expressions (inside NFTA_RULE_EXPRESSIONS). */
class RuleExprs {
  constructor(private w: NftWriter) {}

  private named(name: string, body: () => void): void {
    this.w.within(LIST_ELEM, () => {
      this.w.str(EXPR.NAME, name);
      this.w.within(EXPR.DATA, body);
    });
  }

  meta(key: number): void { this.w.expr({ op: 'meta', key, dreg: REG_1 }); }
  payload(base: number, offset: number, len: number): void { this.w.expr({ op: 'payload', dreg: REG_1, base, offset, len }); }
  cmp(op: number, data: Buffer): void { this.w.expr({ op: 'cmp', sreg: REG_1, cmp: op, data }); }
  bitwise(mask: Buffer, xor: Buffer): void { this.w.expr({ op: 'bitwise', sreg: REG_1, dreg: REG_1, len: mask.length, mask, xor, bool: false }); }

  range(op: number, from: Buffer, to: Buffer): void {
    this.named('range', () => {
      this.w.be32(1, REG_1); this.w.be32(2, op);
      this.w.dataValue(3, from); this.w.dataValue(4, to);
    });
  }

  compat(kind: 'match' | 'target', x: XtBlob): void {
    this.named(kind, () => {
      this.w.str(1, x.name);
      this.w.be32(2, x.revision);
      this.w.bytes(3, x.data);
    });
  }

  limit(rate: bigint, unit: bigint, burst: number): void {
    this.named('limit', () => {
      this.w.be64(1, rate); this.w.be64(2, unit); this.w.be32(3, burst);
      this.w.be32(4, 0 /* NFT_LIMIT_PKTS */); this.w.be32(5, 0);
    });
  }

  log(prefix: string | undefined, group: number, snaplen: number | undefined, qthreshold: number | undefined): void {
    this.named('log', () => {
      if (prefix !== undefined) this.w.str(2, prefix);
      this.w.be16(1, group);
      if (snaplen !== undefined) this.w.be32(3, snaplen);
      if (qthreshold !== undefined) this.w.be16(4, qthreshold);
    });
  }
}

const be16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const u8 = (v: number): Buffer => Buffer.from([v]);
const op = (inv: boolean): number => (inv ? CMP['!='] : CMP['==']);

/** add_iniface / add_outiface: `eth+` compares the prefix; a bare `+` only when inverted. */
function iface(x: RuleExprs, key: number, name: string, cmpOp: number): void {
  x.meta(key);
  if (name.endsWith('+')) {
    if (name.length > 1) x.cmp(cmpOp, Buffer.from(name.slice(0, -1), 'latin1'));
    else if (cmpOp !== CMP['==']) x.cmp(CMP['=='], Buffer.from('INVAL/D\0', 'latin1'));
  } else {
    x.cmp(cmpOp, Buffer.from(`${name}\0`, 'latin1'));
  }
}

/** add_addr: a prefix mask shortens the compare; any other mask adds a bitwise. */
function addr(x: RuleExprs, offset: number, data: Buffer, mask: Buffer, cmpOp: number): void {
  let len = mask.length, i = 0, bitwise = false;
  for (; i < len; i++) {
    if (mask[i] !== 0xff) { bitwise = mask[i] !== 0; break; }
  }
  for (let j = i + 1; !bitwise && j < len; j++) bitwise = mask[j] !== 0;
  if (!bitwise) len = i;
  x.payload(PAYLOAD_BASE.NETWORK, offset, len);
  if (bitwise) x.bitwise(Buffer.from(mask.subarray(0, len)), Buffer.alloc(len));
  x.cmp(cmpOp, Buffer.from(data.subarray(0, len)));
}

/** expr_gen_range_cmp16 */
function rangeCmp16(x: RuleExprs, lo: number, hi: number, invert: boolean): void {
  if (lo === hi) return x.cmp(op(invert), be16(lo));
  if (lo === 0 && hi < 0xffff) return x.cmp(invert ? CMP['>'] : CMP['<='], be16(hi));
  x.range(invert ? 1 : 0, be16(lo), be16(hi));
}

/** add_nft_tcpudp */
function ports(x: RuleExprs, src: [number, number], invSrc: boolean, dst: [number, number], invDst: boolean): void {
  if (src[0] && src[0] === src[1] && dst[0] && dst[0] === dst[1] && invSrc === invDst) {
    x.payload(PAYLOAD_BASE.TRANSPORT, 0, 4);
    const b = Buffer.alloc(4);
    b.writeUInt16BE(src[0], 0);
    b.writeUInt16BE(dst[0], 2);
    x.cmp(op(invSrc), b);
    return;
  }
  if (src[0] || src[1] < 0xffff) {
    x.payload(PAYLOAD_BASE.TRANSPORT, 0, 2);
    rangeCmp16(x, src[0], src[1], invSrc);
  }
  if (dst[0] || dst[1] < 0xffff) {
    x.payload(PAYLOAD_BASE.TRANSPORT, 2, 2);
    rangeCmp16(x, dst[0], dst[1], invDst);
  }
}

function match(x: RuleExprs, m: XtBlob, proto: number, enc: NftEncoding): void {
  const d = m.data;
  // iptables-nft 1.8.7 and older: tcp, udp and mark go as compat matches
  if (!enc.native && (m.name === 'tcp' || m.name === 'udp' || m.name === 'mark')) return x.compat('match', m);
  switch (m.name) {
    case 'limit': {
      // add_nft_limit: the largest unit whose rate stays whole
      const avg = d.readUInt32LE(0), burst = d.readUInt32LE(4);
      const mult = [LIMIT_SCALE * 24 * 60 * 60, LIMIT_SCALE * 60 * 60, LIMIT_SCALE * 60, LIMIT_SCALE];
      let i = 1;
      for (; i < mult.length; i++) {
        if (avg > mult[i]! || Math.floor(mult[i]! / avg) < mult[i]! % avg) break;
      }
      x.limit(BigInt(Math.floor(mult[i - 1]! / avg)), BigInt(mult[i - 1]! / LIMIT_SCALE), burst);
      return;
    }
    case 'udp': {
      const spts: [number, number] = [d.readUInt16LE(0), d.readUInt16LE(2)], dpts: [number, number] = [d.readUInt16LE(4), d.readUInt16LE(6)];
      const inv = d[8]!;
      const allZero = spts[0] === 0 && spts[1] === 0xffff && dpts[0] === 0 && dpts[1] === 0xffff && inv === 0;
      if (inv > 0x03 || allZero) return x.compat('match', m);
      if (proto !== IPPROTO_UDP) throw new EncodeError("UDP match requires '-p udp'");
      return ports(x, spts, (inv & 0x01) !== 0, dpts, (inv & 0x02) !== 0);
    }
    case 'tcp': {
      const spts: [number, number] = [d.readUInt16LE(0), d.readUInt16LE(2)], dpts: [number, number] = [d.readUInt16LE(4), d.readUInt16LE(6)];
      const option = d[8]!, flgMask = d[9]!, flgCmp = d[10]!, inv = d[11]!;
      const allZero = spts[0] === 0 && spts[1] === 0xffff && dpts[0] === 0 && dpts[1] === 0xffff && !option && !flgMask && !flgCmp && !inv;
      if ((inv & ~0x07) || option || allZero) return x.compat('match', m);
      if (proto !== IPPROTO_TCP) throw new EncodeError("TCP match requires '-p tcp'");
      if (flgMask) {
        x.payload(PAYLOAD_BASE.TRANSPORT, 13, 1);
        x.bitwise(u8(flgMask), Buffer.alloc(1));
        x.cmp(op((inv & 0x04) !== 0), u8(flgCmp));
      }
      return ports(x, spts, (inv & 0x01) !== 0, dpts, (inv & 0x02) !== 0);
    }
    case 'mark': {
      // add_nft_mark reads xt_mark_mtinfo1 (mark, mask: host order u32; invert u8)
      const mask = d.subarray(4, 8);
      x.meta(META_KEY.mark);
      if (d.readUInt32LE(4) !== 0xffffffff) x.bitwise(Buffer.from(mask), Buffer.alloc(4));
      x.cmp(op(d[8] !== 0), Buffer.from(d.subarray(0, 4)));
      return;
    }
    default:
      x.compat('match', m);
  }
}

/**
 * The expressions of one rule, written into NFTA_RULE_EXPRESSIONS.
 * @example w.within(RULE.EXPRESSIONS, () => writeRuleExprs(w, 4, chains[0].rules[0]));
 */
export function writeRuleExprs(w: NftWriter, family: Family, e: Entry, enc: NftEncoding = NATIVE_ENCODING): void {
  const x = new RuleExprs(w);
  const { ip } = e;
  const inv = ip.invflags;
  if (ip.iniface) iface(x, META_KEY.iifname, ip.iniface, op((inv & INV.VIA_IN) !== 0));
  if (ip.outiface) iface(x, META_KEY.oifname, ip.outiface, op((inv & INV.VIA_OUT) !== 0));
  if (ip.proto) {
    x.meta(META_KEY.l4proto);
    x.cmp(op((inv & INV.PROTO) !== 0), u8(ip.proto));
  }
  const any = (b: Buffer) => b.some((v) => v !== 0);
  const [srcOff, dstOff] = family === 4 ? [12, 16] : [8, 24];  // iphdr saddr/daddr, ip6_hdr ip6_src/ip6_dst
  if (any(ip.src) || any(ip.smsk) || inv & INV.SRCIP) addr(x, srcOff, ip.src, ip.smsk, op((inv & INV.SRCIP) !== 0));
  if (any(ip.dst) || any(ip.dmsk) || inv & INV.DSTIP) addr(x, dstOff, ip.dst, ip.dmsk, op((inv & INV.DSTIP) !== 0));
  if (family === 4 && ip.flags & IPT_F_FRAG) {
    x.payload(PAYLOAD_BASE.NETWORK, 6, 2);
    x.bitwise(be16(0x1fff), Buffer.alloc(2));
    x.cmp(inv & INV.FRAG ? CMP['=='] : CMP['!='], Buffer.alloc(2));
  }
  for (const m of e.matches) match(x, m, ip.proto, enc);
  // "Counters need to be added before the target" (nft-ipv4.c). ip6tables-nft 1.8.9 never
  // copies a rule's `[p:b]` into the rule (ipv6_post_parse of xshared.c fills only the legacy
  // fw6.counters): its IPv6 rules start at zero whatever the text says, and so do nlkit's.
  w.expr(family === 4 ? { op: 'counter', bytes: e.bytes, packets: e.packets } : { op: 'counter', bytes: 0n, packets: 0n });
  const a = e.action;
  switch (a.kind) {
    case 'none':
      return;
    case 'verdict': {
      if (a.verdict === 'QUEUE') throw new EncodeError('the QUEUE verdict has no nf_tables form in iptables-nft');
      const code = a.verdict === 'ACCEPT' ? VERDICT.accept : a.verdict === 'DROP' ? VERDICT.drop : VERDICT.return;
      w.expr({ op: 'immediate', dreg: 0, verdict: { code } });
      return;
    }
    case 'jump':
      w.expr({ op: 'immediate', dreg: 0, verdict: { code: a.goto ? VERDICT.goto : VERDICT.jump, chain: a.chain } });
      return;
    case 'target': {
      const t = a.target;
      if (t.name === 'NFLOG' && enc.native) {
        // add_log: xt_nflog_info { u32 len; u16 group; u16 threshold; u16 flags; u16 pad; char prefix[64] }
        const d = t.data;
        const prefixEnd = d.indexOf(0, 12);
        const prefix = d.subarray(12, prefixEnd < 0 ? 76 : prefixEnd).toString('latin1');
        const flags = d.readUInt16LE(8), threshold = d.readUInt16LE(6);
        x.log(prefix.length ? prefix : undefined, d.readUInt16LE(4), flags & 0x1 ? d.readUInt32LE(0) : undefined, threshold || undefined);
        return;
      }
      if (t.name === 'TRACE') {
        w.expr({ op: 'immediate', dreg: REG32_01, data: Buffer.from([1]) });
        w.expr({ op: 'meta_set', key: NFT_META_NFTRACE, sreg: REG32_01 });
        return;
      }
      x.compat('target', t);
    }
  }
}

/**
 * NFT_MSG_NEWRULE (append) as iptables-nft sends it: table, chain, expressions, compat.
 * `at`: placed next to the rule with that handle instead (after it, or before it) (partial.ts);
 * `enc`: the host's iptables-nft version's form (version.ts).
 * @example writeRule(w, 4, 'filter', 'INPUT', readEntries(4, raw)[0].rules[0]);
 */
export function writeRule(w: NftWriter, family: Family, table: string, chain: string, e: Entry, at?: { handle: bigint; after: boolean }, enc: NftEncoding = NATIVE_ENCODING): void {
  w.begin(MSG.NEWRULE, NLM_F_REQUEST | NLM_F_CREATE | (!at || at.after ? NLM_F_APPEND : 0), family === 4 ? 2 : 10);
  w.str(RULE.TABLE, table);
  w.str(RULE.CHAIN, chain);
  if (at) w.be64(RULE.POSITION, at.handle);
  w.within(RULE.EXPRESSIONS, () => writeRuleExprs(w, family, e, enc));
  w.within(NFTA_RULE_COMPAT, () => {
    w.be32(NFTA_RULE_COMPAT_PROTO, e.ip.proto);
    w.be32(NFTA_RULE_COMPAT_FLAGS, e.ip.invflags & INV.PROTO ? NFT_RULE_COMPAT_F_INV : 0);
  });
  w.end();
}
