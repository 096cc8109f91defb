// The shape of nlkit's statement and expression extensions (stmt-*.ts, expr-hash.ts): each
// compiles its JSON statements into kernel expressions, decodes the kernel's expressions back
// to nft's JSON, reads and prints nft's text. The compiler, decoder, parser and printer look a
// name up in ext-table.ts when their own switch does not know it; the contexts below are what
// they hand over.
import { AttrWriter } from '../netlink/attr-writer.js';
import type { AttrTable } from './attrs.js';
import type { DataType } from './datatypes.js';
import type { KExpr } from './ir.js';
import type { Family, Statement } from './types.js';

/** What a statement or expression needs from the rule compiler. */
export interface CompileCtx {
  family: Family;
  out: KExpr[];
  /** The transport protocol matched so far in the rule (meta l4proto, tcp/udp headers). */
  l4proto(): number | undefined;
  /** Inserts nft's `meta l4proto` / `meta nfproto` dependency unless the rule has it; refuses a contradiction. */
  needL4(proto: number, where: string): void;
  needNfproto(nfproto: number, where: string): void;
  /** Loads e (a value or a concatenation, with its header dependencies) from register word `word` on; returns its length in bytes. */
  loadAt(e: unknown, word: number, where: string): number;
  /** A `{ map: { key, data } }` lookup whose value lands in NFT_REG_1; `want`: an anonymous map's data types. Returns the data types. */
  loadMap(body: unknown, want: (concat: boolean) => DataType[], where: string): DataType[];
  /** A named set known to the batch or the kernel: its key length, whether a map, its batch id. */
  setRef?(name: string): { keyLen: number; map: boolean; id?: number } | undefined;
  /** A set statement writes to set `name`: nft flags a set of the same batch NFT_SET_EVAL. */
  dynamic?(name: string): void;
}

/** A value the decoder holds in a register: a loaded expression (json) or an immediate (data). */
export interface DecodedValue { json: Statement; data?: Buffer; plain: boolean }

/** What an expression decoder needs from the rule decoder. */
export interface DecodeCtx {
  family: Family;
  out: Statement[];
  /** The value in register reg (taken: a register is read once). */
  take(reg: number): DecodedValue;
  /** Every loaded (non-immediate) value still pending, in load order (a hash's input). */
  takeLoads(): DecodedValue[];
  /** Whether register reg holds a data map's value (`key map @m`), without taking it. */
  isMap?(reg: number): boolean;
  /** A value now in register reg, of type t (hashes). */
  load(reg: number, json: Statement, t: DataType): void;
  /** Drops the `meta l4proto` / `meta nfproto` match just before, nft's dependency of this statement. */
  dropL4Dep(): void;
  /** Drops a `meta nfproto` dependency just before; returns its value (undefined: there was none). */
  dropNfDep(): number | undefined;  // also the protocol a header load already established (nothing dropped then)
  /** Throws nlkit's UnsupportedError for a rule it cannot decode. */
  refuse(what: string): never;
}

/** The text parser's cursor, for statements that read their own words. */
export interface Tok { v: string; kind: 'word' | 'string' | 'punct' | 'nl' | 'eof'; line: number; col: number }
export interface TextCtx {
  family: string;
  peek(k?: number): Tok;
  next(): Tok;
  /** The k-th token's string (of any kind), without making its Tok (peek(k).v). */
  v(k?: number): string;
  /** Whether the k-th token is the word w (peek(k) is { kind: 'word', v: w }), without making its Tok. */
  isWord(w: string, k?: number): boolean;
  /** Steps over the current token (next() without its Tok). */
  skip(): void;
  word(what: string): string;
  unexpected(t: Tok, wanted?: string): never;
  fail(t: Tok, what: string): never;
  /** An expression (`ip saddr . tcp dport`). */
  expression(): Statement;
  endOfStatement(t: Tok): boolean;
}

export interface Extension {
  /** JSON statement name -> its compiler. */
  statements?: Record<string, (body: unknown, c: CompileCtx, where: string) => void>;
  /** JSON expression name (a value loaded into a register) -> its compiler; returns the value's type. */
  expressions?: Record<string, (body: unknown, c: CompileCtx, reg: number, where: string) => DataType>;
  /** Kernel expression name -> its decoder (`d`: its attributes by type, valid during the call). */
  decoders?: Record<string, (d: AttrTable, c: DecodeCtx) => void>;
  /** JSON statement name -> nft's text of it. */
  printers?: Record<string, (body: unknown, expr: (e: unknown) => string) => string>;
  /** JSON expression name -> nft's text of it. */
  exprPrinters?: Record<string, (body: Record<string, unknown>, expr: (e: unknown) => string) => string>;
  /** Statement keyword in nft's text -> its JSON. */
  parsers?: Record<string, (p: TextCtx) => Statement>;
  /** Expression keyword in nft's text -> its JSON. */
  exprParsers?: Record<string, (p: TextCtx) => Statement>;
}

/**
 * An expression's NFTA_EXPR_DATA attributes, written by fn.
 * @example c.out.push({ op: 'raw', name: 'reject', data: exprData((w) => { w.be32(1, 0); w.u8(2, 3); }) });
 */
export function exprData(fn: (w: AttrWriter) => void): Buffer {
  const w = new AttrWriter(64);
  fn(w);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** @example isObj({}) // true; isObj([]) // false */
export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A non-negative integer property (or undefined), checked.
 * @example uint(body.group, `${where}.group`, 0xffff, invalid) // 2, undefined, or throws
 */
export function uint(v: unknown, where: string, max: number, bad: (where: string, what: string) => Error): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw bad(where, `must be an integer from 0 to ${max}, got ${JSON.stringify(v)}`);
  return v;
}
