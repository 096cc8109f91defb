// The kernel's view of a rule: nf_tables expressions with registers, as libnftnl names them.
// Statements (nft's JSON) compile to these (compile.ts) and are recovered from them
// (statements.ts); expr-wire.ts puts them into and reads them out of netlink attributes.

import type { AttrTable } from './attrs.js';

export type Verdict = { code: number; chain?: string };

export type KExpr =
  | { op: 'payload'; dreg: number; base: number; offset: number; len: number }
  | { op: 'meta'; key: number; dreg: number }
  | { op: 'meta_set'; key: number; sreg: number }
  /** `dir`: NFTA_CT_DIRECTION (ct original/reply keys). */
  | { op: 'ct'; key: number; dreg: number; dir?: number }
  | { op: 'ct_set'; key: number; sreg: number }
  | { op: 'cmp'; sreg: number; cmp: number; data: Buffer }
  /** `bool`: nft wrote NFTA_BITWISE_OP (its binop path; flag and prefix matches leave it out). */
  | { op: 'bitwise'; sreg: number; dreg: number; len: number; mask: Buffer; xor: Buffer; bool: boolean }
  /** A bitwise right shift by `rshift` bits (NFT_BITWISE_RSHIFT: sub-byte fields as keys, bitkeys.ts). */
  | { op: 'shift'; sreg: number; dreg: number; len: number; rshift: number }
  /** `inv`: NFT_LOOKUP_F_INV (`!= { ... }`). */
  | { op: 'lookup'; sreg: number; dreg?: number; set: string; setId?: number; inv?: boolean }
  | { op: 'immediate'; dreg: number; data?: Buffer; verdict?: Verdict }
  | { op: 'counter'; bytes?: bigint; packets?: bigint }
  | { op: 'numgen'; dreg: number; mod: number; type: number; offset: number }
  | { op: 'fib'; flags: number; result: number; dreg: number }
  /** An expression built by an extension (ext.ts): its name and NFTA_EXPR_DATA attributes as sent (no data: no NFTA_EXPR_DATA, as for notrack). */
  | { op: 'raw'; name: string; data?: Buffer }
  /** `bop`: BYTEORDER_OP; nft converts host-order values to big endian before ordering comparisons. */
  | { op: 'byteorder'; sreg: number; dreg: number; bop: number; len: number; size: number }
  /** NFT_RANGE_EQ (0) / NEQ (1) between `from` and `to`. */
  | { op: 'range'; sreg: number; rop: number; from: Buffer; to: Buffer }
  /**
   * An expression nlkit does not decode (list() refuses the rule with its name); `data`: its
   * NFTA_EXPR_DATA, for readers that know it; `attrs`: the same attributes as ExprReader indexed
   * them (valid until it reads the next rule), for the extension decoders.
   */
  | { op: 'unknown'; name: string; data?: Buffer; attrs?: AttrTable };

export const PAYLOAD_BASE = { LL: 0, NETWORK: 1, TRANSPORT: 2 } as const;
export const CMP = { '==': 0, '!=': 1, '<': 2, '<=': 3, '>': 4, '>=': 5 } as const;
export const META_KEY = { mark: 3, iif: 4, oif: 5, iifname: 6, oifname: 7, nfproto: 15, l4proto: 16, length: 0, iiftype: 8, oiftype: 9, skuid: 10, skgid: 11, pkttype: 19, cpu: 20, protocol: 1, iifgroup: 21, oifgroup: 22, cgroup: 23, ipsec: 25, secpath: 25 } as const;
export const CT_KEY = { state: 0, status: 2, mark: 3 } as const;
export const NUMGEN = { inc: 0, random: 1 } as const;
/** NFT_BYTEORDER_* */
export const BYTEORDER_OP = { ntoh: 0, hton: 1 } as const;
