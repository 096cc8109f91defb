// The error model of DESIGN.md: every failure is an NlkitError subclass with Node-style
// `code`/`errno`, the operation (`op`), the subsystem, the kernel's or library's own message,
// and the stack of the caller's call site (captured before the work was queued).
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

export type Subsystem = 'ipset' | 'ipvs' | 'iptables' | 'nft' | 'conntrack' | 'link' | 'netns' | 'nlkit';

export interface NlkitErrorOptions {
  code?: string;
  errno?: number;
  op?: string;
  subsystem?: Subsystem;
  /** The kernel's extended ack or the library's own words, unchanged. */
  detail?: string;
  /** Position of the failing message or command in a batch (0-based). */
  index?: number;
  /** The kernel's extended-ack offset: byte offset, in the failing message, of the attribute at fault. */
  offset?: number;
  /** 1-based line of text input at fault (restore texts). */
  line?: number;
  /** Position of the failing entry in the caller's list of entries (ipset add/del/test). */
  entry?: number;
  cause?: unknown;
}

const errnoOf = (code: string | undefined): number | undefined =>
  code ? (constants.errno as Record<string, number>)[code] : undefined;

const names = new Map<number, string>();
for (const [k, v] of Object.entries(constants.errno)) if (!names.has(v)) names.set(v, k);
// Linux errnos node's table lacks.
if (!names.has(85)) names.set(85, 'ERESTART');

/**
 * The errno's name ('EEXIST'), or undefined for 0 and unknown numbers: the one table every
 * subsystem uses.
 * @example errnoName(17) // 'EEXIST'
 */
export function errnoName(errno: number | undefined): string | undefined {
  return errno ? names.get(errno) : undefined;
}

/**
 * The errno's name for a message: 'EEXIST', or 'errno 4103' when it has none.
 * @example `refused (${errnoText(e)})`
 */
export const errnoText = (errno: number): string => errnoName(errno) ?? `errno ${errno}`;

/**
 * The errno's name and the system's words for it, for messages that stand alone.
 * @example errnoDescription(1) // 'EPERM (Operation not permitted)'
 */
export const errnoDescription = (errno: number): string =>
  `${errnoText(errno)} (${getSystemErrorMap().get(-errno)?.[1] ?? 'unknown error'})`;

const codeOf = errnoName;

export class NlkitError extends Error {
  code: string;
  errno: number;
  op: string;
  subsystem: Subsystem;
  detail?: string;
  /** Position of the failing message or command in a batch (0-based), when a batch failed. */
  index?: number;
  /** The kernel's extended-ack offset of the attribute at fault in that message. */
  offset?: number;
  /** 1-based line of text input at fault (restore texts). */
  line?: number;
  /** Position of the failing entry in the caller's list of entries (ipset add/del/test). */
  entry?: number;

  constructor(message: string, opts: NlkitErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code ?? codeOf(opts.errno) ?? this.defaultCode();
    this.errno = opts.errno ?? errnoOf(this.code) ?? 0;
    this.op = opts.op ?? '';
    this.subsystem = opts.subsystem ?? 'nlkit';
    if (opts.detail !== undefined) this.detail = opts.detail;
    if (opts.index !== undefined) this.index = opts.index;
    if (opts.offset !== undefined) this.offset = opts.offset;
    if (opts.line !== undefined) this.line = opts.line;
    if (opts.entry !== undefined) this.entry = opts.entry;
  }

  protected defaultCode(): string {
    return 'EIO';
  }
}

export class ExistsError extends NlkitError {
  protected override defaultCode() { return 'EEXIST'; }
}
export class NotFoundError extends NlkitError {
  protected override defaultCode() { return 'ENOENT'; }
}
export class InUseError extends NlkitError {
  protected override defaultCode() { return 'EBUSY'; }
}
export class PermissionError extends NlkitError {
  protected override defaultCode() { return 'EPERM'; }
}
export class ConcurrentModificationError extends NlkitError {
  protected override defaultCode() { return 'EAGAIN'; }
}
export class UnsupportedError extends NlkitError {
  protected override defaultCode() { return 'EOPNOTSUPP'; }
}

export interface InvalidArgumentOptions extends NlkitErrorOptions {
  /** 1-based column of text input at fault. */
  column?: number;
  /** The argument, option or token at fault. */
  argument?: string;
}

export class InvalidArgumentError extends NlkitError {
  column?: number;
  argument?: string;
  constructor(message: string, opts: InvalidArgumentOptions = {}) {
    super(message, opts);
    if (opts.column !== undefined) this.column = opts.column;
    if (opts.argument !== undefined) this.argument = opts.argument;
  }
  protected override defaultCode() { return 'EINVAL'; }
}

export class LockTimeoutError extends NlkitError {
  lockPath?: string;
  holderPid?: number;
  protected override defaultCode() { return 'ETIMEDOUT'; }
}

export interface TransactionFailure {
  /** The queued operation that failed (a PlannedOp of lib/transaction/types.ts), when one did. */
  op?: { index: number; op: string; summary: string };
  /** Why it failed. */
  error: NlkitError;
}

export interface TransactionErrorOptions extends NlkitErrorOptions {
  failed?: TransactionFailure;
  rolledBack?: boolean;
  undone?: string[];
  undoErrors?: NlkitError[];
}

/**
 * A transaction failed after it had started changing the kernel. `rolledBack`: the state found
 * before it was restored completely; otherwise `undoErrors` says which undo steps failed.
 */
export class TransactionError extends NlkitError {
  failed?: TransactionFailure;
  rolledBack = false;
  /** What was undone, in order, in the words of the system tools. */
  undone: string[] = [];
  undoErrors: NlkitError[] = [];
  constructor(message: string, opts: TransactionErrorOptions = {}) {
    super(message, opts);
    if (opts.failed) this.failed = opts.failed;
    this.rolledBack = opts.rolledBack ?? false;
    this.undone = opts.undone ?? [];
    this.undoErrors = opts.undoErrors ?? [];
  }
}

/** A handle that was closed, or whose namespace could not be entered. */
export class HandleClosedError extends NlkitError {
  protected override defaultCode() { return 'EBADF'; }
}
