// TCP MSS clamping, as firewalld's tcp-mss-clamp writes it: `tcp option maxseg size set rt mtu`
// (the route's MSS, converted to network order) or `... set 1400`, as nft 1.0.6 sends it: the
// value into register 1, then an exthdr write of TCP option 2 (maxseg), offset 2, length 2. nft
// adds no meta l4proto dependency for it (the kernel writes TCP packets only). Other TCP
// options, reading them, and IPv6 extension headers are refused by name.
import { NFT_REG_1 } from './consts.js';
import { TYPES } from './datatypes.js';
import { invalid, unsupported } from './errors.js';
import { exprData, isObj, type CompileCtx, type Extension, type TextCtx } from './ext.js';
import { BYTEORDER_OP } from './ir.js';
import type { Statement } from './types.js';

/** NFTA_EXTHDR_* and NFTA_RT_*. */
const EXTHDR = { DREG: 1, TYPE: 2, OFFSET: 3, LEN: 4, FLAGS: 5, OP: 6, SREG: 7 } as const;
const RT = { DREG: 1, KEY: 2 } as const;
const EXTHDR_OP_TCPOPT = 1, TCPOPT_MAXSEG = 2, RT_TCPMSS = 3;
const MSS = { 'tcp option': { name: 'maxseg', field: 'size' } };

/** `{ mangle: { key: { "tcp option": { name: "maxseg", field: "size" } }, value } }`. */
function compileMss(body: unknown, c: CompileCtx, where: string): void {
  const b = body as { key: { 'tcp option': unknown }; value: unknown };
  const o = b.key['tcp option'];
  if (!isObj(o) || o.name !== 'maxseg' || o.field !== 'size' || Object.keys(o).length !== 2) throw unsupported(`${where}.key`, `setting tcp option ${JSON.stringify(o)} (only maxseg size)`);
  const v = b.value;
  if (isObj(v) && 'rt' in v) {
    if (!isObj(v.rt) || v.rt.key !== 'mtu' || Object.keys(v).length !== 1) throw unsupported(`${where}.value`, `${JSON.stringify(v)} (only rt mtu or a number)`);
    c.out.push(
      { op: 'raw', name: 'rt', data: exprData((w) => { w.be32(RT.KEY, RT_TCPMSS); w.be32(RT.DREG, NFT_REG_1); }) },
      { op: 'byteorder', sreg: NFT_REG_1, dreg: NFT_REG_1, bop: BYTEORDER_OP.hton, len: 2, size: 2 },
    );
  } else {
    const n = TYPES.inet_service.parse(v);
    if (!n) throw invalid(`${where}.value`, `must be rt mtu or a size from 0 to 65535, got ${JSON.stringify(v)}`);
    c.out.push({ op: 'immediate', dreg: NFT_REG_1, data: n });
  }
  c.out.push({
    op: 'raw', name: 'exthdr', data: exprData((w) => {
      w.be32(EXTHDR.SREG, NFT_REG_1);
      w.u8(EXTHDR.TYPE, TCPOPT_MAXSEG);
      w.be32(EXTHDR.OFFSET, 2);
      w.be32(EXTHDR.LEN, 2);
      w.be32(EXTHDR.OP, EXTHDR_OP_TCPOPT);
    }),
  });
}

/** nft's text: `tcp option maxseg size` (an expression) and `rt mtu`. */
function parseTcpOption(p: TextCtx): Statement {
  const name = p.word('a tcp option');
  const field = p.word('a tcp option field');
  return { 'tcp option': { name, field } };
}

/** The name compile.ts's mangle looks this statement up by. */
const MSS_STATEMENT = 'mangle tcp option';

/** TCP MSS clamping. @example EXT_STATEMENTS['mangle tcp option']({ key: { 'tcp option': { name: 'maxseg', field: 'size' } }, value: { rt: { key: 'mtu' } } }, ctx, where) */
export const exthdrExtension: Extension = {
  statements: { [MSS_STATEMENT]: compileMss },
  decoders: {
    rt: (d, c) => {
      const key = d.be32(RT.KEY), reg = d.be32(RT.DREG);
      if (key !== RT_TCPMSS || reg === undefined) c.refuse(`rt key ${key}`);
      c.load(reg!, { rt: { key: 'mtu' } }, TYPES.integer);
    },
    exthdr: (d, c) => {
      if (d.has(EXTHDR.DREG) || d.be32(EXTHDR.OP) !== EXTHDR_OP_TCPOPT || d.u8(EXTHDR.TYPE) !== TCPOPT_MAXSEG || d.be32(EXTHDR.OFFSET) !== 2 || d.be32(EXTHDR.LEN) !== 2 || (d.be32(EXTHDR.FLAGS) ?? 0) !== 0 || d.be32(EXTHDR.SREG) === undefined) {
        c.refuse('an extension header expression other than setting tcp option maxseg size');
      }
      const v = c.take(d.be32(EXTHDR.SREG)!);
      const value = v.data ? v.data.readUInt16BE(0) : isObj(v.json) && 'rt' in v.json ? v.json : c.refuse('tcp option maxseg size set from this value');
      c.out.push({ mangle: { key: MSS, value } });
    },
  },
  exprPrinters: {
    'tcp option': (b) => `tcp option ${String(b.name)} ${String(b.field)}`,
    rt: (b) => `rt ${String(b.key)}`,
  },
  exprParsers: {
    'tcp option': parseTcpOption,
    rt: (p) => ({ rt: { key: p.word('an rt key') } }),
  },
};
