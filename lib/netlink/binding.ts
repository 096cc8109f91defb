// native/netlink's part of the addon's types: the generic job kinds over route, generic and netfilter sockets.
import type { RawWorker } from '../core/binding.js';

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
  /** False on success unless reportInterrupted: an interrupted run is restarted. */
  interrupted: boolean;
  /** Runs it took. */
  attempts: number;
}

/** native/netlink/register.cc. */
export interface NetlinkBinding {
  /** lib/netlink/transport.ts: the generic job kinds of native/netlink; protocol 0 route, 12 netfilter, 16 generic. */
  netlinkSend(worker: RawWorker, protocol: number, bytes: Uint8Array, ends: Uint32Array,
    opts?: { chunk?: number; stopOnRefusal?: boolean; tolerate?: number[]; echo?: boolean; errorsOnly?: boolean; progress?: Uint32Array }): Promise<NetlinkSendResult>;
  netlinkBatch(worker: RawWorker, protocol: number, bytes: Uint8Array, ends: Uint32Array): Promise<NetlinkBatchResult>;
  netlinkDump(worker: RawWorker, protocol: number, bytes: Uint8Array, ends: Uint32Array, opts?: {
    attempts?: number; reportInterrupted?: boolean; follow?: { head: Uint8Array; attr: number; keep: number };
  }): Promise<NetlinkDumpResult>;
  /** netlinkDump whose replies reach onChunk while it runs; resolves after the last chunk was queued (`chunks` of them). */
  netlinkDumpStream(worker: RawWorker, protocol: number, bytes: Uint8Array, ends: Uint32Array,
    onChunk: (data: Buffer, index: number) => void, opts?: { chunkBytes?: number; borrow?: boolean }): Promise<{
    chunks: number; errnos: Int32Array; messages: Record<number, string>; interrupted: boolean;
  }>;
  /** Opens a socket joined to multicast `groups` on the worker's thread (its namespace); resolves its fd for NetlinkListener. */
  netlinkSubscribe(worker: RawWorker, protocol: number, groups: number[], opts?: { rcvbuf?: number }): Promise<number>;
  /** Reads the fd on a thread of its own; onData gets every batch of datagrams (overrun: events were lost before it). Owns the fd. */
  NetlinkListener: new (fd: number, onData: (data: Buffer, overrun: boolean) => void) => { close(): void };
}
