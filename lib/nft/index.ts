// nftables: module-level functions run on a default handle in the caller's own namespace;
// open({ netns }) gives a handle bound to another one.
import type { OpenOptions } from '../core/handle.js';
import { NftHandle, type ApplyOptions, type ListOptions, type MonitorOptions, type SaveOptions, type SyncOptions } from './handle.js';

export { NftHandle } from './handle.js';
export type { ApplyOptions, ListOptions, MonitorOptions, SaveOptions, SyncOptions } from './handle.js';
export type { ElementObject, NftEvent } from './monitor.js';
export type { NftSyncResult } from './sync.js';
export type * from './types.js';

let shared: NftHandle | undefined;
const handle = (): NftHandle => (shared && !shared.closed ? shared : (shared = new NftHandle()));

/**
 * A handle on the nftables ruleset of a network namespace (synchronous).
 * @example const h = nft.open({ netns: 'blue' }); await h.apply(cmds); await h.close();
 */
export const open = (opts: OpenOptions = {}): NftHandle => new NftHandle(opts);

/**
 * libnftables JSON commands as one kernel transaction (default handle).
 * @example await nft.apply({ nftables: [{ add: { table: { family: 'inet', name: 'fw' } } }] });
 */
export const apply = (commands: unknown, opts?: ApplyOptions) => handle().apply(commands, opts);

/**
 * What `nft -j list ruleset` prints under `nftables` (default handle).
 * @example const objs = await nft.list({ family: 'ip' });
 */
export const list = (opts?: ListOptions) => handle().list(opts);

/**
 * nft's text of the ruleset, exactly what `nft list ruleset` / `nft list table` prints (default handle).
 * @example const text = await nft.save({ family: 'inet', table: 'fw' });
 */
export const save = (opts?: SaveOptions) => handle().save(opts);

/**
 * Applies nft's text (what `nft -f` reads) as one kernel transaction (default handle).
 * @example await nft.restore('add table inet fw\nadd chain inet fw input { type filter hook input priority filter; policy drop; }\n');
 */
export const restore = (text: string, opts?: ApplyOptions) => handle().restore(text, opts);

/**
 * The ruleset generation (default handle).
 * @example const gen = await nft.generation();
 */
export const generation = () => handle().generation();

/**
 * The kernel's nftables events as `nft -j monitor` prints them (default handle).
 * @example for await (const ev of nft.monitor({ signal })) console.log(ev);
 */
export const monitor = (opts?: MonitorOptions) => handle().monitor(opts);

/**
 * Makes one table equal to the desired objects with one read and the smallest atomic batch (default handle).
 * @example const { added, removed } = await nft.sync(objects, { family: 'ip', table: 'kube-proxy' });
 */
export const sync = (desired: unknown, opts: SyncOptions) => handle().sync(desired, opts);

/**
 * Applies command lists in order, one kernel transaction each, the entry point last (default handle).
 * @example await nft.applyStages([skeleton, chainsA, chainsB, entryPoints]);
 */
export const applyStages = (stages: unknown, opts?: ApplyOptions) => handle().applyStages(stages, opts);
