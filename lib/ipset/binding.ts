// native/ipset's part of the addon's types: libipset text sessions and the ipset netlink batch.
import type { RawWorker } from '../core/binding.js';

export interface IpsetExecResult {
  output: string;
  messages: { type: 'warning' | 'notice'; text: string }[];
}

/** native/ipset/register.cc. */
export interface IpsetBinding {
  ipsetExec(worker: RawWorker, text: string, exist: boolean): Promise<IpsetExecResult>;
  /**
   * Sends the messages in order, each acknowledged before the next; the first refusal rejects
   * with NativeFailure kind 'refused' (`errno` the kernel's, `index` the refused message,
   * `line` the lineno the kernel echoed, 0: none). progress[0]: messages acknowledged so far,
   * stored while the batch runs (lib/core/progress.ts).
   */
  ipsetSend(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, progress?: Uint32Array): Promise<void>;
}
