// A batch the kernel refused: its error names the failing message (by sequence number); this
// maps it back to the command that made the message, and errno to the typed errors.
import { constants } from 'node:os';
import {
  ConcurrentModificationError, ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError,
  PermissionError, UnsupportedError,
} from '../errors.js';
import type { EncodedBatch } from './encode.js';

const E = constants.errno;
/** ERESTART: the batch's generation (NFNL_BATCH_GENID) is not the ruleset's any more. */
const ERESTART = 85;

export interface KernelRefusal {
  /** Sequence number of the message the kernel refused. */
  seq: number;
  errno: number;
  /** The kernel's extended ack, if it gave one. */
  msg?: string | null;
}

const codeName = (errno: number): string => Object.entries(E).find(([, v]) => v === errno)?.[0] ?? (errno === ERESTART ? 'ERESTART' : `errno ${errno}`);

/**
 * The error apply() throws for a refused batch: nothing of it was applied. `commands` are the
 * caller's commands (to name the failing one).
 */
export function refusalError(batch: EncodedBatch, r: KernelRefusal, describe: (index: number) => string): NlkitError {
  const msgIndex = r.seq - batch.seq;
  const index = batch.commandOf[msgIndex] ?? -1;
  const detail = r.msg ?? undefined;
  const opts = { op: 'nft.apply', subsystem: 'nft' as const, errno: r.errno, ...(detail ? { detail } : {}), ...(index >= 0 ? { index } : {}) };
  if (r.errno === ERESTART) {
    return new ConcurrentModificationError('nft.apply: the ruleset changed since the given generation; nothing was applied', { ...opts, code: 'ERESTART' });
  }
  const what = index >= 0 ? `command ${index} (${describe(index)})` : 'the batch';
  const text = `nft.apply: the kernel refused ${what}: ${codeName(r.errno)}${detail ? ` (${detail})` : ''}; nothing was applied`;
  switch (r.errno) {
    case E.EEXIST: return new ExistsError(text, opts);
    case E.ENOENT: return new NotFoundError(text, opts);
    case E.EBUSY: return new InUseError(text, opts);
    case E.EPERM: case E.EACCES: return new PermissionError(text, opts);
    case E.EOPNOTSUPP: case E.EAFNOSUPPORT: case E.EPROTONOSUPPORT: return new UnsupportedError(text, opts);
    case E.EINVAL: case E.ELOOP: case E.ERANGE: case E.ENAMETOOLONG: case E.EMLINK: case E.ENFILE:
      return new InvalidArgumentError(text, opts);
    default: return new NlkitError(text, opts);
  }
}

/** A short description of command i for error messages: `add rule ip t c`. */
export function describeCommand(cmd: unknown): string {
  if (typeof cmd !== 'object' || cmd === null) return String(cmd);
  const [verb, body] = Object.entries(cmd)[0] ?? ['?', undefined];
  if (typeof body !== 'object' || body === null) return verb;
  const [kind, o] = Object.entries(body)[0] ?? ['?', undefined];
  const x = (o ?? {}) as Record<string, unknown>;
  return [verb, kind, x.family, x.table, x.chain ?? x.name].filter((v) => v !== undefined).join(' ');
}
