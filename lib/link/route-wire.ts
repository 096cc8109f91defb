// rtnetlink route messages (RTM_NEWROUTE/DELROUTE/GETROUTE), built as iproute2's `ip route`
// builds them and read back into the objects `ip -j route` prints (same names, same values,
// the same fields left out), so nlkit's list compares equal to ip's.
import { NLMSG_HDRLEN, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST } from '../netlink/headers.js';
import { forEachAttr } from '../netlink/reader.js';
import { AF_INET, AF_INET6, formatIp, type Family } from './addr.js';
import { RTMSG_LEN, Rtm, RtWriter, ipFamily } from './wire.js';

export const enum Rta { Dst = 1, Src = 2, Iif = 3, Oif = 4, Gateway = 5, Priority = 6, PrefSrc = 7, Metrics = 8, Multipath = 9, Table = 15, Pref = 20 }

export const RT_TABLE_UNSPEC = 0, RT_TABLE_DEFAULT = 253, RT_TABLE_MAIN = 254, RT_TABLE_LOCAL = 255;
const RTPROT_BOOT = 3;
const RTM_F_CLONED = 0x200;
export const RTN = { unspec: 0, unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7, prohibit: 8, throw: 9, nat: 10 } as const;
export type RouteType = keyof typeof RTN;
export const SCOPES = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 } as const;
export type RouteScope = keyof typeof SCOPES;
/** iproute2's rtnl_rtprot_tab and /usr/share/iproute2/rt_protos names. */
export const PROTOCOLS: Record<string, number> = {
  unspec: 0, redirect: 1, kernel: 2, boot: 3, static: 4, gated: 8, ra: 9, mrt: 10, zebra: 11, bird: 12, dnrouted: 13,
  xorp: 14, ntk: 15, dhcp: 16, mrouted: 17, keepalived: 18, babel: 42, openr: 99, bgp: 186, isis: 187, ospf: 188,
  rip: 189, eigrp: 192,
};
export const TABLES: Record<string, number> = { default: RT_TABLE_DEFAULT, main: RT_TABLE_MAIN, local: RT_TABLE_LOCAL };
const NH_FLAGS: [number, string][] = [[1, 'dead'], [2, 'pervasive'], [4, 'onlink'], [8, 'offload'], [16, 'linkdown'], [32, 'unresolved'], [64, 'trap']];
export const RTNH_F_ONLINK = 4;
const PREFS: Record<number, string> = { 0: 'medium', 1: 'high', 3: 'low' };

/** A route as `ip -j route show` prints it. */
export interface Route {
  /** Left out for unicast routes, as ip does. */
  type?: Exclude<RouteType, 'unicast'>;
  /** 'default', an address ('10.0.0.1': a host route) or a prefix ('10.0.0.0/24'). */
  dst: string;
  gateway?: string;
  dev?: string;
  /** Left out for the main table; 'local', 'default' or the number as text. */
  table?: string;
  /** Left out for 'boot' (what `ip route add` sets). */
  protocol?: string;
  /** Left out for 'global'. */
  scope?: Exclude<RouteScope, 'global'> | string;
  prefsrc?: string;
  metric?: number;
  flags: string[];
  nexthops?: { gateway?: string; dev?: string; weight: number; flags: string[] }[];
  /** IPv6 router preference. */
  pref?: string;
}

/** A route request, checked (lib/link/routes.ts): every field resolved to what goes on the wire. */
export interface RouteSpec {
  family: Family;
  dst?: Uint8Array;
  dstLen: number;
  gateway?: Uint8Array;
  oif?: number;
  table: number;
  metric?: number;
  type: number;
  protocol?: number;
  scope?: number;
  prefsrc?: Uint8Array;
  onlink: boolean;
  nexthops?: { gateway?: Uint8Array; oif?: number; weight: number; onlink: boolean }[];
}

export type RouteCommand = 'add' | 'replace' | 'delete' | 'get';

const FLAGS: Record<RouteCommand, number> = {
  add: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
  replace: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
  delete: NLM_F_REQUEST,
  get: NLM_F_REQUEST,
};

/**
 * `ip route add|replace|del ...`: rtmsg and attributes as iproute2's iproute_modify() fills
 * them (its default scope, protocol boot for changes, RTA_TABLE only past 255).
 */
export function routeMessage(w: RtWriter, cmd: RouteCommand, r: RouteSpec): void {
  w.begin(cmd === 'delete' ? Rtm.DelRoute : cmd === 'get' ? Rtm.GetRoute : Rtm.NewRoute, FLAGS[cmd]);
  const del = cmd === 'delete';
  let scope = r.scope;
  if (scope === undefined) {
    if (r.family === 'inet6') scope = SCOPES.global;
    else if (r.type === RTN.local || r.type === RTN.nat) scope = SCOPES.host;
    else if (r.type === RTN.broadcast || r.type === RTN.multicast || r.type === RTN.anycast) scope = SCOPES.link;
    else if (r.type === RTN.unicast || r.type === RTN.unspec) {
      scope = del ? SCOPES.nowhere : !r.gateway && !r.nexthops ? SCOPES.link : SCOPES.global;
    } else scope = SCOPES.global;
  }
  w.rtmsg({
    family: r.family === 'inet' ? AF_INET : AF_INET6,
    dstLen: r.dstLen,
    table: r.table < 256 ? r.table : RT_TABLE_UNSPEC,
    protocol: r.protocol ?? (del || cmd === 'get' ? 0 : RTPROT_BOOT),
    scope: cmd === 'get' ? 0 : scope,
    type: r.type,
    flags: r.onlink ? RTNH_F_ONLINK : 0,
  });
  if (r.dst) w.raw(Rta.Dst, r.dst);
  if (r.metric !== undefined) w.u32(Rta.Priority, r.metric);
  if (r.gateway) w.raw(Rta.Gateway, r.gateway);
  if (r.prefsrc) w.raw(Rta.PrefSrc, r.prefsrc);
  if (r.table >= 256) w.u32(Rta.Table, r.table);
  if (r.oif !== undefined) w.u32(Rta.Oif, r.oif);
  if (r.nexthops) {
    const mp = w.nest(Rta.Multipath, true);
    for (const nh of r.nexthops) {
      // struct rtnexthop: len, flags, hops (weight - 1), ifindex; then its attributes.
      const head = new Uint8Array(8);
      const v = new DataView(head.buffer);
      head[2] = nh.onlink ? RTNH_F_ONLINK : 0;
      head[3] = nh.weight - 1;
      v.setInt32(4, nh.oif ?? 0, true);
      const at = w.put(head);
      if (nh.gateway) w.raw(Rta.Gateway, nh.gateway);
      w.patchU16(at, w.offset - at);
    }
    w.endNest(mp);
  }
  w.end();
}

/** Every route of every table and family (one RTM_GETROUTE dump). */
export function dumpRoutes(w: RtWriter): void {
  w.begin(Rtm.GetRoute, NLM_F_REQUEST | NLM_F_DUMP);
  w.rtmsg({ family: 0 });
  w.end();
}

const flagNames = (f: number): string[] => NH_FLAGS.filter(([bit]) => f & bit).map(([, n]) => n);
const nameOf = (tab: Record<string, number>, v: number): string => Object.keys(tab).find((k) => tab[k] === v) ?? String(v);

/**
 * One RTM_NEWROUTE as `ip -j route` prints it; undefined for what `ip route show` leaves out
 * (cloned cache entries unless `cloned`: `ip route get` answers with one; families other than
 * IPv4/IPv6). `dev` names links by index.
 */
export function parseRoute(data: Buffer, at: number, len: number, dev: (index: number) => string, cloned = false): Route | undefined {
  const body = at + NLMSG_HDRLEN;
  const family = ipFamily(data, body);
  if (!family) return undefined;
  const size = family === 'inet' ? 4 : 16;
  const dstLen = data[body + 1]!, proto = data[body + 5]!, scope = data[body + 6]!, type = data[body + 7]!;
  let table = data[body + 4]!;
  const rflags = data.readUInt32LE(body + 8);
  if (rflags & RTM_F_CLONED && !cloned) return undefined;
  const ip = (a: number) => formatIp(family, data, a);
  let dst: string | undefined, gateway: string | undefined, oif: number | undefined, prefsrc: string | undefined;
  let metric: number | undefined, pref: number | undefined;
  let nexthops: Route['nexthops'];
  forEachAttr(data, body + RTMSG_LEN, at + len, (t, v, n) => {
    switch (t) {
      case Rta.Dst: if (n >= size) dst = ip(v); break;
      case Rta.Gateway: if (n >= size) gateway = ip(v); break;
      case Rta.Oif: if (n >= 4) oif = data.readInt32LE(v); break;
      case Rta.PrefSrc: if (n >= size) prefsrc = ip(v); break;
      case Rta.Priority: if (n >= 4) metric = data.readUInt32LE(v); break;
      case Rta.Table: if (n >= 4) table = data.readUInt32LE(v); break;
      case Rta.Pref: if (n >= 1) pref = data[v]!; break;
      case Rta.Multipath: {
        nexthops = [];
        for (let h = v; h + 8 <= v + n;) {
          const hl = data.readUInt16LE(h);
          if (hl < 8 || h + hl > v + n) break;
          const nh: NonNullable<Route['nexthops']>[number] = { weight: data[h + 3]! + 1, flags: flagNames(data[h + 2]!) };
          forEachAttr(data, h + 8, h + hl, (bt, bv, bn) => {
            if (bt === Rta.Gateway && bn >= size) nh.gateway = ip(bv);
          });
          const idx = data.readInt32LE(h + 4);
          // ip's key order: gateway, dev, weight, flags.
          nexthops.push({ ...(nh.gateway ? { gateway: nh.gateway } : {}), ...(idx ? { dev: dev(idx) } : {}), weight: nh.weight, flags: nh.flags });
          h += (hl + 3) & ~3;
        }
        break;
      }
    }
  });
  const r: Route = {
    ...(type !== RTN.unicast ? { type: nameOf(RTN, type) as Route['type'] } : {}),
    dst: dstLen === 0 && dst === undefined ? 'default' : dstLen === size * 8 ? dst! : `${dst}/${dstLen}`,
    flags: [],
  };
  if (gateway !== undefined) r.gateway = gateway;
  if (oif !== undefined) r.dev = dev(oif);
  if (table !== RT_TABLE_MAIN) r.table = nameOf(TABLES, table);
  if (proto !== RTPROT_BOOT) r.protocol = nameOf(PROTOCOLS, proto);
  if (scope !== SCOPES.global) r.scope = nameOf(SCOPES, scope);
  if (prefsrc !== undefined) r.prefsrc = prefsrc;
  if (metric !== undefined) r.metric = metric;
  r.flags = flagNames(rflags & 0xff);
  if (nexthops) r.nexthops = nexthops;
  if (pref !== undefined) r.pref = PREFS[pref] ?? String(pref);
  return r;
}
