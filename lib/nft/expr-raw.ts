// Raw payload expressions, `@ll|nh|th|ih,OFFSET,LEN` (bits), as nft 1.0.6 makes them
// (payload.c payload_init_raw, evaluate.c expr_evaluate_bits, netlink_linearize.c): a load of
// the whole bytes that hold the bits, and, when the bits do not fill those bytes, a mask (and
// the value shifted to their place). nft adds no protocol dependency for them. Docker's
// encrypted overlay matches the VXLAN network identifier with `@th,96,24` in a `typeof
// @th,96,24` set. Also the boolean `meta ipsec` / `meta secpath` (`exists` / `missing`), the
// other half of that rule.
import type { DataType } from './datatypes.js';
import { BYTEORDER } from './datatypes.js';

/** nft's names of the payload bases: NFT_PAYLOAD_LL_HEADER .. NFT_PAYLOAD_INNER_HEADER. */
export const RAW_BASES: Record<string, number | undefined> = { ll: 0, nh: 1, th: 2, ih: 3 };
const BASE_NAMES = ['ll', 'nh', 'th', 'ih'];
/** The kernel reads at most 65535 bytes into a header (NFTA_PAYLOAD_OFFSET is checked against U16_MAX). */
export const RAW_MAX_OFFSET = 0xffff;
/** One register holds 16 bytes: nft's longest raw load (a longer one the kernel refuses, EOVERFLOW). */
export const RAW_MAX_BYTES = 16;
/** Values nlkit reads back as JSON numbers: at most 6 bytes (a JS number is exact to 2^53). */
export const RAW_MAX_VALUE_BYTES = 6;

/** Where a raw payload's bits lie: the bytes loaded, and (sub-byte) the mask and the shift of the value. */
export interface RawLayout {
  base: number;
  /** In bytes, as the kernel reads. */
  offset: number;
  len: number;
  bits: number;
  /** Bits below the field in the loaded bytes. */
  shift: number;
  /** Present when the bits do not fill the loaded bytes. */
  mask?: Buffer;
}

const nat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The layout of `{ base, offset, len }` (libnftables JSON), or a message saying what is wrong.
 * @example rawLayout({ base: 'th', offset: 96, len: 24 }) // { base: 2, offset: 12, len: 3, bits: 24, shift: 0 }
 */
export function rawLayout(body: Record<string, unknown>): RawLayout | string {
  const base = RAW_BASES[String(body.base)];
  if (base === undefined) return `unknown raw payload base ${JSON.stringify(body.base)} (ll, nh, th or ih)`;
  if (!nat(body.offset)) return `offset must be a non-negative integer (bits), got ${JSON.stringify(body.offset)}`;
  if (!nat(body.len) || body.len === 0) return `len must be a positive integer (bits), got ${JSON.stringify(body.len)}`;
  const first = Math.floor(body.offset / 8), last = Math.floor((body.offset + body.len - 1) / 8);
  if (first > RAW_MAX_OFFSET) return `offset ${body.offset} lies past the ${RAW_MAX_OFFSET + 1} bytes the kernel reads into a header`;
  const len = last - first + 1;
  if (len > RAW_MAX_BYTES) return `len ${body.len} at offset ${body.offset} needs ${len} bytes, more than one ${RAW_MAX_BYTES}-byte register`;
  const shift = len * 8 - (body.offset % 8) - body.len;
  const out: RawLayout = { base, offset: first, len, bits: body.len, shift };
  if (body.offset % 8 !== 0 || body.len % 8 !== 0) {
    const m = Buffer.alloc(len);
    for (let i = 0; i < body.len; i++) {
      const bit = body.offset % 8 + i;
      m[bit >> 3]! |= 0x80 >> (bit & 7);
    }
    out.mask = m;
  }
  return out;
}

/** A value that fits `bits` bits (a JSON number, or a decimal or 0x string as nft's text writes it), big endian in `bytes` bytes, shifted left by `shift`. */
export function rawValue(v: unknown, bits: number, bytes: number, shift = 0): Buffer | undefined {
  let n: bigint;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) n = BigInt(v);
  else if (typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v)) n = BigInt(v);
  else return undefined;
  if (n >> BigInt(bits) !== 0n) return undefined;
  n <<= BigInt(shift);
  const b = Buffer.alloc(bytes);
  for (let i = bytes - 1; i >= 0; i--) { b[i] = Number(n & 0xffn); n >>= 8n; }
  return b;
}

const rawTypes = new Map<number, DataType>();
/**
 * The type of a byte-aligned raw payload of `bytes` bytes: nft's integer, big endian, one object
 * per length (set key types are compared by identity).
 * @example rawType(3).parse(256) // <Buffer 00 01 00>
 */
export function rawType(bytes: number): DataType {
  let t = rawTypes.get(bytes);
  if (!t) {
    t = {
      name: 'integer', id: 4, len: bytes, byteorder: BYTEORDER.BIG,
      parse: (v) => rawValue(v, bytes * 8, bytes),
      format: (b) => {
        if (b.length > RAW_MAX_VALUE_BYTES) throw new RangeError('raw payload value longer than 6 bytes');
        return b.readUIntBE(0, b.length);
      },
    };
    rawTypes.set(bytes, t);
  }
  return t;
}

/**
 * The JSON of a raw payload (bits).
 * @example rawJson(2, 96, 24) // { payload: { base: 'th', offset: 96, len: 24 } }
 */
export const rawJson = (base: number, offset: number, len: number) => ({ payload: { base: BASE_NAMES[base]!, offset, len } });

/** A raw payload word of nft's text: `@th,96,24`. */
const WORD = /^@(ll|nh|th|ih),(\d+),(\d+)$/;
/** A word that starts like a raw payload (`@th,`), for a precise error on the rest. */
export const RAW_START = /^@(ll|nh|th|ih)(,|$)/;

/**
 * nft's text of a raw payload word to its JSON; undefined if it is malformed.
 * @example parseRawWord('@th,96,24') // { payload: { base: 'th', offset: 96, len: 24 } }
 */
export function parseRawWord(w: string): { payload: { base: string; offset: number; len: number } } | undefined {
  const m = WORD.exec(w);
  return m ? { payload: { base: m[1]!, offset: Number(m[2]), len: Number(m[3]) } } : undefined;
}

/**
 * nft's text of a raw payload expression.
 * @example rawText({ base: 'th', offset: 96, len: 24 }) // '@th,96,24'
 */
export const rawText = (b: Record<string, unknown>): string => `@${String(b.base)},${String(b.offset)},${String(b.len)}`;

/** A raw payload's values print as hex in nft's text (xinteger_type). @example rawHex(256) // '0x100' */
export const rawHex = (n: number): string => `0x${n.toString(16)}`;

/** `meta ipsec` / `meta secpath` (NFT_META_SECPATH): a boolean, one byte; nft lists it as `meta ipsec`, `exists`/`missing`. */
export const BOOLEAN: DataType = {
  name: 'boolean', id: 20, len: 1, byteorder: BYTEORDER.HOST,
  parse: (v) => (typeof v === 'boolean' ? Buffer.from([v ? 1 : 0]) : undefined),
  format: (b) => (b[0] !== 0) as unknown as number,
};

/** Whether a typeof expression is a raw payload. @example isRawTypeof({ payload: { base: 'th', offset: 96, len: 24 } }) // true */
export const isRawTypeof = (e: unknown): boolean => typeof e === 'object' && e !== null && 'payload' in e && typeof (e as { payload: unknown }).payload === 'object' && 'base' in ((e as { payload: object }).payload);
