// A checked filter matched against a dumped flow's own bytes (a ctnetlink CT_NEW message), so
// that count() and delete() never build a Flow, and list() builds one only for the flows that
// pass. It decides exactly as validate.ts matches() does on the parsed Flow (the unit tests hold
// the two together on captured kernel bytes). Pure functions; no module-level state.
import { parseIPv4, parseIPv6 } from '../core/address.js';
import { AF_INET6, SCTP_STATES, TCP_STATES } from './wire.js';
import type { CheckedFilter } from './validate.js';
import type { State } from './types.js';

/** A tuple selection in wire terms; -1: not asked. */
interface RawTuple {
  src?: Uint8Array;
  dst?: Uint8Array;
  sport: number;
  dport: number;
  type: number;
  code: number;
  id: number;
}

/** A checked filter compiled for matchesMessage(). */
export interface RawFilter {
  /** Nothing to compare: every flow passes. */
  all: boolean;
  family: number;
  proto: number;
  original?: RawTuple;
  reply?: RawTuple;
  mark: boolean;
  markValue: number;
  markMask: number;
  zone: number;
  status: number;
  state?: State;
  labels?: number[];
}

// Attribute numbers of nfnetlink_conntrack.h, kept here as plain constants: the matcher runs
// once per flow of a dump and reads them in its inner loops.
const NFGENMSG_LEN = 4;
const CTA_TUPLE_ORIG = 1, CTA_TUPLE_REPLY = 2, CTA_STATUS = 3, CTA_PROTOINFO = 4, CTA_MARK = 8, CTA_ZONE = 18, CTA_LABELS = 22;
const TUPLE_IP = 1, TUPLE_PROTO = 2;
const IP_V4_SRC = 1, IP_V4_DST = 2, IP_V6_SRC = 3, IP_V6_DST = 4;
const PROTO_NUM = 1, PROTO_SRC_PORT = 2, PROTO_DST_PORT = 3, PROTO_ICMP_ID = 4, PROTO_ICMP_TYPE = 5,
  PROTO_ICMP_CODE = 6, PROTO_ICMPV6_ID = 7, PROTO_ICMPV6_TYPE = 8, PROTO_ICMPV6_CODE = 9;
const PROTOINFO_TCP = 1, PROTOINFO_SCTP = 3, PROTOINFO_STATE = 1;

const u16 = (b: Uint8Array, p: number) => b[p]! | (b[p + 1]! << 8);
const be16 = (b: Uint8Array, p: number) => (b[p]! << 8) | b[p + 1]!;
const be32 = (b: Uint8Array, p: number) => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;

/**
 * Compiles a checked filter (validate.ts checkFilter) for matchesMessage().
 * @example const rf = rawFilter(checkFilter('conntrack.count', { protocol: 'udp', reply: { src: '10.244.1.5' } }));
 */
export function rawFilter(f: CheckedFilter): RawFilter {
  const bytes = (a: string) => (f.family === AF_INET6 ? parseIPv6(a) : parseIPv4(a))!;
  const tuple = (t: CheckedFilter['original']): RawTuple | undefined => {
    if (!t) return undefined;
    const r: RawTuple = { sport: t.sport ?? -1, dport: t.dport ?? -1, type: t.type ?? -1, code: t.code ?? -1, id: t.id ?? -1 };
    if (t.src !== undefined) r.src = bytes(t.src);
    if (t.dst !== undefined) r.dst = bytes(t.dst);
    return r;
  };
  const r: RawFilter = {
    all: false, family: f.family, proto: f.proto ?? -1, mark: f.mark !== undefined,
    markValue: f.mark?.value ?? 0, markMask: f.mark?.mask ?? 0, zone: f.zone ?? -1, status: f.status ?? 0,
  };
  const o = tuple(f.original), p = tuple(f.reply);
  if (o) r.original = o;
  if (p) r.reply = p;
  if (f.state !== undefined) r.state = f.state;
  if (f.labels !== undefined) r.labels = f.labels;
  r.all = f.family === 0 && r.proto < 0 && !o && !p && !r.mark && r.zone < 0 && !r.status && r.state === undefined && r.labels === undefined;
  return r;
}

const sameBytes = (b: Uint8Array, at: number, len: number, want: Uint8Array): boolean => {
  if (len !== want.length) return false;
  for (let i = 0; i < len; i++) if (b[at + i] !== want[i]) return false;
  return true;
};

/** Whether the tuple nest b[at, end) passes `want` (as validate.ts tupleMatches on the parsed tuple). */
function tupleMatches(b: Uint8Array, at: number, end: number, want: RawTuple): boolean {
  let src = -1, srcLen = 0, dst = -1, dstLen = 0, sport = -1, dport = -1, type = -1, code = 0, id = 0;
  for (let p = at; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    const k = u16(b, p + 2) & 0x3fff, to = p + len;
    for (let q = p + 4; (k === TUPLE_IP || k === TUPLE_PROTO) && q + 4 <= to;) {
      const l = u16(b, q);
      if (l < 4 || q + l > to) break;
      const v = q + 4, a = u16(b, q + 2) & 0x3fff;
      if (k === TUPLE_IP) {
        if (a === IP_V4_SRC || a === IP_V6_SRC) { src = v; srcLen = a === IP_V4_SRC ? 4 : 16; }
        else if (a === IP_V4_DST || a === IP_V6_DST) { dst = v; dstLen = a === IP_V4_DST ? 4 : 16; }
      } else if (a === PROTO_SRC_PORT) sport = be16(b, v);
      else if (a === PROTO_DST_PORT) dport = be16(b, v);
      else if (a === PROTO_ICMP_TYPE || a === PROTO_ICMPV6_TYPE) type = b[v]!;
      else if (a === PROTO_ICMP_CODE || a === PROTO_ICMPV6_CODE) code = b[v]!;
      else if (a === PROTO_ICMP_ID || a === PROTO_ICMPV6_ID) id = be16(b, v);
      q += (l + 3) & ~3;
    }
    p += (len + 3) & ~3;
  }
  if (want.src && (src < 0 || !sameBytes(b, src, srcLen, want.src))) return false;
  if (want.dst && (dst < 0 || !sameBytes(b, dst, dstLen, want.dst))) return false;
  // A parsed tuple has ports only when the source port came (its dport then defaults to 0),
  // and icmp fields only when the type came (code and id default to 0).
  if (want.sport >= 0 && sport !== want.sport) return false;
  if (want.dport >= 0 && (sport < 0 || (dport < 0 ? 0 : dport) !== want.dport)) return false;
  if (want.type >= 0 && type !== want.type) return false;
  if (want.code >= 0 && (type < 0 || code !== want.code)) return false;
  if (want.id >= 0 && (type < 0 || id !== want.id)) return false;
  return true;
}

/** The protocol number in a tuple nest (0 when absent, as parseFlow reads it). */
function tupleProto(b: Uint8Array, at: number, end: number): number {
  for (let p = at; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    if ((u16(b, p + 2) & 0x3fff) === TUPLE_PROTO) {
      for (let q = p + 4; q + 4 <= p + len;) {
        const l = u16(b, q);
        if (l < 4 || q + l > p + len) break;
        if ((u16(b, q + 2) & 0x3fff) === PROTO_NUM) return b[q + 4]!;
        q += (l + 3) & ~3;
      }
    }
    p += (len + 3) & ~3;
  }
  return 0;
}

/** The TCP or SCTP state name inside CTA_PROTOINFO (undefined for other protocols). */
function stateOf(b: Uint8Array, at: number, end: number): State | undefined {
  let state: State | undefined;
  for (let p = at; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    const k = u16(b, p + 2) & 0x3fff;
    if (k === PROTOINFO_TCP || k === PROTOINFO_SCTP) {
      for (let q = p + 4; q + 4 <= p + len;) {
        const l = u16(b, q);
        if (l < 4 || q + l > p + len) break;
        if ((u16(b, q + 2) & 0x3fff) === PROTOINFO_STATE) state = (k === PROTOINFO_TCP ? TCP_STATES : SCTP_STATES)[b[q + 4]!];
        q += (l + 3) & ~3;
      }
    }
    p += (len + 3) & ~3;
  }
  return state;
}

/**
 * Whether the ctnetlink flow message whose payload (nfgenmsg) lies at b[at, end) passes the
 * filter; the same verdict as matches(parseFlow(...), filter), without making the Flow.
 * @example if (matchesMessage(data, m.at, m.end, rf)) n++;
 */
export function matchesMessage(b: Uint8Array, at: number, end: number, f: RawFilter): boolean {
  if (f.all) return true;
  if (f.family !== 0 && (b[at] === 10 /* AF_INET6 */ ? 10 : 2 /* AF_INET */) !== f.family) return false;
  let orig = -1, origEnd = 0, reply = -1, replyEnd = 0, info = -1, infoEnd = 0, labels = -1, labelsEnd = 0;
  let status = 0, mark = 0, zone = 0;
  for (let p = at + NFGENMSG_LEN; p + 4 <= end;) {
    const len = u16(b, p);
    if (len < 4 || p + len > end) break;
    const v = p + 4;
    switch (u16(b, p + 2) & 0x3fff) {
      case CTA_TUPLE_ORIG: orig = v; origEnd = p + len; break;
      case CTA_TUPLE_REPLY: reply = v; replyEnd = p + len; break;
      case CTA_STATUS: status = be32(b, v); break;
      case CTA_MARK: mark = be32(b, v); break;
      case CTA_ZONE: zone = be16(b, v); break;
      case CTA_PROTOINFO: info = v; infoEnd = p + len; break;
      case CTA_LABELS: labels = v; labelsEnd = p + len; break;
    }
    p += (len + 3) & ~3;
  }
  if (f.proto >= 0 && (orig < 0 ? 0 : tupleProto(b, orig, origEnd)) !== f.proto) return false;
  if (f.original && (orig < 0 ? !tupleMatches(b, 0, 0, f.original) : !tupleMatches(b, orig, origEnd, f.original))) return false;
  if (f.reply && (reply < 0 ? !tupleMatches(b, 0, 0, f.reply) : !tupleMatches(b, reply, replyEnd, f.reply))) return false;
  if (f.mark && ((mark & f.markMask) >>> 0) !== f.markValue) return false;
  if (f.zone >= 0 && zone !== f.zone) return false;
  if (f.status && ((status & f.status) >>> 0) !== f.status) return false;
  if (f.state !== undefined && (info < 0 ? undefined : stateOf(b, info, infoEnd)) !== f.state) return false;
  if (f.labels) {
    for (const bit of f.labels) {
      const at8 = labels + (bit >> 3);
      if (labels < 0 || at8 >= labelsEnd || !(b[at8]! & (1 << (bit & 7)))) return false;
    }
  }
  return true;
}
