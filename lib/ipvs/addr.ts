// Addresses as IPVS carries them: 16 bytes (union nf_inet_addr), IPv4 in the first four.

import { AF_INET, AF_INET6, formatIPv4, formatIPv6, parseIPv4, parseIPv6 as parseIPv6Text } from '../core/address.js';

export { AF_INET, AF_INET6, formatIPv4, formatIPv6, parseIPv4 };

/** Parses an IPv6 address, optionally in brackets (as ipvsadm takes one with a port). */
export function parseIPv6(s: string): Uint8Array | undefined {
  return parseIPv6Text(s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s);
}

export interface ParsedAddress {
  family: typeof AF_INET | typeof AF_INET6;
  bytes: Uint8Array;
  /** Canonical text: dotted quad, or RFC 5952 IPv6 as inet_ntop writes it. */
  text: string;
}

export function parseAddress(s: unknown): ParsedAddress | undefined {
  if (typeof s !== 'string') return undefined;
  const v4 = parseIPv4(s, new Uint8Array(16));  // IPVS carries every address in 16 bytes
  if (v4) return { family: AF_INET, bytes: v4, text: s };  // already canonical
  const v6 = parseIPv6(s);
  if (v6) return { family: AF_INET6, bytes: v6, text: formatIPv6(v6, 0) };
  return undefined;
}

/** A dotted IPv4 netmask to its prefix length; undefined when the bits are not contiguous. */
export function maskToPrefix(mask: number): number | undefined {
  const m = mask >>> 0;
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) !== 0) return undefined;
  return Math.clz32(inv);
}

export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}
