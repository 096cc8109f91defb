// The one result shape of every sync(): counts of the objects the call is about (ipset
// members, IPVS services, a link's addresses). Subsystems add their details next to them.

/**
 * What a sync() changed, counted in the objects it was given.
 * @example
 * const { added, updated, removed, unchanged } = await ipset.sync('allowed', ['10.0.0.1']);
 */
export interface SyncResult {
  /** Wanted and missing: added. */
  added: number;
  /** Present and wanted but different: changed in place. */
  updated: number;
  /** Present and not wanted: removed. */
  removed: number;
  /** Present, wanted and identical: not touched. */
  unchanged: number;
}
