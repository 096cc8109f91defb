// IPVS: module-level functions run on a default handle in the caller's own namespace;
// open({ netns }) gives a handle bound to another one.
import type { OpenOptions } from '../handle.js';
import { IpvsHandle } from './handle.js';
import type {
  ApplyOp, DaemonConfig, DaemonState, DestinationInput, DestinationKey, DrainOptions, ListOptions, ServiceInput,
  ServiceKey, Timeouts,
} from './types.js';
import type { SyncInput, SyncOptions } from './sync.js';

export { IpvsHandle } from './handle.js';
export * from './types.js';
export { SCHEDULERS } from './validate.js';
export type { DesiredDestination, DesiredService, IpvsSyncPlan, IpvsSyncResult, SyncCounts, SyncInput, SyncOptions } from './sync.js';

let shared: IpvsHandle | undefined;
const handle = (): IpvsHandle => (shared && !shared.closed ? shared : (shared = new IpvsHandle()));

export const open = (opts: OpenOptions = {}): IpvsHandle => new IpvsHandle(opts);

export const addService = (s: ServiceInput) => handle().addService(s);
export const updateService = (s: ServiceInput) => handle().updateService(s);
export const deleteService = (k: ServiceKey) => handle().deleteService(k);
export const getService = (k: ServiceKey, o?: ListOptions) => handle().getService(k, o);
export const listServices = (o?: ListOptions) => handle().listServices(o);
export const addDestination = (k: ServiceKey, d: DestinationInput) => handle().addDestination(k, d);
export const updateDestination = (k: ServiceKey, d: DestinationInput) => handle().updateDestination(k, d);
export const deleteDestination = (k: ServiceKey, d: DestinationKey) => handle().deleteDestination(k, d);
export const listDestinations = (k: ServiceKey, o?: Pick<ListOptions, 'stats'>) => handle().listDestinations(k, o);
export const getInfo = () => handle().getInfo();
export const getTimeouts = () => handle().getTimeouts();
export const setTimeouts = (t: Partial<Timeouts>) => handle().setTimeouts(t);
export const zero = (k?: ServiceKey) => handle().zero(k);
export const flush = () => handle().flush();
export const startDaemon = (c: DaemonConfig) => handle().startDaemon(c);
export const stopDaemon = (s: DaemonState | { state: DaemonState }) => handle().stopDaemon(s);
export const listDaemons = () => handle().listDaemons();
export const apply = (ops: ApplyOp[]) => handle().apply(ops);
export const drain = (k: ServiceKey, d: DestinationKey, o?: DrainOptions) => handle().drain(k, d, o);
export const sync = (services: SyncInput, o?: SyncOptions) => handle().sync(services, o);
