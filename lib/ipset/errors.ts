// libipset reports failures as text (its errcode table and strerror), not as errno values;
// these patterns put each message back into the error model.
import {
  ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError,
  PermissionError, UnsupportedError, type NlkitErrorOptions,
} from '../errors.js';
import type { NativeFailure } from '../native.js';

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

export function ipsetError(op: string, f: NativeFailure, extra: NlkitErrorOptions = {}): NlkitError {
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
  if (line !== undefined) (e as NlkitError & { line?: number }).line = line;
  return e;
}
