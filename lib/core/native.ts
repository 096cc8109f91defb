// The only module that loads the addon: binding() loads it on first use. Its types live with
// their subsystems (lib/<subsystem>/binding.ts, one per native/<subsystem>/register.cc);
// Binding is their sum, and the names below are re-exported for the modules that import them here.
import { loadAddon } from './addon.js';
import type { CoreBinding } from './binding.js';
import type { IpsetBinding } from '../ipset/binding.js';
import type { IptablesBinding } from '../iptables/binding.js';
import type { LinkBinding } from '../link/binding.js';
import type { NetlinkBinding } from '../netlink/binding.js';

export type { BenchBinding, CoreBinding, NativeFailure, RawWorker } from './binding.js';
export type { IpsetBinding, IpsetExecResult } from '../ipset/binding.js';
export type {
  IptablesBinding, IptablesCacheRef, IptablesLockRequest, IptablesProblem, IptablesRestoreResult, IptablesRestoreStats,
  IptablesTableRequest, RawTableSnapshot,
} from '../iptables/binding.js';
export type { IpvsQueryResult } from '../ipvs/binding.js';
export type { LinkBatchOptions, LinkBinding, LinkQueryResult } from '../link/binding.js';
export type {
  BatchRefusal, NetlinkBatchResult, NetlinkBinding, NetlinkDumpResult, NetlinkSendResult,
} from '../netlink/binding.js';

/** Every function of the addon: one part per native/<subsystem>/register.cc (IPVS has none: it uses native/netlink's). */
export type Binding = CoreBinding & NetlinkBinding & LinkBinding & IpsetBinding & IptablesBinding;

let cached: Binding | undefined;

/** The addon, loaded on first use (lib/core/addon.ts finds it, also from inside a bundle, or from NLKIT_ADDON). */
export function binding(): Binding {
  // A copy: the exports object the addon fills one property at a time (29 of them) is left in V8's
  // dictionary mode, which made every native call's property lookup ~10% slower than the same call
  // on a plain object; a spread copy has fast properties.
  return (cached ??= { ...loadAddon<Binding>() });
}
