// libnftables' JSON objects (libnftables-json(5)) as far as nlkit's nft subsystem reads and
// writes them. Inputs are `unknown` at the boundary and checked field by field.

export type Family = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';

/** `flags`: dormant, owner, persist (one as a string, several as a list; table-flags.ts). `progname`: save()'s, the owner's program (not in list()). */
export interface TableObject { family: Family; name: string; handle?: number; comment?: string; flags?: string | string[]; progname?: string }
export interface ChainObject {
  family: Family; table: string; name: string; handle?: number;
  type?: 'filter' | 'nat' | 'route'; hook?: string; prio?: number; policy?: 'accept' | 'drop'; comment?: string;
  /** netdev base chains: the device or devices (`nft -j list` of nft 1.0.6 leaves them out; save() prints them). */
  dev?: string | string[];
}
export interface RuleObject { family: Family; table: string; chain: string; handle?: number; comment?: string; expr: Statement[] }
export interface SetObject {
  family: Family; table: string; name: string; handle?: number;
  type: string | string[]; map?: 'verdict'; comment?: string; elem?: unknown[];
}

/** A statement or expression as nft's JSON writes it: one key naming it. */
export type Statement = Record<string, unknown>;

/** What list() returns: the objects under `nftables` in `nft -j list ruleset`, without metainfo. */
export type ListObject =
  | { table: TableObject }
  | { chain: ChainObject }
  | { rule: RuleObject }
  | { set: SetObject }
  | { map: SetObject };

/** One command of apply(): `{ add: { table: {...} } }` and the other verbs. */
export type Command = Record<string, Record<string, unknown> | null>;
