// Kernel records (as parsed from replies) to the public objects, and back to input for merges.
import { AF_INET6 } from './addr.js';
import {
  F_HASHED, F_ONEPACKET, F_PERSISTENT, F_SCHED1, F_SCHED2, F_SCHED3, FORWARD_NAMES, PROTOCOL_NAMES, TUNNEL_TYPE_NAMES,
  netmaskText,
} from './validate.js';
import { addrText, parseStats, zeroStats, type RawDest, type RawService } from './wire.js';
import type { Destination, DestinationInput, Service, ServiceFlag, ServiceInput, TunnelChecksum } from './types.js';

export function flagNames(sched: string, flags: number): ServiceFlag[] {
  const out: ServiceFlag[] = [];
  if (flags & F_PERSISTENT) out.push('persistent');
  if (flags & F_HASHED) out.push('hashed');
  if (flags & F_ONEPACKET) out.push('one-packet');
  const named = sched === 'sh' || sched === 'mh';
  if (flags & F_SCHED1) out.push(named ? (`${sched}-fallback` as ServiceFlag) : 'flag-1');
  if (flags & F_SCHED2) out.push(named ? (`${sched}-port` as ServiceFlag) : 'flag-2');
  if (flags & F_SCHED3) out.push('flag-3');
  return out;
}

export function toService(b: Buffer, r: RawService, stats: boolean): Service {
  const family = r.af === AF_INET6 ? 'inet6' : 'inet';
  const s = (r.fwmark
    ? { fwmark: r.fwmark, family }
    : { protocol: PROTOCOL_NAMES[r.protocol] ?? (String(r.protocol) as 'tcp'), address: addrText(r.af, r.addr), port: r.port, family }) as Service;
  s.scheduler = r.sched;
  if (r.flags & F_PERSISTENT) {
    s.persistence = { timeout: r.timeout, netmask: netmaskText(r.af, r.netmask) };
    if (r.pe) s.persistence.engine = r.pe;
  }
  s.flags = flagNames(r.sched, r.flags);
  if (stats) s.stats = r.stats64 ? parseStats(b, r.stats64, r.statsEnd!) : zeroStats();
  return s;
}

const CHECKSUMS: TunnelChecksum[] = ['none', 'csum', 'remcsum'];

export function toDest(b: Buffer, r: RawDest, stats: boolean): Destination {
  const d: Destination = {
    address: addrText(r.af, r.addr),
    port: r.port,
    family: r.af === AF_INET6 ? 'inet6' : 'inet',
    weight: r.weight,
    forward: FORWARD_NAMES[r.fwd] ?? 'masq',
    upperThreshold: r.uThresh,
    lowerThreshold: r.lThresh,
    activeConnections: r.active,
    inactiveConnections: r.inactive,
    persistentConnections: r.persistent,
  };
  if (d.forward === 'tunnel') {
    const type = TUNNEL_TYPE_NAMES[r.tunType] ?? 'ipip';
    d.tunnel = { type, checksum: CHECKSUMS[r.tunFlags & 3] ?? 'none' };
    if (type === 'gue') d.tunnel.port = r.tunPort;
  }
  if (stats) d.stats = r.stats64 ? parseStats(b, r.stats64, r.statsEnd) : zeroStats();
  return d;
}

/** A listed service as input, for filling in the fields an update leaves out. */
export function serviceAsInput(s: Service): ServiceInput {
  const key = s.fwmark !== undefined ? { fwmark: s.fwmark, family: s.family } : { protocol: s.protocol!, address: s.address!, port: s.port! };
  return {
    ...key,
    scheduler: s.scheduler,
    persistence: s.persistence ?? null,
    flags: s.flags.filter((f) => f !== 'hashed' && f !== 'persistent'),
  } as ServiceInput;
}

export function destAsInput(d: Destination): DestinationInput {
  const out: DestinationInput = {
    address: d.address, port: d.port, weight: d.weight, forward: d.forward === 'local' ? 'masq' : d.forward,
    upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
  };
  if (d.tunnel) out.tunnel = { ...d.tunnel };
  return out;
}

/** Overlays the fields an update gives on the current state. */
export function mergeService(current: ServiceInput, update: ServiceInput): ServiceInput {
  const out = { ...current } as Record<string, unknown>;
  for (const k of ['scheduler', 'persistence'] as const) if (update[k] !== undefined) out[k] = update[k];
  // Scheduler-private flags do not carry over to another scheduler.
  const kept = update.scheduler !== undefined && update.scheduler !== current.scheduler
    ? (current.flags as ServiceFlag[]).filter((f) => f === 'one-packet')
    : (current.flags as ServiceFlag[]);
  const flags = update.flags;
  if (flags === undefined) out.flags = kept;
  else if (Array.isArray(flags) || typeof flags !== 'object' || flags === null) out.flags = flags;  // the whole list (or bad input, for normService to name)
  else {
    // Named booleans change only the flags they name; `persistent: false` ends persistence.
    const set = new Set<string>(kept);
    for (const [f, on] of Object.entries(flags)) {
      if (on) set.add(f);
      else set.delete(f);
    }
    if (flags.persistent === false && update.persistence === undefined) out.persistence = null;
    out.flags = [...set];
  }
  return out as unknown as ServiceInput;
}

export function mergeDest(current: DestinationInput, update: DestinationInput): DestinationInput {
  const out: DestinationInput = { ...current };
  for (const k of ['weight', 'forward', 'upperThreshold', 'lowerThreshold', 'tunnel'] as const) {
    if (update[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = update[k];
  }
  if (out.forward !== 'tunnel') delete out.tunnel;
  return out;
}
