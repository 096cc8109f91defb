// The iptables-restore text format, read the way iptables-restore reads it
// (iptables/iptables-restore.c and xshared.c in iptables 1.8.9):
//
//   *table                      starts a table (only the first word counts)
//   :CHAIN POLICY [pkts:bytes]  declares a chain; POLICY is `-` for user-defined chains
//   [pkts:bytes] -A CHAIN ...   a command line, optionally with counters in front
//   COMMIT                      ends the table (exactly "COMMIT" and a newline)
//   # ...                       comment, only in the first column
//
// Two readers share the line walk: `planRestore` finds the tables and what lies between
// `*table` and `COMMIT` (what the native side compiles and applies, line by line), and
// `parseRestore` returns the whole structure with every command tokenized like
// iptables-restore's tokenizer, for callers that want to look at a text.
import { InvalidArgumentError } from '../core/errors.js';
import { checkOpts, checkString } from '../core/args.js';

/** fgets' buffer in iptables-restore: longer lines are not read as one line. */
export const MAX_LINE = 10239;
/** xshared.h MAX_ARGC minus the program name, `-t` and the table that restore adds. */
export const MAX_ARGS = 251;
/** xshared.c's parameter buffer. */
export const MAX_PARAM = 1023;
export const CHAIN_MAX = 28;

export interface PlannedTable {
  name: string;
  /** Line of `*table`. */
  line: number;
  /** First line after `*table`. */
  firstLine: number;
  /** Line of `COMMIT` (for a table cut short by a structural error: the error's line). */
  commitLine: number;
  /** The lines between `*table` and `COMMIT`, each with its newline. */
  body: string;
  /** How many of them are chain lines (`:CHAIN ...`): what the native side reserves room for. */
  chains: number;
}

export interface RestorePlan {
  tables: PlannedTable[];
  /**
   * A problem in the text's structure at a line after everything in `tables`:
   * iptables-restore would have got this far and then failed. Raised when nothing before it fails.
   */
  error?: { line: number; message: string };
}

const PLAN = { op: 'iptables.planRestore', subsystem: 'iptables' as const };

export interface PlanOptions {
  /** Like `iptables-restore -T table`: other tables are skipped unread. */
  table?: string;
}

/** strtok(s, " \t\n"): the whitespace-separated words. */
export function words(s: string): string[] {
  return s.split(/[ \t\n]+/).filter((w) => w.length > 0);
}

/**
 * Splits a restore text into its tables. Only the structure is checked here; chain lines,
 * counters and commands are checked by the native side in line order, so that the first
 * failing line is the one iptables-restore would report.
 */
export function planRestore(text: string, opts: PlanOptions = {}): RestorePlan {
  checkString(PLAN, 'text', text);
  checkOpts(PLAN, 'options', opts, { table: 'string' });
  const tables: PlannedTable[] = [];
  let cur: PlannedTable | undefined;
  let bodyStart = 0;
  let curName = '';
  let lastLine = 0;
  const stop = (line: number, message: string, at: number): RestorePlan => {
    if (cur) tables.push({ ...cur, commitLine: line, body: text.slice(bodyStart, at) });
    return { tables, error: { line, message } };
  };
  // a plain loop (no per-line objects): a 20 MB text has 200k lines, and this runs on every restore
  let start = 0;
  let n = 0;
  // libxtables takes words as C strings: a NUL would cut a word, not the line as
  // iptables-restore does, and so make a different rule. Refused, with where it is.
  const nulAt = text.indexOf('\0');
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    const nl = end !== -1;
    if (!nl) end = text.length;
    n++;
    const lineStart = start;
    start = end + 1;
    lastLine = n;
    if (nulAt !== -1 && nulAt < end) {
      return stop(n, `a NUL character at column ${nulAt - lineStart + 1} (iptables-restore would cut the line there)`, lineStart);
    }
    if (end - lineStart + (nl ? 1 : 0) > MAX_LINE) return stop(n, `the line is longer than iptables-restore reads (${MAX_LINE} characters)`, lineStart);
    if (end === lineStart && nl) continue; // "\n"
    const first = text.charCodeAt(lineStart);
    if (first === 0x23 /* # */) continue;
    const inTable = cur !== undefined;
    if (inTable) {
      // chain lines and commands are the native side's; only COMMIT ends the table
      if (first === 0x3a /* : */) cur!.chains++;
      else if (nl && end - lineStart === 6 && first === 0x43 /* C */ && text.startsWith('COMMIT', lineStart)) {
        tables.push({ ...cur!, commitLine: n, body: text.slice(bodyStart, lineStart) });
        cur = undefined;
      }
      continue;
    }
    if (first === 0x2a /* * */) {
      const name = words(text.slice(lineStart + 1, end))[0];
      if (name === undefined) return stop(n, 'table name invalid', lineStart);
      curName = name.slice(0, 32);
      if (opts.table !== undefined && opts.table !== name) continue;
      cur = { name, line: n, firstLine: n + 1, commitLine: 0, body: '', chains: 0 };
      bodyStart = end + (nl ? 1 : 0);
      continue;
    }
    // Outside any table: iptables-restore fails the line (unless -T skips the table it is in).
    if (opts.table !== undefined && opts.table !== curName) continue;
    return stop(n, 'not inside a table (a "*table" line must come first)', lineStart);
  }
  if (cur) return stop(lastLine + 1, 'COMMIT expected', text.length);
  return { tables };
}

export interface ParsedChain {
  name: string;
  /** `-` for user-defined chains. */
  policy: string;
  counters?: [bigint, bigint];
  line: number;
}

export interface ParsedCommand {
  line: number;
  /** `[pkts:bytes]` in front of the command. */
  counters?: [bigint, bigint];
  /** The command's words, as iptables-restore's tokenizer splits them. */
  args: string[];
  /** 1-based column where each word starts. */
  columns: number[];
}

export interface ParsedTable {
  name: string;
  line: number;
  commitLine: number;
  chains: ParsedChain[];
  commands: ParsedCommand[];
}

/** "[%llu:%llu]" as sscanf reads it. */
export function parseCounterPair(s: string | undefined): [bigint, bigint] | undefined {
  const m = /^\[\s*\+?(\d+):\s*\+?(\d+)\]/.exec(s ?? '');
  if (!m) return undefined;
  const max = (1n << 64n) - 1n;
  const p = BigInt(m[1]!), b = BigInt(m[2]!);
  return [p > max ? max : p, b > max ? max : b];
}

export interface Tokenized {
  args: string[];
  /** 0-based index in the input where each word starts. */
  starts: number[];
}

/**
 * iptables-restore's tokenizer (xshared.c add_param_to_argv): spaces and tabs separate
 * words, double quotes group (a closing quote ends the word), and inside quotes a backslash
 * takes the next character literally.
 */
export function tokenize(s: string, newline = true): Tokenized {
  checkString({ op: 'iptables.tokenize', subsystem: 'iptables' }, 'line', s);
  const args: string[] = [];
  const starts: number[] = [];
  let quote = false, escaped = false, started = false;
  let param = '';
  let start = 0;
  const n = s.length + (newline ? 1 : 0);
  for (let i = 0; i < n; i++) {
    const ch = i < s.length ? s[i]! : '\n';
    if (!started) start = i;
    if (quote) {
      if (escaped) {
        param += ch;
        escaped = false;
        continue;
      } else if (ch === '\\') {
        escaped = true;
        continue;
      } else if (ch === '"') {
        quote = false;
      } else {
        param += ch;
        continue;
      }
    } else if (ch === '"') {
      quote = true;
      started = true;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (param.length === 0) continue;
    } else if (ch !== '"') {
      param += ch;
      started = true;
      continue;
    }
    args.push(param);
    starts.push(start);
    param = '';
    started = false;
  }
  if (param.length) {
    args.push(param);
    starts.push(start);
  }
  return { args, starts };
}

/**
 * The whole structure of a restore text: tables, chain declarations, and commands split
 * into words. Structural errors throw InvalidArgumentError with the line; the commands
 * themselves are not checked here (that needs libxtables).
 */
export function parseRestore(text: string, opts: PlanOptions = {}): ParsedTable[] {
  checkString({ op: 'iptables.parseRestore', subsystem: 'iptables' }, 'text', text);
  const plan = planRestore(text, opts);
  if (plan.error) {
    throw new InvalidArgumentError(`iptables.parseRestore: line ${plan.error.line}: ${plan.error.message}`, {
      op: 'iptables.parseRestore', subsystem: 'iptables', line: plan.error.line,
    });
  }
  return plan.tables.map((t) => {
    const chains: ParsedChain[] = [];
    const commands: ParsedCommand[] = [];
    let n = t.firstLine;
    const body = t.body;
    for (let start = 0; start < body.length; n++) {
      let nl = body.indexOf('\n', start);
      if (nl === -1) nl = body.length;
      const line = body.slice(start, nl);
      start = nl + 1;
      if (line.length === 0 || line[0] === '#') continue;
      const fail = (message: string, column?: number, argument?: string): never => {
        throw new InvalidArgumentError(`iptables.parseRestore: line ${n}: ${message}`, {
          op: 'iptables.parseRestore', subsystem: 'iptables', line: n,
          ...(column !== undefined ? { column } : {}), ...(argument !== undefined ? { argument } : {}),
        });
      };
      if (line[0] === ':') {
        const w = words(line.slice(1));
        if (!w[0]) fail('chain name invalid');
        const name = w[0]!;
        if (name.length > CHAIN_MAX) fail(`Invalid chain name \`${name}' (${CHAIN_MAX} chars max)`, line.indexOf(name) + 1, name);
        if (!w[1]) fail('policy invalid');
        const counters = parseCounterPair(w[2]);
        chains.push({ name, policy: w[1]!, line: n, ...(counters ? { counters } : {}) });
        continue;
      }
      let rest = line;
      let offset = 0;
      let counters: [bigint, bigint] | undefined;
      if (line[0] === '[') {
        const close = line.indexOf(']');
        if (close === -1) fail(`Bad line ${n}: need ]`);
        const inner = line.slice(1, close + 1);
        if (!inner.includes(':')) fail(`Bad line ${n}: need :`);
        counters = parseCounterPair(line.slice(0, close + 1));
        rest = line.slice(close + 1);
        offset = close + 1;
      }
      const tok = tokenize(rest);
      commands.push({ line: n, args: tok.args, columns: tok.starts.map((s) => s + offset + 1), ...(counters ? { counters } : {}) });
    }
    return { name: t.name, line: t.line, commitLine: t.commitLine, chains, commands };
  });
}

/** Quotes a word so that iptables-restore's tokenizer reads it back unchanged. */
export function quoteArg(arg: string): string {
  checkString({ op: 'iptables.quoteArg', subsystem: 'iptables' }, 'arg', arg);
  if (arg.length > 0 && !/[\s"\\]/.test(arg)) return arg;
  return `"${arg.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The 1-based column of a byte offset into a line (native offsets count UTF-8 bytes). */
export function columnOfByte(line: string, byteOffset: number): number {
  const b = Buffer.from(line, 'utf8');
  return b.subarray(0, Math.min(byteOffset, b.length)).toString('utf8').length + 1;
}

/** The text of line `n` (1-based), without its newline. */
export function lineAt(text: string, n: number): string {
  let start = 0;
  for (let i = 1; i < n; i++) {
    const nl = text.indexOf('\n', start);
    if (nl === -1) return '';
    start = nl + 1;
  }
  const nl = text.indexOf('\n', start);
  return text.slice(start, nl === -1 ? text.length : nl);
}
