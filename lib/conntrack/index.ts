// conntrack: the kernel's connection tracking table over ctnetlink (IPv4 and IPv6): list,
// count and delete flows by filter, flush, create and update flows, watch changes, read
// statistics. Module-level functions run on a default handle in the caller's own namespace;
// open({ netns }) gives a handle bound to another one.
import type { OpenOptions } from '../core/handle.js';
import { ConntrackHandle, type DumpOptions, type EventsOptions, type FlushOptions } from './handle.js';
import type { Filter, Flow, FlowInput } from './types.js';

export { ConntrackHandle, type DumpOptions, type EventsOptions, type FlushOptions } from './handle.js';
export * from './types.js';

let shared: ConntrackHandle | undefined;
const handle = (): ConntrackHandle => (shared && !shared.closed ? shared : (shared = new ConntrackHandle()));

/**
 * A handle on the conntrack table of a network namespace (the caller's own without `netns`).
 * Synchronous, like every open(); close it (or `await using`) when done.
 * @example
 * const ct = conntrack.open({ netns: 'blue' });
 * console.log(await ct.count({ protocol: 'udp' }));
 * await ct.close();
 */
export const open = (opts: OpenOptions = {}): ConntrackHandle => new ConntrackHandle(opts);

/**
 * The flows that pass `filter`, like `conntrack -L`.
 * @example const dns = await conntrack.list({ protocol: 'udp', original: { dport: 53 } });
 */
export const list = (filter?: Filter, opts?: DumpOptions) => handle().list(filter, opts);

/**
 * How many flows pass `filter` (without one: the kernel's count, like `conntrack -C`).
 * @example const n = await conntrack.count({ state: 'ESTABLISHED' });
 */
export const count = (filter?: Filter, opts?: DumpOptions) => handle().count(filter, opts);

/**
 * Deletes the flows that pass `filter` (one dump, one pipelined batch); resolves how many.
 * @example const n = await conntrack.delete({ protocol: 'udp', reply: { src: '10.244.1.5' } });
 */
const remove = (filter: Filter, opts?: DumpOptions) => handle().delete(filter, opts);
export { remove as delete };

/**
 * Deletes every flow, or one family's, like `conntrack -F`.
 * @example await conntrack.flush({ family: 'inet' });
 */
export const flush = (opts?: FlushOptions) => handle().flush(opts);

/**
 * Creates a flow, like `conntrack -I`.
 * @example await conntrack.create({ protocol: 'udp', original: { src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53 }, timeout: 30_000 });
 */
export const create = (flow: FlowInput) => handle().create(flow);

/**
 * Changes a flow found by its original tuple, like `conntrack -U`.
 * @example await conntrack.update({ protocol: 'tcp', original, mark: 1 });
 */
export const update = (flow: FlowInput | Flow) => handle().update(flow);

/**
 * Changes to the table as they happen, like `conntrack -E`.
 * @example for await (const { type, flow } of conntrack.events({ types: ['new'], signal })) console.log(type, flow.original);
 */
export const events = (opts?: EventsOptions) => handle().events(opts);

/**
 * Per-CPU statistics, like `conntrack -S`.
 * @example const [cpu0] = await conntrack.stats();
 */
export const stats = () => handle().stats();
