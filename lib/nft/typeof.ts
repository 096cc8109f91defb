// `typeof` set keys: the NFTNL_UDATA_SET_KEY_TYPEOF record nft 1.0.6 writes (expression.c,
// payload.c, meta.c, ct.c *_build_udata / *_parse_udata): the expression's type (enum expr_types)
// and a nest describing it — a payload's protocol (enum proto_desc_id) and field (the protocol's
// template index), a meta key, a ct key and direction, or up to four of those for a
// concatenation (nft writes no more: a longer one lists as `type`). Checked byte for byte against
// nft's batches; anything else is refused by name.
import { UnsupportedError } from '../core/errors.js';
import { PAYLOAD, META_TYPES } from './match-tables.js';
import { TYPES, type DataType } from './datatypes.js';
import { CT_KEY, META_KEY } from './ir.js';
import { parseUdata, UdataBuilder } from './udata.js';
import { rawJson, rawLayout, rawType } from './expr-raw.js';
import { CT_DIRS, EXTRA_CT, EXTRA_TYPES, IFACE_INDEX, TYPEOF_DESC, TYPEOF_FIELD } from './payload-fields.js';
import { BIT_TYPEOF_FIELD, bitKeyType, keyBitField } from './bitkeys.js';

const EXPR_VERDICT = 1, EXPR_PAYLOAD = 7, EXPR_META = 9, EXPR_CT = 12, EXPR_CONCAT = 13;
const TYPEOF_EXPR = 0, TYPEOF_DATA = 1;
/** proto_desc_id and header template indexes of the payload fields nlkit encodes. */
const DESC: Record<string, number | undefined> = { udp: 6, tcp: 8, th: 11, ip: 12, ip6: 13, ...TYPEOF_DESC };
const FIELD: Record<string, Record<string, number | undefined> | undefined> = {
  ip: { saddr: 11, daddr: 12 }, ip6: { saddr: 8, daddr: 9 }, tcp: { sport: 1, dport: 2 }, udp: { sport: 1, dport: 2 }, th: { sport: 1, dport: 2 },
};
for (const [p, f] of Object.entries(TYPEOF_FIELD)) FIELD[p] = { ...FIELD[p], ...f };
const CONCAT_MAX = 4;

const refuse = (what: string, op = 'nft.apply'): never => {
  throw new UnsupportedError(`typeof ${what} is not supported by nlkit`, { subsystem: 'nft', op, detail: `typeof ${what}` });
};
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };

/** One key expression's record and type. */
function one(e: unknown): { ud: Buffer; type: DataType } {
  const [kind, body] = isObj(e) && Object.keys(e).length === 1 ? Object.entries(e)[0]! : ['', undefined];
  if (kind === 'payload' && isObj(body) && 'base' in body) {
    // A raw payload (`typeof @th,96,24`): no protocol (desc 0, template 0), then nft's proto base (enum proto_bases: ll 1, nh 2, th 3, ih 4), offset and length in bits.
    const r = rawLayout(body);
    if (typeof r === 'string') return refuse(`${JSON.stringify(e)}: ${r}`);
    if (r.mask) return refuse(`a raw payload not on byte boundaries (${JSON.stringify(e)})`);
    const data = new UdataBuilder().u32(0, 0).u32(1, 0).u32(2, r.base + 1).u32(3, Number(body.offset)).u32(4, Number(body.len)).build();
    return { ud: new UdataBuilder().u32(TYPEOF_EXPR, EXPR_PAYLOAD).raw(TYPEOF_DATA, data).build(), type: rawType(r.len) };
  }
  const bf = keyBitField(e);
  if (bf) {
    // A sub-byte field (bitkeys.ts): its protocol and field, and for integers its length in bits.
    const type = bitKeyType(bf);
    const db = new UdataBuilder().u32(0, DESC[bf.protocol]!).u32(1, BIT_TYPEOF_FIELD[bf.protocol]![bf.field]!);
    if (type.name === 'integer') db.u32(4, bf.bits);
    return { ud: new UdataBuilder().u32(TYPEOF_EXPR, EXPR_PAYLOAD).raw(TYPEOF_DATA, db.build()).build(), type };
  }
  if (kind === 'payload' && isObj(body)) {
    const p = String(body.protocol), f = String(body.field);
    const field = FIELD[p]?.[f], t = PAYLOAD[p]?.[f]?.[3];
    if (field === undefined || !t) return refuse(`${p} ${f}`);
    const db = new UdataBuilder().u32(0, DESC[p]!).u32(1, field);
    // payload_expr_build_udata: integer fields also record their length in bits.
    if (t.name === 'integer') db.u32(4, t.len * 8);
    const data = db.build();
    return { ud: new UdataBuilder().u32(TYPEOF_EXPR, EXPR_PAYLOAD).raw(TYPEOF_DATA, data).build(), type: t };
  }
  if (kind === 'meta' && isObj(body)) {
    const k = String(body.key), t = META_TYPES[k] ?? (k === 'iif' || k === 'oif' ? IFACE_INDEX : undefined);
    if (!t) return refuse(`meta ${k}`);
    const data = new UdataBuilder().u32(0, META_KEY[k as keyof typeof META_KEY]).build();
    return { ud: new UdataBuilder().u32(TYPEOF_EXPR, EXPR_META).raw(TYPEOF_DATA, data).build(), type: t };
  }
  if (kind === 'ct' && isObj(body) && body.key === 'state' && body.dir === undefined) {
    const data = new UdataBuilder().u32(0, CT_KEY.state).raw(1, u32(-1)).build();
    return { ud: new UdataBuilder().u32(TYPEOF_EXPR, EXPR_CT).raw(TYPEOF_DATA, data).build(), type: EXTRA_TYPES.ct_state };
  }
  if (kind === 'ct' && isObj(body) && EXTRA_CT[String(body.key)]) {
    // ct_expr_build_udata: the key and the direction (-1: none).
    const k = EXTRA_CT[String(body.key)]!, d = body.dir === undefined ? -1 : CT_DIRS.indexOf(String(body.dir));
    if (k.type === 'addr' || d === -1 && k.dir || d < -1) return refuse(`ct ${String(body.dir ?? '')} ${String(body.key)}`);
    const data = new UdataBuilder().u32(0, k.key).raw(1, u32(d)).build();
    return { ud: new UdataBuilder().u32(TYPEOF_EXPR, EXPR_CT).raw(TYPEOF_DATA, data).build(), type: k.type };
  }
  if (kind === 'ct' && isObj(body) && body.key === 'mark' && body.dir === undefined) {
    const data = new UdataBuilder().u32(0, CT_KEY.mark).raw(1, u32(0xffffffff)).build();
    return { ud: new UdataBuilder().u32(TYPEOF_EXPR, EXPR_CT).raw(TYPEOF_DATA, data).build(), type: TYPES.mark };
  }
  return refuse(JSON.stringify(e));
}

/**
 * A `typeof` key expression's user data record and key types.
 * @example typeofKey({ payload: { protocol: 'ip', field: 'daddr' } }).types // [TYPES.ipv4_addr]
 */
export function typeofKey(e: unknown): { udata: Buffer; types: DataType[] } {
  if (isObj(e) && Array.isArray(e.concat) && Object.keys(e).length === 1) {
    const parts = e.concat.map(one);
    if (parts.length < 2) return refuse('a concatenation of fewer than two expressions');
    if (parts.length > CONCAT_MAX) return refuse(`a concatenation of ${parts.length} expressions (nft 1.0.6 records at most ${CONCAT_MAX})`);
    const nest = new UdataBuilder();
    parts.forEach((p, i) => nest.raw(i, p.ud));
    return { udata: new UdataBuilder().u32(TYPEOF_EXPR, EXPR_CONCAT).raw(TYPEOF_DATA, nest.build()).build(), types: parts.map((p) => p.type) };
  }
  const p = one(e);
  return { udata: p.ud, types: [p.type] };
}

/**
 * The typeof record nft writes for an anonymous concatenated interval set: the concatenation of
 * its components up to the first one it converts to network order (its unary expression has no
 * record, and nft stops there), possibly none.
 * @example concatTypeofPrefix([{ payload: { protocol: 'ip', field: 'saddr' } }])
 */
export function concatTypeofPrefix(parts: unknown[]): Buffer {
  const nest = new UdataBuilder();
  parts.slice(0, CONCAT_MAX).forEach((p, i) => nest.raw(i, one(p).ud));
  return new UdataBuilder().u32(TYPEOF_EXPR, EXPR_CONCAT).raw(TYPEOF_DATA, nest.build()).build();
}

/** The data typeof record of a verdict map declared with typeof (EXPR_VERDICT, no data). */
export const VERDICT_TYPEOF = new UdataBuilder().u32(TYPEOF_EXPR, EXPR_VERDICT).raw(TYPEOF_DATA, Buffer.alloc(0)).build();

const keyName = <T extends Record<string, number>>(m: T, v: number | undefined): string | undefined => Object.entries(m).find(([, n]) => n === v)?.[0];

/** One record back to its expression, or undefined where nlkit does not know it. */
function parseOne(b: Buffer): unknown {
  const r = parseUdata(b);
  const type = r.get(TYPEOF_EXPR)?.readUInt32LE(0);
  const d = parseUdata(r.get(TYPEOF_DATA));
  const n = (t: number) => d.get(t)?.readUInt32LE(0);
  if (type === EXPR_PAYLOAD && n(0) === 0 && n(1) === 0) {
    const base = n(2), off = n(3), len = n(4);
    return base !== undefined && base >= 1 && base <= 4 && off !== undefined && len !== undefined && off % 8 === 0 && len % 8 === 0 && len > 0 ? rawJson(base - 1, off, len) : undefined;
  }
  if (type === EXPR_PAYLOAD) {
    const p = keyName(DESC as Record<string, number>, n(0));
    const bit = p ? keyName(BIT_TYPEOF_FIELD[p] ?? {}, n(1)) : undefined;
    if (p && bit) return { payload: { protocol: p, field: bit } };
    const f = p ? keyName((FIELD[p] ?? {}) as Record<string, number>, n(1)) : undefined;
    return p && f ? { payload: { protocol: p, field: f } } : undefined;
  }
  if (type === EXPR_META) {
    const k = keyName(META_KEY, n(0));
    return k && (META_TYPES[k] || k === 'iif' || k === 'oif') ? { meta: { key: k } } : undefined;
  }
  if (type === EXPR_CT) return n(0) === CT_KEY.mark && n(1) === 0xffffffff ? { ct: { key: 'mark' } } : undefined;
  return undefined;
}

/**
 * A KEY_TYPEOF record as the expression it describes, or undefined when nlkit cannot say (nft
 * then too may print `type`).
 * @example parseTypeofKey(typeofKey({ meta: { key: 'mark' } }).udata) // { meta: { key: 'mark' } }
 */
export function parseTypeofKey(b: Buffer): unknown {
  const r = parseUdata(b);
  if (r.get(TYPEOF_EXPR)?.readUInt32LE(0) !== EXPR_CONCAT) return parseOne(b);
  const parts = [...parseUdata(r.get(TYPEOF_DATA)).values()].map(parseOne);
  return parts.length >= 2 && parts.every((p) => p !== undefined) ? { concat: parts } : undefined;
}
