// limit and quota statements, as nft 1.0.6 encodes (netlink_linearize.c), lists (json.c) and
// prints (statement.c) them: rates per second/minute/hour/day/week in packets or bytes (byte
// amounts in the largest of bytes/kbytes/mbytes that divides them), `over` as the invert flag.
import type { AttrTable } from './attrs.js';
import { invalid } from './errors.js';
import { exprData, isObj, uint, type Extension, type TextCtx } from './ext.js';
import { namedRef, objref } from './objref.js';
import type { Statement } from './types.js';

const PER: Record<string, number | undefined> = { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800 };
const BYTE_UNITS = ['bytes', 'kbytes', 'mbytes'];
const LIMIT = { RATE: 1, UNIT: 2, BURST: 3, TYPE: 4, FLAGS: 5 } as const;
const QUOTA = { BYTES: 1, FLAGS: 2, CONSUMED: 4 } as const;
const LIMIT_PKTS = 0, LIMIT_BYTES = 1, F_INV = 1;

/** An amount in a byte unit, in bytes. */
function bytesOf(n: number, unit: unknown, where: string): bigint {
  const i = typeof unit === 'string' ? BYTE_UNITS.indexOf(unit) : -1;
  if (i < 0) throw invalid(where, `unknown unit ${JSON.stringify(unit)} (${BYTE_UNITS.join(', ')})`);
  return BigInt(n) * 1024n ** BigInt(i);
}

/**
 * get_rate: bytes in the largest unit that divides them.
 * @example rateUnit(102400n) // [100, 'kbytes']
 */
export function rateUnit(b: bigint): [number, string] {
  let i = 0;
  if (b !== 0n) while (i < BYTE_UNITS.length - 1 && b % 1024n === 0n) { b /= 1024n; i++; }
  return [Number(b), BYTE_UNITS[i]!];
}

function only(o: Record<string, unknown>, keys: string[], where: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw invalid(`${where}.${k}`, `unknown property (${keys.join(', ')})`);
}

/** A limit's attributes (a named limit object always carries its burst, the expression only a non-zero one). */
export function limitData(body: Record<string, unknown>, where: string, object = false): Buffer {
  only(body, ['rate', 'per', 'burst', 'rate_unit', 'burst_unit', 'inv'], where);
  const rate = uint(body.rate, `${where}.rate`, Number.MAX_SAFE_INTEGER, invalid);
  if (rate === undefined) throw invalid(`${where}.rate`, 'is required');
  const per = PER[String(body.per ?? 'second')];
  if (!per) throw invalid(`${where}.per`, `must be one of ${Object.keys(PER).join(', ')}`);
  const bytes = body.rate_unit !== undefined && body.rate_unit !== 'packets';
  const burst = uint(body.burst, `${where}.burst`, 0xffffffff, invalid) ?? (bytes || object ? 0 : 5);
  if (body.inv !== undefined && typeof body.inv !== 'boolean') throw invalid(`${where}.inv`, 'must be a boolean');
  const r = bytes ? bytesOf(rate, body.rate_unit, `${where}.rate_unit`) : BigInt(rate);
  const b = bytes ? bytesOf(burst, body.burst_unit ?? 'bytes', `${where}.burst_unit`) : BigInt(burst);
  if (b > 0xffffffffn) throw invalid(`${where}.burst`, 'is more than 4 GiB');
  return exprData((w) => {
    w.be64(LIMIT.RATE, r);
    w.be64(LIMIT.UNIT, BigInt(per));
    if (b || object) w.be32(LIMIT.BURST, Number(b));
    w.be32(LIMIT.TYPE, bytes ? LIMIT_BYTES : LIMIT_PKTS);
    w.be32(LIMIT.FLAGS, body.inv ? F_INV : 0);
  });
}

/** A quota's attributes. */
export function quotaData(body: Record<string, unknown>, where: string): Buffer {
  only(body, ['val', 'val_unit', 'inv', 'used', 'used_unit'], where);
  const val = uint(body.val, `${where}.val`, Number.MAX_SAFE_INTEGER, invalid);
  if (val === undefined) throw invalid(`${where}.val`, 'is required');
  if (body.inv !== undefined && typeof body.inv !== 'boolean') throw invalid(`${where}.inv`, 'must be a boolean');
  const used = uint(body.used, `${where}.used`, Number.MAX_SAFE_INTEGER, invalid) ?? 0;
  const bytes = bytesOf(val, body.val_unit ?? 'bytes', `${where}.val_unit`), consumed = bytesOf(used, body.used_unit ?? 'bytes', `${where}.used_unit`);
  return exprData((w) => {
    w.be64(QUOTA.BYTES, bytes);
    w.be64(QUOTA.CONSUMED, consumed);
    w.be32(QUOTA.FLAGS, body.inv ? F_INV : 0);
  });
}

const perName = (secs: number): string => Object.entries(PER).find(([, v]) => v === secs)?.[0] ?? String(secs);
const u64 = (d: AttrTable, t: number): bigint => d.be64(t) ?? 0n;
const u32 = (d: AttrTable, t: number): number => d.be32(t) ?? 0;

/**
 * A limit's JSON from its attributes (the expression's or a named limit object's).
 * @example limitJson(new AttrTable().index(data)) // { rate: 10, burst: 5, per: 'second' }
 */
export function limitJson(d: AttrTable): Record<string, unknown> {
  const bytes = u32(d, LIMIT.TYPE) === LIMIT_BYTES;
  const inv = (u32(d, LIMIT.FLAGS) & F_INV) !== 0;
  const rate = u64(d, LIMIT.RATE), burst = BigInt(u32(d, LIMIT.BURST));
  const per = perName(Number(u64(d, LIMIT.UNIT)));
  if (!bytes) return { rate: Number(rate), burst: Number(burst), per, ...(inv ? { inv: true } : {}) };
  const [r, ru] = rateUnit(rate), [b, bu] = rateUnit(burst);
  return { rate: r, burst: b, per, ...(inv ? { inv: true } : {}), rate_unit: ru, burst_unit: bu };
}

/**
 * A quota's JSON from its attributes.
 * @example quotaJson(new AttrTable().index(data)) // { val: 100, val_unit: 'mbytes' }
 */
export function quotaJson(d: AttrTable): Record<string, unknown> {
  const [val, vu] = rateUnit(u64(d, QUOTA.BYTES));
  const inv = (u32(d, QUOTA.FLAGS) & F_INV) !== 0;
  const used = u64(d, QUOTA.CONSUMED);
  const o: Record<string, unknown> = { val, val_unit: vu };
  if (inv) o.inv = true;
  if (used) { const [u, uu] = rateUnit(used); o.used = u; o.used_unit = uu; }
  return o;
}

/**
 * nft's text of a limit (statement or object body).
 * @example limitText({ rate: 5, per: 'minute', burst: 10, inv: true }) // 'rate over 5/minute burst 10 packets'
 */
export function limitText(b: Record<string, unknown>): string {
  const over = b.inv ? 'over ' : '';
  if (b.rate_unit === undefined || b.rate_unit === 'packets') {
    const burst = Number(b.burst ?? 5);
    return `rate ${over}${String(b.rate)}/${String(b.per)}${burst !== 5 && burst !== 0 ? ` burst ${burst} packets` : ''}`;
  }
  return `rate ${over}${String(b.rate)} ${String(b.rate_unit)}/${String(b.per)}${b.burst ? ` burst ${String(b.burst)} ${String(b.burst_unit)}` : ''}`;
}

/** @example quotaText({ val: 10, val_unit: 'kbytes', inv: true }) // 'over 10 kbytes' */
export function quotaText(b: Record<string, unknown>): string {
  return `${b.inv ? 'over ' : ''}${String(b.val)} ${String(b.val_unit)}${b.used ? ` used ${String(b.used)} ${String(b.used_unit)}` : ''}`;
}

const num = (p: TextCtx, s: string): number => {
  if (!/^\d+$/.test(s)) p.unexpected(p.peek(-1), 'a number');
  return Number(s);
};

/**
 * `rate [over] N/unit [burst N packets]` or `rate [over] N bytes/unit [burst N bytes]` (after `limit`).
 * @example parseLimitBody(cursor) // { rate: 10, per: 'second' } for `rate 10/second`
 */
export function parseLimitBody(p: TextCtx): Record<string, unknown> {
  if (p.peek().v !== 'rate') p.unexpected(p.peek(), "'rate'");
  p.next();
  const o: Record<string, unknown> = {};
  if (p.peek().v === 'over') { p.next(); o.inv = true; }
  const first = p.next();
  let m = /^(\d+)\/([a-z]+)$/.exec(first.v);
  if (m) {
    o.rate = Number(m[1]); o.per = m[2];
  } else {
    o.rate = num(p, first.v);
    const u = p.next();
    m = /^([a-z]+)\/([a-z]+)$/.exec(u.v);
    if (!m || !BYTE_UNITS.includes(m[1]!)) p.unexpected(u, 'a rate like 10/second or 1 mbytes/second');
    o.rate_unit = m![1]; o.per = m![2];
  }
  if (!PER[String(o.per)]) p.fail(first, `wrong rate format: unknown unit ${String(o.per)}`);
  if (p.peek().v === 'burst') {
    p.next();
    const n = num(p, p.next().v);
    const unit = p.word('packets or a byte unit');
    if (o.rate_unit === undefined) {
      if (unit !== 'packets') p.unexpected(p.peek(-1), 'packets');
      o.burst = n;
    } else {
      if (!BYTE_UNITS.includes(unit)) p.unexpected(p.peek(-1), 'bytes, kbytes or mbytes');
      o.burst = n; o.burst_unit = unit;
    }
  }
  if (o.rate_unit !== undefined && o.burst === undefined) { o.burst = 0; o.burst_unit = 'bytes'; }
  return o;
}

/**
 * `[over] N unit [used N unit]` (after `quota`).
 * @example parseQuotaBody(cursor) // { val: 100, val_unit: 'mbytes' } for `100 mbytes`
 */
export function parseQuotaBody(p: TextCtx): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (p.peek().v === 'over') { p.next(); o.inv = true; }
  o.val = num(p, p.next().v);
  const u = p.word('bytes, kbytes or mbytes');
  if (!BYTE_UNITS.includes(u)) p.unexpected(p.peek(-1), 'bytes, kbytes or mbytes');
  o.val_unit = u;
  if (p.peek().v === 'used') {
    p.next();
    o.used = num(p, p.next().v);
    const uu = p.word('bytes, kbytes or mbytes');
    if (!BYTE_UNITS.includes(uu)) p.unexpected(p.peek(-1), 'bytes, kbytes or mbytes');
    o.used_unit = uu;
  }
  return o;
}

/** limit and quota. @example EXT_STATEMENTS.limit({ rate: 10, per: 'second' }, ctx, where) */
export const limitExtension: Extension = {
  statements: {
    limit: (body, c, where) => {
      if (typeof body === 'string') return objref(c.out, 'limit', body, where);
      if (!isObj(body)) throw invalid(where, 'needs { rate, per, burst?, rate_unit?, burst_unit?, inv? }');
      c.out.push({ op: 'raw', name: 'limit', data: limitData(body, where) });
    },
    quota: (body, c, where) => {
      if (typeof body === 'string') return objref(c.out, 'quota', body, where);
      if (!isObj(body)) throw invalid(where, 'needs { val, val_unit?, inv?, used?, used_unit? }');
      c.out.push({ op: 'raw', name: 'quota', data: quotaData(body, where) });
    },
  },
  decoders: {
    limit: (d, c) => void c.out.push({ limit: limitJson(d) }),
    quota: (d, c) => void c.out.push({ quota: quotaJson(d) }),
  },
  printers: {
    limit: (b) => (typeof b === 'string' ? `limit name "${b}"` : `limit ${limitText(b as Record<string, unknown>)}`),
    quota: (b) => (typeof b === 'string' ? `quota name "${b}"` : `quota ${quotaText(b as Record<string, unknown>)}`),
  },
  parsers: {
    limit: (p): Statement => (p.peek().v === 'name' ? (p.next(), namedRef('limit', p)) : { limit: parseLimitBody(p) }),
    quota: (p): Statement => (p.peek().v === 'name' ? (p.next(), namedRef('quota', p)) : { quota: parseQuotaBody(p) }),
  },
};
