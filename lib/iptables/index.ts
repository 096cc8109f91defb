// iptables (legacy xtables): module-level functions run on a default IPv4 handle in the
// caller's own namespace; open({ netns, family }) gives a handle bound to another namespace
// or to IPv6.
import { IptablesHandle } from './handle.js';
import { checkOpts } from '../core/args.js';
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

/**
 * A handle on the iptables tables of one network namespace (default: the caller's; IPv4 unless `family: 6`).
 * @example await using h = iptables.open({ netns: 'node' });
 */
export const open = (opts: IptablesOpenOptions = {}): IptablesHandle => new IptablesHandle(opts);

/**
 * Applies an iptables-restore text, each table as one atomic replace; a bad line commits nothing (default handle).
 * @example await iptables.restore('*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n', { noflush: true });
 */
export const restore = (text: string, opts?: RestoreOptions) => handle().restore(text, opts);
/**
 * The text `iptables-save` prints (default handle).
 * @example const text = await iptables.save({ table: 'filter' });
 */
export const save = (opts?: SaveOptions) => handle().save(opts);
/**
 * Runs `fn` holding the xtables lock the iptables tools take (default handle).
 * @example await iptables.withLock(async () => { await iptables.restore(text); }, { wait: 5_000 });
 */
export const withLock = <T>(fn: () => Promise<T> | T, opts?: LockOptions) => handle().withLock(fn, opts);

/**
 * A builder for one table, committed through the default handle.
 * @example await iptables.table('nat', { noflush: true }).chain('KUBE-SERVICES').append('-j RETURN').commit();
 */
export const table = (name: TableName, opts: TableBuilderOptions = {}): TableBuilder =>
  new TableBuilder(name, opts, (text, ro) => handle().restore(text, ro));

/**
 * Which iptables backend a namespace (default: the caller's) and family use; see IptablesHandle.backend().
 * @example const { hostBackend, legacy, nft } = await iptables.backend({ netns: 'node' });
 */
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
