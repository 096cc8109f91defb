// The conntrack handle's use of the shared netlink core (lib/netlink/transport.ts): requests,
// pipelined sends and dumps on the worker's netfilter socket. Kept apart so handle.ts reads as
// ctnetlink logic only.
import { NETLINK_NETFILTER } from '../netlink/headers.js';
import { dump, dumpStream, kernelError, send, subscribe, type DumpResult, type MessageBatch, type Subscription } from '../netlink/transport.js';
import type { RawWorker } from '../core/native.js';

export interface NetfilterIo {
  /** One request answered with data (a GET that is not a dump): the reply messages. */
  request(op: string, req: Uint8Array): Promise<Buffer>;
  /**
   * Requests pipelined, one ack each: errno per request (0 acknowledged, -1 not sent).
   * `errorsOnly`: only refusals are answered (the rest are 0), in chunks as large as a sendmsg takes.
   */
  send(op: string, bytes: Uint8Array, ends: Uint32Array, tolerate?: number[], errorsOnly?: boolean): Promise<Int32Array>;
  /** Dumps, one after another; `each` gets the reply messages as they come (restarted whole on NLM_F_DUMP_INTR). */
  dump(op: string, reqs: Uint8Array | MessageBatch, each: (chunk: Buffer) => void): Promise<void>;
  /**
   * Dumps whose replies reach `each` in chunks while they run, so a large table is never held
   * at once. Resolves whether the kernel's table changed meanwhile (NLM_F_DUMP_INTR: not
   * retried here, the chunks are delivered already). A chunk is valid only while `each` runs
   * (borrowed native memory, reused for the next chunk).
   */
  dumpStream(op: string, reqs: MessageBatch, each: (chunk: Buffer) => void): Promise<{ interrupted: boolean }>;
  /** Joins multicast groups on a socket in the worker's namespace; onData gets each batch of messages (overrun: the kernel dropped some before it). */
  subscribe(groups: number[], onData: (data: Buffer, overrun: boolean) => void, signal?: AbortSignal): Promise<Subscription>;
}

/**
 * Bytes per streamed chunk: each is a hand-over between the worker thread and JS, which on a
 * loaded machine waits for the scheduler (256 KiB chunks made list()'s wall time 2.5x the
 * tool's at load 20); the worker keeps its few chunk buffers, so their size costs no page faults.
 */
const STREAM_CHUNK = 1 << 20;

export function netfilterIo(worker: RawWorker): NetfilterIo {
  const one = (req: Uint8Array) => ({ bytes: req, ends: Uint32Array.of(req.length) });
  const checked = (op: string, r: DumpResult): Buffer => {
    r.errnos.forEach((errno, i) => {
      if (errno > 0) throw kernelError(op, 'conntrack', errno, { what: 'the conntrack table', ...(r.messages[i] ? { detail: r.messages[i] } : {}) });
    });
    return r.data;
  };
  return {
    async request(op, req) {
      return checked(op, await dump(worker, NETLINK_NETFILTER, one(req)));
    },
    async send(_op, bytes, ends, tolerate, errorsOnly) {
      // errorsOnly: replies are only refusals, so a chunk is bounded by the sendmsg size, not by acks in flight.
      const opts = { ...(tolerate ? { tolerate } : {}), ...(errorsOnly ? { errorsOnly, chunk: ends.length } : {}) };
      return (await send(worker, NETLINK_NETFILTER, { bytes, ends }, opts)).errnos;
    },
    async dump(op, reqs, each) {
      each(checked(op, await dump(worker, NETLINK_NETFILTER, reqs instanceof Uint8Array ? one(reqs) : reqs)));
    },
    async dumpStream(op, reqs, each) {
      const r = await dumpStream(worker, NETLINK_NETFILTER, reqs, each, { borrow: true, chunkBytes: STREAM_CHUNK });
      r.errnos.forEach((errno, i) => {
        if (errno > 0) throw kernelError(op, 'conntrack', errno, { what: 'the conntrack table', ...(r.messages[i] ? { detail: r.messages[i] } : {}) });
      });
      return { interrupted: r.interrupted };
    },
    subscribe(groups, onData, signal) {
      return subscribe(worker, NETLINK_NETFILTER, groups, onData, signal ? { signal } : {});
    },
  };
}
