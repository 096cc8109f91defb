// native/ipvs's part of the addon's types.
import type { RawWorker } from '../core/binding.js';
import type { NetlinkSendResult } from '../netlink/binding.js';

/** IPVS replies: every reply message in `data`; request i's end at sections[i], its errno at errnos[i]. */
export interface IpvsQueryResult {
  data: Buffer;
  sections: Uint32Array;
  errnos: Int32Array;
  /** A reply carried NLM_F_DUMP_INTR: the kernel's tables changed during the dump. */
  interrupted: boolean;
}

/** native/ipvs/register.cc. */
export interface IpvsBinding {
  /** progress[0]: the requests the kernel applied so far (lib/core/progress.ts). */
  ipvsSend(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, opts?: { progress?: Uint32Array }): Promise<NetlinkSendResult>;
  ipvsQuery(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array, followDests: boolean): Promise<IpvsQueryResult>;
}
