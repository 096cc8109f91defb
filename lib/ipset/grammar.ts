// The grammar libipset 7.17 parses (lib/parse.c, lib/args.c, lib/ipset_*.c, lib/ipset.c), as
// checks that run before anything is sent: everything here accepts what `ipset restore`
// accepts and the kernel then stores, and refuses the rest. Deliberately stricter than
// libipset: host names (it would resolve them), hex IPv4 parts (getaddrinfo refuses them too),
// `[...]` escapes and IPv6 scope ids are refused, so what is written is what gets stored. The
// inet_aton shorthands libipset's getaddrinfo() takes ("10.1", "127.1", octal "010.0.0.1", "0/0")
// are read as it reads them.
//
// The checkers work on (src, a, b) slices of one string, so that a million-line restore text is
// checked without cutting it into substrings; they throw a Fault carrying the slice at fault.
// What an element and its options parse to is left in the caller's ParseState (elem, mac, ports,
// setRef, adt), as libipset's data blob holds it, for encode.ts to send: no module state, so
// parses run in any order, re-entrantly.
import { ICMP, ICMPV6, protoByName, protoName, servicePort } from './netdb.js';
import type { Family, SetType } from './types.js';

export class Fault {
  constructor(readonly pos: number, readonly end: number, readonly msg: string) {}
}

export function fail(pos: number, end: number, msg: string): never {
  throw new Fault(pos, end, msg);
}

const q = (src: string, a: number, b: number) => `'${src.slice(a, b)}'`;

export const IPSET_MAXNAMELEN = 31;      // IPSET_MAXNAMELEN - 1
export const MAX_COMMENT = 255;          // IPSET_MAX_COMMENT_SIZE
export const MAX_LINE_BYTES = 1022;      // fgets() into char[1024], plus the newline
export const MAX_ARGS = 30;              // build_argv(): newargv[32], argv[0] and a terminator
export const MAX_TIMEOUT = 2147483;      // (UINT_MAX >> 1) / 1000: the kernel keeps jiffies
const IFNAMSIZ = 16;

/**
 * One address part of an element as checkElement found it: the address (IPv6 groups in ip6),
 * the end of a FROM-TO range and the prefix length (-1: not given), and where it stands in the
 * checked string, src[pos, end).
 */
export interface AddrPart { ip: number; to: number; cidr: number; readonly ip6: Uint16Array; pos: number; end: number }

const addrPart = (): AddrPart => ({ ip: 0, to: -1, cidr: -1, ip6: new Uint16Array(8), pos: 0, end: 0 });

/**
 * What the checks of one parse leave for their caller (they return through it, not through
 * module state, so that parses can run in any order and interleave). One per parse: the
 * caller makes it, passes it to each check, and reads it after. Its arrays are reused from
 * entry to entry, so a list of a million entries allocates it once.
 * @example
 * const st = new ParseState();
 * splitArgs(st, '10.0.0.1 timeout 5', 0, 18, st.ts, st.te, st.tc);
 * checkElement(st, typeSpec('hash:ip')!, 'inet', st.args.src, st.ts[0]!, st.te[0]!, { noZeroCidr: true, nonZero: true });
 * st.elem.ips[0].ip; // 0x0a000001
 */
export class ParseState {
  /** The groups of the last address parseIPv6 accepted. */
  readonly v6 = new Uint16Array(8);
  /** The range the last checkAddress accepted (IPv4 only), for bitmap bounds. */
  readonly range = { from: 0, to: 0 };
  /**
   * The last address checkAddress accepted, as libipset puts it in its data blob: the address as
   * written (not masked: the kernel masks it), `to` the end of a FROM-TO range and `cidr` the
   * prefix length when written (-1 when not). An IPv6 address is in v6.
   */
  readonly addr = { v6: false, ip: 0, to: -1, cidr: -1 };
  /** The bytes of the last MAC address checkMac accepted. */
  readonly mac = new Uint8Array(6);
  /**
   * The port range the last checkPortRange accepted (-1: a name that could not be resolved);
   * `range` tells whether a FROM-TO was written (libipset then sends the end as PORT_TO, as
   * written). checkProtoPort and checkTcpUdpPort add `proto`, the protocol libipset sends (-1:
   * none, as for bitmap:port), and put an ICMP type/code ((type << 8) | code) in `from`.
   */
  readonly ports = { from: 0, to: 0, range: false, proto: -1 };
  /**
   * Where the last checkElement found the list:set member and its before/after reference (the
   * latter also set by checkAdtOptions); `before` tells which of the two it was.
   */
  readonly setRef = { name: -1, nameEnd: -1, ref: -1, refEnd: -1, before: false };
  /**
   * The values the last checkElement parsed, in libipset's terms (lib/data.c): the first address
   * part in ips[0] (IP, IP_TO, CIDR), the second one in ips[1] (IP2, IP2_TO, CIDR2), the port part
   * (PROTO, PORT, PORT_TO), the MAC (in `mac` when `elem.mac`), the mark and the interface. -1:
   * not given. Positions are offsets in the checked string.
   */
  readonly elem = {
    addrs: 0,
    v6: false,
    ips: [addrPart(), addrPart()] as const,
    proto: -1, port: 0, portTo: -1, portPos: 0, portEnd: 0,
    /** A service name of the port part could not be looked up (no /etc/services): taken on trust. */
    unresolved: false,
    mac: false,
    mark: 0,
    iface: -1, ifaceEnd: -1, physdev: false,
  };
  /**
   * The options the last checkAdtOptions accepted: `given` has the X_* bit of each (nomatch and
   * wildcard included; a before/after reference is in setRef), the values are as libipset
   * sends them. The comment is src[comment, commentEnd).
   */
  readonly adt = {
    given: 0,
    timeout: 0,
    packets: 0n,
    bytes: 0n,
    comment: 0,
    commentEnd: 0,
    skbmark: 0,
    skbmask: 0,
    skbprio: 0,
    skbqueue: 0,
  };
  /** Token index of the first option that needs each extension (timeout, counters, comment, skbinfo). */
  readonly extensionAt = new Int32Array(4);
  /** What the last splitArgs found: the count, the string ts/te point into, where the last argument ended in src. */
  readonly args = { n: 0, src: '', end: 0 };
  /** The arguments splitArgs found: [ts[i], te[i]) of args.src; tc[i] where each starts in the source. */
  readonly ts = new Int32Array(MAX_ARGS);
  readonly te = new Int32Array(MAX_ARGS);
  readonly tc = new Int32Array(MAX_ARGS);

  /**
   * Never read or written: it only keeps ParseState's hidden class alive. V8 holds an object's
   * shape only while some object has it, and each parse's state dies with the parse; at the next
   * full GC the shape went, and with it every checker compiled (and inlined) against it, to be
   * recompiled on the next call: adtEntries() of 100k hash:ip,port entries took 1.4x the CPU of
   * the module-state parser. Frozen, so it holds no state (its shape points back to the unfrozen
   * one). A static, not a module constant: V8 drops a module constant nothing reads.
   */
  static readonly #shape: object = Object.freeze(new ParseState());
}

// ---------------------------------------------------------------------------------------------
// Numbers: libipset reads every number with strtoull(str, &end, 0), so 0x.. is hex and a
// leading 0 is octal. Signs and blanks (which strtoull would skip) are refused.

/** The value of src[a,b) as a C unsigned literal, or -1. Very large values come back as 1e20. */
export function cNumber(src: string, a: number, b: number): number {
  if (a >= b) return -1;
  let base = 10;
  let i = a;
  if (src.charCodeAt(a) === 48 && b - a > 1) {
    if ((src.charCodeAt(a + 1) | 0x20) === 0x78) {
      base = 16;
      i = a + 2;
      if (i >= b) return -1;
    } else {
      base = 8;
      i = a + 1;
    }
  }
  let v = 0;
  for (; i < b; i++) {
    const c = src.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (base === 16 && (c | 0x20) >= 97 && (c | 0x20) <= 102) d = (c | 0x20) - 87;
    else return -1;
    if (d >= base) return -1;
    v = v * base + d;
  }
  return v > 1e20 ? 1e20 : v;
}

/** Like cNumber, exactly, for the 64-bit counters. */
export function cBigNumber(src: string, a: number, b: number): bigint {
  if (cNumber(src, a, b) < 0) return -1n;
  const s = src.slice(a, b);
  if (s.length > 1 && s[0] === '0' && (s[1] === 'x' || s[1] === 'X')) return BigInt(s);
  if (s.length > 1 && s[0] === '0') return BigInt('0o' + s.slice(1));
  return BigInt(s);
}

export function checkNumber(src: string, a: number, b: number, min: number, max: number, what: string): number {
  const v = cNumber(src, a, b);
  if (v < 0) fail(a, b, `${what} ${q(src, a, b)} is not a number`);
  if (v < min || v > max) fail(a, b, `${what} ${q(src, a, b)} is out of range ${min}-${max}`);
  return v;
}

/** Bytes of src[a,b) in UTF-8, as strlen() counts them. */
export function byteLength(src: string, a: number, b: number): number {
  let n = b - a;
  for (let i = a; i < b; i++) {
    const c = src.charCodeAt(i);
    // A surrogate pair is 2 chars for 4 bytes; other chars above 0x7ff take 3 bytes.
    if (c >= 0x80) n += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return n;
}

function indexOfCode(src: string, code: number, a: number, b: number): number {
  for (let i = a; i < b; i++) if (src.charCodeAt(i) === code) return i;
  return -1;
}

/** ipset_strchr(): a separator counts only when the string neither starts nor ends with it. */
function separator(src: string, code: number, a: number, b: number): number {
  if (src.charCodeAt(a) === code || src.charCodeAt(b - 1) === code) return -1;
  return indexOfCode(src, code, a, b);
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** src[a,b) as a dotted quad (inet_pton rules: four parts, no leading zeros), or -1. */
export function parseIPv4(src: string, a: number, b: number): number {
  let parts = 0;
  let acc = 0;
  let cur = 0;
  let digits = 0;
  for (let i = a; i < b; i++) {
    const c = src.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && cur === 0) return -1;
      cur = cur * 10 + (c - 48);
      if (cur > 255) return -1;
      digits++;
    } else if (c === 46 && digits > 0 && parts < 3) {
      acc = acc * 256 + cur;
      parts++;
      cur = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (digits === 0 || parts !== 3) return -1;
  return acc * 256 + cur;
}

/**
 * src[a,b) as glibc's getaddrinfo() reads an IPv4 number-and-dots address for libipset: the
 * dotted quad, or inet_aton's shorthands: 1 to 4 parts, each decimal or octal (a leading 0), the
 * last filling the bytes left ("10.1" is 10.0.0.1, "127.1" 127.0.0.1, "1" 0.0.0.1). Hex parts
 * are refused (getaddrinfo tries them as host names). -1 if refused.
 */
export function parseIPv4Aton(src: string, a: number, b: number): number {
  const quad = parseIPv4(src, a, b);
  if (quad >= 0 || a >= b) return quad;
  let acc = 0;
  let parts = 0;
  let start = a;
  for (let i = a; i <= b; i++) {
    if (i < b && src.charCodeAt(i) !== 46) continue;
    if (i === start || parts === 4) return -1;
    const octal = src.charCodeAt(start) === 48 && i - start > 1;
    let v = 0;
    for (let k = octal ? start + 1 : start; k < i; k++) {
      const d = src.charCodeAt(k) - 48;
      if (d < 0 || d > (octal ? 7 : 9)) return -1;
      v = v * (octal ? 8 : 10) + d;
      if (v > 0xffffffff) return -1;
    }
    parts++;
    if (i === b) {
      // The last part fills the bytes the earlier ones left.
      if (v >= 2 ** (8 * (5 - parts))) return -1;
      return acc * 2 ** (8 * (5 - parts)) + v;
    }
    if (v > 255) return -1;
    acc = acc * 256 + v;
    start = i + 1;
  }
  return -1;
}

/** src[a,b) as inet_pton(AF_INET6) reads it (glibc's rules), into st.v6; false if refused. */
export function parseIPv6(st: ParseState, src: string, a: number, b: number): boolean {
  if (a >= b) return false;
  let i = a;
  if (src.charCodeAt(i) === 58) {
    i++;
    if (i >= b || src.charCodeAt(i) !== 58) return false;
  }
  let n = 0;
  let gap = -1;
  let tok = i;
  let digits = 0;
  let val = 0;
  let tail4 = false;
  while (i < b) {
    const c = src.charCodeAt(i++);
    const d = hexValue(c);
    if (d >= 0) {
      if (digits === 4) return false;
      val = (val << 4) | d;
      digits++;
      continue;
    }
    if (c === 58) {
      tok = i;
      if (digits === 0) {
        if (gap >= 0) return false;
        gap = n;
        continue;
      }
      if (i >= b || n >= 8) return false;
      st.v6[n++] = val;
      digits = 0;
      val = 0;
      continue;
    }
    if (c === 46 && n + 2 <= 8) {
      const v4 = parseIPv4(src, tok, b);
      if (v4 < 0) return false;
      st.v6[n++] = Math.floor(v4 / 65536);
      st.v6[n++] = v4 % 65536;
      digits = 0;
      tail4 = true;
      break;
    }
    return false;
  }
  if (!tail4 && digits > 0) {
    if (n >= 8) return false;
    st.v6[n++] = val;
  }
  if (gap >= 0) {
    if (n === 8) return false;
    const moved = n - gap;
    for (let k = 0; k < moved; k++) st.v6[7 - k] = st.v6[n - 1 - k]!;
    for (let k = gap; k < 8 - moved; k++) st.v6[k] = 0;
    n = 8;
  }
  return n === 8;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Whether st.v6 is all zero in its first `prefix` bits. */
function v6ZeroUnder(st: ParseState, prefix: number): boolean {
  for (let g = 0; g < 8 && prefix > 0; g++, prefix -= 16) {
    const mask = prefix >= 16 ? 0xffff : (0xffff << (16 - prefix)) & 0xffff;
    if ((st.v6[g]! & mask) !== 0) return false;
  }
  return true;
}

/** Only host name characters, and a letter beyond the hex digits: a host name. */
function hostLike(src: string, a: number, b: number): boolean {
  let letter = false;
  for (let i = a; i < b; i++) {
    const c = src.charCodeAt(i);
    const l = c | 0x20;
    if (l >= 0x67 && l <= 0x7a) letter = true;
    else if (!((l >= 0x61 && l <= 0x66) || (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 95)) return false;
  }
  return letter;
}

function addressError(st: ParseState, src: string, a: number, b: number, family: Family): never {
  const v6 = family === 'inet6';
  if (hostLike(src, a, b)) fail(a, b, `${q(src, a, b)} is not an IP address (host names are not resolved)`);
  if (v6 ? parseIPv4(src, a, b) >= 0 : parseIPv6(st, src, a, b)) {
    fail(a, b, `${v6 ? 'IPv4' : 'IPv6'} address ${q(src, a, b)} in a family ${family} set`);
  }
  if (indexOfCode(src, 91, a, b) >= 0) fail(a, b, `escaped address ${q(src, a, b)}: nlkit takes numeric addresses only`);
  fail(a, b, `invalid ${v6 ? 'IPv6' : 'IPv4'} address ${q(src, a, b)}`);
}

// How an address part of an element may be written (the parse_ip variants of parse.c, narrowed
// by what the type's `full` flags allow in add/del).
export const IP_ANY = 0;     // ipset_parse_ip4_single6: IPv4 address, CIDR or range; IPv6 address
export const IP_PLAIN = 1;   // ipset_parse_single_ip, or a type that takes no range: address only
export const IP_NET = 2;     // ipset_parse_ip4_net6: IPv4 address, CIDR or range; IPv6 address or CIDR

export interface AddrRules {
  /** The kernel refuses /0 (all types but hash:net,iface). */
  noZeroCidr: boolean;
  /** hash:ip, hash:ip,port: the kernel refuses an element that is all zero after the netmask. */
  nonZero: boolean;
  /** Netmask prefix of the set, when known, for the zero check. */
  netmask?: number;
  /** A bitmap's create range: FROM-TO may cover the whole address space (`ipset save` prints 0/0 so). */
  wholeRange?: boolean;
}

/** Whether an IPv4 address is all zero under the set's netmask. */
const zero4 = (ip: number, netmask = 32) => (netmask >= 32 ? ip : ip - (ip % 2 ** (32 - netmask))) === 0;

export function checkAddress(st: ParseState, src: string, a: number, b: number, family: Family, kind: number, rules: AddrRules): void {
  const v6 = family === 'inet6';
  // Most elements are a plain address: try that before looking for separators.
  if (!v6) {
    const ip = parseIPv4Aton(src, a, b);
    if (ip >= 0) {
      if (rules.nonZero && zero4(ip, rules.netmask)) fail(a, b, `all-zero address ${q(src, a, b)} cannot be stored in a hash set`);
      st.range.from = st.range.to = ip;
      st.addr.v6 = false;
      st.addr.ip = ip;
      st.addr.to = -1;
      st.addr.cidr = -1;
      return;
    }
  }
  const max = v6 ? 128 : 32;
  let end = b;
  let cidr = max;
  let to = -1;
  const slash = separator(src, 47, a, b);
  if (slash >= 0) {
    end = slash;
    if (kind === IP_PLAIN) fail(a, b, `plain IP address expected, not the network ${q(src, a, b)}`);
    const c = cNumber(src, slash + 1, b);
    if (c < 0 || c > 255) fail(slash + 1, b, `invalid prefix length ${q(src, slash + 1, b)}`);
    if (c > max) fail(slash + 1, b, `prefix length ${q(src, slash + 1, b)} is out of range 0-${max}`);
    if (v6 && kind === IP_ANY && !(b - slash === 4 && src.startsWith('/128', slash))) {
      fail(a, b, `plain IPv6 address expected, not the network ${q(src, a, b)}`);
    }
    if (c === 0 && rules.noZeroCidr) fail(slash + 1, b, `prefix length 0 is refused by the kernel for this set type`);
    cidr = c;
  } else {
    const dash = separator(src, 45, a, b);
    if (v6 && dash >= 0) {
      if (!parseIPv6(st, src, a, dash)) addressError(st, src, a, dash, family);
      fail(a, b, `IPv6 ranges are not supported, use a network (CIDR): ${q(src, a, b)}`);
    }
    if (dash >= 0) {
      if (parseIPv4Aton(src, a, dash) < 0) addressError(st, src, a, hostLike(src, a, b) ? b : dash, family);
      if (kind === IP_PLAIN) fail(a, b, `plain IP address expected, not the range ${q(src, a, b)}`);
      end = dash;
      to = parseIPv4Aton(src, dash + 1, b);
      if (to < 0) addressError(st, src, dash + 1, b, family);
    }
  }
  if (v6) {
    if (!parseIPv6(st, src, a, end)) addressError(st, src, a, end, family);
    if (rules.nonZero && v6ZeroUnder(st, Math.min(cidr, rules.netmask ?? 128))) {
      fail(a, b, `all-zero address ${q(src, a, b)} cannot be stored in a hash set`);
    }
    st.addr.v6 = true;
    st.addr.ip = 0;
    st.addr.to = -1;
    st.addr.cidr = slash >= 0 ? cidr : -1;
    return;
  }
  let from = parseIPv4Aton(src, a, end);
  if (from < 0) addressError(st, src, a, end, family);
  st.addr.v6 = false;
  st.addr.ip = from;
  st.addr.to = to;
  st.addr.cidr = slash >= 0 ? cidr : -1;
  if (to < 0) {
    const host = 2 ** (32 - cidr);
    from -= from % host;
    to = from + host - 1;
  } else if (to < from) {
    const t = to; to = from; from = t;
  }
  // FROM-TO must leave something out (the hash types loop over it); 0.0.0.0/0 is fine where /0 is.
  if (from === 0 && to === 0xffffffff && slash < 0 && !rules.wholeRange) fail(a, b, `range ${q(src, a, b)} covers the whole address space`);
  if (rules.nonZero && zero4(from, rules.netmask)) fail(a, b, `all-zero address ${q(src, a, b)} cannot be stored in a hash set`);
  st.range.from = from;
  st.range.to = to;
}

/**
 * Six hex groups separated by colons, each at most 0xff, 17 characters in all (ipset_parse_ether
 * reads each group with strtol(); its empty groups and 0x prefixes are refused here). The bytes
 * go to st.mac.
 */
export function checkMac(st: ParseState, src: string, a: number, b: number): void {
  let groups = 0;
  let digits = 0;
  let value = 0;
  for (let i = a; i <= b; i++) {
    const c = i < b ? src.charCodeAt(i) : 58;
    if (c === 58) {
      // An empty group, or a seventh (a trailing colon included): refused, as by strtol's loop.
      if (digits === 0 || groups === 6) {
        groups = -1;
        break;
      }
      st.mac[groups++] = value;
      digits = 0;
      value = 0;
    } else {
      const d = hexValue(c);
      value = value * 16 + d;
      digits++;
      if (d < 0 || value > 255) {
        groups = -1;
        break;
      }
    }
  }
  if (groups !== 6 || b - a > 17) fail(a, b, `invalid MAC address ${q(src, a, b)}`);
}

export function checkIface(src: string, a: number, b: number): void {
  const s = b - a >= 8 && src.startsWith('physdev:', a) ? a + 8 : a;
  if (byteLength(src, s, b) > IFNAMSIZ - 1) {
    fail(s, b, `interface name ${q(src, s, b)} is longer than ${IFNAMSIZ - 1} characters`);
  }
}

export function checkSetName(src: string, a: number, b: number, what = 'set name'): void {
  if (a >= b) fail(a, b, `empty ${what}`);
  if (b - a > IPSET_MAXNAMELEN || (b - a > 10 && byteLength(src, a, b) > IPSET_MAXNAMELEN)) {
    fail(a, b, `${what} ${q(src, a, b)} is longer than ${IPSET_MAXNAMELEN} characters (bytes)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Protocols, ports, ICMP types

/** The protocol number of src[a,b) as ipset_parse_proto() reads it (a number or a name), or -1. */
export function protoNumber(src: string, a: number, b: number): number {
  if (b - a === 3 && src.startsWith('tcp', a)) return 6;
  if (b - a === 3 && src.startsWith('udp', a)) return 17;
  const n = cNumber(src, a, b);
  if (n >= 0) return n <= 255 ? n : -1;
  return protoByName(src.slice(a, b));
}

/**
 * ICMP(v6) type/code of src[a,b): a name, or any case-insensitive prefix of one (the first in
 * libipset's table wins, as name_to_icmp() does), or TYPE/CODE. Returns (type << 8) | code.
 */
export function icmpTypeCode(src: string, a: number, b: number, v6: boolean): number {
  const s = src.slice(a, b).toLowerCase();
  for (const [name, t, c] of v6 ? ICMPV6 : ICMP) if (name.toLowerCase().startsWith(s)) return (t << 8) | c;
  const slash = separator(src, 47, a, b);
  const what = v6 ? 'ICMPv6' : 'ICMP';
  if (slash < 0) fail(a, b, `${q(src, a, b)} is not an ${what} type name nor TYPE/CODE`);
  const t = checkNumber(src, a, slash, 0, 255, `${what} type`);
  const c = checkNumber(src, slash + 1, b, 0, 255, `${what} code`);
  return (t << 8) | c;
}

/** One port: a number or a service name of `proto`. Returns the port, or -1 for an unverifiable name. */
export function checkPort(src: string, a: number, b: number, proto: string): number {
  const n = cNumber(src, a, b);
  if (n >= 0) {
    if (n > 65535) fail(a, b, `port ${q(src, a, b)} is out of range 0-65535`);
    return n;
  }
  const name = src.slice(a, b);
  if (name.startsWith('[')) fail(a, b, `escaped port name ${q(src, a, b)} is not supported`);
  const p = servicePort(name, proto);
  if (p === -1) fail(a, b, `${q(src, a, b)} is not a port number nor a ${proto} service name`);
  if (p === -2 && !/^[A-Za-z][A-Za-z0-9_.+]*$/.test(name)) fail(a, b, `invalid port ${q(src, a, b)}`);
  return p;
}

/** PORT or FROM-TO (ipset_parse_tcpudp_port). */
export function checkPortRange(st: ParseState, src: string, a: number, b: number, proto: string): void {
  if (src.charCodeAt(a) === 91) fail(a, b, `escaped port name ${q(src, a, b)} is not supported`);
  const dash = separator(src, 45, a, b);
  if (dash < 0) {
    st.ports.from = st.ports.to = checkPort(src, a, b, proto);
    st.ports.range = false;
    return;
  }
  st.ports.from = checkPort(src, a, dash, proto);
  st.ports.to = checkPort(src, dash + 1, b, proto);
  st.ports.range = true;
}

/** [proto:]port of the hash:*port* types (ipset_parse_proto_port). */
export function checkProtoPort(st: ParseState, src: string, a: number, b: number, family: Family): void {
  const colon = separator(src, 58, a, b);
  if (colon < 0) {
    checkPortRange(st, src, a, b, 'tcp');
    st.ports.proto = 6;
    return;
  }
  const p = protoNumber(src, a, colon);
  if (p < 0) fail(a, colon, `unknown protocol ${q(src, a, colon)}`);
  if (p === 0) fail(a, colon, `protocol ${q(src, a, colon)} (0) is not supported`);
  const s = colon + 1;
  switch (p) {
    case 6: case 17: case 132: case 136:
      checkPortRange(st, src, s, b, cNumber(src, a, colon) >= 0 ? protoName(p) : src.slice(a, colon));
      break;
    case 1:
      if (family !== 'inet') fail(a, colon, 'protocol ICMP can be used with family inet only');
      st.ports.from = st.ports.to = icmpTypeCode(src, s, b, false);
      st.ports.range = false;
      break;
    case 58:
      if (family !== 'inet6') fail(a, colon, 'protocol ICMPv6 can be used with family inet6 only');
      st.ports.from = st.ports.to = icmpTypeCode(src, s, b, true);
      st.ports.range = false;
      break;
    default:
      if (b - s !== 1 || src.charCodeAt(s) !== 48) {
        fail(s, b, `protocol ${q(src, a, colon)} has no ports: use the pseudo port 0`);
      }
      st.ports.from = st.ports.to = 0;
      st.ports.range = false;
  }
  st.ports.proto = p;
}

/** [tcp|udp:]port[-port] of bitmap:port (ipset_parse_tcp_udp_port). */
export function checkTcpUdpPort(st: ParseState, src: string, a: number, b: number): void {
  const colon = separator(src, 58, a, b);
  if (colon < 0) {
    checkPortRange(st, src, a, b, 'tcp');
  } else {
    const p = protoNumber(src, a, colon);
    if (p !== 6 && p !== 17) fail(a, colon, `only protocols tcp and udp are valid here, not ${q(src, a, colon)}`);
    checkPortRange(st, src, colon + 1, b, cNumber(src, a, colon) >= 0 ? protoName(p) : src.slice(a, colon));
  }
  // ipset_parse_tcp_udp_port() takes the protocol back out: bitmap:port sends none.
  st.ports.proto = -1;
}

// ---------------------------------------------------------------------------------------------
// Set types

export const P_IP = 0;        // address: IP_ANY
export const P_IP_PLAIN = 1;  // address: IP_PLAIN
export const P_NET = 2;       // address: IP_NET
export const P_PORT = 3;      // [proto:]port
export const P_BMPORT = 4;    // [tcp|udp:]port of bitmap:port
export const P_MAC = 5;
export const P_MARK = 6;
export const P_IFACE = 7;
export const P_SET = 8;       // list:set member

export interface TypeSpec {
  name: SetType;
  parts: readonly number[];
  /** 'both': inet and inet6; 'inet': IPv4 only (bitmaps); 'none': no addresses. */
  families: 'both' | 'inet' | 'none';
  bitmap: boolean;
  hash: boolean;
  /** bitmap:ip,mac: the MAC may be left out. */
  lastOptional: boolean;
  /** hash:ip, hash:ip,port: no all-zero first address. */
  nonZero: boolean;
  /** The kernel refuses /0 prefixes (all but hash:net,iface and hash:net,port,net). */
  noZeroCidr: boolean;
  nomatch: boolean;
  wildcard: boolean;
  /** Create options, in the order `ipset save` prints them. */
  create: readonly string[];
  /** Deprecated create options libipset accepts with a value and ignores. */
  ignored: readonly string[];
  /** The kernel type's `features`: only sets with equal features (and family) can be swapped. */
  features: string;
}

const HASH_TAIL = ['timeout', 'counters', 'comment', 'forceadd', 'skbinfo', 'bucketsize', 'initval'];
const HASH = ['family', 'hashsize', 'maxelem', ...HASH_TAIL];
const EXT = ['timeout', 'counters', 'comment', 'skbinfo'];
const OLD_PORT_OPTS = ['probes', 'resize', 'from', 'to', 'network'];
/** A bitmap's range as ipset 4 wrote it: --from A --to B, or --network NET/PREFIX. */
const OLD_RANGE = ['from', 'to', 'network'];

function spec(name: SetType, parts: number[], features: string, over: Partial<TypeSpec> = {}): TypeSpec {
  const hash = name.startsWith('hash:');
  return {
    name, parts, features, hash, bitmap: name.startsWith('bitmap:'),
    families: hash && name !== 'hash:mac' ? 'both' : name === 'bitmap:ip' || name === 'bitmap:ip,mac' ? 'inet' : 'none',
    lastOptional: false, nonZero: false, noZeroCidr: true, nomatch: false, wildcard: false,
    create: hash ? HASH : EXT, ignored: [], ...over,
  };
}

export const TYPES: ReadonlyMap<string, TypeSpec> = new Map([
  spec('bitmap:ip', [P_IP], 'ip', { create: ['range', 'netmask', ...EXT, ...OLD_RANGE] }),
  spec('bitmap:ip,mac', [P_IP_PLAIN, P_MAC], 'ip,mac', { create: ['range', ...EXT, ...OLD_RANGE], lastOptional: true }),
  spec('bitmap:port', [P_BMPORT], 'port', { create: ['range', ...EXT, 'from', 'to'] }),
  spec('hash:ip', [P_IP], 'ip', {
    create: ['family', 'hashsize', 'maxelem', 'netmask', 'bitmask', ...HASH_TAIL],
    ignored: ['probes', 'resize', 'gc'], nonZero: true,
  }),
  spec('hash:mac', [P_MAC], 'mac', { create: ['hashsize', 'maxelem', ...HASH_TAIL] }),
  spec('hash:ip,mac', [P_IP_PLAIN, P_MAC], 'ip,mac'),
  spec('hash:net', [P_NET], 'ip,nomatch', { nomatch: true, ignored: ['probes', 'resize'] }),
  spec('hash:net,net', [P_NET, P_NET], 'ip,ip2,nomatch', { nomatch: true, create: [...HASH, 'bitmask', 'netmask'] }),
  spec('hash:ip,port', [P_IP, P_PORT], 'ip,port', {
    create: [...HASH, 'netmask', 'bitmask'], ignored: OLD_PORT_OPTS, nonZero: true,
  }),
  spec('hash:net,port', [P_NET, P_PORT], 'ip,port,nomatch', { nomatch: true }),
  spec('hash:ip,port,ip', [P_IP, P_PORT, P_IP_PLAIN], 'ip,port,ip2', { ignored: OLD_PORT_OPTS }),
  spec('hash:ip,port,net', [P_IP, P_PORT, P_NET], 'ip,port,ip2,nomatch', { nomatch: true, ignored: OLD_PORT_OPTS }),
  spec('hash:ip,mark', [P_IP, P_MARK], 'ip,mark', {
    create: ['family', 'markmask', 'hashsize', 'maxelem', ...HASH_TAIL], ignored: OLD_PORT_OPTS,
  }),
  // The kernel checks only `cidr > HOST_MASK` in both networks of this type (/0 is fine).
  spec('hash:net,port,net', [P_NET, P_PORT, P_NET], 'ip,port,ip2,nomatch', { nomatch: true, noZeroCidr: false }),
  spec('hash:net,iface', [P_NET, P_IFACE], 'ip,iface,nomatch', { nomatch: true, wildcard: true, noZeroCidr: false }),
  spec('list:set', [P_SET], 'name', { create: ['size', ...EXT] }),
].map((s) => [s.name, s]));

const ALIASES: Record<string, SetType> = {
  ipmap: 'bitmap:ip', macipmap: 'bitmap:ip,mac', portmap: 'bitmap:port', iphash: 'hash:ip',
  machash: 'hash:mac', ipmachash: 'hash:ip,mac', nethash: 'hash:net', netnethash: 'hash:net,net',
  ipporthash: 'hash:ip,port', netporthash: 'hash:net,port', ipportiphash: 'hash:ip,port,ip',
  ipportnethash: 'hash:ip,port,net', ipmarkhash: 'hash:ip,mark', netportnethash: 'hash:net,port,net',
  netifacehash: 'hash:net,iface', setlist: 'list:set',
};

/** The spec of a type name or one of libipset's old aliases (iphash, ...). */
export function typeSpec(name: string): TypeSpec | undefined {
  return TYPES.get(name) ?? TYPES.get(ALIASES[name] ?? '');
}

// ---------------------------------------------------------------------------------------------
// Elements

export interface ElementRules extends AddrRules {
  /** bitmap:ip / bitmap:ip,mac / bitmap:port bounds, when known. */
  from?: number;
  to?: number;
}

/** One element: the type's parts joined by commas, each checked as libipset parses it. */
export function checkElement(st: ParseState, s: TypeSpec, family: Family, src: string, a: number, b: number, rules: ElementRules): void {
  if (a >= b) fail(a, b, 'empty element');
  st.elem.addrs = 0;
  st.elem.mac = false;
  if (s.name === 'hash:ip,port' && family === 'inet' && plainIpPort(st, src, a, b, rules)) return;
  if (s.name === 'list:set') {
    const comma = indexOfCode(src, 44, a, b);
    return comma >= 0 ? checkSetCompat(st, src, a, b, comma) : checkPart(st, s, P_SET, true, family, src, a, b, rules);
  }
  const n = s.parts.length;
  let start = a;
  for (let k = 0; k < n; k++) {
    let end = indexOfCode(src, 44, start, b);
    if (k === n - 1) {
      if (end >= 0) fail(a, b, `element ${q(src, a, b)} has more parts than ${s.name} takes (${n})`);
      end = b;
    } else if (end < 0) {
      if (!s.lastOptional || k !== n - 2) fail(a, b, `element ${q(src, a, b)} of ${s.name} needs ${n} parts separated by commas`);
      end = b;
    }
    if (end === start) fail(start, end, `empty part in element ${q(src, a, b)}`);
    checkPart(st, s, s.parts[k]!, k === 0, family, src, start, end, rules);
    if (end === b) return;
    start = end + 1;
  }
}

/**
 * hash:ip,port's usual element in family inet, `A.B.C.D,tcp:PORT` or `A.B.C.D,udp:PORT` (a dotted
 * quad parseIPv4 takes, not all zero under the rules, a decimal port of 0-65535 without a leading
 * zero): leaves in st what checkPart leaves for its two parts and returns true. Anything else
 * returns false, st untouched, for checkPart to check. One small function where a process's first
 * hash:ip,port entries would otherwise have V8 compile checkPart, checkAddress, checkProtoPort
 * and checkPortRange (10-15 ms of compiler threads for the first 10k entries, measured).
 */
function plainIpPort(st: ParseState, src: string, a: number, b: number, rules: ElementRules): boolean {
  const comma = indexOfCode(src, 44, a, b);
  if (comma < a + 7) return false;
  const ip = parseIPv4(src, a, comma);
  if (ip < 0 || (rules.nonZero && zero4(ip, rules.netmask))) return false;
  const p = comma + 1;
  const d = p + 4;
  if (b <= d || b - d > 5 || src.charCodeAt(p + 3) !== 58) return false;
  const proto = src.startsWith('tcp', p) ? 6 : src.startsWith('udp', p) ? 17 : -1;
  if (proto < 0 || (src.charCodeAt(d) === 48 && b - d > 1)) return false;
  let port = 0;
  for (let i = d; i < b; i++) {
    const c = src.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    port = port * 10 + (c - 48);
  }
  if (port > 65535) return false;
  const { elem, addr, ports, range } = st;
  range.from = range.to = ip;
  addr.v6 = false;
  addr.ip = ip;
  addr.to = -1;
  addr.cidr = -1;
  elem.v6 = false;
  const part = elem.ips[0];
  part.ip = ip;
  part.to = -1;
  part.cidr = -1;
  part.pos = a;
  part.end = comma;
  elem.addrs = 1;
  ports.from = ports.to = port;
  ports.range = false;
  ports.proto = proto;
  elem.proto = proto;
  elem.port = port;
  elem.portTo = -1;
  elem.unresolved = false;
  elem.portPos = p;
  elem.portEnd = b;
  return true;
}

/** list:set's old form NAME,before|after,NAME (ipset_parse_name_compat). */
function checkSetCompat(st: ParseState, src: string, a: number, b: number, comma: number): void {
  const c2 = indexOfCode(src, 44, comma + 1, b);
  const how = c2 < 0 ? '' : src.slice(comma + 1, c2);
  if (c2 < 0 || (how !== 'before' && how !== 'after') || indexOfCode(src, 44, c2 + 1, b) >= 0) {
    fail(a, b, `list:set element ${q(src, a, b)} must be NAME or NAME,before|after,NAME`);
  }
  checkSetName(src, a, comma);
  checkSetName(src, c2 + 1, b);
  st.setRef.name = a; st.setRef.nameEnd = comma;
  st.setRef.ref = c2 + 1; st.setRef.refEnd = b;
  st.setRef.before = how === 'before';
}

/** Rules for a second address part (no set type checks those for zero; /0 as the type says). */
const LATER_ADDRESS: AddrRules = { noZeroCidr: true, nonZero: false };
const LATER_ADDRESS_ZERO_CIDR: AddrRules = { noZeroCidr: false, nonZero: false };

function checkPart(st: ParseState, s: TypeSpec, part: number, first: boolean, family: Family, src: string, a: number, b: number, rules: ElementRules): void {
  const { elem, addr } = st;
  switch (part) {
    case P_IP:
    case P_IP_PLAIN:
    case P_NET: {
      const kind = part === P_IP ? IP_ANY : part === P_NET ? IP_NET : IP_PLAIN;
      checkAddress(st, src, a, b, family, kind, first ? rules : s.noZeroCidr ? LATER_ADDRESS : LATER_ADDRESS_ZERO_CIDR);
      if (s.bitmap && first && rules.from !== undefined && rules.to !== undefined &&
          (st.range.from < rules.from || st.range.to > rules.to)) {
        fail(a, b, `element ${q(src, a, b)} is outside the range of the set`);
      }
      if (elem.addrs === 0) elem.v6 = addr.v6;
      const p = elem.ips[elem.addrs++ === 0 ? 0 : 1];
      p.ip = addr.ip;
      p.to = addr.to;
      p.cidr = addr.cidr;
      if (addr.v6) p.ip6.set(st.v6);
      p.pos = a;
      p.end = b;
      return;
    }
    case P_PORT:
    case P_BMPORT:
      if (part === P_PORT) {
        checkProtoPort(st, src, a, b, family);
      } else {
        checkTcpUdpPort(st, src, a, b);
        if (rules.from !== undefined && rules.to !== undefined && st.ports.from >= 0 && st.ports.to >= 0) {
          const lo = Math.min(st.ports.from, st.ports.to);
          const hi = Math.max(st.ports.from, st.ports.to);
          if (lo < rules.from || hi > rules.to) fail(a, b, `port ${q(src, a, b)} is outside the range of the set`);
        }
      }
      elem.proto = st.ports.proto;
      elem.port = st.ports.from;
      elem.portTo = st.ports.range ? st.ports.to : -1;
      elem.unresolved = st.ports.from < 0 || (st.ports.range && st.ports.to < 0);
      elem.portPos = a;
      elem.portEnd = b;
      return;
    case P_MAC:
      checkMac(st, src, a, b);
      elem.mac = true;
      return;
    case P_MARK:
      elem.mark = checkNumber(src, a, b, 0, 0xffffffff, 'mark');
      return;
    case P_IFACE: {
      checkIface(src, a, b);
      const physdev = b - a >= 8 && src.startsWith('physdev:', a);
      elem.physdev = physdev;
      elem.iface = physdev ? a + 8 : a;
      elem.ifaceEnd = b;
      return;
    }
    case P_SET:
      checkSetName(src, a, b);
      st.setRef.name = a; st.setRef.nameEnd = b; st.setRef.ref = -1; st.setRef.refEnd = -1;
      st.setRef.before = false;
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Options after the element of add/del

/** The bits of `adt.given`, one per option checkAdtOptions accepted (e.g. `given & X_TIMEOUT`). */
export const X_TIMEOUT = 1, X_COUNTERS = 2, X_COMMENT = 4, X_SKBINFO = 8, X_NOMATCH = 16, X_WILDCARD = 32;
export const X_REF = 64, X_PACKETS = 128, X_BYTES = 256, X_SKBMARK = 512, X_SKBPRIO = 1024, X_SKBQUEUE = 2048;

/** The command whose options checkAdtOptions checks (libipset's `.cmd[IPSET_DEL|ADD|TEST].args`). */
export const ADT_DEL = 0, ADT_ADD = 1, ADT_TEST = 2;

/** The option named by src[a,b) after an optional "--" (ipset_match_option), or 0. */
function adtOption(src: string, a: number, b: number): number {
  if (b - a > 2 && src.charCodeAt(a) === 45 && src.charCodeAt(a + 1) === 45) a += 2;
  switch (b - a) {
    case 5: return src.startsWith('bytes', a) ? X_BYTES : src.startsWith('after', a) ? X_REF : 0;
    case 6: return src.startsWith('before', a) ? X_REF : 0;
    case 7:
      return src.startsWith('timeout', a) ? X_TIMEOUT : src.startsWith('packets', a) ? X_PACKETS
        : src.startsWith('comment', a) ? X_COMMENT : src.startsWith('skbmark', a) ? X_SKBMARK
          : src.startsWith('skbprio', a) ? X_SKBPRIO : src.startsWith('nomatch', a) ? X_NOMATCH : 0;
    case 8:
      return src.startsWith('skbqueue', a) ? X_SKBQUEUE : src.startsWith('wildcard', a) ? X_WILDCARD : 0;
    default: return 0;
  }
}

/**
 * The options of an add, del or test line (mode: ADT_ADD or true, ADT_DEL or false, ADT_TEST):
 * tokens [from, to) of ts/te over src. Returns the extensions they need (X_* bits); extensionAt
 * says which token asked first; st.adt gets the values.
 */
export function checkAdtOptions(st: ParseState, s: TypeSpec, mode: boolean | number, src: string, ts: Int32Array, te: Int32Array, from: number, to: number): number {
  const cmd = mode === true ? ADT_ADD : mode === false ? ADT_DEL : mode;
  let seen = 0;
  let flags = 0;
  let ext = 0;
  for (let i = from; i < to; i++) {
    const a = ts[i]!;
    const b = te[i]!;
    const opt = adtOption(src, a, b);
    const ref = opt === X_REF && s.name === 'list:set';
    const allowed = cmd === ADT_ADD
      ? opt !== 0 && (opt !== X_NOMATCH || s.nomatch) && (opt !== X_WILDCARD || s.wildcard) && (opt !== X_REF || ref)
      : ref || (cmd === ADT_TEST && opt === X_NOMATCH && s.nomatch);
    if (!allowed) {
      fail(a, b, opt ? `option ${q(src, a, b)} is not allowed in ${cmd === ADT_ADD ? 'add' : cmd === ADT_DEL ? 'del' : 'test'} with set type ${s.name}`
        : `unknown argument ${q(src, a, b)}`);
    }
    if (opt === X_NOMATCH || opt === X_WILDCARD) {
      flags |= opt;
      continue;
    }
    if (seen & opt) fail(a, b, `option ${q(src, a, b)} is given twice`);
    if (opt === X_REF && st.setRef.ref >= 0) fail(a, b, `before/after given twice`);
    seen |= opt;
    if (++i >= to) fail(a, b, `option ${q(src, a, b)} needs a value`);
    const va = ts[i]!;
    const vb = te[i]!;
    let need = -1;
    switch (opt) {
      case X_TIMEOUT:
        st.adt.timeout = checkNumber(src, va, vb, 0, MAX_TIMEOUT, 'timeout');
        need = 0;
        break;
      case X_PACKETS:
      case X_BYTES: {
        const v = cBigNumber(src, va, vb);
        if (v < 0n) fail(va, vb, `${opt === X_PACKETS ? 'packets' : 'bytes'} ${q(src, va, vb)} is not a number`);
        if (v > 18446744073709551614n) fail(va, vb, `${q(src, va, vb)} is out of range 0-18446744073709551614`);
        if (opt === X_PACKETS) st.adt.packets = v;
        else st.adt.bytes = v;
        need = 1;
        break;
      }
      case X_COMMENT:
        if (byteLength(src, va, vb) > MAX_COMMENT) fail(va, vb, `comment is longer than ${MAX_COMMENT} characters`);
        st.adt.comment = va;
        st.adt.commentEnd = vb;
        need = 2;
        break;
      case X_SKBMARK:
        checkSkbmark(st, src, va, vb);
        need = 3;
        break;
      case X_SKBPRIO:
        checkSkbprio(st, src, va, vb);
        need = 3;
        break;
      case X_SKBQUEUE:
        st.adt.skbqueue = checkNumber(src, va, vb, 0, 65535, 'skbqueue');
        need = 3;
        break;
      case X_REF:
        checkSetName(src, va, vb);
        st.setRef.ref = va; st.setRef.refEnd = vb;
        // "before"/"--before" rather than "after"/"--after"
        st.setRef.before = b - a === 6 || b - a === 8;
        break;
    }
    if (need >= 0 && !(ext & (1 << need))) {
      ext |= 1 << need;
      st.extensionAt[need] = i - 1;
    }
  }
  st.adt.given = seen | flags;
  return ext;
}

/** 0xMARK or 0xMARK/0xMASK, 32-bit each (ipset_parse_skbmark, minus sscanf's leniency). */
export function checkSkbmark(st: ParseState, src: string, a: number, b: number): void {
  const slash = indexOfCode(src, 47, a, b);
  const ok = (x: number, y: number) => y - x >= 3 && y - x <= 10 && src.charCodeAt(x) === 48 &&
    (src.charCodeAt(x + 1) | 0x20) === 0x78 && cNumber(src, x, y) >= 0;
  if (!(slash < 0 ? ok(a, b) : ok(a, slash) && ok(slash + 1, b))) {
    fail(a, b, `invalid skbmark ${q(src, a, b)}: expected 0xMARK or 0xMARK/0xMASK`);
  }
  st.adt.skbmark = cNumber(src, a, slash < 0 ? b : slash);
  st.adt.skbmask = slash < 0 ? 0xffffffff : cNumber(src, slash + 1, b);
}

/** MAJOR:MINOR in hex, 16-bit each (ipset_parse_skbprio). */
export function checkSkbprio(st: ParseState, src: string, a: number, b: number): void {
  const colon = indexOfCode(src, 58, a, b);
  const ok = (x: number, y: number) => {
    if (y - x < 1 || y - x > 4) return false;
    for (let i = x; i < y; i++) if (hexValue(src.charCodeAt(i)) < 0) return false;
    return true;
  };
  if (colon < 0 || !ok(a, colon) || !ok(colon + 1, b)) fail(a, b, `invalid skbprio ${q(src, a, b)}: expected MAJOR:MINOR in hex`);
  st.adt.skbprio = parseInt(src.slice(a, colon), 16) * 65536 + parseInt(src.slice(colon + 1, b), 16);
}

// ---------------------------------------------------------------------------------------------
// Create options

/** What a create line said, as far as later lines and `-exist` need it. */
export interface CreateInfo {
  family: Family;
  ext: number;             // X_TIMEOUT | X_COUNTERS | X_COMMENT | X_SKBINFO
  timeout?: number;
  maxelem?: number;
  netmask?: number;
  bitmask?: string;
  markmask?: number;
  size?: number;
  /** bitmap bounds (addresses or ports). */
  from?: number;
  to?: number;
}

const CREATE_FLAGS: Record<string, number> = { counters: X_COUNTERS, comment: X_COMMENT, skbinfo: X_SKBINFO, forceadd: 0 };

/** The option a create token names ("--" allowed, "-4"/"-6" are the family aliases), or ''. */
function createOption(s: TypeSpec, tok: string): string {
  const name = tok.startsWith('--') ? tok.slice(2) : tok;
  if ((name === '-4' || name === '-6') && s.create.includes('family')) return name;
  return s.create.includes(name) || s.ignored.includes(name) ? name : '';
}

/** The options of a create line for type s: tokens [from, to). */
export function checkCreateOptions(st: ParseState, s: TypeSpec, src: string, ts: Int32Array, te: Int32Array, from: number, to: number): CreateInfo {
  const info: CreateInfo = { family: 'inet', ext: 0 };
  const seen = new Set<string>();
  let rangeAt = -1;
  // libipset reads the family first: the netmask's range depends on it.
  for (let i = from; i < to; i++) {
    const opt = createOption(s, src.slice(ts[i]!, te[i]!));
    if (opt === '-4' || opt === '-6' || opt === 'family') {
      if (seen.has('family')) fail(ts[i]!, te[i]!, 'family given twice');
      seen.add('family');
      if (opt !== 'family') {
        info.family = opt === '-4' ? 'inet' : 'inet6';
        continue;
      }
      if (++i >= to) fail(ts[i - 1]!, te[i - 1]!, `option 'family' needs a value`);
      const v = src.slice(ts[i]!, te[i]!);
      if (v === 'inet' || v === 'ipv4' || v === '-4') info.family = 'inet';
      else if (v === 'inet6' || v === 'ipv6' || v === '-6') info.family = 'inet6';
      else fail(ts[i]!, te[i]!, `unknown family ${q(src, ts[i]!, te[i]!)} (inet or inet6)`);
    } else if (opt && !(opt in CREATE_FLAGS)) {
      i++;
    }
  }
  seen.clear();
  for (let i = from; i < to; i++) {
    const a = ts[i]!;
    const b = te[i]!;
    const opt = createOption(s, src.slice(a, b));
    if (!opt) {
      const bare = src.slice(a, b).replace(/^--/, '');
      const other = [...TYPES.values()].some((t) => t.create.includes(bare) || t.ignored.includes(bare));
      fail(a, b, other ? `option ${q(src, a, b)} is not allowed with set type ${s.name}` : `unknown argument ${q(src, a, b)}`);
    }
    if (opt === '-4' || opt === '-6') continue;
    if (opt in CREATE_FLAGS) {
      info.ext |= CREATE_FLAGS[opt]!;
      continue;
    }
    if (++i >= to) fail(a, b, `option ${q(src, a, b)} needs a value`);
    const va = ts[i]!;
    const vb = te[i]!;
    if (s.ignored.includes(opt)) continue;
    if (opt !== 'family' && seen.has(opt)) fail(a, b, `option ${q(src, a, b)} is given twice`);
    seen.add(opt);
    if (opt === 'range' || opt === 'network' || opt === 'from' || opt === 'to') {
      // One range, however written: libipset stores from/network/range in one place, to/range in another.
      const clash = opt === 'to' ? ['range', 'network'] : ['range', 'network', 'from'].filter((o) => o !== opt);
      const other = clash.find((o) => seen.has(o));
      if (other) fail(a, b, `option ${q(src, a, b)} and '${other}' both give the range`);
      if (opt !== 'from') rangeAt = i;
    }
    if (opt === 'bitmask' && seen.has('netmask') || opt === 'netmask' && seen.has('bitmask')) {
      fail(a, b, 'netmask and bitmask are mutually exclusive');
    }
    checkCreateValue(st, s, opt, info, src, va, vb);
  }
  if (seen.has('from') !== seen.has('to')) fail(ts[from]!, te[to - 1]!, `option '${seen.has('from') ? 'to' : 'from'}' is missing (from and to give the range together)`);
  if (s.bitmap && rangeAt < 0) fail(ts[0]!, te[to - 1]!, `set type ${s.name} needs a range`);
  // --from B --to A is taken as A-B, as the kernel does.
  if (seen.has('from') && info.from !== undefined && info.to !== undefined && info.from > info.to) {
    const t = info.from; info.from = info.to; info.to = t;
  }
  if (s.name === 'bitmap:port' && (info.from === -1 || info.to === -1)) { info.from = undefined; info.to = undefined; }
  if (s.bitmap && s.name !== 'bitmap:port') checkBitmapSize(info, src, ts[rangeAt]!, te[rangeAt]!);
  return info;
}

function checkCreateValue(st: ParseState, s: TypeSpec, opt: string, info: CreateInfo, src: string, a: number, b: number): void {
  switch (opt) {
    case 'hashsize':
    case 'maxelem':
    case 'size':
    case 'initval':
    case 'markmask': {
      const v = checkNumber(src, a, b, 0, 0xffffffff, opt);
      if (opt === 'maxelem') info.maxelem = v;
      else if (opt === 'size') info.size = v;
      else if (opt === 'markmask') info.markmask = v;
      return;
    }
    case 'bucketsize':
      checkNumber(src, a, b, 0, 255, opt);
      return;
    case 'timeout':
      info.timeout = checkNumber(src, a, b, 0, MAX_TIMEOUT, opt);
      info.ext |= X_TIMEOUT;
      return;
    case 'netmask':
      info.netmask = checkNumber(src, a, b, 1, info.family === 'inet6' ? 128 : 32, opt);
      return;
    case 'bitmask':
      if (info.family === 'inet6' ? !parseIPv6(st, src, a, b) : parseIPv4(src, a, b) < 0) addressError(st, src, a, b, info.family);
      info.bitmask = src.slice(a, b);
      return;
    case 'range':
      if (s.name === 'bitmap:port') {
        if (separator(src, 45, a, b) < 0) fail(a, b, `range ${q(src, a, b)} must be FROM-TO`);
        checkTcpUdpPort(st, src, a, b);
        // Unresolvable service names (no /etc/services) leave the bounds unknown.
        if (st.ports.from >= 0 && st.ports.to >= 0) {
          info.from = Math.min(st.ports.from, st.ports.to);
          info.to = Math.max(st.ports.from, st.ports.to);
        }
        return;
      }
      if (separator(src, 47, a, b) < 0 && separator(src, 45, a, b) < 0) fail(a, b, `range ${q(src, a, b)} must be FROM-TO or a network`);
      checkAddress(st, src, a, b, 'inet', IP_ANY, { noZeroCidr: false, nonZero: false, wholeRange: true });
      info.from = st.range.from;
      info.to = st.range.to;
      return;
    // ipset 4's options, which libipset still takes for bitmaps (IPSET_ARG_FROM_IP/TO_IP/NETWORK,
    // IPSET_ARG_FROM_PORT/TO_PORT) and sends as the range.
    case 'from':
    case 'to': {
      const v = s.name === 'bitmap:port' ? checkPort(src, a, b, 'tcp') : parseIPv4Aton(src, a, b);
      if (s.name !== 'bitmap:port' && v < 0) addressError(st, src, a, b, 'inet');
      if (opt === 'from') info.from = v;
      else info.to = v;
      return;
    }
    case 'network':
      if (separator(src, 47, a, b) < 0) fail(a, b, `network ${q(src, a, b)} must be ADDRESS/PREFIX`);
      checkAddress(st, src, a, b, 'inet', IP_NET, { noZeroCidr: false, nonZero: false });
      info.from = st.range.from;
      info.to = st.range.to;
      return;
  }
}

/**
 * bitmap:ip(,mac) holds at most 65536 elements; with a netmask, the kernel widens the range to
 * whole netmask blocks and wants its end to fall in a network starting at its start
 * (range_to_mask() of ip_set_bitmap_ip.c), with the netmask longer than that network's prefix.
 */
function checkBitmapSize(info: CreateInfo, src: string, a: number, b: number): void {
  if (info.from === undefined || info.to === undefined) return;
  let elements = info.to - info.from + 1;
  if (info.netmask !== undefined && info.netmask < 32) {
    const block = 2 ** (32 - info.netmask);
    info.from -= info.from % block;
    info.to += block - 1 - (info.to % block);
    let bits = 31;
    for (; bits > 0; bits--) if (((info.to & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0) === info.from) break;
    // range_to_mask() finds no network for the whole space, which bitmap_ip_create() lets through.
    const whole = info.from === 0 && info.to === 0xffffffff;
    if ((bits === 0 && !whole) || info.netmask <= bits) {
      fail(a, b, `range ${q(src, a, b)} does not fit netmask ${info.netmask}: it must lie in a network shorter than the netmask`);
    }
    elements = 2 ** (info.netmask - bits);
  }
  if (elements > 65536) fail(a, b, `range ${q(src, a, b)} has more than the 65536 elements a bitmap can hold`);
}

// ---------------------------------------------------------------------------------------------
// Lines

/**
 * Splits src[a,b) into arguments as build_argv() does: blanks (space, tab, CR, LF) separate,
 * double quotes group and are dropped, empty arguments vanish. Sets `args`; ts/te get each
 * argument's offsets in st.args.src, tc where it starts in src. st.args.src is src itself unless a
 * quote stands inside an argument (a"b c"d): then the arguments are copied, joined by spaces.
 */
export function splitArgs(st: ParseState, src: string, a: number, b: number, ts: Int32Array, te: Int32Array, tc: Int32Array): void {
  if (!splitInto(st, src, a, b, ts, te, tc, false)) splitInto(st, src, a, b, ts, te, tc, true);
}

const isBlank = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 10;

/**
 * The one argument loop behind splitArgs. Without `copy` every argument stays a slice of src and
 * it gives up (false) at a quote inside an argument; with `copy` each argument is copied without
 * its quotes into a new string (the rare case, so the common one allocates nothing).
 */
function splitInto(st: ParseState, src: string, a: number, b: number, ts: Int32Array, te: Int32Array, tc: Int32Array, copy: boolean): boolean {
  let out = '';
  let n = 0;
  let i = a;
  let last = a;
  while (i < b) {
    let c = src.charCodeAt(i);
    if (isBlank(c)) {
      i++;
      continue;
    }
    const begin = i;
    let s = i;
    let e = i;
    let tok = '';
    if (copy) {
      let seg = i;
      let inQuote = false;
      let open = -1;
      for (; i < b; i++) {
        c = src.charCodeAt(i);
        if (c === 34) {
          tok += src.slice(seg, i);
          seg = i + 1;
          inQuote = !inQuote;
          open = i;
        } else if (!inQuote && isBlank(c)) {
          break;
        }
      }
      if (inQuote) fail(open, b, 'missing close quote');
      tok += src.slice(seg, i);
      if (tok.length === 0) continue;
    } else if (c === 34) {
      // "..." as a whole argument stays a slice of src.
      const close = src.indexOf('"', i + 1);
      if (close < 0 || close >= b) fail(i, b, 'missing close quote');
      if (close + 1 < b && !isBlank(src.charCodeAt(close + 1))) return false;
      s = i + 1;
      e = close;
      i = close + 1;
      if (s === e) continue;
    } else {
      for (; i < b; i++) {
        c = src.charCodeAt(i);
        if (isBlank(c)) break;
        if (c === 34) return false;
      }
      e = i;
    }
    if (n >= ts.length) fail(copy ? begin : s, b, `more than ${MAX_ARGS} arguments on one line`);
    if (copy) {
      if (n > 0) out += ' ';
      s = out.length;
      out += tok;
      e = out.length;
    }
    ts[n] = s;
    te[n] = e;
    tc[n++] = begin;
    last = i;
  }
  st.args.n = n;
  st.args.src = copy ? out : src;
  st.args.end = last;
  return true;
}

