// Checks of what callers pass to the conntrack functions, before anything is sent: any JS value
// is accepted and anything wrong becomes an InvalidArgumentError naming the field
// (`filter.original.sport`), and the filter matcher that list/count/delete apply to dumped flows.
import { InvalidArgumentError } from '../core/errors.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../link/addr.js';
import type { Filter, Flow, FlowInput, State, Status, Tuple } from './types.js';
import {
  AF_INET, AF_INET6, AF_UNSPEC, IPPROTO, SCTP_STATES, STATUS_BITS, TCP_STATES, hasPorts, isIcmp, protocolName,
  statusBits, type DumpSelect, type TupleSelect, type WireFlow, type WireTuple,
} from './wire.js';

const SUBSYSTEM = 'conntrack' as const;

const fail = (op: string, argument: string, what: string, got: unknown): never => {
  throw new InvalidArgumentError(`${op}: ${argument} ${what}, got ${describe(got)}`, { op, subsystem: SUBSYSTEM, argument });
};

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkKeys(op: string, where: string, o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(op, `${where}.${k}`, `is not a field of ${where} (known: ${allowed.join(', ')})`, o[k]);
  }
}

const int = (op: string, name: string, v: unknown, max: number): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? v : fail(op, name, `must be an integer 0-${max}`, v);

export function checkFamily(op: string, name: string, v: unknown): number {
  if (v === 'inet') return AF_INET;
  if (v === 'inet6') return AF_INET6;
  return fail(op, name, "must be 'inet' or 'inet6'", v);
}

export function checkProtocol(op: string, name: string, v: unknown): number {
  if (typeof v === 'string' && Object.hasOwn(IPPROTO, v)) return IPPROTO[v]!;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return v;
  return fail(op, name, `must be ${Object.keys(IPPROTO).join(', ')} or an IP protocol number 0-255`, v);
}

/** An address's bytes and family. */
function checkAddress(op: string, name: string, v: unknown): { bytes: Uint8Array; family: number; text: string } {
  if (typeof v === 'string') {
    const v4 = parseIPv4(v);
    if (v4) return { bytes: v4, family: AF_INET, text: formatIPv4(v4) };
    const v6 = parseIPv6(v);
    if (v6) return { bytes: v6, family: AF_INET6, text: formatIPv6(v6) };
  }
  return fail(op, name, 'must be an IPv4 or IPv6 address', v);
}

function checkStatus(op: string, name: string, v: unknown): number {
  if (!Array.isArray(v)) return fail(op, name, `must be an array of ${STATUS_BITS.join(', ')}`, v);
  v.forEach((s, i) => {
    if (typeof s !== 'string' || !STATUS_BITS.includes(s as Status)) fail(op, `${name}[${i}]`, `must be one of ${STATUS_BITS.join(', ')}`, s);
  });
  return statusBits(v as Status[]);
}

function checkState(op: string, name: string, v: unknown, proto: number | undefined): { state: State; code: number } {
  const table = proto === 132 ? SCTP_STATES : proto === 6 ? TCP_STATES : [...new Set([...TCP_STATES, ...SCTP_STATES])];
  if (typeof v !== 'string' || !table.includes(v as State)) {
    fail(op, name, `must be one of ${table.join(', ')}${proto === undefined ? '' : ` (the states of ${String(protocolName(proto))})`}`, v);
  }
  const code = (proto === 132 ? SCTP_STATES : TCP_STATES).indexOf(v as State);
  return { state: v as State, code };
}

function checkLabels(op: string, name: string, v: unknown): number[] {
  if (!Array.isArray(v)) return fail(op, name, 'must be an array of label bit numbers 0-127', v);
  return v.map((b, i) => int(op, `${name}[${i}]`, b, 127));
}

/** Label bits as the CTA_LABELS bitmap (16 bytes: the kernel's 128 label bits). */
export function labelBytes(bits: readonly number[]): Uint8Array {
  const out = new Uint8Array(16);
  for (const b of bits) out[b >> 3]! |= 1 << (b & 7);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Filters

/** A checked filter: canonical texts and numbers, ready for matching. */
export interface CheckedFilter {
  family: number;
  proto?: number;
  original?: Partial<Tuple>;
  reply?: Partial<Tuple>;
  mark?: { value: number; mask: number };
  zone?: number;
  status?: number;
  state?: State;
  labels?: number[];
}

const TUPLE_KEYS = ['src', 'dst', 'sport', 'dport', 'type', 'code', 'id'] as const;

function checkPartialTuple(op: string, name: string, v: unknown, family: { v: number }, proto: number | undefined): Partial<Tuple> {
  if (!isObject(v)) return fail(op, name, 'must be an object { src?, dst?, sport?, dport? } (icmp: { src?, dst?, type?, code?, id? })', v);
  checkKeys(op, name, v, TUPLE_KEYS);
  const out: Partial<Tuple> = {};
  for (const k of ['src', 'dst'] as const) {
    if (v[k] === undefined) continue;
    const a = checkAddress(op, `${name}.${k}`, v[k]);
    if (family.v !== AF_UNSPEC && family.v !== a.family) {
      fail(op, `${name}.${k}`, `must be an ${family.v === AF_INET ? 'IPv4' : 'IPv6'} address like the rest of the filter`, v[k]);
    }
    family.v = a.family;
    out[k] = a.text;
  }
  for (const k of ['sport', 'dport'] as const) {
    if (v[k] === undefined) continue;
    if (proto !== undefined && !hasPorts(proto)) fail(op, `${name}.${k}`, `is not part of ${String(protocolName(proto))} tuples`, v[k]);
    out[k] = int(op, `${name}.${k}`, v[k], 65535);
  }
  for (const [k, max] of [['type', 255], ['code', 255], ['id', 65535]] as const) {
    if (v[k] === undefined) continue;
    if (proto !== undefined && !isIcmp(proto)) fail(op, `${name}.${k}`, `is only part of icmp and icmpv6 tuples, not ${String(protocolName(proto))}`, v[k]);
    out[k] = int(op, `${name}.${k}`, v[k], max);
  }
  return out;
}

const FILTER_KEYS = ['family', 'protocol', 'original', 'reply', 'mark', 'zone', 'status', 'state', 'labels'] as const;

/** Checks a filter (undefined: every flow). Throws InvalidArgumentError naming the field. */
export function checkFilter(op: string, input: unknown, name = 'filter'): CheckedFilter {
  if (input === undefined) return { family: AF_UNSPEC };
  if (!isObject(input)) return fail(op, name, 'must be an object', input);
  checkKeys(op, name, input, FILTER_KEYS);
  const f = input as Record<string, unknown>;
  const family = { v: f.family === undefined ? AF_UNSPEC : checkFamily(op, `${name}.family`, f.family) };
  const out: CheckedFilter = { family: AF_UNSPEC };
  if (f.protocol !== undefined) out.proto = checkProtocol(op, `${name}.protocol`, f.protocol);
  if (out.proto === 1 && family.v === AF_INET6) fail(op, `${name}.protocol`, "cannot be icmp with family 'inet6' (icmpv6 is)", f.protocol);
  if (out.proto === 58 && family.v === AF_INET) fail(op, `${name}.protocol`, "cannot be icmpv6 with family 'inet' (icmp is)", f.protocol);
  if (f.original !== undefined) out.original = checkPartialTuple(op, `${name}.original`, f.original, family, out.proto);
  if (f.reply !== undefined) out.reply = checkPartialTuple(op, `${name}.reply`, f.reply, family, out.proto);
  out.family = family.v;
  if (f.mark !== undefined) {
    if (typeof f.mark === 'number') out.mark = { value: int(op, `${name}.mark`, f.mark, 0xffffffff), mask: 0xffffffff };
    else if (isObject(f.mark)) {
      checkKeys(op, `${name}.mark`, f.mark, ['value', 'mask']);
      const value = int(op, `${name}.mark.value`, f.mark.value, 0xffffffff);
      const mask = int(op, `${name}.mark.mask`, f.mark.mask, 0xffffffff);
      if ((value & ~mask) >>> 0) fail(op, `${name}.mark.value`, `has bits outside mask 0x${mask.toString(16)}: no flow could match`, f.mark.value);
      out.mark = { value, mask };
    } else fail(op, `${name}.mark`, 'must be a number or { value, mask }', f.mark);
  }
  if (f.zone !== undefined) out.zone = int(op, `${name}.zone`, f.zone, 65535);
  if (f.status !== undefined) out.status = checkStatus(op, `${name}.status`, f.status);
  if (f.state !== undefined) {
    if (out.proto !== undefined && out.proto !== 6 && out.proto !== 132) {
      fail(op, `${name}.state`, `applies to tcp and sctp flows only, not ${String(protocolName(out.proto))}`, f.state);
    }
    out.state = checkState(op, `${name}.state`, f.state, out.proto).state;
  }
  if (f.labels !== undefined) out.labels = checkLabels(op, `${name}.labels`, f.labels);
  return out;
}

/** What of a checked filter the kernel can apply itself (see wire.ts dumpRequests); matches() still decides. */
export function dumpSelect(f: CheckedFilter): DumpSelect {
  const sel: DumpSelect = { family: f.family };
  if (f.mark) sel.mark = f.mark;
  if (f.status) sel.status = f.status;
  if (f.proto !== undefined) sel.proto = f.proto;
  const tuple = (t: Partial<Tuple>): TupleSelect => {
    const out: TupleSelect = {};
    const bytes = (a: string) => (f.family === AF_INET6 ? parseIPv6(a) : parseIPv4(a))!;
    if (t.src !== undefined) out.src = bytes(t.src);
    if (t.dst !== undefined) out.dst = bytes(t.dst);
    for (const k of ['sport', 'dport', 'type', 'code', 'id'] as const) if (t[k] !== undefined) out[k] = t[k];
    return out;
  };
  if (f.original) sel.original = tuple(f.original);
  if (f.reply) sel.reply = tuple(f.reply);
  return sel;
}

function tupleMatches(t: Tuple, want: Partial<Tuple>): boolean {
  for (const k of TUPLE_KEYS) if (want[k] !== undefined && t[k] !== want[k]) return false;
  return true;
}

/** Whether a flow passes a checked filter: every given field must match. */
export function matches(flow: Flow, f: CheckedFilter): boolean {
  if (f.family !== AF_UNSPEC && (flow.family === 'inet6' ? AF_INET6 : AF_INET) !== f.family) return false;
  if (f.proto !== undefined && (typeof flow.protocol === 'number' ? flow.protocol : IPPROTO[flow.protocol]) !== f.proto) return false;
  if (f.original && !tupleMatches(flow.original, f.original)) return false;
  if (f.reply && !tupleMatches(flow.reply, f.reply)) return false;
  if (f.mark && ((flow.mark & f.mark.mask) >>> 0) !== f.mark.value) return false;
  if (f.zone !== undefined && flow.zone !== f.zone) return false;
  if (f.status !== undefined && ((statusBits(flow.status) & f.status) >>> 0) !== f.status) return false;
  if (f.state !== undefined && flow.state !== f.state) return false;
  if (f.labels && !f.labels.every((b) => flow.labels?.includes(b))) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Flows for create / update

const FLOW_KEYS = ['family', 'protocol', 'original', 'reply', 'state', 'status', 'mark', 'zone', 'timeout', 'labels', 'id', 'counters', 'use'] as const;

// ICMP echo/timestamp/info/address-mask requests and their replies: what the kernel's
// icmp_invert_tuple (and `conntrack -I`) puts in a reply tuple.
const ICMP_INVERSE: Record<number, number> = { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17 };
const ICMPV6_INVERSE: Record<number, number> = { 128: 129, 129: 128, 139: 140, 140: 139 };

function checkTuple(op: string, name: string, v: unknown, family: { v: number }, proto: number): WireTuple {
  if (!isObject(v)) {
    return fail(op, name, isIcmp(proto) ? 'must be an object { src, dst, type, code, id }' : hasPorts(proto) ? 'must be an object { src, dst, sport, dport }' : 'must be an object { src, dst }', v);
  }
  checkKeys(op, name, v, hasPorts(proto) ? ['src', 'dst', 'sport', 'dport'] : isIcmp(proto) ? ['src', 'dst', 'type', 'code', 'id'] : ['src', 'dst']);
  const t = {} as WireTuple;
  for (const k of ['src', 'dst'] as const) {
    const a = checkAddress(op, `${name}.${k}`, v[k]);
    if (family.v !== AF_UNSPEC && family.v !== a.family) {
      fail(op, `${name}.${k}`, `must be an ${family.v === AF_INET ? 'IPv4' : 'IPv6'} address like the rest of the flow`, v[k]);
    }
    family.v = a.family;
    t[k] = a.bytes;
  }
  if (hasPorts(proto)) {
    t.sport = int(op, `${name}.sport`, v.sport, 65535);
    t.dport = int(op, `${name}.dport`, v.dport, 65535);
  } else if (isIcmp(proto)) {
    t.type = int(op, `${name}.type`, v.type, 255);
    t.code = int(op, `${name}.code`, v.code, 255);
    t.id = int(op, `${name}.id`, v.id, 65535);
  }
  return t;
}

function reversed(t: WireTuple, proto: number): WireTuple {
  const r: WireTuple = { src: t.dst, dst: t.src };
  if (t.sport !== undefined) { r.sport = t.dport!; r.dport = t.sport; }
  if (t.type !== undefined) {
    r.type = (proto === 1 ? ICMP_INVERSE : ICMPV6_INVERSE)[t.type] ?? t.type;
    r.code = t.code!;
    r.id = t.id!;
  }
  return r;
}

/**
 * Checks a flow for create (everything the kernel needs: protocol, original tuple, timeout) or
 * update (the original tuple finds the flow; mark, status, timeout, state and labels change it).
 * `id`, `counters` and `use` of a listed Flow are accepted and ignored, so a listed flow can be
 * passed back.
 */
export function checkFlow(op: string, input: unknown, create: boolean, name = 'flow'): WireFlow {
  if (!isObject(input)) return fail(op, name, 'must be an object { protocol, original, ... }', input);
  checkKeys(op, name, input, FLOW_KEYS);
  const f = input as Record<string, unknown> & Partial<FlowInput>;
  const family = { v: f.family === undefined ? AF_UNSPEC : checkFamily(op, `${name}.family`, f.family) };
  const proto = checkProtocol(op, `${name}.protocol`, f.protocol);
  const original = checkTuple(op, `${name}.original`, f.original, family, proto);
  const reply = f.reply === undefined ? (create ? reversed(original, proto) : undefined) : checkTuple(op, `${name}.reply`, f.reply, family, proto);
  if (proto === 1 && family.v === AF_INET6) fail(op, `${name}.protocol`, 'is icmp but the addresses are IPv6 (use icmpv6)', f.protocol);
  if (proto === 58 && family.v === AF_INET) fail(op, `${name}.protocol`, 'is icmpv6 but the addresses are IPv4 (use icmp)', f.protocol);
  const out: WireFlow = { family: family.v, proto, original };
  if (reply) out.reply = reply;
  if (f.state !== undefined) {
    if (proto !== 6 && proto !== 132) fail(op, `${name}.state`, `applies to tcp and sctp flows only, not ${String(protocolName(proto))}`, f.state);
    out.state = checkState(op, `${name}.state`, f.state, proto).code;
  }
  // The kernel refuses (EBUSY) a status that would change CONFIRMED; the entry it makes or
  // changes is confirmed, so the bit is always sent with a status (as `conntrack -I/-U` do).
  if (f.status !== undefined) out.status = (checkStatus(op, `${name}.status`, f.status) | statusBits(['CONFIRMED'])) >>> 0;
  if (f.mark !== undefined) out.mark = int(op, `${name}.mark`, f.mark, 0xffffffff);
  if (f.zone !== undefined) out.zone = int(op, `${name}.zone`, f.zone, 65535);
  if (f.timeout !== undefined) {
    const ms = f.timeout;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0 || ms > 0xffffffff * 1000) {
      fail(op, `${name}.timeout`, 'must be a positive number of milliseconds', ms);
    }
    out.timeout = Math.ceil((ms as number) / 1000);
  } else if (create) fail(op, `${name}.timeout`, 'is required to create a flow (milliseconds)', f.timeout);
  if (f.labels !== undefined) out.labels = labelBytes(checkLabels(op, `${name}.labels`, f.labels));
  return out;
}

/** The wire form of a listed flow, enough to delete it (original tuple, zone, id). */
export function flowKey(flow: Flow): WireFlow {
  const family = flow.family === 'inet6' ? AF_INET6 : AF_INET;
  const proto = typeof flow.protocol === 'number' ? flow.protocol : IPPROTO[flow.protocol]!;
  const bytes = (s: string) => (family === AF_INET6 ? parseIPv6(s) : parseIPv4(s))!;
  const t = flow.original;
  const original: WireTuple = { src: bytes(t.src), dst: bytes(t.dst) };
  if (t.sport !== undefined) { original.sport = t.sport; original.dport = t.dport!; }
  if (t.type !== undefined) { original.type = t.type; original.code = t.code!; original.id = t.id!; }
  return { family, proto, original, zone: flow.zone, id: flow.id };
}
