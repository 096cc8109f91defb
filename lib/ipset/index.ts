// ipset: module-level functions run on a default handle in the caller's own namespace;
// open({ netns }) gives a handle bound to another one.
import type { OpenOptions } from '../core/handle.js';
import { IpsetHandle, type BulkOptions, type ExistOption, type ListOptions, type ReplaceOptions } from './handle.js';
import type { CreateOptions, Entry, SetInfo, SetType } from './types.js';
import type { IpsetSyncOptions } from './sync.js';

export { IpsetHandle } from './handle.js';
export type { BulkOptions, ExistOption, ListOptions, ReplaceOptions } from './handle.js';
export * from './types.js';
export type { IpsetSyncOptions, IpsetSyncPlan, IpsetSyncResult, IpsetSyncTarget } from './sync.js';

let shared: IpsetHandle | undefined;
const handle = (): IpsetHandle => (shared && !shared.closed ? shared : (shared = new IpsetHandle()));

/**
 * A handle on the ipsets of one network namespace (default: the caller's), on its own thread.
 * @example
 * await using h = ipset.open({ netns: 'node' });
 */
export const open = (opts: OpenOptions = {}): IpsetHandle => new IpsetHandle(opts);

/**
 * Creates a set, like `ipset create` (default handle).
 * @example
 * await ipset.create('allowed', 'hash:ip', { timeout: 300 }, { exist: true });
 */
export const create = (name: string, type: SetType, opts?: CreateOptions, o?: ExistOption) => handle().create(name, type, opts, o);
/**
 * Destroys one set, or every set when no name is given (default handle).
 * @example
 * await ipset.destroy('allowed');
 */
export const destroy = (name?: string) => handle().destroy(name);
/**
 * Removes every member of one set, or of every set (default handle).
 * @example
 * await ipset.flush('allowed');
 */
export const flush = (name?: string) => handle().flush(name);
/**
 * Renames a set, like `ipset rename` (default handle).
 * @example
 * await ipset.rename('allowed-new', 'allowed');
 */
export const rename = (from: string, to: string) => handle().rename(from, to);
/**
 * Exchanges the contents of two sets of the same type, atomically (default handle).
 * @example
 * await ipset.swap('allowed', 'allowed-next');
 */
export const swap = (a: string, b: string) => handle().swap(a, b);
/**
 * Adds one entry or many to a set, like `ipset add` (default handle).
 * @example
 * await ipset.add('allowed', ['10.0.0.1', { ip: '10.1.0.0/16', comment: 'pods' }], { exist: true });
 */
export const add = (name: string, entries: Entry | Entry[], o?: BulkOptions) => handle().add(name, entries, o);
/**
 * Deletes one entry or many from a set (default handle), like `ipset del`.
 * @example await ipset.delete('allowed', ['10.0.0.1']);
 */
const remove = (name: string, entries: Entry | Entry[], o?: BulkOptions) => handle().delete(name, entries, o);
export { remove as delete };
/**
 * @deprecated Use ipset.delete(); `del` stays for one release.
 * @example await ipset.del('allowed', '10.0.0.1');
 */
export const del = (name: string, entries: Entry | Entry[], o?: BulkOptions) => handle().del(name, entries, o);
/**
 * Whether an entry is in a set, like `ipset test` (default handle); an array of entries
 * resolves one boolean each, in order, asked in one batch (IpsetHandle.test).
 * @example
 * const inSet = await ipset.test('allowed', '10.0.0.1');
 * const each = await ipset.test('allowed', ['10.0.0.1', '10.0.0.2']);  // e.g. [true, false]
 */
export function test(name: string, entry: Entry): Promise<boolean>;
export function test(name: string, entries: readonly Entry[]): Promise<boolean[]>;
export function test(name: string, entries: Entry | readonly Entry[]): Promise<boolean | boolean[]> {
  return handle().test(name, entries);
}
/**
 * Every set, or one set by name, with header and members (default handle).
 * @example
 * const all = await ipset.list();
 * const one = await ipset.list('allowed', { members: false });
 */
export function list(): Promise<SetInfo[]>;
export function list(name: string, opts?: ListOptions): Promise<SetInfo>;
export function list(name?: string, opts?: ListOptions): Promise<SetInfo | SetInfo[]> {
  return name === undefined ? handle().list(undefined, opts) : handle().list(name, opts);
}
/**
 * Set names, like `ipset list -n` (default handle).
 * @example
 * const names = await ipset.names();
 */
export const names = () => handle().names();
/**
 * The text `ipset save` prints, for one set or all (default handle).
 * @example
 * const text = await ipset.save('allowed');
 */
export const save = (name?: string) => handle().save(name);
/**
 * Applies `ipset restore` text; a line the kernel refuses applies nothing (default handle).
 * @example
 * await ipset.restore('create allowed hash:ip\nadd allowed 10.0.0.1\n');
 */
export const restore = (text: string, o?: BulkOptions) => handle().restore(text, o);
/**
 * Replaces a set's members atomically through a temporary set and a swap (default handle).
 * @example
 * await ipset.replace('allowed', ['10.0.0.1', '10.0.0.2']);
 */
export const replace = (name: string, entries: Entry[], o?: ReplaceOptions) => handle().replace(name, entries, o);
/**
 * Makes a set's members equal to `entries`, changing only the difference (default handle).
 * @example
 * const { added, removed } = await ipset.sync('allowed', ['10.0.0.1'], { create: { type: 'hash:ip' } });
 */
export const sync = (name: string, entries: Entry[], o?: IpsetSyncOptions) => handle().sync(name, entries, o);
