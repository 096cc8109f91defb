// Netlink's fixed headers and constants (linux/netlink.h, linux/netfilter/nfnetlink.h,
// linux/genetlink.h), defined once for every subsystem. Values are the kernel's.

/** Socket protocols nlkit opens (the `protocol` argument of lib/netlink/transport.ts). */
export const NETLINK_ROUTE = 0, NETLINK_NETFILTER = 12, NETLINK_GENERIC = 16;
export type NetlinkProtocol = typeof NETLINK_ROUTE | typeof NETLINK_NETFILTER | typeof NETLINK_GENERIC;

// nlmsghdr.nlmsg_flags
export const NLM_F_REQUEST = 0x1, NLM_F_MULTI = 0x2, NLM_F_ACK = 0x4, NLM_F_ECHO = 0x8;
export const NLM_F_DUMP_INTR = 0x10, NLM_F_DUMP_FILTERED = 0x20;
// GET requests
export const NLM_F_ROOT = 0x100, NLM_F_MATCH = 0x200, NLM_F_ATOMIC = 0x400, NLM_F_DUMP = 0x300;
// NEW requests
export const NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_APPEND = 0x800;
// DELETE requests
export const NLM_F_NONREC = 0x100, NLM_F_BULK = 0x200;
// acknowledgements
export const NLM_F_CAPPED = 0x100, NLM_F_ACK_TLVS = 0x200;

// control message types
export const NLMSG_NOOP = 0x1, NLMSG_ERROR = 0x2, NLMSG_DONE = 0x3, NLMSG_OVERRUN = 0x4;
export const NLMSG_MIN_TYPE = 0x10;

// extended-ack attributes of an NLMSG_ERROR (enum nlmsgerr_attrs)
export const NLMSGERR_ATTR_MSG = 1, NLMSGERR_ATTR_OFFS = 2, NLMSGERR_ATTR_COOKIE = 3, NLMSGERR_ATTR_POLICY = 4;
export const NLMSGERR_ATTR_MISS_TYPE = 5, NLMSGERR_ATTR_MISS_NEST = 6;

// attribute type flags
export const NLA_F_NESTED = 0x8000, NLA_F_NET_BYTEORDER = 0x4000, NLA_TYPE_MASK = 0x3fff;

/** sizeof(struct nlmsghdr): u32 len, u16 type, u16 flags, u32 seq, u32 pid. */
export const NLMSG_HDRLEN = 16;
/** sizeof(struct nfgenmsg): u8 family, u8 version, be16 res_id. */
export const NFGENMSG_LEN = 4;
/** sizeof(struct genlmsghdr): u8 cmd, u8 version, u16 reserved. */
export const GENL_HDRLEN = 4;
/** sizeof(struct nlattr). */
export const NLA_HDRLEN = 4;

export const nlmsgAlign = (n: number): number => (n + 3) & ~3;

// nfnetlink
export const NFNETLINK_V0 = 0;
export const NFNL_MSG_BATCH_BEGIN = 0x10, NFNL_MSG_BATCH_END = 0x11;
/** NFNL_BATCH_GENID (u32, network order): the ruleset generation the batch was built against. */
export const NFNL_BATCH_GENID = 1;
export const NFNL_SUBSYS_NONE = 0, NFNL_SUBSYS_CTNETLINK = 1, NFNL_SUBSYS_CTNETLINK_EXP = 2, NFNL_SUBSYS_QUEUE = 3;
export const NFNL_SUBSYS_ULOG = 4, NFNL_SUBSYS_OSF = 5, NFNL_SUBSYS_IPSET = 6, NFNL_SUBSYS_ACCT = 7;
export const NFNL_SUBSYS_CTNETLINK_TIMEOUT = 8, NFNL_SUBSYS_CTHELPER = 9, NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_SUBSYS_NFT_COMPAT = 11, NFNL_SUBSYS_HOOK = 12;
/** nfnetlink message type: subsystem in the high byte, its message in the low one. */
export const nfnlType = (subsys: number, msg: number): number => (subsys << 8) | msg;

// nfnetlink multicast groups (enum nfnetlink_groups)
export const NFNLGRP_CONNTRACK_NEW = 1, NFNLGRP_CONNTRACK_UPDATE = 2, NFNLGRP_CONNTRACK_DESTROY = 3;
export const NFNLGRP_CONNTRACK_EXP_NEW = 4, NFNLGRP_CONNTRACK_EXP_UPDATE = 5, NFNLGRP_CONNTRACK_EXP_DESTROY = 6;
export const NFNLGRP_NFTABLES = 7, NFNLGRP_ACCT_QUOTA = 8, NFNLGRP_NFTRACE = 9;

// generic netlink controller
export const GENL_ID_CTRL = 0x10;

export interface NlMsgHeader {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/**
 * Writes a struct nlmsghdr at `at` (seq and pid are stamped by the native side).
 * @example writeNlmsghdr(buf, 0, { len: 20, type: NLMSG_NOOP, flags: NLM_F_REQUEST })
 */
export function writeNlmsghdr(b: Uint8Array, at: number, h: { len: number; type: number; flags: number; seq?: number; pid?: number }): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint32(at, h.len >>> 0, true);
  v.setUint16(at + 4, h.type, true);
  v.setUint16(at + 6, h.flags, true);
  v.setUint32(at + 8, (h.seq ?? 0) >>> 0, true);
  v.setUint32(at + 12, (h.pid ?? 0) >>> 0, true);
}

/**
 * Writes a struct nfgenmsg at `at`: family, version (NFNETLINK_V0), res_id in network order.
 * @example writeNfgenmsg(buf, 16, 2, 0)
 */
export function writeNfgenmsg(b: Uint8Array, at: number, family: number, resId = 0): void {
  b[at] = family;
  b[at + 1] = NFNETLINK_V0;
  b[at + 2] = (resId >>> 8) & 0xff;
  b[at + 3] = resId & 0xff;
}

/**
 * Writes a struct genlmsghdr at `at`.
 * @example writeGenlmsghdr(buf, 16, 1, 1)
 */
export function writeGenlmsghdr(b: Uint8Array, at: number, cmd: number, version: number): void {
  b[at] = cmd;
  b[at + 1] = version;
  b[at + 2] = 0;
  b[at + 3] = 0;
}

/**
 * An nfnetlink batch delimiter (NFNL_MSG_BATCH_BEGIN or _END) for `subsys`; BEGIN may carry
 * the generation the batch was built against, so the kernel refuses it (ERESTART) if the
 * ruleset changed since.
 * @example batchDelimiter(NFNL_MSG_BATCH_BEGIN, NFNL_SUBSYS_NFTABLES, 42)
 */
export function batchDelimiter(type: typeof NFNL_MSG_BATCH_BEGIN | typeof NFNL_MSG_BATCH_END, subsys: number, genid?: number): Uint8Array {
  const withGenid = genid !== undefined && type === NFNL_MSG_BATCH_BEGIN;
  const len = NLMSG_HDRLEN + NFGENMSG_LEN + (withGenid ? 8 : 0);
  const b = new Uint8Array(len);
  writeNlmsghdr(b, 0, { len, type, flags: NLM_F_REQUEST });
  writeNfgenmsg(b, NLMSG_HDRLEN, 0 /* AF_UNSPEC */, subsys);
  if (withGenid) {
    const v = new DataView(b.buffer);
    v.setUint16(20, 8, true);
    v.setUint16(22, NFNL_BATCH_GENID, true);
    v.setUint32(24, genid >>> 0, false);
  }
  return b;
}
