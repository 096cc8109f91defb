// The public shapes of the IPVS API (DESIGN.md): services keyed by protocol + address + port
// or by firewall mark, real servers ("destinations"), statistics, daemons and batches.
import type { ProgressCallback } from '../core/progress.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';
export type Family = 'inet' | 'inet6';

/** A virtual service by protocol, address and port. */
export interface ProtocolServiceKey {
  protocol: Protocol;
  /** IPv4 or IPv6 address (IPv6 may be written in brackets). */
  address: string;
  /** 1-65535; 0 only for a persistent service (all ports, as `ipvsadm -p` allows). */
  port: number;
}

/** A virtual service by firewall mark (1 to 2^32-1); family defaults to 'inet'. */
export interface FwmarkServiceKey {
  fwmark: number;
  family?: Family;
}

export type ServiceKey = ProtocolServiceKey | FwmarkServiceKey;

export type Scheduler =
  | 'rr' | 'wrr' | 'lc' | 'wlc' | 'lblc' | 'lblcr' | 'dh' | 'sh' | 'sed' | 'nq' | 'fo' | 'ovf' | 'mh' | 'twos';

/**
 * Service flags by name. 'persistent' follows `persistence`; 'hashed' is the kernel's own
 * (always reported, ignored on input). 'sh-*' need scheduler sh, 'mh-*' scheduler mh; the
 * scheduler-private bits of other schedulers are 'flag-1'..'flag-3' as ipvsadm names them.
 */
export type ServiceFlag =
  | 'persistent' | 'hashed' | 'one-packet'
  | 'sh-fallback' | 'sh-port' | 'mh-fallback' | 'mh-port'
  | 'flag-1' | 'flag-2' | 'flag-3';

export interface Persistence {
  /** Seconds, 1 to 2678400 (31 days); ipvsadm's default is 300. */
  timeout: number;
  /**
   * Granularity of client addresses: for IPv4 a dotted netmask ('255.255.255.0') or a prefix
   * length; for IPv6 a prefix length (1-128). Listed as a dotted string (IPv4) or a number (IPv6).
   */
  netmask?: string | number;
  /** Persistence engine, e.g. 'sip' (kernel module ip_vs_pe_sip). */
  engine?: string;
}

/** 64-bit counters and rates, as IPVS_*_ATTR_STATS64 carries them. */
export interface Stats {
  connections: bigint;
  packetsIn: bigint;
  packetsOut: bigint;
  bytesIn: bigint;
  bytesOut: bigint;
  /** Per-second rates the kernel estimates. */
  connectionRate: bigint;
  packetRateIn: bigint;
  packetRateOut: bigint;
  byteRateIn: bigint;
  byteRateOut: bigint;
}

export type ServiceInput = ServiceKey & {
  /** Default 'wlc', as ipvsadm. */
  scheduler?: Scheduler;
  persistence?: Persistence | null;
  /** An array of names, or named booleans ({ 'one-packet': true }). */
  flags?: ServiceFlag[] | Partial<Record<ServiceFlag, boolean>>;
};

/** A service as the kernel reports it. */
export type Service = (
  | { protocol: Protocol; address: string; port: number; family: Family; fwmark?: undefined }
  | { fwmark: number; family: Family; protocol?: undefined; address?: undefined; port?: undefined }
) & {
  scheduler: string;
  persistence?: Persistence;
  flags: ServiceFlag[];
  stats?: Stats;
  destinations?: Destination[];
};

export type Forward = 'masq' | 'route' | 'tunnel' | 'bypass' | 'local';
export type TunnelType = 'ipip' | 'gue' | 'gre';
export type TunnelChecksum = 'none' | 'csum' | 'remcsum';

export interface Tunnel {
  /** Default 'ipip'. */
  type?: TunnelType;
  /** UDP port of the GUE encapsulation (required for 'gue', only for it). */
  port?: number;
  /** Default 'none'; 'remcsum' only for 'gue'. */
  checksum?: TunnelChecksum;
}

export interface DestinationKey {
  address: string;
  /** Default: the service's port (0 for a firewall-mark service). */
  port?: number;
}

export interface DestinationInput extends DestinationKey {
  /** 0-65535, default 1. A weight of 0 takes no new connections. */
  weight?: number;
  /** Default 'masq'. 'local' is reported only. */
  forward?: Exclude<Forward, 'local'>;
  /** 0 = no limit. */
  upperThreshold?: number;
  lowerThreshold?: number;
  /** For forward 'tunnel'. */
  tunnel?: Tunnel;
}

export interface Destination {
  address: string;
  port: number;
  family: Family;
  weight: number;
  forward: Forward;
  upperThreshold: number;
  lowerThreshold: number;
  /** Present for forward 'tunnel'. */
  tunnel?: Required<Pick<Tunnel, 'type' | 'checksum'>> & { port?: number };
  activeConnections: number;
  inactiveConnections: number;
  persistentConnections: number;
  stats?: Stats;
}

export interface ListOptions {
  /** Include each service's real servers (default true). */
  destinations?: boolean;
  /** Include 64-bit statistics and rates (default false). */
  stats?: boolean;
}

export interface Info {
  /** 'major.minor.patch' of the kernel's IPVS. */
  version: string;
  versionCode: number;
  /** Size of the connection hash table. */
  connectionTableSize: number;
}

/** Seconds; in setTimeouts() an omitted or 0 value leaves that timeout unchanged. */
export interface Timeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

export type DaemonState = 'master' | 'backup';

export interface DaemonConfig {
  state: DaemonState;
  /** Multicast interface, e.g. 'eth0'. */
  interface: string;
  /** Sync id (0-255), default 0. */
  syncId?: number;
  /** Newer kernels: maximum sync message payload (UDP), multicast group, port and TTL. */
  maxLength?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

export interface Daemon {
  state: DaemonState;
  interface: string;
  syncId: number;
  maxLength?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/**
 * Options of apply(). `signal`: an aborted one rejects with an AbortedError (name 'AbortError',
 * code 'ABORT_ERR') and sends nothing; it is checked when the call's turn comes, just before
 * its one batch is sent: once sent, every operation of it runs and the results stand.
 */
export interface ApplyOptions {
  /** Stops the call before its batch is sent (see ApplyOptions). */
  signal?: AbortSignal;
  /**
   * Called with `{ done, total }` (operations the kernel applied, of all sent) while the one
   * batch runs, and once at the end (see ProgressCallback): `done` counts only operations the
   * kernel acknowledged as applied, so after refusals it ends below `total`.
   */
  onProgress?: ProgressCallback;
}

export interface DrainOptions {
  /** How long to wait before deleting anyway, in milliseconds from now. Default: 5 minutes. */
  timeout?: number;
  /**
   * When to stop waiting and delete anyway, as a point in time: a Date or epoch milliseconds
   * (not a duration: a number before the year 2000 is refused). Not together with `timeout`.
   */
  deadline?: Date | number;
  /** Polling interval in ms (default 1000). */
  interval?: number;
  /** Aborting it stops the drain with an AbortedError: see drain(). */
  signal?: AbortSignal;
}

export interface DrainResult {
  /** True when the connections reached zero before the wait ended. */
  drained: boolean;
  /** Active + inactive connections at the time of deletion. */
  remaining: number;
  waitedMs: number;
}

/** One operation of ipvs.apply(): one per mutating method. */
export type ApplyOp =
  | { op: 'addService'; service: ServiceInput }
  | { op: 'updateService'; service: ServiceInput }
  | { op: 'deleteService'; service: ServiceKey }
  | { op: 'addDestination'; service: ServiceKey; destination: DestinationInput }
  | { op: 'updateDestination'; service: ServiceKey; destination: DestinationInput }
  | { op: 'deleteDestination'; service: ServiceKey; destination: DestinationKey }
  | { op: 'zero'; service?: ServiceKey }
  | { op: 'flush' }
  | { op: 'setTimeouts'; timeouts: Partial<Timeouts> };

export type ApplyResult = { ok: true } | { ok: false; error: import('../core/errors.js').NlkitError };
