// The only module that touches the addon: its types, and binding(), which loads it on first use.
import { loadAddon } from './addon.js';

export interface NativeFailure {
  nativeFailure: true;
  errno: number;
  message: string;
  kind?: string;
  line?: number;
}

export interface RawWorker {
  close(): Promise<void>;
  closed(): boolean;
}

export interface IpsetExecResult {
  output: string;
  messages: { type: 'warning' | 'notice'; text: string }[];
}

/** How far a batch of netlink messages got: `errno` is the kernel's refusal of message `acked`. */
export interface SendResult {
  acked: number;
  errno: number;
  /** ipset batches: the lineno the kernel reported for the refused entry (0: none). */
  lineno: number;
}

/** Per-request errno (0: acknowledged, -1: not sent) and the kernel's extended-ack text by request index. */
export interface NetlinkSendResult {
  errnos: Int32Array;
  messages: Record<number, string>;
  /** With `echo`: the whole error reply by request index. */
  replies?: Record<number, Buffer>;
}

/** One message of an nfnetlink batch the kernel refused. */
export interface BatchRefusal {
  /** Index in the caller's messages; -1: the batch itself (BATCH_BEGIN, e.g. a stale generation). */
  index: number;
  errno: number;
  /** NLMSGERR_ATTR_MSG: the kernel's own words. */
  message?: string;
  /** NLMSGERR_ATTR_OFFS: byte offset of the attribute at fault within that message. */
  offset?: number;
}

/** What the kernel answered an nfnetlink batch (native/netlink/batch.cc). */
export interface NetlinkBatchResult {
  /** Every refusal, in the kernel's order. Empty: the whole batch was committed. */
  errors: BatchRefusal[];
  /** Acknowledgements received (messages built with NLM_F_ACK). */
  acked: number;
  /** Replies other than acks (NLM_F_ECHO notifications), in order. */
  data: Buffer;
  /** Sequence number of the batch's first message (BATCH_BEGIN). */
  firstSeq: number;
}

/** Replies to requests answered with data: request i's end at sections[i], its errno at errnos[i]. */
export interface NetlinkDumpResult {
  data: Buffer;
  sections: Uint32Array;
  errnos: Int32Array;
  /** The kernel's extended-ack text by request index. */
  messages: Record<number, string>;
  /** Always false on success: an interrupted run is restarted. */
  interrupted: boolean;
  /** Runs it took. */
  attempts: number;
}

/** IPVS replies: every reply message in `data`; request i's end at sections[i], its errno at errnos[i]. */
export interface IpvsQueryResult {
  data: Buffer;
  sections: Uint32Array;
  errnos: Int32Array;
  /** A reply carried NLM_F_DUMP_INTR: the kernel's tables changed during the dump. */
  interrupted: boolean;
}

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

/** What went wrong, recorded on the worker thread (`kind` says where). */
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
  error?: IptablesProblem;
}

/** An opaque per-handle cache of compiled commands. */
export type IptablesCacheRef = { readonly __iptablesCache: unique symbol };

/** link (rtnetlink): the link whose index the native side writes into every request, and the errnos that do not stop a batch. */
export interface LinkBatchOptions {
  ifname?: string;
  tolerate?: number[];
}

/** link replies: every reply message in `data`; request i's end at sections[i], its errno at errnos[i]. */
export interface LinkQueryResult extends NetlinkSendResult {
  data: Buffer;
  sections: Uint32Array;
  /** A reply carried NLM_F_DUMP_INTR: the kernel's tables changed during the dump. */
  interrupted: boolean;
}

export interface Binding {
  Worker: new (netnsPath?: string) => RawWorker;
  iptablesCache(): IptablesCacheRef;
  iptablesRestore(worker: RawWorker, cache: IptablesCacheRef | null, req: {
    family: 4 | 6; counters: boolean; force?: boolean; dryRun?: boolean; tables: IptablesTableRequest[]; lock?: IptablesLockRequest;
    /** Compile from empty tables without the kernel and hand the tables back (native/iptables/compile_job.h). */
    compileOnly?: boolean;
  }): Promise<IptablesRestoreResult & { tables?: RawTableSnapshot[] }>;
  iptablesSave(worker: RawWorker, req: { family: 4 | 6; table?: string; counters: boolean }):
    Promise<{ text: string; warnings: string[]; error?: IptablesProblem }>;
  iptablesLock(worker: RawWorker, req: { lock: IptablesLockRequest }): Promise<{ fd: number; error?: IptablesProblem }>;
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
  /** One legacy table as the kernel holds it (IPT_SO_GET_INFO + IPT_SO_GET_ENTRIES); errno 0 or the failure. */
  iptablesReadRaw(worker: RawWorker, req: { family: 4 | 6; table: string }): Promise<{ errno: number } & Partial<RawTableSnapshot>>;
  /** Replaces a legacy table with a raw snapshot and sets its counters; the caller holds the xtables lock. */
  iptablesWriteRaw(worker: RawWorker, req: RawTableSnapshot & { family: 4 | 6 }): Promise<{ errno: number }>;
  /** iptables-save's text (no timestamp lines) of each given legacy blob, printed by libxtables on the worker. */
  iptablesPrintRaw(worker: RawWorker, req: { family: 4 | 6; counters: boolean; tables: RawTableSnapshot[] }): Promise<{
    texts: string[]; warnings: string[]; error?: IptablesProblem;
  }>;
  ipsetExec(worker: RawWorker, text: string, exist: boolean): Promise<IpsetExecResult>;
  ipsetSend(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array): Promise<SendResult>;
  ipvsSend(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array): Promise<NetlinkSendResult>;
  ipvsQuery(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, followDests: boolean): Promise<IpvsQueryResult>;
  linkSend(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, opts?: LinkBatchOptions): Promise<NetlinkSendResult>;
  linkQuery(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, opts?: LinkBatchOptions): Promise<LinkQueryResult>;
  /** native/link/netns.cc: `ip netns add/delete NAME` (bind mount on /run/netns/NAME), on a thread that is not the caller's. */
  netnsAdd(name: string): Promise<void>;
  netnsDelete(name: string): Promise<void>;
  /** native/link/sysctl.cc: a /proc/sys file read or written on the worker's thread (its namespace). */
  sysctlRead(worker: RawWorker, path: string): Promise<string>;
  sysctlWrite(worker: RawWorker, path: string, value: string): Promise<void>;
  /** lib/netlink/transport.ts: the generic job kinds of native/netlink; protocol 0 route, 12 netfilter, 16 generic. */
  netlinkSend(worker: RawWorker, protocol: number, bytes: Uint8Array, ends: Uint32Array,
    opts?: { chunk?: number; stopOnRefusal?: boolean; tolerate?: number[]; echo?: boolean }): Promise<NetlinkSendResult>;
  netlinkBatch(worker: RawWorker, protocol: number, bytes: Uint8Array, ends: Uint32Array): Promise<NetlinkBatchResult>;
  netlinkDump(worker: RawWorker, protocol: number, bytes: Uint8Array, ends: Uint32Array, opts?: { attempts?: number }): Promise<NetlinkDumpResult>;
  /** netlinkDump whose replies reach onChunk while it runs; resolves after the last chunk was queued (`chunks` of them). */
  netlinkDumpStream(worker: RawWorker, protocol: number, bytes: Uint8Array, ends: Uint32Array,
    onChunk: (data: Buffer, index: number) => void, opts?: { chunkBytes?: number }): Promise<{
    chunks: number; errnos: Int32Array; messages: Record<number, string>; interrupted: boolean;
  }>;
  /** Opens a socket joined to multicast `groups` on the worker's thread (its namespace); resolves its fd for NetlinkListener. */
  netlinkSubscribe(worker: RawWorker, protocol: number, groups: number[], opts?: { rcvbuf?: number }): Promise<number>;
  /** Reads the fd on a thread of its own; onData gets every batch of datagrams (overrun: events were lost before it). Owns the fd. */
  NetlinkListener: new (fd: number, onData: (data: Buffer, overrun: boolean) => void) => { close(): void };
  /** Boundary-cost probes for bench/napi.ts: no kernel work. The batch probes resolve the bytes they walked. */
  benchNoop(): void;
  benchAsync(worker: RawWorker): Promise<void>;
  benchStrings(worker: RawWorker, items: string[]): Promise<number>;
  benchBuffer(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array): Promise<number>;
}

let cached: Binding | undefined;

/** The addon, loaded on first use (lib/addon.ts finds it, also from inside a bundle, or from NLKIT_ADDON). */
export function binding(): Binding {
  return (cached ??= loadAddon<Binding>());
}
