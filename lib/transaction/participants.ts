// The participants of transaction(): one line per subsystem. Adding a subsystem to
// transactions is writing its lib/<subsystem>/participant.ts (see ./participant.ts) and
// adding it here; the engine reads nothing else.
import { ipsetParticipant } from '../ipset/participant.js';
import { iptablesParticipant } from '../iptables/participant.js';
import { ipvsParticipant } from '../ipvs/participant.js';
import { linkParticipant } from '../link/participant.js';
import { nftParticipant } from '../nft/participant.js';

export const participants = [
  linkParticipant,
  ipsetParticipant,
  ipvsParticipant,
  nftParticipant,
  iptablesParticipant,
] as const;

export type { TxExistOption, TxIpset, TxIpsetSyncOptions, PlannedIpsetOp } from '../ipset/participant.js';
export type { TxIptables, TxRestoreOptions, TxTableOptions, PlannedIptablesOp } from '../iptables/participant.js';
export type { TxIpvs, TxIpvsSyncOptions, TxIpvsWanted, PlannedIpvsOp } from '../ipvs/participant.js';
export type { TxNft, PlannedNftOp } from '../nft/participant.js';
export type { TxLink, TxLinkAddresses, TxLinkRoutes, TxLinkRules, PlannedLinkOp } from '../link/participant.js';
