// RTM_NEWLINK requests for every link kind `h.add` makes, with the attributes iproute2's
// `ip link add ... type KIND` and `ip link set` send, and the link record as `ip -j -s link show`
// reports it (flags, operstate, master, parent/peer, statistics).
import { NLMSG_HDRLEN, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST } from '../netlink/headers.js';
import { forEachAttr, str as cstr } from '../netlink/reader.js';
import { Rtm, RtWriter, IFF_UP } from './wire.js';
import type { LinkStats } from './types.js';

export const enum Ifla {
  Address = 1, IfName = 3, Mtu = 4, Link = 5, Master = 10, OperState = 16, LinkInfo = 18, Stats64 = 23,
  NetNsFd = 28, ExtMask = 29, LinkNetnsid = 37,
}
const IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, IFLA_INFO_SLAVE_KIND = 4;
const VETH_INFO_PEER = 1;
const IFINFOMSG_LEN = 16;

/** What `h.add` sends for one link, already checked and with names resolved to indexes. */
export interface LinkSpec {
  name: string;
  kind: string;
  up: boolean;
  mtu?: number;
  mac?: Uint8Array;
  /** IFLA_MASTER: the bridge's index. */
  master?: number;
  /** IFLA_LINK: the parent's index (vlan, macvlan; vxlan and tunnels take it as their `dev`). */
  link?: number;
  /** veth: the other end; `nsFd` an open namespace file it is created in. */
  peer?: { name: string; mac?: Uint8Array; nsFd?: number };
  /** vlan id, vxlan VNI. */
  id?: number;
  /** macvlan mode (MACVLAN_MODE_*). */
  mode?: number;
  /** vxlan/tunnel endpoints (4 or 16 bytes; tunnels: IPv4 only). */
  local?: Uint8Array;
  remote?: Uint8Array;
  /** vxlan UDP destination port. */
  port?: number;
  ttl?: number;
}

export const MACVLAN_MODES: Record<string, number> = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 };

// IFLA_VLAN_*, IFLA_MACVLAN_*, IFLA_VXLAN_*, IFLA_IPTUN_*, IFLA_GRE_*
const VLAN_ID = 1;
const MACVLAN_MODE = 1;
const VXLAN_ID = 1, VXLAN_GROUP = 2, VXLAN_LINK = 3, VXLAN_LOCAL = 4, VXLAN_TTL = 5, VXLAN_PORT = 15, VXLAN_GROUP6 = 16, VXLAN_LOCAL6 = 17;
const IPTUN_LINK = 1, IPTUN_LOCAL = 2, IPTUN_REMOTE = 3, IPTUN_TTL = 4, IPTUN_TOS = 5, IPTUN_FLAGS = 8, IPTUN_PROTO = 9, IPTUN_PMTUDISC = 10;
const IPTUN_ENCAP_TYPE = 15, IPTUN_ENCAP_FLAGS = 16, IPTUN_ENCAP_SPORT = 17, IPTUN_ENCAP_DPORT = 18, IPTUN_FWMARK = 20;
const ANY4 = new Uint8Array(4);
const GRE_LINK = 1, GRE_LOCAL = 6, GRE_REMOTE = 7, GRE_TTL = 8;

/** `ip link add NAME [address MAC] [mtu N] [master M] [link P] [up] type KIND [options]`. */
export function addLinkMessage(w: RtWriter, s: LinkSpec): void {
  w.begin(Rtm.NewLink, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
  w.ifinfo(0, s.up ? IFF_UP : 0, s.up ? IFF_UP : 0);
  w.str(Ifla.IfName, s.name);
  if (s.mtu !== undefined) w.u32(Ifla.Mtu, s.mtu);
  if (s.mac) w.raw(Ifla.Address, s.mac);
  if (s.master !== undefined) w.u32(Ifla.Master, s.master);
  // Tunnels and vxlan name their underlay device inside their own data, as ip does.
  if (s.link !== undefined && (s.kind === 'vlan' || s.kind === 'macvlan')) w.u32(Ifla.Link, s.link);
  const info = w.nest(Ifla.LinkInfo, true);
  w.raw(IFLA_INFO_KIND, s.kind);
  const data = kindData(s);
  if (data) {
    const d = w.nest(IFLA_INFO_DATA, true);
    data(w);
    w.endNest(d);
  }
  w.endNest(info);
  w.end();
}

function kindData(s: LinkSpec): ((w: RtWriter) => void) | undefined {
  switch (s.kind) {
    case 'veth':
      if (!s.peer) return undefined;
      return (w) => {
        const p = w.nest(VETH_INFO_PEER, true);
        w.ifinfo();
        w.str(Ifla.IfName, s.peer!.name);
        if (s.peer!.mac) w.raw(Ifla.Address, s.peer!.mac);
        if (s.peer!.nsFd !== undefined) w.u32(Ifla.NetNsFd, s.peer!.nsFd);
        w.endNest(p);
      };
    case 'vlan':
      return (w) => w.u16(VLAN_ID, s.id!);
    case 'macvlan':
      return s.mode === undefined ? undefined : (w) => w.u32(MACVLAN_MODE, s.mode!);
    case 'vxlan':
      return (w) => {
        w.u32(VXLAN_ID, s.id!);
        if (s.remote) w.raw(s.remote.length === 4 ? VXLAN_GROUP : VXLAN_GROUP6, s.remote);
        if (s.local) w.raw(s.local.length === 4 ? VXLAN_LOCAL : VXLAN_LOCAL6, s.local);
        if (s.link !== undefined) w.u32(VXLAN_LINK, s.link);
        if (s.ttl !== undefined) w.u8(VXLAN_TTL, s.ttl);
        if (s.port !== undefined) w.be16(VXLAN_PORT, s.port);
      };
    case 'ipip': case 'sit':
      // iproute2 (link_iptnl.c) sends every parameter, its defaults included; where they differ
      // from the kernel's (proto: ip's 0 'any', the kernel's ipip/ip6ip) the link would too.
      return (w) => {
        w.u32(IPTUN_LINK, s.link ?? 0);
        w.raw(IPTUN_LOCAL, s.local ?? ANY4);
        w.raw(IPTUN_REMOTE, s.remote ?? ANY4);
        w.u8(IPTUN_TTL, s.ttl ?? 0);
        w.u8(IPTUN_TOS, 0);
        w.u8(IPTUN_PMTUDISC, 1);
        w.u32(IPTUN_FWMARK, 0);
        w.u16(IPTUN_ENCAP_TYPE, 0);
        w.u16(IPTUN_ENCAP_FLAGS, 0);
        w.be16(IPTUN_ENCAP_SPORT, 0);
        w.be16(IPTUN_ENCAP_DPORT, 0);
        w.u8(IPTUN_PROTO, 0);
        if (s.kind === 'sit') w.u16(IPTUN_FLAGS, 0);
      };
    case 'gre':
      return (w) => {
        if (s.link !== undefined) w.u32(GRE_LINK, s.link);
        if (s.local) w.raw(GRE_LOCAL, s.local);
        if (s.remote) w.raw(GRE_REMOTE, s.remote);
        if (s.ttl !== undefined) w.u8(GRE_TTL, s.ttl);
      };
    default:
      return undefined;
  }
}

/** What `h.update` changes, names resolved: `ip link set dev NAME [up|down] [mtu] [address] [master|nomaster] [netns] [name]`. */
export interface LinkChange {
  index: number;
  up?: boolean;
  mtu?: number;
  mac?: Uint8Array;
  /** 0: no master (`nomaster`). */
  master?: number;
  nsFd?: number;
  name?: string;
}

export function setLinkMessage(w: RtWriter, c: LinkChange): void {
  w.begin(Rtm.NewLink, NLM_F_REQUEST);
  w.ifinfo(c.index, c.up ? IFF_UP : 0, c.up === undefined ? 0 : IFF_UP);
  if (c.name !== undefined) w.str(Ifla.IfName, c.name);
  if (c.mtu !== undefined) w.u32(Ifla.Mtu, c.mtu);
  if (c.mac) w.raw(Ifla.Address, c.mac);
  if (c.master !== undefined) w.u32(Ifla.Master, c.master);
  if (c.nsFd !== undefined) w.u32(Ifla.NetNsFd, c.nsFd);
  w.end();
}

/** Every link with its statistics (what `ip -s link show` asks for). */
export function dumpLinksWithStats(w: RtWriter): void {
  w.begin(Rtm.GetLink, NLM_F_REQUEST | NLM_F_DUMP);
  w.ifinfo();
  w.end();
}

// ---- replies ----

/** A link as the kernel reports it; `link`/`master` are indexes here (names are resolved over the whole dump). */
export interface LinkRecordFull {
  name: string;
  index: number;
  kind?: string;
  slaveKind?: string;
  flags: number;
  up: boolean;
  mtu: number;
  mac?: string;
  operstate: number;
  master?: number;
  link?: number;
  linkNetnsid?: number;
  stats?: LinkStats;
}

const hex = (data: Buffer, at: number, len: number): string => {
  const parts: string[] = [];
  for (let i = 0; i < len; i++) parts.push(data[at + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
};

const u64 = (d: Buffer, at: number): number => Number(d.readBigUInt64LE(at));

export function parseLinkFull(data: Buffer, at: number, len: number): LinkRecordFull {
  const body = at + NLMSG_HDRLEN;
  const flags = data.readUInt32LE(body + 8);
  const rec: LinkRecordFull = { name: '', index: data.readInt32LE(body + 4), flags, up: (flags & IFF_UP) !== 0, mtu: 0, operstate: 0 };
  forEachAttr(data, body + IFINFOMSG_LEN, at + len, (type, a, l) => {
    switch (type) {
      case Ifla.IfName: rec.name = cstr(data, a, l); break;
      case Ifla.Mtu: if (l >= 4) rec.mtu = data.readUInt32LE(a); break;
      case Ifla.Address: if (l > 0) rec.mac = hex(data, a, l); break;
      case Ifla.OperState: if (l >= 1) rec.operstate = data[a]!; break;
      case Ifla.Master: if (l >= 4) rec.master = data.readUInt32LE(a); break;
      case Ifla.Link: if (l >= 4) rec.link = data.readUInt32LE(a); break;
      case Ifla.LinkNetnsid: if (l >= 4) rec.linkNetnsid = data.readInt32LE(a); break;
      case Ifla.Stats64:
        // struct rtnl_link_stats64: rx/tx packets, bytes, errors, dropped, multicast, collisions,
        // then the detailed rx (length, over, crc, frame, fifo, missed) and tx (aborted, carrier) errors.
        if (l >= 8 * 17) {
          rec.stats = {
            rx: { bytes: u64(data, a + 16), packets: u64(data, a), errors: u64(data, a + 32), dropped: u64(data, a + 48),
              over_errors: u64(data, a + 88), multicast: u64(data, a + 64) },
            tx: { bytes: u64(data, a + 24), packets: u64(data, a + 8), errors: u64(data, a + 40), dropped: u64(data, a + 56),
              carrier_errors: u64(data, a + 136), collisions: u64(data, a + 72) },
          };
        }
        break;
      case Ifla.LinkInfo:
        forEachAttr(data, a, a + l, (t, b, m) => {
          if (t === IFLA_INFO_KIND) rec.kind = cstr(data, b, m);
          else if (t === IFLA_INFO_SLAVE_KIND) rec.slaveKind = cstr(data, b, m);
        });
        break;
    }
  });
  return rec;
}

const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];
export const operstateName = (n: number): string => OPERSTATES[n] ?? String(n);

// iproute2's print_link_flags(): these names in this order, IFF_RUNNING never printed.
const FLAG_NAMES: [number, string][] = [
  [0x8, 'LOOPBACK'], [0x2, 'BROADCAST'], [0x10, 'POINTOPOINT'], [0x1000, 'MULTICAST'], [0x80, 'NOARP'],
  [0x200, 'ALLMULTI'], [0x100, 'PROMISC'], [0x400, 'MASTER'], [0x800, 'SLAVE'], [0x4, 'DEBUG'], [0x8000, 'DYNAMIC'],
  [0x4000, 'AUTOMEDIA'], [0x2000, 'PORTSEL'], [0x20, 'NOTRAILERS'], [0x1, 'UP'], [0x10000, 'LOWER_UP'],
  [0x20000, 'DORMANT'], [0x40000, 'ECHO'],
];
const IFF_RUNNING = 0x40;

/**
 * The flag words `ip link` prints: NO-CARRIER for a link that is up without carrier, the
 * IFF_* names, and M-DOWN when the link it sits on (`link`) is down.
 */
export function flagNames(flags: number, parentDown: boolean): string[] {
  const out: string[] = [];
  if (flags & IFF_UP && !(flags & IFF_RUNNING)) out.push('NO-CARRIER');
  let rest = flags & ~IFF_RUNNING;
  for (const [bit, name] of FLAG_NAMES) {
    if (rest & bit) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest) out.push(rest.toString(16));
  if (parentDown) out.push('M-DOWN');
  return out;
}

/** 'aa:bb:cc:dd:ee:ff' (any number of hex pairs) as bytes, or undefined when it is not one. */
export function parseMac(s: unknown): Uint8Array | undefined {
  // A loop over the characters: 10k neighbour entries parse 10k of these in one call.
  if (typeof s !== 'string' || s.length !== 17) return undefined;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const hi = hexDigit(s.charCodeAt(i * 3)), lo = hexDigit(s.charCodeAt(i * 3 + 1));
    if (hi < 0 || lo < 0 || (i < 5 && s.charCodeAt(i * 3 + 2) !== 58)) return undefined;
    out[i] = hi * 16 + lo;
  }
  return out;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}
