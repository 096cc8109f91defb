// nft's text (what `nft -f` reads, for the language nlkit encodes) -> the libnftables JSON
// commands apply() sends, in the order nft 1.0.6 sends them (a `table { }` block expands as
// nft_cmd_expand does: the table, its chains, its sets with their elements, then the rules).
// Pure functions; a syntax error is an InvalidArgumentError naming line and column as nft does.
import { InvalidArgumentError, UnsupportedError } from '../core/errors.js';
import { EXT_EXPR_PARSERS, EXT_PARSERS } from './ext-table.js';
import { durationMs } from './duration.js';
import type { TextCtx } from './ext.js';
import { namedRef, parseObjectBody } from './objects.js';
import type { Command, Statement } from './types.js';
import { parseRawWord, RAW_START } from './expr-raw.js';

export interface ParsedScript {
  commands: Command[];
  /** The 1-based line each command starts on. */
  lines: number[];
}

/** The parts of a `table { }` block, in the order nft sends them after the table. */
export const BlockPart = { Chain: 0, Object: 1, Set: 2, Rule: 3 } as const;
export type BlockPart = (typeof BlockPart)[keyof typeof BlockPart];

/**
 * Where the parser puts its commands as it reads them. Outside a `table { }` block they come in
 * order; a block's items come as each one is read (a rule before its chain), and the sink puts
 * them in nft's order: the table, its chains, objects, sets, then rules (nft_cmd_expand). A sink
 * that encodes each command at once keeps nothing alive from one to the next (restore()'s stream).
 */
export interface CommandSink {
  command(cmd: Command, line: number): void;
  blockBegin(): void;
  blockItem(part: BlockPart, cmd: Command, line: number): void;
  /** The table's own command (made at the end: a comment can come anywhere in the block). */
  blockEnd(table: Command, line: number): void;
}

/** The sink of parseScript(): the commands in an array. */
class Collector implements CommandSink {
  commands: Command[] = [];
  lines: number[] = [];
  private parts: Array<Array<[Command, number]>> = [[], [], [], []];
  command(cmd: Command, line: number): void { this.commands.push(cmd); this.lines.push(line); }
  blockBegin(): void { this.parts = [[], [], [], []]; }
  blockItem(part: BlockPart, cmd: Command, line: number): void { this.parts[part]!.push([cmd, line]); }
  blockEnd(table: Command, line: number): void {
    this.command(table, line);
    for (const p of this.parts) for (const [c, l] of p) this.command(c, l);
    this.parts = [[], [], [], []];
  }
}

interface Token { v: string; kind: 'word' | 'string' | 'punct' | 'nl' | 'eof'; line: number; col: number }

const FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'];
const VERBS = ['add', 'create', 'insert', 'replace', 'delete', 'flush'];
const OBJECTS = ['table', 'chain', 'rule', 'set', 'map', 'element'];
const EXPRESSION_WORDS = new Set(['ip', 'ip6', 'tcp', 'udp', 'th', 'icmp', 'icmpv6', 'sctp', 'ether', 'vlan', 'meta', 'ct', 'fib', 'numgen']);
const UNQUALIFIED_META = ['mark', 'iif', 'oif', 'iifname', 'oifname', 'iiftype', 'oiftype', 'skuid', 'skgid', 'pkttype', 'cpu', 'iifgroup', 'oifgroup', 'cgroup', 'priority'];
/** The words an expression starts with (one lookup per statement word). */
const EXPRESSION_STARTS = new Set([...EXPRESSION_WORDS, ...UNQUALIFIED_META, ...Object.keys(EXT_EXPR_PARSERS)]);
/** A relation's word (at most two characters) -> its operator. */
const RELATIONS = new Map([['==', '=='], ['eq', '=='], ['!=', '!='], ['ne', '!='], ['<', '<'], ['lt', '<'], ['>', '>'], ['gt', '>'], ['<=', '<='], ['le', '<='], ['>=', '>='], ['ge', '>=']]);
/** 1 for the character codes a word of EXPRESSION_STARTS (or a raw payload's `@`) starts with: most statement words are ruled out without slicing them. Never written after this. */
/** Words by their first character code (ASCII): a token is compared in place with the few that start as it does. */
const byFirst = (words: Iterable<string>): Array<string[] | undefined> => {
  const t: Array<string[] | undefined> = Array.from({ length: 128 }, () => undefined);
  for (const w of words) (t[w.charCodeAt(0)] ??= []).push(w);
  return t;
};
const EXPRESSION_BY_FIRST = byFirst(EXPRESSION_STARTS);
const EXT_BY_FIRST = byFirst(Object.keys(EXT_PARSERS));
const BINOPS: Record<string, string> = { '&': '&', and: '&', '|': '|', or: '|', '^': '^', xor: '^' };
/** A raw payload expression (`@th,96,24`, Docker's encrypted overlay; expr-raw.ts). */
const RAW_PAYLOAD = RAW_START;
/** nft's (C's) binding of & ^ |. */
const PRECEDENCE: Record<string, number> = { '&': 3, '^': 2, '|': 1 };
/** A value written as a number (`17`, `0x11`, a number token already read as one), else undefined. */
const constantNumber = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : undefined;
const REJECT_TYPE: Record<string, string> = { ip: 'icmp', ip6: 'icmpv6', inet: 'icmpx' };

function syntaxError(tok: Token, what: string, source: string): InvalidArgumentError {
  const end = tok.col + Math.max(tok.v.length, 1) - 1;
  return new InvalidArgumentError(`${source}:${tok.line}:${tok.col}-${end}: Error: ${what}`, {
    subsystem: 'nft', op: 'nft.restore', line: tok.line, detail: `column ${tok.col}`,
  });
}

/** Whether a character code ends a word: blank, newline, `{};,`, `"` or `#`. */
const wordEnd = (c: number): boolean =>
  c === 32 || c === 9 || c === 13 || c === 10 || c === 123 || c === 125 || c === 59 || c === 44 || c === 34 || c === 35;

/** 1 for the ASCII codes a word goes on with (not wordEnd()): one load per character. Never written after this. */
const WORD_CHAR = Uint8Array.from({ length: 128 }, (_, c) => (wordEnd(c) ? 0 : 1));

/** Token kinds (Token.kind by index). */
const K_WORD = 0, K_STRING = 1, K_PUNCT = 2, K_NL = 3, K_EOF = 4;
const KIND_NAMES = ['word', 'string', 'punct', 'nl', 'eof'] as const;
const PUNCT_CHARS = ['{', '}', ';', ','];

/**
 * nft's tokens, read as the parser asks for them (a few of lookahead, not an array of the whole
 * text: a 20k-service text has ~1.9M tokens). The lookahead lives in reusable slots (kind, offsets
 * into the text, line, column): no object per token, a token's string sliced only when the parser
 * asks for its value (kept in the slot then), keywords compared in place. tok() makes a Token
 * object (errors, extensions). `define name = value` statements are taken out here; `$name` is
 * replaced by its tokens (their strings held in the slots).
 */
class Lexer {
  private i = 0;
  private line = 1;
  /** Offset of the current line's first character (a column is the offset from it, plus one). */
  private lineStart = 0;
  // Slots: head..tail-1 the lookahead after the current token (fields h* below).
  private readonly kinds: number[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly lines: number[] = [];
  private readonly cols: number[] = [];
  /** A slot's string once sliced (or a define's token); null: not sliced yet. */
  private readonly strs: Array<string | null> = [];
  /** A slot's Token once made (tok()); null: none yet. */
  private readonly toks: Array<Token | null> = [];
  private head = 0;
  private tail = 0;
  // The current token (k = 0) in fields of its own: the parser asks about it several times per
  // token (kind, is, ...), and fields cost less than the slots' index arithmetic. hk < 0: not
  // read yet (load() moves the next slot here). Slots head..tail-1 hold the tokens after it.
  private hk = -1;
  private ha = 0;
  private hb = 0;
  private hl = 0;
  private hc = 0;
  private hs: string | null = null;
  private ht: Token | null = null;
  // The token lex() read last (kind, span, line, column, string when fixed).
  private lk = 0;
  private la = 0;
  private lb = 0;
  private ll = 0;
  private lc = 0;
  private ls: string | null = null;
  /** Whether the last token read from the text ends a statement (defines start one). */
  private atStart = true;
  private readonly defines = new Map<string, Token[]>();

  constructor(private readonly text: string, private readonly source: string) {}

  /** Reads the current token into the fields (the next slot's, or straight from the text when nothing was looked ahead). */
  private load(): void {
    while (this.tail === this.head) {
      if (this.read()) {
        this.hk = this.lk; this.ha = this.la; this.hb = this.lb; this.hl = this.ll; this.hc = this.lc;
        this.hs = this.ls; this.ht = null;
        return;
      }
    }
    const s = this.head;
    this.hk = this.kinds[s]!; this.ha = this.starts[s]!; this.hb = this.ends[s]!;
    this.hl = this.lines[s]!; this.hc = this.cols[s]!;
    this.hs = this.strs[s] ?? null; this.ht = this.toks[s] ?? null;
    // Everything read: start the slots over (they never hold more than the lookahead).
    if (++this.head === this.tail) { this.head = 0; this.tail = 0; }
  }

  /** The slot of the k-th token ahead (k >= 1), read as far as that. */
  private slot(k: number): number {
    if (this.hk < 0) this.load();
    while (this.tail - this.head < k) this.fill();
    return this.head + k - 1;
  }

  /** The kind of the k-th token ahead (K_*). */
  kind(k = 0): number {
    if (k === 0) {
      if (this.hk < 0) this.load();
      return this.hk;
    }
    return this.kinds[this.slot(k)]!;
  }

  /** The k-th token's string (a string token's without its quotes). */
  v(k = 0): string {
    if (k === 0) {
      if (this.hk < 0) this.load();
      let v = this.hs;
      if (v === null) this.hs = v = this.text.slice(this.ha, this.hb);
      return v;
    }
    const s = this.slot(k);
    let v = this.strs[s];
    if (v === null || v === undefined) this.strs[s] = v = this.text.slice(this.starts[s], this.ends[s]);
    return v;
  }

  /** Whether the k-th token's string is `w` (of any kind), compared without slicing. */
  is(w: string, k = 0): boolean {
    let v: string | null | undefined, a: number, b: number;
    if (k === 0) {
      if (this.hk < 0) this.load();
      v = this.hs; a = this.ha; b = this.hb;
    } else {
      const s = this.slot(k);
      v = this.strs[s]; a = this.starts[s]!; b = this.ends[s]!;
    }
    if (v !== null && v !== undefined) return v === w;
    const n = w.length;
    if (b - a !== n) return false;
    const text = this.text;
    for (let j = 0; j < n; j++) if (text.charCodeAt(a + j) !== w.charCodeAt(j)) return false;
    return true;
  }

  /** The current token's value when it is a word of decimal digits (at most 15), else -1; read in place. */
  decimal(): number {
    if (this.hk < 0) this.load();
    if (this.hk !== K_WORD) return -1;
    // A define's token has no span in the text (a === b): read from its string by the caller.
    const text = this.text, a = this.ha, b = this.hb;
    if (b === a || b - a > 15) return -1;
    let n = 0;
    for (let j = a; j < b; j++) {
      const c = text.charCodeAt(j) - 48;
      if (c < 0 || c > 9) return -1;
      n = n * 10 + c;
    }
    return n;
  }

  /** The length of the current token's string (a string token's without its quotes). */
  len(): number {
    if (this.hk < 0) this.load();
    const v = this.hs;
    return v !== null ? v.length : this.hb - this.ha;
  }

  /** The current token's first character code (NaN for an empty one). */
  first(): number {
    if (this.hk < 0) this.load();
    const v = this.hs;
    return v !== null ? v.charCodeAt(0) : this.ha < this.hb ? this.text.charCodeAt(this.ha) : NaN;
  }

  /** Whether the k-th token is the word `w`. */
  isWord(w: string, k = 0): boolean { return this.kind(k) === K_WORD && this.is(w, k); }
  /** Whether the k-th token is the punctuation `p` ({ } ; ,). */
  isPunct(p: string, k = 0): boolean { return this.kind(k) === K_PUNCT && this.is(p, k); }

  /** The 1-based line of the k-th token. */
  lineOf(k = 0): number {
    if (k === 0) {
      if (this.hk < 0) this.load();
      return this.hl;
    }
    return this.lines[this.slot(k)]!;
  }

  /** The k-th token as an object (made once per token). */
  tok(k = 0): Token {
    if (k === 0) {
      if (this.hk < 0) this.load();
      let t = this.ht;
      if (!t) this.ht = t = { v: this.v(0), kind: KIND_NAMES[this.hk]!, line: this.hl, col: this.hc };
      return t;
    }
    const s = this.slot(k);
    let t = this.toks[s];
    if (!t) this.toks[s] = t = { v: this.v(k), kind: KIND_NAMES[this.kinds[s]!]!, line: this.lines[s]!, col: this.cols[s]! };
    return t;
  }

  /** Steps over the current token. */
  skip(): void {
    if (this.hk < 0) this.load();
    this.hk = -1;
  }

  /** The current token's string; steps over it. */
  take(): string {
    const v = this.v(0);
    this.hk = -1;
    return v;
  }

  /** The current token as an object; steps over it. */
  next(): Token {
    const t = this.tok(0);
    this.hk = -1;
    return t;
  }

  /** The next token into the next slot (lookahead). */
  private fill(): void {
    if (!this.read()) return;
    const s = this.tail++;
    this.kinds[s] = this.lk; this.starts[s] = this.la; this.ends[s] = this.lb;
    this.lines[s] = this.ll; this.cols[s] = this.lc;
    this.strs[s] = this.ls; this.toks[s] = null;
  }

  /**
   * Lexes the next token of the text (lex()'s fields); false when it was a define (its end token
   * then in the slots) or a `$name` (its tokens in the slots), true when it is for the caller.
   */
  private read(): boolean {
    this.lex();
    const k = this.lk;
    const atStart = this.atStart;
    this.atStart = k === K_NL || ((k === K_PUNCT || k === K_STRING) && this.lb - this.la === 1 && this.text.charCodeAt(this.la) === 59);
    if (k !== K_WORD) return true;
    const c = this.text.charCodeAt(this.la);
    if (atStart && c !== 36 && (this.lexedIs('define') || this.lexedIs('redefine'))) { this.define(); return false; }
    // Only `$name` words expand.
    if (c === 36) { this.expand(this.lexedTok()); return false; }
    return true;
  }

  private lexedIs(w: string): boolean {
    const a = this.la;
    return this.lb - a === w.length && this.text.startsWith(w, a);
  }

  /** The token lex() read, as an object (defines). */
  private lexedTok(): Token {
    return { v: this.text.slice(this.la, this.lb), kind: KIND_NAMES[this.lk]!, line: this.ll, col: this.lc };
  }

  /** The next token of the text, as an object (defines, tokenize()). */
  lexToken(): Token {
    this.lex();
    return this.lexedTok();
  }

  /** A token from a define's value into the lookahead. */
  private add(t: Token): void {
    const s = this.tail++;
    this.kinds[s] = KIND_NAMES.indexOf(t.kind);
    this.starts[s] = 0; this.ends[s] = 0;
    this.lines[s] = t.line; this.cols[s] = t.col;
    this.strs[s] = t.v; this.toks[s] = null;
  }

  private define(): void {
    const name = this.lexToken(), eq = this.lexToken();
    if (name.kind !== 'word' || eq.v !== '=') throw syntaxError(name.kind !== 'word' ? name : eq, 'syntax error, expected define name = value', this.source);
    const val: Token[] = [];
    let depth = 0;
    for (;;) {
      const t = this.lexToken();
      if (t.kind === 'eof' || (depth === 0 && (t.kind === 'nl' || t.v === ';'))) {
        if (!val.length) throw syntaxError(t, 'syntax error, define without a value', this.source);
        this.defines.set(name.v, val);
        // The statement's end is a token of its own.
        this.atStart = true;
        this.add(t);
        return;
      }
      if (t.v === '{') depth++;
      if (t.v === '}') depth--;
      if (t.kind === 'word' && t.v.startsWith('$')) val.push(...this.expanded(t));
      else val.push(t);
    }
  }

  /** `$name`'s tokens into the lookahead. */
  private expand(t: Token): void {
    for (const x of this.expanded(t)) this.add(x);
  }

  private expanded(t: Token): Token[] {
    const v = this.defines.get(t.v.slice(1));
    if (!v) throw syntaxError(t, `unknown identifier '${t.v.slice(1)}'`, this.source);
    return v.map((x) => ({ ...x, line: t.line, col: t.col }));
  }

  /** Reads the next token of the text into the l* fields (an eof token at its end, again and again). */
  private lex(): void {
    const text = this.text, n = text.length;
    let i = this.i;
    this.ls = null;
    // Character codes, not one-character strings: a 20k-service text has ~16M characters.
    for (;;) {
      if (i >= n) { this.i = i; this.put(K_EOF, i, i, i); this.ls = ''; return; }
      const c = text.charCodeAt(i);
      if (c === 10) {
        this.put(K_NL, i, i, i);
        this.ls = '\n';
        this.i = i + 1; this.line++; this.lineStart = i + 1;
        return;
      }
      if (c === 32 || c === 9 || c === 13) { i++; continue; }
      if (c === 92 && text.charCodeAt(i + 1) === 10) { i += 2; this.line++; this.lineStart = i; continue; }
      if (c === 35) {
        const e = text.indexOf('\n', i);
        i = e < 0 ? n : e;
        continue;
      }
      if (c === 34) {
        const j = text.indexOf('"', i + 1);
        const nl = text.indexOf('\n', i + 1);
        if (j < 0 || (nl >= 0 && nl < j)) throw syntaxError({ v: '"', kind: 'punct', line: this.line, col: i - this.lineStart + 1 }, 'syntax error, unterminated string', this.source);
        this.put(K_STRING, i, i + 1, j);
        this.i = j + 1;
        return;
      }
      if (c === 123 || c === 125 || c === 59 || c === 44) {
        this.put(K_PUNCT, i, i, i + 1);
        this.ls = PUNCT_CHARS[c === 123 ? 0 : c === 125 ? 1 : c === 59 ? 2 : 3]!;
        this.i = i + 1;
        return;
      }
      let j = i + 1;
      for (let c2; j < n && ((c2 = text.charCodeAt(j)) >= 128 || WORD_CHAR[c2] === 1); ) j++;
      this.put(K_WORD, i, i, j);
      this.i = j;
      return;
    }
  }

  /** The lexed token: kind k at offset `at` (its column), its string text[a, b). */
  private put(k: number, at: number, a: number, b: number): void {
    this.lk = k; this.la = a; this.lb = b;
    this.ll = this.line; this.lc = at - this.lineStart + 1;
  }
}

/** Splits text into words, quoted strings, punctuation and newlines; `#` starts a comment. */
export function tokenize(text: string, source = '<text>'): Token[] {
  const lx = new Lexer(text, source), out: Token[] = [];
  for (;;) {
    const t = lx.lexToken();
    out.push(t);
    if (t.kind === 'eof') return out;
  }
}


/** A decimal or 0x number (decimal digits checked by code: most values are ports and addresses). */
function isNumber(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  if (n > 2 && s.charCodeAt(0) === 48 && (s.charCodeAt(1) | 32) === 120) return /^0x[0-9a-f]+$/i.test(s);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
const isAddr = (s: string) => /^\d+\.\d+\.\d+\.\d+$/.test(s) || (s.includes(':') && /^[0-9a-f:.]+$/i.test(s));

/**
 * Parses nft's text into apply()'s commands.
 * @example parseScript('add table ip nat\n').commands // [{ add: { table: { family: 'ip', name: 'nat' } } }]
 */
export function parseScript(text: string, source = '<text>'): ParsedScript {
  const c = new Collector();
  parseInto(text, source, c);
  return { commands: c.commands, lines: c.lines };
}

/**
 * Parses nft's text and hands each command to `sink` as soon as it is read (see CommandSink).
 * @example parseInto('add table ip nat\n', '<text>', sink)
 */
export function parseInto(text: string, source: string, sink: CommandSink): void {
  if (typeof text !== 'string') throw new InvalidArgumentError('nft.restore: text must be a string', { subsystem: 'nft', op: 'nft.restore', argument: 'text' });
  const lx = new Lexer(text, source);
  // One object for each header field, meta key and verdict without a target the text names,
  // shared by every rule that names it (nothing downstream changes commands): a big ruleset has
  // millions of them, and parseScript() keeps each one made until the batch is encoded.
  // By kind, then name (two lookups, no key string made per use).
  const sharedJson = new Map<string, Map<string, Statement>>();
  /** `kind` a protocol (b: its field), 'meta' (b: the key), accept/drop/return/continue (b: ''). */
  const shared = (a: string, b: string): Statement => {
    let m = sharedJson.get(a);
    if (!m) sharedJson.set(a, m = new Map());
    let e = m.get(b);
    if (!e) {
      e = a === 'meta' ? { meta: { key: b } }
        : a === 'accept' || a === 'drop' || a === 'return' || a === 'continue' ? { [a]: null } : { payload: { protocol: a, field: b } };
      m.set(b, e);
    }
    return e;
  };
  const peek = (k = 0) => lx.tok(k);
  // Lists being read (a rule's statements, a concatenation's parts) grow here, each from its own
  // base (nested ones above it), and leave as arrays of their exact length: an array grown by
  // push() has room for 17, and a named set's 20k concatenated keys live until its block ends.
  const stack: unknown[] = [];
  /** The stack's top (its length stays; slots above sp are stale). */
  let sp = 0;
  const push = (x: unknown): void => { stack[sp++] = x; };
  /** The items from base up as an array of their length (literals for the usual few); pops them. */
  const popFrom = (base: number): unknown[] => {
    const n = sp - base;
    const a = n === 1 ? [stack[base]] : n === 2 ? [stack[base], stack[base + 1]] : n === 3 ? [stack[base], stack[base + 1], stack[base + 2]] : stack.slice(base, sp);
    // Nothing kept alive from one list to the next.
    for (let i = base; i < sp; i++) stack[i] = undefined;
    sp = base;
    return a;
  };
  /** The word of `table` (byFirst()) the current token is, compared in place (no slice, no hash of it); undefined if none. */
  const wordIn = (table: Array<string[] | undefined>): string | undefined => {
    const c = table[lx.first()];
    if (c !== undefined) for (let i = 0; i < c.length; i++) if (lx.is(c[i]!)) return c[i];
    return undefined;
  };
  // The fields named after each protocol (and meta), as [field, shared statement] pairs compared
  // in place: the usual few are found without slicing the word or hashing it.
  const fieldLists = new Map<string, Array<string | Statement>>();
  /** shared(a, the next word) (`what`: what word() expects); steps over the word. */
  const sharedNext = (a: string, what: string): Statement => {
    const k = lx.kind();
    if (k === K_WORD || k === K_STRING) {
      let list = fieldLists.get(a);
      if (!list) fieldLists.set(a, list = []);
      for (let i = 0; i < list.length; i += 2) if (lx.is(list[i] as string)) { lx.skip(); return list[i + 1] as Statement; }
      const b = lx.take(), e = shared(a, b);
      if (list.length < 32) list.push(b, e);
      return e;
    }
    return shared(a, word(what));
  };
  const next = () => lx.next();
  const fail = (t: Token, what: string): never => { throw syntaxError(t, what, source); };
  const unexpected = (t: Token, wanted?: string): never =>
    fail(t, `syntax error, unexpected ${t.kind === 'nl' ? 'newline' : t.kind === 'eof' ? 'end of file' : t.kind === 'string' ? 'quoted string' : t.v}${wanted ? `, expecting ${wanted}` : ''}`);
  const refuse = (t: Token, what: string): never => {
    throw new UnsupportedError(`${source}:${t.line}:${t.col}: ${what} is not supported by nlkit's nft text parser`, { subsystem: 'nft', op: 'nft.restore', detail: what });
  };
  const expect = (v: string): void => { if (lx.kind() !== K_STRING && lx.is(v)) lx.skip(); else unexpected(lx.tok(), `'${v}'`); };
  const word = (what: string): string => {
    const k = lx.kind();
    if (k === K_WORD || k === K_STRING) return lx.take();
    return unexpected(lx.tok(), what);
  };
  const endOfStatement = (t: Token) => t.kind === 'nl' || t.kind === 'eof' || t.v === ';' || t.v === '}';
  /** endOfStatement() of the current token, read in place. */
  const atEndOfStatement = (): boolean => { const k = lx.kind(); return k === K_NL || k === K_EOF || lx.is(';') || lx.is('}'); };
  const skipSeparators = () => { for (let k = lx.kind(); k === K_NL || (k === K_PUNCT && lx.is(';')); k = lx.kind()) lx.skip(); };
  const emit = (cmd: Command, line: number) => sink.command(cmd, line);
  const familyOpt = (): string => (lx.kind() === K_WORD && FAMILIES.includes(lx.v()) && lx.kind(1) !== K_NL && lx.kind(1) !== K_EOF && !lx.is('{', 1) ? lx.take() : 'ip');

  // ---- values and expressions ----
  type Kind = 'mark' | 'string' | 'flags' | 'plain';
  function kindOf(e: Statement): Kind {
    if ('meta' in e) { const k = (e.meta as { key: string }).key; return k === 'mark' ? 'mark' : k === 'iifname' || k === 'oifname' ? 'string' : 'plain'; }
    if ('ct' in e) { const k = (e.ct as { key: string }).key; return k === 'mark' ? 'mark' : k === 'state' || k === 'status' ? 'flags' : 'plain'; }
    if ('payload' in e) { const p = e.payload as { protocol?: string; field?: string }; return p.protocol === 'tcp' && p.field === 'flags' ? 'flags' : 'plain'; }
    // The parser's binary operations have one key (no for-in per expression).
    const bin = (e['&'] ?? e['|'] ?? e['^']) as Statement[] | undefined;
    return bin ? kindOf(bin[0]!) : 'plain';
  }

  /** The current token as a value (a string, or wordValue() of a word); steps over it. Decimals are read in place. */
  function scalarNext(): unknown {
    const k = lx.kind();
    if (k === K_STRING) return lx.take();
    if (k !== K_WORD) return unexpected(lx.tok(), 'a value');
    const n = lx.decimal();
    if (n >= 0) { lx.skip(); return n; }
    return wordValue(lx.take());
  }

  /** A word's value: a set reference, number, prefix, range or the word itself. */
  function wordValue(s: string): unknown {
    const n = s.length;
    // Most words (addresses, names, decimals) have neither '/' nor '-' nor 0x: one pass over them says which.
    if (n > 0 && !(n > 2 && s.charCodeAt(0) === 48 && (s.charCodeAt(1) | 32) === 120)) {
      let digits = true, j = 0;
      for (; j < n; j++) {
        const c = s.charCodeAt(j);
        if (c === 47 || c === 45) break;
        if (c < 48 || c > 57) digits = false;
      }
      if (j === n) return digits ? Number(s) : s;
    }
    if (s.startsWith('@')) return s;
    if (isNumber(s)) return Number(s);
    const slash = s.lastIndexOf('/');
    if (slash > 0 && /^\d+$/.test(s.slice(slash + 1)) && isAddr(s.slice(0, slash))) return { prefix: { addr: s.slice(0, slash), len: Number(s.slice(slash + 1)) } };
    // A number's prefix: nft lists mark ranges in concatenated interval sets so (`0x00000020/28`).
    if (slash > 0 && /^\d+$/.test(s.slice(slash + 1)) && isNumber(s.slice(0, slash))) return { prefix: { addr: Number(s.slice(0, slash)), len: Number(s.slice(slash + 1)) } };
    const dash = s.indexOf('-');
    if (dash > 0) {
      const a = s.slice(0, dash), b = s.slice(dash + 1);
      if ((isNumber(a) && isNumber(b)) || (isAddr(a) && isAddr(b))) return { range: [isNumber(a) ? Number(a) : a, isNumber(b) ? Number(b) : b] };
    }
    return s;
  }

  /** One value: a scalar, a concatenation (`a . b`), a flag list (`a,b`) or an anonymous set. */
  function value(kind: Kind, inSet = false): unknown {
    if (lx.isPunct('{')) return { set: setElements(kind, false) };
    const first = scalarNext();
    if (lx.isWord('.')) {
      const base = sp;
      push(first);
      while (lx.isWord('.')) { lx.skip(); push(scalarNext()); }
      return { concat: popFrom(base) };
    }
    if (!inSet && kind === 'flags' && lx.is(',')) {
      const list = [first];
      while (lx.is(',')) { lx.skip(); list.push(scalarNext()); }
      return list;
    }
    return first;
  }

  /** An element's `timeout T`, `expires T`, `comment "c"`, `counter [packets N bytes N]`, in any order. */
  function elementOptions(): Record<string, unknown> | undefined {
    let o: Record<string, unknown> | undefined;
    for (;;) {
      if (lx.kind() !== K_WORD) return o;
      if (lx.is('comment')) {
        lx.skip();
        if (peek().kind !== 'string' && peek().kind !== 'word') unexpected(peek(), 'quoted string');
        (o ??= {}).comment = next().v;
      } else if (lx.is('timeout') || lx.is('expires')) {
        const key = lx.take();
        const d = next();
        const ms = durationMs(d.v);
        if (d.kind !== 'word' || ms === undefined) unexpected(d, 'a time like 3h or 1d2h3m4s');
        (o ??= {})[key] = ms! / 1000;
      } else if (lx.is('counter')) {
        lx.skip();
        const c: Record<string, number> = {};
        for (const k of ['packets', 'bytes']) {
          if (peek().v !== k) break;
          next();
          const n = next();
          if (n.kind !== 'word' || !/^\d+$/.test(n.v)) unexpected(n, 'a number');
          c[k] = Number(n.v);
        }
        (o ??= {}).counter = Object.keys(c).length ? c : null;
      } else return o;
    }
  }

  /** `{ e [comment "c"] [: verdict], ... }` */
  function setElements(kind: Kind, named: boolean): unknown[] {
    expect('{');
    const out: unknown[] = [];
    for (;;) {
      while (lx.kind() === K_NL) lx.skip();
      if (lx.isPunct('}')) { lx.skip(); break; }
      let el: unknown = value(kind, true);
      // Element options start with a word (most elements have none: no object for them).
      if (lx.kind() === K_WORD && !lx.is(':')) {
        const opts = elementOptions();
        if (opts) el = { elem: { val: el, ...opts } };
      }
      if (lx.isWord(':')) {
        lx.skip();
        // A verdict map's verdict, or a data map's value (`10.0.0.1 : 10.1.0.1 . 8080`).
        el = [el, atVerdict() ? verdictNext() : value('plain', true)];
      }
      out.push(el);
      while (lx.kind() === K_NL) lx.skip();
      if (lx.is(',')) { lx.skip(); continue; }
      if (lx.isPunct('}')) { lx.skip(); break; }
      unexpected(lx.tok(), "',' or '}'");
    }
    void named;
    return out;
  }

  function primary(): Statement {
    // The constant of EXPRESSION_STARTS when it is one (shared() hashes it without a slice's cost).
    const v = (lx.kind() === K_WORD ? wordIn(EXPRESSION_BY_FIRST) : undefined) ?? lx.v();
    switch (v) {
      case 'ip': case 'ip6': case 'tcp': case 'udp': case 'th': case 'icmp': case 'icmpv6': case 'sctp': case 'ether': case 'vlan':
        lx.skip();
        // `tcp option maxseg size` (stmt-exthdr.ts).
        if (v === 'tcp' && lx.is('option') && EXT_EXPR_PARSERS['tcp option']) { lx.skip(); return EXT_EXPR_PARSERS['tcp option'](textCtx('')); }
        return sharedNext(v, 'a header field');
      case 'meta': lx.skip(); return sharedNext('meta', 'a meta key');
      case 'ct': {
        lx.skip();
        // `ct original|reply [ip|ip6] saddr|daddr|proto-src|proto-dst`
        if (!lx.is('original') && !lx.is('reply')) return { ct: { key: word('a ct key') } };
        const dir = lx.take();
        let key = word('a ct key');
        if (key === 'ip' || key === 'ip6') key = `${key} ${word('saddr or daddr')}`;
        return { ct: { key, dir } };
      }
      case 'fib': {
        lx.skip();
        const flags: string[] = [word('saddr, daddr, mark, iif or oif')];
        while (lx.is('.')) { lx.skip(); flags.push(word('a fib flag')); }
        return { fib: { result: word('a fib result'), flags } };
      }
      case 'numgen': {
        lx.skip();
        // The constant for the usual word (no slice per service chain).
        const mode = lx.isWord('random') ? (lx.skip(), 'random') : word('random or inc');
        expect('mod');
        const mod = scalarNext();
        let offset: unknown = 0;
        if (lx.is('offset')) { lx.skip(); offset = scalarNext(); }
        return { numgen: { mode, mod, offset } };
      }
      default: {
        const t = next();
        if (RAW_PAYLOAD.test(t.v)) {
          // The tokens of `@th,96,24`: @th , 96 , 24.
          let w = t.v;
          for (let k = 0; k < 2 && peek().v === ','; k++) { next(); w += `,${next().v}`; }
          return parseRawWord(w) ?? fail(t, `a raw payload expression (@ll|nh|th|ih,offset,length in bits), got ${w}`);
        }
        if (UNQUALIFIED_META.includes(t.v)) return shared('meta', t.v);
        if (EXT_EXPR_PARSERS[t.v] && t.kind === 'word') return EXT_EXPR_PARSERS[t.v]!(textCtx(''));
        return unexpected(t);
      }
    }
  }

  /** An expression: primaries joined by `.`, then binary operations with values. */
  // nft 1.0.6 lists a sub-byte field in a concatenation as `ip6 dscp >> 6 . tcp dport`, and its
  // parser reads that back as a second shift: shifts are refused rather than taken either way.
  // (Declared once: a closure made per expression cost a name definition each under tsx.)
  function noShift(): void { if (lx.kind() === K_WORD && (lx.is('>>') || lx.is('<<'))) refuse(peek(), `a shift ("${peek().v}") of an expression`); }
  // After every expression: one look at the first character rules out most words.
  const isBinop = (): boolean => {
    if (lx.kind() !== K_WORD) return false;
    switch (lx.first()) {
      case 38: return lx.is('&');
      case 124: return lx.is('|');
      case 94: return lx.is('^');
      case 97: return lx.is('and');
      case 111: return lx.is('or');
      case 120: return lx.is('xor');
      default: return false;
    }
  };

  function expression(): Statement {
    let e = primary();
    noShift();
    if (lx.isWord('.')) {
      const base = sp;
      push(e);
      while (lx.isWord('.')) { lx.skip(); push(primary()); noShift(); }
      e = { concat: popFrom(base) as Statement[] };
    }
    if (!isBinop() && !lx.isWord('map')) return e;
    const ops: string[] = [], vals: unknown[] = [];
    let opTok: Token | undefined;
    while (isBinop()) {
      opTok = next();
      ops.push(BINOPS[opTok.v]!);
      let v = value(kindOf(e));
      // `tcp flags & (syn|ack) == syn`: a parenthesised flag list.
      if (kindOf(e) === 'flags' && typeof v === 'string' && /^\([a-z|]+\)$/.test(v)) v = v.slice(1, -1).split('|');
      vals.push(v);
    }
    if (ops.length) {
      // As nft's grammar (C's precedence: & before ^ before |): `mark | 0x10 ^ 0x1` is
      // mark | (0x10 ^ 0x1), whose constants nft's evaluation folds (mark | 0x11).
      let i = 0;
      const operand = (): unknown => vals[i++];
      const climb = (lhs: unknown, min: number, constant: boolean): unknown => {
        while (i < ops.length && PRECEDENCE[ops[i]!]! >= min) {
          const op = ops[i]!;
          let rhs = operand();
          while (i < ops.length && PRECEDENCE[ops[i]!]! > PRECEDENCE[op]!) rhs = climb(rhs, PRECEDENCE[op]! + 1, true);
          if (constant) {
            const x = constantNumber(lhs), y = constantNumber(rhs);
            if (x === undefined || y === undefined) refuse(opTok!, 'a binary operation between two values that are not numbers');
            lhs = op === '&' ? (x! & y!) >>> 0 : op === '^' ? (x! ^ y!) >>> 0 : (x! | y!) >>> 0;
          } else lhs = { [op]: [lhs, rhs] };
        }
        return lhs;
      };
      e = climb(e, 0, false) as Statement;
    }
    // `key map @m` / `key map { k : v }`: a data map's value (meta mark set ..., dnat to ...).
    if (lx.isWord('map')) {
      lx.skip();
      const data = lx.isPunct('{') ? { set: setElements(kindOf(e), false) } : scalarNext();
      e = { map: { key: e, data } };
    }
    return e;
  }

  const isExpressionStart = (t: Token) => t.kind === 'word' && (EXPRESSION_STARTS.has(t.v) || (t.v.charCodeAt(0) === 64 && RAW_PAYLOAD.test(t.v)));
  /** isExpressionStart() of the current token, without making its object. */
  const atExpressionStart = (): boolean => {
    if (lx.kind() !== K_WORD) return false;
    if (lx.first() === 64) return RAW_PAYLOAD.test(lx.v());
    return wordIn(EXPRESSION_BY_FIRST) !== undefined;
  };
  /** `counter`, `quota`, `limit`, `ct helper` (consumed) as an object kind; undefined for other words. */
  const objectKind = (t: Token): string | undefined => {
    if (t.kind !== 'word') return undefined;
    if (t.v === 'counter' || t.v === 'quota' || t.v === 'limit') return t.v;
    if (t.v === 'ct' && peek().v === 'helper') { next(); return 'ct helper'; }
    if (t.v === 'ct' && peek().v === 'timeout') { next(); return 'ct timeout'; }
    if (t.v === 'ct' && peek().v === 'expectation') { next(); return 'ct expectation'; }
    if (t.v === 'synproxy') return 'synproxy';
    return undefined;
  };
  /** The cursor as extensions (ext.ts) see it. */
  const tv = (k = 0): string => lx.v(k);
  const tIsWord = (w: string, k = 0): boolean => lx.isWord(w, k);
  const tSkip = (): void => lx.skip();
  // One per family, made when first asked for (an extension's statement per rule asks each time).
  const textCtxs = new Map<string, TextCtx>();
  const textCtx = (family: string): TextCtx => {
    let c = textCtxs.get(family);
    if (!c) textCtxs.set(family, c = { family, peek, next, v: tv, isWord: tIsWord, skip: tSkip, word, unexpected, fail, expression, endOfStatement });
    return c;
  };

  /** The operator of the current token when it is a relation's word (RELATIONS), compared in place. */
  const relation = (): string | undefined => {
    if (lx.kind() !== K_WORD || lx.len() > 2) return undefined;
    switch (lx.first()) {
      case 61: case 33: case 60: case 62: case 101: case 110: case 108: case 103: return RELATIONS.get(lx.v());  // = ! < > e n l g
      default: return undefined;
    }
  };

  /** Whether the current token is a verdict's word (VERDICTS), compared in place. */
  const atVerdict = (): boolean => lx.kind() === K_WORD && (lx.is('goto') || lx.is('jump') || lx.is('accept') || lx.is('drop') || lx.is('return') || lx.is('continue'));

  // A jump's target as the last jump's string when it names the same chain (kube-proxy jumps to
  // mark-for-masquerade from every endpoint): one string, not a slice per rule.
  let lastJump: string | undefined;
  const jumpTarget = (): string => {
    const k = lx.kind();
    if (lastJump !== undefined && (k === K_WORD || k === K_STRING) && lx.is(lastJump)) { lx.skip(); return lastJump; }
    return (lastJump = word('a chain name'));
  };

  /** The current token as a verdict; steps over it (and the target of jump/goto). */
  function verdictNext(): Statement {
    if (lx.kind() !== K_WORD) return unexpected(lx.tok(), 'a verdict');
    const v = lx.v();
    // Constants to shared() (the token's string would be hashed each time).
    if (v === 'accept') { lx.skip(); return shared('accept', ''); }
    if (v === 'drop') { lx.skip(); return shared('drop', ''); }
    if (v === 'return') { lx.skip(); return shared('return', ''); }
    if (v === 'continue') { lx.skip(); return shared('continue', ''); }
    // Not shared: most targets are named once (a cache of them cost more than it saved).
    // A literal per verdict: a computed key makes each object the slow way.
    if (v === 'jump') { lx.skip(); return { jump: { target: jumpTarget() } }; }
    if (v === 'goto') { lx.skip(); return { goto: { target: word('a chain name') } }; }
    return unexpected(lx.tok(), 'a verdict');
  }

  /** A rule's statements up to the end of the line, `;` or `}`; its comment. */
  /** The comment of the rule ruleBody() read last (no object per rule to return it in). */
  let ruleComment: string | undefined;
  function ruleBody(family: string): Statement[] {
    const base = sp;
    let comment: string | undefined;
    while (!atEndOfStatement()) {
      if (lx.kind() !== K_WORD) unexpected(lx.tok());
      if (lx.is('comment')) {
        lx.skip();
        // nft's grammar takes a bare word as well (Docker writes `comment ICMP`).
        if (lx.kind() !== K_STRING && lx.kind() !== K_WORD) unexpected(lx.tok(), 'quoted string');
        comment = lx.take();
        continue;
      }
      if (atExpressionStart()) {
        const left = expression();
        if (lx.is('set')) {
          lx.skip();
          const v = atExpressionStart() ? expression() : value(kindOf(left));
          // `ct helper set "name"` references a ct helper object.
          const ck = (left.ct as { key?: string } | undefined)?.key;
          push(ck === 'helper' ? { 'ct helper': v } : ck === 'timeout' ? { 'ct timeout': v } : ck === 'expectation' ? { 'ct expectation': v } : { mangle: { key: left, value: v } });
          continue;
        }
        if (lx.is('vmap')) {
          lx.skip();
          const data = lx.isPunct('{') ? { set: setElements(kindOf(left), false) } : scalarNext();
          push({ vmap: { key: left, data } });
          continue;
        }
        // A relation is a word of one or two characters (others are not sliced for the lookup).
        let op = relation();
        if (op !== undefined) lx.skip();
        const kind = kindOf(left);
        if (atEndOfStatement()) unexpected(lx.tok(), 'a value');
        let right = value(kind);
        // `fib ... oif missing|exists`: nft's JSON has a boolean.
        if ((right === 'missing' || right === 'exists') && 'fib' in left) right = right === 'exists';
        // `meta secpath missing` / `meta ipsec exists`: booleans too.
        if (right === 'missing' || right === 'exists') {
          const mk = (left.meta as { key?: string } | undefined)?.key;
          if (mk === 'ipsec' || mk === 'secpath') right = right === 'exists';
        }
        // `tcp flags syn / syn,ack`: the flags under a mask (nft's `&` on the left).
        if (kind === 'flags' && lx.isWord('/')) {
          lx.skip();
          push({ match: { op: op ?? '==', left: { '&': [left, value(kind)] }, right } });
          continue;
        }
        // A flag list is a test of flags (`in`); a set of flags is a lookup (`==`).
        op ??= kind === 'flags' && !(typeof right === 'object' && right !== null && 'set' in right) && !(typeof right === 'string' && right.startsWith('@')) && !('&' in left) ? 'in' : '==';
        push({ match: { op, left, right } });
        continue;
      }
      switch (lx.v()) {
        case 'accept': case 'drop': case 'return': case 'continue': case 'jump': case 'goto':
          push(verdictNext()); break;
        case 'synproxy': {
          const t = next();
          // `synproxy name "sp"` (a synproxy object); the statement with its own options is refused.
          if (peek().v !== 'name') refuse(t, 'the statement "synproxy" with its own options (only synproxy name)');
          next(); push(namedRef('synproxy', textCtx(family))); break;
        }
        case 'counter': {
          lx.skip();
          if (lx.is('name')) { lx.skip(); push(namedRef('counter', textCtx(family))); break; }
          let packets = 0, bytes = 0;
          if (lx.is('packets')) { lx.skip(); packets = Number(scalarNext()); }
          if (lx.is('bytes')) { lx.skip(); bytes = Number(scalarNext()); }
          push({ counter: { packets, bytes } });
          break;
        }
        case 'reject': {
          lx.skip();
          if (lx.is('with')) {
            lx.skip();
            const how = word('icmp, icmpv6, icmpx or tcp');
            if (how === 'tcp') { expect('reset'); push({ reject: { type: 'tcp reset' } }); break; }
            if (peek().v === 'type') next();
            push({ reject: { type: how, expr: word('an icmp code') } });
            break;
          }
          push({ reject: { type: REJECT_TYPE[family] ?? 'icmpx', expr: 'port-unreachable' } });
          break;
        }
        default: {
          const ext = wordIn(EXT_BY_FIRST);
          if (ext !== undefined) { lx.skip(); push(EXT_PARSERS[ext]!(textCtx(family))); break; }
          const t = next();
          if (['queue', 'meter', 'tproxy', 'dup', 'fwd', 'flow'].includes(t.v)) refuse(t, `the statement "${t.v}"`);
          if (RAW_PAYLOAD.test(t.v)) refuse(t, 'raw payload expressions (@base,offset,length)');
          unexpected(t);
        }
      }
    }
    if (sp === base) unexpected(lx.tok(), 'a statement');
    ruleComment = comment;
    return popFrom(base) as Statement[];
  }

  // ---- declarations ----
  const blockItemEnd = () => {
    if (lx.kind() === K_NL || lx.isPunct(';')) { lx.skip(); return; }
    if (!lx.isPunct('}')) unexpected(lx.tok(), "newline or ';'");
  };

  /** A chain's block; `inTable`: in a table block, where it holds rules (they go to the sink as read). */
  function chainBlock(c: Record<string, unknown>, family: string, inTable: boolean): void {
    // Read once: the rules below name them, and nothing here changes them.
    const table = c.table as string, chain = c.name as string;
    expect('{');
    for (;;) {
      skipSeparators();
      if (lx.isPunct('}')) { lx.skip(); return; }
      // A rule (most items): its first word is no chain property.
      if (lx.kind() === K_WORD && inTable && !lx.is('type') && !lx.is('policy') && !lx.is('comment') && !lx.is('flags')) {
        const line = lx.lineOf();
        const expr = ruleBody(family), comment = ruleComment;
        // The keys in the order a spread of ruleBody() gave them, without the spread.
        sink.blockItem(BlockPart.Rule, { add: { rule: comment === undefined ? { family, table, chain, expr } : { family, table, chain, comment, expr } } }, line);
        // A rule ends with a newline or ';', never directly with the chain's '}'.
        if (lx.isPunct('}')) unexpected(lx.tok(), 'newline or semicolon');
        blockItemEnd();
        continue;
      }
      const t = peek();
      if (t.v === 'type' && t.kind === 'word') {
        next();
        c.type = word('filter, nat or route');
        expect('hook');
        c.hook = word('a hook');
        if (peek().v === 'devices' && peek().kind === 'word') {
          next();
          expect('=');
          expect('{');
          const devs: string[] = [];
          for (;;) {
            const d = next();
            if (d.kind !== 'word' && d.kind !== 'string') unexpected(d, 'a device name');
            devs.push(d.v);
            if (peek().v === ',') { next(); continue; }
            expect('}');
            break;
          }
          c.dev = devs;
        }
        if (peek().v === 'device' && peek().kind === 'word') {
          next();
          const d = next();
          if (d.kind !== 'word' && d.kind !== 'string') unexpected(d, 'a device name');
          c.dev = d.v;
        }
        expect('priority');
        const first = next();
        let prio: number | string;
        if (first.kind === 'word' && /^-?\d+$/.test(first.v)) prio = Number(first.v);
        else if (first.kind === 'word' && /^[a-z]+$/.test(first.v)) {
          prio = first.v;
          if ((peek().v === '+' || peek().v === '-') && peek().kind === 'word') { const sign = next().v; prio = `${prio} ${sign} ${word('a number')}`; }
        } else prio = unexpected(first, 'a priority');
        c.prio = prio;
        blockItemEnd();
        continue;
      }
      if (t.v === 'policy' && t.kind === 'word') { next(); c.policy = word('accept or drop'); blockItemEnd(); continue; }
      if (t.v === 'comment' && t.kind === 'word') { next(); if (peek().kind !== 'string' && peek().kind !== 'word') unexpected(peek(), 'quoted string'); c.comment = next().v; blockItemEnd(); continue; }
      if (t.v === 'flags') refuse(t, `chain ${t.v}`);
      if (!inTable) unexpected(t);
      const line = t.line;
      const expr = ruleBody(family), comment = ruleComment;
      // The keys in the order a spread of ruleBody() gave them, without the spread.
      sink.blockItem(BlockPart.Rule, { add: { rule: comment === undefined ? { family, table, chain, expr } : { family, table, chain, comment, expr } } }, line);
      // A rule ends with a newline or ';', never directly with the chain's '}'.
      if (peek().v === '}' && peek().kind === 'punct') unexpected(peek(), 'newline or semicolon');
      blockItemEnd();
    }
  }

  function setBlock(s: Record<string, unknown>, kind: 'set' | 'map'): void {
    expect('{');
    for (;;) {
      skipSeparators();
      const t = peek();
      if (t.v === '}' && t.kind === 'punct') { next(); return; }
      next();
      switch (t.v) {
        case 'type': {
          const types = [word('a data type')];
          while (peek().v === '.') { next(); types.push(word('a data type')); }
          s.type = types.length === 1 ? types[0] : types;
          if (kind === 'map') {
            expect(':');
            const data = [word('a data type')];
            while (peek().v === '.') { next(); data.push(word('a data type')); }
            s.map = data.length === 1 ? data[0] : data;
          }
          break;
        }
        case 'comment': if (peek().kind !== 'string' && peek().kind !== 'word') unexpected(peek(), 'quoted string'); s.comment = next().v; break;
        case 'elements': expect('='); s.elem = setElements('plain', true); break;
        case 'flags': {
          const flags = [word('a set flag')];
          while (peek().v === ',') { next(); flags.push(word('a set flag')); }
          s.flags = flags;
          break;
        }
        case 'timeout': {
          const d = next();
          const ms = durationMs(d.v);
          if (d.kind !== 'word' || ms === undefined) unexpected(d, 'a time like 3h or 1d2h3m4s');
          s.timeout = ms! / 1000;
          break;
        }
        case 'counter': s.stmt = [{ counter: null }]; break;
        case 'typeof': {
          s.type = { typeof: expression() };
          if (kind === 'map') { expect(':'); s.map = isExpressionStart(peek()) ? { typeof: expression() } : word('a data type'); }
          break;
        }
        case 'size': {
          const n = next();
          if (n.kind !== 'word' || !/^\d+$/.test(n.v)) unexpected(n, 'a number');
          s.size = Number(n.v);
          break;
        }
        case 'policy': {
          const v = next();
          if (v.v !== 'performance' && v.v !== 'memory') unexpected(v, 'performance or memory');
          s.policy = v.v;
          break;
        }
        case 'gc-interval': {
          const d = next();
          const ms = durationMs(d.v);
          if (d.kind !== 'word' || ms === undefined) unexpected(d, 'a time like 3h or 1d2h3m4s');
          s['gc-interval'] = ms! / 1000;
          break;
        }
        case 'auto-merge': s['auto-merge'] = true; break;
        default: unexpected(t);
      }
      blockItemEnd();
    }
  }

  function tableBlock(verb: 'add' | 'create', family: string, table: string, line: number): void {
    const tcmd: Record<string, unknown> = { family, name: table };
    expect('{');
    sink.blockBegin();
    // A set without a type is refused where the block ends (as when the block was expanded there).
    let untyped: Record<string, unknown> | undefined;
    for (;;) {
      skipSeparators();
      if (lx.isPunct('}')) { lx.skip(); break; }
      // A chain (most items; `chain` of any kind, as the checks below), read in place.
      if (lx.is('chain')) {
        const line = lx.lineOf();
        lx.skip();
        const c: Record<string, unknown> = { family, table, name: word('a chain name') };
        chainBlock(c, family, true);
        sink.blockItem(BlockPart.Chain, { add: { chain: c } }, line);
        blockItemEnd();
        continue;
      }
      const t = peek();
      next();
      if (t.v === 'comment') { if (peek().kind !== 'string' && peek().kind !== 'word') unexpected(peek(), 'quoted string'); tcmd.comment = next().v; blockItemEnd(); continue; }
      if (t.v === 'chain') {
        const c: Record<string, unknown> = { family, table, name: word('a chain name') };
        chainBlock(c, family, true);
        sink.blockItem(BlockPart.Chain, { add: { chain: c } }, t.line);
        blockItemEnd();
        continue;
      }
      if (t.v === 'set' || t.v === 'map') {
        const s: Record<string, unknown> = { family, table, name: word('a set name') };
        setBlock(s, t.v);
        if (s.type === undefined) untyped ??= s;
        else sink.blockItem(BlockPart.Set, { add: { [t.v]: setObject(s) } }, t.line);
        blockItemEnd();
        continue;
      }
      const ok = objectKind(t);
      if (ok) {
        sink.blockItem(BlockPart.Object, { add: { [ok]: { family, table, name: word('an object name'), ...parseObjectBody(textCtx(family), ok) } } }, t.line);
        blockItemEnd();
        continue;
      }
      if (t.v === 'flags' && t.kind === 'word') {
        // `flags dormant` (nft 1.0.6), `flags owner, persist` (nft 1.0.9's list, firewalld's probe).
        const fl = [word('a table flag')];
        while (peek().v === ',' && peek().kind === 'punct') { next(); fl.push(word('a table flag')); }
        tcmd.flags = fl.length === 1 ? fl[0] : fl;
        blockItemEnd();
        continue;
      }
      if (['flowtable', 'ct', 'secmark', 'synproxy'].includes(t.v)) refuse(t, `"${t.v}" in a table`);
      unexpected(t);
    }
    if (untyped) setObject(untyped);
    sink.blockEnd(verb === 'create' ? { create: { table: tcmd } } : { add: { table: tcmd } }, line);
  }

  const setObject = (s: Record<string, unknown>) => {
    if (s.type === undefined) fail(peek(), `set ${String(s.name)} needs a type`);
    // As nft: a timeout implies the timeout flag (its listing leaves the flag out then).
    if (s.timeout !== undefined && !((s.flags as string[] | undefined) ?? []).includes('timeout')) s.flags = [...((s.flags as string[] | undefined) ?? []), 'timeout'];
    return s;
  };

  // ---- commands ----
  function command(): void {
    skipSeparators();
    // `add rule` (kube-proxy's transactions are mostly these) read in place; the same steps as below.
    if (lx.isWord('add') && lx.isWord('rule', 1)) {
      const line = lx.lineOf();
      lx.skip(); lx.skip();
      const family = familyOpt();
      return ruleCommand('add', family, word('a table name'), line);
    }
    if (lx.isWord('add') && lx.isWord('chain', 1)) {
      const line = lx.lineOf();
      lx.skip(); lx.skip();
      const family = familyOpt(), table = word('a table name');
      const c: Record<string, unknown> = { family, table, name: word('a chain name') };
      if (lx.is('{')) chainBlock(c, family, false);
      emit({ add: { chain: c } }, line);
      return;
    }
    const t = peek();
    if (t.kind === 'eof') return;
    if (t.kind !== 'word') unexpected(t);
    let verb = 'add';
    if (VERBS.includes(t.v)) verb = next().v;
    else if (t.v === 'list' || t.v === 'monitor' || t.v === 'describe' || t.v === 'reset' || t.v === 'rename' || t.v === 'export' || t.v === 'import' || t.v === 'include') refuse(t, `the command "${t.v}"`);
    const o = next();
    if (o.v === 'ruleset' && verb === 'flush') {
      const f = FAMILIES.includes(peek().v) ? next().v : undefined;
      if (f) refuse(o, 'flush ruleset <family>');
      emit({ flush: { ruleset: null } }, t.line);
      return;
    }
    const ok = objectKind(o);
    if (ok) {
      const family = familyOpt();
      const ob: Record<string, unknown> = { family, table: word('a table name'), name: word('an object name') };
      if (verb === 'add' || verb === 'create') Object.assign(ob, parseObjectBody(textCtx(family), ok));
      emit({ [verb]: { [ok]: ob } }, t.line);
      return;
    }
    if (!OBJECTS.includes(o.v) || o.kind !== 'word') {
      if (['flowtable', 'ct', 'secmark', 'synproxy'].includes(o.v)) refuse(o, `the object "${o.v}"`);
      unexpected(o, 'table, chain, rule, set, map or element');
    }
    const family = familyOpt();
    if (o.v === 'table') {
      const name = word('a table name');
      if (peek().v === 'handle') refuse(peek(), 'objects by handle');
      if ((verb === 'add' || verb === 'create') && peek().v === '{') return tableBlock(verb, family, name, t.line);
      emit({ [verb]: { table: { family, name } } }, t.line);
      return;
    }
    const table = word('a table name');
    if (o.v === 'chain') {
      const c: Record<string, unknown> = { family, table, name: word('a chain name') };
      if ((verb === 'add' || verb === 'create') && peek().v === '{') chainBlock(c, family, false);
      emit({ [verb]: { chain: c } }, t.line);
      return;
    }
    if (o.v === 'set' || o.v === 'map') {
      const s: Record<string, unknown> = { family, table, name: word('a set name') };
      if (verb === 'add' || verb === 'create') { setBlock(s, o.v); emit({ [verb]: { [o.v]: setObject(s) } }, t.line); return; }
      emit({ [verb]: { [o.v]: s } }, t.line);
      return;
    }
    if (o.v === 'element') {
      const name = word('a set name');
      emit({ [verb]: { element: { family, table, name, elem: setElements('plain', true) } } }, t.line);
      return;
    }
    ruleCommand(verb, family, table, t.line);
  }

  /** A rule command after its table (`verb rule family table` read); `line`: the command's. */
  function ruleCommand(verb: string, family: string, table: string, line: number): void {
    const chain = word('a chain name');
    const r: Record<string, unknown> = { family, table, chain };
    if (lx.is('handle') || lx.is('position') || lx.is('index')) {
      const k = next();
      const h = next();
      if (!/^\d+$/.test(h.v)) unexpected(h, 'a number');
      if (verb !== 'replace' && verb !== 'delete' && verb !== 'add' && verb !== 'insert') refuse(k, `${verb} rule at a ${k.v}`);
      // add/insert: after/before that rule (`index`: the kernel chain's index-th rule).
      if (k.v === 'index' && (verb === 'add' || verb === 'insert')) r.index = Number(h.v);
      else r.handle = Number(h.v);
    }
    if (verb === 'delete') {
      if (r.handle === undefined) unexpected(peek(), 'handle');
      emit({ delete: { rule: r } }, line);
      return;
    }
    const expr = ruleBody(family);
    if (ruleComment !== undefined) r.comment = ruleComment;
    r.expr = expr;
    emit(verb === 'add' ? { add: { rule: r } } : { [verb]: { rule: r } }, line);
  }

  while (lx.kind() !== K_EOF) {
    command();
    const k = lx.kind();
    if (k === K_EOF) break;
    if (k === K_NL || (k === K_PUNCT && lx.is(';'))) { lx.skip(); continue; }
    unexpected(lx.tok(), "newline or ';'");
  }
}
