// jhash and symhash expressions (`jhash ip saddr . tcp dport mod 4 seed 0x1 offset 2`,
// `symhash mod 2`), as nft 1.0.6 encodes them: the hashed value loaded into the registers after
// the result's, the hash into the result's register; listed and printed as nft shows them.
import type { AttrTable } from './attrs.js';
import { NFT_REG_1 } from './consts.js';
import { TYPES } from './datatypes.js';
import { invalid, unsupported } from './errors.js';
import { exprData, isObj, uint, type Extension, type TextCtx } from './ext.js';
import type { Statement } from './types.js';

const HASH = { SREG: 1, DREG: 2, LEN: 3, MODULUS: 4, SEED: 5, OFFSET: 6, TYPE: 7 } as const;
const JHASH = 0, SYMHASH = 1;

function hash(kind: 'jhash' | 'symhash') {
  return (body: unknown, c: Parameters<NonNullable<NonNullable<Extension['expressions']>[string]>>[1], reg: number, where: string) => {
    if (!isObj(body)) throw invalid(where, 'needs { mod, seed?, offset?, expr }');
    for (const k of Object.keys(body)) if (!['mod', 'seed', 'offset', ...(kind === 'jhash' ? ['expr'] : [])].includes(k)) throw invalid(`${where}.${k}`, `unknown ${kind} property`);
    const mod = uint(body.mod, `${where}.mod`, 0xffffffff, invalid);
    if (!mod) throw invalid(`${where}.mod`, 'must be an integer from 1');
    const seed = kind === 'jhash' ? uint(body.seed, `${where}.seed`, 0xffffffff, invalid) : undefined;
    const offset = uint(body.offset, `${where}.offset`, 0xffffffff, invalid) ?? 0;
    if (reg !== NFT_REG_1) throw unsupported(where, `${kind} inside a concatenation`);
    let len = 0;
    if (kind === 'jhash') {
      if (body.expr === undefined) throw invalid(`${where}.expr`, 'is required');
      // nft hashes from the register after the result's (NFT_REG_1 + 1, 32-bit word 4).
      len = c.loadAt(body.expr, 4, `${where}.expr`);
    }
    c.out.push({ op: 'raw', name: 'hash', data: exprData((w) => {
      if (kind === 'jhash') w.be32(HASH.SREG, NFT_REG_1 + 1);
      w.be32(HASH.DREG, reg);
      if (kind === 'jhash') w.be32(HASH.LEN, len);
      w.be32(HASH.MODULUS, mod);
      if (seed !== undefined) w.be32(HASH.SEED, seed);
      w.be32(HASH.OFFSET, offset);
      w.be32(HASH.TYPE, kind === 'jhash' ? JHASH : SYMHASH);
    }) });
    return TYPES.integer;
  };
}

function parseHash(kind: 'jhash' | 'symhash') {
  return (p: TextCtx): Statement => {
    const o: Record<string, unknown> = {};
    const expr = kind === 'jhash' ? p.expression() : undefined;
    const n = (what: string): number => {
      const t = p.next();
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(t.v)) p.unexpected(t, what);
      return Number(t.v);
    };
    if (p.next().v !== 'mod') p.unexpected(p.peek(-1), "'mod'");
    o.mod = n('a number');
    if (p.peek().v === 'seed' && kind === 'jhash') { p.next(); o.seed = n('a number'); }
    if (p.peek().v === 'offset') { p.next(); o.offset = n('a number'); }
    if (expr) o.expr = expr;
    return { [kind]: o };
  };
}

const be32 = (d: AttrTable, t: number): number => d.be32(t) ?? 0;

/** jhash and symhash. @example EXT_EXPRESSIONS.jhash({ mod: 2, expr: { payload: { protocol: 'ip', field: 'saddr' } } }, ctx, 1, where) */
export const hashExtension: Extension = {
  expressions: { jhash: hash('jhash'), symhash: hash('symhash') },
  decoders: {
    hash: (d, c) => {
      const type = be32(d, HASH.TYPE);
      if (type !== JHASH && type !== SYMHASH) c.refuse(`hash type ${type}`);
      const o: Record<string, unknown> = { mod: be32(d, HASH.MODULUS) };
      if (be32(d, HASH.SEED)) o.seed = be32(d, HASH.SEED);
      if (be32(d, HASH.OFFSET)) o.offset = be32(d, HASH.OFFSET);
      if (type === JHASH) {
        const loads = c.takeLoads();
        if (!loads.length || loads.some((l) => !l.plain)) c.refuse('a jhash of a masked or missing value');
        o.expr = loads.length === 1 ? loads[0]!.json : { concat: loads.map((l) => l.json) };
      }
      c.load(be32(d, HASH.DREG), { [type === JHASH ? 'jhash' : 'symhash']: o }, TYPES.integer);
    },
  },
  exprPrinters: {
    jhash: (b, expr) => `jhash ${expr(b.expr)} mod ${String(b.mod)}${b.seed ? ` seed 0x${Number(b.seed).toString(16)}` : ''}${b.offset ? ` offset ${String(b.offset)}` : ''}`,
    symhash: (b) => `symhash mod ${String(b.mod)}${b.offset ? ` offset ${String(b.offset)}` : ''}`,
  },
  exprParsers: { jhash: parseHash('jhash'), symhash: parseHash('symhash') },
};
