// Every decision about IPVS input is made here, before anything reaches the kernel: addresses,
// ports, schedulers, flags, persistence, forwarding and tunnels become the wire's numbers.
import { InvalidArgumentError, UnsupportedError } from '../core/errors.js';
import { AF_INET, AF_INET6, maskToPrefix, parseAddress, parseIPv4, prefixToMask } from './addr.js';
import type { WireDest, WireKey, WireService } from './wire.js';
import type {
  DaemonConfig, DestinationInput, DestinationKey, Family, Forward, Protocol, ServiceFlag, ServiceInput, ServiceKey,
  Timeouts, TunnelChecksum, TunnelType,
} from './types.js';

export const PROTOCOLS: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };
export const PROTOCOL_NAMES: Record<number, Protocol> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** The schedulers of mainline Linux (ip_vs_NAME modules). */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'] as const;
export const PERSISTENCE_ENGINES = ['sip'] as const;
export const DEFAULT_SCHEDULER = 'wlc';
export const DEFAULT_PERSISTENCE_TIMEOUT = 300;
export const MAX_PERSISTENCE_TIMEOUT = 86400 * 31;
export const MAX_WEIGHT = 0x7fffffff;

export const F_PERSISTENT = 0x1, F_HASHED = 0x2, F_ONEPACKET = 0x4, F_SCHED1 = 0x8, F_SCHED2 = 0x10, F_SCHED3 = 0x20;

export const FORWARDS: Record<Exclude<Forward, 'local'>, number> = { masq: 0, tunnel: 2, route: 3, bypass: 4 };
export const FORWARD_NAMES: Forward[] = ['masq', 'local', 'tunnel', 'route', 'bypass'];
export const TUNNEL_TYPES: Record<TunnelType, number> = { ipip: 0, gue: 1, gre: 2 };
export const TUNNEL_TYPE_NAMES: TunnelType[] = ['ipip', 'gue', 'gre'];
export const TUNNEL_CHECKSUMS: Record<TunnelChecksum, number> = { none: 0, csum: 1, remcsum: 2 };

/** A service key ready for the wire, with its text for messages ('tcp 10.0.0.1:80', 'fwmark 5'). */
export interface NormKey extends WireKey {
  text: string;
  family: Family;
}

export type NormService = WireService & NormKey;
export interface NormDest extends WireDest {
  text: string;
}

const familyName = (af: number): Family => (af === AF_INET6 ? 'inet6' : 'inet');

export function keyText(k: WireKey, addr: string): string {
  if (k.fwmark) return `fwmark ${k.fwmark}${k.af === AF_INET6 ? ' (inet6)' : ''}`;
  return `${PROTOCOL_NAMES[k.protocol] ?? k.protocol} ${hostPort(k.af, addr, k.port)}`;
}

export const hostPort = (af: number, addr: string, port: number) => (af === AF_INET6 ? `[${addr}]:${port}` : `${addr}:${port}`);

function bad(op: string, argument: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(`${op}: ${message}`, { op, subsystem: 'ipvs', argument });
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function checkPort(op: string, v: unknown, what: string, min = 0): number {
  if (!isInt(v, min, 65535)) throw bad(op, String(v), `invalid ${what} ${JSON.stringify(v)} (an integer ${min}-65535)`);
  return v;
}

/** The identifying part of a service. Port 0 is checked where the whole service is known. */
export function normKey(op: string, key: ServiceKey): NormKey {
  if (typeof key !== 'object' || key === null) throw bad(op, String(key), 'a service key is { protocol, address, port } or { fwmark }');
  if ('fwmark' in key && key.fwmark !== undefined) {
    const k = key as { fwmark: unknown; family?: unknown; protocol?: unknown };
    if (k.protocol !== undefined) throw bad(op, 'protocol', 'a firewall-mark service has no protocol, address or port');
    if (!isInt(k.fwmark, 1, 0xffffffff)) throw bad(op, String(k.fwmark), `invalid fwmark ${JSON.stringify(k.fwmark)} (an integer 1 to 4294967295)`);
    const family = k.family ?? 'inet';
    if (family !== 'inet' && family !== 'inet6') throw bad(op, String(family), `invalid family ${JSON.stringify(family)} ('inet' or 'inet6')`);
    const af = family === 'inet6' ? AF_INET6 : AF_INET;
    return withText({ af, protocol: 0, addr: new Uint8Array(16), port: 0, fwmark: k.fwmark, family } as NormKey, '');
  }
  const k = key as { protocol?: unknown; address?: unknown; port?: unknown; family?: unknown };
  const protocol = PROTOCOLS[k.protocol as Protocol];
  if (protocol === undefined) {
    throw bad(op, String(k.protocol), `invalid protocol ${JSON.stringify(k.protocol)} (tcp, udp or sctp; or a { fwmark } service)`);
  }
  const a = parseAddress(k.address);
  if (!a) throw bad(op, String(k.address), `invalid address ${JSON.stringify(k.address)} (an IPv4 or IPv6 address)`);
  if (k.family !== undefined && k.family !== familyName(a.family)) {
    throw bad(op, String(k.family), `family ${k.family} does not match address ${a.text}`);
  }
  const port = checkPort(op, k.port, 'port');
  return withText({ af: a.family, protocol, addr: a.bytes, port, fwmark: 0, family: familyName(a.family) } as NormKey, a.text);
}

/** The key's text for messages and lookups ('tcp 10.0.0.1:80'). */
function withText<T extends WireKey & { family: Family }>(k: T, addr: string): T & { text: string } {
  (k as T & { text: string }).text = keyText(k, addr);
  return k as T & { text: string };
}

const SCHED_NAME = /^[a-z0-9_]{1,15}$/;
const ALL_FLAGS: ServiceFlag[] = ['persistent', 'hashed', 'one-packet', 'sh-fallback', 'sh-port', 'mh-fallback', 'mh-port', 'flag-1', 'flag-2', 'flag-3'];

function flagList(op: string, flags: ServiceInput['flags']): ServiceFlag[] {
  if (flags === undefined) return [];
  let list: string[];
  if (Array.isArray(flags)) list = flags;
  else if (typeof flags === 'object' && flags !== null) list = Object.entries(flags).filter(([, v]) => v).map(([k]) => k);
  else throw bad(op, String(flags), 'flags are an array of names or an object of named booleans');
  for (const f of list) {
    if (!ALL_FLAGS.includes(f as ServiceFlag)) throw bad(op, String(f), `unknown service flag ${JSON.stringify(f)} (one of ${ALL_FLAGS.join(', ')})`);
  }
  return list as ServiceFlag[];
}

/** A whole service for NEW_SERVICE/SET_SERVICE. */
export function normService(op: string, s: ServiceInput): NormService {
  const key = normKey(op, s);
  const sched = s.scheduler ?? DEFAULT_SCHEDULER;
  if (typeof sched !== 'string' || !SCHED_NAME.test(sched)) {
    throw bad(op, String(sched), `invalid scheduler name ${JSON.stringify(sched)} (1-15 lower-case letters, digits or _)`);
  }
  const list = flagList(op, s.flags);
  let flags = 0;
  for (const f of list) {
    switch (f) {
      case 'persistent': flags |= F_PERSISTENT; break;
      case 'hashed': break;  // the kernel's own
      case 'one-packet':
        // As ipvsadm: one-packet scheduling is for datagrams (UDP, or marks that select them).
        if (key.protocol === PROTOCOLS.tcp || key.protocol === PROTOCOLS.sctp) throw bad(op, f, `one-packet scheduling is only for udp or firewall-mark services, not ${key.text}`);
        flags |= F_ONEPACKET;
        break;
      case 'sh-fallback': case 'sh-port': case 'mh-fallback': case 'mh-port': {
        const want = f.slice(0, 2);
        if (sched !== want) throw bad(op, f, `flag ${f} needs scheduler ${want}, not ${sched}`);
        flags |= f.endsWith('fallback') ? F_SCHED1 : F_SCHED2;
        break;
      }
      default: {  // flag-1..3
        if (sched === 'sh' || sched === 'mh') throw bad(op, f, `scheduler ${sched} names its flags (${sched}-fallback, ${sched}-port)`);
        flags |= f === 'flag-1' ? F_SCHED1 : f === 'flag-2' ? F_SCHED2 : F_SCHED3;
      }
    }
  }
  let timeout = 0;
  let netmask = key.af === AF_INET ? 0xffffffff : 128;
  let pe = '';
  const p = s.persistence;
  if (p !== undefined && p !== null) {
    if (typeof p !== 'object') throw bad(op, String(p), 'persistence is { timeout, netmask?, engine? }');
    flags |= F_PERSISTENT;
    timeout = p.timeout ?? DEFAULT_PERSISTENCE_TIMEOUT;
    if (!isInt(timeout, 1, MAX_PERSISTENCE_TIMEOUT)) {
      throw bad(op, String(timeout), `invalid persistence timeout ${JSON.stringify(timeout)} (1 to ${MAX_PERSISTENCE_TIMEOUT} seconds)`);
    }
    if (p.netmask !== undefined) netmask = normNetmask(op, key.af, p.netmask);
    if (p.engine !== undefined) {
      if (typeof p.engine !== 'string' || !SCHED_NAME.test(p.engine)) {
        throw bad(op, String(p.engine), `invalid persistence engine ${JSON.stringify(p.engine)}`);
      }
      pe = p.engine;
    }
  } else if (flags & F_PERSISTENT) {
    timeout = DEFAULT_PERSISTENCE_TIMEOUT;
  }
  if (!key.fwmark && key.port === 0 && !(flags & F_PERSISTENT)) {
    throw bad(op, '0', `port 0 is only for a persistent or firewall-mark service (${key.text})`);
  }
  const out = key as unknown as NormService;
  out.sched = sched;
  out.flags = flags;
  out.timeout = timeout;
  out.netmask = netmask;
  out.pe = pe;
  return out;
}

function normNetmask(op: string, af: number, m: string | number): number {
  if (af === AF_INET6) {
    const n = typeof m === 'string' && /^\/?\d+$/.test(m) ? Number(m.replace('/', '')) : m;
    if (!isInt(n, 1, 128)) throw bad(op, String(m), `invalid IPv6 persistence netmask ${JSON.stringify(m)} (a prefix length 1-128)`);
    return n;
  }
  if (typeof m === 'number' || /^\/?\d{1,2}$/.test(m)) {
    const n = typeof m === 'number' ? m : Number(m.replace('/', ''));
    if (!isInt(n, 1, 32)) throw bad(op, String(m), `invalid persistence netmask ${JSON.stringify(m)} (a prefix length 1-32 or a dotted mask)`);
    return prefixToMask(n);
  }
  const b = parseIPv4(m);
  if (!b) throw bad(op, m, `invalid persistence netmask ${JSON.stringify(m)} (a dotted IPv4 mask or a prefix length)`);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function netmaskText(af: number, netmask: number): string | number {
  if (af === AF_INET6) return netmask;
  return `${netmask >>> 24}.${(netmask >>> 16) & 255}.${(netmask >>> 8) & 255}.${netmask & 255}`;
}

export { maskToPrefix };

/** Only the address and port of a real server (DEL_DEST, lookups). */
export function normDestKey(op: string, svc: NormKey, d: DestinationKey): NormDest {
  if (typeof d !== 'object' || d === null) throw bad(op, String(d), 'a real server is { address, port? }');
  const a = parseAddress(d.address);
  if (!a) throw bad(op, String(d.address), `invalid real server address ${JSON.stringify(d.address)}`);
  const port = d.port === undefined ? svc.port : checkPort(op, d.port, 'real server port');
  return {
    af: a.family, addr: a.bytes, port, fwd: 0, weight: 1, uThresh: 0, lThresh: 0, tunType: 0, tunPort: 0, tunFlags: 0,
    text: hostPort(a.family, a.text, port),
  };
}

export function normDest(op: string, svc: NormKey, d: DestinationInput): NormDest {
  const n = normDestKey(op, svc, d);
  const forward = d.forward ?? 'masq';
  const fwd = FORWARDS[forward as keyof typeof FORWARDS];
  if (fwd === undefined) throw bad(op, String(forward), `invalid forwarding method ${JSON.stringify(forward)} (masq, route, tunnel or bypass)`);
  n.fwd = fwd;
  const weight = d.weight ?? 1;
  if (!isInt(weight, 0, MAX_WEIGHT)) throw bad(op, String(weight), `invalid weight ${JSON.stringify(weight)} (an integer 0 to ${MAX_WEIGHT})`);
  n.weight = weight;
  const u = d.upperThreshold ?? 0, l = d.lowerThreshold ?? 0;
  if (!isInt(u, 0, MAX_WEIGHT)) throw bad(op, String(u), `invalid upper threshold ${JSON.stringify(u)}`);
  if (!isInt(l, 0, MAX_WEIGHT)) throw bad(op, String(l), `invalid lower threshold ${JSON.stringify(l)}`);
  if (l > u) throw bad(op, String(l), `lower threshold ${l} is above upper threshold ${u}`);
  n.uThresh = u;
  n.lThresh = l;
  if (d.tunnel !== undefined) {
    if (forward !== 'tunnel') throw bad(op, 'tunnel', `tunnel options need forward 'tunnel', not '${forward}'`);
    const t = d.tunnel;
    const type = t.type ?? 'ipip';
    const tt = TUNNEL_TYPES[type];
    if (tt === undefined) throw bad(op, String(type), `invalid tunnel type ${JSON.stringify(type)} (ipip, gue or gre)`);
    n.tunType = tt;
    if (type === 'gue') {
      if (t.port === undefined) throw bad(op, 'tunnel.port', 'a gue tunnel needs a port');
      n.tunPort = checkPort(op, t.port, 'tunnel port', 1);
    } else if (t.port !== undefined) {
      throw bad(op, 'tunnel.port', `a tunnel port is only for gue, not ${type}`);
    }
    const cs = t.checksum ?? 'none';
    const cf = TUNNEL_CHECKSUMS[cs];
    if (cf === undefined) throw bad(op, String(cs), `invalid tunnel checksum ${JSON.stringify(cs)} (none, csum or remcsum)`);
    if (cs === 'remcsum' && type !== 'gue') throw bad(op, cs, `remcsum is only for gue tunnels, not ${type}`);
    if (cs !== 'none' && type === 'ipip') throw bad(op, cs, 'ipip tunnels have no checksum option (gue and gre do)');
    n.tunFlags = cf;
  }
  return n;
}

/** Is every field of an update given, so no current state is needed to fill it in? */
export function completeDest(d: DestinationInput): boolean {
  return d.weight !== undefined && d.forward !== undefined && d.upperThreshold !== undefined &&
    d.lowerThreshold !== undefined && (d.forward !== 'tunnel' || d.tunnel !== undefined);
}

export function completeService(s: ServiceInput): boolean {
  return s.scheduler !== undefined && s.persistence !== undefined && s.flags !== undefined;
}

export interface NormTimeouts { tcp: number; tcpFin: number; udp: number }

export function normTimeouts(op: string, t: Partial<Timeouts>): NormTimeouts {
  if (typeof t !== 'object' || t === null) throw bad(op, String(t), 'timeouts are { tcp?, tcpFin?, udp? } in seconds');
  const one = (name: keyof Timeouts) => {
    const v = t[name] ?? 0;
    if (!isInt(v, 0, 0x7fffffff / 1000)) throw bad(op, String(v), `invalid ${name} timeout ${JSON.stringify(v)} (seconds; 0 leaves it unchanged)`);
    return v;
  };
  return { tcp: one('tcp'), tcpFin: one('tcpFin'), udp: one('udp') };
}

export interface NormDaemon {
  state: number;
  ifn: string;
  syncId: number;
  maxLen?: number;
  group4?: Uint8Array;
  group6?: Uint8Array;
  port?: number;
  ttl?: number;
}

export const DAEMON_STATES = { master: 1, backup: 2 } as const;

export function normDaemon(op: string, c: DaemonConfig): NormDaemon {
  if (typeof c !== 'object' || c === null) throw bad(op, String(c), 'a sync daemon is { state, interface, ... }');
  const state = DAEMON_STATES[c.state];
  if (state === undefined) throw bad(op, String(c.state), `invalid daemon state ${JSON.stringify(c.state)} (master or backup)`);
  if (typeof c.interface !== 'string' || !/^[^\s/\0]{1,15}$/.test(c.interface)) {
    throw bad(op, String(c.interface), `invalid interface name ${JSON.stringify(c.interface)}`);
  }
  const syncId = c.syncId ?? 0;
  if (!isInt(syncId, 0, 255)) throw bad(op, String(syncId), `invalid sync id ${JSON.stringify(syncId)} (0-255)`);
  const d: NormDaemon = { state, ifn: c.interface, syncId };
  if (c.maxLength !== undefined) {
    if (!isInt(c.maxLength, 1, 65535 - 28)) throw bad(op, String(c.maxLength), `invalid sync message length ${JSON.stringify(c.maxLength)}`);
    d.maxLen = c.maxLength;
  }
  if (c.group !== undefined) {
    const a = parseAddress(c.group);
    if (!a) throw bad(op, String(c.group), `invalid multicast group ${JSON.stringify(c.group)}`);
    if (a.family === AF_INET) d.group4 = a.bytes.subarray(0, 4);
    else d.group6 = a.bytes;
  }
  if (c.port !== undefined) d.port = checkPort(op, c.port, 'multicast port', 1);
  if (c.ttl !== undefined) {
    if (!isInt(c.ttl, 1, 255)) throw bad(op, String(c.ttl), `invalid multicast TTL ${JSON.stringify(c.ttl)} (1-255)`);
    d.ttl = c.ttl;
  }
  return d;
}

/** The error for a scheduler or persistence engine the kernel cannot load. */
export function missingModule(op: string, svc: NormService, errno: number, hint: 'scheduler' | 'engine' | 'either'): UnsupportedError {
  const sched = `scheduler ${svc.sched} (kernel module ip_vs_${svc.sched})`;
  const pe = `persistence engine ${svc.pe} (kernel module ip_vs_pe_${svc.pe})`;
  const what = hint === 'scheduler' || !svc.pe ? sched : hint === 'engine' ? pe : `${sched} or ${pe}`;
  return new UnsupportedError(`${op}: the running kernel has no ${what}`, { op, subsystem: 'ipvs', errno });
}
