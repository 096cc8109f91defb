// iptables (legacy xtables): module-level functions run on a default IPv4 handle in the
// caller's own namespace; open({ netns, family }) gives a handle bound to another namespace
// or to IPv6.
import { IptablesHandle } from './handle.js';
import type { IptablesOpenOptions, LockOptions, RestoreOptions, SaveOptions } from './types.js';

export { IptablesHandle } from './handle.js';
export type { IptablesError, RestoreErrorInfo } from './errors.js';
export { parseRestore, planRestore, tokenize, quoteArg } from './restore-text.js';
export type { ParsedChain, ParsedCommand, ParsedTable } from './restore-text.js';
export * from './types.js';

let shared: IptablesHandle | undefined;
const handle = (): IptablesHandle => (shared && !shared.closed ? shared : (shared = new IptablesHandle()));

export const open = (opts: IptablesOpenOptions = {}): IptablesHandle => new IptablesHandle(opts);

export const restore = (text: string, opts?: RestoreOptions) => handle().restore(text, opts);
export const save = (opts?: SaveOptions) => handle().save(opts);
export const withLock = <T>(fn: () => Promise<T> | T, opts?: LockOptions) => handle().withLock(fn, opts);
