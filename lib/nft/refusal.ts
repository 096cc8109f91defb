// A batch the kernel refused: its error names the failing message; this maps it back to the
// command that made the message and gives the error lib/netlink's errno table gives, with
// `index` = that command's position. Chain loops (ELOOP, or EMLINK when the kernel finds them
// through its jump depth limit) and over-long names are the caller's input: InvalidArgumentError.
import { constants } from 'node:os';
import { ConcurrentModificationError, InvalidArgumentError, type NlkitError } from '../core/errors.js';
import { ERESTART, kernelError } from '../netlink/transport.js';
import type { EncodedBatch } from './encode.js';

const E = constants.errno;

export interface KernelRefusal {
  /** The refused message's position in the encoded batch (BEGIN is 0). */
  message: number;
  errno: number;
  /** The kernel's extended ack, if it gave one. */
  text?: string;
  offset?: number;
}

/** The error apply() throws for a refused batch (nothing of it was applied). */
export function refusalError(batch: EncodedBatch, r: KernelRefusal, describe: (index: number) => string): NlkitError {
  const op = 'nft.apply';
  if (r.message <= 0 && r.errno === ERESTART) {
    return new ConcurrentModificationError(`${op}: the ruleset changed since the given generation; nothing was applied (ERESTART)`,
      { op, subsystem: 'nft', errno: ERESTART, code: 'ERESTART' });
  }
  const index = batch.commandOf[r.message] ?? -1;
  let what = index >= 0 ? `the kernel refused command ${index} (${describe(index)}); nothing was applied` : 'the kernel refused the batch';
  // Besides a missing capability: a table created with `flags owner` by another socket (another handle or process).
  if (r.errno === E.EPERM) what += ' (the table may be owned by another netlink socket: flags owner)';
  const ctx = { what, ...(r.text ? { detail: r.text } : {}), ...(r.offset !== undefined ? { offset: r.offset } : {}) };
  if (r.errno === E.ELOOP || r.errno === E.EMLINK || r.errno === E.ENAMETOOLONG) {
    const base = kernelError(op, 'nft', r.errno, ctx);
    return new InvalidArgumentError(base.message, { op, subsystem: 'nft', errno: r.errno, ...(r.text ? { detail: r.text } : {}), ...(index >= 0 ? { index } : {}) });
  }
  const e = kernelError(op, 'nft', r.errno, ctx);
  if (index >= 0) e.index = index;
  else delete e.index;
  return e;
}

/** A short description of a command for error messages: `add rule ip t c`. */
export function describeCommand(cmd: unknown): string {
  if (typeof cmd !== 'object' || cmd === null) return String(cmd);
  const [verb, body] = Object.entries(cmd)[0] ?? ['?', undefined];
  if (typeof body !== 'object' || body === null) return verb;
  const [kind, o] = Object.entries(body)[0] ?? ['?', undefined];
  const x = (o ?? {}) as Record<string, unknown>;
  return [verb, kind, x.family, x.table, x.chain ?? x.name].filter((v) => v !== undefined).join(' ');
}
