// The one mapping of ipset's native failure records to the error model. A refusal of nlkit's
// own netlink sender (kind 'refused') carries the kernel's errno and is classified by it
// (kernel-errors.ts, ipset's own code table); libipset's text sessions report failures as
// text only (its errcode table and strerror, no errno reaches its callers), so those messages
// are classified by the patterns below, tested against the real `ipset` tool's words
// (test/kernel/ipset-error-text.test.ts).
import {
  ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError,
  PermissionError, UnsupportedError, type NlkitErrorOptions,
} from '../core/errors.js';
import type { NativeFailure } from '../core/native.js';
import { kernelError, type KernelRefusal } from './kernel-errors.js';

type Ctor = new (message: string, opts: NlkitErrorOptions & { line?: number }) => NlkitError;

const RULES: [RegExp, Ctor, string][] = [
  [/already exists|already added/, ExistsError, 'EEXIST'],
  [/Element cannot be deleted from the set: it's not added/, NotFoundError, 'ENOENT'],
  // A test line of a restore text whose element is not in the set.
  [/is NOT in set/, NotFoundError, 'ENOENT'],
  [/does not exist|No such file or directory/, NotFoundError, 'ENOENT'],
  [/in use/, InUseError, 'EBUSY'],
  [/Operation not permitted|Permission denied/, PermissionError, 'EPERM'],
  [/set type not supported|set type does not supported|Protocol not supported|Address family not supported|protocol versions|Kernel-library incompatibility|Cannot open session to kernel/, UnsupportedError, 'EOPNOTSUPP'],
  [/Hash is full|maximal number of sets/, NlkitError, 'ENOSPC'],
  [/Syntax error|Unknown argument|unknown argument|Missing|missing|invalid|Invalid|cannot be used|is expected|out of the range|exceeds|not allowed|mutually exclusive|must be specified|Null-valued|covers the whole|Range is not supported|too large|No command specified|Argument .* is|can be used/, InvalidArgumentError, 'EINVAL'],
];

/** What the caller knows about a batch it sent: its command, the set's type, and where a refused message came from. */
export interface SentBatch {
  cmd: KernelRefusal['cmd'];
  type?: string;
  /** The refused message's position and the lineno the kernel echoed, as the caller's entry or line. */
  at?: (index: number, lineno: number) => { entry?: number; line?: number };
}

/**
 * Every ipset native failure as its NlkitError: a kernel refusal of a sent batch by its errno
 * (with `sent` saying what the batch was), a libipset message by its text.
 * @example await binding().ipsetSend(w, b.bytes, b.ends).catch((e) => { throw isNativeFailure(e) ? ipsetError(op, e, {}, { cmd: Cmd.Add }) : e; });
 */
export function ipsetError(op: string, f: NativeFailure, extra: NlkitErrorOptions = {}, sent?: SentBatch): NlkitError {
  if (f.kind === 'refused') {
    const where = sent?.at?.(f.index ?? 0, f.line ?? 0) ?? {};
    return kernelError(op, { errno: f.errno, cmd: sent?.cmd ?? 0, ...(sent?.type ? { type: sent.type } : {}), ...where });
  }
  const raw = f.message.trim();
  const m = /^Error in line (\d+): ([\s\S]*)$/.exec(raw);
  const detail = m ? m[2]! : raw;
  const line = m ? Number(m[1]) : undefined;
  for (const [re, Cls, code] of RULES) {
    if (re.test(detail)) {
      return withLine(new Cls(`${op}: ${detail}`, { code, op, subsystem: 'ipset', detail, ...extra }), line);
    }
  }
  return withLine(new NlkitError(`${op}: ${detail}`, { op, subsystem: 'ipset', detail, errno: f.errno || undefined, ...extra }), line);
}

/** Every ipset error keeps the line of the command text it came from. */
function withLine(e: NlkitError, line: number | undefined): NlkitError {
  if (line !== undefined) e.line = line;
  return e;
}
