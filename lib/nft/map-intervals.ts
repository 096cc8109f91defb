// Interval maps' elements as nft 1.0.6 sends them (src/segtree.c, src/intervals.c): keyed by a
// single value, each interval is a start element carrying the value and an INTERVAL_END element
// after it (intervals.ts, intervalElements); keyed by a concatenation (the kernel's pipapo set,
// NFT_SET_CONCAT), one element per interval with its start key, end key (NFTA_SET_ELEM_KEY_END)
// and value. nft does not merge a map's intervals: overlapping keys are refused.
import type { DataType } from './datatypes.js';
import type { Verdict } from './ir.js';
import { concatIntervalJson, ELEM_INTERVAL_END, INTERVAL_OPEN_UDATA, intervalElements, intervalValues } from './intervals.js';
import type { ElementSpec } from './wire.js';

/**
 * An interval element (intervals.ts) as the writer takes it: INTERVAL_END flagged, an open
 * interval's start with nft's user data.
 * @example intervalSpec({ key: Buffer.from([0, 23]), end: true }) // { key: <00 17>, flags: 1 }
 */
export const intervalSpec = (e: { key: Buffer; end: boolean; open?: boolean }): ElementSpec =>
  ({ key: e.key, ...(e.end ? { flags: ELEM_INTERVAL_END } : {}), ...(e.open ? { udata: INTERVAL_OPEN_UDATA } : {}) });

/** A value on an element: data (a Buffer) or a verdict. */
const withValue = (e: ElementSpec, v: Verdict | Buffer): ElementSpec => (Buffer.isBuffer(v) ? { ...e, data: v } : { ...e, verdict: v });

/**
 * The elements of an interval map, and the size nft declares for it (its element count, an open
 * interval's missing end counted too, as nft counts it).
 * `anonymous`: a rule's map (see below).
 * @example intervalMapElements([[a, b, { kind: 'accept' }]], false, 'map') // { elems: [END 0, a: accept, END b + 1], size: 3 }
 */
export function intervalMapElements(ranges: Array<[Buffer, Buffer, Verdict | Buffer]>, concat: boolean, where: string, anonymous = false): { elems: ElementSpec[]; size: number } {
  if (concat) return { elems: ranges.map(([key, keyEnd, v]) => withValue({ key, keyEnd }, v)), size: ranges.length };
  const values = new Map<string, Verdict | Buffer>();
  for (const [a, , v] of ranges) values.set(a.toString('hex'), v);
  let list = intervalElements(ranges.map(([a, b]): [Buffer, Buffer] => [a, b]), where);
  const size = list.length + list.filter((e) => e.open).length;
  // An anonymous map has no END element where the next interval starts (nft's merge pass drops
  // it after counting the set's size; a named map keeps it).
  if (anonymous) list = list.filter((e, i) => !(e.end && list[i + 1] && !list[i + 1]!.end && list[i + 1]!.key.equals(e.key)));
  const elems = list.map((e) => {
    const spec = intervalSpec(e);
    return e.end ? spec : withValue(spec, values.get(e.key.toString('hex'))!);
  });
  return { elems, size };
}

/**
 * An anonymous interval map's elements as nft lists them: [key, value] pairs, a key a value,
 * prefix or range (concatenations: per component, in the kernel's order; single keys: sorted,
 * END elements folded into their intervals). `ends`/`keyEnds` as the dump gives them.
 * @example intervalMapJson(keys, { ends }, [TYPES.ipv4_addr], (j) => verdictJson(verdicts[j])) // [[{ prefix: { addr: '10.0.0.0', len: 8 } }, { accept: null }]]
 */
export function intervalMapJson(keys: Buffer[], m: { ends?: boolean[]; keyEnds?: Buffer[] }, types: DataType[], value: (index: number) => unknown): unknown[] {
  if (m.keyEnds) return keys.map((k, j) => [concatIntervalJson(k, m.keyEnds![j]!, types), value(j)]);
  return intervalValues(keys.map((key, j) => ({ key, end: m.ends![j]! })), types[0]!, (v, j) => [v, value(j)]);
}
