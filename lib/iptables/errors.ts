// What the native side records (IptablesProblem) put into the error model.
import {
  ConcurrentModificationError, ExistsError, InUseError, InvalidArgumentError, LockTimeoutError, NlkitError,
  NotFoundError, PermissionError, UnsupportedError, type NlkitErrorOptions,
} from '../core/errors.js';
import { constants } from 'node:os';
import type { IptablesProblem, NativeFailure } from '../core/native.js';
import { isNativeFailure } from '../core/handle.js';
import { columnOfByte, lineAt } from './restore-text.js';

const E = constants.errno;

/** Where in a restore text an error is, and what had been committed when it happened. */
export interface RestoreErrorInfo {
  line?: number;
  column?: number;
  argument?: string;
  /** The table being worked on. */
  table?: string;
  /** Tables committed before the failure (always empty for errors found before committing). */
  committed?: string[];
}

export type IptablesError = NlkitError & RestoreErrorInfo;

function attach<T extends NlkitError>(e: T, info: RestoreErrorInfo): T & RestoreErrorInfo {
  for (const [k, v] of Object.entries(info)) if (v !== undefined) (e as unknown as Record<string, unknown>)[k] = v;
  return e as T & RestoreErrorInfo;
}

const PROBLEM_KINDS: ReadonlySet<string> = new Set<IptablesProblem['kind']>(
  ['parse', 'chain', 'apply', 'init', 'commit', 'concurrent', 'lock', 'internal', 'save']);

/** The native failure record as one of iptables' own problems (else a transport failure). */
function asProblem(f: NativeFailure): IptablesProblem | undefined {
  return f.kind !== undefined && PROBLEM_KINDS.has(f.kind) ? { ...f, kind: f.kind as IptablesProblem['kind'] } : undefined;
}

/**
 * For a native restore's rejection: rethrows its failure record as the error problemError
 * makes of it, with the line and column in `text` and the tables already committed. `adjust`
 * may move the problem first (the nf_tables backend reports some at the COMMIT line, as its tool).
 * @example await binding().iptablesRestore(w, cache, req).catch(restoreFailure(op, text));
 */
export function restoreFailure(op: string, text: string, adjust?: (p: IptablesProblem) => IptablesProblem): (e: unknown) => never {
  return (e) => {
    const found = isNativeFailure(e) ? asProblem(e) : undefined;
    const p = found && adjust ? adjust(found) : found;
    throw p ? problemError(op, p, text, p.applied ?? []) : e;
  };
}

/** Every native failure of an iptables handle: its own problems (save, lock, ...) and transport failures. */
export function iptablesFailure(op: string, f: NativeFailure): NlkitError {
  const p = asProblem(f);
  if (p) return problemError(op, p, null, f.applied ?? []);
  if (f.errno === E.EPERM || f.errno === E.EACCES) {
    return new PermissionError(`${op}: ${f.message}`, { op, subsystem: 'iptables', errno: f.errno, detail: f.message });
  }
  return new NlkitError(`${op}: ${f.message}`, { op, subsystem: 'iptables', errno: f.errno || undefined, detail: f.message });
}

/**
 * A problem the native side reported while restoring `text` (null for save/lock), mapped
 * to its error class with line, column and the word at fault.
 */
export function problemError(op: string, p: IptablesProblem, text: string | null, committed: string[] = []): IptablesError {
  const base: NlkitErrorOptions = { op, subsystem: 'iptables', detail: p.message };
  const info: RestoreErrorInfo = { committed, ...(p.table !== undefined ? { table: p.table } : {}) };
  if (p.line !== undefined) info.line = p.line;
  if (p.argument !== undefined) info.argument = p.argument;
  if (text !== null && p.line !== undefined && p.offset !== undefined) info.column = columnOfByte(lineAt(text, p.line), p.offset);
  const where = p.line !== undefined ? `line ${p.line}${info.column ? `, column ${info.column}` : ''}: ` : '';
  const msg = `${op}: ${where}${p.message}`;
  switch (p.kind) {
    case 'parse':
    case 'chain':
      if (p.kind === 'chain' && p.errno === E.EEXIST) return attach(new ExistsError(msg, { ...base, code: 'EEXIST' }), info);
      return attach(new InvalidArgumentError(msg, { ...base, ...info }), info);
    case 'apply':
      switch (p.errno) {
        case E.EEXIST: return attach(new ExistsError(msg, { ...base, code: 'EEXIST' }), info);
        case E.ENOENT: return attach(new NotFoundError(msg, { ...base, code: 'ENOENT' }), info);
        case E.EMLINK: return attach(new InUseError(msg, { ...base, errno: E.EMLINK }), info);
        case E.ENOTEMPTY: return attach(new InUseError(msg, { ...base, errno: E.ENOTEMPTY }), info);
        default: return attach(new InvalidArgumentError(msg, { ...base, errno: p.errno || E.EINVAL, ...info }), info);
      }
    case 'init':
    case 'save':
      if (p.errno === E.EPERM || p.errno === E.EACCES) return attach(new PermissionError(msg, { ...base, errno: p.errno }), info);
      if (p.errno === E.ENOENT) return attach(new NotFoundError(msg, { ...base, code: 'ENOENT' }), info);
      if (p.errno === E.ENOPROTOOPT || p.errno === E.EAFNOSUPPORT) {
        return attach(new UnsupportedError(`${msg} (the running kernel has no legacy ${op.includes('6') ? 'ip6_tables' : 'ip_tables'} support)`, { ...base, errno: p.errno }), info);
      }
      return attach(new NlkitError(msg, { ...base, errno: p.errno || undefined }), info);
    case 'commit':
      if (p.errno === E.EPERM) return attach(new PermissionError(msg, { ...base, errno: p.errno }), info);
      if (p.errno === E.ENOENT) {
        return attach(new UnsupportedError(`${msg} (the kernel lacks a match or target the table uses: a kernel module is missing)`, { ...base, errno: p.errno }), info);
      }
      return attach(new InvalidArgumentError(`${msg} (the kernel's log says why)`, { ...base, errno: p.errno || E.EINVAL, ...info }), info);
    case 'concurrent':
      return attach(new ConcurrentModificationError(msg, { ...base, code: 'EAGAIN' }), info);
    case 'lock': {
      if (p.errno === E.ETIMEDOUT) {
        // flock() conflicts inside one process too: the holder may be this process's own withLock() or transaction.
        const who = p.holderPid === process.pid
          ? ` (held by this process, pid ${p.holderPid}: a withLock() or transaction() in another async context)`
          : p.holderPid ? ` (held by pid ${p.holderPid})` : '';
        const e = new LockTimeoutError(`${op}: ${p.message}${who}`, { ...base, code: 'ETIMEDOUT' });
        if (p.lockPath !== undefined) e.lockPath = p.lockPath;
        if (p.holderPid) e.holderPid = p.holderPid;
        return attach(e, info);
      }
      if (p.errno === E.EACCES || p.errno === E.EPERM) return attach(new PermissionError(msg, { ...base, errno: p.errno }), info);
      // The lock file is a FIFO, a directory, a device: not something to flock.
      if (p.errno === E.EINVAL) return attach(new InvalidArgumentError(msg, { ...base, errno: p.errno, ...(p.lockPath !== undefined ? { argument: p.lockPath } : {}) }), info);
      return attach(new NlkitError(msg, { ...base, errno: p.errno || undefined }), info);
    }
    default:
      return attach(new NlkitError(msg, { ...base, errno: p.errno || undefined }), info);
  }
}
