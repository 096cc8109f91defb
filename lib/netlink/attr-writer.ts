// Netlink attributes (struct nlattr: u16 length, u16 type, payload padded to 4 bytes) in one
// growable buffer: what the ipset, IPVS and rtnetlink writers share. Each subsystem's writer
// adds its own message headers and attribute shapes.

export const NLA_F_NESTED = 0x8000;

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

  u8(type: number, v: number): void {
    const at = this.attr(type, 1);
    this.buf[at] = v;
  }

  /** Host order (little-endian), as nla_get_u16 reads it. */
  u16(type: number, v: number): void {
    const at = this.attr(type, 2);
    this.buf.writeUInt16LE(v, at);
  }

  /** Host order (little-endian), as nla_get_u32 reads it. */
  u32(type: number, v: number): void {
    const p = this.attr(type, 4), b = this.buf;
    b[p] = v & 0xff; b[p + 1] = (v >>> 8) & 0xff; b[p + 2] = (v >>> 16) & 0xff; b[p + 3] = v >>> 24;
  }

  be16(type: number, v: number): void {
    const at = this.attr(type, 2);
    this.buf.writeUInt16BE(v, at);
  }

  be32(type: number, v: number): void {
    const at = this.attr(type, 4);
    this.buf.writeUInt32BE(v >>> 0, at);
  }

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
