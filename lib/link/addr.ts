// Addresses and link names as rtnetlink carries them, checked in TypeScript before anything
// is sent. Addresses print the way iproute2 prints them (glibc's inet_ntop), so what nlkit
// lists compares equal to `ip addr` output.
import { AF_INET, AF_INET6, formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../core/address.js';
import { InvalidArgumentError, type Subsystem } from '../core/errors.js';

export { AF_INET, AF_INET6, formatIPv4, formatIPv6, parseIPv4, parseIPv6 };
export const SUBSYSTEM: Subsystem = 'link';

export type Family = 'inet' | 'inet6';

/** An interface address with its prefix length, in canonical text and in bytes. */
export interface Prefix {
  family: Family;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  prefixlen: number;
  /** The address alone, canonical ('10.96.0.1', '2001:db8::1'). */
  ip: string;
  /** `ip/prefixlen`: how nlkit names the address everywhere (lists, errors, sync). */
  text: string;
}

export const formatIp = (family: Family, b: Uint8Array, at = 0): string =>
  family === 'inet' ? formatIPv4(b, at) : formatIPv6(b, at);

/**
 * Parses 'ADDRESS' or 'ADDRESS/PREFIXLEN' (IPv4 or IPv6). Without a prefix length an address
 * is a host address (/32, /128), as `ip addr add` takes it. Throws InvalidArgumentError.
 */
export function parsePrefix(input: unknown, op: string): Prefix {
  const bad = (why: string) => new InvalidArgumentError(`${op}: invalid address ${JSON.stringify(input)}: ${why}`, {
    op, subsystem: SUBSYSTEM, argument: String(input),
  });
  if (typeof input !== 'string') throw bad('expected a string like "10.96.0.1/32" or "2001:db8::1/128"');
  const slash = input.indexOf('/');
  const ipText = slash < 0 ? input : input.slice(0, slash);
  const lenText = slash < 0 ? undefined : input.slice(slash + 1);
  let family: Family;
  let bytes = parseIPv4(ipText);
  if (bytes) {
    family = 'inet';
  } else {
    bytes = parseIPv6(ipText);
    if (!bytes) throw bad('not an IPv4 or IPv6 address');
    family = 'inet6';
  }
  const max = family === 'inet' ? 32 : 128;
  let prefixlen = max;
  if (lenText !== undefined) {
    if (!/^(0|[1-9]\d{0,2})$/.test(lenText)) throw bad(`the prefix length must be a number from 0 to ${max}`);
    prefixlen = Number(lenText);
    if (prefixlen > max) throw bad(`the prefix length must be a number from 0 to ${max}`);
  }
  const ip = formatIp(family, bytes);
  return { family, bytes, prefixlen, ip, text: `${ip}/${prefixlen}` };
}

/** Link names as the kernel's dev_valid_name() takes them: 1 to 15 bytes, no '/', ':' or white space, not '.' or '..'. */
export function checkLinkName(name: unknown, op: string): string {
  if (typeof name === 'string' && plainName(name)) return name;
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 15 || name === '.' || name === '..' ||
    /[/:\s\0]/.test(name)) {
    throw new InvalidArgumentError(
      `${op}: invalid link name ${JSON.stringify(name)} (1 to 15 bytes, no '/', ':' or white space)`,
      { op, subsystem: SUBSYSTEM, argument: String(name) });
  }
  return name;
}

/** The common case without a regular expression: 1 to 15 printable ASCII characters other than '/' and ':', not '.' or '..'. */
function plainName(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 15 || (s.charCodeAt(0) === 46 && (n === 1 || (n === 2 && s.charCodeAt(1) === 46)))) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 47 || c === 58) return false;
  }
  return true;
}

/** fe80::/10: the kernel makes one for every link that comes up with IPv6. */
export const isIPv6LinkLocal = (p: Prefix): boolean =>
  p.family === 'inet6' && p.bytes[0] === 0xfe && (p.bytes[1]! & 0xc0) === 0x80;
