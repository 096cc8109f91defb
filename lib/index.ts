export * as ipset from './ipset/index.js';
export * as iptables from './iptables/index.js';
export * as ipvs from './ipvs/index.js';
export * as link from './link/index.js';
export * as nft from './nft/index.js';
export * from './errors.js';
export type { OpenOptions } from './handle.js';
export { transaction } from './transaction.js';
export type * from './transaction/types.js';
