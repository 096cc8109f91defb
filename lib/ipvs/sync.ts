// Desired-state sync of IPVS: the difference between what the kernel has (one dump) and a
// list of services with their real servers, as the few operations that turn one into the other.
// The planner is pure; IpvsHandle.sync() reads the state, plans, and sends the plan as one batch.
import type { ProgressCallback } from '../core/progress.js';
import { InvalidArgumentError } from '../core/errors.js';
import { checkArray, checkOpts } from '../core/args.js';
import { AF_INET, AF_INET6, parseIPv4 } from './addr.js';
import { flagNames } from './records.js';
import {
  F_HASHED, F_ONEPACKET, F_PERSISTENT, F_SCHED1, F_SCHED2, F_SCHED3, FORWARDS, TUNNEL_CHECKSUMS, TUNNEL_TYPES,
  hostPort, netmaskText, normDest, normService, type NormDest, type NormService,
} from './validate.js';
import type { SyncResult as CoreSyncResult } from '../core/sync.js';
import type {
  ApplyOp, Destination, DestinationInput, Forward, ServiceFlag, Service, ServiceInput, ServiceKey, TunnelChecksum,
  TunnelType,
} from './types.js';

/** A real server of a desired service. A listed Destination fits too ('local' is read as 'masq'). */
export type DesiredDestination = Omit<DestinationInput, 'forward'> & { forward?: Forward };

/**
 * A service and the whole list of its real servers. A listed Service (listServices()) fits too,
 * so one handle's state can be synced onto another.
 */
export type DesiredService = ServiceInput & { destinations: DesiredDestination[] };

/** What sync() takes: desired services, or a listing (listServices() with its real servers). */
export type SyncInput = ReadonlyArray<DesiredService | Service>;

export interface SyncOptions {
  /**
   * Delete services the kernel has and the list lacks (default true). false leaves them alone;
   * a function deletes only those it returns true for (e.g. the ones on this proxy's addresses).
   */
  prune?: boolean | ((service: Service) => boolean);
  /** Plan only: read the state and return what would be sent, without sending it (default false). */
  dryRun?: boolean;
  /**
   * An aborted signal rejects with an AbortedError (name 'AbortError', code 'ABORT_ERR') and
   * changes nothing; checked on entry and after the dump, just before the difference is sent in
   * one batch: once sent, the sync runs to its end and its result stands.
   */
  /**
   * Called with `{ done, total }` (operations the kernel applied, of all sent) while the one
   * batch runs, and once at the end (see ProgressCallback): `done` counts only operations the
   * kernel acknowledged as applied, so after refusals it ends below `total`.
   */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface SyncCounts {
  added: number;
  updated: number;
  deleted: number;
  /** Present in the kernel and in the list, identical: not touched. */
  unchanged: number;
}

/**
 * What ipvs.sync() changed. The top-level counts are the shape every sync() returns, counted
 * in services: `updated` is a service whose attributes or real servers changed, `unchanged`
 * one left whole. `services` and `destinations` give the detail.
 */
export interface IpvsSyncResult extends CoreSyncResult {
  services: SyncCounts & {
    /** Services the kernel has and the list lacks, kept because of `prune`. */
    kept: number;
  };
  /** Real servers of services that are deleted whole are not counted: they go with their service. */
  destinations: SyncCounts;
  /** Messages sent to the kernel (0 when nothing changed; with dryRun, the messages it would send). */
  ops: number;
  /** Services not touched at all: attributes and every real server identical. */
  unchanged: number;
}

/** What planIpvsSync() decided: the operations, in the order they must be sent, and their counts. */
export interface IpvsSyncPlan extends IpvsSyncResult {
  /**
   * The operations for IpvsHandle.apply(), in order: service deletes, adds, updates, then for
   * each service its real servers' adds, updates and deletes (adds first, so a service whose
   * real servers are all replaced never stands empty).
   */
  operations: ApplyOp[];
}

/** A desired service validated and reduced to what the kernel keeps. */
export interface NormDesired {
  svc: NormService;
  dests: DesiredDest[];
}

export interface DesiredDest {
  dest: NormDest;
  /** Canonical address text, as the kernel lists it. */
  address: string;
}

const OP = 'ipvs.sync';
/** Real server lists up to this long are matched by scanning; longer ones through a map. */
const SCAN = 16;

/**
 * The smallest list of operations that turns `current` (listServices({ destinations: true }))
 * into `desired`. Validates the whole desired list first: a duplicate service or real server, or
 * a bad field, throws InvalidArgumentError naming the index and key at fault. Pure: no kernel.
 */
export function planIpvsSync(current: readonly Service[], desired: SyncInput, opts: SyncOptions = {}): IpvsSyncPlan {
  const ctx = { op: 'ipvs.planIpvsSync', subsystem: 'ipvs' as const };
  checkArray(ctx, 'current', current as Service[]);
  checkOpts(ctx, 'options', opts, { prune: 'boolean|function', dryRun: 'boolean' });
  return diffIpvs(current, normalizeDesired(desired), opts);
}

/** Validates the desired list (before any kernel access): InvalidArgumentError with `index`. */
export function normalizeDesired(desired: SyncInput, op = OP): Map<string, NormDesired> {
  if (!Array.isArray(desired)) throw new InvalidArgumentError(`${op}: expects an array of services`, { op, subsystem: 'ipvs' });
  const out = new Map<string, NormDesired>();
  const where = new Map<string, number>();
  for (let i = 0; i < desired.length; i++) {
    const d = desired[i]!;
    let svc: NormService;
    try {
      svc = normService(op, d as ServiceInput);
    } catch (e) {
      throw at(op, e, i, `service ${i}`);
    }
    const label = `service ${i} (${svc.text})`;
    const prev = where.get(svc.text);
    if (prev !== undefined) {
      throw at(op, new InvalidArgumentError(`${op}: ${svc.text} is listed twice (services ${prev} and ${i})`, {
        op, subsystem: 'ipvs', argument: svc.text,
      }), i);
    }
    where.set(svc.text, i);
    const list = (d as { destinations?: unknown }).destinations;
    if (!Array.isArray(list)) {
      throw at(op, new InvalidArgumentError(`${op}: destinations must be an array (empty for a service without real servers)`, {
        op, subsystem: 'ipvs', argument: 'destinations',
      }), i, label);
    }
    const dests: DesiredDest[] = new Array(list.length);
    const dwhere = list.length > SCAN ? new Map<string, number>() : undefined;
    for (let j = 0; j < list.length; j++) {
      const rd = list[j] as DesiredDestination;
      let dest: NormDest;
      try {
        const input = rd && typeof rd === 'object' && rd.forward === 'local' ? { ...rd, forward: 'masq' as const } : rd;
        dest = normDest(op, svc, input as DestinationInput);
      } catch (e) {
        throw at(op, e, i, `${label}: real server ${j}`, j);
      }
      let dprev: number | undefined;
      if (dwhere) {
        dprev = dwhere.get(dest.text);
        dwhere.set(dest.text, j);
      } else {
        for (let k = 0; k < j; k++) if (dests[k]!.dest.text === dest.text) dprev = k;
      }
      if (dprev !== undefined) {
        throw at(op, new InvalidArgumentError(`${op}: real server ${dest.text} is listed twice (real servers ${dprev} and ${j})`, {
          op, subsystem: 'ipvs', argument: dest.text,
        }), i, label, j);
      }
      const t = dest.text;
      dests[j] = { dest, address: t.charCodeAt(0) === 91 ? t.slice(1, t.lastIndexOf(']')) : t.slice(0, t.lastIndexOf(':')) };
    }
    out.set(svc.text, { svc, dests });
  }
  return out;
}

/** Says which service (and real server) an input error is about; `index` as apply() sets it. */
function at(op: string, e: unknown, i: number, label?: string, j?: number): unknown {
  if (!(e instanceof InvalidArgumentError)) return e;
  if (label) e.message = `${op}: ${label}: ${e.message.replace(/^[\w.]+: /, '')}`;
  const x = e as InvalidArgumentError & { index?: number; destinationIndex?: number };
  x.index = i;
  if (j !== undefined) x.destinationIndex = j;
  return e;
}

/** The difference between the kernel's services and validated desired ones. */
export function diffIpvs(current: readonly Service[], desired: ReadonlyMap<string, NormDesired>, opts: SyncOptions = {}): IpvsSyncPlan {
  const prune = opts.prune ?? true;
  const plan: IpvsSyncPlan = {
    operations: [],
    services: { added: 0, updated: 0, deleted: 0, unchanged: 0, kept: 0 },
    destinations: { added: 0, updated: 0, deleted: 0, unchanged: 0 },
    added: 0,
    updated: 0,
    removed: 0,
    ops: 0,
    unchanged: 0,
  };
  const deletes: ApplyOp[] = [], adds: ApplyOp[] = [], updates: ApplyOp[] = [], destOps: ApplyOp[] = [];
  const byKey = new Map<string, Service>();
  for (const s of current) {
    const text = currentKeyText(s);
    byKey.set(text, s);
    if (desired.has(text)) continue;
    if (prune === true || (typeof prune === 'function' && prune(s))) {
      deletes.push({ op: 'deleteService', service: keyOf(s) });
      plan.services.deleted++;
      plan.removed++;
    } else plan.services.kept++;
  }
  const dc = plan.destinations;
  for (const [text, want] of desired) {
    const have = byKey.get(text);
    if (!have) {
      adds.push({ op: 'addService', service: serviceInput(want.svc) });
      plan.services.added++;
      plan.added++;
      const key = keyOfNorm(want.svc);
      for (const d of want.dests) destOps.push({ op: 'addDestination', service: key, destination: destInput(d) });
      dc.added += want.dests.length;
      continue;
    }
    let key: ServiceKey | undefined;
    const keyOnce = () => (key ??= keyOfNorm(want.svc));
    let touched = false;
    if (!sameService(have, want.svc)) {
      updates.push({ op: 'updateService', service: serviceInput(want.svc) });
      plan.services.updated++;
      touched = true;
    } else plan.services.unchanged++;
    const hd = have.destinations ?? [];
    // Which listed real servers are wanted: bits of a number for the usual short lists.
    let seenBits = 0;
    const seen = hd.length > 31 ? new Uint8Array(hd.length) : undefined;
    const index = hd.length > SCAN ? new Map(hd.map((d, j) => [`${d.port} ${d.address}`, j])) : undefined;
    let upd: ApplyOp[] | undefined;
    for (const wd of want.dests) {
      const { dest, address } = wd;
      let j = -1;
      if (index) j = index.get(`${dest.port} ${address}`) ?? -1;
      else for (let k = 0; k < hd.length; k++) if (hd[k]!.port === dest.port && hd[k]!.address === address) { j = k; break; }
      if (j < 0) {
        destOps.push({ op: 'addDestination', service: keyOnce(), destination: destInput(wd) });
        dc.added++;
        touched = true;
        continue;
      }
      if (seen) seen[j] = 1;
      else seenBits |= 1 << j;
      if (sameDest(hd[j]!, dest)) {
        dc.unchanged++;
        continue;
      }
      (upd ??= []).push({ op: 'updateDestination', service: keyOnce(), destination: destInput(wd) });
      dc.updated++;
      touched = true;
    }
    if (upd) for (const u of upd) destOps.push(u);
    for (let j = 0; j < hd.length; j++) {
      if (seen ? seen[j] : seenBits & (1 << j)) continue;
      destOps.push({ op: 'deleteDestination', service: keyOnce(), destination: { address: hd[j]!.address, port: hd[j]!.port } });
      dc.deleted++;
      touched = true;
    }
    if (!touched) plan.unchanged++;
    else plan.updated++;
  }
  plan.operations = deletes.concat(adds, updates, destOps);
  plan.ops = plan.operations.length;
  return plan;
}

// ---- comparing with what the kernel listed ----------------------------------------------

const FLAG_BITS: Partial<Record<ServiceFlag, number>> = {
  persistent: F_PERSISTENT, 'one-packet': F_ONEPACKET, 'sh-fallback': F_SCHED1, 'sh-port': F_SCHED2,
  'mh-fallback': F_SCHED1, 'mh-port': F_SCHED2, 'flag-1': F_SCHED1, 'flag-2': F_SCHED2, 'flag-3': F_SCHED3,
};

function sameService(s: Service, want: NormService): boolean {
  if (s.scheduler !== want.sched) return false;
  let flags = 0;
  for (const f of s.flags) flags |= FLAG_BITS[f] ?? 0;
  if (flags !== (want.flags & ~F_HASHED)) return false;
  const p = s.persistence;
  if (!(want.flags & F_PERSISTENT)) return p === undefined;
  if (!p || p.timeout !== want.timeout || (p.engine ?? '') !== want.pe) return false;
  // Persistence granularity is listed as a dotted IPv4 mask or an IPv6 prefix length.
  let netmask: number;
  if (typeof p.netmask === 'number') netmask = p.netmask;
  else if (p.netmask === undefined) netmask = s.family === 'inet6' ? 128 : 0xffffffff;
  else {
    const b = parseIPv4(p.netmask);
    netmask = b ? ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0 : Number(p.netmask);
  }
  return netmask === want.netmask;
}

function sameDest(d: Destination, want: NormDest): boolean {
  const fwd = d.forward === 'local' ? FORWARDS.masq : FORWARDS[d.forward];
  if (fwd !== want.fwd || d.weight !== want.weight || d.upperThreshold !== want.uThresh || d.lowerThreshold !== want.lThresh) return false;
  if (fwd !== FORWARDS.tunnel) return true;
  // Tunnel settings count only for tunnels, and the port only for gue.
  const t = d.tunnel;
  if (!t) return false;
  return TUNNEL_TYPES[t.type] === want.tunType && TUNNEL_CHECKSUMS[t.checksum] === want.tunFlags &&
    (want.tunType !== TUNNEL_TYPES.gue || t.port === want.tunPort);
}

/** The same text normKey() gives ('tcp 10.0.0.1:80', 'fwmark 5 (inet6)'); listed addresses are canonical. */
function currentKeyText(s: Service): string {
  if (s.fwmark !== undefined) return `fwmark ${s.fwmark}${s.family === 'inet6' ? ' (inet6)' : ''}`;
  return `${s.protocol} ${hostPort(s.family === 'inet6' ? AF_INET6 : AF_INET, s.address, s.port)}`;
}

function keyOf(s: Service): ServiceKey {
  return s.fwmark !== undefined ? { fwmark: s.fwmark, family: s.family } : { protocol: s.protocol, address: s.address, port: s.port };
}

const PROTOCOLS_BY_NUMBER: Record<number, 'tcp' | 'udp' | 'sctp'> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const FORWARD_BY_NUMBER: Record<number, Exclude<Forward, 'local'>> = { 0: 'masq', 2: 'tunnel', 3: 'route', 4: 'bypass' };
const TUNNEL_TYPE_BY_NUMBER: TunnelType[] = ['ipip', 'gue', 'gre'];
const CHECKSUM_BY_NUMBER: TunnelChecksum[] = ['none', 'csum', 'remcsum'];

function addressOf(text: string, af: number): string {
  return af === AF_INET6 ? text.slice(text.indexOf(' ') + 2, text.lastIndexOf(']')) : text.slice(text.indexOf(' ') + 1, text.lastIndexOf(':'));
}

function keyOfNorm(k: NormService): ServiceKey {
  if (k.fwmark) return { fwmark: k.fwmark, family: k.family };
  return { protocol: PROTOCOLS_BY_NUMBER[k.protocol]!, address: addressOf(k.text, k.af), port: k.port };
}

/** A whole service input (every field given, so an update needs no read of the current state). */
function serviceInput(s: NormService): ServiceInput {
  const flags = flagNames(s.sched, s.flags & ~(F_PERSISTENT | F_HASHED));
  const persistence = s.flags & F_PERSISTENT
    ? { timeout: s.timeout, netmask: netmaskText(s.af, s.netmask), ...(s.pe ? { engine: s.pe } : {}) }
    : null;
  return { ...keyOfNorm(s), scheduler: s.sched, flags, persistence } as ServiceInput;
}

/** A whole real server input. */
function destInput({ dest: d, address }: DesiredDest): DestinationInput {
  const forward = FORWARD_BY_NUMBER[d.fwd] ?? 'masq';
  const out: DestinationInput = {
    address, port: d.port, weight: d.weight, forward, upperThreshold: d.uThresh, lowerThreshold: d.lThresh,
  };
  if (forward === 'tunnel') {
    const type = TUNNEL_TYPE_BY_NUMBER[d.tunType] ?? 'ipip';
    out.tunnel = { type, checksum: CHECKSUM_BY_NUMBER[d.tunFlags] ?? 'none', ...(type === 'gue' ? { port: d.tunPort } : {}) };
  }
  return out;
}
