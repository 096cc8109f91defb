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

export const TYPES = {
  integer: { name: 'integer', id: 4, len: 4, byteorder: BYTEORDER.HOST, parse: hostU32, format: (b) => b.readUInt32LE(0) },
  ipv4_addr: { name: 'ipv4_addr', id: 7, len: 4, byteorder: BYTEORDER.BIG, parse: ipv4Bytes, format: (b) => formatIPv4(b, 0) },
  ipv6_addr: { name: 'ipv6_addr', id: 8, len: 16, byteorder: BYTEORDER.BIG, parse: ipv6Bytes, format: (b) => formatIPv6(b, 0) },
  inet_proto: {
    name: 'inet_proto', id: 12, len: 1, byteorder: BYTEORDER.INVALID,
    parse: (v) => {
      const n = (typeof v === 'string' ? protoNumber(v) : undefined) ?? uint(v, 255);
      return n === undefined ? undefined : Buffer.from([n]);
    },
    format: (b) => protoName(b[0]!),
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
  },
  mark: { name: 'mark', id: 19, len: 4, byteorder: BYTEORDER.HOST, parse: hostU32, format: (b) => b.readUInt32LE(0) },
  ifname: {
    name: 'ifname', id: 41, len: 16, byteorder: BYTEORDER.HOST,
    parse: (v) => {
      if (typeof v !== 'string' || Buffer.byteLength(v) > 15 || v.length === 0 || v.includes('*')) return undefined;
      const b = Buffer.alloc(16);
      b.write(v);
      return b;
    },
    format: (b) => b.toString('utf8', 0, b.indexOf(0) >= 0 ? b.indexOf(0) : 16),
  },
} satisfies Record<string, DataType>;

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
