// IPVS has no native part of its own: its generic netlink messages go through native/netlink
// (lib/netlink/transport.ts) on the NETLINK_GENERIC socket, the family id resolved by
// lib/netlink/genl.ts. What its queries resolve with:
import type { NetlinkDumpResult } from '../netlink/binding.js';

/**
 * IPVS replies: every reply message in `data`; request i's end at sections[i], its errno at
 * errnos[i]; with destinations followed, each service's real servers in the sections after.
 */
export type IpvsQueryResult = NetlinkDumpResult;
