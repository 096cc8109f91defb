// IPVS: module-level functions run on a default handle in the caller's own namespace;
// open({ netns }) gives a handle bound to another one.
import type { OpenOptions } from '../core/handle.js';
import { Daemons } from './daemons.js';
import { IpvsHandle } from './handle.js';
import type {
  ApplyOp, ApplyOptions, DaemonConfig, DaemonState, DestinationInput, DestinationKey, DrainOptions, ListOptions, ServiceInput,
  ServiceKey, Timeouts,
} from './types.js';
import type { SyncInput, SyncOptions } from './sync.js';

export { IpvsHandle } from './handle.js';
export { Daemons } from './daemons.js';
export * from './types.js';
export { SCHEDULERS } from './validate.js';
export type { DesiredDestination, DesiredService, IpvsSyncPlan, IpvsSyncResult, SyncCounts, SyncInput, SyncOptions } from './sync.js';

let shared: IpvsHandle | undefined;
const handle = (): IpvsHandle => (shared && !shared.closed ? shared : (shared = new IpvsHandle()));

/**
 * A handle on the IPVS table of one network namespace (default: the caller's), on its own thread.
 * @example
 * await using h = ipvs.open({ netns: 'node' });
 */
export const open = (opts: OpenOptions = {}): IpvsHandle => new IpvsHandle(opts);

/**
 * Adds a virtual service, like `ipvsadm -A` (default handle).
 * @example
 * await ipvs.addService({ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr' });
 */
export const addService = (s: ServiceInput) => handle().addService(s);
/**
 * Changes a service; fields left out keep their current values (default handle).
 * @example
 * await ipvs.updateService({ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'wrr' });
 */
export const updateService = (s: ServiceInput) => handle().updateService(s);
/**
 * Deletes a service and its real servers, like `ipvsadm -D` (default handle).
 * @example
 * await ipvs.deleteService({ protocol: 'tcp', address: '10.96.0.10', port: 80 });
 */
export const deleteService = (k: ServiceKey) => handle().deleteService(k);
/**
 * One service with its real servers; NotFoundError when absent (default handle).
 * @example
 * const s = await ipvs.getService({ protocol: 'tcp', address: '10.96.0.10', port: 80 });
 */
export const getService = (k: ServiceKey, o?: ListOptions) => handle().getService(k, o);
/**
 * Every service with its real servers, in one dump (default handle).
 * @example
 * const services = await ipvs.listServices();
 */
export const listServices = (o?: ListOptions) => handle().listServices(o);
/**
 * Adds a real server to a service, like `ipvsadm -a` (default handle).
 * @example
 * await ipvs.addDestination({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { address: '10.244.1.5', port: 8080 });
 */
export const addDestination = (k: ServiceKey, d: DestinationInput) => handle().addDestination(k, d);
/**
 * Changes a real server; fields left out keep their current values (default handle).
 * @example
 * await ipvs.updateDestination({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { address: '10.244.1.5', port: 8080, weight: 0 });
 */
export const updateDestination = (k: ServiceKey, d: DestinationInput) => handle().updateDestination(k, d);
/**
 * Removes a real server from a service at once, like `ipvsadm -d` (drain() waits for its connections first) (default handle).
 * @example
 * await ipvs.deleteDestination({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { address: '10.244.1.5', port: 8080 });
 */
export const deleteDestination = (k: ServiceKey, d: DestinationKey) => handle().deleteDestination(k, d);
/**
 * The real servers of one service; NotFoundError when the service does not exist (default handle).
 * @example
 * const dests = await ipvs.listDestinations({ protocol: 'tcp', address: '10.96.0.10', port: 80 });
 */
export const listDestinations = (k: ServiceKey, o?: Pick<ListOptions, 'stats'>) => handle().listDestinations(k, o);
/**
 * The kernel's IPVS version and connection table size (default handle).
 * @example
 * const { version, connectionTableSize } = await ipvs.getInfo();
 */
export const getInfo = () => handle().getInfo();
/**
 * The tcp, tcpfin and udp connection timeouts in seconds, like `ipvsadm -l --timeout` (default handle).
 * @example
 * const { tcp } = await ipvs.getTimeouts();
 */
export const getTimeouts = () => handle().getTimeouts();
/**
 * Sets connection timeouts in seconds; omitted (or 0) values stay as they are (default handle).
 * @example
 * await ipvs.setTimeouts({ tcp: 900 });
 */
export const setTimeouts = (t: Partial<Timeouts>) => handle().setTimeouts(t);
/**
 * Zeroes the counters of one service, or of everything (default handle).
 * @example
 * await ipvs.zero();
 */
export const zero = (k?: ServiceKey) => handle().zero(k);
/**
 * Removes every service and real server, like `ipvsadm -C` (default handle).
 * @example
 * await ipvs.flush();
 */
export const flush = () => handle().flush();
/**
 * The connection sync daemons (default handle): `start(config)`, `stop(state)`, `list()`, like
 * `ipvsadm --start-daemon` / `--stop-daemon` / `-L --daemon`.
 * @example
 * await ipvs.daemons.start({ state: 'backup', interface: 'eth0' });
 * const running = await ipvs.daemons.list();
 */
export const daemons = new Daemons({
  daemonStart: (op, c) => handle().daemonStart(op, c),
  daemonStop: (op, s) => handle().daemonStop(op, s),
  daemonList: (op) => handle().daemonList(op),
});
/**
 * Starts the connection sync daemon (master or backup), like `ipvsadm --start-daemon` (default handle).
 * @deprecated Use ipvs.daemons.start(); stays for one release.
 * @example
 * await ipvs.startDaemon({ state: 'backup', interface: 'eth0' });
 */
export const startDaemon = (c: DaemonConfig) => handle().startDaemon(c);
/**
 * Stops the sync daemon of that state (default handle).
 * @deprecated Use ipvs.daemons.stop(); stays for one release.
 * @example
 * await ipvs.stopDaemon('backup');
 */
export const stopDaemon = (s: DaemonState | { state: DaemonState }) => handle().stopDaemon(s);
/**
 * The running sync daemons (default handle).
 * @deprecated Use ipvs.daemons.list(); stays for one release.
 * @example
 * const daemons = await ipvs.listDaemons();
 */
export const listDaemons = () => handle().listDaemons();
/**
 * Many operations in one crossing; each acknowledgement is its result, in order (default handle).
 * @example
 * const results = await ipvs.apply([{ op: 'deleteService', service: { protocol: 'tcp', address: '10.96.0.10', port: 80 } }]);
 */
export const apply = (ops: ApplyOp[], o?: ApplyOptions) => handle().apply(ops, o);
/**
 * Graceful removal of a real server: weight 0, wait for its connections to end, delete it (default handle).
 * @example
 * await ipvs.drain({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { address: '10.244.1.5', port: 8080 }, { timeout: 30_000 });
 */
export const drain = (k: ServiceKey, d: DestinationKey, o?: DrainOptions) => handle().drain(k, d, o);
/**
 * Makes the kernel's services and real servers equal to `services`, sending only the difference (default handle).
 * @example
 * await ipvs.sync([{ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr',
 *   destinations: [{ address: '10.244.1.5', port: 8080 }] }]);
 */
export const sync = (services: SyncInput, o?: SyncOptions) => handle().sync(services, o);
