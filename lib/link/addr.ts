// Addresses and link names as rtnetlink carries them, checked in TypeScript before anything
// is sent. Addresses print the way iproute2 prints them (glibc's inet_ntop), so what nlkit
// lists compares equal to `ip addr` output.
import { InvalidArgumentError, type Subsystem } from '../errors.js';

export const AF_INET = 2;
export const AF_INET6 = 10;
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

/** Parses dotted-quad IPv4 (no leading zeros, like inet_pton); undefined when it is not one. */
export function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    b[i] = v;
  }
  return b;
}

/** Parses IPv6 text (with `::` and an optional dotted IPv4 tail; no zone); undefined when it is not one. */
export function parseIPv6(s: string): Uint8Array | undefined {
  if (s.includes('%') || !s.includes(':')) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const words: number[] = [];
  const take = (h: string, canEndInV4: boolean): number | undefined => {
    if (h === '') return 0;
    const groups = h.split(':');
    let n = 0;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (canEndInV4 && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (!v4) return undefined;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        n += 2;
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      words.push(parseInt(g, 16));
      n++;
    }
    return n;
  };
  const head = take(halves[0]!, halves.length === 1);
  if (head === undefined) return undefined;
  const tail = halves.length === 2 ? take(halves[1]!, true) : 0;
  if (tail === undefined) return undefined;
  if (halves.length === 1 ? head !== 8 : head + tail > 7) return undefined;
  const all = [...words.slice(0, head), ...new Array<number>(8 - head - tail).fill(0), ...words.slice(head)];
  const b = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    b[i * 2] = all[i]! >> 8;
    b[i * 2 + 1] = all[i]! & 0xff;
  }
  return b;
}

export const formatIPv4 = (b: Uint8Array, at = 0): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/** IPv6 text exactly as glibc's inet_ntop writes it (and so as iproute2 prints it). */
export function formatIPv6(b: Uint8Array, at = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[at + i * 2]! << 8) | b[at + i * 2 + 1]!);
  // The longest run of two or more zero words (the first of equal runs) becomes "::".
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + bestLen) {
      if (i === best) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    // IPv4-compatible and IPv4-mapped addresses end in dotted quad, as inet_ntop prints them.
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += formatIPv4(b, at + 12);
      break;
    }
    out += w[i]!.toString(16);
  }
  if (best >= 0 && best + bestLen === 8) out += ':';
  return out;
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
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 15 || name === '.' || name === '..' ||
    /[/:\s\0]/.test(name)) {
    throw new InvalidArgumentError(
      `${op}: invalid link name ${JSON.stringify(name)} (1 to 15 bytes, no '/', ':' or white space)`,
      { op, subsystem: SUBSYSTEM, argument: String(name) });
  }
  return name;
}

/** fe80::/10: the kernel makes one for every link that comes up with IPv6. */
export const isIPv6LinkLocal = (p: Prefix): boolean =>
  p.family === 'inet6' && p.bytes[0] === 0xfe && (p.bytes[1]! & 0xc0) === 0x80;
