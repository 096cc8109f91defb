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
import { DATA, EXPR, LIST_ELEM, MSG, RULE, VERDICT, VERDICT_ATTR } from '../../nft/consts.js';
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST } from '../../netlink/headers.js';
import { putBe32, type AttrWriter } from '../../netlink/attr-writer.js';
import { strIsBytes } from '../../netlink/reader.js';
import { CMP, META_KEY, PAYLOAD_BASE } from '../../nft/ir.js';
import type { Family } from '../types.js';
import { entryBlob, GOTO_FLAG, INV, IPT_F_FRAG, LAYOUT, type Entry, type RuleBlob } from './entries.js';
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
  // TypedArray set of a whole array: a builtin's memmove, no view made (Buffer's copy() is a slower binding call)
  w.buf.set(f, w.pos);
  w.pos += f.length;
}

/** An attribute holding src[start, start + len) (no Buffer made for it). */
function putRange(w: AttrWriter, type: number, src: Uint8Array, start: number, len: number): void {
  const total = (4 + len + 3) & ~3;
  if (w.pos + total > w.buf.length) w.ensure(total);
  const b = w.buf, p = w.pos, n = 4 + len;
  b[p] = n & 0xff; b[p + 1] = n >>> 8; b[p + 2] = type & 0xff; b[p + 3] = type >>> 8;
  // short values (addresses, ports, chain names) by hand; an xt blob (a comment's is 256 bytes) by one copy
  if (len <= 32) for (let i = 0; i < len; i++) b[p + 4 + i] = src[start + i]!;
  // Buffer's copy makes no view object (160k comment blobs at 20k kube-proxy services)
  else b.set(src.subarray(start, start + len), p + 4);
  for (let i = p + n; i < p + total; i++) b[i] = 0;
  w.pos = p + total;
}

/**
 * A chain name attribute from the NUL-terminated name at b[at] (a compiled blob's ERROR entry):
 * false, nothing written, when the name is not ASCII (the caller writes it from its string, as
 * the chain's own message does) or has no NUL within xt_error_target's 30 bytes.
 * @example if (!putName(w, CHAIN.NAME, blob.b, at)) w.str(CHAIN.NAME, name);
 */
export function putName(w: AttrWriter, type: number, b: Buffer, at: number): boolean {
  let n = 0;
  for (; n < 30; n++) {
    const c = b[at + n]!;
    if (c === 0) break;
    if (c > 0x7f) return false;
  }
  if (n === 30) return false;
  putRange(w, type, b, at, n + 1);
  return true;
}

/** Sets the length of the nest that starts at `at` to reach pos. */
function closeAt(w: AttrWriter, at: number): void {
  const len = w.pos - at;
  w.buf[at] = len & 0xff;
  w.buf[at + 1] = len >>> 8;
}

const NAMES = new Map<string, Buffer>();
for (const n of ['meta', 'payload', 'cmp', 'bitwise', 'range', 'match', 'target', 'limit', 'log', 'counter', 'immediate']) {
  NAMES.set(n, fragment((w) => w.str(EXPR.NAME, n)));
}
/** Key ranges of the encoder's fragment cache (verdict codes go up to 2^32). */
const K = { META: 0, PAYLOAD: 1 << 8, TRACE: 1 << 25, COUNTER: (1 << 25) + 1, VERDICT: 2 ** 33 } as const;

/** An nft_compat expression's bytes before its blob, for one extension (name and revision as in the blob). */
interface CompatHead { kind: number; revision: number; name: Uint8Array; bytes: Buffer }

const HEADER = 32;  // xt_entry_match / xt_entry_target: size u16, name[29], revision u8
const MATCH = 0, TARGET = 1;
const latin1 = (s: string) => Buffer.from(s, 'latin1');
/** xt_entry_match / _target's name field (XT_EXTENSION_MAXNAMELEN). */
const NAME_MAX = 29;
const LIMIT_NAME = latin1('limit'), UDP_NAME = latin1('udp'), TCP_NAME = latin1('tcp'), MARK_NAME = latin1('mark');
const NFLOG_NAME = latin1('NFLOG'), TRACE_NAME = latin1('TRACE');
const INVALID_IFACE = Buffer.from('INVAL/D\0', 'latin1');

/**
 * Writes rules' expressions straight into the batch buffer from the compiled blob's bytes: no
 * object per rule or expression, no closure per nest, no Buffer per compared value; the
 * expressions that never vary (a meta or payload load, a zero counter, a verdict, the head of
 * a jump or of an extension's compat expression) are encoded once per encoder and copied.
 * One encoder serves a whole batch.
 */
export class RuleEncoder {
  private frags = new Map<number, Buffer>();
  /** NFTA_RULE_COMPAT by proto * 2 + inverted. */
  private compats: Array<Buffer | undefined> = [];
  private heads: CompatHead[] = [];
  /** An immediate jump/goto up to its verdict code (the chain's name follows), by goto. */
  private jumpHeads: Array<Buffer | undefined> = [];
  /** Where the last rule's table and chain attributes are in the batch, to copy for the next rule of the chain. */
  private names: { table: string; chain: string | number; at: number; len: number } = { table: '', chain: '', at: 0, len: 0 };
  private scratch = new NftWriter();
  /** Room for a port pair compared (cmp copies it into the batch). */
  readonly word = Buffer.alloc(4);

  constructor(readonly w: NftWriter, readonly family: Family, readonly enc: NftEncoding = NATIVE_ENCODING) {}

  private frag(key: number, write: (w: NftWriter) => void): Buffer {
    let f = this.frags.get(key);
    if (!f) this.frags.set(key, f = fragment(write, this.scratch));
    return f;
  }

  /** LIST_ELEM { NAME name, DATA { ... } }: returns the LIST_ELEM's offset (close() ends both). */
  private open(name: Buffer): number {
    const w = this.w, el = w.pos;
    w.nest(LIST_ELEM);
    put(w, name);
    w.nest(EXPR.DATA);
    return el;
  }

  /** Closes the DATA nest (right after the LIST_ELEM's name) and the LIST_ELEM. */
  private close(el: number): void {
    const w = this.w, b = w.buf;
    closeAt(w, el + 4 + (((b[el + 4]! | (b[el + 5]! << 8)) + 3) & ~3));
    closeAt(w, el);
  }

  // The hot methods make no closure: one that captured their arguments would have V8 allocate
  // a context for them on every call, used or not (~30 MB of garbage at 20k kube-proxy
  // services). What is encoded once is made in the cold methods below them.
  meta(key: number): void {
    put(this.w, this.frags.get(K.META + key) ?? this.metaFrag(key));
  }
  private metaFrag(key: number): Buffer {
    return this.frag(K.META + key, (w) => w.expr({ op: 'meta', key, dreg: REG_1 }));
  }
  payload(base: number, offset: number, len: number): void {
    const key = K.PAYLOAD + ((base << 16) | (offset << 8) | len);
    put(this.w, this.frags.get(key) ?? this.payloadFrag(key, base, offset, len));
  }
  private payloadFrag(key: number, base: number, offset: number, len: number): Buffer {
    return this.frag(key, (w) => w.expr({ op: 'payload', dreg: REG_1, base, offset, len }));
  }

  /** cmp of src[start, start + len). */
  cmp(op: number, src: Uint8Array, start = 0, len = src.length): void {
    const w = this.w;
    const el = this.open(CMP_NAME);
    putBe32(w, 1, REG_1);
    putBe32(w, 2, op);
    const d = w.nest(3);
    putRange(w, DATA.VALUE, src, start, len);
    w.endNest(d);
    this.close(el);
  }

  bitwise(mask: Uint8Array, maskAt: number, len: number): void {
    const w = this.w;
    const el = this.open(NAMES.get('bitwise')!);
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
    const el = this.open(NAMES.get('range')!);
    w.be32(1, REG_1); w.be32(2, op);
    w.dataValue(3, from); w.dataValue(4, to);
    this.close(el);
  }

  /** An nft_compat match or target: the extension at b[at] (xt_entry_match / _target), its blob copied. */
  compat(kind: number, b: Buffer, at: number): void {
    const w = this.w;
    // everything before the blob (element, name, data nest, xt name, revision) is the same for
    // every use of an extension: copied, then the two nests' lengths set
    const revision = b[at + 31]!;
    let h: CompatHead | undefined;
    const heads = this.heads;
    for (let i = 0; i < heads.length; i++) {
      const x = heads[i]!;
      if (x.kind === kind && x.revision === revision && strIsBytes(b, at + 2, NAME_MAX, x.name)) { h = x; break; }
    }
    h ??= this.compatHead(kind, revision, b, at);
    const el = w.pos;
    put(w, h.bytes);
    this.blob(b, at + HEADER, (b[at]! | (b[at + 1]! << 8)) - HEADER);
    this.close(el);
  }

  private compatHead(kind: number, revision: number, b: Buffer, at: number): CompatHead {
    let end = at + 2;
    while (end < at + 31 && b[end] !== 0) end++;
    const name = b.toString('latin1', at + 2, end);
    const h = { kind, revision, name: latin1(name), bytes: fragment((f) => {
      f.nest(LIST_ELEM);
      put(f, NAMES.get(kind === MATCH ? 'match' : 'target')!);
      f.nest(EXPR.DATA);
      f.str(1, name);
      putBe32(f, 2, revision);
    }, this.scratch) };
    this.heads.push(h);
    return h;
  }

  /** A plain Uint8Array view of the last blob read: its subarray() is the engine's builtin, Buffer's is a JS constructor. */
  private src: Uint8Array = new Uint8Array(0);
  private srcOf: Buffer | undefined;
  /** 32-bit views of the last blob read and of the batch buffer, when both start 4-aligned. */
  private src32: Int32Array | undefined;
  private dst32: Int32Array | undefined;
  private dstOf: Buffer | undefined;

  /**
   * Attribute 3 (NFTA_MATCH_INFO / NFTA_TARGET_INFO) holding src[start, start + len): an xt blob
   * (a comment's is 256 bytes, in 160k rules at 20k kube-proxy services). Copied a 32-bit word
   * at a time (xt data is 8-aligned in the blob, netlink attributes 4-aligned in the batch): a
   * builtin copy needs a subarray view of the source made for each blob, 25 MB of garbage at 20k
   * services; a byte loop would be slow until optimized.
   */
  private blob(src: Buffer, start: number, len: number): void {
    const w = this.w;
    const total = (4 + len + 3) & ~3;
    if (w.pos + total > w.buf.length) w.ensure(total);
    const b = w.buf, p = w.pos;
    b[p] = (4 + len) & 0xff; b[p + 1] = (4 + len) >>> 8; b[p + 2] = 3; b[p + 3] = 0;
    if (this.srcOf !== src) {
      this.srcOf = src;
      this.src = new Uint8Array(src.buffer, src.byteOffset, src.length);
      this.src32 = src.byteOffset % 4 === 0 ? new Int32Array(src.buffer, src.byteOffset, src.length >>> 2) : undefined;
    }
    if (this.dstOf !== b) {
      this.dstOf = b;
      this.dst32 = b.byteOffset % 4 === 0 ? new Int32Array(b.buffer, b.byteOffset, b.length >>> 2) : undefined;
    }
    const s32 = this.src32, d32 = this.dst32;
    if (s32 !== undefined && d32 !== undefined && (start & 3) === 0 && (len & 3) === 0) {
      for (let i = start >>> 2, j = (p + 4) >>> 2, e = (start + len) >>> 2; i < e; i++, j++) d32[j] = s32[i]!;
    } else {
      b.set(this.src.subarray(start, start + len), p + 4);
      for (let i = p + 4 + len; i < p + total; i++) b[i] = 0;
    }
    w.pos = p + total;
  }

  limit(rate: bigint, unit: bigint, burst: number): void {
    const w = this.w;
    const el = this.open(NAMES.get('limit')!);
    w.be64(1, rate); w.be64(2, unit); w.be32(3, burst);
    w.be32(4, 0 /* NFT_LIMIT_PKTS */); w.be32(5, 0);
    this.close(el);
  }

  log(prefix: string | undefined, group: number, snaplen: number | undefined, qthreshold: number | undefined): void {
    const w = this.w;
    const el = this.open(NAMES.get('log')!);
    if (prefix !== undefined) w.str(2, prefix);
    w.be16(1, group);
    if (snaplen !== undefined) w.be32(3, snaplen);
    if (qthreshold !== undefined) w.be16(4, qthreshold);
    this.close(el);
  }

  counter(packets: bigint, bytes: bigint): void {
    if (packets === 0n && bytes === 0n) put(this.w, this.frags.get(K.COUNTER) ?? this.frag(K.COUNTER, ZERO_COUNTER));
    else this.w.expr({ op: 'counter', bytes, packets });
  }

  /** TRACE: `meta nftrace set 1`. */
  trace(): void {
    put(this.w, this.frag(K.TRACE, (w) => {
      w.expr({ op: 'immediate', dreg: REG32_01, data: Buffer.from([1]) });
      w.expr({ op: 'meta_set', key: NFT_META_NFTRACE, sreg: REG32_01 });
    }));
  }

  verdict(code: number): void {
    put(this.w, this.frags.get(K.VERDICT + code) ?? this.verdictFrag(code));
  }
  private verdictFrag(code: number): Buffer {
    return this.frag(K.VERDICT + code, (w) => w.expr({ op: 'immediate', dreg: 0, verdict: { code } }));
  }

  /**
   * A jump or goto to the chain whose NUL-terminated name is at b[at]: the immediate's head
   * copied, the name copied from the blob, four nests closed. A name with non-ASCII bytes goes
   * through a string, as the chain's own message writes it.
   */
  jump(b: Buffer, at: number, goto: boolean): void {
    const w = this.w;
    const el = w.pos;
    put(w, this.jumpHeads[goto ? 1 : 0] ?? this.jumpHead(goto));
    if (!putName(w, VERDICT_ATTR.CHAIN, b, at)) {
      w.pos = el;
      w.expr({ op: 'immediate', dreg: 0, verdict: { code: goto ? VERDICT.goto : VERDICT.jump, chain: cstrAt(b, at) } });
      return;
    }
    // the nests: LIST_ELEM at el, DATA after the name, its DATA(2) after DREG, VERDICT inside it
    const data = el + 4 + IMMEDIATE_NAME_LEN;
    closeAt(w, data + 4 + 8 + 4);
    closeAt(w, data + 4 + 8);
    closeAt(w, data);
    closeAt(w, el);
  }

  private jumpHead(goto: boolean): Buffer {
    return this.jumpHeads[goto ? 1 : 0] = fragment((f) => {
      f.nest(LIST_ELEM);
      put(f, NAMES.get('immediate')!);
      f.nest(EXPR.DATA);
      putBe32(f, 1, 0);
      f.nest(2);
      f.nest(DATA.VERDICT);
      putBe32(f, VERDICT_ATTR.CODE, goto ? VERDICT.goto : VERDICT.jump);
    }, this.scratch);
  }

  /**
   * NFT_MSG_NEWRULE (append) as iptables-nft sends it: table, chain, expressions, compat.
   * `at`: placed next to the rule with that handle instead (after it, or before it) (partial.ts).
   * @example new RuleEncoder(w, 4).rule('filter', 'INPUT', readEntries(4, raw)[0].rules[0]);
   */
  rule(table: string, chain: string, e: Entry, at?: { handle: bigint; after: boolean }): void {
    const { blob, off } = entryBlob(this.family, e);
    this.ruleAt(table, chain, blob, off, at);
  }

  /**
   * The same, for the rule at `off` of a compiled blob, read in place (restore.ts: a whole table);
   * `chain` as a string, or where its NUL-terminated name is in the blob.
   * @example const ix = indexEntries(4, raw); new RuleEncoder(w, 4).ruleAt('nat', 'OUTPUT', ix.blob, ix.chains[0].rules[0]);
   */
  ruleAt(table: string, chain: string | number, src: RuleBlob, off: number, at?: { handle: bigint; after: boolean }): void {
    const w = this.w;
    w.begin(MSG.NEWRULE, NLM_F_REQUEST | NLM_F_CREATE | (!at || at.after ? NLM_F_APPEND : 0), this.family === 4 ? 2 : 10);
    // a chain's rules come one after another: its names are written for the first and copied
    // from the rule before for the others
    const n = this.names, p = w.pos;
    if (n.table === table && n.chain === chain && n.at + n.len <= p) {
      if (p + n.len > w.buf.length) w.ensure(n.len);
      w.buf.copyWithin(p, n.at, n.at + n.len);
      w.pos = p + n.len;
    } else {
      w.str(RULE.TABLE, table);
      if (typeof chain === 'string') w.str(RULE.CHAIN, chain);
      else if (!putName(w, RULE.CHAIN, src.b, chain)) w.str(RULE.CHAIN, cstrAt(src.b, chain));
      n.table = table;
      n.chain = chain;
    }
    n.at = p;
    n.len = w.pos - p;
    if (at) w.be64(RULE.POSITION, at.handle);
    const exprs = w.nest(RULE.EXPRESSIONS);
    writeExprsAt(this, src, off);
    w.endNest(exprs);
    const L = LAYOUT[this.family], b = src.b;
    const proto = b[off + L.proto]! | (b[off + L.proto + 1]! << 8), inv = (b[off + L.invflags]! & INV.PROTO) !== 0;
    put(w, this.compats[proto * 2 + (inv ? 1 : 0)] ?? this.compatAttr(proto, inv));
    w.end();
  }

  private compatAttr(proto: number, inv: boolean): Buffer {
    return this.compats[proto * 2 + (inv ? 1 : 0)] = fragment((x) => x.within(NFTA_RULE_COMPAT, () => {
      x.be32(NFTA_RULE_COMPAT_PROTO, proto);
      x.be32(NFTA_RULE_COMPAT_FLAGS, inv ? NFT_RULE_COMPAT_F_INV : 0);
    }), this.scratch);
  }

  /** The expressions of one rule (the inside of NFTA_RULE_EXPRESSIONS). */
  exprs(e: Entry): void {
    const { blob, off } = entryBlob(this.family, e);
    writeExprsAt(this, blob, off);
  }
}

const ZEROS = new Uint8Array(16);
const ZERO_COUNTER = (w: NftWriter) => w.expr({ op: 'counter', bytes: 0n, packets: 0n });
const CMP_NAME = NAMES.get('cmp')!;
const IMMEDIATE_NAME_LEN = NAMES.get('immediate')!.length;

const be16 = (v: number, b = Buffer.alloc(2)): Buffer => { b[0] = v >>> 8; b[1] = v & 0xff; return b; };
const op = (inv: boolean): number => (inv ? CMP['!='] : CMP['==']);
const u16 = (b: Buffer, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Buffer, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
/** The same as a signed number: compared with `PORTS_ANY` / -1 it stays a small integer (no heap number, no deopt). */
const i32 = (b: Buffer, at: number) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
/** xt_tcp / xt_udp's port range 0..65535 (two u16 in host order) as i32 reads it. */
const PORTS_ANY = 0xffff0000 | 0;

/** add_iniface / add_outiface, the name at b[at] (IFNAMSIZ): `eth+` compares the prefix; a bare `+` only when inverted. */
function iface(x: RuleEncoder, key: number, b: Buffer, at: number, cmpOp: number): void {
  x.meta(key);
  let n = 0;
  while (n < 16 && b[at + n] !== 0) n++;
  if (b[at + n - 1] === 0x2b /* + */) {
    if (n > 1) x.cmp(cmpOp, b, at, n - 1);
    else if (cmpOp !== CMP['==']) x.cmp(CMP['=='], INVALID_IFACE);
  } else if (n < 16) {
    x.cmp(cmpOp, b, at, n + 1);
  } else {
    x.cmp(cmpOp, Buffer.concat([b.subarray(at, at + n), ZEROS.subarray(0, 1)]));
  }
}

/** add_addr: the address at b[at], its mask at b[maskAt]; a prefix mask shortens the compare, any other mask adds a bitwise. */
function addr(x: RuleEncoder, offset: number, b: Buffer, at: number, maskAt: number, size: number, cmpOp: number): void {
  let len = size, i = 0, bitwise = false;
  for (; i < len; i++) {
    const m = b[maskAt + i];
    if (m !== 0xff) { bitwise = m !== 0; break; }
  }
  for (let j = i + 1; !bitwise && j < len; j++) bitwise = b[maskAt + j] !== 0;
  if (!bitwise) len = i;
  x.payload(PAYLOAD_BASE.NETWORK, offset, len);
  if (bitwise) x.bitwise(b, maskAt, len);
  x.cmp(cmpOp, b, at, len);
}

/** expr_gen_range_cmp16 */
function rangeCmp16(x: RuleEncoder, lo: number, hi: number, invert: boolean): void {
  if (lo === hi) return x.cmp(op(invert), be16(lo, x.word), 0, 2);
  if (lo === 0 && hi < 0xffff) return x.cmp(invert ? CMP['>'] : CMP['<='], be16(hi, x.word), 0, 2);
  x.range(invert ? 1 : 0, be16(lo), be16(hi));
}

/** add_nft_tcpudp: the ports are read from the match's data at b[d] (u16 host order at 0, 2, 4, 6). */
function ports(x: RuleEncoder, b: Buffer, d: number, invSrc: boolean, invDst: boolean): void {
  const s0 = u16(b, d), s1 = u16(b, d + 2), d0 = u16(b, d + 4), d1 = u16(b, d + 6);
  if (s0 && s0 === s1 && d0 && d0 === d1 && invSrc === invDst) {
    x.payload(PAYLOAD_BASE.TRANSPORT, 0, 4);
    const v = x.word;
    v[0] = s0 >>> 8; v[1] = s0 & 0xff; v[2] = d0 >>> 8; v[3] = d0 & 0xff;
    x.cmp(op(invSrc), v, 0, 4);
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

const U8 = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** One match of a rule: the xt_entry_match at b[m]. */
function match(x: RuleEncoder, b: Buffer, m: number, proto: number): void {
  const name = m + 2, d = m + HEADER;
  const c = b[name];
  // most matches (comment, statistic, addrtype, ...) go as compat: one byte tells them apart from the four
  if (c !== 0x6c && c !== 0x75 && c !== 0x74 && c !== 0x6d) return x.compat(MATCH, b, m);
  // iptables-nft 1.8.7 and older: tcp, udp and mark go as compat matches
  if (strIsBytes(b, name, NAME_MAX, LIMIT_NAME)) {
    // add_nft_limit: the largest unit whose rate stays whole
    const avg = u32(b, d), burst = u32(b, d + 4);
    const mult = [LIMIT_SCALE * 24 * 60 * 60, LIMIT_SCALE * 60 * 60, LIMIT_SCALE * 60, LIMIT_SCALE];
    let i = 1;
    for (; i < mult.length; i++) {
      if (avg > mult[i]! || Math.floor(mult[i]! / avg) < mult[i]! % avg) break;
    }
    x.limit(BigInt(Math.floor(mult[i - 1]! / avg)), BigInt(mult[i - 1]! / LIMIT_SCALE), burst);
    return;
  }
  if (strIsBytes(b, name, NAME_MAX, UDP_NAME)) {
    const inv = b[d + 8]!;
    const allZero = i32(b, d) === PORTS_ANY && i32(b, d + 4) === PORTS_ANY && inv === 0;
    if (!x.enc.native || inv > 0x03 || allZero) return x.compat(MATCH, b, m);
    if (proto !== IPPROTO_UDP) throw new EncodeError("UDP match requires '-p udp'");
    return ports(x, b, d, (inv & 0x01) !== 0, (inv & 0x02) !== 0);
  }
  if (strIsBytes(b, name, NAME_MAX, TCP_NAME)) {
    const option = b[d + 8]!, flgMask = b[d + 9]!, flgCmp = b[d + 10]!, inv = b[d + 11]!;
    const allZero = i32(b, d) === PORTS_ANY && i32(b, d + 4) === PORTS_ANY && !option && !flgMask && !flgCmp && !inv;
    if (!x.enc.native || (inv & ~0x07) || option || allZero) return x.compat(MATCH, b, m);
    if (proto !== IPPROTO_TCP) throw new EncodeError("TCP match requires '-p tcp'");
    if (flgMask) {
      x.payload(PAYLOAD_BASE.TRANSPORT, 13, 1);
      x.bitwise(b, d + 9, 1);
      x.cmp(op((inv & 0x04) !== 0), b, d + 10, 1);
    }
    return ports(x, b, d, (inv & 0x01) !== 0, (inv & 0x02) !== 0);
  }
  if (strIsBytes(b, name, NAME_MAX, MARK_NAME)) {
    if (!x.enc.native) return x.compat(MATCH, b, m);
    // add_nft_mark reads xt_mark_mtinfo1 (mark, mask: host order u32; invert u8)
    x.meta(META_KEY.mark);
    if (i32(b, d + 4) !== -1) x.bitwise(b, d + 4, 4);
    x.cmp(op(b[d + 8] !== 0), b, d, 4);
    return;
  }
  x.compat(MATCH, b, m);
}

const cstrAt = (b: Buffer, at: number) => { let n = 0; while (n < 30 && b[at + n] !== 0) n++; return b.toString('latin1', at, at + n); };
const nonZero = (b: Buffer, at: number, n: number) => { for (let i = 0; i < n; i++) if (b[at + i] !== 0) return true; return false; };

/** The expressions of the rule at `off` of the blob, as iptables-nft 1.8.9 builds them (see the top of the file). */
function writeExprsAt(x: RuleEncoder, src: RuleBlob, off: number): void {
  const { b, family } = src;
  const L = LAYOUT[family];
  const inv = b[off + L.invflags]!, flags = b[off + L.flags]!, proto = u16(b, off + L.proto);
  if (b[off + L.iniface]) iface(x, META_KEY.iifname, b, off + L.iniface, op((inv & INV.VIA_IN) !== 0));
  if (b[off + L.outiface]) iface(x, META_KEY.oifname, b, off + L.outiface, op((inv & INV.VIA_OUT) !== 0));
  if (proto) {
    x.meta(META_KEY.l4proto);
    x.cmp(op((inv & INV.PROTO) !== 0), U8, proto & 0xff, 1);
  }
  const srcOff = family === 4 ? 12 : 8, dstOff = family === 4 ? 16 : 24;  // iphdr saddr/daddr, ip6_hdr ip6_src/ip6_dst
  const A = L.addr;
  if (inv & INV.SRCIP || nonZero(b, off + L.src, A) || nonZero(b, off + L.smsk, A)) addr(x, srcOff, b, off + L.src, off + L.smsk, A, op((inv & INV.SRCIP) !== 0));
  if (inv & INV.DSTIP || nonZero(b, off + L.dst, A) || nonZero(b, off + L.dmsk, A)) addr(x, dstOff, b, off + L.dst, off + L.dmsk, A, op((inv & INV.DSTIP) !== 0));
  if (family === 4 && flags & IPT_F_FRAG) {
    x.payload(PAYLOAD_BASE.NETWORK, 6, 2);
    x.bitwise(be16(0x1fff), 0, 2);
    x.cmp(inv & INV.FRAG ? CMP['=='] : CMP['!='], ZEROS, 0, 2);
  }
  const tOff = off + u16(b, off + L.targetOffset), next = u16(b, off + L.nextOffset);
  for (let m = off + L.size; m < tOff;) {
    const size = u16(b, m);
    if (size < HEADER) throw new Error(`match at ${m} has size ${size}`);
    match(x, b, m, proto);
    m += size;
  }
  // "Counters need to be added before the target" (nft-ipv4.c). ip6tables-nft 1.8.9 never
  // copies a rule's `[p:b]` into the rule (ipv6_post_parse of xshared.c fills only the legacy
  // fw6.counters): its IPv6 rules start at zero whatever the text says, and so do nlkit's.
  const c = off + L.counters;
  if (family === 6 || !nonZero(b, c, 16)) x.counter(0n, 0n);
  else x.counter(b.readBigUInt64LE(c), b.readBigUInt64LE(c + 8));
  if (b[tOff + 2] !== 0) {
    if (strIsBytes(b, tOff + 2, NAME_MAX, NFLOG_NAME) && x.enc.native) {
      // add_log: xt_nflog_info { u32 len; u16 group; u16 threshold; u16 flags; u16 pad; char prefix[64] }
      const d = b.subarray(tOff + HEADER, tOff + u16(b, tOff));
      const prefixEnd = d.indexOf(0, 12);
      const prefix = d.subarray(12, prefixEnd < 0 ? 76 : prefixEnd).toString('latin1');
      const nflags = d.readUInt16LE(8), threshold = d.readUInt16LE(6);
      x.log(prefix.length ? prefix : undefined, d.readUInt16LE(4), nflags & 0x1 ? d.readUInt32LE(0) : undefined, threshold || undefined);
      return;
    }
    if (strIsBytes(b, tOff + 2, NAME_MAX, TRACE_NAME)) {
      x.trace();
      return;
    }
    x.compat(TARGET, b, tOff);
    return;
  }
  // a standard target (the empty name): its data is the verdict, or where a jump goes
  const verdict = b.readInt32LE(tOff + HEADER);
  if (verdict < 0) {
    if (verdict === -4) throw new EncodeError('the QUEUE verdict has no nf_tables form in iptables-nft');
    x.verdict(verdict === -2 ? VERDICT.accept : verdict === -5 ? VERDICT.return : VERDICT.drop);
    return;
  }
  if (verdict === off + next) return;
  const name = src.nameAt(verdict);
  if (name < 0) throw new Error(`rule at ${off} jumps to ${verdict}, which starts no chain`);
  x.jump(b, name, (flags & GOTO_FLAG[family]) !== 0);
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
