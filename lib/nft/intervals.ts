// Interval sets as nft 1.0.6 writes and lists them (src/segtree.c): each interval [a, b] is an
// element a and, unless b is the top of the key space or the next interval starts at b + 1, an
// element b + 1 flagged NFT_SET_ELEM_INTERVAL_END; a set whose first interval does not start at
// 0 begins with an END element at 0. Listed back, a run [a, b] prints as a value (a == b), a
// prefix (address types, an aligned power of two) or a range. Big-endian keys only (addresses,
// ports, header fields): nft's host-order intervals and concatenated ranges are refused.
import { NotFoundError } from '../core/errors.js';
import { invalid, unsupported } from './errors.js';
import { BYTEORDER, TYPES, type DataType } from './datatypes.js';

/** NFT_SET_ELEM_INTERVAL_END */
export const ELEM_INTERVAL_END = 1;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isAddr = (t: DataType) => t === TYPES.ipv4_addr || t === TYPES.ipv6_addr;

/** b + 1 as a big-endian number of the same length; undefined past the top. */
function next(b: Buffer): Buffer | undefined {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 255) { out[i]!++; return out; }
    out[i] = 0;
  }
  return undefined;
}

/** b - 1 (b > 0). */
function prev(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! > 0) { out[i]!--; return out; }
    out[i] = 255;
  }
  return out;
}

/**
 * One interval element's bounds: a value, `{ prefix: { addr, len } }` or `{ range: [a, b] }`.
 * @example intervalOf({ range: [1000, 2000] }, TYPES.inet_service, 'elem[0]') // [<03 e8>, <07 d0>]
 */
export function intervalOf(v: unknown, t: DataType, where: string): [Buffer, Buffer] {
  if (t.byteorder !== BYTEORDER.BIG) throw unsupported(where, `intervals of ${t.name} (only big-endian keys: addresses, ports, header fields)`);
  if (isObj(v) && 'prefix' in v) {
    const p = v.prefix;
    if (!isAddr(t) || !isObj(p)) throw invalid(where, `a prefix needs an address key, not ${t.name}`);
    const addr = t.parse(p.addr);
    const bits = t.len * 8;
    if (!addr) throw invalid(`${where}.prefix.addr`, `not an ${t.name}: ${JSON.stringify(p.addr)}`);
    if (typeof p.len !== 'number' || !Number.isInteger(p.len) || p.len < 0 || p.len > bits) throw invalid(`${where}.prefix.len`, `must be an integer from 0 to ${bits}`);
    const lo = Buffer.from(addr), hi = Buffer.from(addr);
    for (let i = p.len; i < bits; i++) { lo[i >> 3]! &= ~(0x80 >> (i & 7)); hi[i >> 3]! |= 0x80 >> (i & 7); }
    return [lo, hi];
  }
  if (isObj(v) && 'range' in v) {
    const r = v.range;
    if (!Array.isArray(r) || r.length !== 2) throw invalid(`${where}.range`, 'must be [from, to]');
    const [a, b] = r.map((x, i) => {
      const buf = t.parse(x);
      if (!buf) throw invalid(`${where}.range[${i}]`, `not a valid ${t.name}: ${JSON.stringify(x)}`);
      return buf;
    }) as [Buffer, Buffer];
    if (Buffer.compare(a, b) > 0) throw invalid(`${where}.range`, 'the range ends before it starts');
    return [a, b];
  }
  const b = t.parse(v);
  if (!b) throw invalid(where, `not a valid ${t.name}: ${JSON.stringify(v)}`);
  return [b, b];
}

/**
 * The elements nft sends for these intervals (sorted; overlaps refused as nft refuses them).
 * @example intervalElements([[Buffer.from([0, 22]), Buffer.from([0, 22])]], 'elem') // [{ key: <00 00>, end: true }, { key: <00 16>, end: false }, { key: <00 17>, end: true }]
 */
export function intervalElements(list: Array<[Buffer, Buffer]>, where: string, merge = false): Array<{ key: Buffer; end: boolean; open?: boolean }> {
  let sorted = [...list].sort((x, y) => Buffer.compare(x[0], y[0]));
  if (merge) {
    // auto-merge (anonymous sets): overlapping and adjacent intervals become one.
    const merged: Array<[Buffer, Buffer]> = [];
    for (const [a, b] of sorted) {
      const last = merged[merged.length - 1];
      const after = last && next(last[1]);
      if (last && (!after || Buffer.compare(a, after) <= 0)) { if (Buffer.compare(b, last[1]) > 0) last[1] = b; } else merged.push([a, b]);
    }
    sorted = merged;
  }
  const out: Array<{ key: Buffer; end: boolean; open?: boolean }> = [];
  sorted.forEach(([a, b], i) => {
    if (i === 0 && a.some((x) => x !== 0)) out.push({ key: Buffer.alloc(a.length), end: true });
    if (i > 0 && Buffer.compare(sorted[i - 1]![1], a) >= 0) throw invalid(where, 'conflicting intervals (nft refuses overlapping elements in an interval set)');
    const after = next(b);
    // An interval up to the top of the key space has no end element; nft marks its start open.
    out.push(after ? { key: a, end: false } : { key: a, end: false, open: true });
    if (after) out.push({ key: after, end: true });
  });
  return out;
}

/**
 * Elements of an interval set, as the kernel dumps them, as inclusive [from, to] ranges in order
 * (what a later `add element` / `delete element` is checked and merged against).
 * @example intervalRanges([{ key: <00 00>, end: true }, { key: <00 16>, end: false }, { key: <00 17>, end: true }]) // [[<00 16>, <00 16>]]
 */
export function intervalRanges(elems: Array<{ key: Buffer; end: boolean }>): Array<[Buffer, Buffer]> {
  const sorted = [...elems].sort((x, y) => Buffer.compare(x.key, y.key) || Number(y.end) - Number(x.end));
  return sorted.flatMap((e, i): Array<[Buffer, Buffer]> => (e.end ? [] : [[e.key, sorted[i + 1] ? prev(sorted[i + 1]!.key) : Buffer.alloc(e.key.length, 0xff)]]));
}

/**
 * An `add element` / `delete element` on an interval set that exists, as nft 1.0.6 sends it
 * (segtree.c, set_automerge): checked against the set's ranges `existing` (updated in place).
 * add: overlaps are refused unless the set merges (auto-merge), where the ranges a new one
 * overlaps or touches are deleted and the merged range added; delete: each range's start and end.
 * @example intervalChange('add', [[a, b]], [], false, 'elem') // { del: [], add: [{ key: a, end: false }, { key: b + 1, end: true }] }
 */
export function intervalChange(verb: 'add' | 'delete', ranges: Array<[Buffer, Buffer]>, existing: Array<[Buffer, Buffer]>, autoMerge: boolean, where: string):
  { del: Array<{ key: Buffer; end: boolean; open?: boolean }>; add: Array<{ key: Buffer; end: boolean; open?: boolean }> } {
  const elems = (rs: Array<[Buffer, Buffer]>) => [...rs].sort((x, y) => Buffer.compare(x[0], y[0])).flatMap(([a, b]) => {
    const after = next(b);
    return after ? [{ key: a, end: false }, { key: after, end: true }] : [{ key: a, end: false, open: true }];
  });
  const overlaps = (x: [Buffer, Buffer], y: [Buffer, Buffer]) => Buffer.compare(x[0], y[1]) <= 0 && Buffer.compare(y[0], x[1]) <= 0;
  const touches = (x: [Buffer, Buffer], y: [Buffer, Buffer]) => overlaps(x, y) || next(x[1])?.equals(y[0]) === true || next(y[1])?.equals(x[0]) === true;
  if (verb === 'delete') {
    // nft deletes whole intervals of the set only, and says so before sending anything.
    for (const r of ranges) {
      const i = existing.findIndex((e) => e[0].equals(r[0]) && e[1].equals(r[1]));
      if (i < 0) throw new NotFoundError(`${where}: element does not exist (not an interval of the set, as nft says)`, { subsystem: 'nft', op: 'nft.apply' });
      existing.splice(i, 1);
    }
    return { del: elems(ranges), add: [] };
  }
  const sorted = [...ranges].sort((x, y) => Buffer.compare(x[0], y[0]));
  if (!autoMerge) {
    sorted.forEach((r, i) => {
      if ((i > 0 && overlaps(sorted[i - 1]!, r)) || existing.some((e) => overlaps(e, r))) throw invalid(where, 'conflicting intervals (nft refuses overlapping elements in an interval set)');
    });
    existing.push(...sorted);
    return { del: [], add: elems(sorted) };
  }
  const del: Array<[Buffer, Buffer]> = [], add: Array<[Buffer, Buffer]> = [];
  for (const r of sorted) {
    const merged: [Buffer, Buffer] = [r[0], r[1]];
    for (let i = existing.length - 1; i >= 0; i--) {
      const e = existing[i]!;
      if (!touches(e, merged)) continue;
      if (Buffer.compare(e[0], merged[0]) <= 0 && Buffer.compare(e[1], merged[1]) >= 0) { merged[0] = e[0]; merged[1] = e[1]; }
      else {
        if (Buffer.compare(e[0], merged[0]) < 0) merged[0] = e[0];
        if (Buffer.compare(e[1], merged[1]) > 0) merged[1] = e[1];
      }
      existing.splice(i, 1);
      const j = add.findIndex((x) => x[0].equals(e[0]) && x[1].equals(e[1]));
      if (j >= 0) add.splice(j, 1); else del.push(e);
    }
    // Already covered by one range of the set: nothing changes.
    const same = del.findIndex((x) => x[0].equals(merged[0]) && x[1].equals(merged[1]));
    if (same >= 0) del.splice(same, 1); else add.push(merged);
    existing.push(merged);
  }
  return { del: elems(del), add: elems(add) };
}

/** The element user data nft gives an open interval's start (NFTNL_UDATA_SET_ELEM_FLAGS = NFTNL_SET_ELEM_F_INTERVAL_OPEN). */
export const INTERVAL_OPEN_UDATA = Buffer.from([1, 4, 1, 0, 0, 0]);

/**
 * Elements of an interval set, as the kernel dumps them, back into nft's values in order.
 * @example intervalValues([{ key: <00 00>, end: true }, { key: <00 16>, end: false }, { key: <00 17>, end: true }], TYPES.inet_service) // [22]
 */
export function intervalValues(elems: Array<{ key: Buffer; end: boolean }>, t: DataType, wrap?: (v: unknown, index: number) => unknown): unknown[] {
  // `wrap`: gives a value its start element's options (index: the element's place in elems).
  const order = elems.map((_, i) => i).sort((x, y) => Buffer.compare(elems[x]!.key, elems[y]!.key) || Number(elems[y]!.end) - Number(elems[x]!.end));
  const out: unknown[] = [];
  order.forEach((j, i) => {
    const e = elems[j]!;
    if (e.end) return;
    const n = order[i + 1] === undefined ? undefined : elems[order[i + 1]!];
    const hi = n ? prev(n.key) : Buffer.alloc(e.key.length, 0xff);
    const v = rangeJson(e.key, hi, t);
    out.push(wrap ? wrap(v, j) : v);
  });
  return out;
}

function rangeJson(lo: Buffer, hi: Buffer, t: DataType): unknown {
  if (lo.equals(hi)) return t.format(lo);
  const len = isAddr(t) ? prefixLen(lo, hi) : -1;
  if (len >= 0) return { prefix: { addr: t.format(lo), len } };
  return { range: [t.format(lo), t.format(hi)] };
}

/** The prefix length of [lo, hi] (big-endian): lo's host bits all 0 and hi's all 1 from the same bit on; -1 if it is no prefix. */
function prefixLen(lo: Buffer, hi: Buffer): number {
  const bits = lo.length * 8;
  let len = 0;
  while (len < bits && ((lo[len >> 3]! ^ hi[len >> 3]!) & (0x80 >> (len & 7))) === 0) len++;
  for (let i = len; i < bits; i++) {
    const m = 0x80 >> (i & 7);
    if ((lo[i >> 3]! & m) !== 0 || (hi[i >> 3]! & m) === 0) return -1;
  }
  return len;
}

// Concatenated intervals (the kernel's pipapo set, NFT_SET_CONCAT): firewalld's ipsets
// (`type ipv4_addr . inet_proto . inet_service; flags interval`). Each element is one start key
// and one end key (NFTA_SET_ELEM_KEY, _KEY_END), the components padded to 4 bytes; host-order
// integers (marks) in network order, as nft byte-swaps them (and the rule's lookup loads them
// through a byteorder conversion): the set compares each field as a big-endian number.

/** A component type whose value nft byte-swaps in concatenated intervals: host-order integers, not strings. */
export const swappedInConcat = (t: DataType): boolean => t.byteorder === BYTEORDER.HOST && t !== TYPES.ifname;

/** One component's [lo, hi] in the set's byte order. */
function componentBounds(v: unknown, t: DataType, where: string): [Buffer, Buffer] {
  if (isObj(v) && ('prefix' in v || 'range' in v)) {
    if (t.byteorder === BYTEORDER.BIG) return intervalOf(v, t, where);
    if ('prefix' in v) {
      // Marks take prefixes too (`0x20/28`), over their swapped (big-endian) value.
      const p = v.prefix;
      if (t !== TYPES.mark || !isObj(p)) throw invalid(where, `a prefix needs an address or mark key, not ${t.name}`);
      const m = t.parse(p.addr);
      if (!m) throw invalid(`${where}.prefix.addr`, `not a valid ${t.name}: ${JSON.stringify(p.addr)}`);
      if (typeof p.len !== 'number' || !Number.isInteger(p.len) || p.len < 0 || p.len > 32) throw invalid(`${where}.prefix.len`, 'must be an integer from 0 to 32');
      const lo = Buffer.from(m).reverse(), hi = Buffer.from(lo);
      for (let i = p.len; i < 32; i++) { lo[i >> 3]! &= ~(0x80 >> (i & 7)); hi[i >> 3]! |= 0x80 >> (i & 7); }
      return [lo, hi];
    }
    const r = v.range;
    if (!Array.isArray(r) || r.length !== 2) throw invalid(`${where}.range`, 'must be [from, to]');
    const [a, b] = r.map((x, i) => {
      const buf = t.parse(x);
      if (!buf) throw invalid(`${where}.range[${i}]`, `not a valid ${t.name}: ${JSON.stringify(x)}`);
      return swappedInConcat(t) ? Buffer.from(buf).reverse() : buf;
    }) as [Buffer, Buffer];
    if (Buffer.compare(a, b) > 0) throw invalid(`${where}.range`, 'the range ends before it starts');
    return [a, b];
  }
  const b = t.parse(v);
  if (!b) throw invalid(where, `not a valid ${t.name}: ${JSON.stringify(v)}`);
  const x = swappedInConcat(t) ? Buffer.from(b).reverse() : b;
  return [x, x];
}

/**
 * A concatenated interval set's element (`{ concat: [prefix | range | value, ...] }`) as its
 * start and end keys.
 * @example concatIntervalOf({ concat: [{ prefix: { addr: '10.0.0.0', len: 8 } }, 'tcp', 80] }, [TYPES.ipv4_addr, TYPES.inet_proto, TYPES.inet_service], 'elem[0]')
 */
export function concatIntervalOf(v: unknown, types: DataType[], where: string): [Buffer, Buffer] {
  const parts = isObj(v) && Array.isArray(v.concat) ? v.concat : undefined;
  if (!parts || parts.length !== types.length) throw invalid(where, `must be { concat: [...] } of ${types.length} values (${types.map((t) => t.name).join(' . ')})`);
  const len = types.reduce((a, t) => a + ((t.len + 3) & ~3), 0);
  const lo = Buffer.alloc(len), hi = Buffer.alloc(len);
  let at = 0;
  types.forEach((t, i) => {
    const [a, b] = componentBounds(parts[i], t, `${where}.concat[${i}]`);
    a.copy(lo, at);
    b.copy(hi, at);
    at += (t.len + 3) & ~3;
  });
  return [lo, hi];
}

/**
 * A concatenated interval element's keys back into nft's JSON: per component a value, a prefix
 * (addresses) or a range, as nft 1.0.6 lists it.
 * @example concatIntervalJson(lo, hi, types) // { concat: [{ prefix: { addr: '10.0.0.0', len: 8 } }, 'tcp', 80] }
 */
export function concatIntervalJson(lo: Buffer, hi: Buffer, types: DataType[]): unknown {
  const out: unknown[] = [];
  let at = 0;
  for (const t of types) {
    const a = lo.subarray(at, at + t.len), b = hi.subarray(at, at + t.len);
    // nft shows prefixes of the types it flags for them (addresses, marks; marks compared swapped).
    const fmt = (x: Buffer) => t.format(swappedInConcat(t) ? Buffer.from(x).reverse() : x);
    const len = a.equals(b) ? -1 : isAddr(t) || t === TYPES.mark ? prefixLen(a, b) : -1;
    out.push(a.equals(b) ? fmt(a) : len >= 0 ? { prefix: { addr: fmt(a), len } } : { range: [fmt(a), fmt(b)] });
    at += (t.len + 3) & ~3;
  }
  return { concat: out };
}
