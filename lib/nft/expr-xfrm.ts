// The ipsec expression (nft_xfrm): `ipsec in|out [spnum N] reqid|spi|ip saddr|ip daddr|ip6
// saddr|ip6 daddr`, the IPsec state a packet was decrypted by (in: prerouting, input, forward
// hooks) or will be encrypted by (out: forward, output, postrouting; the kernel refuses other
// hooks). As nft 1.0.6 (xfrm.c): reqid a host-order 32-bit integer, spi a big-endian one,
// addresses of the family named. In == / != matches; sets of these keys (nft records a typeof)
// and prefixes are refused by name.
import type { AttrTable } from './attrs.js';
import { TYPES, type DataType } from './datatypes.js';
import { invalid } from './errors.js';
import { exprData, isObj, uint, type CompileCtx, type Extension, type TextCtx } from './ext.js';
import { rawType } from './expr-raw.js';
import type { Statement } from './types.js';

/** NFTA_XFRM_* */
const XFRM = { DREG: 1, KEY: 2, DIR: 3, SPNUM: 4 } as const;
const DIRS = ['in', 'out'];
/** NFT_XFRM_KEY_* by nft's names: [key, family or undefined, type]. */
const KEYS: Record<string, Array<[number, string | undefined, DataType]> | undefined> = {
  daddr: [[1, 'ip', TYPES.ipv4_addr], [2, 'ip6', TYPES.ipv6_addr]],
  saddr: [[3, 'ip', TYPES.ipv4_addr], [4, 'ip6', TYPES.ipv6_addr]],
  reqid: [[5, undefined, TYPES.integer]],
  spi: [[6, undefined, rawType(4)]],
};
/** The kernel's rule ends at spnum 255 (XFRM_MAX_DEPTH is lower still). */
const SPNUM_MAX = 255;

/** `{ ipsec: { key, dir, spnum?, family? } }`. */
function compile(body: unknown, c: CompileCtx, reg: number, where: string): DataType {
  if (!isObj(body)) throw invalid(where, 'needs { key, dir, spnum?, family? }');
  for (const k of Object.keys(body)) if (!['key', 'dir', 'spnum', 'family'].includes(k)) throw invalid(`${where}.${k}`, 'unknown ipsec property');
  const keys = KEYS[String(body.key)];
  if (!keys) throw invalid(`${where}.key`, `unknown ipsec key ${JSON.stringify(body.key)} (reqid, spi, saddr, daddr)`);
  const dir = DIRS.indexOf(String(body.dir ?? 'in'));
  if (dir < 0) throw invalid(`${where}.dir`, `must be "in" or "out", got ${JSON.stringify(body.dir)}`);
  const spnum = uint(body.spnum, `${where}.spnum`, SPNUM_MAX, invalid) ?? 0;
  // An address names its family (`ipsec in ip saddr`); in ip and ip6 tables the table's is the default.
  const family = body.family ?? (keys[0]![1] && (c.family === 'ip' || c.family === 'ip6') ? c.family : undefined);
  const k = keys.find(([, f]) => f === family);
  if (!k) throw invalid(where, keys[0]![1] ? `ipsec ${String(body.key)} needs a family (ip or ip6)` : `ipsec ${String(body.key)} takes no family`);
  c.out.push({ op: 'raw', name: 'xfrm', data: exprData((w) => {
    // libnftnl's order: key, dir, spnum, dreg.
    w.be32(XFRM.KEY, k[0]);
    w.u8(XFRM.DIR, dir);
    w.be32(XFRM.SPNUM, spnum);
    w.be32(XFRM.DREG, reg);
  }) });
  return k[2];
}

/** nft's text: `ipsec in [spnum N] reqid` / `ipsec out ip saddr`. */
function parse(p: TextCtx): Statement {
  const o: Record<string, unknown> = {};
  const dir = p.word('in or out');
  if (!DIRS.includes(dir)) p.unexpected(p.peek(-1), 'in or out');
  if (p.peek().v === 'spnum') { p.next(); o.spnum = Number(p.word('a number')); }
  let key = p.word('an ipsec key');
  if (key === 'ip' || key === 'ip6') { o.family = key; key = p.word('saddr or daddr'); }
  return { ipsec: { key, ...(o.family ? { family: o.family } : {}), dir, ...(o.spnum !== undefined ? { spnum: o.spnum } : {}) } };
}


/** The ipsec (xfrm) expression. @example EXT_EXPRESSIONS.ipsec({ key: 'reqid', dir: 'in' }, ctx, 1, where) */
export const xfrmExtension: Extension = {
  expressions: { ipsec: compile },
  decoders: {
    xfrm: (d, c) => {
      const key = d.be32(XFRM.KEY), reg = d.be32(XFRM.DREG), dir = d.u8(XFRM.DIR), spnum = d.be32(XFRM.SPNUM) ?? 0;
      const hit = Object.entries(KEYS).flatMap(([name, ks]) => (ks ?? []).map((k) => [name, k] as const)).find(([, k]) => k[0] === key);
      if (!hit || reg === undefined || dir === undefined || !DIRS[dir]) return c.refuse(`an ipsec expression with key ${key}`);
      const [name, [, family, type]] = hit;
      // As nft -j prints it: key, family (addresses), dir, spnum.
      c.load(reg, { ipsec: { key: name, ...(family ? { family } : {}), dir: DIRS[dir], spnum } }, type);
    },
  },
  exprPrinters: {
    ipsec: (b) => `ipsec ${String(b.dir ?? 'in')}${b.spnum ? ` spnum ${String(b.spnum)}` : ''} ${b.family ? `${String(b.family)} ` : ''}${String(b.key)}`,
  },
  exprParsers: { ipsec: parse },
};

