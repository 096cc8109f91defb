// The typed door to native/netlink: every subsystem that builds its own netlink messages
// sends them through these functions, on its handle's worker (the thread already in the
// handle's namespace). Transport failures reject with the one native failure record
// (NativeFailure); `kernelError` and `failureError` turn records and errnos into the error
// classes of lib/core/errors.ts, in this one place.
import { constants } from 'node:os';
import {
  ConcurrentModificationError, ExistsError, HandleClosedError, InUseError, InvalidArgumentError, NlkitError,
  NotFoundError, PermissionError, UnsupportedError, errnoText, type NlkitErrorOptions, type Subsystem,
} from '../core/errors.js';
import {
  binding, type BatchRefusal, type NativeFailure, type NetlinkBatchResult, type NetlinkDumpResult, type NetlinkSendResult,
  type RawWorker,
} from '../core/native.js';
import {
  NETLINK_NETFILTER, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, batchDelimiter, type NetlinkProtocol,
} from './headers.js';

const E = constants.errno;

/** Many messages in one buffer; message i ends at ends[i] (its nlmsg_len must match). */
export interface MessageBatch {
  bytes: Uint8Array;
  ends: Uint32Array;
}

export interface SendOptions {
  /** Most requests in flight per sendmsg() (default 256); 1: each is acked before the next goes. */
  chunk?: number;
  /** After a chunk with a refusal (errno not in `tolerate`) nothing more is sent. */
  stopOnRefusal?: boolean;
  tolerate?: number[];
  /** Error replies echo the refused request whole (NETLINK_CAP_ACK off); they come back in `replies`. */
  echo?: boolean;
  /**
   * No ack asked for (NLM_F_ACK cleared): the kernel runs a sendmsg()'s requests before it
   * returns and answers only those it refuses, so a request without a reply counts as applied
   * (errno 0). Saves the kernel an ack per request and us its receive: bulk deletes.
   */
  errorsOnly?: boolean;
  /** progress[0] holds the requests acknowledged so far while the send runs (lib/core/progress.ts). */
  progress?: Uint32Array;
}

/** Per-request outcome of a pipelined send: errno per request (0 acknowledged, >0 refused, -1 not sent). */
export type SendResult = NetlinkSendResult;
/** Every refusal of a batch mapped to its message (index -1: BATCH_BEGIN); empty: committed. */
export type BatchResult = NetlinkBatchResult;
/** A dump's replies, one section per request, after however many runs it took. */
export type DumpResult = NetlinkDumpResult;
export type { BatchRefusal };

export interface DumpOptions {
  /** Whole runs before giving up when the kernel's tables keep changing (NLM_F_DUMP_INTR). Default 5. */
  attempts?: number;
  /** After the last interrupted run, resolve with its replies and `interrupted` set instead of failing. */
  reportInterrupted?: boolean;
  /** A follow-up request per reply of request 0, answered in sections after the requests' own. */
  follow?: FollowRequest;
}

/**
 * For every reply message of request 0, one more request: `head` (nlmsghdr + family header,
 * its nlmsg_len rewritten) followed by that reply's top-level attribute `attr`, nested, with
 * only the inner attributes whose type's bit is set in `keep`. E.g. IPVS: every service's
 * real servers, asked by the service's identity, in the same crossing as the services.
 */
export interface FollowRequest {
  head: Uint8Array;
  attr: number;
  keep: number;
}

/**
 * Sends requests pipelined (many per sendmsg), one acknowledgement each.
 * @example const r = await send(worker, NETLINK_ROUTE, { bytes, ends }, { stopOnRefusal: true });
 */
export function send(worker: RawWorker, protocol: NetlinkProtocol, msgs: MessageBatch, opts: SendOptions = {}): Promise<SendResult> {
  return binding().netlinkSend(worker, protocol, msgs.bytes, msgs.ends, opts);
}

/**
 * One nfnetlink transaction: BATCH_BEGIN (with `genid`: refused with ERESTART if the ruleset
 * generation moved) + the messages + BATCH_END in one sendmsg(); the kernel commits all or
 * nothing. Resolves every refusal mapped to its message's index; use `batchError` to throw.
 * `check`: the kernel checks every message and applies none (no BATCH_END, as `nft -c`).
 * `framed`: `msgs` already start with BATCH_BEGIN and end with BATCH_END (`genid` is then
 * ignored: BEGIN carries its own); indices are still those of the messages between them.
 * @example
 * const r = await batch(worker, NFNL_SUBSYS_NFTABLES, msgs, { genid });
 * const err = batchError('nft.apply', 'nft', r); if (err) throw err;
 */
export async function batch(worker: RawWorker, subsys: number, msgs: MessageBatch, opts: { genid?: number; protocol?: NetlinkProtocol; check?: boolean; framed?: boolean } = {}): Promise<BatchResult> {
  if (opts.framed && !opts.check) {
    // Already BEGIN (with whatever genid it carries) ... END: sent as they are, without the copy
    // framing costs (a 20k-service nft batch is ~30 MB).
    const r = await binding().netlinkBatch(worker, opts.protocol ?? NETLINK_NETFILTER, msgs.bytes, msgs.ends);
    for (const e of r.errors) e.index -= 1;
    return r;
  }
  const begin = batchDelimiter(NFNL_MSG_BATCH_BEGIN, subsys, opts.genid);
  // Without BATCH_END the kernel runs every message, reports each, then aborts the whole
  // transaction (NFNL_ABORT_VALIDATE): what `nft -c` does to check without applying.
  const end = opts.check ? new Uint8Array(0) : batchDelimiter(NFNL_MSG_BATCH_END, subsys);
  const size = msgs.ends.length ? msgs.ends[msgs.ends.length - 1]! : 0;
  const bytes = new Uint8Array(begin.length + size + end.length);
  bytes.set(begin, 0);
  bytes.set(msgs.bytes.subarray(0, size), begin.length);
  bytes.set(end, begin.length + size);
  const ends = new Uint32Array(msgs.ends.length + (opts.check ? 1 : 2));
  ends[0] = begin.length;
  for (let i = 0; i < msgs.ends.length; i++) ends[i + 1] = begin.length + msgs.ends[i]!;
  ends[ends.length - 1] = bytes.length;
  const r = await binding().netlinkBatch(worker, opts.protocol ?? NETLINK_NETFILTER, bytes, ends);
  // Indices of the caller's messages: BEGIN is -1, END (never refused alone) the count.
  for (const e of r.errors) e.index -= 1;
  return r;
}

/**
 * Requests answered with data (dumps, GETs), run in turn; the whole run restarts when a
 * reply says the dump was interrupted by a change, and fails with
 * ConcurrentModificationError (through failureError) after `attempts` runs.
 * @example const { data, sections } = await dump(worker, NETLINK_NETFILTER, req);
 */
export function dump(worker: RawWorker, protocol: NetlinkProtocol, requests: MessageBatch, opts: DumpOptions = {}): Promise<DumpResult> {
  return binding().netlinkDump(worker, protocol, requests.bytes, requests.ends, opts);
}

export interface DumpStreamResult {
  /** errno per request (0: done). */
  errnos: Int32Array;
  messages: Record<number, string>;
  /** A reply said the kernel's tables changed during the dump: what was delivered may be inconsistent. */
  interrupted: boolean;
  /** Chunks delivered. */
  chunks: number;
}

/**
 * A dump whose replies are handed to `onChunk` (whole messages, about `chunkBytes` each,
 * default 1 MB) while it runs, so a huge table is never held at once. When onChunk falls
 * behind, the worker thread waits. Resolves after every chunk was delivered. An interrupted
 * dump (NLM_F_DUMP_INTR) cannot be restarted here: it is reported for the caller to decide.
 * `borrow`: the chunks are a few native buffers used again and again (no fresh memory, so no
 * page faults, per chunk); a chunk is valid only while onChunk runs (kept, it reads as empty).
 * @example
 * let n = 0;
 * const r = await dumpStream(worker, NETLINK_NETFILTER, req, (data) => forEachMessage(data, 0, data.length, () => { n++; }));
 */
export function dumpStream(worker: RawWorker, protocol: NetlinkProtocol, requests: MessageBatch,
  onChunk: (data: Buffer) => void, opts: { chunkBytes?: number; borrow?: boolean } = {}): Promise<DumpStreamResult> {
  return new Promise((resolve, reject) => {
    let delivered = 0, expected = -1, failed = false;
    let result: DumpStreamResult | undefined;
    const settle = () => { if (result && delivered === expected) resolve(result); };
    binding().netlinkDumpStream(worker, protocol, requests.bytes, requests.ends, (data) => {
      delivered++;
      if (!failed) {
        try { onChunk(data); } catch (e) { failed = true; reject(e); }
      }
      settle();
    }, opts).then((r) => {
      // The result and the chunks travel separately: wait for the last chunk.
      expected = r.chunks;
      result = r;
      if (!failed) settle();
    }, (e: unknown) => { failed = true; reject(e); });
  });
}

/** A running subscription: close() stops deliveries at once (none is made after it returns). */
export interface Subscription {
  close(): void;
  readonly closed: boolean;
}

export interface SubscribeOptions {
  /** The socket's receive buffer in bytes (default 8 MB): how many events may wait while JS is busy. */
  rcvbuf?: number;
  /** Aborting it closes the subscription. */
  signal?: AbortSignal;
}

/**
 * Joins multicast `groups` of `protocol` in the worker's namespace (the socket is opened on the
 * worker's thread) and calls onData with every batch of messages that arrives, until closed.
 * `overrun`: the kernel dropped events before this batch (the socket's buffer was full);
 * the data is whole netlink messages, to walk with reader.forEachMessage.
 * @example
 * const sub = await subscribe(worker, NETLINK_NETFILTER, [NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY], (data, overrun) => {
 *   forEachMessage(data, 0, data.length, (type, at, len) => events.push(parseFlow(data, at, len)));
 * }, { signal });
 * // ... sub.close();
 */
export async function subscribe(worker: RawWorker, protocol: NetlinkProtocol, groups: number[],
  onData: (data: Buffer, overrun: boolean) => void, opts: SubscribeOptions = {}): Promise<Subscription> {
  const b = binding();
  const fd = await b.netlinkSubscribe(worker, protocol, groups, opts.rcvbuf !== undefined ? { rcvbuf: opts.rcvbuf } : {});
  let closed = false;
  const listener = new b.NetlinkListener(fd, (data, overrun) => {
    if (!closed) onData(data, overrun);
  });
  const sub: Subscription = {
    close() {
      if (closed) return;
      closed = true;
      opts.signal?.removeEventListener('abort', onAbort);
      listener.close();
    },
    get closed() { return closed; },
  };
  const onAbort = () => sub.close();
  if (opts.signal?.aborted) sub.close();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  return sub;
}

/** ERESTART (85 on Linux): not in node's os.constants on every platform. */
export const ERESTART = 85;

/**
 * The kernel's errno for one request, as the error class of DESIGN.md: EEXIST → ExistsError,
 * ENOENT/ENODEV/ESRCH → NotFoundError, EBUSY/ENOTEMPTY → InUseError, EPERM/EACCES →
 * PermissionError, ERESTART/EINTR/EAGAIN → ConcurrentModificationError, EOPNOTSUPP/
 * EAFNOSUPPORT/EPROTONOSUPPORT → UnsupportedError, EINVAL/ERANGE/E2BIG/EMSGSIZE/EOVERFLOW →
 * InvalidArgumentError; anything else NlkitError.
 * @example throw kernelError('nft.apply', 'nft', 17, { what: 'table inet filter', detail, index: 3 });
 */
export function kernelError(op: string, subsystem: Subsystem, errno: number,
  ctx: { what?: string; detail?: string; index?: number; offset?: number } = {}): NlkitError {
  const opts: NlkitErrorOptions = {
    op, subsystem, errno,
    ...(ctx.detail ? { detail: ctx.detail } : {}),
    ...(ctx.index !== undefined ? { index: ctx.index } : {}),
    ...(ctx.offset !== undefined ? { offset: ctx.offset } : {}),
  };
  if (errno === ERESTART) opts.code = 'ERESTART';
  const at = ctx.index !== undefined && ctx.index >= 0 ? ` (message ${ctx.index})` : '';
  const msg = `${op}: ${ctx.what ? `${ctx.what}: ` : ''}${errnoText(errno)}${at}${ctx.detail ? `: ${ctx.detail}` : ''}`;
  switch (errno) {
    case E.EEXIST: return new ExistsError(msg, opts);
    case E.ENOENT: case E.ENODEV: case E.ESRCH: return new NotFoundError(msg, opts);
    case E.EBUSY: case E.ENOTEMPTY: return new InUseError(msg, opts);
    case E.EPERM: case E.EACCES: return new PermissionError(`${msg} (needs CAP_NET_ADMIN)`, opts);
    case ERESTART: case E.EINTR: case E.EAGAIN: return new ConcurrentModificationError(msg, opts);
    case E.EOPNOTSUPP: case E.EAFNOSUPPORT: case E.EPROTONOSUPPORT: return new UnsupportedError(msg, opts);
    case E.EINVAL: case E.ERANGE: case E.E2BIG: case E.EMSGSIZE: case E.EOVERFLOW: return new InvalidArgumentError(msg, opts);
    default: return new NlkitError(msg, opts);
  }
}

/**
 * The first refusal of a batch as an error (undefined: committed). A refused BATCH_BEGIN with
 * ERESTART means the generation given was stale: ConcurrentModificationError, index -1.
 * @example const err = batchError('nft.apply', 'nft', await batch(w, NFNL_SUBSYS_NFTABLES, msgs)); if (err) throw err;
 */
export function batchError(op: string, subsystem: Subsystem, r: BatchResult, what?: (index: number) => string | undefined): NlkitError | undefined {
  const first = r.errors[0];
  if (!first) return undefined;
  if (first.index < 0 && first.errno === ERESTART) {
    return new ConcurrentModificationError(`${op}: the ruleset changed since its generation was read (ERESTART)`,
      { op, subsystem, errno: ERESTART, code: 'ERESTART', index: -1 });
  }
  const w = what?.(first.index);
  return kernelError(op, subsystem, first.errno, {
    ...(w ? { what: w } : {}), ...(first.message ? { detail: first.message } : {}), index: first.index,
    ...(first.offset !== undefined ? { offset: first.offset } : {}),
  });
}

/**
 * The native failure record (a rejected job) as an NlkitError: `kind` 'closed' → HandleClosedError,
 * 'netns' → NotFoundError, 'interrupted' → ConcurrentModificationError, 'overrun' → NlkitError
 * ENOBUFS; otherwise by errno (kernelError).
 * @example try { await dump(w, NETLINK_NETFILTER, req); } catch (e) { throw isNativeFailure(e) ? failureError('conntrack.list', 'conntrack', e) : e; }
 */
export function failureError(op: string, subsystem: Subsystem, f: NativeFailure): NlkitError {
  const opts = { op, subsystem, errno: f.errno, detail: f.message };
  switch (f.kind) {
    case 'closed': return new HandleClosedError(`${op}: handle is closed`, opts);
    case 'netns': return new NotFoundError(`${op}: ${f.message}`, { ...opts, subsystem: 'netns' });
    case 'interrupted': return new ConcurrentModificationError(`${op}: ${f.message}`, { ...opts, code: 'EINTR' });
    case 'overrun': return new NlkitError(`${op}: ${f.message}`, { ...opts, code: 'ENOBUFS' });
    default: return kernelError(op, subsystem, f.errno, { detail: f.message });
  }
}
