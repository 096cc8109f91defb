// Reading netlink replies: messages, attributes, nests and their values, and error replies
// with the kernel's extended ack. Pure functions over a Buffer and offsets, so a 50 MB dump is
// walked without copying and without per-attribute objects.
import {
  NLA_TYPE_MASK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_ERROR, NLMSG_HDRLEN, NLMSGERR_ATTR_MISS_TYPE,
  NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS, type NlMsgHeader,
} from './headers.js';

/**
 * The nlmsghdr at `at`.
 * @example const h = readNlmsghdr(buf, 0); if (h.type === NLMSG_ERROR) ...
 */
export function readNlmsghdr(b: Buffer, at: number): NlMsgHeader {
  return { len: b.readUInt32LE(at), type: b.readUInt16LE(at + 4), flags: b.readUInt16LE(at + 6), seq: b.readUInt32LE(at + 8), pid: b.readUInt32LE(at + 12) };
}

/**
 * Calls fn(type, at, len, flags) for each whole message in b[from, to): `at` is the message's
 * offset (its nlmsghdr), `len` its nlmsg_len. Stops at the first malformed length.
 * @example forEachMessage(data, 0, data.length, (type, at, len) => { if (type === RTM_NEWLINK) parse(data, at, len); });
 */
export function forEachMessage(b: Buffer, from: number, to: number, fn: (type: number, at: number, len: number, flags: number) => void): void {
  let at = from;
  while (at + NLMSG_HDRLEN <= to) {
    const len = b.readUInt32LE(at);
    if (len < NLMSG_HDRLEN || at + len > to) break;
    fn(b.readUInt16LE(at + 4), at, len, b.readUInt16LE(at + 6));
    at += (len + 3) & ~3;
  }
}

/**
 * Splits a buffer of netlink messages into their headers and offsets.
 * @example for (const m of splitMessages(data)) console.log(m.type, m.offset);
 */
export function splitMessages(b: Buffer, from = 0, to = b.length): (NlMsgHeader & { offset: number })[] {
  const out: (NlMsgHeader & { offset: number })[] = [];
  forEachMessage(b, from, to, (_t, at) => out.push({ ...readNlmsghdr(b, at), offset: at }));
  return out;
}

/** One nfnetlink message: its header fields, where its payload lies, and its nfgenmsg. */
export interface NfMessage {
  type: number;
  flags: number;
  seq: number;
  /** Offset of the payload (the nfgenmsg), right after the nlmsghdr. */
  at: number;
  /** End of the message. */
  end: number;
  /** nfgenmsg family (0 when the message has no nfgenmsg). */
  family: number;
  /** nfgenmsg res_id (big-endian on the wire). */
  resId: number;
}

/**
 * The nfnetlink messages of a buffer (a dump's replies, an event batch): the one reader of
 * nfgenmsg headers that conntrack and nft share.
 * @example for (const m of nfMessages(data)) if ((m.type & 0xff) === 0) parse(data, m.at + 4, m.end);
 */
export function nfMessages(b: Buffer, from = 0, to = b.length): NfMessage[] {
  const out: NfMessage[] = [];
  forEachMessage(b, from, to, (type, at, len, flags) => {
    const nf = len >= NLMSG_HDRLEN + 4;
    out.push({
      type, flags, seq: b.readUInt32LE(at + 8), at: at + NLMSG_HDRLEN, end: at + len,
      family: nf ? b[at + NLMSG_HDRLEN]! : 0, resId: nf ? b.readUInt16BE(at + NLMSG_HDRLEN + 2) : 0,
    });
  });
  return out;
}

/**
 * Calls fn(type, at, len) for each attribute in b[from, to): `type` without the NESTED and
 * NET_BYTEORDER flags, `at` the payload's offset, `len` the payload's length.
 * For a message's top level: from = message offset + NLMSG_HDRLEN + family header length.
 * @example forEachAttr(b, at + 20, at + len, (t, p, n) => { if (t === 3) name = str(b, p, n); });
 */
export function forEachAttr(b: Buffer, from: number, to: number, fn: (type: number, at: number, len: number) => void): void {
  let p = from;
  while (p + 4 <= to) {
    const len = b.readUInt16LE(p);
    if (len < 4 || p + len > to) break;
    fn(b.readUInt16LE(p + 2) & NLA_TYPE_MASK, p + 4, len - 4);
    p += (len + 3) & ~3;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Each attribute of b[from, to) (a message's attributes or a nest's payload), in order, without
 * an object or a callback per attribute: after each next() that returns true, `type` (without the
 * NESTED and NET_BYTEORDER flags), `at` (payload offset) and `len` (payload length) describe the
 * attribute. One walk can be reused for any number of nests (reset with start()); it stops at
 * the first malformed length, as forEachAttr does.
 * @example const w = new AttrWalk(); for (w.start(b, s, e); w.next();) if (w.type === 3) name = str(b, w.at, w.len);
 */
export class AttrWalk {
  type = 0;
  at = 0;
  len = 0;
  private b: Buffer | Uint8Array = EMPTY;
  private p = 0;
  private end = 0;

  /** Walks b[from, to) from its first attribute; returns this (for `for (w.start(...); w.next();)`). */
  start(b: Buffer | Uint8Array, from: number, to: number): this {
    this.b = b;
    this.p = from;
    this.end = to;
    return this;
  }

  /** Steps to the next attribute; false at the end (or at a malformed length). */
  next(): boolean {
    const b = this.b, p = this.p;
    if (p + 4 > this.end) return false;
    // Indexed byte reads: readUInt16LE checks its offset on every call.
    const len = b[p]! | (b[p + 1]! << 8);
    if (len < 4 || p + len > this.end) {
      this.p = this.end;
      return false;
    }
    this.type = (b[p + 2]! | (b[p + 3]! << 8)) & NLA_TYPE_MASK;
    this.at = p + 4;
    this.len = len - 4;
    this.p = p + ((len + 3) & ~3);
    return true;
  }
}

/**
 * Indexes the attributes of b[from, to) by type: out[type] = payload offset (0: absent),
 * lens[type] = payload length; types above `max` are skipped. Reusable arrays keep a hot
 * parser free of allocation (the caller owns them: no module-level state here).
 * @example const at = new Int32Array(9), len = new Int32Array(9); attrIndex(b, s, e, 8, at, len); const port = at[4] ? be16(b, at[4]) : 0;
 */
export function attrIndex(b: Buffer, from: number, to: number, max: number, out: Int32Array, lens: Int32Array): void {
  // A loop, not fill(): a 20k-service nft listing indexes ~2.5M attribute lists, and fill() on a
  // short typed array costs a call into the runtime each time.
  for (let i = 0; i < out.length; i++) out[i] = 0;
  let p = from;
  // Indexed byte reads: readUInt16LE checks its offset on every call.
  while (p + 4 <= to) {
    const len = b[p]! | (b[p + 1]! << 8);
    if (len < 4 || p + len > to) break;
    const t = (b[p + 2]! | (b[p + 3]! << 8)) & NLA_TYPE_MASK;
    if (t <= max) {
      out[t] = p + 4;
      lens[t] = len - 4;
    }
    p += (len + 3) & ~3;
  }
}

/**
 * For each message of b[from, to) whose family header is `hdrLen` bytes, calls each(start,
 * end) with the payload range of every top-level attribute of type `attr` (a nest).
 * @example forEachNest(data, 0, data.length, GENL_HDRLEN, IPVS_CMD_ATTR_SERVICE, (s, e) => services.push(parseService(data, s, e)));
 */
export function forEachNest(b: Buffer, from: number, to: number, hdrLen: number, attr: number, each: (start: number, end: number) => void): void {
  const first = NLMSG_HDRLEN + ((hdrLen + 3) & ~3);
  let p = from;
  while (p + first <= to) {
    const len = b.readUInt32LE(p);
    if (len < first || p + len > to) break;
    let a = p + first;
    const end = p + len;
    while (a + 4 <= end) {
      const alen = b.readUInt16LE(a);
      if (alen < 4 || a + alen > end) break;
      if ((b.readUInt16LE(a + 2) & NLA_TYPE_MASK) === attr) each(a + 4, a + alen);
      a += (alen + 3) & ~3;
    }
    p += (len + 3) & ~3;
  }
}

/** @example u8(b, at) */
export const u8 = (b: Buffer, at: number): number => b[at]!;
/** Host order (little-endian), as nla_get_u16 reads it. @example u16(b, at) */
export const u16 = (b: Buffer, at: number): number => b.readUInt16LE(at);
/** @example u32(b, at) */
export const u32 = (b: Buffer, at: number): number => b.readUInt32LE(at);
/** @example s32(b, at) */
export const s32 = (b: Buffer, at: number): number => b.readInt32LE(at);
/** @example u64(b, at) // bigint */
export const u64 = (b: Buffer, at: number): bigint => b.readBigUInt64LE(at);
/** Network order (NLA_F_NET_BYTEORDER values, ports). @example be16(b, at) */
export const be16 = (b: Buffer, at: number): number => b.readUInt16BE(at);
/** @example be32(b, at) */
export const be32 = (b: Buffer, at: number): number => b.readUInt32BE(at);
/** @example be64(b, at) // bigint */
export const be64 = (b: Buffer, at: number): bigint => b.readBigUInt64BE(at);

/**
 * A NUL-terminated (or payload-long) string attribute's payload, as UTF-8.
 * @example str(b, at, len)
 */
export function str(b: Buffer, at: number, len: number, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  let end = at;
  const max = at + len;
  while (end < max && b[end] !== 0) end++;
  return b.toString(encoding, at, end);
}

/**
 * Whether the string in b[at, at + len) (up to its first NUL, as str() reads it) is exactly
 * the bytes of `name` (no NUL in it): no string made (hot decoders and encoders compare the
 * same few names on every message).
 * @example const MATCH = Buffer.from('match'); if (strIsBytes(b, at, len, MATCH)) ...
 */
export function strIsBytes(b: Uint8Array, at: number, len: number, name: Uint8Array): boolean {
  const k = name.length;
  if (len < k || (len > k && b[at + k] !== 0)) return false;
  for (let i = 0; i < k; i++) if (b[at + i] !== name[i]) return false;
  return true;
}

/**
 * Whether the string in b[at, at + len) (up to its first NUL) is `s`, compared as ASCII: a
 * byte above 0x7f gives false (its string depends on the encoding: the caller decodes and
 * compares instead).
 * @example if (!strIsAscii(b, at, len, chain.name) && str(b, at, len) !== chain.name) ...
 */
export function strIsAscii(b: Uint8Array, at: number, len: number, s: string): boolean {
  const k = s.length;
  if (len < k || (len > k && b[at + k] !== 0)) return false;
  for (let i = 0; i < k; i++) {
    const x = b[at + i]!;
    if (x >= 0x80 || s.charCodeAt(i) !== x) return false;
  }
  return true;
}

/**
 * A copy of a binary attribute's payload.
 * @example const mac = bytes(b, at, len)
 */
export function bytes(b: Buffer, at: number, len: number): Uint8Array {
  return Uint8Array.prototype.slice.call(b, at, at + len);
}

/** An NLMSG_ERROR reply, decoded. */
export interface NetlinkErrorReply {
  /** Positive errno; 0: an acknowledgement. */
  errno: number;
  /** The refused request's header (as echoed). */
  request: NlMsgHeader;
  /** Offset and length of the echoed request in the buffer, when the kernel echoed it whole (not capped). */
  echo?: { at: number; len: number };
  /** NLMSGERR_ATTR_MSG: the kernel's own words. */
  message?: string;
  /** NLMSGERR_ATTR_OFFS: byte offset, in the request, of the attribute at fault. */
  offset?: number;
  /** NLMSGERR_ATTR_MISS_TYPE: the attribute type that was missing. */
  missingType?: number;
}

/**
 * Decodes the NLMSG_ERROR message at `at` (errno, echoed request, extended ack); undefined
 * when the message is not an error reply or is too short.
 * @example const e = parseError(reply, 0); if (e && e.errno) throw new Error(e.message ?? String(e.errno));
 */
export function parseError(b: Buffer, at: number): NetlinkErrorReply | undefined {
  if (at + NLMSG_HDRLEN + 4 + NLMSG_HDRLEN > b.length) return undefined;
  const h = readNlmsghdr(b, at);
  if (h.type !== NLMSG_ERROR || h.len < NLMSG_HDRLEN + 4 + NLMSG_HDRLEN || at + h.len > b.length) return undefined;
  const request = readNlmsghdr(b, at + NLMSG_HDRLEN + 4);
  const r: NetlinkErrorReply = { errno: 0 - b.readInt32LE(at + NLMSG_HDRLEN), request };
  const capped = (h.flags & NLM_F_CAPPED) !== 0;
  let tlv = at + NLMSG_HDRLEN + 4 + NLMSG_HDRLEN;
  if (!capped && request.len >= NLMSG_HDRLEN && at + NLMSG_HDRLEN + 4 + request.len <= at + h.len) {
    r.echo = { at: at + NLMSG_HDRLEN + 4, len: request.len };
    tlv = at + NLMSG_HDRLEN + 4 + request.len;
  }
  if (h.flags & NLM_F_ACK_TLVS) {
    forEachAttr(b, (tlv + 3) & ~3, at + h.len, (t, p, n) => {
      if (t === NLMSGERR_ATTR_MSG) r.message = str(b, p, n);
      else if (t === NLMSGERR_ATTR_OFFS && n >= 4) r.offset = b.readUInt32LE(p);
      else if (t === NLMSGERR_ATTR_MISS_TYPE && n >= 4) r.missingType = b.readUInt32LE(p);
    });
  }
  return r;
}
