// Sub-byte header fields (bitfields.ts) as set keys and in concatenations, as nft 1.0.6 makes
// them (evaluate.c expr_evaluate_bits, netlink_linearize.c): loaded, masked and shifted right to
// the field's own value (`ip dscp @s`: payload, bitwise mask, bitwise rshift 2), looked up in a
// set keyed by the field's type — dscp or ecn, else an integer of the field's whole bytes
// (ip6 flowlabel: 3) — whose elements are the plain values. A rule's own anonymous set of one
// such field (`ip dscp { cs1, af11 }`) keeps the values in place instead (compile.ts, bitMatch).
import { BYTEORDER, TYPES, type DataType } from './datatypes.js';
import { BIT_FIELDS, type BitField } from './bitfields.js';
import { symbolic } from './payload-fields.js';

/** Integers of 1 to 3 bytes, big endian (nft's integer type of a field's length), made once. */
const INTEGERS = [1, 2, 3].map((n) => symbolic('integer', 4, n, BYTEORDER.BIG));

/**
 * The key type nft gives a sub-byte field in a set: dscp, ecn or an integer of its bytes.
 * @example bitKeyType(BIT_FIELDS.ip!.dscp!) // TYPES.dscp
 */
export function bitKeyType(bf: BitField): DataType {
  if (bf.field === 'dscp') return TYPES.dscp;
  if (bf.field === 'ecn') return TYPES.ecn;
  return INTEGERS[Math.ceil(bf.bits / 8) - 1]!;
}

/**
 * The sub-byte field a payload expression names, when it is one nlkit takes as a key (ip and ip6
 * fields: vlan's are read after link-layer dependencies nft orders differently); else undefined.
 * @example keyBitField({ payload: { protocol: 'ip6', field: 'dscp' } }) // BIT_FIELDS.ip6.dscp
 */
export function keyBitField(e: unknown): BitField | undefined {
  if (typeof e !== 'object' || e === null || !('payload' in e)) return undefined;
  const p = (e as { payload: unknown }).payload;
  if (typeof p !== 'object' || p === null) return undefined;
  const { protocol, field } = p as { protocol?: unknown; field?: unknown };
  if (protocol !== 'ip' && protocol !== 'ip6') return undefined;
  const bf = BIT_FIELDS[protocol]?.[String(field)];
  return bf?.mask ? bf : undefined;
}

/**
 * The typeof record's field index of ip/ip6 sub-byte fields (nft's proto header templates).
 * @example BIT_TYPEOF_FIELD.ip6!.flowlabel // 4
 */
export const BIT_TYPEOF_FIELD: Record<string, Record<string, number>> = {
  ip: { version: 1, hdrlength: 2, dscp: 3, ecn: 4 },
  ip6: { version: 1, dscp: 2, ecn: 3, flowlabel: 4 },
};
