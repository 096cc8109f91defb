// Argument checks shared by every subsystem's public functions: a wrong JS type becomes an
// InvalidArgumentError that names the operation and the argument, never a bare TypeError from
// deep inside, and never a silent no-op. Names that cross into C are refused when they hold a
// NUL, which C would read as the end of a shorter, different name.
import { InvalidArgumentError, type Subsystem } from './errors.js';

/** Where a check runs: the public operation and its subsystem, for the error. */
export interface ArgContext {
  op: string;
  subsystem: Subsystem;
}

/**
 * How a value looks in an error message, whatever its type (a symbol cannot go through a
 * template string, a Buffer should not be printed whole).
 *
 * @example describeValue(Buffer.from('x'))  // 'a Buffer'
 */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Buffer.isBuffer(v)) return 'a Buffer';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string': return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}...` : v);
    case 'number': case 'bigint': case 'boolean': return `${typeof v} ${String(v)}`;
    case 'symbol': return 'a symbol';
    case 'function': return 'a function';
    default: return 'an object';
  }
}

/**
 * The error for an argument that is not what the operation takes.
 *
 * @example throw badArgument({ op: 'ipset.flush', subsystem: 'ipset' }, 'name', 42, 'a set name (string)')
 */
export function badArgument(ctx: ArgContext, what: string, v: unknown, expected: string): InvalidArgumentError {
  return new InvalidArgumentError(`${ctx.op}: ${what} must be ${expected}, not ${describeValue(v)}`, {
    op: ctx.op, subsystem: ctx.subsystem, argument: what,
  });
}

/**
 * A string, or an InvalidArgumentError. `nul: false` refuses NUL characters: for anything
 * that becomes a C string, where a NUL would silently name something else.
 *
 * @example checkString(ctx, 'name', name, { nonEmpty: true, nul: false })
 */
export function checkString(ctx: ArgContext, what: string, v: unknown, o: { nonEmpty?: boolean; nul?: boolean } = {}): string {
  if (typeof v !== 'string') throw badArgument(ctx, what, v, o.nonEmpty ? 'a non-empty string' : 'a string');
  if (o.nonEmpty && v.length === 0) throw badArgument(ctx, what, v, 'a non-empty string');
  if (o.nul === false) checkNoNul(ctx, what, v);
  return v;
}

/**
 * Refuses a NUL character in a string that crosses into C.
 *
 * @example checkNoNul(ctx, 'set name', 'KUBE-PROTECTED\0x')  // throws InvalidArgumentError
 */
export function checkNoNul(ctx: ArgContext, what: string, v: string): void {
  const at = v.indexOf('\0');
  if (at !== -1) {
    throw new InvalidArgumentError(`${ctx.op}: ${what} ${describeValue(v)} contains a NUL character (at ${at}); ` +
      'C would read it as the shorter name before it', { op: ctx.op, subsystem: ctx.subsystem, argument: what, column: at + 1 });
  }
}

/**
 * An options argument: undefined (none) or a plain object; anything else is an
 * InvalidArgumentError rather than options read as absent.
 *
 * @example const o = checkOptions(ctx, 'options', opts)
 */
export function checkOptions<T extends object>(ctx: ArgContext, what: string, v: T | undefined): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) throw badArgument(ctx, what, v, 'an object of options');
  return v;
}

/**
 * A callback, or an InvalidArgumentError.
 *
 * @example checkFunction({ op: 'transaction', subsystem: 'nlkit' }, 'fn', fn)
 */
export function checkFunction<F extends Function>(ctx: ArgContext, what: string, v: F): F {
  if (typeof v !== 'function') throw badArgument(ctx, what, v, 'a function');
  return v;
}

/**
 * An optional option of a given primitive type.
 *
 * @example checkOptional(ctx, 'table', opts.table, 'string')
 */
export function checkOptional(ctx: ArgContext, what: string, v: unknown, type: 'string' | 'boolean' | 'number'): void {
  if (v !== undefined && typeof v !== type) throw badArgument(ctx, what, v, `a ${type}`);
}

/**
 * Where the first NUL character of a text is (1-based line and column), or undefined. Texts
 * handed to C line by line (libipset, libxtables) would end the line there.
 *
 * @example nulPosition('a\nb\0c')  // { line: 2, column: 2 }
 */
export function nulPosition(text: string): { line: number; column: number } | undefined {
  const at = text.indexOf('\0');
  if (at === -1) return undefined;
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) line++;
  return { line, column: at - text.lastIndexOf('\n', at - 1) };
}

/** The types an option may be declared with in checkOpts(). */
export type OptType = 'boolean' | 'number' | 'string' | 'object' | 'function' | 'signal' | 'date|number' | 'number|true' | 'boolean|function';

const OPT_WORDS: Record<OptType, string> = {
  boolean: 'a boolean', number: 'a finite number', string: 'a string', object: 'an object', function: 'a function',
  signal: 'an AbortSignal', 'date|number': 'a Date or a number', 'number|true': 'a number or true', 'boolean|function': 'a boolean or a function',
};

function hasType(v: unknown, t: OptType): boolean {
  switch (t) {
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
    case 'signal': return v instanceof AbortSignal;
    case 'date|number': return v instanceof Date || hasType(v, 'number');
    case 'number|true': return v === true || hasType(v, 'number');
    case 'boolean|function': return typeof v === 'boolean' || typeof v === 'function';
    default: return typeof v === t;
  }
}

/**
 * An options argument (undefined or a plain object) whose listed options, where given, have
 * the declared types; returns it, or {} for undefined. Values are checked further where they
 * are used; this refuses the wrong JS type before anything runs.
 *
 * @example const { exist } = checkOpts(ctx, 'options', o, { exist: 'boolean' })
 */
export function checkOpts<T extends object>(ctx: ArgContext, what: string, v: T | undefined, spec: { [K in keyof T]?: OptType }): T {
  const o = checkOptions(ctx, what, v) ?? ({} as T);
  for (const k of Object.keys(spec) as (keyof T & string)[]) {
    const x = (o as Record<string, unknown>)[k];
    if (x !== undefined && !hasType(x, spec[k]!)) throw badArgument(ctx, `${what}.${k}`, x, OPT_WORDS[spec[k]!]);
  }
  return o;
}

/**
 * An array argument, or an InvalidArgumentError.
 *
 * @example checkArray(ctx, 'entries', entries)
 */
export function checkArray<T>(ctx: ArgContext, what: string, v: T[]): T[] {
  if (!Array.isArray(v)) throw badArgument(ctx, what, v, 'an array');
  return v;
}
