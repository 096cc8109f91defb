// rtnetlink (NETLINK_ROUTE) messages for links and addresses, written and read in TypeScript:
// the native side only stamps sequence numbers, writes a resolved link index, and moves bytes.
// Requests carry the same attributes iproute2 sends for the equivalent `ip` command.
import { AttrWriter } from '../netlink/attr-writer.js';
import { NLMSG_HDRLEN, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST } from '../netlink/headers.js';
import { forEachAttr as eachAttr, forEachMessage, str as cstr } from '../netlink/reader.js';
import { AF_INET, AF_INET6, formatIp, type Family, type Prefix } from './addr.js';
import type { Link } from './types.js';

export const enum Rtm {
  NewLink = 16, DelLink = 17, GetLink = 18,
  NewAddr = 20, DelAddr = 21, GetAddr = 22,
  NewRoute = 24, DelRoute = 25, GetRoute = 26,
  NewRule = 32, DelRule = 33, GetRule = 34,
}

// The flags as the link handle and its tests import them; defined in lib/netlink/headers.ts.
export { NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST } from '../netlink/headers.js';
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;

const enum Ifla { Address = 1, IfName = 3, Mtu = 4, Link = 5, Master = 10, OperState = 16, LinkInfo = 18, ExtMask = 29 }
const IFLA_INFO_KIND = 1;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
export const IFF_UP = 0x1;

const enum Ifa { Address = 1, Local = 2, Label = 3, Broadcast = 4, CacheInfo = 6, Flags = 8 }

export const RT_SCOPE_UNIVERSE = 0, RT_SCOPE_SITE = 200, RT_SCOPE_LINK = 253, RT_SCOPE_HOST = 254, RT_SCOPE_NOWHERE = 255;

/** Requests in one buffer; request i is bytes[ends[i-1] .. ends[i]). */
export interface Batch {
  bytes: Uint8Array;
  ends: Uint32Array;
}

/** rtnetlink messages: nlmsghdr, ifinfomsg/ifaddrmsg, and attributes in iproute2's shapes. */
export class RtWriter extends AttrWriter {
  private msg = -1;
  private readonly ends: number[] = [];

  constructor(size = 4096) {
    super(size);
  }

  private zero(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  /** Starts a message; sequence number and port id are the native side's. */
  begin(type: Rtm, flags: number): void {
    this.msg = this.pos;
    this.zero(NLMSG_HDRLEN);
    this.buf.writeUInt16LE(type, this.msg + 4);
    this.buf.writeUInt16LE(flags, this.msg + 6);
  }

  /** struct ifinfomsg. The index stays 0 when the link is named by IFLA_IFNAME. */
  ifinfo(index = 0, flags = 0, change = 0): void {
    const at = this.pos;
    this.zero(IFINFOMSG_LEN);
    this.buf.writeInt32LE(index, at + 4);
    this.buf.writeUInt32LE(flags >>> 0, at + 8);
    this.buf.writeUInt32LE(change >>> 0, at + 12);
  }

  /** struct ifaddrmsg; the native side writes the link's index. */
  ifaddr(family: number, prefixlen = 0, scope = 0, flags = 0): void {
    const at = this.pos;
    this.zero(IFADDRMSG_LEN);
    this.buf[at] = family;
    this.buf[at + 1] = prefixlen;
    this.buf[at + 2] = flags;
    this.buf[at + 3] = scope;
  }

  /** struct rtmsg (routes; rules share its layout as fib_rule_hdr). */
  rtmsg(r: { family: number; dstLen?: number; srcLen?: number; tos?: number; table?: number; protocol?: number; scope?: number; type?: number; flags?: number }): void {
    const at = this.pos;
    this.zero(RTMSG_LEN);
    this.buf[at] = r.family;
    this.buf[at + 1] = r.dstLen ?? 0;
    this.buf[at + 2] = r.srcLen ?? 0;
    this.buf[at + 3] = r.tos ?? 0;
    this.buf[at + 4] = r.table ?? 0;
    this.buf[at + 5] = r.protocol ?? 0;
    this.buf[at + 6] = r.scope ?? 0;
    this.buf[at + 7] = r.type ?? 0;
    this.buf.writeUInt32LE((r.flags ?? 0) >>> 0, at + 8);
  }

  /** Raw bytes in place (an rtnexthop inside RTA_MULTIPATH); returns where they start. */
  put(b: Uint8Array): number {
    const at = this.pos;
    this.ensure(b.length);
    this.buf.set(b, at);
    this.pos += b.length;
    return at;
  }

  /** Patches a u16 already written (a length known only at the end). */
  patchU16(at: number, v: number): void {
    this.buf.writeUInt16LE(v, at);
  }

  get offset(): number {
    return this.pos;
  }

  /** A string without the NUL, as iproute2 sends IFLA_INFO_KIND. */
  raw(type: number, b: Uint8Array | string): void {
    this.bytes(type, typeof b === 'string' ? Buffer.from(b) : b);
  }

  /** Starts a nest; iproute2 leaves NLA_F_NESTED off, and so does `plain`. */
  override nest(type: number, plain = false): number {
    return plain ? this.attr(type, 0) - 4 : super.nest(type);
  }

  end(): void {
    this.buf.writeUInt32LE(this.pos - this.msg, this.msg);
    this.ends.push(this.pos);
  }

  get count(): number {
    return this.ends.length;
  }

  batch(): Batch {
    return { bytes: this.buf.subarray(0, this.pos), ends: Uint32Array.from(this.ends) };
  }
}

/** `ip link add NAME [up] [mtu N] type KIND`, attribute for attribute. */
export function newLink(w: RtWriter, name: string, kind: string, o: { up: boolean; mtu?: number }): void {
  w.begin(Rtm.NewLink, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
  w.ifinfo(0, o.up ? IFF_UP : 0, o.up ? IFF_UP : 0);
  if (o.mtu !== undefined) w.u32(Ifla.Mtu, o.mtu);
  w.str(Ifla.IfName, name);
  const info = w.nest(Ifla.LinkInfo, true);
  w.raw(IFLA_INFO_KIND, kind);
  w.endNest(info);
  w.end();
}

/** `ip link set NAME [up|down] [mtu N]` */
export function setLink(w: RtWriter, name: string, o: { up?: boolean; mtu?: number }): void {
  w.begin(Rtm.NewLink, NLM_F_REQUEST);
  w.ifinfo(0, o.up ? IFF_UP : 0, o.up === undefined ? 0 : IFF_UP);
  w.str(Ifla.IfName, name);
  if (o.mtu !== undefined) w.u32(Ifla.Mtu, o.mtu);
  w.end();
}

/** `ip link del NAME` */
export function delLink(w: RtWriter, name: string): void {
  w.begin(Rtm.DelLink, NLM_F_REQUEST);
  w.ifinfo();
  w.str(Ifla.IfName, name);
  w.end();
}

/** One link by name (answered with RTM_NEWLINK, or ENODEV). */
export function getLink(w: RtWriter, name: string): void {
  w.begin(Rtm.GetLink, NLM_F_REQUEST);
  w.ifinfo();
  w.str(Ifla.IfName, name);
  w.u32(Ifla.ExtMask, RTEXT_FILTER_SKIP_STATS);
  w.end();
}

export function dumpLinks(w: RtWriter): void {
  w.begin(Rtm.GetLink, NLM_F_REQUEST | NLM_F_DUMP);
  w.ifinfo();
  w.u32(Ifla.ExtMask, RTEXT_FILTER_SKIP_STATS);
  w.end();
}

/** Every address of both families; of one link when the native side writes its index. */
export function dumpAddrs(w: RtWriter): void {
  w.begin(Rtm.GetAddr, NLM_F_REQUEST | NLM_F_DUMP);
  w.ifaddr(0);
  w.end();
}

/** iproute2's default_scope(): 127.0.0.0/8 is host scope, everything else universe (IPv6: the kernel decides). */
export const defaultScope = (p: Prefix): number => (p.family === 'inet' && p.bytes[0] === 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE);

export interface AddrAttrs {
  scope?: number;
  /** IFA_F_* beyond the 8 bits of ifaddrmsg go in IFA_FLAGS. */
  flags?: number;
  label?: string;
  peer?: Uint8Array;
  broadcast?: Uint8Array;
}

/**
 * `ip addr add|del ADDR/LEN dev LINK`: IFA_LOCAL and IFA_ADDRESS both carry the address (the
 * peer, when one is given, goes in IFA_ADDRESS). The link's index is the native side's.
 */
export function addrMessage(w: RtWriter, type: Rtm.NewAddr | Rtm.DelAddr, p: Prefix, flags: number, a: AddrAttrs = {}): void {
  w.begin(type, flags);
  // `ip addr del` sends no flags (IPv6 would read IFA_F_MANAGETEMPADDR as "clean up temporaries").
  const ifaFlags = type === Rtm.DelAddr ? 0 : a.flags ?? 0;
  w.ifaddr(p.family === 'inet' ? AF_INET : AF_INET6, p.prefixlen,
    type === Rtm.DelAddr ? 0 : a.scope ?? defaultScope(p), ifaFlags & 0xff);
  w.raw(Ifa.Local, p.bytes);
  w.raw(Ifa.Address, a.peer ?? p.bytes);
  if (a.broadcast && type === Rtm.NewAddr) w.raw(Ifa.Broadcast, a.broadcast);
  if (a.label !== undefined && type === Rtm.NewAddr) w.str(Ifa.Label, a.label);
  if (ifaFlags > 0xff && type === Rtm.NewAddr) w.u32(Ifa.Flags, ifaFlags);
  w.end();
}

// ---- replies ----

/** Calls fn(type, offset, length) for each message in data[from, to) (lib/netlink/reader.ts). */
export const eachMessage = forEachMessage;

/**
 * What `parse` makes of each message of one type in data[from, to), in order; messages it
 * returns undefined for (another family) are left out.
 * @example const links = collect(r.data, 0, r.sections[0]!, Rtm.NewLink, parseLink);
 */
export function collect<T>(data: Buffer, from: number, to: number, type: number,
  parse: (data: Buffer, at: number, len: number) => T | undefined): T[] {
  const out: T[] = [];
  forEachMessage(data, from, to, (t, at, len) => {
    if (t !== type) return;
    const v = parse(data, at, len);
    if (v !== undefined) out.push(v);
  });
  return out;
}

const hex = (data: Buffer, at: number, len: number): string => {
  const parts: string[] = [];
  for (let i = 0; i < len; i++) parts.push(data[at + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
};

/** A link as parsed from RTM_NEWLINK for lookups: the first fields of the public Link (links.ts reads all of it). */
export type LinkRecord = Pick<Link, 'name' | 'index' | 'kind' | 'up' | 'mtu' | 'mac'>;

export function parseLink(data: Buffer, at: number, len: number): LinkRecord {
  const body = at + NLMSG_HDRLEN;
  const rec: LinkRecord = {
    name: '',
    index: data.readInt32LE(body + 4),
    up: (data.readUInt32LE(body + 8) & IFF_UP) !== 0,
    mtu: 0,
  };
  eachAttr(data, body + IFINFOMSG_LEN, at + len, (type, a, l) => {
    switch (type) {
      case Ifla.IfName: rec.name = cstr(data, a, l); break;
      case Ifla.Mtu: if (l >= 4) rec.mtu = data.readUInt32LE(a); break;
      case Ifla.Address: if (l > 0) rec.mac = hex(data, a, l); break;
      case Ifla.LinkInfo:
        eachAttr(data, a, a + l, (t, b, m) => {
          if (t === IFLA_INFO_KIND) rec.kind = cstr(data, b, m);
        });
        break;
    }
  });
  // Keep the documented key order (name first) whatever order the attributes came in.
  const { name, index, kind, up, mtu, mac } = rec;
  return { name, index, ...(kind !== undefined ? { kind } : {}), up, mtu, ...(mac !== undefined ? { mac } : {}) };
}

export interface AddrRecord {
  family: Family;
  index: number;
  prefixlen: number;
  scope: number;
  /** IFA_F_* (from IFA_FLAGS when present). */
  flags: number;
  /** The address (IFA_LOCAL, or IFA_ADDRESS when there is no IFA_LOCAL). */
  local: Uint8Array;
  /** IFA_ADDRESS when it differs from the local address (a point-to-point peer). */
  peer?: Uint8Array;
  broadcast?: Uint8Array;
  label?: string;
  /** Seconds; undefined for forever (0xffffffff). */
  validLft?: number;
  preferredLft?: number;
}

/**
 * The family of an rtnetlink message whose body starts with its address family (ifaddrmsg,
 * rtmsg, fib_rule_hdr, ndmsg): undefined for anything but IPv4 and IPv6.
 * @example const family = ipFamily(data, at + NLMSG_HDRLEN); if (!family) return undefined;
 */
export function ipFamily(data: Buffer, body: number): Family | undefined {
  const af = data[body];
  return af === AF_INET ? 'inet' : af === AF_INET6 ? 'inet6' : undefined;
}

export function parseAddr(data: Buffer, at: number, len: number): AddrRecord | undefined {
  const body = at + NLMSG_HDRLEN;
  const family = ipFamily(data, body);
  if (!family) return undefined;
  const size = family === 'inet' ? 4 : 16;
  const rec: AddrRecord = {
    family,
    local: EMPTY,
    prefixlen: data[body + 1]!,
    flags: data[body + 2]!,
    scope: data[body + 3]!,
    index: (data[body + 4]! | (data[body + 5]! << 8) | (data[body + 6]! << 16) | (data[body + 7]! << 24)) >>> 0,
  };
  // A 20k-address dump is 20k of these: plain loops and byte reads, no closures.
  let local = -1, address = -1;
  const end = at + len;
  for (let a = body + IFADDRMSG_LEN; a + 4 <= end;) {
    const l = data[a]! | (data[a + 1]! << 8);
    if (l < 4 || a + l > end) break;
    const type = (data[a + 2]! | (data[a + 3]! << 8)) & 0x3fff;
    const v = a + 4, n = l - 4;
    switch (type) {
      case Ifa.Local: if (n >= size) local = v; break;
      case Ifa.Address: if (n >= size) address = v; break;
      case Ifa.Broadcast: if (n >= size) rec.broadcast = copyBytes(data, v, size); break;
      case Ifa.Label: rec.label = cstr(data, v, n); break;
      case Ifa.Flags: if (n >= 4) rec.flags = data.readUInt32LE(v); break;
      case Ifa.CacheInfo:
        if (n >= 8) {
          const pref = data.readUInt32LE(v), valid = data.readUInt32LE(v + 4);
          if (valid !== 0xffffffff) rec.validLft = valid;
          if (pref !== 0xffffffff) rec.preferredLft = pref;
        }
        break;
    }
    a += (l + 3) & ~3;
  }
  const from = local >= 0 ? local : address;
  if (from < 0) return undefined;
  if (local >= 0 && address >= 0 && data.compare(data, address, address + size, local, local + size) !== 0) {
    rec.peer = copyBytes(data, address, size);
  }
  rec.local = copyBytes(data, from, size);
  return rec;
}

const EMPTY = new Uint8Array(0);

function copyBytes(data: Buffer, at: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = data[at + i]!;
  return out;
}

export const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

export const ipText = (r: AddrRecord): string => formatIp(r.family, r.local);
