// nf_tables messages as values on top of lib/netlink's reader: a message's attributes as views
// by type (nested ones read on demand), and messages with their nfgenmsg.
import { forEachAttr, forEachMessage } from '../netlink/reader.js';
import { NLMSG_HDRLEN } from '../netlink/headers.js';

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
  for (const a of readAttrs(buf)) m.set(a.type, a.data);
  return m;
}

export const str = (b: Buffer | undefined): string | undefined =>
  b === undefined ? undefined : b.toString('utf8', 0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length);
/** The text of the NUL-terminated string attribute whose payload is b[at, at+len) (as str() reads it, without a view). */
export function strAt(b: Buffer, at: number, len: number): string {
  let e = at;
  const end = at + len;
  while (e < end && b[e] !== 0) e++;
  return b.toString('utf8', at, e);
}
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

/** Splits a buffer of concatenated netlink messages (nlmsghdr + nfgenmsg + attributes), in one pass (no intermediate objects: 200k messages at 20k kube-proxy services). */
export function splitMessages(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  forEachMessage(buf, 0, buf.length, (type, at, len, flags) => {
    const end = at + len, nf = len >= NLMSG_HDRLEN + 4;
    out.push({
      type, flags, seq: buf.readUInt32LE(at + 8), family: nf ? buf[at + NLMSG_HDRLEN]! : 0, resId: nf ? buf.readUInt16BE(at + NLMSG_HDRLEN + 2) : 0,
      body: buf.subarray(Math.min(at + NLMSG_HDRLEN + 4, end), end),
    });
  });
  return out;
}
