// save()'s fast path on the nf_tables backend: one rule's NFTA_RULE_EXPRESSIONS read once, by
// offset, straight into its legacy entry (struct ipt_entry / ip6t_entry, its matches and target)
// in the table's output blob: no expression objects, no command state, no Buffer views.
//
// It knows only the sequences iptables-nft 1.8.9 writes for the common rules (meta + cmp for the
// protocol and interfaces, payload + cmp (+ bitwise) for addresses, tcp/udp ports compared with
// == or !=, meta mark + bitwise + cmp, counter, compat match/target, a verdict or jump) and
// declines everything else, and every form that is odd (an attribute missing, repeated or
// malformed, a register other than 1, a second load before a compare): decode.ts then decodes
// that rule with its general decoder, which is the reference (it reports what the tool cannot
// print right, and says when the table is incompatible). So whatever this accepts must give the
// bytes the general decoder gives; test/unit/iptables-nft-fastdecode.test.ts (captured dumps, and
// a seeded sweep of single-byte changes) and test/kernel/iptables-nft-fastdecode.test.ts (the
// kube-proxy, Calico and extension fixtures) compare the two on whole tables.
//
// Entries are written in the host's byte order (little-endian hosts, as the kernel's structs are).

import type { Layout } from './decode.js';
import { IFNAMSIZ, writeIfname } from './ifname.js';

/** Offsets of struct ipt_entry / ip6t_entry: decode.ts's Layout. */
export type FastLayout = Layout;

const FNV = 0x811c9dc5 | 0, FNV_PRIME = 0x01000193;
const ENTRY_MATCH = 32;   // struct xt_entry_match / xt_entry_target
const STD_TARGET = 40;    // XT_ALIGN(sizeof(struct xt_standard_target))
const COMMENT = 256;      // struct xt_comment_info
const INV = { VIA_IN: 0x01, VIA_OUT: 0x02, SRCIP: 0x08, DSTIP: 0x10, PROTO: 0x40 } as const;

// Expression names by length and bytes.
const NAMES = ['payload', 'meta', 'cmp', 'bitwise', 'immediate', 'counter', 'match', 'target'].map((n) => Buffer.from(n));
const X_PAYLOAD = 0, X_META = 1, X_CMP = 2, X_BITWISE = 3, X_IMMEDIATE = 4, X_COUNTER = 5, X_MATCH = 6, X_TARGET = 7;

const META_MARK = 3, META_IIFNAME = 6, META_OIFNAME = 7, META_L4PROTO = 16;
const BASE_NETWORK = 1, BASE_TRANSPORT = 2;
const CMP_EQ = 0, CMP_NEQ = 1;
const TCP = 6, UDP = 17;
const V_DROP = 0, V_ACCEPT = 1, V_JUMP = -3, V_GOTO = -4, V_RETURN = -5;
const STD_DROP = -1, STD_ACCEPT = -2, STD_RETURN = -5;

// What a register holds (only register 1 is followed; iptables-nft uses no other).
const R_NONE = 0, R_META = 1, R_PAYLOAD = 2;
// The rule's target so far.
const T_NONE = 0, T_STD = 1, T_JUMP = 2, T_MODULE = 3;

/** The comment name's bytes, written for a rule's user data comment. */
const COMMENT_NAME = Buffer.from('comment');
const MARK_NAME = Buffer.from('mark');
const TCP_NAME = Buffer.from('tcp'), UDP_NAME = Buffer.from('udp');

/**
 * One table's fast rule decoder (scratch state reused from rule to rule; one per decode, so the
 * module keeps no state).
 * @example
 * const fd = new FastDecoder(V4, 4);
 * fd.chains(['KUBE-SERVICES']);
 * const n = fd.entry(b, from, to, udAt, udLen, out, off); // 0: not recognised, use the general decoder
 */
export class FastDecoder {
  /** The index (in chains()' list) of the user chain the last entry jumps to, or -1; its verdict's offset is jumpAt. */
  jump = -1;
  jumpAt = 0;

  // attribute offsets of one nest, by type (0: absent), and their lengths
  private readonly at = new Int32Array(16);
  private readonly len = new Int32Array(16);

  // register 1
  private reg = R_NONE;
  private key = 0; private base = 0; private poff = 0; private plen = 0;
  private bw = false; private bwMask = 0; private bwLen = 0;

  // target: verdict, or the compat target's name, revision and info in the dump
  private tkind = T_NONE;
  private verdict = 0;
  private tName = 0; private tNameLen = 0; private tRev = 0; private tInfo = 0; private tInfoLen = 0;
  private jName = 0; private jNameLen = 0;
  /** The tcp/udp match's data offset in `out` (0: none yet) and its protocol. */
  private ports = 0; private portsProto = 0;

  // the user chains by their names' bytes (open addressing on an FNV-1a hash; slot: index + 1,
  // and the hash, compared first), so a jump's target is found without making a string of it;
  // the names' bytes side by side in one Buffer
  private slots = new Int32Array(0);
  private hashes = new Int32Array(0);
  private nameBytes = Buffer.alloc(0);
  private nameAt = new Int32Array(0);

  constructor(private readonly L: FastLayout, private readonly fam: 4 | 6) {}

  /** The table's user chains, which jumps may target (a name not all ASCII is left to the general decoder). */
  chains(names: string[]): void {
    let size = 16;
    while (size < names.length * 2) size *= 2;
    const slots = this.slots = new Int32Array(size), hashes = this.hashes = new Int32Array(size);
    let total = 0;
    for (const name of names) total += name.length;
    const bytes = this.nameBytes = Buffer.allocUnsafe(total);
    const at = this.nameAt = new Int32Array(names.length + 1);
    let p = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      at[i] = p;
      let h = FNV, ascii = true;
      for (let k = 0; k < name.length; k++) {
        const c = name.charCodeAt(k);
        if (c >= 0x80) ascii = false;
        bytes[p++] = c;
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      if (!ascii) continue;
      let j = h & (size - 1);
      while (slots[j] !== 0) j = (j + 1) & (size - 1);
      slots[j] = i + 1;
      hashes[j] = h;
    }
    at[names.length] = p;
  }

  /** The index of the user chain named by b[at, at + n), or -1. */
  private chainAt(b: Buffer, at: number, n: number): number {
    let h = FNV;
    for (let k = 0; k < n; k++) h = Math.imul(h ^ b[at + k]!, FNV_PRIME);
    const slots = this.slots, hashes = this.hashes, mask = slots.length - 1;
    if (mask < 0) return -1;
    const bytes = this.nameBytes, nameAt = this.nameAt;
    for (let j = h & mask; slots[j] !== 0; j = (j + 1) & mask) {
      if (hashes[j] !== h) continue;
      const i = slots[j]! - 1, p = nameAt[i]!;
      if (nameAt[i + 1]! - p !== n) continue;
      let k = 0;
      while (k < n && bytes[p + k] === b[at + k]) k++;
      if (k === n) return i;
    }
    return -1;
  }

  /**
   * Room `entry` may need in `out` for a rule with `exprLen` bytes of expressions and `udLen`
   * of user data (every entry part is shorter than the expressions it comes from).
   */
  bound(exprLen: number, udLen: number): number {
    return this.L.hdr + 2 * exprLen + udLen + ENTRY_MATCH + COMMENT + STD_TARGET + 64;
  }

  /**
   * Writes the entry of the rule whose expressions are b[from, to) and user data
   * b[udAt, udAt + udLen) (udAt 0: none) at out[off], which must be zero for bound() bytes;
   * `base`: where `out` starts in the whole blob (a verdict that falls through names an offset in it).
   * Returns its length, or 0 when the rule is not one this path knows: out[off, off + bound())
   * may then hold partial writes (the caller zeroes it).
   */
  entry(b: Buffer, from: number, to: number, udAt: number, udLen: number, out: Buffer, off: number, base = 0): number {
    const L = this.L;
    this.reg = R_NONE; this.bw = false;
    this.tkind = T_NONE; this.ports = 0;
    this.jump = -1;
    let at = off + L.hdr;
    let p = from;
    while (p < to) {
      if (p + 4 > to) return 0;
      const elen = b[p]! | (b[p + 1]! << 8);
      if (elen < 4 || p + elen > to) return 0;
      const end = p + elen;
      // the element: NFTA_EXPR_NAME and NFTA_EXPR_DATA, nothing else
      if (this.index(b, p + 4, end) !== 0b110) return 0;
      const nameAt = this.at[1]!, dAt = this.at[2]!, dEnd = dAt + this.len[2]!;
      const x = exprName(b, nameAt, this.len[1]!);
      if (x < 0) return 0;
      if (this.tkind !== T_NONE && x !== X_COUNTER) return 0;  // iptables-nft writes the target last
      switch (x) {
        case X_PAYLOAD: {
          if (this.reg !== R_NONE || this.index(b, dAt, dEnd) !== 0b11110 || !this.all32(0b11110) || this.u32(b, 1) !== 1) return 0;
          this.reg = R_PAYLOAD;
          this.base = this.u32(b, 2); this.poff = this.u32(b, 3); this.plen = this.u32(b, 4);
          this.bw = false;
          break;
        }
        case X_META: {
          if (this.reg !== R_NONE || this.index(b, dAt, dEnd) !== 0b110 || !this.all32(0b110) || this.u32(b, 1) !== 1) return 0;
          this.reg = R_META;
          this.key = this.u32(b, 2);
          this.bw = false;
          break;
        }
        case X_BITWISE: {
          // SREG DREG LEN MASK XOR, and OP (boolean) as newer kernels dump it
          const m = this.index(b, dAt, dEnd);
          if ((m !== 0b111110 && m !== 0b1111110) || this.reg === R_NONE || this.bw || !this.all32(m & 0b1001110)) return 0;
          if (this.u32(b, 1) !== 1 || this.u32(b, 2) !== 1 || ((m & 0b1000000) !== 0 && this.u32(b, 6) !== 0)) return 0;
          const n = this.u32(b, 3);
          const maskAt = this.at[4]!, maskEnd = maskAt + this.len[4]!, xorAt = this.at[5]!, xorEnd = xorAt + this.len[5]!;
          const mask = this.value(b, maskAt, maskEnd);
          if (mask === 0 || this.len[1]! !== n) return 0;
          const xor = this.value(b, xorAt, xorEnd);
          if (xor === 0 || this.len[1]! !== n) return 0;
          for (let i = 0; i < n; i++) if (b[xor + i] !== 0) return 0;
          this.bw = true; this.bwMask = mask; this.bwLen = n;
          break;
        }
        case X_CMP: {
          if (this.reg === R_NONE || this.index(b, dAt, dEnd) !== 0b1110 || !this.all32(0b110) || this.u32(b, 1) !== 1) return 0;
          const op = this.u32(b, 2);
          if (op !== CMP_EQ && op !== CMP_NEQ) return 0;
          const v = this.value(b, this.at[3]!, this.at[3]! + this.len[3]!);
          if (v === 0) return 0;
          const vlen = this.len[1]!;
          const inv = op === CMP_NEQ;
          const reg = this.reg;
          this.reg = R_NONE;
          if (reg === R_META) {
            const k = this.key;
            if (k === META_MARK) {
              if (vlen !== 4 || (this.bw && this.bwLen !== 4)) return 0;
              at = this.match(out, at, MARK_NAME, 1, 16);
              const d = at - 16;
              for (let i = 0; i < 4; i++) out[d + i] = b[v + i]!;
              if (this.bw) for (let i = 0; i < 4; i++) out[d + 4 + i] = b[this.bwMask + i]!;
              else for (let i = 4; i < 8; i++) out[d + i] = 0xff;
              if (inv) out[d + 8] = 1;
              break;
            }
            if (this.bw) return 0;
            if (k === META_L4PROTO) {
              if (vlen !== 1) return 0;
              u16(out, off + L.proto, b[v]!);
              if (inv) out[off + L.invflags]! |= INV.PROTO;
            } else if (k === META_IIFNAME) {
              if (!this.ifname(b, v, vlen, inv, out, off + L.iniface, off + L.inmask, off + L.invflags, INV.VIA_IN)) return 0;
            } else if (k === META_OIFNAME) {
              if (!this.ifname(b, v, vlen, inv, out, off + L.outiface, off + L.outmask, off + L.invflags, INV.VIA_OUT)) return 0;
            } else return 0;
            break;
          }
          // a payload
          if (this.base === BASE_NETWORK) {
            const o = this.poff;
            const src = this.fam === 4 ? o === 12 : o === 8;
            if (src || (this.fam === 4 ? o === 16 : o === 24)) {
              if (!this.addr(b, v, vlen, inv, out, off, src)) return 0;
            } else if (this.fam === 4 && o === 9) {
              if (this.bw || this.plen !== 1 || vlen !== 1) return 0;
              u16(out, off + L.proto, b[v]!);
              if (inv) out[off + L.invflags]! |= INV.PROTO;
            } else return 0;
            break;
          }
          if (this.base !== BASE_TRANSPORT || this.bw) return 0;
          // a source or destination port of the rule's protocol (nft_parse_transport)
          const o = this.poff;
          if (this.plen !== 2 || vlen !== 2 || (o !== 0 && o !== 2) || (out[off + L.invflags]! & INV.PROTO) !== 0) return 0;
          const proto = out.readUInt16LE(off + L.proto);
          if (proto !== TCP && proto !== UDP) return 0;
          if (this.ports === 0) {
            at = this.match(out, at, proto === TCP ? TCP_NAME : UDP_NAME, 0, 16);
            this.ports = at - 16; this.portsProto = proto;
            out[this.ports + 2] = 0xff; out[this.ports + 3] = 0xff;  // spts[1]
            out[this.ports + 6] = 0xff; out[this.ports + 7] = 0xff;  // dpts[1]
          } else if (this.portsProto !== proto) return 0;
          const d = this.ports + (o === 0 ? 0 : 4);
          const hi = b[v]!, lo = b[v + 1]!;
          out[d] = lo; out[d + 1] = hi; out[d + 2] = lo; out[d + 3] = hi;
          if (inv) out[this.ports + (proto === TCP ? 11 : 8)]! |= o === 0 ? 0x01 : 0x02;
          break;
        }
        case X_COUNTER: {
          // BYTES, PACKETS (each 8 bytes), and PAD where the kernel aligns them
          const m = this.index(b, dAt, dEnd);
          if (m < 0 || (m & ~0b1110) !== 0 || ((m & 2) !== 0 && this.len[1]! < 8) || ((m & 4) !== 0 && this.len[2]! < 8)) return 0;
          const c = off + L.counters;
          swap8(b, (m & 4) !== 0 ? this.at[2]! : 0, out, c);
          swap8(b, (m & 2) !== 0 ? this.at[1]! : 0, out, c + 8);
          break;
        }
        case X_IMMEDIATE: {
          // a verdict: DATA { VERDICT { CODE [, CHAIN] } } (the dreg is not read, as in iptables)
          const m = this.index(b, dAt, dEnd);
          if (m < 0 || (m & 0b100) === 0 || (m & ~0b110) !== 0) return 0;
          const dd = this.at[2]!;
          if (this.index(b, dd, dd + this.len[2]!) !== 0b100) return 0;
          const vd = this.at[2]!;
          const vm = this.index(b, vd, vd + this.len[2]!);
          if ((vm !== 0b10 && vm !== 0b110) || !this.all32(0b10)) return 0;
          const code = this.u32(b, 1) | 0;
          if (code === V_JUMP || code === V_GOTO) {
            if (vm !== 0b110) return 0;
            const c = this.at[2]!;
            let e = c;
            const ce = c + this.len[2]!;
            while (e < ce && b[e] !== 0) e++;
            if (e === c) return 0;
            this.tkind = T_JUMP;
            this.jName = c; this.jNameLen = e - c;
            if (code === V_GOTO) out[off + L.flags]! |= L.gotoFlag;
          } else {
            if (vm !== 0b10) return 0;
            this.tkind = T_STD;
            if (code === V_ACCEPT) this.verdict = STD_ACCEPT;
            else if (code === V_DROP) this.verdict = STD_DROP;
            else if (code === V_RETURN) this.verdict = STD_RETURN;
            else return 0;
          }
          break;
        }
        case X_MATCH: case X_TARGET: {
          // NFTA_MATCH_NAME / _REV / _INFO (NFTA_TARGET_* alike)
          const m = this.index(b, dAt, dEnd);
          if (m < 0 || (m & ~0b1110) !== 0 || (m & 2) === 0) return 0;
          const n = this.at[1]!, ne = n + this.len[1]!;
          let e = n;
          while (e < ne && b[e] !== 0) { if (b[e]! >= 0x80) return 0; e++; }
          if (e === n || e - n > 28) return 0;
          const rev = (m & 4) !== 0 && this.len[2]! >= 4 ? b.readUInt32BE(this.at[2]!) : 0;
          const info = (m & 8) !== 0 ? this.at[3]! : 0, infoLen = info === 0 ? 0 : this.len[3]!;
          if (x === X_MATCH) {
            if (ENTRY_MATCH + infoLen > 0xffff) return 0;
            u16(out, at, ENTRY_MATCH + infoLen);
            for (let i = n; i < e; i++) out[at + 2 + i - n] = b[i]!;
            out[at + 31] = rev;
            copy(b, info, infoLen, out, at + ENTRY_MATCH);
            at += ENTRY_MATCH + infoLen;
          } else {
            this.tkind = T_MODULE;
            this.tName = n; this.tNameLen = e - n; this.tRev = rev; this.tInfo = info; this.tInfoLen = infoLen;
          }
          break;
        }
      }
      p += (elen + 3) & ~3;
    }
    if (this.reg !== R_NONE) return 0;  // loaded and never compared
    if (udAt !== 0) at = this.comment(b, udAt, udLen, out, at);
    const targetOffset = at - off;
    let n: number;
    if (this.tkind === T_MODULE) {
      n = targetOffset + ENTRY_MATCH + this.tInfoLen;
      if (n > 0xffff) return 0;
      u16(out, at, ENTRY_MATCH + this.tInfoLen);
      for (let i = 0; i < this.tNameLen; i++) out[at + 2 + i] = b[this.tName + i]!;
      out[at + 31] = this.tRev;
      copy(b, this.tInfo, this.tInfoLen, out, at + ENTRY_MATCH);
    } else {
      n = targetOffset + STD_TARGET;
      if (n > 0xffff) return 0;
      u16(out, at, STD_TARGET);
      if (this.tkind === T_STD) out.writeInt32LE(this.verdict, at + ENTRY_MATCH);
      else if (this.tkind === T_JUMP) {
        // not a user chain (or not an ASCII name): the general decoder reports it
        this.jump = this.chainAt(b, this.jName, this.jNameLen);
        if (this.jump < 0) return 0;
        this.jumpAt = at + ENTRY_MATCH;
      } else out.writeInt32LE(base + off + n, at + ENTRY_MATCH);  // no target: falls through (libiptc's encoding)
    }
    u16(out, off + L.targetOffset, targetOffset);
    u16(out, off + L.nextOffset, n);
    return n;
  }

  /** Indexes the attributes of b[from, to) into at/len; a bit per type seen, -1 when malformed or repeated. */
  private index(b: Buffer, from: number, to: number): number {
    const at = this.at, len = this.len;
    let seen = 0;
    let p = from;
    while (p < to) {
      if (p + 4 > to) return -1;
      const l = b[p]! | (b[p + 1]! << 8);
      if (l < 4 || p + l > to) return -1;
      const t = (b[p + 2]! | (b[p + 3]! << 8)) & 0x3fff;
      if (t >= 16 || (seen & (1 << t)) !== 0) return -1;
      seen |= 1 << t;
      at[t] = p + 4;
      len[t] = l - 4;
      p += (l + 3) & ~3;
    }
    return seen;
  }

  /** Whether every attribute of the types in `m` holds at least 4 bytes. */
  private all32(m: number): boolean {
    for (let t = 1; t < 16; t++) if ((m & (1 << t)) !== 0 && this.len[t]! < 4) return false;
    return true;
  }

  private u32(b: Buffer, t: number): number { return b.readUInt32BE(this.at[t]!); }

  /** The NFTA_DATA_VALUE of the nft_data nest b[from, to): its offset (length in len[1]), 0 when it holds anything else. */
  private value(b: Buffer, from: number, to: number): number {
    return this.index(b, from, to) === 0b10 ? this.at[1]! : 0;
  }

  /** A new native match (its data `size` bytes, zero); returns the offset past it. */
  private match(out: Buffer, at: number, name: Buffer, revision: number, size: number): number {
    u16(out, at, ENTRY_MATCH + size);
    for (let i = 0; i < name.length; i++) out[at + 2 + i] = name[i]!;
    out[at + 31] = revision;
    return at + ENTRY_MATCH + size;
  }

  /** An address and its mask (the loaded prefix, or the bitwise mask) into the header (decode.ts addr). */
  private addr(b: Buffer, v: number, vlen: number, inv: boolean, out: Buffer, off: number, src: boolean): boolean {
    const L = this.L;
    const n = this.plen;
    if (n > L.alen || n === 0 || vlen !== n || (this.bw && this.bwLen !== n)) return false;
    // (addr & mask) == data never matches when data has bits outside the mask: the general decoder reports it
    if (this.bw) for (let i = 0; i < n; i++) if ((b[v + i]! & ~b[this.bwMask + i]!) !== 0) return false;
    const a = off + (src ? L.src : L.dst), m = off + (src ? L.smsk : L.dmsk);
    for (let i = 0; i < n; i++) out[a + i] = b[v + i]!;
    if (this.bw) for (let i = 0; i < n; i++) out[m + i] = b[this.bwMask + i]!;
    else for (let i = 0; i < n; i++) out[m + i] = 0xff;
    // a second comparison of the field overwrites the first, as in the general decoder
    for (let i = n; i < L.alen; i++) out[a + i] = out[m + i] = 0;
    if (inv) out[off + L.invflags]! |= src ? INV.SRCIP : INV.DSTIP;
    return true;
  }

  /** nft-shared.c parse_ifname, as decode.ts parseIfname (which this mirrors byte for byte). */
  private ifname(b: Buffer, v: number, len: number, inv: boolean, out: Buffer, nameAt: number, maskAt: number, invAt: number, invbit: number): boolean {
    if (len > IFNAMSIZ) return false;
    if (inv) out[invAt]! |= invbit;
    if (len === 0) return true;
    writeIfname(b, v, len, out, nameAt, maskAt);
    // parse_invalid_iface ("! -i +" as nft writes it): left to the general decoder
    if (!inv && out.toString('latin1', nameAt, nameAt + 8) === 'INVAL/D\0') return false;
    return true;
  }

  /** The user data comment (decode.ts udataComment), if any, as a comment match at `at`; returns the offset past it. */
  private comment(b: Buffer, from: number, n: number, out: Buffer, at: number): number {
    let c = -1, cl = 0;
    for (let p = from, end = from + n; p < end;) {
      if (p + 2 > end) return at;
      const type = b[p]!, len = b[p + 1]!;
      if (p + 2 + len > end) return at;
      if (type === 0) {
        if (len === 0 || b[p + 2 + len - 1] !== 0) return at;
        c = p + 2;
        cl = 0;
        while (b[c + cl] !== 0) cl++;
      }
      p += 2 + len;
    }
    if (c < 0) return at;
    const d = this.match(out, at, COMMENT_NAME, 0, COMMENT) - COMMENT;
    copy(b, c, Math.min(cl, 255), out, d);
    return d + COMMENT;
  }
}

/** The index in NAMES of the expression named by the NUL-terminated b[at, at + n), or -1. */
function exprName(b: Buffer, at: number, n: number): number {
  let k = 0;
  while (k < n && b[at + k] !== 0) k++;
  for (let x = 0; x < NAMES.length; x++) {
    const name = NAMES[x]!;
    if (name.length !== k) continue;
    let i = 0;
    while (i < k && b[at + i] === name[i]) i++;
    if (i === k) return x;
  }
  return -1;
}

/** A little-endian u16 (the host's order) at out[at]. */
function u16(out: Buffer, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = v >> 8;
}

/** b[from, from + n) to out[at]: short blobs by hand, where copy() costs more than the bytes (measured: about 32 bytes). */
function copy(b: Buffer, from: number, n: number, out: Buffer, at: number): void {
  if (n > 32) b.copy(out, at, from, from + n);
  else for (let i = 0; i < n; i++) out[at + i] = b[from + i]!;
}

/** A big-endian u64 at b[from] (0: absent, zero) into out[at] little-endian. */
function swap8(b: Buffer, from: number, out: Buffer, at: number): void {
  if (from === 0) for (let i = 0; i < 8; i++) out[at + i] = 0;
  else for (let i = 0; i < 8; i++) out[at + i] = b[from + 7 - i]!;
}
