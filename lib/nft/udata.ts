// NFTA_*_USERDATA: the type-length-value records libnftnl's nftnl_udata writes (1-byte type,
// 1-byte length). nft keeps comments there, and for sets the byte order and how it was typed;
// `nft list` prints a set's type from these, so nlkit writes them exactly as nft 1.0.6 does.

/** NFTNL_UDATA_SET_* */
export const UD_SET = { KEYBYTEORDER: 0, DATABYTEORDER: 1, MERGE_ELEMENTS: 2, KEY_TYPEOF: 3, DATA_TYPEOF: 4, DATA_INTERVAL: 6, COMMENT: 7 } as const;
/** The comment record of tables, chains, rules and elements (NFTNL_UDATA_*_COMMENT). */
export const UD_COMMENT = 0;
/** nft's longest comment (NFT_USERDATA_MAXLEN is 256; the parser allows 128 characters). */
export const COMMENT_MAX = 128;

export class UdataBuilder {
  private parts: Buffer[] = [];

  raw(type: number, value: Buffer): this {
    this.parts.push(Buffer.from([type, value.length]), value);
    return this;
  }

  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return this.raw(type, b);
  }

  strz(type: number, s: string): this {
    return this.raw(type, Buffer.concat([Buffer.from(s), Buffer.from([0])]));
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** The records of a user data blob by type. */
export function parseUdata(b: Buffer | undefined): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  if (!b) return m;
  for (let p = 0; p + 2 <= b.length;) {
    const t = b[p]!, len = b[p + 1]!;
    if (p + 2 + len > b.length) break;
    m.set(t, b.subarray(p + 2, p + 2 + len));
    p += 2 + len;
  }
  return m;
}

/** A NUL-terminated comment record's text. */
export const udataComment = (b: Buffer | undefined, type = UD_COMMENT): string | undefined => {
  const v = parseUdata(b).get(type);
  if (!v) return undefined;
  const z = v.indexOf(0);
  return v.toString('utf8', 0, z >= 0 ? z : v.length);
};

/** The typeof record nft 1.0.6 writes for a concatenated key declared with `type a . b`. */
export const CONCAT_KEY_TYPEOF = Buffer.from('00040d0000000100', 'hex');
/** The data typeof record of an anonymous verdict map (nft's EXPR_VERDICT, no data). */
export const VERDICT_DATA_TYPEOF = Buffer.from('0004010000000100', 'hex');
