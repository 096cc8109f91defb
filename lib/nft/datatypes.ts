// nft's data types for set keys and match values: the type id the kernel stores
// (NFTA_SET_KEY_TYPE), the length, the byte order nft records in the set's user data, and the
// conversions between JSON values (as `nft -j` prints them) and the bytes in registers.
import { isIPv6 } from 'node:net';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../ipvs/addr.js';

export const BYTEORDER = { INVALID: 0, HOST: 1, BIG: 2 } as const;

export interface DataType {
  name: string;
  id: number;
  /** Bytes in a register. */
  len: number;
  byteorder: number;
  /** JSON value -> bytes; undefined when the value does not fit the type. */
  parse(v: unknown): Buffer | undefined;
  /** Bytes -> the JSON value `nft -j` prints. */
  format(b: Buffer): string | number;
  /** format() of the bytes at b[at] on, without a view of them (the types a listing formats most: map keys of 20k services). */
  formatAt?(b: Buffer, at: number): string | number;
}

function ipv4Bytes(v: unknown): Buffer | undefined {
  // parseIPv4 takes what isIPv4 takes (dotted quads without leading zeros), into the Buffer itself.
  return typeof v === 'string' ? parseIPv4(v, Buffer.allocUnsafe(4)) as Buffer | undefined : undefined;
}

function ipv6Bytes(v: unknown): Buffer | undefined {
  const b = typeof v === 'string' && isIPv6(v) ? parseIPv6(v) : undefined;
  return b && Buffer.from(b);
}

/** Protocol names nft prints (from /etc/protocols on Debian) for inet_proto values. */
const PROTOCOLS: Record<string, number> = {
  icmp: 1, igmp: 2, tcp: 6, egp: 8, udp: 17, 'ipv6-icmp': 58, gre: 47, esp: 50, ah: 51, sctp: 132, udplite: 136,
};
// By number, built once (a listing names the protocol of every `meta l4proto` match and map key).
const PROTOCOL_NAMES = new Map(Object.entries(PROTOCOLS).map(([k, v]) => [v, k]));
const protoName = (n: number): string | number => PROTOCOL_NAMES.get(n) ?? n;
const protoNumber = (s: string): number | undefined => (PROTOCOLS as Record<string, number | undefined>)[s];

const uint = (v: unknown, max: number): number | undefined => {
  const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max ? n : undefined;
};

function hostU32(v: unknown): Buffer | undefined {
  const n = uint(v, 0xffffffff);
  if (n === undefined) return undefined;
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/**
 * nft's names of dscp values (the dscp type; ip/ip6 dscp fields). ECN_NAMES: ecn's.
 * @example DSCP_NAMES.af11 // 0x0a
 */
export const DSCP_NAMES: Record<string, number> = {
  cs0: 0x00, cs1: 0x08, cs2: 0x10, cs3: 0x18, cs4: 0x20, cs5: 0x28, cs6: 0x30, cs7: 0x38, df: 0x00, be: 0x00, lephb: 0x01,
  af11: 0x0a, af12: 0x0c, af13: 0x0e, af21: 0x12, af22: 0x14, af23: 0x16, af31: 0x1a, af32: 0x1c, af33: 0x1e,
  af41: 0x22, af42: 0x24, af43: 0x26, va: 0x2c, ef: 0x2e,
};
/**
 * nft's names of ecn values.
 * @example ECN_NAMES.ce // 3
 */
export const ECN_NAMES: Record<string, number> = { 'not-ect': 0, ect1: 1, ect0: 2, ce: 3 };

/** A one-byte type with nft's symbolic names (a value's first name when printed), up to `max`. */
const named = (name: string, id: number, names: Record<string, number>, max: number): DataType => ({
  name, id, len: 1, byteorder: BYTEORDER.BIG,
  parse: (v) => {
    const n = typeof v === 'string' && Object.hasOwn(names, v) ? names[v] : uint(v, max);
    return n === undefined ? undefined : Buffer.from([n]);
  },
  format: (b) => Object.keys(names).find((k) => names[k] === b[0]) ?? b[0]!,
});

export const TYPES = {
  integer: { name: 'integer', id: 4, len: 4, byteorder: BYTEORDER.HOST, parse: hostU32, format: (b) => b.readUInt32LE(0) },
  ipv4_addr: { name: 'ipv4_addr', id: 7, len: 4, byteorder: BYTEORDER.BIG, parse: ipv4Bytes, format: (b) => formatIPv4(b, 0), formatAt: formatIPv4 },
  ipv6_addr: { name: 'ipv6_addr', id: 8, len: 16, byteorder: BYTEORDER.BIG, parse: ipv6Bytes, format: (b) => formatIPv6(b, 0), formatAt: formatIPv6 },
  inet_proto: {
    name: 'inet_proto', id: 12, len: 1, byteorder: BYTEORDER.INVALID,
    parse: (v) => {
      const n = (typeof v === 'string' ? protoNumber(v) : undefined) ?? uint(v, 255);
      return n === undefined ? undefined : Buffer.from([n]);
    },
    format: (b) => protoName(b[0]!),
    formatAt: (b, at) => protoName(b[at]!),
  },
  inet_service: {
    name: 'inet_service', id: 13, len: 2, byteorder: BYTEORDER.BIG,
    parse: (v) => {
      const n = uint(v, 0xffff);
      if (n === undefined) return undefined;
      const b = Buffer.alloc(2);
      b.writeUInt16BE(n);
      return b;
    },
    format: (b) => b.readUInt16BE(0),
    formatAt: (b, at) => b.readUInt16BE(at),
  },
  /** A set key too (firewalld's hash:mac ipsets): in TYPES so named sets take it. */
  ether_addr: {
    name: 'ether_addr', id: 9, len: 6, byteorder: BYTEORDER.BIG,
    parse: (v) => (typeof v === 'string' && /^([0-9a-f]{1,2}:){5}[0-9a-f]{1,2}$/i.test(v) ? Buffer.from(v.split(':').map((x) => parseInt(x, 16))) : undefined),
    format: (b) => [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
  },
  mark: { name: 'mark', id: 19, len: 4, byteorder: BYTEORDER.HOST, parse: hostU32, format: (b) => b.readUInt32LE(0) },
  ifname: {
    name: 'ifname', id: 41, len: 16, byteorder: BYTEORDER.HOST,
    parse: (v) => {
      // A set element's name: `\*` is a literal `*`, as is any other `*` (nft lists elements so).
      if (typeof v !== 'string') return undefined;
      const name = v.includes('\\*') ? v.replace(/\\\*/g, '*') : v;
      if (Buffer.byteLength(name) > 15 || name.length === 0) return undefined;
      const b = Buffer.alloc(16);
      b.write(name);
      return b;
    },
    format: (b) => b.toString('utf8', 0, b.indexOf(0) >= 0 ? b.indexOf(0) : 16),
  },
  /** Set keys of ip/ip6 dscp and ecn (the field's value, unshifted: bitkeys.ts). */
  dscp: named('dscp', 36, DSCP_NAMES, 63),
  ecn: named('ecn', 37, ECN_NAMES, 3),
} satisfies Record<string, DataType>;

/**
 * An interface name compared in a match, as nft encodes it: a trailing `*` is a wildcard (the
 * cmp covers the bytes before it, no NUL), `\*` a literal `*`; undefined if it does not fit.
 * @example ifnameCmpBytes('veth*') // <Buffer 76 65 74 68>
 */
export function ifnameCmpBytes(v: unknown): Buffer | undefined {
  if (typeof v !== 'string' || !/(^|[^\\])\*$/.test(v)) return TYPES.ifname.parse(v);
  const prefix = v.slice(0, -1).replace(/\\\*/g, '*');
  // nft: "All-wildcard strings are not supported"; with its `*` the text must fit 15 bytes.
  if (prefix.length === 0 || Buffer.byteLength(prefix) > 14) return undefined;
  return Buffer.from(prefix);
}

/**
 * The interface name nft prints for a match's cmp data: a shortened cmp is a wildcard
 * (`veth*`); a name ending in `*` is escaped (`br-\*`) so it does not read as one.
 * @example ifnameCmpText(Buffer.from('veth')) // 'veth*'
 */
export function ifnameCmpText(b: Buffer): string {
  const nul = b.indexOf(0);
  const s = b.toString('utf8', 0, nul >= 0 ? nul : b.length);
  if (nul < 0 && b.length < TYPES.ifname.len) return `${s}*`;
  return s.endsWith('*') ? `${s.slice(0, -1)}\\*` : s;
}

/** A type by its nft name. */
export const typeByName = (n: string): DataType | undefined => (TYPES as Record<string, DataType | undefined>)[n];

export const typeById = (id: number): DataType | undefined => Object.values(TYPES).find((t: DataType) => t.id === id);

/** nft's concatenated type id: 6 bits per component, first component highest. */
export const concatTypeId = (types: DataType[]): number => types.reduce((acc, t) => acc * 64 + t.id, 0);

/** Splits a concatenated type id back into its components (undefined if one is unknown). */
export function concatTypes(id: number): DataType[] | undefined {
  const ids: number[] = [];
  for (let n = id; n > 0; n = Math.floor(n / 64)) ids.unshift(n % 64);
  const types = ids.map(typeById);
  return types.every((t) => t) ? (types as DataType[]) : undefined;
}

/** Register bytes of a concatenation: each component padded to 4 bytes. */
export const concatLen = (types: DataType[]): number => types.reduce((a, t) => a + ((t.len + 3) & ~3), 0);
