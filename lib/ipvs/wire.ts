// IPVS's generic netlink protocol (family "IPVS", version 1; linux/ip_vs.h), written and read
// by TypeScript. The native side stamps family id, sequence numbers and flags, and moves bytes.
import { AttrWriter } from '../netlink/attr-writer.js';
import { GENL_HDRLEN, NLA_TYPE_MASK, NLM_F_DUMP } from '../netlink/headers.js';
import { attrIndex as index, forEachNest as forEachNestOf, str } from '../netlink/reader.js';
import { AF_INET, AF_INET6, formatIPv4, formatIPv6 } from './addr.js';
import type { Stats } from './types.js';

export const enum Cmd {
  NewService = 1, SetService = 2, DelService = 3, GetService = 4,
  NewDest = 5, SetDest = 6, DelDest = 7, GetDest = 8,
  NewDaemon = 9, DelDaemon = 10, GetDaemon = 11,
  SetConfig = 12, GetConfig = 13, SetInfo = 14, GetInfo = 15, Zero = 16, Flush = 17,
}

export const enum CmdAttr { Service = 1, Dest = 2, Daemon = 3, TimeoutTcp = 4, TimeoutTcpFin = 5, TimeoutUdp = 6 }
export const enum SvcAttr {
  Af = 1, Protocol = 2, Addr = 3, Port = 4, Fwmark = 5, SchedName = 6, Flags = 7, Timeout = 8, Netmask = 9,
  Stats = 10, PeName = 11, Stats64 = 12,
}
export const enum DestAttr {
  Addr = 1, Port = 2, FwdMethod = 3, Weight = 4, UThresh = 5, LThresh = 6, ActiveConns = 7, InactConns = 8,
  PersistConns = 9, Stats = 10, AddrFamily = 11, Stats64 = 12, TunType = 13, TunPort = 14, TunFlags = 15,
}
export const enum DaemonAttr { State = 1, McastIfn = 2, SyncId = 3, SyncMaxlen = 4, McastGroup = 5, McastGroup6 = 6, McastPort = 7, McastTtl = 8 }
export const enum InfoAttr { Version = 1, ConnTabSize = 2 }

const GENL_VERSION = 1;

/** Everything that identifies a service (IPVS_SVC_ATTR_AF/PROTOCOL/ADDR/PORT or FWMARK). */
export interface WireKey {
  af: number;
  /** IPPROTO_*; 0 for a firewall-mark service. */
  protocol: number;
  addr: Uint8Array;
  port: number;
  fwmark: number;
}

export interface WireService extends WireKey {
  sched: string;
  flags: number;
  timeout: number;
  /** As the kernel holds it: a big-endian IPv4 mask, or an IPv6 prefix length. */
  netmask: number;
  pe: string;
}

export interface WireDest {
  af: number;
  addr: Uint8Array;
  port: number;
  fwd: number;
  weight: number;
  uThresh: number;
  lThresh: number;
  tunType: number;
  tunPort: number;
  tunFlags: number;
}

/**
 * A real server's settings after its key: field, IPVS_DEST_ATTR_*, width in bytes, network
 * order. dest() writes them in this order (libipvs's) and parseDest() reads them back.
 */
const DEST_SETTINGS = [
  ['fwd', DestAttr.FwdMethod, 4, false],
  ['weight', DestAttr.Weight, 4, false],
  ['uThresh', DestAttr.UThresh, 4, false],
  ['lThresh', DestAttr.LThresh, 4, false],
  ['tunType', DestAttr.TunType, 1, false],
  ['tunPort', DestAttr.TunPort, 2, true],
  ['tunFlags', DestAttr.TunFlags, 2, false],
] as const satisfies readonly (readonly [keyof WireDest, DestAttr, 1 | 2 | 4, boolean])[];

type DestSetting = (typeof DEST_SETTINGS)[number][0];

/** IPVS's generic netlink messages: headers, and the service and real-server nests. */
export class GenlWriter extends AttrWriter {
  readonly ends: number[] = [];
  private msg = 0;

  constructor(size = 4096) {
    super(size);
  }

  /** Starts a message: nlmsghdr (type, seq and port stamped natively) + genlmsghdr. */
  begin(cmd: Cmd, dump = false): this {
    this.ensure(20);
    const b = this.buf, at = this.pos;
    this.msg = at;
    b.writeUInt32LE(0, at);
    b.writeUInt16LE(0, at + 4);
    b.writeUInt16LE(!dump ? 0 : NLM_F_DUMP, at + 6);
    b.writeUInt32LE(0, at + 8);
    b.writeUInt32LE(0, at + 12);
    b[at + 16] = cmd;
    b[at + 17] = GENL_VERSION;
    b.writeUInt16LE(0, at + 18);
    this.pos += 20;
    return this;
  }

  end(): void {
    this.buf.writeUInt32LE(this.pos - this.msg, this.msg);
    this.ends.push(this.pos);
  }

  /** endNest, under the name the IPVS handle uses. */
  close(at: number): void {
    this.endNest(at);
  }

  /** The service's identifying attributes, inside IPVS_CMD_ATTR_SERVICE. */
  serviceKey(k: WireKey): number {
    const at = this.nest(CmdAttr.Service);
    this.u16(SvcAttr.Af, k.af);
    if (k.fwmark) {
      this.u32(SvcAttr.Fwmark, k.fwmark);
    } else {
      this.u16(SvcAttr.Protocol, k.protocol);
      this.endpoint(SvcAttr.Addr, SvcAttr.Port, k);
    }
    return at;
  }

  /** A full service entry, as NEW_SERVICE/SET_SERVICE need it. */
  service(s: WireService): void {
    const at = this.serviceKey(s);
    this.str(SvcAttr.SchedName, s.sched);
    if (s.pe) this.str(SvcAttr.PeName, s.pe);
    const fl = this.attr(SvcAttr.Flags, 8);  // struct ip_vs_flags { flags, mask }: every bit is set or cleared
    this.buf.writeUInt32LE(s.flags >>> 0, fl);
    this.buf.writeUInt32LE(0xffffffff, fl + 4);
    this.u32(SvcAttr.Timeout, s.timeout);
    // The kernel reads the 4 bytes as __be32: an IPv4 mask in network order, an IPv6 prefix
    // length as libipvs stores it (host order).
    if (s.af === AF_INET) this.be32(SvcAttr.Netmask, s.netmask);
    else this.u32(SvcAttr.Netmask, s.netmask);
    this.close(at);
  }

  destKey(d: Pick<WireDest, 'af' | 'addr' | 'port'>): number {
    const at = this.nest(CmdAttr.Dest);
    this.endpoint(DestAttr.Addr, DestAttr.Port, d);
    this.u16(DestAttr.AddrFamily, d.af);
    return at;
  }

  /** An address (union nf_inet_addr: 16 bytes, IPv4 in the first 4) and a network-order port, as services and real servers carry them. */
  private endpoint(addrType: number, portType: number, e: { addr: Uint8Array; port: number }): void {
    this.bytes(addrType, e.addr);
    this.be16(portType, e.port);
  }

  dest(d: WireDest): void {
    const at = this.destKey(d);
    for (const [field, type, size, be] of DEST_SETTINGS) this.uint(type, d[field], size, be);
    this.close(at);
  }

  batch(): { bytes: Uint8Array; ends: Uint32Array } {
    return { bytes: this.buf.subarray(0, this.pos), ends: Uint32Array.from(this.ends) };
  }
}

// ---- reading replies -------------------------------------------------------------------

/** Offsets of the attributes of one nest: index = attribute type, value = payload offset (0: absent). */
type AttrIndex = Int32Array;

export interface RawService extends WireService {
  stats64?: number;  // payload offset of IPVS_SVC_ATTR_STATS64, or of STATS on kernels without it (0: neither)
  statsEnd?: number;
}

export interface RawDest extends WireDest {
  active: number;
  inactive: number;
  persistent: number;
  /** Payload offset of IPVS_DEST_ATTR_STATS64, or of STATS on kernels without it (0: neither). */
  stats64: number;
  statsEnd: number;
}

/**
 * Walks the messages of one reply section and calls `each` with the payload range of the
 * given top-level attribute (a nest).
 */
export function forEachNest(b: Buffer, from: number, to: number, attr: number, each: (start: number, end: number) => void): void {
  forEachNestOf(b, from, to, GENL_HDRLEN, attr, each);
}

/** The top-level attributes of the first message in a section (GET_INFO, GET_CONFIG). */
export function topAttrs(b: Buffer, from: number, to: number, max: number): { at: AttrIndex; len: Int32Array } {
  const at = new Int32Array(max + 1), len = new Int32Array(max + 1);
  if (from + 20 <= to) index(b, from + 20, Math.min(to, from + b.readUInt32LE(from)), max, at, len);
  return { at, len };
}

const svcIdx = new Int32Array(SvcAttr.Stats64 + 1), svcLen = new Int32Array(SvcAttr.Stats64 + 1);
const destIdx = new Int32Array(DestAttr.TunFlags + 1), destLen = new Int32Array(DestAttr.TunFlags + 1);

const u16 = (b: Buffer, at: number, dflt = 0) => (at ? b.readUInt16LE(at) : dflt);
const u32 = (b: Buffer, at: number, dflt = 0) => (at ? b.readUInt32LE(at) : dflt);

const readString = (b: Buffer, at: number, len: number): string => (at ? str(b, at, len, 'latin1') : '');

/** A service's or real server's address attribute (at 0: absent) as the 16 bytes of nf_inet_addr. */
function readAddr(b: Buffer, at: number, len: number): Uint8Array {
  const addr = new Uint8Array(16);
  if (at) addr.set(b.subarray(at, at + Math.min(16, len)));
  return addr;
}

export function parseService(b: Buffer, start: number, end: number): RawService {
  index(b, start, end, SvcAttr.Stats64, svcIdx, svcLen);
  const af = u16(b, svcIdx[SvcAttr.Af]!);
  const addr = readAddr(b, svcIdx[SvcAttr.Addr]!, svcLen[SvcAttr.Addr]!);
  const fwmark = u32(b, svcIdx[SvcAttr.Fwmark]!);
  const fl = svcIdx[SvcAttr.Flags]!;
  const nm = svcIdx[SvcAttr.Netmask]!;
  const s: RawService = {
    af,
    protocol: fwmark ? 0 : u16(b, svcIdx[SvcAttr.Protocol]!),
    addr,
    port: svcIdx[SvcAttr.Port] ? b.readUInt16BE(svcIdx[SvcAttr.Port]!) : 0,
    fwmark,
    sched: readString(b, svcIdx[SvcAttr.SchedName]!, svcLen[SvcAttr.SchedName]!),
    flags: fl ? b.readUInt32LE(fl) : 0,
    timeout: u32(b, svcIdx[SvcAttr.Timeout]!),
    netmask: nm ? (af === AF_INET ? b.readUInt32BE(nm) : b.readUInt32LE(nm)) : 0,
    pe: readString(b, svcIdx[SvcAttr.PeName]!, svcLen[SvcAttr.PeName]!),
  };
  // Kernels before 4.1 send only the 32-bit STATS nest.
  const sa = svcIdx[SvcAttr.Stats64] ? SvcAttr.Stats64 : SvcAttr.Stats;
  if (svcIdx[sa]) {
    s.stats64 = svcIdx[sa]!;
    s.statsEnd = s.stats64 + svcLen[sa]!;
  }
  return s;
}

export function parseDest(b: Buffer, start: number, end: number, serviceAf: number): RawDest {
  index(b, start, end, DestAttr.TunFlags, destIdx, destLen);
  const addr = readAddr(b, destIdx[DestAttr.Addr]!, destLen[DestAttr.Addr]!);
  // Kernels before 4.1 send only the 32-bit STATS nest; before 5.x no ADDR_FAMILY (the service's then).
  const sa = destIdx[DestAttr.Stats64] ? DestAttr.Stats64 : DestAttr.Stats;
  const st = destIdx[sa]!;
  const set = {} as Pick<WireDest, DestSetting>;
  for (const [field, type, size, be] of DEST_SETTINGS) {
    const p = destIdx[type]!;
    set[field] = !p ? 0 : be ? b.readUIntBE(p, size) : b.readUIntLE(p, size);
  }
  return {
    af: u16(b, destIdx[DestAttr.AddrFamily]!, serviceAf),
    addr,
    port: destIdx[DestAttr.Port] ? b.readUInt16BE(destIdx[DestAttr.Port]!) : 0,
    ...set,
    fwd: set.fwd & 7,
    active: u32(b, destIdx[DestAttr.ActiveConns]!),
    inactive: u32(b, destIdx[DestAttr.InactConns]!),
    persistent: u32(b, destIdx[DestAttr.PersistConns]!),
    stats64: st,
    statsEnd: st ? st + destLen[sa]! : 0,
  };
}

/**
 * IPVS_STATS_ATTR_* of a STATS64 nest (every value a u64) or of the older STATS nest (u32
 * counters and rates, u64 bytes): each value read at the width its attribute has.
 */
export function parseStats(b: Buffer, start: number, end: number): Stats {
  const v = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  let p = start;
  while (p + 4 <= end) {
    const len = b.readUInt16LE(p);
    if (len < 4 || p + len > end) break;
    const t = b.readUInt16LE(p + 2) & NLA_TYPE_MASK;
    if (t >= 1 && t <= 10 && len >= 12) {
      // Most counters and rates fit in 32 bits (many are 0): one BigInt instead of three.
      const lo = b.readUInt32LE(p + 4), hi = b.readUInt32LE(p + 8);
      v[t] = hi === 0 ? (lo === 0 ? 0n : BigInt(lo)) : b.readBigUInt64LE(p + 4);
    } else if (t >= 1 && t <= 10 && len >= 8) {
      const lo = b.readUInt32LE(p + 4);
      v[t] = lo === 0 ? 0n : BigInt(lo);
    }
    p += (len + 3) & ~3;
  }
  return {
    connections: v[1]!, packetsIn: v[2]!, packetsOut: v[3]!, bytesIn: v[4]!, bytesOut: v[5]!,
    connectionRate: v[6]!, packetRateIn: v[7]!, packetRateOut: v[8]!, byteRateIn: v[9]!, byteRateOut: v[10]!,
  };
}

export const zeroStats = (): Stats => ({
  connections: 0n, packetsIn: 0n, packetsOut: 0n, bytesIn: 0n, bytesOut: 0n,
  connectionRate: 0n, packetRateIn: 0n, packetRateOut: 0n, byteRateIn: 0n, byteRateOut: 0n,
});

export function addrText(af: number, a: Uint8Array): string {
  return af === AF_INET6 ? formatIPv6(a, 0) : formatIPv4(a, 0);
}

export function parseDaemon(b: Buffer, start: number, end: number) {
  const at = new Int32Array(DaemonAttr.McastTtl + 1), len = new Int32Array(DaemonAttr.McastTtl + 1);
  index(b, start, end, DaemonAttr.McastTtl, at, len);
  return {
    state: u32(b, at[DaemonAttr.State]!),
    ifn: readString(b, at[DaemonAttr.McastIfn]!, len[DaemonAttr.McastIfn]!),
    syncId: u32(b, at[DaemonAttr.SyncId]!),
    maxLen: at[DaemonAttr.SyncMaxlen] ? b.readUInt16LE(at[DaemonAttr.SyncMaxlen]!) : undefined,
    group: at[DaemonAttr.McastGroup] ? formatIPv4(b, at[DaemonAttr.McastGroup]!)
      : at[DaemonAttr.McastGroup6] ? formatIPv6(b, at[DaemonAttr.McastGroup6]!) : undefined,
    port: at[DaemonAttr.McastPort] ? b.readUInt16LE(at[DaemonAttr.McastPort]!) : undefined,
    ttl: at[DaemonAttr.McastTtl] ? b[at[DaemonAttr.McastTtl]!] : undefined,
  };
}

export { AF_INET, AF_INET6 };
