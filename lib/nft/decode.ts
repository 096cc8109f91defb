// Dump replies (tables, chains, rules, sets, set elements) -> the objects `nft -j list ruleset`
// prints under `nftables`, in its order: per table, the table, its named sets and maps, its
// chains, then each chain's rules. nft 1.0.6's JSON shows no table or chain comments; neither
// does this.
import { UnsupportedError } from '../core/errors.js';
import { hookName } from './chains.js';
import { parseTypeofKey, typeofKey } from './typeof.js';
import { isRawTypeof } from './expr-raw.js';
import { ownerProgname, TABLE_FLAGS, tableFlagsJson } from './table-flags.js';

/** NFTA_TABLE_OWNER: the owning socket's netlink port. */
const TABLE_OWNER = 7;
import { attrIndex, AttrWalk, strIsAscii, strIsBytes } from '../netlink/reader.js';
import { NLMSG_HDRLEN } from '../netlink/headers.js';
import { formatIPv4 } from '../core/address.js';
import { attrMap, be32, be64, Names, placeMessages, readAttrs, splitMessages, str, strAt, type NlMsg, type PlacedMsgs } from './attrs.js';
import {
  CHAIN, DATA, DATA_TYPE_VERDICT, ELEM, ELEM_LIST, EXPR, FAMILY, familyName, GEN, HOOK, MSG, NFNL_SUBSYS_NFTABLES, RULE, SET, SET_DESC_SIZE, SET_FLAGS, TABLE, VERDICT_ATTR,
} from './consts.js';
import { concatTypeId, concatTypes, type DataType } from './datatypes.js';
import { ExprReader, readData } from './expr-wire.js';
import type { KExpr, Verdict } from './ir.js';
import { compareKeys, keyJson, RuleDecoder, verdictJson, type AnonymousMaps } from './statements.js';
import { decodeObject, OBJ_MSG } from './objects.js';
import type { Family, ListObject, Statement } from './types.js';
import { CONCAT_KEY_TYPEOF, parseUdata, UD_COMMENT, UD_SET, udataComment } from './udata.js';
import { concatIntervalJson, ELEM_INTERVAL_END, INTERVAL_OPEN_UDATA, intervalRanges, intervalValues } from './intervals.js';

const refuse = (what: string): never => {
  throw new UnsupportedError(`${what} cannot be listed by nlkit`, { subsystem: 'nft', op: 'nft.list', detail: what });
};

interface SetDump { family: Family; table: string; name: string; handle: number; flags: number; types: DataType[]; map: boolean; comment?: string; timeoutMs?: bigint; counter?: boolean; typeofExpr?: unknown; data?: DataType[]; dataTypeofExpr?: unknown; size?: number; policy?: number; gcIntervalMs?: number; autoMerge?: boolean }
/** A dumped rule's attributes by offset into its message body (0: absent). */
interface RuleRef { body: Buffer; handle: number; expr: number; exprLen: number; ud: number; udLen: number }
type Element = { key: Buffer; keyEnd?: Buffer; end?: boolean; verdict?: Verdict; data?: Buffer; comment?: string; timeoutMs?: bigint; expirationMs?: bigint; counter?: { packets: bigint; bytes: bigint } };

/** A single counter expression (a set's or an element's NFTA_*_EXPR), or a refusal. */
function counterOf(b: Buffer, what: string): { packets: bigint; bytes: bigint } {
  const m = attrMap(b);
  if (str(m.get(EXPR.NAME)) !== 'counter') refuse(`${what} with a ${str(m.get(EXPR.NAME))} expression`);
  const d = attrMap(m.get(EXPR.DATA) ?? Buffer.alloc(0));
  return { bytes: d.get(1)?.readBigUInt64BE(0) ?? 0n, packets: d.get(2)?.readBigUInt64BE(0) ?? 0n };
}

const msgType = (m: NlMsg): number => (m.type >> 8 === NFNL_SUBSYS_NFTABLES ? m.type & 0xff : -1);

function familyOf(n: number): Family {
  const f = familyName(n);
  if (!Object.hasOwn(FAMILY, f)) refuse(`a table of family ${f}`);
  return f as Family;
}

/** The set a GETSETELEM dump is for: `family\0table\0set`. */
const SET_FLAG_BITS = { constant: SET_FLAGS.CONSTANT, interval: SET_FLAGS.INTERVAL, dynamic: SET_FLAGS.EVAL, timeout: SET_FLAGS.TIMEOUT } as const;

export const setKey = (family: string, table: string, set: string): string => `${family}\0${table}\0${set}`;

/** A set's KEY_TYPEOF user data record, if any. */
const ud0 = (a: Map<number, Buffer>): Buffer | undefined => parseUdata(a.get(SET.USERDATA)).get(UD_SET.KEY_TYPEOF);

function decodeSet(m: NlMsg): SetDump {
  const a = attrMap(m.body);
  const family = familyOf(m.family), table = str(a.get(SET.TABLE))!, name = str(a.get(SET.NAME))!;
  const flags = be32(a.get(SET.FLAGS)) ?? 0;
  const anonymousMap = SET_FLAGS.ANONYMOUS | SET_FLAGS.CONSTANT | SET_FLAGS.MAP;
  const named = SET_FLAGS.MAP | SET_FLAGS.CONSTANT | SET_FLAGS.TIMEOUT | SET_FLAGS.EVAL | SET_FLAGS.INTERVAL;
  const anonymousSet = SET_FLAGS.ANONYMOUS | SET_FLAGS.CONSTANT;
  // NFT_SET_CONCAT: a concatenated interval set or map (intervals.ts, map-intervals.ts), named or anonymous.
  const concatInterval = (flags & (SET_FLAGS.CONCAT | SET_FLAGS.INTERVAL | SET_FLAGS.ANONYMOUS)) === (SET_FLAGS.CONCAT | SET_FLAGS.INTERVAL);
  const anonInterval = flags & SET_FLAGS.INTERVAL ? SET_FLAGS.INTERVAL | (flags & SET_FLAGS.CONCAT) : 0;
  if ((flags & ~named & ~(concatInterval ? SET_FLAGS.CONCAT : 0)) && flags !== (anonymousMap | anonInterval) && flags !== (anonymousSet | anonInterval)) refuse(`set ${name} with flags 0x${flags.toString(16)}`);
  // An anonymous set's elements are read with the types of the rule's key expression (statements.ts).
  let types = concatTypes(be32(a.get(SET.KEY_TYPE)) ?? 0) ?? ((flags & ~anonInterval) === anonymousSet || (flags & ~anonInterval) === anonymousMap ? [] : undefined);
  if (!types && !(flags & SET_FLAGS.ANONYMOUS)) {
    // A type only typeof names here (tcp flags' tcp_flag): the typeof expression's, if it is the key's.
    const x = ud0(a) ? parseTypeofKey(ud0(a)!) : undefined;
    const t = x === undefined ? undefined : typeofKey(x).types;
    if (t && concatTypeId(t) === be32(a.get(SET.KEY_TYPE))) types = t;
  }
  if (!types) refuse(`set ${name} with key type ${be32(a.get(SET.KEY_TYPE))}`);
  const map = (flags & SET_FLAGS.MAP) !== 0;
  const dataType = be32(a.get(SET.DATA_TYPE));
  // Data maps: their values read with the data type (concatenations too).
  const data = map && dataType !== DATA_TYPE_VERDICT ? concatTypes(dataType ?? 0) ?? refuse(`map ${name} to data of type ${dataType}`) : undefined;
  const ud = parseUdata(a.get(SET.USERDATA));
  const typeof_ = ud.get(UD_SET.KEY_TYPEOF);
  let typeofExpr: unknown;
  if (typeof_ && !typeof_.equals(CONCAT_KEY_TYPEOF) && (flags & ~SET_FLAGS.INTERVAL) !== anonymousSet && !(flags & SET_FLAGS.ANONYMOUS)) {
    typeofExpr = parseTypeofKey(typeof_);
    if (typeofExpr === undefined && (flags & ~SET_FLAGS.INTERVAL) !== anonymousSet) refuse(`set ${name} declared with a typeof nlkit does not know`);
    const t = typeofExpr === undefined ? types! : typeofKey(typeofExpr).types;
    if (t.length !== types!.length || t.some((x, i) => x.id !== types![i]!.id)) refuse(`set ${name} whose typeof does not match its key type`);
    // A raw payload key (`typeof @th,96,24`) is an integer of the payload's length: the set's key length must be that.
    if (isRawTypeof(typeofExpr) && be32(a.get(SET.KEY_LEN)) !== t[0]!.len) refuse(`set ${name} whose typeof does not match its key type`);
    // The typeof expression's types have its lengths and byte order (integers of a header field: ip6 flowlabel's 3 bytes).
    types = t;
  }
  const s: SetDump = { family, table, name, handle: be64(a.get(SET.HANDLE)) ?? 0, flags, types: types!, map };
  if (typeofExpr !== undefined) s.typeofExpr = typeofExpr;
  if (data) {
    s.data = data;
    const dt = ud.get(UD_SET.DATA_TYPEOF);
    if (dt && !dt.equals(CONCAT_KEY_TYPEOF)) {
      const x = parseTypeofKey(dt);
      const t = x === undefined ? undefined : typeofKey(x).types;
      if (!t || t.length !== data.length || t.some((y, i) => y !== data[i])) refuse(`map ${name} declared with a data typeof nlkit does not know`);
      s.dataTypeofExpr = x;
    }
  }
  if (a.has(SET.TIMEOUT)) s.timeoutMs = a.get(SET.TIMEOUT)!.readBigUInt64BE(0);
  const policy = be32(a.get(SET.POLICY));
  if (policy !== undefined && policy > 1) refuse(`set ${name} with policy ${policy}`);
  if (policy) s.policy = policy;
  const size = be32(attrMap(a.get(SET.DESC) ?? Buffer.alloc(0)).get(SET_DESC_SIZE));
  if (size) s.size = size;
  if (a.has(SET.GC_INTERVAL)) s.gcIntervalMs = be32(a.get(SET.GC_INTERVAL));
  if (ud.get(UD_SET.MERGE_ELEMENTS)?.readUInt32LE(0)) s.autoMerge = true;
  if (a.has(SET.EXPRESSIONS)) refuse(`set ${name} with several expressions`);
  if (a.has(SET.EXPR)) { counterOf(a.get(SET.EXPR)!, `set ${name}`); s.counter = true; }
  const c = udataComment(a.get(SET.USERDATA), UD_SET.COMMENT);
  if (c !== undefined) s.comment = c;
  return s;
}

/**
 * An element as nft 1.0.6's set_elem_expr_json has it: the bare value, or `{ elem: { val, timeout,
 * expires, comment, counter } }` (times in whole seconds; for the text printer in ms as fractions).
 */
function elementJson(val: unknown, e: Element, text: boolean): unknown {
  if (!e.timeoutMs && !e.expirationMs && e.comment === undefined && !e.counter) return val;
  const o: Record<string, unknown> = { val };
  const secs = (ms: bigint) => (text ? Number(ms) / 1000 : Number(ms / 1000n));
  if (e.timeoutMs) o.timeout = secs(e.timeoutMs);
  if (e.expirationMs) o.expires = secs(e.expirationMs);
  if (e.comment !== undefined) o.comment = e.comment;
  if (e.counter) o.counter = { packets: Number(e.counter.packets), bytes: Number(e.counter.bytes) };
  return { elem: o };
}

/**
 * The elements of a GETSETELEM reply's ELEMENTS nest (the last one, as attrMap keeps it), as
 * [start, end) offsets of each element's attributes in `b`, pairs into `spans`; returns the
 * number of offsets written (twice the elements).
 * @example const n = elementSpans(m.body, spans, new AttrWalk()); for (let i = 0; i < n; i += 2) read(m.body, spans[i], spans[i + 1]);
 */
function elementSpans(b: Buffer, spans: number[], w: AttrWalk): number {
  let s = 0, end = 0;
  for (w.start(b, 0, b.length); w.next();) {
    if (w.type === ELEM_LIST.ELEMENTS) { s = w.at; end = w.at + w.len; }
  }
  let n = 0;
  if (!s) return n;
  for (w.start(b, s, end); w.next();) {
    spans[n++] = w.at;
    spans[n++] = w.at + w.len;
  }
  return n;
}

/**
 * The elements of GETSETELEM replies, read by offset (a 20k-element verdict map made a Map and
 * views per element, and two more Maps per verdict); `names`: jump targets made once each.
 */
function decodeElements(msgs: NlMsg[], names = new Names()): Element[] {
  const out: Element[] = [];
  const a = new Int32Array(ELEM.EXPRESSIONS + 1), al = new Int32Array(ELEM.EXPRESSIONS + 1);
  const d = new Int32Array(DATA.VERDICT + 1), dl = new Int32Array(DATA.VERDICT + 1);
  const v = new Int32Array(VERDICT_ATTR.CHAIN + 1), vl = new Int32Array(VERDICT_ATTR.CHAIN + 1);
  const EMPTY = Buffer.alloc(0);
  const spans: number[] = [], w = new AttrWalk();
  for (const m of msgs) {
    const b = m.body;
    const n = elementSpans(b, spans, w);
    for (let i = 0; i < n; i += 2) {
      attrIndex(b, spans[i]!, spans[i + 1]!, ELEM.EXPRESSIONS, a, al);
      const eflags = a[ELEM.FLAGS] && al[ELEM.FLAGS]! >= 4 ? b.readUInt32BE(a[ELEM.FLAGS]!) : 0;
      if ((eflags & ~ELEM_INTERVAL_END) !== 0 || a[ELEM.EXPRESSIONS]) refuse('a set element with flags or several expressions');
      let key: Buffer = EMPTY;
      if (a[ELEM.KEY]) {
        attrIndex(b, a[ELEM.KEY]!, a[ELEM.KEY]! + al[ELEM.KEY]!, DATA.VERDICT, d, dl);
        if (d[DATA.VALUE]) key = b.subarray(d[DATA.VALUE]!, d[DATA.VALUE]! + dl[DATA.VALUE]!);
      }
      const e: Element = { key };
      // A concatenated interval's end (intervals.ts).
      if (a[ELEM.KEY_END]) {
        attrIndex(b, a[ELEM.KEY_END]!, a[ELEM.KEY_END]! + al[ELEM.KEY_END]!, DATA.VERDICT, d, dl);
        e.keyEnd = d[DATA.VALUE] ? b.subarray(d[DATA.VALUE]!, d[DATA.VALUE]! + dl[DATA.VALUE]!) : refuse('a set element with an empty end key');
      }
      if (eflags & ELEM_INTERVAL_END) e.end = true;
      if (a[ELEM.TIMEOUT]) e.timeoutMs = b.readBigUInt64BE(a[ELEM.TIMEOUT]!);
      if (a[ELEM.EXPIRATION]) e.expirationMs = b.readBigUInt64BE(a[ELEM.EXPIRATION]!);
      if (a[ELEM.EXPR]) e.counter = counterOf(b.subarray(a[ELEM.EXPR]!, a[ELEM.EXPR]! + al[ELEM.EXPR]!), 'a set element');
      if (a[ELEM.DATA]) {
        // nft_data: a value, else a verdict (as readData reads it).
        attrIndex(b, a[ELEM.DATA]!, a[ELEM.DATA]! + al[ELEM.DATA]!, DATA.VERDICT, d, dl);
        if (d[DATA.VALUE]) e.data = b.subarray(d[DATA.VALUE]!, d[DATA.VALUE]! + dl[DATA.VALUE]!);
        else if (d[DATA.VERDICT]) {
          attrIndex(b, d[DATA.VERDICT]!, d[DATA.VERDICT]! + dl[DATA.VERDICT]!, VERDICT_ATTR.CHAIN, v, vl);
          const code = v[VERDICT_ATTR.CODE] && vl[VERDICT_ATTR.CODE]! >= 4 ? b.readUInt32BE(v[VERDICT_ATTR.CODE]!) : 0;
          e.verdict = v[VERDICT_ATTR.CHAIN] ? { code, chain: names.get(b, v[VERDICT_ATTR.CHAIN]!, vl[VERDICT_ATTR.CHAIN]!) } : { code };
        } else refuse('a map element with empty data');
      }
      // An open interval's start carries nft's "open" flag as its only user data (intervals.ts).
      if (a[ELEM.USERDATA]) {
        const ud = b.subarray(a[ELEM.USERDATA]!, a[ELEM.USERDATA]! + al[ELEM.USERDATA]!);
        const c = ud.equals(INTERVAL_OPEN_UDATA) ? undefined : udataComment(ud);
        if (c !== undefined) e.comment = c;
      }
      out.push(e);
    }
  }
  return out;
}

/**
 * An interval set's ranges from its GETSETELEM replies.
 * @example setRanges(replies) // [[<0a 00 00 00>, <0a ff ff ff>]]
 */
export const setRanges = (msgs: NlMsg[]): Array<[Buffer, Buffer]> => intervalRanges(decodeElements(msgs).map((e) => ({ key: e.key, end: e.end === true })));

/** Largest element count the packed sort below handles (index in the low 21 bits of a double). */
const PACKED_MAX = 1 << 21;

/**
 * A named set's elements as list() shows them, when every element is a bare key (no data,
 * flags, timeout, comment or counter) of one type at most 4 bytes long; else undefined (the
 * general path decodes them). Reads the dump by offset and sorts numbers, not Buffers: a
 * 1M-element set made a Map, two views and an object per element, and a Buffer comparison
 * per sort step.
 */
function plainElements(msgs: NlMsg[], types: DataType[]): Array<string | number> | undefined {
  if (types.length !== 1) return undefined;
  const t = types[0]!;
  const big = t.byteorder === 2;
  const bodies: Buffer[] = [];
  const keyAt: number[] = [];
  let klen = -1;
  const spans: number[] = [], w = new AttrWalk(), kw = new AttrWalk();
  for (const m of msgs) {
    const b = m.body;
    const n = elementSpans(b, spans, w);
    for (let i = 0; i < n; i += 2) {
      let key = -1;
      for (w.start(b, spans[i]!, spans[i + 1]!); w.next();) {
        // The key: a nest whose first attribute is the value.
        if (w.type === ELEM.KEY && kw.start(b, w.at, w.at + w.len).next() && kw.type === DATA.VALUE) {
          const kl = kw.len;
          if (kl < 1 || kl > 4 || (klen >= 0 && kl !== klen)) return undefined;
          klen = kl;
          key = kw.at;
        } else if (!(w.type === ELEM.FLAGS && w.len >= 4 && b.readUInt32BE(w.at) === 0)) return undefined;
      }
      if (key < 0) return undefined;
      bodies.push(b);
      keyAt.push(key);
    }
  }
  const n = keyAt.length;
  if (n >= PACKED_MAX || (n && klen < t.len)) return undefined;
  // nft's order (compareKeys): a big-endian type as a big-endian number, others from the last byte back.
  const packed = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = bodies[i]!, k = keyAt[i]!;
    let v = 0;
    if (big) for (let j = 0; j < klen; j++) v = v * 256 + b[k + j]!;
    else for (let j = klen - 1; j >= 0; j--) v = v * 256 + b[k + j]!;
    packed[i] = v * PACKED_MAX + i;
  }
  packed.sort();
  const out = new Array<string | number>(n);
  for (let i = 0; i < n; i++) {
    const x = packed[i]! % PACKED_MAX;
    const b = bodies[x]!, k = keyAt[x]!;
    switch (t.name) {
      case 'ipv4_addr': out[i] = formatIPv4(b, k); break;
      case 'inet_service': out[i] = b.readUInt16BE(k); break;
      default: out[i] = t.format(b.subarray(k, k + klen));
    }
  }
  return out;
}

/**
 * Sorts elements in nft's order (compareKeys): keys of one length by a radix sort, a stable
 * counting pass per key byte from the least significant one (the last byte for big-endian
 * types, else the first), so that equal keys keep their order. A comparison sort made most of
 * a 20k-element verdict map's listing (a JS byte loop or a string per key and a native string
 * sort, ~50 ms a map). Keys of different lengths: compareKeys itself.
 */
function sortElements(elems: Element[], types: DataType[]): void {
  const n = elems.length;
  if (n < 2) return;
  const len = elems[0]!.key.length;
  if (elems.some((e) => e.key.length !== len)) {
    elems.sort((x, y) => compareKeys(types, x.key, y.key));
    return;
  }
  const forward = types.length === 1 && types[0]!.byteorder === 2;
  // The keys side by side (one pass over n Buffers, then reads in one array).
  const keys = new Uint8Array(n * len);
  for (let i = 0; i < n; i++) {
    const k = elems[i]!.key;
    for (let j = 0; j < len; j++) keys[i * len + j] = k[j]!;
  }
  let idx = new Int32Array(n), next = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const count = new Int32Array(257);
  for (let d = 0; d < len; d++) {
    const j = forward ? len - 1 - d : d;
    count.fill(0);
    for (let i = 0; i < n; i++) count[keys[i * len + j]! + 1]!++;
    // A byte every key shares (padding, the protocol of a service map) orders nothing.
    if (count[keys[j]! + 1] === n) continue;
    for (let c = 1; c < 257; c++) count[c]! += count[c - 1]!;
    for (let i = 0; i < n; i++) {
      const x = idx[i]!;
      next[count[keys[x * len + j]!]!++] = x;
    }
    const t = idx;
    idx = next;
    next = t;
  }
  const sorted = new Array<Element>(n);
  for (let i = 0; i < n; i++) sorted[i] = elems[idx[i]!]!;
  for (let i = 0; i < n; i++) elems[i] = sorted[i]!;
}

/** A set's name and key types from its NEWSET reply; undefined for sets nlkit cannot encode for. */
export function setInfo(m: NlMsg): SetDump | undefined {
  try {
    return decodeSet(m);
  } catch (e) {
    if (e instanceof UnsupportedError) return undefined;
    throw e;
  }
}

export interface RulesetDump {
  tables: NlMsg[]; chains: NlMsg[]; rules: NlMsg[]; sets: NlMsg[];
  /** Named objects (NEWOBJ replies). */
  objs: NlMsg[];
  /** GETSETELEM replies by setKey(family, table, set). */
  elements: Map<string, NlMsg[]>;
  /** list()'s read, instead of `chains` and `rules`: both in place in the dump's buffers, rules grouped by chain. */
  placed?: PlacedRules;
}

/**
 * Chain and rule replies in place (no object or view per message: 200k replies at 20k
 * kube-proxy services): chain i's rules are rules.at[chainRules[i] .. chainRules[i + 1]), in
 * the kernel's order.
 */
export interface PlacedRules { chains: PlacedMsgs; rules: PlacedMsgs; chainRules: number[] }

/** Offset of a message's attributes (after nlmsghdr and nfgenmsg). */
const BODY = NLMSG_HDRLEN + 4;

/**
 * Rules grouped by the chain each names (family, table, chain), in the chains' order; rules of a
 * chain that is not among `chains` are left out (decodeRuleset lists rules under their chain).
 * @example groupRules(placeMessages(d.chains), placeMessages(d.rules)).chainRules // [0, 2, 2, 5]
 */
export function groupRules(chains: PlacedMsgs, rules: PlacedMsgs): PlacedRules {
  const names = new Names();
  const index = new Map<string, number>();
  const a = new Int32Array(CHAIN.NAME + 1), l = new Int32Array(CHAIN.NAME + 1);
  const cb = chains.buf;
  for (let i = 0; i < chains.at.length; i++) {
    const m = chains.at[i]!;
    attrIndex(cb, m + BODY, m + cb.readUInt32LE(m), CHAIN.NAME, a, l);
    const k = setKey(String(cb[m + 16]), a[CHAIN.TABLE] ? names.get(cb, a[CHAIN.TABLE]!, l[CHAIN.TABLE]!) : '', a[CHAIN.NAME] ? names.get(cb, a[CHAIN.NAME]!, l[CHAIN.NAME]!) : '');
    if (!index.has(k)) index.set(k, i);
  }
  const rb = rules.buf, n = rules.at.length;
  const of = new Int32Array(n), count = new Array<number>(chains.at.length + 1).fill(0);
  for (let j = 0; j < n; j++) {
    const m = rules.at[j]!;
    attrIndex(rb, m + BODY, m + rb.readUInt32LE(m), RULE.CHAIN, a, l);
    const k = setKey(String(rb[m + 16]), a[RULE.TABLE] ? names.get(rb, a[RULE.TABLE]!, l[RULE.TABLE]!) : '', a[RULE.CHAIN] ? names.get(rb, a[RULE.CHAIN]!, l[RULE.CHAIN]!) : '');
    const i = index.get(k) ?? -1;
    of[j] = i;
    if (i >= 0) count[i + 1]!++;
  }
  for (let i = 1; i < count.length; i++) count[i]! += count[i - 1]!;
  const chainRules = count.slice();
  const at = new Array<number>(count[count.length - 1]!);
  for (let j = 0; j < n; j++) if (of[j]! >= 0) at[count[of[j]!]!++] = rules.at[j]!;
  return { chains, rules: { buf: rb, at }, chainRules };
}

/**
 * Rules read one dump per chain: chain asked[j]'s rules are those in the reply section j
 * (`sections`: the dump's section ends; the rule dumps first, in `asked`'s order).
 * @example chainRules(chains, asked, rules, r.sections)
 */
export function chainRules(chains: PlacedMsgs, asked: number[], rules: PlacedMsgs, sections: ArrayLike<number>): PlacedRules {
  const cr = new Array<number>(chains.at.length + 1);
  let k = 0, c = 0;
  for (let j = 0; j < asked.length; j++) {
    const end = sections[j]!;
    for (; c <= asked[j]!; c++) cr[c] = k;
    while (k < rules.at.length && rules.at[k]! < end) k++;
  }
  for (; c <= chains.at.length; c++) cr[c] = k;
  // Rules past the rule dumps' sections (none: the other requests are not GETRULE) are not listed.
  return { chains, rules, chainRules: cr };
}

/** Sorts the replies of one or more dumps (in any order) into a RulesetDump. */
export function sortDump(msgs: NlMsg[]): RulesetDump {
  const d: RulesetDump = { tables: [], chains: [], rules: [], sets: [], objs: [], elements: new Map() };
  for (const m of msgs) {
    switch (msgType(m)) {
      case MSG.NEWTABLE: d.tables.push(m); break;
      case MSG.NEWCHAIN: d.chains.push(m); break;
      case MSG.NEWRULE: d.rules.push(m); break;
      case MSG.NEWSET: d.sets.push(m); break;
      case OBJ_MSG.NEW: d.objs.push(m); break;
      case MSG.NEWSETELEM: addElements(d.elements, m); break;
      default: break;
    }
  }
  return d;
}

/** A GETSETELEM reply into `elements`, under the set it is for. */
function addElements(elements: Map<string, NlMsg[]>, m: NlMsg): void {
  const a = attrMap(m.body);
  const k = setKey(familyName(m.family), str(a.get(ELEM_LIST.TABLE)) ?? '', str(a.get(ELEM_LIST.SET)) ?? '');
  const l = elements.get(k);
  if (l) l.push(m);
  else elements.set(k, [m]);
}

/**
 * The `nft -j list ruleset` objects (without metainfo) of a dump. `text` adds what nft 1.0.6's
 * JSON leaves out and its text shows (save() needs it): table and chain comments, a set's
 * `dynamic` flag, timeouts below a second.
 */
export function decodeRuleset(d: RulesetDump, filter: ListFilter = {}, opts: DecodeOptions = {}): ListObject[] {
  const placed = d.placed ?? groupRules(placeMessages(d.chains), placeMessages(d.rules));
  const r = new RulesetDecoder(d, placed.chains, filter, opts);
  const rb = placed.rules.buf, rat = placed.rules.at, cr = placed.chainRules;
  for (let c = 0; c < placed.chains.at.length; c++) {
    for (let k = cr[c]!, end = cr[c + 1]!; k < end; k++) r.rule(rb, rat[k]!, c);
  }
  return r.finish();
}

export interface ListFilter { family?: Family; table?: string }
export interface DecodeOptions { text?: boolean; ifname?: (index: number) => string | undefined }

/** A listed table: its objects (the table, its named objects, sets and chains, then its rules as they come) and its rules' decoder. */
interface TableOut {
  family: Family;
  name: string;
  out: ListObject[];
  /** Where its rules start in `out`. */
  head: number;
  decoder: RuleDecoder;
  /** Position (among the table's chains) of the chain of each rule in `out[head..]`. */
  pos: number[];
  /** A rule came for an earlier chain than the one before it: finish() sorts them by chain. */
  unordered: boolean;
}

const NEWRULE_TYPE = (NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWRULE;
const NEWSETELEM_TYPE = (NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWSETELEM;
const NEWGEN_TYPE = (NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWGEN;

/**
 * decodeRuleset in steps, for a listing that decodes while the kernel still dumps: made from
 * the tables, chains, sets and objects of the first round; then set element replies, then rules
 * (rule() with the chain's index, or feed() of whole reply messages as they arrive, which finds
 * each rule's chain from its names: the dump sends them chain after chain), then finish().
 * Rules need their table's anonymous sets: every element reply comes before the first rule.
 * Nothing decoded keeps a view of a message that fed it (feed() may be given borrowed memory).
 * @example
 * const r = new RulesetDecoder(sortDump(first), chains, {}, {});
 * for (const chunk of chunks) r.feed(chunk);
 * const objects = r.finish();
 */
export class RulesetDecoder {
  /** NFT_MSG_NEWGEN's generation id among the messages fed (-1: none yet). */
  generation = -1;
  // Table, chain and jump target names: one string per name for the whole listing.
  private readonly names = new Names();
  private readonly exprs: ExprReader;
  // One array for every rule's expressions (the decoder is done with them before the next rule).
  private readonly kexprs: KExpr[] = [];
  private readonly ra = new Int32Array(RULE.USERDATA + 1);
  private readonly rl = new Int32Array(RULE.USERDATA + 1);
  private tables: TableOut[] | undefined;
  // Per chain of `chains`: its table's index in `tables` (-1: not listed), its position among the table's chains, its names and family.
  private chainTable = new Int32Array(0);
  private chainPos = new Int32Array(0);
  private chainName: string[] = [];
  private chainTableName: string[] = [];
  private chainFamily = new Uint8Array(0);
  // Where the chain search of feed() starts: the chain of the rule before.
  private cur = 0;

  constructor(private readonly d: RulesetDump, private readonly chains: PlacedMsgs, private readonly filter: ListFilter = {}, private readonly opts: DecodeOptions = {}) {
    this.exprs = new ExprReader(this.names);
  }

  /**
   * Whole netlink messages (a dump's replies, in order): set element replies (copied: `b` may be
   * borrowed), rules (decoded now), the generation; others are skipped.
   */
  feed(b: Buffer): void {
    for (let p = 0; p + NLMSG_HDRLEN <= b.length;) {
      const len = b.readUInt32LE(p);
      if (len < NLMSG_HDRLEN || p + len > b.length) break;
      if (len >= BODY) {
        const type = b.readUInt16LE(p + 4);
        if (type === NEWRULE_TYPE) this.streamRule(b, p);
        else if (type === NEWSETELEM_TYPE) {
          if (this.tables) refuse('set elements after rules in a dump');
          addElements(this.d.elements, splitMessages(Buffer.from(b.subarray(p, p + len)))[0]!);
        } else if (type === NEWGEN_TYPE) {
          attrIndex(b, p + BODY, p + len, GEN.ID, this.ra, this.rl);
          if (this.ra[GEN.ID] && this.rl[GEN.ID]! >= 4) this.generation = b.readUInt32BE(this.ra[GEN.ID]!);
        }
      }
      p += (len + 3) & ~3;
    }
  }

  /** The rule message at b[at], found in its chain by its family, table and chain names. */
  private streamRule(b: Buffer, at: number): void {
    const ra = this.ra, rl = this.rl;
    attrIndex(b, at + BODY, at + b.readUInt32LE(at), RULE.USERDATA, ra, rl);
    this.prepare();
    const n = this.chainFamily.length, fam = b[at + 16]!;
    const t = ra[RULE.TABLE]!, tl = t ? rl[RULE.TABLE]! : 0, c = ra[RULE.CHAIN]!, cl = c ? rl[RULE.CHAIN]! : 0;
    // From the chain of the rule before, once round.
    for (let k = 0, i = this.cur; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      if (this.chainFamily[i] !== fam || !sameName(b, c, cl, this.chainName[i]!) || !sameName(b, t, tl, this.chainTableName[i]!)) continue;
      this.cur = i;
      this.decodeRule(b, at, i);
      return;
    }
    // A chain not in the first round's dump (the generation check repeats such a read).
  }

  /**
   * The rule message at b[at], of chain c (its index in `chains`); skipped when the chain's table
   * is not listed.
   */
  rule(b: Buffer, at: number, c: number): void {
    attrIndex(b, at + BODY, at + b.readUInt32LE(at), RULE.USERDATA, this.ra, this.rl);
    this.prepare();
    this.decodeRule(b, at, c);
  }

  /** Decodes the rule at b[at] (its attributes indexed in ra/rl) into its table's objects. */
  private decodeRule(b: Buffer, at: number, c: number): void {
    const ti = this.chainTable[c]!;
    if (ti < 0) return;
    const tab = this.tables![ti]!, ra = this.ra, rl = this.rl;
    const family = tab.family, table = tab.name, chain = this.chainName[c]!;
    const handle = ra[RULE.HANDLE] && rl[RULE.HANDLE]! >= 8 ? u64At(b, ra[RULE.HANDLE]!) : 0;
    const ex = ra[RULE.EXPRESSIONS]!, ud = ra[RULE.USERDATA]!, udLen = rl[RULE.USERDATA]!;
    let expr: Statement[];
    try {
      expr = tab.decoder.decode(this.exprs.read(b, ex, ex ? ex + rl[RULE.EXPRESSIONS]! : ex, this.kexprs), family);
    } catch (e) {
      if (e instanceof UnsupportedError) e.message = `${family} ${table} ${chain} handle ${handle}: ${e.message}`;
      throw e;
    }
    const comment = ud ? udataComment(b.subarray(ud, ud + udLen), UD_COMMENT) : undefined;
    // Whole literals: a property added after the literal goes to a separate property store (an object more per rule).
    const r = comment === undefined ? { family, table, chain, handle, expr } : { family, table, chain, handle, comment, expr };
    const pos = this.chainPos[c]!, p = tab.pos;
    if (p.length && p[p.length - 1]! > pos) tab.unordered = true;
    p.push(pos);
    tab.out.push({ rule: r as never });
  }

  /** Every object, in nft's order: per table the table, its objects, sets and maps, chains, then each chain's rules. */
  finish(): ListObject[] {
    this.prepare();
    const tables = this.tables!;
    for (const t of tables) {
      if (!t.unordered) continue;
      // Rules by their chain's position, in the order they came within a chain (a stable counting sort).
      const rules = t.out.slice(t.head), count = new Array<number>(this.chainFamily.length + 1).fill(0);
      for (const x of t.pos) count[x + 1]!++;
      for (let i = 1; i < count.length; i++) count[i]! += count[i - 1]!;
      for (let j = 0; j < rules.length; j++) t.out[t.head + count[t.pos[j]!]!++] = rules[j]!;
    }
    if (tables.length === 1) return tables[0]!.out;
    const out: ListObject[] = [];
    for (const t of tables) for (const o of t.out) out.push(o);
    return out;
  }

  /** Tables, their objects, sets and chains, and the chains' names: once, before the first rule (every set element has come by then). */
  private prepare(): void {
    if (this.tables) return;
    const { d, filter, opts, names } = this;
    const tables: TableOut[] = this.tables = [];
    const sets = d.sets.map(decodeSet);
    const tbytes: Buffer[] = [], tfam: number[] = [];
    for (const tm of d.tables) {
      const ta = attrMap(tm.body);
      const tname = str(ta.get(TABLE.NAME))!;
      const fname = familyName(tm.family);
      if (filter.family && filter.family !== fname) continue;
      if (filter.table !== undefined && filter.table !== tname) continue;
      const family = familyOf(tm.family);
      const out: ListObject[] = [];
      const tflags = tableFlagsJson(be32(ta.get(TABLE.FLAGS)) ?? 0);
      if (tflags === null) refuse(`table ${tname} with flags 0x${(be32(ta.get(TABLE.FLAGS)) ?? 0).toString(16)}`);
      const table: ListObject & { table: Record<string, unknown> } = { table: { family, name: tname, handle: be64(ta.get(TABLE.HANDLE)) ?? 0 } };
      if (tflags) table.table.flags = tflags;
      // nft's text names an owned table's process (`# progname nft`): save() prints it from the owner's port.
      const owner = be32(ta.get(TABLE_OWNER));
      if (opts.text && owner !== undefined && (be32(ta.get(TABLE.FLAGS))! & TABLE_FLAGS.owner!)) table.table.progname = ownerProgname(owner);
      const tcomment = opts.text ? udataComment(ta.get(TABLE.USERDATA), UD_COMMENT) : undefined;
      if (tcomment !== undefined) table.table.comment = tcomment;
      out.push(table);
      for (const om of d.objs) if (om.family === tm.family && str(attrMap(om.body).get(1)) === tname) out.push(decodeObject(om, refuse) as unknown as ListObject);
      const anon = tableSets(out, sets.filter((s) => s.family === family && s.table === tname), d.elements, family, tname, names, opts.text === true);
      tables.push({ family, name: tname, out, head: 0, decoder: new RuleDecoder(anon, opts.ifname), pos: [], unordered: false });
      tbytes.push(Buffer.from(tname));
      tfam.push(tm.family);
    }
    // Chains by offset: a Map of views only for the few with a hook or (for text) user data.
    const cb = this.chains.buf, cat = this.chains.at, n = cat.length;
    const ca = new Int32Array(CHAIN.USERDATA + 1), cl = new Int32Array(CHAIN.USERDATA + 1);
    this.chainTable = new Int32Array(n).fill(-1);
    this.chainPos = new Int32Array(n);
    this.chainFamily = new Uint8Array(n);
    this.chainName = new Array<string>(n);
    this.chainTableName = new Array<string>(n);
    const count = new Array<number>(tables.length).fill(0);
    for (let i = 0; i < n; i++) {
      const m = cat[i]!;
      attrIndex(cb, m + BODY, m + cb.readUInt32LE(m), CHAIN.USERDATA, ca, cl);
      const fam = cb[m + 16]!;
      const name = ca[CHAIN.NAME] ? names.get(cb, ca[CHAIN.NAME]!, cl[CHAIN.NAME]!) : '';
      this.chainFamily[i] = fam;
      this.chainName[i] = name;
      this.chainTableName[i] = ca[CHAIN.TABLE] ? names.get(cb, ca[CHAIN.TABLE]!, cl[CHAIN.TABLE]!) : '';
      let t = 0;
      while (t < tables.length && !(tfam[t] === fam && ca[CHAIN.TABLE] && strIsBytes(cb, ca[CHAIN.TABLE]!, cl[CHAIN.TABLE]!, tbytes[t]!))) t++;
      if (t === tables.length) continue;
      const tab = tables[t]!;
      const c: Record<string, unknown> = {
        family: tab.family, table: tab.name, name,
        handle: ca[CHAIN.HANDLE] && cl[CHAIN.HANDLE]! >= 8 ? u64At(cb, ca[CHAIN.HANDLE]!) : 0,
      };
      if (ca[CHAIN.HOOK] || (opts.text && ca[CHAIN.USERDATA])) chainDetails(c, attrMap(cb.subarray(m + BODY, m + cb.readUInt32LE(m))), tab.family, opts.text === true);
      tab.out.push({ chain: c as never });
      this.chainTable[i] = t;
      this.chainPos[i] = count[t]!++;
    }
    for (const t of tables) t.head = t.out.length;
  }
}

/** Whether the NUL-terminated name at b[at, at + len) (at 0: absent, '') is s. */
function sameName(b: Buffer, at: number, len: number, s: string): boolean {
  if (!at) return s === '';
  return strIsAscii(b, at, len, s) || strAt(b, at, len) === s;
}

/**
 * A table's named sets and maps into `out`, and its anonymous ones (for its rules) as the
 * returned map.
 */
function tableSets(out: ListObject[], mine: SetDump[], elements: Map<string, NlMsg[]>, family: Family, tname: string, names: Names, text: boolean): Map<string, AnonSet> {
  const anon = new Map<string, AnonSet>();
  for (const s of mine) {
    if (s.flags & SET_FLAGS.ANONYMOUS) {
      const elems = decodeElements(elements.get(setKey(family, tname, s.name)) ?? [], names);
      if (!(s.flags & SET_FLAGS.MAP)) {
        anon.set(s.name, { keyType: s.types[0]!, elements: elems.map((e) => [e.key, e.verdict!]), set: true, ...(s.flags & SET_FLAGS.CONCAT ? { keyEnds: elems.map((e) => e.keyEnd ?? e.key) } : s.flags & SET_FLAGS.INTERVAL ? { ends: elems.map((e) => e.end === true) } : {}) });
        continue;
      }
      // Keys are read with the rule's key types (concatenations and ct states too); interval maps' ends as for sets.
      anon.set(s.name, {
        keyType: s.types[0]!, elements: elems.map((e) => [e.key, e.verdict!]), ...(s.data ? { data: s.data, values: elems.map((e) => e.data ?? Buffer.alloc(0)) } : {}),
        ...(s.flags & SET_FLAGS.CONCAT ? { keyEnds: elems.map((e) => e.keyEnd ?? e.key) } : s.flags & SET_FLAGS.INTERVAL ? { ends: elems.map((e) => e.end === true) } : {}),
      });
      continue;
    }
    const o: Record<string, unknown> = {
      // nft 1.0.6's JSON has no typeof (type names); its text has.
      family, name: s.name, table: tname, type: text && s.typeofExpr !== undefined ? { typeof: s.typeofExpr } : s.types.length === 1 ? s.types[0]!.name : s.types.map((t) => t.name), handle: s.handle,
    };
    if (s.comment !== undefined) o.comment = s.comment;
    // A data map's type as nft 1.0.6's JSON names it ("ipv4_addr . inet_service"); typeof for the text.
    if (s.map) o.map = !s.data ? 'verdict' : text && s.dataTypeofExpr !== undefined ? { typeof: s.dataTypeofExpr } : s.data.map((t) => t.name).join(' . ');
    // nft 1.0.6 shows a size it did not choose itself (a constant set's is its element count).
    if (s.policy === 1) o.policy = 'memory';
    if (s.size && !(s.flags & SET_FLAGS.CONSTANT)) o.size = s.size;
    // nft 1.0.6's JSON names constant and timeout only (and timeouts in whole seconds).
    const flagNames = (['constant', 'interval', 'dynamic', 'timeout'] as const).filter((n) => s.flags & SET_FLAG_BITS[n] && (text || n !== 'dynamic'));
    if (flagNames.length) o.flags = flagNames;
    if (s.timeoutMs !== undefined) o.timeout = text ? Number(s.timeoutMs) / 1000 : Number(s.timeoutMs / 1000n);
    if (s.gcIntervalMs !== undefined) o['gc-interval'] = text ? s.gcIntervalMs / 1000 : Math.floor(s.gcIntervalMs / 1000);
    // Its JSON has no auto-merge; its text has.
    if (s.autoMerge && text) o['auto-merge'] = true;
    const msgs = elements.get(setKey(family, tname, s.name)) ?? [];
    const plain = s.map || s.flags & SET_FLAGS.INTERVAL ? undefined : plainElements(msgs, s.types);
    const elems = plain ? [] : decodeElements(msgs, names);
    if (plain) {
      if (plain.length) o.elem = plain;
    } else if (elems.length && s.flags & SET_FLAGS.CONCAT) {
      // In the kernel's order, which is the order they were added (as nft lists them); a map's value on each.
      o.elem = elems.map((e) => {
        const k = elementJson(concatIntervalJson(e.key, e.keyEnd ?? e.key, s.types), e, text);
        if (!s.map) return k;
        return [k, s.data ? keyJson(s.data, e.data ?? refuse(`an element of map ${s.name} without data`)) : verdictJson(e.verdict ?? refuse(`an element of map ${s.name} without a verdict`))];
      });
    } else if (elems.length && s.flags & SET_FLAGS.INTERVAL) {
      if (s.types.length !== 1) refuse(`interval set ${s.name} keyed by a concatenation without NFT_SET_CONCAT`);
      // An interval's options, and a map's value, are its start element's.
      o.elem = intervalValues(elems.map((e) => ({ key: e.key, end: e.end === true })), s.types[0]!, (v, i) => {
        const e = elems[i]!, k = elementJson(v, e, text);
        if (!s.map) return k;
        return [k, s.data ? keyJson(s.data, e.data ?? refuse(`an element of map ${s.name} without data`)) : verdictJson(e.verdict ?? refuse(`an element of map ${s.name} without a verdict`))];
      });
    } else if (elems.length) {
      sortElements(elems, s.types);
      o.elem = elems.map((e) => {
        const k = elementJson(keyJson(s.types, e.key), e, text);
        if (s.map && s.data) return [k, keyJson(s.data, e.data ?? refuse(`an element of map ${s.name} without data`))];
        return s.map ? [k, verdictJson(e.verdict!)] : k;
      });
    }
    if (s.counter) o.stmt = [{ counter: null }];
    out.push(s.map ? { map: o as never } : { set: o as never });
  }
  return anon;
}

type AnonSet = NonNullable<ReturnType<AnonymousMaps['get']>>;

/**
 * A big-endian u64 (a handle) as a Number, without a BigInt: exact below 2^53, rounded as
 * Number(bigint) rounds above. A handle below 2^32 is the low word as it is: the product made it
 * a heap number in unoptimized code (an object more per chain in a listing).
 */
function u64At(b: Buffer, at: number): number {
  const hi = b.readUInt32BE(at), lo = b.readUInt32BE(at + 4);
  return hi === 0 ? lo : hi * 0x100000000 + lo;
}

/** A base chain's type, hook, priority and policy (and, for the text, its devices and comment) into its object. */
function chainDetails(c: Record<string, unknown>, a: Map<number, Buffer>, family: Family, text: boolean): void {
  const hook = a.get(CHAIN.HOOK);
  if (hook) {
    const h = attrMap(hook);
    if (a.has(CHAIN.FLAGS) && be32(a.get(CHAIN.FLAGS))! & ~1) refuse(`chain flags 0x${be32(a.get(CHAIN.FLAGS))!.toString(16)}`);
    const num = be32(h.get(HOOK.HOOKNUM));
    c.type = str(a.get(CHAIN.TYPE));
    c.hook = hookName(family, num) ?? refuse(`hook ${num} of a ${family} table`);
    c.prio = (be32(h.get(HOOK.PRIORITY)) ?? 0) | 0;
    c.policy = be32(a.get(CHAIN.POLICY)) === 0 ? 'drop' : 'accept';
  }
  // nft 1.0.6's JSON has no device; its text does.
  if (hook && text) {
    const dev = attrMap(hook).get(HOOK.DEV);
    if (dev) c.dev = str(dev);
    const devs = attrMap(hook).get(HOOK.DEVS);
    // nft prints the devices sorted, whatever order the kernel keeps them in; one as `device "x"`.
    const names = devs ? readAttrs(devs).map((x) => str(x.data)!).sort() : [];
    if (names.length) c.dev = names.length === 1 ? names[0] : names;
  }
  const ccomment = text ? udataComment(a.get(CHAIN.USERDATA), UD_COMMENT) : undefined;
  if (ccomment !== undefined) c.comment = ccomment;
}
