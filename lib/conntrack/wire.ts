// ctnetlink messages (NFNL_SUBSYS_CTNETLINK over nfnetlink), built and parsed in TypeScript.
// Numbers are those of the kernel's include/uapi/linux/netfilter/nfnetlink_conntrack.h and
// nf_conntrack_common.h; requests are shaped as conntrack-tools' libnetfilter_conntrack sends
// them. Pure functions: no module-level state besides constant tables.
import { AttrWriter } from '../netlink/attr-writer.js';
import {
  NFGENMSG_LEN, NFNL_SUBSYS_CTNETLINK, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
  nfnlType, writeNfgenmsg, writeNlmsghdr,
} from '../netlink/headers.js';
import { forEachAttr, nfMessages, type NfMessage } from '../netlink/reader.js';
import { formatIPv6 } from '../core/address.js';
import type { Counter, CpuStats, EventType, Family, Flow, Protocol, State, Status, Tuple } from './types.js';

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const Msg = { NEW: 0, GET: 1, DELETE: 2, GET_CTRZERO: 3, GET_STATS_CPU: 4, GET_STATS: 5 } as const;

export const CTA = {
  TUPLE_ORIG: 1, TUPLE_REPLY: 2, STATUS: 3, PROTOINFO: 4, HELP: 5, NAT_SRC: 6, TIMEOUT: 7, MARK: 8,
  COUNTERS_ORIG: 9, COUNTERS_REPLY: 10, USE: 11, ID: 12, NAT_DST: 13, TUPLE_MASTER: 14, ZONE: 18,
  TIMESTAMP: 20, MARK_MASK: 21, LABELS: 22, LABELS_MASK: 23, SYNPROXY: 24, FILTER: 25, STATUS_MASK: 26,
} as const;
const TUPLE_IP = 1, TUPLE_PROTO = 2, TUPLE_ZONE = 3;
const IP_V4_SRC = 1, IP_V4_DST = 2, IP_V6_SRC = 3, IP_V6_DST = 4;
const PROTO_NUM = 1, PROTO_SRC_PORT = 2, PROTO_DST_PORT = 3, PROTO_ICMP_ID = 4, PROTO_ICMP_TYPE = 5,
  PROTO_ICMP_CODE = 6, PROTO_ICMPV6_ID = 7, PROTO_ICMPV6_TYPE = 8, PROTO_ICMPV6_CODE = 9;
const PROTOINFO_TCP = 1, PROTOINFO_SCTP = 3;
const PROTOINFO_TCP_STATE = 1, PROTOINFO_TCP_FLAGS_ORIGINAL = 4, PROTOINFO_TCP_FLAGS_REPLY = 5;
const PROTOINFO_SCTP_STATE = 1;
const COUNTERS_PACKETS = 1, COUNTERS_BYTES = 2, COUNTERS32_PACKETS = 3, COUNTERS32_BYTES = 4;
const STATS_GLOBAL_ENTRIES = 1, STATS_GLOBAL_MAX_ENTRIES = 2;
// IP_CT_TCP_FLAG_SACK_PERM | IP_CT_TCP_FLAG_BE_LIBERAL: what `conntrack -I` sets on a tcp flow
// it creates, so that the kernel accepts its packets without window data it never saw.
const TCP_FLAGS_INSERTED = 0x0a;

export const IPPROTO: Record<string, number> = {
  icmp: 1, tcp: 6, udp: 17, dccp: 33, gre: 47, icmpv6: 58, sctp: 132, udplite: 136,
};
const PROTO_NAME: Record<number, Protocol> = {
  1: 'icmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 47: 'gre', 58: 'icmpv6', 132: 'sctp', 136: 'udplite',
};
/** Protocol names by number, as an array: read for every flow of a listing. */
const PROTO_NAMES: readonly (Protocol | undefined)[] = Array.from({ length: 256 }, (_, i) => PROTO_NAME[i]);
export const protocolName = (n: number): Protocol => PROTO_NAMES[n] ?? n;
/** Protocols whose tuples carry ports. */
export const hasPorts = (p: number): boolean => p === 6 || p === 17 || p === 33 || p === 132 || p === 136;
export const isIcmp = (p: number): boolean => p === 1 || p === 58;

export const STATUS_BITS: readonly Status[] = [
  'EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED', 'SRC_NAT', 'DST_NAT', 'SEQ_ADJUST', 'SRC_NAT_DONE',
  'DST_NAT_DONE', 'DYING', 'FIXED_TIMEOUT', 'TEMPLATE', 'NAT_CLASH', 'HELPER', 'OFFLOAD', 'HW_OFFLOAD',
];
export const TCP_STATES: readonly State[] = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE',
  'SYN_SENT2',
];
export const SCTP_STATES: readonly State[] = [
  'NONE', 'CLOSED', 'COOKIE_WAIT', 'COOKIE_ECHOED', 'ESTABLISHED', 'SHUTDOWN_SENT', 'SHUTDOWN_RECD',
  'SHUTDOWN_ACK_SENT', 'HEARTBEAT_SENT', 'HEARTBEAT_ACKED',
];

export const statusBits = (names: readonly Status[]): number => {
  let v = 0;
  for (const n of names) v |= 1 << STATUS_BITS.indexOf(n);
  return v >>> 0;
};
export const statusNames = (bits: number): Status[] => {
  const out: Status[] = [];
  for (let i = 0; i < STATUS_BITS.length; i++) if (bits & (1 << i)) out.push(STATUS_BITS[i]!);
  return out;
};

// ---------------------------------------------------------------------------------------------
// Requests

/** A tuple checked and reduced to what goes on the wire (see validate.ts). */
export interface WireTuple {
  src: Uint8Array;
  dst: Uint8Array;
  sport?: number;
  dport?: number;
  type?: number;
  code?: number;
  id?: number;
}

/** A flow checked for create/update: numbers only. */
export interface WireFlow {
  family: number;
  proto: number;
  original: WireTuple;
  reply?: WireTuple;
  /** TCP or SCTP state number. */
  state?: number;
  status?: number;
  mark?: number;
  zone?: number;
  /** Seconds. */
  timeout?: number;
  labels?: Uint8Array;
  /** CTA_ID, for deletes of a listed entry. */
  id?: number;
}

/** nlmsghdr + nfgenmsg writer for ctnetlink; seq and portid are the socket's business (left 0). */
export class CtWriter extends AttrWriter {
  private start = -1;

  constructor(size = 256) {
    super(size);
  }

  begin(msg: number, flags: number, family: number, resId = 0): void {
    this.ensure(NLMSG_HDRLEN + NFGENMSG_LEN);
    this.start = this.pos;
    writeNlmsghdr(this.buf, this.pos, { len: 0, type: nfnlType(NFNL_SUBSYS_CTNETLINK, msg), flags });
    writeNfgenmsg(this.buf, this.pos + NLMSG_HDRLEN, family, resId);
    this.pos += NLMSG_HDRLEN + NFGENMSG_LEN;
  }

  end(): void {
    this.buf.writeUInt32LE(this.pos - this.start, this.start);
  }

  /** The messages written so far (a view). */
  bytes_(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  tuple(type: number, family: number, proto: number, t: WireTuple, zone?: number): void {
    const n = this.nest(type);
    const ip = this.nest(TUPLE_IP);
    this.bytes(family === AF_INET6 ? IP_V6_SRC : IP_V4_SRC, t.src);
    this.bytes(family === AF_INET6 ? IP_V6_DST : IP_V4_DST, t.dst);
    this.endNest(ip);
    const pr = this.nest(TUPLE_PROTO);
    this.u8(PROTO_NUM, proto);
    // Attribute order as libnetfilter_conntrack writes it.
    if (hasPorts(proto)) {
      this.be16(PROTO_SRC_PORT, t.sport ?? 0);
      this.be16(PROTO_DST_PORT, t.dport ?? 0);
    } else if (proto === 1) {
      this.u8(PROTO_ICMP_CODE, t.code ?? 0);
      this.u8(PROTO_ICMP_TYPE, t.type ?? 0);
      this.be16(PROTO_ICMP_ID, t.id ?? 0);
    } else if (proto === 58) {
      this.u8(PROTO_ICMPV6_CODE, t.code ?? 0);
      this.u8(PROTO_ICMPV6_TYPE, t.type ?? 0);
      this.be16(PROTO_ICMPV6_ID, t.id ?? 0);
    }
    this.endNest(pr);
    if (zone !== undefined) this.be16(TUPLE_ZONE, zone);
    this.endNest(n);
  }

  protoinfo(proto: number, state: number, create: boolean): void {
    const n = this.nest(CTA.PROTOINFO);
    if (proto === 6) {
      const t = this.nest(PROTOINFO_TCP);
      this.u8(PROTOINFO_TCP_STATE, state);
      if (create) {
        // struct nf_ct_tcp_flags { u8 flags; u8 mask; }
        this.bytes(PROTOINFO_TCP_FLAGS_ORIGINAL, Uint8Array.of(TCP_FLAGS_INSERTED, TCP_FLAGS_INSERTED));
        this.bytes(PROTOINFO_TCP_FLAGS_REPLY, Uint8Array.of(TCP_FLAGS_INSERTED, TCP_FLAGS_INSERTED));
      }
      this.endNest(t);
    } else {
      const s = this.nest(PROTOINFO_SCTP);
      this.u8(PROTOINFO_SCTP_STATE, state);
      this.endNest(s);
    }
    this.endNest(n);
  }
}

/** IPCTNL_MSG_CT_NEW: create (NLM_F_CREATE|NLM_F_EXCL, as `conntrack -I`) or update an existing flow (as `conntrack -U`). */
export function writeNew(w: CtWriter, f: WireFlow, create: boolean): void {
  w.begin(Msg.NEW, NLM_F_REQUEST | NLM_F_ACK | (create ? NLM_F_CREATE | NLM_F_EXCL : 0), f.family);
  w.tuple(CTA.TUPLE_ORIG, f.family, f.proto, f.original);
  if (f.reply) w.tuple(CTA.TUPLE_REPLY, f.family, f.proto, f.reply);
  if (f.status !== undefined) w.be32(CTA.STATUS, f.status);
  if (f.timeout !== undefined) w.be32(CTA.TIMEOUT, f.timeout);
  if (f.mark !== undefined) w.be32(CTA.MARK, f.mark);
  if (f.state !== undefined && (f.proto === 6 || f.proto === 132)) w.protoinfo(f.proto, f.state, create);
  if (f.labels) w.bytes(CTA.LABELS, f.labels);
  if (f.zone !== undefined) w.be16(CTA.ZONE, f.zone);
  w.end();
}

/** IPCTNL_MSG_CT_DELETE of one entry: its original tuple and zone, and its id so that a
 * flow recreated under the same tuple since the dump is left alone. */
export function writeDelete(w: CtWriter, f: WireFlow): void {
  w.begin(Msg.DELETE, NLM_F_REQUEST | NLM_F_ACK, f.family);
  w.tuple(CTA.TUPLE_ORIG, f.family, f.proto, f.original);
  if (f.id !== undefined) w.be32(CTA.ID, f.id);
  if (f.zone) w.be16(CTA.ZONE, f.zone);
  w.end();
}

/**
 * IPCTNL_MSG_CT_DELETE of a dumped entry, written from the dump message's own attributes
 * (CTA_TUPLE_ORIG, CTA_ID, CTA_ZONE copied as the kernel sent them): no Flow object is made
 * for a delete. Returns false when the message lacks a tuple.
 */
export function writeDeleteOf(w: CtWriter, b: Buffer, m: Message): boolean {
  return writeDeleteAt(w, b, m.at, m.end);
}

/** writeDeleteOf for the message whose payload (nfgenmsg) lies at b[at, end). */
export function writeDeleteAt(w: CtWriter, b: Uint8Array, at: number, end: number): boolean {
  let tuple = -1, tupleEnd = 0, id = -1, zone = -1;
  for (let p = at + NFGEN_LEN; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    const type = u16(b, p + 2) & 0x3fff;
    if (type === CTA.TUPLE_ORIG) { tuple = p; tupleEnd = p + len; } else if (type === CTA.ID) id = p;
    else if (type === CTA.ZONE) zone = p;
    p += (len + 3) & ~3;
  }
  if (tuple < 0) return false;
  // Written byte by byte (header, then the attributes copied as the kernel sent them, padded):
  // a delete by filter writes one of these per matching flow of a table a million long.
  const tupleLen = (tupleEnd - tuple + 3) & ~3;
  const total = NLMSG_LEN + NFGEN_LEN + tupleLen + (id >= 0 ? 8 : 0) + (zone >= 0 ? 8 : 0);
  w.ensure(total);
  const o = w.buf, start = w.pos;
  const type = nfnlType(NFNL_SUBSYS_CTNETLINK, Msg.DELETE), flags = NLM_F_REQUEST | NLM_F_ACK;
  o[start] = total & 0xff; o[start + 1] = (total >>> 8) & 0xff; o[start + 2] = (total >>> 16) & 0xff; o[start + 3] = total >>> 24;
  o[start + 4] = type & 0xff; o[start + 5] = type >>> 8; o[start + 6] = flags & 0xff; o[start + 7] = flags >>> 8;
  for (let i = 8; i < 16; i++) o[start + i] = 0;
  o[start + 16] = b[at]!; o[start + 17] = 0 /* NFNETLINK_V0 */; o[start + 18] = 0; o[start + 19] = 0;
  let q = start + NLMSG_LEN + NFGEN_LEN;
  const copy = (from: number, n: number, padded: number) => {
    for (let i = 0; i < n; i++) o[q + i] = b[from + i]!;
    for (let i = n; i < padded; i++) o[q + i] = 0;
    q += padded;
  };
  copy(tuple, tupleEnd - tuple, tupleLen);
  if (id >= 0) copy(id, 8, 8);
  if (zone >= 0) copy(zone, 6, 8);
  w.pos = q;
  return true;
}

/** IPCTNL_MSG_CT_DELETE without a tuple: the whole table, or one family's part of it. */
export function flushRequest(family: number): Buffer {
  const w = new CtWriter(32);
  w.begin(Msg.DELETE, NLM_F_REQUEST | NLM_F_ACK, family);
  w.end();
  return Buffer.from(w.bytes_());
}

/** Tuple fields a dump can be narrowed by in the kernel (CTA_FILTER). */
export interface TupleSelect {
  src?: Uint8Array;
  dst?: Uint8Array;
  sport?: number;
  dport?: number;
  type?: number;
  code?: number;
  id?: number;
}

/** The kernel-side part of a filter: what the dump request itself can narrow. */
export interface DumpSelect {
  family: number;
  mark?: { value: number; mask: number };
  /** Status bits that must all be set (CTA_STATUS + CTA_STATUS_MASK, as conntrack -L -u sends them). */
  status?: number;
  proto?: number;
  original?: TupleSelect;
  reply?: TupleSelect;
}

// CTA_FILTER_FLAG() bits of the kernel's nf_internals.h: which tuple fields CTA_FILTER compares.
const F_IP_SRC = 1 << 0, F_IP_DST = 1 << 1, F_PROTO_NUM = 1 << 3, F_SRC_PORT = 1 << 4, F_DST_PORT = 1 << 5;
const F_ICMP_TYPE = 1 << 6, F_ICMP_CODE = 1 << 7, F_ICMP_ID = 1 << 8, F_ICMPV6_TYPE = 1 << 9, F_ICMPV6_CODE = 1 << 10, F_ICMPV6_ID = 1 << 11;
const CTA_FILTER_ORIG_FLAGS = 1, CTA_FILTER_REPLY_FLAGS = 2;

/** The CTA_FILTER flags for a tuple selection: only what the kernel compares (ports of tcp and udp, icmp fields). */
function filterFlags(proto: number | undefined, t: TupleSelect | undefined): number {
  let f = 0;
  // IPv4 addresses only: the kernel's IPv6 comparison (ctnetlink_filter_match_tuple) is
  // inverted, it drops the flows whose address equals the filter's (seen on 6.18); IPv6
  // addresses are matched in TypeScript alone.
  if (t?.src?.length === 4) f |= F_IP_SRC;
  if (t?.dst?.length === 4) f |= F_IP_DST;
  if (proto === undefined) return f;
  f |= F_PROTO_NUM;
  if (proto === 6 || proto === 17) {
    if (t?.sport !== undefined) f |= F_SRC_PORT;
    if (t?.dport !== undefined) f |= F_DST_PORT;
  } else if (proto === 1 || proto === 58) {
    const v6 = proto === 58;
    if (t?.type !== undefined) f |= v6 ? F_ICMPV6_TYPE : F_ICMP_TYPE;
    if (t?.code !== undefined) f |= v6 ? F_ICMPV6_CODE : F_ICMP_CODE;
    if (t?.id !== undefined) f |= v6 ? F_ICMPV6_ID : F_ICMP_ID;
  }
  return f;
}

function writeSelectTuple(w: CtWriter, type: number, family: number, proto: number | undefined, t: TupleSelect | undefined, flags: number): void {
  const n = w.nest(type);
  if (flags & (F_IP_SRC | F_IP_DST)) {
    const ip = w.nest(TUPLE_IP);
    if (t?.src) w.bytes(family === AF_INET6 ? IP_V6_SRC : IP_V4_SRC, t.src);
    if (t?.dst) w.bytes(family === AF_INET6 ? IP_V6_DST : IP_V4_DST, t.dst);
    w.endNest(ip);
  }
  if (flags & F_PROTO_NUM) {
    const pr = w.nest(TUPLE_PROTO);
    w.u8(PROTO_NUM, proto!);
    if (flags & F_SRC_PORT) w.be16(PROTO_SRC_PORT, t!.sport!);
    if (flags & F_DST_PORT) w.be16(PROTO_DST_PORT, t!.dport!);
    if (flags & (F_ICMP_ID | F_ICMPV6_ID)) w.be16(proto === 58 ? PROTO_ICMPV6_ID : PROTO_ICMP_ID, t!.id!);
    if (flags & (F_ICMP_TYPE | F_ICMPV6_TYPE)) w.u8(proto === 58 ? PROTO_ICMPV6_TYPE : PROTO_ICMP_TYPE, t!.type!);
    if (flags & (F_ICMP_CODE | F_ICMPV6_CODE)) w.u8(proto === 58 ? PROTO_ICMPV6_CODE : PROTO_ICMP_CODE, t!.code!);
    w.endNest(pr);
  }
  w.endNest(n);
}

function writeDump(w: CtWriter, sel: DumpSelect, family: number): void {
  w.begin(Msg.GET, NLM_F_REQUEST | NLM_F_DUMP, family);
  if (sel.mark) {
    w.be32(CTA.MARK, sel.mark.value);
    w.be32(CTA.MARK_MASK, sel.mark.mask);
  }
  if (sel.status) {
    w.be32(CTA.STATUS, sel.status);
    w.be32(CTA.STATUS_MASK, sel.status);
  }
  // CTA_FILTER needs an address family (the kernel refuses it for AF_UNSPEC).
  const of = filterFlags(sel.proto, sel.original), rf = sel.reply ? filterFlags(sel.proto, sel.reply) : 0;
  if (family !== AF_UNSPEC && (of || rf)) {
    if (of) writeSelectTuple(w, CTA.TUPLE_ORIG, family, sel.proto, sel.original, of);
    if (rf) writeSelectTuple(w, CTA.TUPLE_REPLY, family, sel.proto, sel.reply, rf);
    const n = w.nest(CTA.FILTER);
    w.u32(CTA_FILTER_ORIG_FLAGS, of);
    w.u32(CTA_FILTER_REPLY_FLAGS, rf);
    w.endNest(n);
  }
  w.end();
}

/**
 * IPCTNL_MSG_CT_GET dump requests narrowed in the kernel by family (nfgenmsg), mark/mask,
 * status and tuple fields (CTA_FILTER). A tuple selection without a family is sent as two
 * dumps, inet and inet6, since the kernel compares tuples only within a family; `oneWalk`
 * sends one family-less dump without the tuple fields instead (the caller matches them), whose
 * flows come in the kernel's table order, both families mixed, as `conntrack -L` prints them.
 * What the kernel does not compare (sctp ports, zones) is left to the caller's own matching.
 * @example const { bytes, ends } = dumpRequests({ family: AF_UNSPEC, proto: 17 }); // two dumps
 */
export function dumpRequests(sel: DumpSelect, opts: { oneWalk?: boolean } = {}): { bytes: Buffer; ends: Uint32Array } {
  const w = new CtWriter(256);
  const ends: number[] = [];
  if (opts.oneWalk && sel.family === AF_UNSPEC) {
    sel = { family: AF_UNSPEC, ...(sel.mark ? { mark: sel.mark } : {}), ...(sel.status ? { status: sel.status } : {}) };
  }
  const tupled = filterFlags(sel.proto, sel.original) !== 0 || (sel.reply !== undefined && filterFlags(sel.proto, sel.reply) !== 0);
  for (const family of sel.family === AF_UNSPEC && tupled ? [AF_INET, AF_INET6] : [sel.family]) {
    writeDump(w, sel, family);
    ends.push(w.pos);
  }
  return { bytes: Buffer.from(w.bytes_()), ends: Uint32Array.from(ends) };
}

/** One unfiltered (or family/mark-narrowed) dump request. */
export const dumpRequest = (sel: DumpSelect): Buffer => dumpRequests(sel).bytes;

/** IPCTNL_MSG_CT_GET_STATS_CPU (a dump, one message per CPU) or IPCTNL_MSG_CT_GET_STATS (one reply). */
export function statsRequest(perCpu: boolean): Buffer {
  const w = new CtWriter(32);
  w.begin(perCpu ? Msg.GET_STATS_CPU : Msg.GET_STATS, NLM_F_REQUEST | (perCpu ? NLM_F_DUMP : 0), AF_UNSPEC);
  w.end();
  return Buffer.from(w.bytes_());
}

// ---------------------------------------------------------------------------------------------
// Replies

/** One netlink message inside a buffer: its header fields and where its payload (the nfgenmsg) lies. */
export type Message = NfMessage;

/** The messages in a buffer of concatenated netlink messages (a dump's replies, an event batch). */
export const messages = (buf: Buffer): Message[] => nfMessages(buf);

/** Called with the payload range of one flow message: its nfgenmsg at `at`, the message's end. */
export type FlowMessage = (b: Buffer, at: number, end: number) => void;

/**
 * Calls each(b, at, end) for every IPCTNL_MSG_CT_NEW message of a buffer of replies (a dump's
 * flows), without an object per message.
 * @example forEachFlowMessage(chunk, (b, at, end) => { if (matchesMessage(b, at, end, rf)) n++; });
 */
export function forEachFlowMessage(b: Buffer, each: FlowMessage): void {
  const type = (NFNL_SUBSYS_CTNETLINK << 8) | Msg.NEW;
  for (let at = 0; at + NLMSG_LEN <= b.length;) {
    const len = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
    if (len < NLMSG_LEN || at + len > b.length) break;
    if ((b[at + 4]! | (b[at + 5]! << 8)) === type) each(b, at + NLMSG_LEN, at + len);
    at += (len + 3) & ~3;
  }
}

/** The message kind of a ctnetlink message type, or -1 for another subsystem's. */
export const ctMsg = (type: number): number => (type >> 8 === NFNL_SUBSYS_CTNETLINK ? type & 0xff : -1);

// Byte arithmetic instead of Buffer's checked read methods: the flow parser reads a few
// dozen fields per entry of dumps a million entries long.
const u16 = (b: Uint8Array, p: number) => b[p]! | (b[p + 1]! << 8);
const be16 = (b: Uint8Array, p: number) => (b[p]! << 8) | b[p + 1]!;
const be32 = (b: Uint8Array, p: number) => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
const be64 = (b: Uint8Array, p: number) => be32(b, p) * 4294967296 + be32(b, p + 4);

// The parsers below walk attributes with plain loops (no callback per attribute, no object per
// attribute): a dump of a large table is millions of attributes, and list() parses every flow.

// Header lengths as local constants for the loops below (a module's imported bindings are
// property reads under some loaders).
const NFGEN_LEN = 4, NLMSG_LEN = 16;
/** Decimal text of each byte value, and with its dot: a dotted quad is four lookups and three joins. */
const DEC: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));
const DEC_DOT: readonly string[] = DEC.map((d) => `${d}.`);
const ipv4At = (b: Uint8Array, p: number) => DEC_DOT[b[p]!]! + DEC_DOT[b[p + 1]!]! + DEC_DOT[b[p + 2]!]! + DEC[b[p + 3]!]!;
/** Slots of a listing's IPv4 text cache: 2^V4_BITS (the hash keeps the top V4_BITS bits). */
const V4_BITS = 12;

/**
 * What the parser of one listing keeps between its flows (the caller's, so the parser stays
 * pure): the last tuple's protocol number (no wrapper object per tuple), the text of IPv4
 * addresses seen lately (a table's flows share addresses: each reply tuple repeats its
 * original's two, services repeat theirs), so one string serves them all instead of one per
 * field, and each status bit set's names, copied per flow.
 * @example const scratch = new FlowScratch(); forEachFlowMessage(data, (b, at, end) => flows.push(parseFlowAt(b, at, end, scratch)));
 */
export class FlowScratch {
  proto = 0;
  // A direct-mapped cache (a miss overwrites its slot): bounded by construction, and no Map,
  // whose number keys past 2^30 are heap numbers made per lookup.
  private readonly v4Keys: Int32Array;
  private readonly v4Texts: string[];
  private readonly v4Shift: number;
  private readonly statuses = new Map<number, Status[]>();

  /** `bits`: the cache holds 2^bits addresses (1 to 16; a lone message needs few). */
  constructor(bits = V4_BITS) {
    const b = Math.min(16, Math.max(1, bits | 0));
    this.v4Keys = new Int32Array(1 << b);
    this.v4Texts = new Array<string>(1 << b).fill('');
    this.v4Shift = 32 - b;
  }

  /** The text of the IPv4 address at b[p..p+4). */
  ipv4(b: Uint8Array, p: number): string {
    const key = (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
    const slot = Math.imul(key, 0x9e3779b1) >>> this.v4Shift;
    const s = this.v4Texts[slot]!;
    if (this.v4Keys[slot] === key && s !== '') return s;
    const t = ipv4At(b, p);
    this.v4Keys[slot] = key;
    this.v4Texts[slot] = t;
    return t;
  }

  /** The status names of `bits`: a fresh array per flow (callers may change theirs), copied from one made once per value. */
  status(bits: number): Status[] {
    let names = this.statuses.get(bits);
    if (names === undefined) {
      names = statusNames(bits);
      this.statuses.set(bits, names);
    }
    // Array literals of the exact length for the common counts: one allocation site each, which
    // V8 learns to allocate in the old generation when a listing keeps its flows.
    switch (names.length) {
      case 0: return [];
      case 1: return [names[0]!];
      case 2: return [names[0]!, names[1]!];
      case 3: return [names[0]!, names[1]!, names[2]!];
      case 4: return [names[0]!, names[1]!, names[2]!, names[3]!];
      case 5: return [names[0]!, names[1]!, names[2]!, names[3]!, names[4]!];
      default: return names.slice();
    }
  }
}

/** A tuple nest; its protocol number goes to scratch.proto. */
function parseTuple(b: Buffer, at: number, end: number, scratch: FlowScratch): Tuple {
  let src = '', dst = '', sport = -1, dport = -1, type = -1, code = 0, id = 0;
  for (let p = at; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    const k = u16(b, p + 2) & 0x3fff, to = p + len;
    if (k === TUPLE_IP) {
      for (let q = p + 4; q + 4 <= to;) {
        const l = u16(b, q);
        if (l < 4 || q + l > to) break;
        const a = u16(b, q + 2) & 0x3fff;
        if (a === IP_V4_SRC) src = scratch.ipv4(b, q + 4);
        else if (a === IP_V4_DST) dst = scratch.ipv4(b, q + 4);
        else if (a === IP_V6_SRC) src = formatIPv6(b, q + 4);
        else if (a === IP_V6_DST) dst = formatIPv6(b, q + 4);
        q += (l + 3) & ~3;
      }
    } else if (k === TUPLE_PROTO) {
      for (let q = p + 4; q + 4 <= to;) {
        const l = u16(b, q);
        if (l < 4 || q + l > to) break;
        const v = q + 4;
        switch (u16(b, q + 2) & 0x3fff) {
          case PROTO_NUM: scratch.proto = b[v]!; break;
          case PROTO_SRC_PORT: sport = be16(b, v); break;
          case PROTO_DST_PORT: dport = be16(b, v); break;
          case PROTO_ICMP_TYPE: case PROTO_ICMPV6_TYPE: type = b[v]!; break;
          case PROTO_ICMP_CODE: case PROTO_ICMPV6_CODE: code = b[v]!; break;
          case PROTO_ICMP_ID: case PROTO_ICMPV6_ID: id = be16(b, v); break;
        }
        q += (l + 3) & ~3;
      }
    }
    p += (len + 3) & ~3;
  }
  // Key order as DESIGN.md writes tuples, whatever order the attributes came in; one shape per kind.
  if (sport >= 0) return { src, dst, sport, dport: dport < 0 ? 0 : dport };
  if (type >= 0) return { src, dst, type, code, id };
  return { src, dst };
}

function parseCounter(b: Buffer, at: number, end: number): Counter {
  let packets = 0, bytes = 0;
  for (let p = at; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    const v = p + 4;
    switch (u16(b, p + 2) & 0x3fff) {
      case COUNTERS_PACKETS: packets = be64(b, v); break;
      case COUNTERS_BYTES: bytes = be64(b, v); break;
      case COUNTERS32_PACKETS: packets = be32(b, v); break;
      case COUNTERS32_BYTES: bytes = be32(b, v); break;
    }
    p += (len + 3) & ~3;
  }
  return { packets, bytes };
}

/** Label bit numbers set in a CTA_LABELS bitmap (host-order words: little-endian bytes on every Linux nlkit runs on). */
function parseLabels(b: Buffer, at: number, end: number): number[] {
  const out: number[] = [];
  for (let i = at; i < end; i++) for (let bit = 0; bit < 8; bit++) if (b[i]! & (1 << bit)) out.push((i - at) * 8 + bit);
  return out;
}

/** The TCP or SCTP state inside CTA_PROTOINFO. */
function parseState(b: Buffer, at: number, end: number): State | undefined {
  let state: State | undefined;
  for (let p = at; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    const k = u16(b, p + 2) & 0x3fff, to = p + len;
    if (k === PROTOINFO_TCP || k === PROTOINFO_SCTP) {
      const states = k === PROTOINFO_TCP ? TCP_STATES : SCTP_STATES;
      const want = k === PROTOINFO_TCP ? PROTOINFO_TCP_STATE : PROTOINFO_SCTP_STATE;
      for (let q = p + 4; q + 4 <= to;) {
        const l = u16(b, q);
        if (l < 4 || q + l > to) break;
        if ((u16(b, q + 2) & 0x3fff) === want) state = states[b[q + 4]!];
        q += (l + 3) & ~3;
      }
    }
    p += (len + 3) & ~3;
  }
  return state;
}

/** Parses one IPCTNL_MSG_CT_NEW / CT_DELETE message (a dump entry or an event) into a Flow. */
export function parseFlow(b: Buffer, m: Message): Flow {
  return parseFlowAt(b, m.at, m.end, new FlowScratch(2));
}

// CTA numbers as plain constants for the parser's switch, which runs for every attribute of a dump.
const CTA_TUPLE_ORIG = 1, CTA_TUPLE_REPLY = 2, CTA_STATUS = 3, CTA_PROTOINFO = 4, CTA_TIMEOUT = 7, CTA_MARK = 8,
  CTA_COUNTERS_ORIG = 9, CTA_COUNTERS_REPLY = 10, CTA_USE = 11, CTA_ID = 12, CTA_ZONE = 18, CTA_LABELS = 22;

/**
 * parseFlow for the message whose payload (nfgenmsg) lies at b[at, end); `scratch` (see
 * FlowScratch, the caller's) is reused across the flows of a dump.
 * @example const scratch = new FlowScratch(); forEachFlowMessage(data, (b, at, end) => flows.push(parseFlowAt(b, at, end, scratch)));
 */
export function parseFlowAt(b: Buffer, at: number, end: number, scratch: FlowScratch): Flow {
  const family = b[at]!;
  let original: Tuple | undefined, reply: Tuple | undefined, proto = 0;
  let status = 0, timeout = 0, mark = 0, zone = 0, id = 0, use: number | undefined;
  let state: State | undefined, co: Counter | undefined, cr: Counter | undefined, labels: number[] | undefined;
  for (let p = at + NFGEN_LEN; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    const v = p + 4, to = p + len;
    switch (u16(b, p + 2) & 0x3fff) {
      case CTA_TUPLE_ORIG: scratch.proto = 0; original = parseTuple(b, v, to, scratch); proto = scratch.proto; break;
      case CTA_TUPLE_REPLY: reply = parseTuple(b, v, to, scratch); break;
      case CTA_STATUS: status = be32(b, v); break;
      case CTA_TIMEOUT: timeout = be32(b, v) * 1000; break;
      case CTA_MARK: mark = be32(b, v); break;
      case CTA_ZONE: zone = be16(b, v); break;
      case CTA_ID: id = be32(b, v); break;
      case CTA_USE: use = be32(b, v); break;
      case CTA_COUNTERS_ORIG: co = parseCounter(b, v, to); break;
      case CTA_COUNTERS_REPLY: cr = parseCounter(b, v, to); break;
      case CTA_LABELS: labels = parseLabels(b, v, to); break;
      case CTA_PROTOINFO: state = parseState(b, v, to); break;
    }
    p += (len + 3) & ~3;
  }
  // One object literal per common kind (state or not, counters or not; CTA_USE always comes
  // with a dump's flows), so each kind has one shape with every field in the object itself, in
  // DESIGN.md's key order; a flow without CTA_USE or with labels is built field by field.
  const fam: Family = family === AF_INET6 ? 'inet6' : 'inet', protocol = protocolName(proto);
  const o = original ?? { src: '', dst: '' }, r = reply ?? { src: '', dst: '' }, names = scratch.status(status);
  if (use !== undefined && labels === undefined) {
    if (co === undefined && cr === undefined) {
      return state !== undefined
        ? { id, family: fam, protocol, original: o, reply: r, state, status: names, mark, zone, timeout, use }
        : { id, family: fam, protocol, original: o, reply: r, status: names, mark, zone, timeout, use };
    }
    const counters = { original: co ?? { packets: 0, bytes: 0 }, reply: cr ?? { packets: 0, bytes: 0 } };
    return state !== undefined
      ? { id, family: fam, protocol, original: o, reply: r, state, status: names, mark, zone, timeout, counters, use }
      : { id, family: fam, protocol, original: o, reply: r, status: names, mark, zone, timeout, counters, use };
  }
  const flow = { id, family: fam, protocol, original: o, reply: r } as Flow;
  if (state !== undefined) flow.state = state;
  flow.status = names;
  flow.mark = mark;
  flow.zone = zone;
  flow.timeout = timeout;
  if (co || cr) flow.counters = { original: co ?? { packets: 0, bytes: 0 }, reply: cr ?? { packets: 0, bytes: 0 } };
  if (use !== undefined) flow.use = use;
  if (labels && labels.length) flow.labels = labels;
  return flow;
}

/** new / update / destroy of an event message (as conntrack -E tells them apart), or undefined for another kind. */
export function eventType(m: Message): EventType | undefined {
  const k = ctMsg(m.type);
  if (k === Msg.DELETE) return 'destroy';
  if (k !== Msg.NEW) return undefined;
  return m.flags & (NLM_F_CREATE | NLM_F_EXCL) ? 'new' : 'update';
}

const CPU_STAT_NAMES: (keyof CpuStats | undefined)[] = [
  undefined, undefined /* searched */, 'found', undefined /* new */, 'invalid', undefined /* ignore */,
  undefined /* delete */, undefined /* delete_list */, 'insert', 'insert_failed', 'drop', 'early_drop', 'error',
  'search_restart', 'clash_resolve', 'chaintoolong',
];

/** One IPCTNL_MSG_CT_GET_STATS_CPU reply: the CPU is the nfgenmsg's res_id. */
export function parseCpuStats(b: Buffer, m: Message): CpuStats {
  const s: CpuStats = {
    cpu: be16(b, m.at + 2), found: 0, invalid: 0, insert: 0, insert_failed: 0, drop: 0, early_drop: 0, error: 0,
    search_restart: 0, clash_resolve: 0, chaintoolong: 0,
  };
  forEachAttr(b, m.at + NFGENMSG_LEN, m.end, (k, p) => {
    const name = CPU_STAT_NAMES[k];
    if (name && name !== 'cpu') s[name] = be32(b, p);
  });
  return s;
}

/** IPCTNL_MSG_CT_GET_STATS: how many entries the table holds, and its limit when the kernel says. */
export function parseGlobalStats(b: Buffer, m: Message): { entries: number; maxEntries?: number } {
  const out: { entries: number; maxEntries?: number } = { entries: 0 };
  forEachAttr(b, m.at + NFGENMSG_LEN, m.end, (k, p) => {
    if (k === STATS_GLOBAL_ENTRIES) out.entries = be32(b, p);
    else if (k === STATS_GLOBAL_MAX_ENTRIES) out.maxEntries = be32(b, p);
  });
  return out;
}

