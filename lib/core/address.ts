// IP address text <-> bytes, the way the system tools read and print them (inet_pton, and
// glibc's inet_ntop, so what nlkit lists compares equal to `ip`, `ipvsadm` and `ipset`
// output). Pure functions; every subsystem parses and prints addresses here.

export const AF_INET = 2;
export const AF_INET6 = 10;

/**
 * Parses a dotted-quad IPv4 address (no leading zeros, as inet_pton) into out[at..at+4);
 * undefined when it is not one.
 * @example parseIPv4('10.96.0.1') // Uint8Array [10, 96, 0, 1]
 */
export function parseIPv4(s: string, out: Uint8Array = new Uint8Array(4), at = 0): Uint8Array | undefined {
  const n = s.length;
  if (n < 7 || n > 15) return undefined;
  let part = 0, digits = 0, value = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 46;
    if (c === 46) {  // '.'
      if (digits === 0 || part > 3) return undefined;
      out[at + part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined;  // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

/**
 * Parses IPv6 text (with `::` and an optional dotted IPv4 tail; no zone, no brackets) into 16
 * bytes; undefined when it is not one.
 * @example parseIPv6('2001:db8::1')
 */
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

/**
 * Four bytes at `at` as a dotted quad.
 * @example formatIPv4(Uint8Array.of(10, 0, 0, 1)) // '10.0.0.1'
 */
export const formatIPv4 = (b: Uint8Array, at = 0): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/**
 * Sixteen bytes at `at` as glibc's inet_ntop writes them (RFC 5952: lower case, the longest
 * run of two or more zero words — the first of equal runs — as '::', IPv4-mapped and
 * IPv4-compatible tails in dotted quad).
 * @example formatIPv6(parseIPv6('2001:DB8:0:0::1')!) // '2001:db8::1'
 */
export function formatIPv6(b: Uint8Array, at = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[at + i * 2]! << 8) | b[at + i * 2 + 1]!);
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
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += formatIPv4(b, at + 12);
      break;
    }
    out += w[i]!.toString(16);
  }
  if (best >= 0 && best + bestLen === 8) out += ':';
  return out;
}
