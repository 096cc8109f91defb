// iptables (legacy xtables): module-level functions run on a default IPv4 handle in the
// caller's own namespace; open({ netns, family }) gives a handle bound to another namespace
// or to IPv6.
import { IptablesHandle } from './handle.js';
import { checkOpts } from '../args.js';
import { TableBuilder, type TableBuilderOptions } from './builder.js';
import type { BackendInfo, BackendOptions } from './backend.js';
import type { IptablesOpenOptions, LockOptions, RestoreOptions, SaveOptions, TableName } from './types.js';

export { IptablesHandle } from './handle.js';
export type { IptablesError, RestoreErrorInfo } from './errors.js';
export type { ParsedChain, ParsedCommand, ParsedTable } from './restore-text.js';
export { TableBuilder, ChainBuilder, ruleText, ruleWords } from './builder.js';
export type {
  BuilderOrigin, ChainOptions, Match, MatchModule, Negatable, OptionValue, Options, Policy, Rule, RuleSpec, TableBuilderOptions, UntypedModule,
} from './builder.js';
export type { BackendInfo, BackendOptions, BackendVariant } from './backend.js';
export * from './types.js';

let shared: IptablesHandle | undefined;
const handle = (): IptablesHandle => (shared && !shared.closed ? shared : (shared = new IptablesHandle()));

export const open = (opts: IptablesOpenOptions = {}): IptablesHandle => new IptablesHandle(opts);

export const restore = (text: string, opts?: RestoreOptions) => handle().restore(text, opts);
export const save = (opts?: SaveOptions) => handle().save(opts);
export const withLock = <T>(fn: () => Promise<T> | T, opts?: LockOptions) => handle().withLock(fn, opts);

/** A builder for one table, committed through the default handle. */
export const table = (name: TableName, opts: TableBuilderOptions = {}): TableBuilder =>
  new TableBuilder(name, opts, (text, ro) => handle().restore(text, ro));

/** Which iptables backend a namespace (default: the caller's) and family use; see IptablesHandle.backend(). */
export async function backend(opts: BackendOptions = {}): Promise<BackendInfo> {
  checkOpts({ op: 'iptables.backend', subsystem: 'iptables' }, 'options', opts, { netns: 'string', family: 'number' });
  if (opts.netns === undefined && (opts.family ?? 4) === 4) return handle().backend();
  const h = new IptablesHandle({ ...opts, backend: 'legacy' });
  try {
    return await h.backend();
  } finally {
    await h.close();
  }
}
