// native/ipset's part of the addon's types: libipset text sessions and the ipset netlink batch.
import type { RawWorker } from '../core/binding.js';

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

/** native/ipset/register.cc. */
export interface IpsetBinding {
  ipsetExec(worker: RawWorker, text: string, exist: boolean): Promise<IpsetExecResult>;
  /** progress[0]: messages acknowledged so far, stored while the batch runs (lib/core/progress.ts). */
  ipsetSend(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, progress?: Uint32Array): Promise<SendResult>;
}
