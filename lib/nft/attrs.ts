// nf_tables messages as values on top of lib/netlink's reader: a message's attributes as views
// by type (nested ones read on demand), and messages with their nfgenmsg.
import { attrIndex, AttrWalk, forEachAttr, forEachMessage, str as wireStr } from '../netlink/reader.js';
import { NLMSG_HDRLEN } from '../netlink/headers.js';

const EMPTY_BUF = Buffer.alloc(0);

export interface Attr {
  type: number;
  /** The payload (a view, not a copy). */
  data: Buffer;
}

/** The attributes in buf[start, end), in order. */
export function readAttrs(buf: Buffer, start = 0, end = buf.length): Attr[] {
  const out: Attr[] = [];
  forEachAttr(buf, start, end, (type, at, len) => out.push({ type, data: buf.subarray(at, at + len) }));
  return out;
}

/** Attributes by type (the last wins, as the kernel's nla_parse keeps it). */
export function attrMap(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const w = new AttrWalk().start(buf, 0, buf.length); w.next();) m.set(w.type, buf.subarray(w.at, w.at + w.len));
  return m;
}

/**
 * An attribute list indexed by type into reused typed arrays (lib/netlink's attrIndex): what the
 * expression decoders read instead of an attrMap, which made a Map and a Buffer view per attribute
 * (~50 MB of garbage per list() at 20k services). The last attribute of a type wins, as in
 * attrMap; types above `max` are not kept. A decoder reads it before the next index() call.
 * @example const d = new AttrTable().index(data); d.be32(NAT.TYPE) // 1 (dnat), or undefined
 */
export class AttrTable {
  private b: Buffer = EMPTY_BUF;
  private readonly at: Int32Array;
  private readonly lens: Int32Array;

  constructor(readonly max = 16) {
    this.at = new Int32Array(max + 1);
    this.lens = new Int32Array(max + 1);
  }

  /** Indexes b[from, to) (an expression's NFTA_EXPR_DATA payload); returns this. */
  index(b: Buffer, from = 0, to = b.length): this {
    this.b = b;
    attrIndex(b, from, to, this.max, this.at, this.lens);
    return this;
  }

  /**
   * The index another reader already made of b (offsets and lengths by type, 0 where absent, as
   * attrIndex fills them, `max` + 1 of each): copied, not walked again. Returns this.
   */
  copy(b: Buffer, at: Int32Array, lens: Int32Array): this {
    this.b = b;
    this.at.set(at);
    this.lens.set(lens);
    return this;
  }

  has(t: number): boolean { return t <= this.max && this.at[t]! !== 0; }
  /** The payload length of attribute t (undefined: absent). */
  len(t: number): number | undefined { return this.has(t) ? this.lens[t]! : undefined; }
  u8(t: number): number | undefined { return this.has(t) && this.lens[t]! >= 1 ? this.b[this.at[t]!]! : undefined; }
  be16(t: number): number | undefined { return this.has(t) && this.lens[t]! >= 2 ? this.b.readUInt16BE(this.at[t]!) : undefined; }
  be32(t: number): number | undefined { return this.has(t) && this.lens[t]! >= 4 ? this.b.readUInt32BE(this.at[t]!) : undefined; }
  be64(t: number): bigint | undefined { return this.has(t) && this.lens[t]! >= 8 ? this.b.readBigUInt64BE(this.at[t]!) : undefined; }
  /** A NUL-terminated string attribute's text (as str() reads it). */
  str(t: number): string | undefined { return this.has(t) ? strAt(this.b, this.at[t]!, this.lens[t]!) : undefined; }
  /** A view of attribute t's payload (one Buffer: for the rare reader that needs the bytes). */
  view(t: number): Buffer | undefined { return this.has(t) ? this.b.subarray(this.at[t]!, this.at[t]! + this.lens[t]!) : undefined; }
}

export const str = (b: Buffer | undefined): string | undefined =>
  b === undefined ? undefined : b.toString('utf8', 0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length);
/** The text of the NUL-terminated string attribute whose payload is b[at, at+len) (as str() reads it, without a view): the wire layer's reader. */
export const strAt = (b: Buffer, at: number, len: number): string => wireStr(b, at, len);
export const be32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32BE(0) : undefined);
export const be64 = (b: Buffer | undefined): number | undefined => (b && b.length >= 8 ? Number(b.readBigUInt64BE(0)) : undefined);

/** One netlink message of a dump or batch. */
export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  /** nfgenmsg family. */
  family: number;
  /** nfgenmsg res_id (big-endian on the wire). */
  resId: number;
  /** The attributes after nlmsghdr + nfgenmsg. */
  body: Buffer;
}

/** The message at buf[at, at + len) as an NlMsg (its body a view). */
function messageAt(buf: Buffer, at: number, len: number): NlMsg {
  const end = at + len, nf = len >= NLMSG_HDRLEN + 4;
  return {
    type: buf.readUInt16LE(at + 4), flags: buf.readUInt16LE(at + 6), seq: buf.readUInt32LE(at + 8), family: nf ? buf[at + NLMSG_HDRLEN]! : 0, resId: nf ? buf.readUInt16BE(at + NLMSG_HDRLEN + 2) : 0,
    body: buf.subarray(Math.min(at + NLMSG_HDRLEN + 4, end), end),
  };
}

/** Splits a buffer of concatenated netlink messages (nlmsghdr + nfgenmsg + attributes), in one pass (no intermediate objects: 200k messages at 20k kube-proxy services). */
export function splitMessages(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  forEachMessage(buf, 0, buf.length, (_type, at, len) => { out.push(messageAt(buf, at, len)); });
  return out;
}

/**
 * A dump's replies with messages of the types in `placed` left in place (their offsets, by type:
 * no object or view per message) and every other one as an NlMsg.
 * @example const { msgs, placed } = splitPlaced(data, [NEWCHAIN, NEWRULE]); placed[0].at // chain offsets
 */
export function splitPlaced(buf: Buffer, types: number[]): { msgs: NlMsg[]; placed: PlacedMsgs[] } {
  const msgs: NlMsg[] = [], placed = types.map((): PlacedMsgs => ({ buf, at: [] }));
  for (let p = 0; p + NLMSG_HDRLEN <= buf.length;) {
    const len = buf.readUInt32LE(p);
    if (len < NLMSG_HDRLEN || p + len > buf.length) break;
    const i = len >= NLMSG_HDRLEN + 4 ? types.indexOf(buf.readUInt16LE(p + 4)) : -1;
    if (i >= 0) placed[i]!.at.push(p);
    else msgs.push(messageAt(buf, p, len));
    p += (len + 3) & ~3;
  }
  return { msgs, placed };
}

/**
 * Names read from dumps, each string made once: `get` hashes the NUL-terminated name's bytes and
 * returns the string it made for the same bytes before (a 20k-service listing reads ~600k
 * expression names and ~200k chain names and jump targets, a few dozen and 60k distinct ones; a
 * Buffer toString per name, and a copy of each in the result, cost more than the hash). The
 * strings are kept in an open-addressed table of typed arrays (a Map of 60k names was most of
 * the lookup's time). Only ASCII names are kept: others are decoded each time, as strAt does.
 * @example const names = new Names(); names.get(b, at, len) === names.get(b, at, len) // the same string
 */
export class Names {
  // slots[i]: 1 + the index in strs of the name in slot i (0: empty); hashes[i]: its hash.
  private slots = new Int32Array(64);
  private hashes = new Int32Array(64);
  private readonly strs: string[] = [];

  get(b: Buffer, at: number, len: number): string {
    let h = 0x811c9dc5 | 0, e = at, ascii = true;
    const max = at + len;
    for (; e < max; e++) {
      const c = b[e]!;
      if (c === 0) break;
      if (c > 0x7f) ascii = false;
      h = Math.imul(h ^ c, 16777619);
    }
    if (!ascii) return b.toString('utf8', at, e);
    const n = e - at, slots = this.slots, mask = slots.length - 1;
    let i = h & mask;
    for (let x = slots[i]!; x !== 0; x = slots[i = (i + 1) & mask]!) {
      if (this.hashes[i] !== h) continue;
      const s = this.strs[x - 1]!;
      if (s.length !== n) continue;
      let k = 0;
      while (k < n && s.charCodeAt(k) === b[at + k]) k++;
      if (k === n) return s;
    }
    const t = b.toString('latin1', at, e);
    this.strs.push(t);
    slots[i] = this.strs.length;
    this.hashes[i] = h;
    if (this.strs.length * 2 > slots.length) this.grow();
    return t;
  }

  /** Twice the slots, every name placed again. */
  private grow(): void {
    const oldSlots = this.slots, oldHashes = this.hashes;
    const slots = new Int32Array(oldSlots.length * 2), hashes = new Int32Array(oldSlots.length * 2), mask = slots.length - 1;
    for (let j = 0; j < oldSlots.length; j++) {
      if (!oldSlots[j]) continue;
      let i = oldHashes[j]! & mask;
      while (slots[i]) i = (i + 1) & mask;
      slots[i] = oldSlots[j]!;
      hashes[i] = oldHashes[j]!;
    }
    this.slots = slots;
    this.hashes = hashes;
  }
}

/** Messages in place in one buffer: message i's nlmsghdr at buf[at[i]], its nfgenmsg after it, then its attributes. */
export interface PlacedMsgs { buf: Buffer; at: number[] }

/** NlMsgs written back as messages into one buffer (decoders that read messages in place take them so). */
export function placeMessages(msgs: NlMsg[]): PlacedMsgs {
  const at: number[] = [];
  let n = 0;
  for (const m of msgs) n += (NLMSG_HDRLEN + 4 + m.body.length + 3) & ~3;
  const buf = Buffer.alloc(n);
  let p = 0;
  for (const m of msgs) {
    const len = NLMSG_HDRLEN + 4 + m.body.length;
    buf.writeUInt32LE(len, p);
    buf.writeUInt16LE(m.type, p + 4);
    buf.writeUInt16LE(m.flags, p + 6);
    buf.writeUInt32LE(m.seq >>> 0, p + 8);
    buf[p + 16] = m.family;
    buf.writeUInt16BE(m.resId, p + 18);
    m.body.copy(buf, p + NLMSG_HDRLEN + 4);
    at.push(p);
    p += (len + 3) & ~3;
  }
  return { buf, at };
}
