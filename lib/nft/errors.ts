// The nft subsystem's errors: where in the commands the fault is (`argument`, a JSON path like
// `nftables[3].add.rule.expr[1]`), and `index` = the failing command's position.
import { InvalidArgumentError, UnsupportedError, type InvalidArgumentOptions, type NlkitError } from '../core/errors.js';

export const invalid = (where: string, what: string, opts: InvalidArgumentOptions = {}): InvalidArgumentError =>
  new InvalidArgumentError(`${where}: ${what}`, { subsystem: 'nft', op: 'nft.apply', argument: where, ...opts });

export const unsupported = (where: string, construct: string): UnsupportedError =>
  new UnsupportedError(`${where}: ${construct} is not supported by nlkit's nft encoder`, { subsystem: 'nft', op: 'nft.apply', detail: construct });

/** Attaches the failing command's position to an error thrown while encoding it. */
export function withIndex<E extends NlkitError>(e: E, index: number): E {
  e.index = index;
  return e;
}
