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

/**
 * The base of every error nlkit throws, in Node's shape: `code` ('EEXIST', ...), `errno`,
 * `op` (the call that failed: 'ipset.add') and `subsystem`, and where known the batch
 * `index`, text `line` or caller's `entry` at fault.
 * @example
 * try { await ipset.add('allowed', '10.0.0.1'); }
 * catch (e) { if (e instanceof NlkitError) console.log(e.code, e.op, e.entry); else throw e; }
 */
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
    this.code = opts.code ?? codeOf(opts.errno) ?? defaultCode(new.target);
    this.errno = opts.errno ?? errnoOf(this.code) ?? 0;
    this.op = opts.op ?? '';
    this.subsystem = opts.subsystem ?? 'nlkit';
    if (opts.detail !== undefined) this.detail = opts.detail;
    if (opts.index !== undefined) this.index = opts.index;
    if (opts.offset !== undefined) this.offset = opts.offset;
    if (opts.line !== undefined) this.line = opts.line;
    if (opts.entry !== undefined) this.entry = opts.entry;
  }
}

/**
 * What was to be created exists already (EEXIST); `{ exist: true }` accepts it.
 * @example
 * try { await ipset.create('allowed', 'hash:ip'); } catch (e) { if (!(e instanceof ExistsError)) throw e; }
 */
export class ExistsError extends NlkitError {}
/**
 * What was named does not exist (ENOENT): a set, service, link, entry or rule.
 * @example
 * const set = await ipset.list('allowed').catch((e) => { if (e instanceof NotFoundError) return undefined; throw e; });
 */
export class NotFoundError extends NlkitError {}
/**
 * The object is still referenced (EBUSY), as a set that an iptables rule matches.
 * @example
 * try { await ipset.destroy('allowed'); } catch (e) { if (e instanceof InUseError) console.log('still used by a rule'); else throw e; }
 */
export class InUseError extends NlkitError {}
/**
 * The caller lacks the capability the kernel asks for (EPERM: CAP_NET_ADMIN).
 * @example
 * try { await ipvs.listServices(); } catch (e) { if (e instanceof PermissionError) console.log('run as root'); else throw e; }
 */
export class PermissionError extends NlkitError {}
/**
 * Someone else changed the same state meanwhile (EAGAIN: an nf_tables generation, a dump interrupted); retrying may succeed.
 * @example
 * try { await nft.apply(commands); } catch (e) { if (e instanceof ConcurrentModificationError) await nft.apply(commands); else throw e; }
 */
export class ConcurrentModificationError extends NlkitError {}
/**
 * The running kernel or its modules lack the feature (EOPNOTSUPP): a set type, a scheduler, a match.
 * @example
 * try { await ipset.create('s', 'hash:net,port,net'); } catch (e) { if (e instanceof UnsupportedError) console.log(e.message); else throw e; }
 */
export class UnsupportedError extends NlkitError {}

export interface InvalidArgumentOptions extends NlkitErrorOptions {
  /** 1-based column of text input at fault. */
  column?: number;
  /** The argument, option or token at fault. */
  argument?: string;
}

/**
 * Bad input of any JS type (EINVAL), found before anything reached the kernel: `argument`
 * names what was wrong, `line` and `column` where in a text.
 * @example
 * try { await ipset.add('allowed', '10.0.0.300'); }
 * catch (e) { if (e instanceof InvalidArgumentError) console.log(e.argument, e.message); else throw e; }
 */
export class InvalidArgumentError extends NlkitError {
  column?: number;
  argument?: string;
  constructor(message: string, opts: InvalidArgumentOptions = {}) {
    super(message, opts);
    if (opts.column !== undefined) this.column = opts.column;
    if (opts.argument !== undefined) this.argument = opts.argument;
  }
}

/**
 * The xtables lock stayed held past `wait` (ETIMEDOUT); `holderPid` names the holder when it is known.
 * @example
 * try { await iptables.restore(text, { wait: 2_000 }); } catch (e) { if (e instanceof LockTimeoutError) console.log(e.holderPid); else throw e; }
 */
export class LockTimeoutError extends NlkitError {
  lockPath?: string;
  holderPid?: number;
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
 * @example
 * try { await transaction((tx) => { tx.ipset.add('allowed', '10.0.0.1'); }); }
 * catch (e) { if (e instanceof TransactionError) console.log(e.failed?.op?.summary, e.rolledBack, e.undone); else throw e; }
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

/**
 * A handle that was closed, or whose namespace could not be entered.
 * @example
 * const h = ipset.open(); await h.close();
 * await h.names().catch((e) => { if (e instanceof HandleClosedError) console.log(e.op); });
 */
export class HandleClosedError extends NlkitError {}

/**
 * The operation's AbortSignal aborted (`name` 'AbortError', `code` 'ABORT_ERR', like Node's own
 * abort errors; `cause` is `signal.reason`). `applied` says how much of the call reached the
 * kernel before it stopped: 0 when the signal aborted before anything was sent.
 * @example
 * const ac = new AbortController(); ac.abort();
 * await ipset.add('allowed', entries, { signal: ac.signal }).catch((e) => { if (e instanceof AbortedError) console.log(e.applied); });
 */
export class AbortedError extends NlkitError {
  /** Entries, addresses or messages of the call the kernel had applied when it stopped. */
  applied: number;

  constructor(message: string, opts: NlkitErrorOptions & { applied?: number } = {}) {
    super(message, opts);
    this.name = 'AbortError';
    this.applied = opts.applied ?? 0;
  }
}

/** The code each class means when a failure names neither a code nor an errno; a subclass of one of them inherits its code, anything else is EIO. */
const DEFAULT_CODES = new Map<abstract new (...args: never[]) => NlkitError, string>([
  [ExistsError, 'EEXIST'],
  [NotFoundError, 'ENOENT'],
  [InUseError, 'EBUSY'],
  [PermissionError, 'EPERM'],
  [ConcurrentModificationError, 'EAGAIN'],
  [UnsupportedError, 'EOPNOTSUPP'],
  [InvalidArgumentError, 'EINVAL'],
  [LockTimeoutError, 'ETIMEDOUT'],
  [HandleClosedError, 'EBADF'],
  [AbortedError, 'ABORT_ERR'],
]);

function defaultCode(cls: abstract new (...args: never[]) => NlkitError): string {
  for (let c: unknown = cls; c !== NlkitError && typeof c === 'function'; c = Object.getPrototypeOf(c)) {
    const code = DEFAULT_CODES.get(c as typeof NlkitError);
    if (code !== undefined) return code;
  }
  return 'EIO';
}

/**
 * Throws an AbortedError (nothing applied) when `signal` has aborted; the check operations make
 * before they send anything to the kernel.
 * @example throwIfAborted(opts.signal, 'ipset.add', 'ipset');
 */
export function throwIfAborted(signal: AbortSignal | undefined, op: string, subsystem: Subsystem): void {
  if (!signal?.aborted) return;
  throw new AbortedError(`${op}: aborted before anything was sent (${String(signal.reason)})`, { op, subsystem, cause: signal.reason, applied: 0 });
}
