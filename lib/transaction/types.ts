// Public shapes of transaction() (DESIGN.md "transactions across subsystems"): what the
// callback may queue on tx.ipset / tx.iptables / tx.ipvs, the plan those calls become, and
// what a finished transaction reports.
import type { CreateOptions, Entry, SetType } from '../ipset/types.js';
import type { TableBuilder } from '../iptables/builder.js';
import type { IpsetSyncOptions } from '../ipset/sync.js';
import type { DestinationInput, DestinationKey, ServiceInput, ServiceKey } from '../ipvs/types.js';
import type { DesiredService, SyncOptions as IpvsSyncOptions } from '../ipvs/sync.js';

/** iptables family a queued iptables change goes to; 'both' applies the same text to IPv4 and IPv6. */
export type TxFamily = 4 | 6 | 'both';

export interface TransactionOptions {
  /** Network namespace of every change: a name from `ip netns add`, or an absolute path like /proc/PID/ns/net
   *  (relative paths and non-strings are refused with InvalidArgumentError). */
  netns?: string;
  /**
   * How long to wait for the xtables lock, in milliseconds; without it the transaction waits as
   * long as it takes. The lock is taken once, before the snapshot, and held until the
   * transaction has applied or rolled back. Only taken when the transaction touches iptables.
   */
  waitTimeout?: number;
  /** @deprecated In seconds (like `iptables -w`), `true` = as long as it takes; use `waitTimeout` (ms). Stays for one release. */
  wait?: number | true;
  /** Milliseconds between attempts while waiting for the lock (default 50). */
  waitInterval?: number;
  /** iptables backend, as iptables.open() takes it: 'auto' (default) refuses a namespace whose rules are nf_tables'. */
  iptables?: { backend?: 'auto' | 'legacy' };
  /** Default family of tx.iptables changes that name none (default 4). */
  family?: TxFamily;
  /** Validate and plan only, touch nothing (same as transaction.plan()). */
  dryRun?: boolean;
}

export interface TxExistOption {
  /** Like `ipset -exist`: no error for a set/entry that already exists (or is already gone). */
  exist?: boolean;
}

/** Options of tx.ipset.sync(), as IpsetHandle.sync takes them (`create` makes the set when missing). */
export type TxIpsetSyncOptions = IpsetSyncOptions;

/** ipset changes of a transaction. Each call only queues; nothing runs until the callback returns. */
export interface TxIpset {
  create(name: string, type: SetType, opts?: CreateOptions, o?: TxExistOption): this;
  /** Destroys one set (or every set when no name is given) once the rules using it are gone. */
  destroy(name?: string): this;
  flush(name?: string): this;
  add(name: string, entries: Entry | Entry[], o?: TxExistOption): this;
  delete(name: string, entries: Entry | Entry[], o?: TxExistOption): this;
  /** @deprecated Use delete(); `del` stays for one release. */
  del(name: string, entries: Entry | Entry[], o?: TxExistOption): this;
  rename(from: string, to: string): this;
  swap(a: string, b: string): this;
  /** `ipset restore` text (checked whole, with the transaction's other ipset changes). */
  restore(text: string, o?: TxExistOption): this;
  /** Atomically replaces the members (IpsetHandle.replace). */
  replace(name: string, entries: Entry[]): this;
  /** Makes the members equal to `entries`, sending only the difference (IpsetHandle.sync). */
  sync(name: string, entries: Entry[], opts?: TxIpsetSyncOptions): this;
}

export interface TxRestoreOptions {
  /** Like `iptables-restore --noflush`. */
  noflush?: boolean;
  /** Only this table of the text. */
  table?: string;
  /** Default: the transaction's `family` option. */
  family?: TxFamily;
  /** Set rule counters from `[pkts:bytes]`. */
  counters?: boolean;
}

export interface TxTableOptions {
  /** Default: the transaction's `family` option. */
  family?: TxFamily;
  /** Keep the table's other chains (like --noflush); default false: the table becomes exactly what is built. */
  noflush?: boolean;
}

/** iptables changes. Every table is replaced with one atomic commit. */
export interface TxIptables {
  restore(text: string, opts?: TxRestoreOptions): this;
  /**
   * A builder for one whole table (lib/iptables/builder.ts), committed by the transaction: its
   * text() is read when the transaction applies (or plans), so rules may be added until the
   * callback returns. Do not commit() it yourself.
   */
  table(name: string, opts?: TxTableOptions): TableBuilder;
}

/** One wanted IPVS service with the whole list of its real servers (IpvsHandle.sync). */
export type TxIpvsWanted = DesiredService;

/** Options of tx.ipvs.sync(), as IpvsHandle.sync takes them (`prune`, default true). */
export type TxIpvsSyncOptions = Omit<IpvsSyncOptions, 'dryRun'>;

/** IPVS changes. */
export interface TxIpvs {
  addService(service: ServiceInput): this;
  updateService(service: ServiceInput): this;
  deleteService(service: ServiceKey): this;
  addDestination(service: ServiceKey, destination: DestinationInput): this;
  updateDestination(service: ServiceKey, destination: DestinationInput): this;
  deleteDestination(service: ServiceKey, destination: DestinationKey): this;
  /** Deletes every virtual service. */
  flush(): this;
  /** Makes the kernel's services equal to `services` (IpvsHandle.sync). */
  sync(services: TxIpvsWanted[], opts?: TxIpvsSyncOptions): this;
}

/** The handle given to the transaction's callback. */
export interface Tx {
  readonly ipset: TxIpset;
  readonly iptables: TxIptables;
  readonly ipvs: TxIpvs;
  /** The operations queued so far, in the order they would apply. Touches nothing. */
  plan(): PlannedOp[];
}

/**
 * When an operation runs. Sets are created and filled first, then IPVS, then iptables tables,
 * then IPVS deletions and the ipset deletions (entries, flushes, destroys) that the rules
 * released. An operation that a later one depends on (the same set or service named again
 * later in the queue) keeps its place in the earlier phase.
 */
export type Phase = 'ipset' | 'ipvs' | 'iptables' | 'ipvs-release' | 'ipset-release';

interface PlannedBase {
  /** Position in the queue (the order the callback called it), 0-based. */
  index: number;
  phase: Phase;
  /** What it does, in the words of the system tool (`ipset create a hash:ip`, `iptables -t nat (restore)`). */
  summary: string;
}

export type PlannedIpsetOp = PlannedBase & { subsystem: 'ipset' } & (
  | { op: 'ipset.create'; name: string; type: SetType; options: CreateOptions; exist: boolean }
  | { op: 'ipset.destroy'; name?: string }
  | { op: 'ipset.flush'; name?: string }
  | { op: 'ipset.add' | 'ipset.del'; name: string; entries: Entry[]; exist: boolean }
  | { op: 'ipset.rename'; from: string; to: string }
  | { op: 'ipset.swap'; a: string; b: string }
  | { op: 'ipset.restore'; text: string; exist: boolean }
  | { op: 'ipset.replace'; name: string; entries: Entry[] }
  | { op: 'ipset.sync'; name: string; entries: Entry[]; options: TxIpsetSyncOptions }
);

/** One table of one family: committed atomically. */
export type PlannedIptablesOp = PlannedBase & {
  subsystem: 'iptables';
  op: 'iptables.restore';
  family: 4 | 6;
  table: string;
  /** iptables-restore text of this one table (taken from a builder when planned). */
  text: string;
  noflush: boolean;
  counters: boolean;
};

export type PlannedIpvsOp = PlannedBase & { subsystem: 'ipvs' } & (
  | { op: 'ipvs.addService' | 'ipvs.updateService'; service: ServiceInput }
  | { op: 'ipvs.deleteService'; service: ServiceKey }
  | { op: 'ipvs.addDestination' | 'ipvs.updateDestination'; service: ServiceKey; destination: DestinationInput }
  | { op: 'ipvs.deleteDestination'; service: ServiceKey; destination: DestinationKey }
  | { op: 'ipvs.flush' }
  | { op: 'ipvs.sync'; services: TxIpvsWanted[]; options: TxIpvsSyncOptions }
);

export type PlannedOp = PlannedIpsetOp | PlannedIptablesOp | PlannedIpvsOp;

export interface TransactionTimings {
  /** Checking every queued change (including native dry-run compiles of iptables tables). */
  validateMs: number;
  /** Waiting for the xtables lock. */
  lockMs: number;
  /** Saving the state the transaction touches. */
  snapshotMs: number;
  applyMs: number;
  /** Undoing after a failure (0 when none). */
  rollbackMs: number;
  totalMs: number;
}

export interface TransactionResult {
  /** What was (or, for a dry run, would be) applied, in order. */
  plan: PlannedOp[];
  /** Operations applied (0 for a dry run). */
  applied: number;
  dryRun: boolean;
  timings: TransactionTimings;
}

/**
 * The signature of transaction() (lib/transaction.ts). `fn` queues changes on `tx`; the
 * returned promise settles when they are applied, or rejects with TransactionError (after
 * restoring the state found) or with the validation error (nothing touched).
 */
export interface TransactionFn {
  (fn: (tx: Tx) => void | Promise<void>, opts?: TransactionOptions): Promise<TransactionResult>;
  /**
   * Validates and plans without changing the kernel (it reads what validation needs). A table
   * whose rules match a set the transaction creates is checked for structure only.
   * @example
   * const ops = await transaction.plan((tx) => { tx.ipset.flush('allowed'); });
   */
  plan(fn: (tx: Tx) => void | Promise<void>, opts?: TransactionOptions): Promise<PlannedOp[]>;
}
