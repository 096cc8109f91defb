// Netlink attributes (struct nlattr: u16 length, u16 type, payload padded to 4 bytes) in one
// growable buffer: what the ipset, IPVS and rtnetlink writers share. Each subsystem's writer
// adds its own message headers and attribute shapes.

import { NLA_F_NESTED, NLA_F_NET_BYTEORDER } from './headers.js';

export { NLA_F_NESTED };

export class AttrWriter {
  buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Room for n more bytes at pos. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /**
   * Writes an attribute's header and zeroed padding, moves pos past it, and returns where its
   * payload goes. Callers read this.buf after the call: the buffer may have grown in it.
   */
  protected attr(type: number, payload: number): number {
    const len = 4 + payload, p = this.pos, end = p + ((len + 3) & ~3);
    if (end > this.buf.length) this.ensure(end - p);
    // Plain byte stores: Buffer's write* methods check bounds on every call, and a
    // million-entry ipset batch makes several million attributes.
    const b = this.buf;
    b[p] = len & 0xff; b[p + 1] = len >>> 8; b[p + 2] = type & 0xff; b[p + 3] = type >>> 8;
    for (let i = p + len; i < end; i++) b[i] = 0;
    this.pos = end;
    return p + 4;
  }

  /**
   * An unsigned integer attribute of `size` bytes (1, 2 or 4): host order (little-endian, as
   * nla_get_u16/u32 read it), or network order with `be`: for writers that take the width
   * from a table. u8..be32 below name its five shapes.
   * @example w.uint(IPVS_DEST_ATTR_WEIGHT, 100, 4, false)
   */
  uint(type: number, v: number, size: 1 | 2 | 4, be: boolean): void {
    putUint(this, type, v, size, be);
  }

  // The five integer shapes by size and byte order; u8, be16 and be32 through their unrolled
  // forms, which ipset's encoder calls directly.
  u8(type: number, v: number): void { putU8(this, type, v); }
  u16(type: number, v: number): void { putUint(this, type, v, 2, false); }
  u32(type: number, v: number): void { putUint(this, type, v, 4, false); }
  be16(type: number, v: number): void { putBe16(this, type, v); }
  be32(type: number, v: number): void { putBe32(this, type, v); }

  be64(type: number, v: bigint): void {
    const at = this.attr(type, 8);
    this.buf.writeBigUInt64BE(v, at);
  }

  /** NUL-terminated, as nla_put_string writes one. */
  str(type: number, s: string): void {
    const n = Buffer.byteLength(s);
    const at = this.attr(type, n + 1);
    this.buf.write(s, at, 'utf8');
    this.buf[at + n] = 0;
  }

  bytes(type: number, v: Uint8Array): void {
    const at = this.attr(type, v.length);
    this.buf.set(v, at);
  }

  /** Starts a nest; returns its offset for endNest(). */
  nest(type: number): number {
    return this.attr(type | NLA_F_NESTED, 0) - 4;
  }

  endNest(at: number): void {
    const len = this.pos - at;
    this.buf[at] = len & 0xff;
    this.buf[at + 1] = len >>> 8;
  }
}

// The attribute shapes as plain functions with byte stores: a million-entry ipset batch calls
// them several million times, and Buffer's write* methods check their arguments on every call.
// `type` may carry NLA_F_NESTED / NLA_F_NET_BYTEORDER. putUint writes every integer shape; the
// hottest three are unrolled as well: V8 inlines a call only while the caller's inlined
// bytecode stays under a budget, and putUint's width and order arithmetic would use it up (a
// loop writing ipset's shapes took 1.7x the CPU time with putUint in their place).

/**
 * An unsigned integer attribute of `size` bytes (1, 2 or 4; padded to 8), in host order
 * (little-endian) or, with `be`, network order. `v` is cut to `size` bytes, as a C store would.
 * @example putUint(w, IPSET_ATTR_TIMEOUT | NLA_F_NET_BYTEORDER, 600, 4, true)
 */
export function putUint(w: AttrWriter, type: number, v: number, size: 1 | 2 | 4, be: boolean): void {
  const p = w.pos;
  if (p + 8 > w.buf.length) w.ensure(8);
  // Byte stores, each keeping the low 8 bits. The value shifted to the top of a word: its
  // bytes from the top are network order, shifted back down host order, and what lies past
  // `size` is 0, the padding.
  const b = w.buf, s = 32 - 8 * size, x = v << s, y = be ? (x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24) : x >>> s;
  b[p] = 4 + size; b[p + 1] = 0; b[p + 2] = type; b[p + 3] = type >>> 8;
  b[p + 4] = y; b[p + 5] = y >>> 8; b[p + 6] = y >>> 16; b[p + 7] = y >>> 24;
  w.pos = p + 8;
}

/**
 * A u8 attribute (padded to 8 bytes).
 * @example putU8(w, IPSET_ATTR_PROTO, 6)
 */
export function putU8(w: AttrWriter, type: number, v: number): void {
  if (w.pos + 8 > w.buf.length) w.ensure(8);
  const b = w.buf, p = w.pos;
  b[p] = 5; b[p + 1] = 0; b[p + 2] = type & 0xff; b[p + 3] = type >>> 8;
  b[p + 4] = v; b[p + 5] = 0; b[p + 6] = 0; b[p + 7] = 0;
  w.pos = p + 8;
}

/**
 * A 16-bit value in network order (padded to 8 bytes).
 * @example putBe16(w, IPSET_ATTR_PORT | NLA_F_NET_BYTEORDER, 80)
 */
export function putBe16(w: AttrWriter, type: number, v: number): void {
  if (w.pos + 8 > w.buf.length) w.ensure(8);
  const b = w.buf, p = w.pos;
  b[p] = 6; b[p + 1] = 0; b[p + 2] = type & 0xff; b[p + 3] = type >>> 8;
  b[p + 4] = (v >>> 8) & 0xff; b[p + 5] = v & 0xff; b[p + 6] = 0; b[p + 7] = 0;
  w.pos = p + 8;
}

/**
 * A 32-bit value in network order.
 * @example putBe32(w, IPSET_ATTR_TIMEOUT | NLA_F_NET_BYTEORDER, 600)
 */
export function putBe32(w: AttrWriter, type: number, v: number): void {
  if (w.pos + 8 > w.buf.length) w.ensure(8);
  const b = w.buf, p = w.pos;
  b[p] = 8; b[p + 1] = 0; b[p + 2] = type & 0xff; b[p + 3] = type >>> 8;
  b[p + 4] = (v >>> 24) & 0xff; b[p + 5] = (v >>> 16) & 0xff; b[p + 6] = (v >>> 8) & 0xff; b[p + 7] = v & 0xff;
  w.pos = p + 8;
}

/**
 * A nest `type` holding one 32-bit network-order attribute `inner` (ipset's IPv4 address nests).
 * @example putNestedBe32(w, IPSET_ATTR_IP, IPSET_ATTR_IPADDR_IPV4, 0x0a000001)
 */
export function putNestedBe32(w: AttrWriter, type: number, inner: number, v: number): void {
  if (w.pos + 12 > w.buf.length) w.ensure(12);
  const b = w.buf, p = w.pos;
  const t = type | NLA_F_NESTED, i = inner | NLA_F_NET_BYTEORDER;
  b[p] = 12; b[p + 1] = 0; b[p + 2] = t & 0xff; b[p + 3] = t >>> 8;
  b[p + 4] = 8; b[p + 5] = 0; b[p + 6] = i & 0xff; b[p + 7] = i >>> 8;
  b[p + 8] = (v >>> 24) & 0xff; b[p + 9] = (v >>> 16) & 0xff; b[p + 10] = (v >>> 8) & 0xff; b[p + 11] = v & 0xff;
  w.pos = p + 12;
}
