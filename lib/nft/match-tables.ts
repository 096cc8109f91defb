// The compiler's lookup tables for match keys (payload fields, meta keys, ct state/status, fib):
// a leaf module, so that typeof.ts and the decoder read them without importing the compiler
// (which imports typeof.ts and ext-table.ts: an import cycle otherwise).
import { TYPES, type DataType } from './datatypes.js';
import { PAYLOAD_BASE } from './ir.js';
import { EXTRA_META, EXTRA_PAYLOAD } from './payload-fields.js';
import { BOOLEAN } from './expr-raw.js';

/** A value's type while compiling: a data type, or one of nft's bit/enum types. */
export type ValueType = DataType | { name: 'ct_state' | 'ct_status' | 'fib_addrtype' | 'fib_present'; len: 4 };

export const CT_STATE: Record<string, number | undefined> = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
export const CT_STATUS: Record<string, number | undefined> = {
  expected: 1, 'seen-reply': 2, assured: 4, confirmed: 8, snat: 16, dnat: 32, dying: 512,
};
export const ADDRTYPE = ['unspec', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit'];
export const FIB_RESULT_TYPE = 3;
/** NFT_FIB_RESULT_OIF and NFTA_FIB_F_PRESENT: `fib ... oif missing|exists` (firewalld's reverse path filter). */
export const FIB_RESULT_OIF = 1, FIB_F_PRESENT = 0x20;
export const FIB_FLAGS: Record<string, number | undefined> = { saddr: 1, daddr: 2, mark: 4, iif: 8, oif: 16 };

/** The first payload fields (more in payload-fields.ts). */
const BASE_PAYLOAD: Record<string, Record<string, [number, number, number, DataType] | undefined> | undefined> = {
  ip: { saddr: [PAYLOAD_BASE.NETWORK, 12, 4, TYPES.ipv4_addr], daddr: [PAYLOAD_BASE.NETWORK, 16, 4, TYPES.ipv4_addr] },
  ip6: { saddr: [PAYLOAD_BASE.NETWORK, 8, 16, TYPES.ipv6_addr], daddr: [PAYLOAD_BASE.NETWORK, 24, 16, TYPES.ipv6_addr] },
  tcp: { sport: [PAYLOAD_BASE.TRANSPORT, 0, 2, TYPES.inet_service], dport: [PAYLOAD_BASE.TRANSPORT, 2, 2, TYPES.inet_service] },
  udp: { sport: [PAYLOAD_BASE.TRANSPORT, 0, 2, TYPES.inet_service], dport: [PAYLOAD_BASE.TRANSPORT, 2, 2, TYPES.inet_service] },
  th: { sport: [PAYLOAD_BASE.TRANSPORT, 0, 2, TYPES.inet_service], dport: [PAYLOAD_BASE.TRANSPORT, 2, 2, TYPES.inet_service] },
};
/** Payload fields nlkit encodes: protocol -> field -> [base, offset, len, type]. */
export const PAYLOAD: typeof BASE_PAYLOAD = Object.fromEntries([...new Set([...Object.keys(BASE_PAYLOAD), ...Object.keys(EXTRA_PAYLOAD)])].map((p) => [p, { ...BASE_PAYLOAD[p], ...EXTRA_PAYLOAD[p] }]));
export const META_TYPES: Record<string, DataType | undefined> = {
  mark: TYPES.mark, iifname: TYPES.ifname, oifname: TYPES.ifname, l4proto: TYPES.inet_proto, ...EXTRA_META,
  // NFT_META_SECPATH: nft reads `meta secpath` and lists `meta ipsec` (exists / missing).
  ipsec: BOOLEAN, secpath: BOOLEAN,
};
