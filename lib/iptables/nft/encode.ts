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
import { DATA, EXPR, LIST_ELEM, MSG, RULE, VERDICT } from '../../nft/consts.js';
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST } from '../../netlink/headers.js';
import { putBe32, type AttrWriter } from '../../netlink/attr-writer.js';
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

/** Attributes `write` writes, as bytes to copy into every rule that needs them (w: a scratch writer). */
function fragment(write: (w: NftWriter) => void, w = new NftWriter()): Buffer {
  w.pos = 0;
  write(w);
  return Buffer.from(w.bytesWritten());
}

/** Copies a fragment in. */
function put(w: AttrWriter, f: Buffer): void {
  if (w.pos + f.length > w.buf.length) w.ensure(f.length);
  w.buf.set(f, w.pos);
  w.pos += f.length;
}

/** An attribute holding src[start, start + len) (no Buffer made for it). */
function putRange(w: AttrWriter, type: number, src: Uint8Array, start: number, len: number): void {
  const total = (4 + len + 3) & ~3;
  if (w.pos + total > w.buf.length) w.ensure(total);
  const b = w.buf, p = w.pos, n = 4 + len;
  b[p] = n & 0xff; b[p + 1] = n >>> 8; b[p + 2] = type & 0xff; b[p + 3] = type >>> 8;
  // short values (addresses, ports) by hand; an xt blob (a comment's is 256 bytes) by one copy
  if (len <= 16) for (let i = 0; i < len; i++) b[p + 4 + i] = src[start + i]!;
  else b.set(src.subarray(start, start + len), p + 4);
  for (let i = p + n; i < p + total; i++) b[i] = 0;
  w.pos = p + total;
}

const NAMES = new Map<string, Buffer>();
for (const n of ['meta', 'payload', 'cmp', 'bitwise', 'range', 'match', 'target', 'limit', 'log', 'counter', 'immediate']) {
  NAMES.set(n, fragment((w) => w.str(EXPR.NAME, n)));
}
/** Key ranges of the encoder's fragment cache (verdict codes go up to 2^32). */
const K = { META: 0, PAYLOAD: 1 << 8, TRACE: 1 << 25, COUNTER: (1 << 25) + 1, COMPAT: 1 << 26, VERDICT: 2 ** 33 } as const;

/**
 * Writes rules' expressions straight into the batch buffer: no object per expression, no
 * closure per nest, no Buffer per compared value; the expressions that never vary (a meta or
 * payload load, a zero counter, a verdict or jump) are encoded once per encoder and copied.
 * One encoder serves a whole batch.
 */
export class RuleEncoder {
  // keyed by number or by chain name: a key string built per expression costs what copying saves
  private frags = new Map<number, Buffer>();
  private jumps = new Map<string, Buffer>();
  private gotos = new Map<string, Buffer>();
  private names: { table: string; chain: string; frag: Buffer } = { table: '', chain: '', frag: Buffer.alloc(0) };
  private matchHeads = new Map<string, { revision: number; bytes: Buffer }>();
  private targetHeads = new Map<string, { revision: number; bytes: Buffer }>();

  private scratch = new NftWriter();

  constructor(readonly w: NftWriter, readonly family: Family, readonly enc: NftEncoding = NATIVE_ENCODING) {}

  private cached(key: number, write: (w: NftWriter) => void): void {
    let f = this.frags.get(key);
    if (!f) this.frags.set(key, f = fragment(write, this.scratch));
    put(this.w, f);
  }

  /** LIST_ELEM { NAME name, DATA { ... } }: returns the two nests for end(). */
  private open(name: string): number {
    const el = this.w.nest(LIST_ELEM);
    put(this.w, NAMES.get(name)!);
    this.w.nest(EXPR.DATA);
    return el;
  }

  /** Closes the DATA nest (right after the LIST_ELEM's name) and the LIST_ELEM. */
  private close(el: number): void {
    this.w.endNest(el + 4 + NAMES.get('meta')!.length > 0 ? this.dataAt(el) : el);
    this.w.endNest(el);
  }

  private dataAt(el: number): number {
    // the DATA nest follows the LIST_ELEM header and the name attribute
    const b = this.w.buf;
    return el + 4 + ((b[el + 4]! | (b[el + 5]! << 8)) + 3 & ~3);
  }

  meta(key: number): void { this.cached(K.META + key, (w) => w.expr({ op: 'meta', key, dreg: REG_1 })); }
  payload(base: number, offset: number, len: number): void {
    this.cached(K.PAYLOAD + ((base << 16) | (offset << 8) | len), (w) => w.expr({ op: 'payload', dreg: REG_1, base, offset, len }));
  }

  /** cmp of src[start, start + len). */
  cmp(op: number, src: Uint8Array, start = 0, len = src.length): void {
    const w = this.w;
    const el = this.open('cmp');
    putBe32(w, 1, REG_1);
    putBe32(w, 2, op);
    const d = w.nest(3);
    putRange(w, DATA.VALUE, src, start, len);
    w.endNest(d);
    this.close(el);
  }

  bitwise(mask: Uint8Array, maskAt: number, len: number): void {
    const w = this.w;
    const el = this.open('bitwise');
    putBe32(w, 1, REG_1); putBe32(w, 2, REG_1); putBe32(w, 3, len);
    let d = w.nest(4);
    putRange(w, DATA.VALUE, mask, maskAt, len);
    w.endNest(d);
    d = w.nest(5);
    putRange(w, DATA.VALUE, ZEROS, 0, len);
    w.endNest(d);
    this.close(el);
  }

  range(op: number, from: Buffer, to: Buffer): void {
    const w = this.w;
    const el = this.open('range');
    w.be32(1, REG_1); w.be32(2, op);
    w.dataValue(3, from); w.dataValue(4, to);
    this.close(el);
  }

  compat(kind: 'match' | 'target', x: XtBlob): void {
    const w = this.w;
    // everything before the blob (element, name, data nest, xt name, revision) is the same for
    // every use of an extension: copied, then the two nests' lengths set
    const heads = kind === 'match' ? this.matchHeads : this.targetHeads;
    let h = heads.get(x.name);
    if (!h || h.revision !== x.revision) {
      heads.set(x.name, h = { revision: x.revision, bytes: fragment((f) => {
        f.nest(LIST_ELEM);
        put(f, NAMES.get(kind)!);
        f.nest(EXPR.DATA);
        f.str(1, x.name);
        putBe32(f, 2, x.revision);
      }, this.scratch) });
    }
    const el = w.pos;
    put(w, h.bytes);
    putRange(w, 3, x.data, 0, x.data.length);
    this.close(el);
  }

  limit(rate: bigint, unit: bigint, burst: number): void {
    const w = this.w;
    const el = this.open('limit');
    w.be64(1, rate); w.be64(2, unit); w.be32(3, burst);
    w.be32(4, 0 /* NFT_LIMIT_PKTS */); w.be32(5, 0);
    this.close(el);
  }

  log(prefix: string | undefined, group: number, snaplen: number | undefined, qthreshold: number | undefined): void {
    const w = this.w;
    const el = this.open('log');
    if (prefix !== undefined) w.str(2, prefix);
    w.be16(1, group);
    if (snaplen !== undefined) w.be32(3, snaplen);
    if (qthreshold !== undefined) w.be16(4, qthreshold);
    this.close(el);
  }

  counter(packets: bigint, bytes: bigint): void {
    if (packets === 0n && bytes === 0n) this.cached(K.COUNTER, (w) => w.expr({ op: 'counter', bytes: 0n, packets: 0n }));
    else this.w.expr({ op: 'counter', bytes, packets });
  }

  /** TRACE: `meta nftrace set 1`. */
  trace(): void {
    this.cached(K.TRACE, (w) => {
      w.expr({ op: 'immediate', dreg: REG32_01, data: Buffer.from([1]) });
      w.expr({ op: 'meta_set', key: NFT_META_NFTRACE, sreg: REG32_01 });
    });
  }

  verdict(code: number): void { this.cached(K.VERDICT + code, (w) => w.expr({ op: 'immediate', dreg: 0, verdict: { code } })); }
  jump(chain: string, goto: boolean): void {
    const m = goto ? this.gotos : this.jumps;
    let f = m.get(chain);
    if (!f) m.set(chain, f = fragment((w) => w.expr({ op: 'immediate', dreg: 0, verdict: { code: goto ? VERDICT.goto : VERDICT.jump, chain } }), this.scratch));
    put(this.w, f);
  }

  /**
   * NFT_MSG_NEWRULE (append) as iptables-nft sends it: table, chain, expressions, compat.
   * `at`: placed next to the rule with that handle instead (after it, or before it) (partial.ts).
   * @example new RuleEncoder(w, 4).rule('filter', 'INPUT', readEntries(4, raw)[0].rules[0]);
   */
  rule(table: string, chain: string, e: Entry, at?: { handle: bigint; after: boolean }): void {
    const w = this.w;
    w.begin(MSG.NEWRULE, NLM_F_REQUEST | NLM_F_CREATE | (!at || at.after ? NLM_F_APPEND : 0), this.family === 4 ? 2 : 10);
    // a chain's rules come one after another: its names are encoded once for all of them
    const n = this.names;
    if (n.table !== table || n.chain !== chain) {
      n.table = table;
      n.chain = chain;
      n.frag = fragment((x) => { x.str(RULE.TABLE, table); x.str(RULE.CHAIN, chain); }, this.scratch);
    }
    put(w, n.frag);
    if (at) w.be64(RULE.POSITION, at.handle);
    const exprs = w.nest(RULE.EXPRESSIONS);
    this.exprs(e);
    w.endNest(exprs);
    this.cached(K.COMPAT + e.ip.proto * 2 + (e.ip.invflags & INV.PROTO ? 1 : 0), (x) => x.within(NFTA_RULE_COMPAT, () => {
      x.be32(NFTA_RULE_COMPAT_PROTO, e.ip.proto);
      x.be32(NFTA_RULE_COMPAT_FLAGS, e.ip.invflags & INV.PROTO ? NFT_RULE_COMPAT_F_INV : 0);
    }));
    w.end();
  }

  /** The expressions of one rule (the inside of NFTA_RULE_EXPRESSIONS). */
  exprs(e: Entry): void {
    writeExprs(this, this.family, e);
  }
}

const ZEROS = new Uint8Array(16);

const be16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const op = (inv: boolean): number => (inv ? CMP['!='] : CMP['==']);

/** add_iniface / add_outiface: `eth+` compares the prefix; a bare `+` only when inverted. */
function iface(x: RuleEncoder, key: number, name: string, cmpOp: number): void {
  x.meta(key);
  if (name.endsWith('+')) {
    if (name.length > 1) x.cmp(cmpOp, Buffer.from(name.slice(0, -1), 'latin1'));
    else if (cmpOp !== CMP['==']) x.cmp(CMP['=='], Buffer.from('INVAL/D\0', 'latin1'));
  } else {
    x.cmp(cmpOp, Buffer.from(`${name}\0`, 'latin1'));
  }
}

/** add_addr: a prefix mask shortens the compare; any other mask adds a bitwise. */
function addr(x: RuleEncoder, offset: number, data: Buffer, mask: Buffer, cmpOp: number): void {
  let len = mask.length, i = 0, bitwise = false;
  for (; i < len; i++) {
    if (mask[i] !== 0xff) { bitwise = mask[i] !== 0; break; }
  }
  for (let j = i + 1; !bitwise && j < len; j++) bitwise = mask[j] !== 0;
  if (!bitwise) len = i;
  x.payload(PAYLOAD_BASE.NETWORK, offset, len);
  if (bitwise) x.bitwise(mask, 0, len);
  x.cmp(cmpOp, data, 0, len);
}

/** expr_gen_range_cmp16 */
function rangeCmp16(x: RuleEncoder, lo: number, hi: number, invert: boolean): void {
  if (lo === hi) return x.cmp(op(invert), be16(lo));
  if (lo === 0 && hi < 0xffff) return x.cmp(invert ? CMP['>'] : CMP['<='], be16(hi));
  x.range(invert ? 1 : 0, be16(lo), be16(hi));
}

/** add_nft_tcpudp: the ports are read from the match's data (u16 host order at 0, 2, 4, 6). */
function ports(x: RuleEncoder, d: Buffer, invSrc: boolean, invDst: boolean): void {
  const s0 = d.readUInt16LE(0), s1 = d.readUInt16LE(2), d0 = d.readUInt16LE(4), d1 = d.readUInt16LE(6);
  if (s0 && s0 === s1 && d0 && d0 === d1 && invSrc === invDst) {
    x.payload(PAYLOAD_BASE.TRANSPORT, 0, 4);
    const b = Buffer.alloc(4);
    b.writeUInt16BE(s0, 0);
    b.writeUInt16BE(d0, 2);
    x.cmp(op(invSrc), b);
    return;
  }
  if (s0 || s1 < 0xffff) {
    x.payload(PAYLOAD_BASE.TRANSPORT, 0, 2);
    rangeCmp16(x, s0, s1, invSrc);
  }
  if (d0 || d1 < 0xffff) {
    x.payload(PAYLOAD_BASE.TRANSPORT, 2, 2);
    rangeCmp16(x, d0, d1, invDst);
  }
}

const U8 = Array.from({ length: 256 }, (_, i) => Buffer.from([i]));

function match(x: RuleEncoder, m: XtBlob, proto: number): void {
  const d = m.data;
  // iptables-nft 1.8.7 and older: tcp, udp and mark go as compat matches
  if (!x.enc.native && (m.name === 'tcp' || m.name === 'udp' || m.name === 'mark')) return x.compat('match', m);
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
      const inv = d[8]!;
      const allZero = d.readUInt32LE(0) === 0xffff0000 && d.readUInt32LE(4) === 0xffff0000 && inv === 0;
      if (inv > 0x03 || allZero) return x.compat('match', m);
      if (proto !== IPPROTO_UDP) throw new EncodeError("UDP match requires '-p udp'");
      return ports(x, d, (inv & 0x01) !== 0, (inv & 0x02) !== 0);
    }
    case 'tcp': {
      const option = d[8]!, flgMask = d[9]!, flgCmp = d[10]!, inv = d[11]!;
      const allZero = d.readUInt32LE(0) === 0xffff0000 && d.readUInt32LE(4) === 0xffff0000 && !option && !flgMask && !flgCmp && !inv;
      if ((inv & ~0x07) || option || allZero) return x.compat('match', m);
      if (proto !== IPPROTO_TCP) throw new EncodeError("TCP match requires '-p tcp'");
      if (flgMask) {
        x.payload(PAYLOAD_BASE.TRANSPORT, 13, 1);
        x.bitwise(d, 9, 1);
        x.cmp(op((inv & 0x04) !== 0), d, 10, 1);
      }
      return ports(x, d, (inv & 0x01) !== 0, (inv & 0x02) !== 0);
    }
    case 'mark': {
      // add_nft_mark reads xt_mark_mtinfo1 (mark, mask: host order u32; invert u8)
      x.meta(META_KEY.mark);
      if (d.readUInt32LE(4) !== 0xffffffff) x.bitwise(d, 4, 4);
      x.cmp(op(d[8] !== 0), d, 0, 4);
      return;
    }
    default:
      x.compat('match', m);
  }
}

const nonZero = (b: Buffer) => { for (let i = 0; i < b.length; i++) if (b[i] !== 0) return true; return false; };

function writeExprs(x: RuleEncoder, family: Family, e: Entry): void {
  const { ip } = e;
  const inv = ip.invflags;
  if (ip.iniface) iface(x, META_KEY.iifname, ip.iniface, op((inv & INV.VIA_IN) !== 0));
  if (ip.outiface) iface(x, META_KEY.oifname, ip.outiface, op((inv & INV.VIA_OUT) !== 0));
  if (ip.proto) {
    x.meta(META_KEY.l4proto);
    x.cmp(op((inv & INV.PROTO) !== 0), U8[ip.proto & 0xff]!);
  }
  const srcOff = family === 4 ? 12 : 8, dstOff = family === 4 ? 16 : 24;  // iphdr saddr/daddr, ip6_hdr ip6_src/ip6_dst
  if (nonZero(ip.src) || nonZero(ip.smsk) || inv & INV.SRCIP) addr(x, srcOff, ip.src, ip.smsk, op((inv & INV.SRCIP) !== 0));
  if (nonZero(ip.dst) || nonZero(ip.dmsk) || inv & INV.DSTIP) addr(x, dstOff, ip.dst, ip.dmsk, op((inv & INV.DSTIP) !== 0));
  if (family === 4 && ip.flags & IPT_F_FRAG) {
    x.payload(PAYLOAD_BASE.NETWORK, 6, 2);
    x.bitwise(be16(0x1fff), 0, 2);
    x.cmp(inv & INV.FRAG ? CMP['=='] : CMP['!='], ZEROS, 0, 2);
  }
  for (const m of e.matches) match(x, m, ip.proto);
  // "Counters need to be added before the target" (nft-ipv4.c). ip6tables-nft 1.8.9 never
  // copies a rule's `[p:b]` into the rule (ipv6_post_parse of xshared.c fills only the legacy
  // fw6.counters): its IPv6 rules start at zero whatever the text says, and so do nlkit's.
  if (family === 4) x.counter(e.packets, e.bytes);
  else x.counter(0n, 0n);
  const a = e.action;
  switch (a.kind) {
    case 'none':
      return;
    case 'verdict': {
      if (a.verdict === 'QUEUE') throw new EncodeError('the QUEUE verdict has no nf_tables form in iptables-nft');
      x.verdict(a.verdict === 'ACCEPT' ? VERDICT.accept : a.verdict === 'DROP' ? VERDICT.drop : VERDICT.return);
      return;
    }
    case 'jump':
      x.jump(a.chain, a.goto);
      return;
    case 'target': {
      const t = a.target;
      if (t.name === 'NFLOG' && x.enc.native) {
        // add_log: xt_nflog_info { u32 len; u16 group; u16 threshold; u16 flags; u16 pad; char prefix[64] }
        const d = t.data;
        const prefixEnd = d.indexOf(0, 12);
        const prefix = d.subarray(12, prefixEnd < 0 ? 76 : prefixEnd).toString('latin1');
        const flags = d.readUInt16LE(8), threshold = d.readUInt16LE(6);
        x.log(prefix.length ? prefix : undefined, d.readUInt16LE(4), flags & 0x1 ? d.readUInt32LE(0) : undefined, threshold || undefined);
        return;
      }
      if (t.name === 'TRACE') {
        x.trace();
        return;
      }
      x.compat('target', t);
    }
  }
}

/**
 * The expressions of one rule, written into NFTA_RULE_EXPRESSIONS.
 * @example w.within(RULE.EXPRESSIONS, () => writeRuleExprs(w, 4, chains[0].rules[0]));
 */
export function writeRuleExprs(w: NftWriter, family: Family, e: Entry, enc: NftEncoding = NATIVE_ENCODING): void {
  new RuleEncoder(w, family, enc).exprs(e);
}

/**
 * NFT_MSG_NEWRULE (append) as iptables-nft sends it: table, chain, expressions, compat. A
 * batch of many rules keeps one RuleEncoder instead (it caches what rules share).
 * `at`: placed next to the rule with that handle instead (after it, or before it) (partial.ts);
 * `enc`: the host's iptables-nft version's form (version.ts).
 * @example writeRule(w, 4, 'filter', 'INPUT', readEntries(4, raw)[0].rules[0]);
 */
export function writeRule(w: NftWriter, family: Family, table: string, chain: string, e: Entry, at?: { handle: bigint; after: boolean }, enc: NftEncoding = NATIVE_ENCODING): void {
  new RuleEncoder(w, family, enc).rule(table, chain, e, at);
}
