// Reading netlink attributes out of nf_tables messages: a flat list per level, nested on demand.
// The shared reader of lib/netlink takes this file's place once the netlink core is merged.

export interface Attr {
  type: number;
  nested: boolean;
  /** The payload (a view, not a copy). */
  data: Buffer;
}

/** The attributes in buf[start, end), in order. */
export function readAttrs(buf: Buffer, start = 0, end = buf.length): Attr[] {
  const out: Attr[] = [];
  let p = start;
  while (p + 4 <= end) {
    const len = buf.readUInt16LE(p), t = buf.readUInt16LE(p + 2);
    if (len < 4 || p + len > end) break;
    out.push({ type: t & 0x3fff, nested: (t & 0x8000) !== 0, data: buf.subarray(p + 4, p + len) });
    p += (len + 3) & ~3;
  }
  return out;
}

/** Attributes by type (the last wins, as the kernel's nla_parse keeps it). */
export function attrMap(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of readAttrs(buf)) m.set(a.type, a.data);
  return m;
}

export const str = (b: Buffer | undefined): string | undefined =>
  b === undefined ? undefined : b.toString('utf8', 0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length);
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

/** Splits a buffer of concatenated netlink messages (nlmsghdr + nfgenmsg + attributes). */
export function splitMessages(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  for (let p = 0; p + 16 <= buf.length;) {
    const len = buf.readUInt32LE(p);
    if (len < 16 || p + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(p + 4), flags: buf.readUInt16LE(p + 6), seq: buf.readUInt32LE(p + 8),
      family: len >= 20 ? buf[p + 16]! : 0, resId: len >= 20 ? buf.readUInt16BE(p + 18) : 0,
      body: buf.subarray(p + Math.min(20, len), p + len),
    });
    p += (len + 3) & ~3;
  }
  return out;
}
