// ipset: module-level functions run on a default handle in the caller's own namespace;
// open({ netns }) gives a handle bound to another one.
import type { OpenOptions } from '../handle.js';
import { IpsetHandle, type ExistOption, type ListOptions } from './handle.js';
import type { CreateOptions, Entry, SetInfo, SetType } from './types.js';
import type { IpsetSyncOptions } from './sync.js';

export { IpsetHandle } from './handle.js';
export type { ExistOption, ListOptions } from './handle.js';
export * from './types.js';
export type { IpsetSyncOptions, IpsetSyncPlan, IpsetSyncResult, IpsetSyncTarget } from './sync.js';

let shared: IpsetHandle | undefined;
const handle = (): IpsetHandle => (shared && !shared.closed ? shared : (shared = new IpsetHandle()));

export const open = (opts: OpenOptions = {}): IpsetHandle => new IpsetHandle(opts);

export const create = (name: string, type: SetType, opts?: CreateOptions, o?: ExistOption) => handle().create(name, type, opts, o);
export const destroy = (name?: string) => handle().destroy(name);
export const flush = (name?: string) => handle().flush(name);
export const rename = (from: string, to: string) => handle().rename(from, to);
export const swap = (a: string, b: string) => handle().swap(a, b);
export const add = (name: string, entries: Entry | Entry[], o?: ExistOption) => handle().add(name, entries, o);
/**
 * Deletes one entry or many from a set (default handle), like `ipset del`.
 * @example await ipset.delete('allowed', ['10.0.0.1']);
 */
const remove = (name: string, entries: Entry | Entry[], o?: ExistOption) => handle().delete(name, entries, o);
export { remove as delete };
/**
 * @deprecated Use ipset.delete(); `del` stays for one release.
 * @example await ipset.del('allowed', '10.0.0.1');
 */
export const del = (name: string, entries: Entry | Entry[], o?: ExistOption) => handle().del(name, entries, o);
export const test = (name: string, entry: Entry) => handle().test(name, entry);
export function list(): Promise<SetInfo[]>;
export function list(name: string, opts?: ListOptions): Promise<SetInfo>;
export function list(name?: string, opts?: ListOptions): Promise<SetInfo | SetInfo[]> {
  return name === undefined ? handle().list(undefined, opts) : handle().list(name, opts);
}
export const names = () => handle().names();
export const save = (name?: string) => handle().save(name);
export const restore = (text: string, o?: ExistOption) => handle().restore(text, o);
export const replace = (name: string, entries: Entry[]) => handle().replace(name, entries);
export const sync = (name: string, entries: Entry[], o?: IpsetSyncOptions) => handle().sync(name, entries, o);
