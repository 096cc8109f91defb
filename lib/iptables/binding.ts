// native/iptables's part of the addon's types: restore/save through libxtables, the xtables lock,
// backend detection and raw table snapshots.
import type { RawWorker } from '../core/binding.js';

/** iptables: one table of a restore text, as the native side applies it. */
export interface IptablesTableRequest {
  name: string;
  flush: boolean;
  /** The lines between `*table` and `COMMIT`. */
  body: string;
  line: number;
  firstLine: number;
  commitLine: number;
  /** Chain lines in the body (planRestore counts them); the body's lines are commitLine - firstLine. */
  chains?: number;
  /** compileOnly without flush: the table to start from instead of an empty one (nf_tables --noflush). */
  base?: RawTableSnapshot;
}

/** A legacy table's entries blob (with counters) and the layout the kernel needs to take it back. */
export interface RawTableSnapshot {
  table: string;
  validHooks: number;
  numEntries: number;
  hookEntry: number[];
  underflow: number[];
  entries: Uint8Array;
}

export interface IptablesLockRequest {
  /** Empty: do not lock. */
  path: string;
  /** Seconds; -1: forever. */
  wait: number;
  /** Milliseconds between attempts. */
  interval: number;
}

/** What went wrong (`kind` says where): the native failure record of iptables' jobs (NativeFailure), or found in TypeScript. */
export interface IptablesProblem {
  kind: 'parse' | 'chain' | 'apply' | 'init' | 'commit' | 'concurrent' | 'lock' | 'internal' | 'save';
  message: string;
  errno: number;
  line?: number;
  /** Byte offset in the line of the word at fault. */
  offset?: number;
  argument?: string;
  table?: string;
  holderPid?: number;
  lockPath?: string;
  /** Tables committed before it failed. */
  applied?: string[];
}

export interface IptablesRestoreStats {
  lockMs: number;
  readMs: number;
  compileMs: number;
  serializeMs: number;
  replaceMs: number;
  countersMs: number;
  lines: number;
  compiled: number;
  cached: number;
  fast: number;
  parseMs: number;
  compileCpuMs: number;
  attempts: number;
}

export interface IptablesRestoreResult {
  committed: string[];
  warnings: { line: number; text: string }[];
  stats: IptablesRestoreStats;
}

/** An opaque per-handle cache of compiled commands. */
export type IptablesCacheRef = { readonly __iptablesCache: unique symbol };

/** native/iptables/register.cc. */
export interface IptablesBinding {
  iptablesCache(): IptablesCacheRef;
  iptablesRestore(worker: RawWorker, cache: IptablesCacheRef | null, req: {
    family: 4 | 6; counters: boolean; force?: boolean; dryRun?: boolean; tables: IptablesTableRequest[]; lock?: IptablesLockRequest;
    /** Compile from empty tables without the kernel and hand the tables back (native/iptables/jobs/compile_job.h). */
    compileOnly?: boolean;
  }): Promise<IptablesRestoreResult & { tables?: RawTableSnapshot[] }>;
  iptablesSave(worker: RawWorker, req: { family: 4 | 6; table?: string; counters: boolean }):
    Promise<{ text: string; warnings: string[] }>;
  iptablesLock(worker: RawWorker, req: { lock: IptablesLockRequest }): Promise<{ fd: number }>;
  iptablesUnlock(fd: number): void;
  iptablesDrop(cache: IptablesCacheRef): void;
  /**
   * Legacy tables and nf_tables tables of family ip/ip6 in the worker's namespace, with their
   * rule counts. quick: legacy counts are upper bounds (user chains count too) read without
   * copying the tables, and nf_tables is not read when a legacy table is in use.
   */
  iptablesBackendCount(worker: RawWorker, req: { family: 4 | 6; quick?: boolean }): Promise<{
    legacy: { name: string; rules: number }[]; nft: { name: string; rules: number }[];
  }>;
  /** One legacy table as the kernel holds it (IPT_SO_GET_INFO + IPT_SO_GET_ENTRIES); rejects with NativeFailure kind 'save'. */
  iptablesReadRaw(worker: RawWorker, req: { family: 4 | 6; table: string }): Promise<RawTableSnapshot>;
  /**
   * Replaces a legacy table with a raw snapshot and sets its counters; the caller holds the
   * xtables lock. Rejects with NativeFailure kind 'commit'.
   */
  iptablesWriteRaw(worker: RawWorker, req: RawTableSnapshot & { family: 4 | 6 }): Promise<void>;
  /**
   * iptables-save's text (no timestamp lines) of each given legacy blob, printed by libxtables on
   * the worker; a blob's entries may come in parts, in order.
   */
  iptablesPrintRaw(worker: RawWorker, req: { family: 4 | 6; counters: boolean; tables: Array<RawTableSnapshot | (Omit<RawTableSnapshot, 'entries'> & { entries: Uint8Array[] })> }): Promise<{
    texts: string[]; warnings: string[];
  }>;
}
