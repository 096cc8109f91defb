// Addresses as IPVS carries them: 16 bytes (union nf_inet_addr), IPv4 in the first four.

export const AF_INET = 2;
export const AF_INET6 = 10;

/** Parses an IPv4 address (dotted quad, no leading zeros); undefined when it is not one. */
export function parseIPv4(s: string, out?: Uint8Array, at = 0): Uint8Array | undefined {
  const n = s.length;
  if (n < 7 || n > 15) return undefined;
  let part = 0, digits = 0, value = 0;
  const b = out ?? new Uint8Array(16);
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 46;
    if (c === 46) {  // '.'
      if (digits === 0 || part > 3) return undefined;
      b[at + part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined;  // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else return undefined;
  }
  return part === 4 ? b : undefined;
}

/** Parses an IPv6 address (optionally in brackets, with an embedded IPv4 tail). */
export function parseIPv6(s: string): Uint8Array | undefined {
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (s.includes('%') || !s.includes(':')) return undefined;
  const b = new Uint8Array(16);
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const words: number[] = [];
  const take = (list: string[], last: boolean): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i]!;
      if (last && i === list.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (!v4) return false;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
      words.push(parseInt(g, 16));
    }
    return true;
  };
  const headLast = halves.length === 1;
  if (!take(head, headLast)) return undefined;
  const headWords = words.length;
  if (!take(tail, true)) return undefined;
  const tailWords = words.length - headWords;
  if (halves.length === 1 ? words.length !== 8 : words.length > 7) return undefined;
  const all = [...words.slice(0, headWords), ...new Array(8 - headWords - tailWords).fill(0), ...words.slice(headWords)];
  for (let i = 0; i < 8; i++) {
    b[i * 2] = all[i]! >> 8;
    b[i * 2 + 1] = all[i]! & 0xff;
  }
  return b;
}

export interface ParsedAddress {
  family: typeof AF_INET | typeof AF_INET6;
  bytes: Uint8Array;
  /** Canonical text: dotted quad, or RFC 5952 IPv6 as inet_ntop writes it. */
  text: string;
}

export function parseAddress(s: unknown): ParsedAddress | undefined {
  if (typeof s !== 'string') return undefined;
  const v4 = parseIPv4(s);
  if (v4) return { family: AF_INET, bytes: v4, text: s };  // already canonical
  const v6 = parseIPv6(s);
  if (v6) return { family: AF_INET6, bytes: v6, text: formatIPv6(v6, 0) };
  return undefined;
}

export function formatIPv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952: lower case, longest run of two or more zero words as '::', IPv4-mapped tail. */
export function formatIPv6(b: Uint8Array, at: number): string {
  const w = new Array<number>(8);
  for (let i = 0; i < 8; i++) w[i] = (b[at + i * 2]! << 8) | b[at + i * 2 + 1]!;
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  // ::ffff:a.b.c.d and the deprecated ::a.b.c.d, as glibc's inet_ntop writes them.
  if (bestAt === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
    const tail = `${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
    return bestLen === 5 ? `::ffff:${tail}` : `::${tail}`;
  }
  const hex = (ws: number[]) => ws.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(w);
  return `${hex(w.slice(0, bestAt))}::${hex(w.slice(bestAt + bestLen))}`;
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
