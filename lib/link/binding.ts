// native/link's part of the addon's types: rtnetlink batches, named namespaces, sysctls.
import type { RawWorker } from '../core/binding.js';
import type { NetlinkSendResult } from '../netlink/binding.js';

/** link (rtnetlink): the link whose index the native side writes into every request, and the errnos that do not stop a batch. */
export interface LinkBatchOptions {
  ifname?: string;
  tolerate?: number[];
  /** linkSend: progress[0] holds the requests acknowledged so far while it runs (lib/core/progress.ts). */
  progress?: Uint32Array;
}

/** link replies: every reply message in `data`; request i's end at sections[i], its errno at errnos[i]. */
export interface LinkQueryResult extends NetlinkSendResult {
  data: Buffer;
  sections: Uint32Array;
  /** A reply carried NLM_F_DUMP_INTR: the kernel's tables changed during the dump. */
  interrupted: boolean;
}

/** native/link/register.cc. */
export interface LinkBinding {
  linkSend(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, opts?: LinkBatchOptions): Promise<NetlinkSendResult>;
  linkQuery(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, opts?: LinkBatchOptions): Promise<LinkQueryResult>;
  /** native/link/netns.cc: `ip netns add/delete NAME` (bind mount on /run/netns/NAME), on a thread that is not the caller's. */
  netnsAdd(name: string): Promise<void>;
  netnsDelete(name: string): Promise<void>;
  /** native/link/sysctl.cc: a /proc/sys file read or written on the worker's thread (its namespace). */
  sysctlRead(worker: RawWorker, path: string): Promise<string>;
  sysctlWrite(worker: RawWorker, path: string, value: string): Promise<void>;
}
