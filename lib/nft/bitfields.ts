// Header fields that are not whole bytes (ip dscp/ecn/version/hdrlength, ip6 dscp/ecn/flowlabel/
// version, tcp doff, vlan id/pcp) and the link-layer vlan type, as nft 1.0.6 encodes them
// (netlink_linearize.c, payload.c): a load of the bytes around the field, a bitwise mask (none
// for whole-byte fields) and a comparison with the value shifted into place. The tcp flags byte
// and its flag type, used with `in` (`& f != 0`) and `&` masks (`syn / syn,ack`), are here too.
import { PAYLOAD_BASE } from './ir.js';
import { TCP_FLAG_NAMES } from './payload-fields.js';
import { DSCP_NAMES as DSCP, ECN_NAMES as ECN } from './datatypes.js';

/** A field inside `len` bytes at `offset` of `base`: its bits under `mask` (big endian), `shift` bits from the right. */
export interface BitField {
  protocol: string; field: string; base: number; offset: number; len: number;
  /** The mask of the loaded bytes; undefined: the field is the whole load (vlan type). */
  mask?: Buffer; shift: number;
  /** Symbolic names of values (nft prints the first name of a value). */
  names?: Record<string, number>;
  bits: number;
}

const ETHER_TYPES: Record<string, number> = { ip: 0x0800, arp: 0x0806, ip6: 0x86dd, '8021q': 0x8100, '8021ad': 0x88a8, vlan: 0x8100 };

const N = PAYLOAD_BASE.NETWORK, T = PAYLOAD_BASE.TRANSPORT, L = PAYLOAD_BASE.LL;
const f = (protocol: string, field: string, base: number, offset: number, len: number, mask: number | undefined, shift: number, bits: number, names?: Record<string, number>): BitField => {
  const m = mask === undefined ? undefined : Buffer.alloc(len);
  if (m) m.writeUIntBE(mask!, 0, len);
  return { protocol, field, base, offset, len, ...(m ? { mask: m } : {}), shift, bits, ...(names ? { names } : {}) };
};

/** protocol -> field -> its layout. */
export const BIT_FIELDS: Record<string, Record<string, BitField> | undefined> = {
  ip: {
    version: f('ip', 'version', N, 0, 1, 0xf0, 4, 4), hdrlength: f('ip', 'hdrlength', N, 0, 1, 0x0f, 0, 4),
    dscp: f('ip', 'dscp', N, 1, 1, 0xfc, 2, 6, DSCP), ecn: f('ip', 'ecn', N, 1, 1, 0x03, 0, 2, ECN),
  },
  ip6: {
    version: f('ip6', 'version', N, 0, 1, 0xf0, 4, 4), dscp: f('ip6', 'dscp', N, 0, 2, 0x0fc0, 6, 6, DSCP),
    ecn: f('ip6', 'ecn', N, 1, 1, 0x30, 4, 2, ECN), flowlabel: f('ip6', 'flowlabel', N, 1, 3, 0x0fffff, 0, 20),
  },
  tcp: { doff: f('tcp', 'doff', T, 12, 1, 0xf0, 4, 4) },
  vlan: {
    id: f('vlan', 'id', L, 14, 2, 0x0fff, 0, 12), pcp: f('vlan', 'pcp', L, 14, 1, 0xe0, 5, 3),
    type: f('vlan', 'type', L, 16, 2, undefined, 0, 16, ETHER_TYPES),
  },
};


/** A flag name or a list of them as one mask; undefined when a name is unknown. */
export function flagMask(v: unknown): number | undefined {
  let m = 0;
  for (const x of ([] as unknown[]).concat(v)) {
    const n = typeof x === 'string' ? TCP_FLAG_NAMES[x] : typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 255 ? x : undefined;
    if (n === undefined) return undefined;
    m |= n;
  }
  return m;
}

/** A mask as nft's JSON has it: one flag name, or a list in bit order. */
export function flagJson(mask: number): string | string[] | number {
  const names = Object.entries(TCP_FLAG_NAMES).filter(([, v]) => (mask & v) !== 0).map(([k]) => k);
  if (names.length === 0) return mask;
  return names.length === 1 ? names[0]! : names;
}

/** The field's value (a number or a name) as the loaded bytes, shifted into place; undefined when it does not fit. */
export function bitValue(bf: BitField, v: unknown): Buffer | undefined {
  const n = typeof v === 'string' && bf.names && Object.hasOwn(bf.names, v) ? bf.names[v]
    : typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : undefined;
  if (n === undefined || !Number.isInteger(n) || n < 0 || n >= 2 ** bf.bits) return undefined;
  const b = Buffer.alloc(bf.len);
  b.writeUIntBE(n * 2 ** bf.shift, 0, bf.len);
  return b;
}

/** The loaded bytes back to the field's JSON value (its first name, else the number). */
export function bitJson(bf: BitField, b: Buffer): string | number {
  const n = Math.floor(b.readUIntBE(0, bf.len) / 2 ** bf.shift);
  const name = bf.names && Object.keys(bf.names).find((k) => bf.names![k] === n);
  return name ?? n;
}

/** The field a load and its mask are, in a protocol's fields; undefined if none. */
export function bitFieldAt(protocol: string, base: number, offset: number, len: number, mask: Buffer | undefined): BitField | undefined {
  const fields = BIT_FIELDS[protocol];
  if (!fields) return undefined;
  for (const bf of Object.values(fields)) {
    if (bf.base !== base || bf.offset !== offset || bf.len !== len) continue;
    if (mask === undefined ? bf.mask === undefined : bf.mask !== undefined && bf.mask.equals(mask)) return bf;
  }
  return undefined;
}
