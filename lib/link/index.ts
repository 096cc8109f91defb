// link: host network set-up over rtnetlink (dummy links and their addresses). Module-level
// functions run on a default handle in the caller's own namespace; open({ netns }) gives a
// handle bound to another one.
import type { OpenOptions } from '../handle.js';
import { LinkHandle } from './handle.js';
import type {
  AddAddressesOptions, AddDummyOptions, AddLinkInput, DelAddressesOptions, DeleteOptions, SyncAddressesOptions, UpdateLinkInput,
} from './types.js';

export { LinkHandle } from './handle.js';
export * from './types.js';
export { Sysctls, type SysctlValue } from './sysctl.js';
export { Routes, type Route, type RouteInput } from './routes.js';
export { Rules, type Rule, type RuleInput } from './rules.js';
export { Addresses, type AddressSyncResult } from './addresses.js';
export { Neighbours, type Neighbour, type NeighbourInput } from './neighbours.js';
export type { EventGroup, EventsOptions, LinkEvent } from './events.js';

let shared: LinkHandle | undefined;
const handle = (): LinkHandle => (shared && !shared.closed ? shared : (shared = new LinkHandle()));

/**
 * A handle on the links of one network namespace (default: the caller's), on its own thread.
 * @example
 * await using h = link.open({ netns: 'node' });
 */
export const open = (opts: OpenOptions = {}): LinkHandle => new LinkHandle(opts);

/**
 * Creates a dummy link, up unless `up: false` (default handle).
 * @example
 * await link.addDummy('kube-ipvs0', { exist: true });
 */
export const addDummy = (name: string, opts?: AddDummyOptions) => handle().addDummy(name, opts);
/**
 * Deletes a link, like `ip link del` (default handle).
 * @example
 * await link.delete('kube-ipvs0', { exist: true });
 */
const remove = (name: string, opts?: DeleteOptions) => handle().delete(name, opts);
export { remove as delete };
/**
 * Creates a link of any kind, like `ip link add` (default handle); see LinkHandle.add.
 * @example
 * await link.add({ name: 'br0', kind: 'bridge', up: true });
 */
export const add = (input: AddLinkInput) => handle().add(input);
/**
 * Changes a link in one request, like `ip link set` (default handle); see LinkHandle.update.
 * @example
 * await link.update('kube-ipvs0', { up: true, mtu: 1400 });
 */
export const update = (name: string, changes: UpdateLinkInput) => handle().update(name, changes);
/**
 * Sets a link up or down (default handle).
 * @deprecated Use link.update(name, { up }); stays for one release.
 * @example
 * await link.setUp('kube-ipvs0', true);
 */
export const setUp = (name: string, up: boolean) => handle().setUp(name, up);
/**
 * One link by name; NotFoundError when there is none (default handle).
 * @example
 * const lo = await link.get('lo');
 */
export const get = (name: string) => handle().get(name);
/**
 * Every link of the caller's namespace, in index order (default handle).
 * @example
 * const links = await link.list();
 */
export const list = () => handle().list();
/**
 * Addresses of the caller's namespace's links (default handle), as `h.addresses` of a handle.
 * @example await link.addresses.sync('kube-ipvs0', ['10.96.0.1/32']);
 */
export const addresses = {
  /** @example await link.addresses.add('kube-ipvs0', ['10.96.0.1/32'], { exist: true }); */
  add: (dev: string, addrs: string[], opts?: AddAddressesOptions) => handle().addresses.add(dev, addrs, opts),
  /** @example await link.addresses.delete('kube-ipvs0', ['10.96.0.1/32'], { exist: true }); */
  delete: (dev: string, addrs: string[], opts?: DelAddressesOptions) => handle().addresses.delete(dev, addrs, opts),
  /** @example const addrs = await link.addresses.list('kube-ipvs0'); */
  list: (dev?: string) => handle().addresses.list(dev),
  /** @example const { added, removed } = await link.addresses.sync('kube-ipvs0', ['10.96.0.1/32']); */
  sync: (dev: string, wanted: string[], opts?: SyncAddressesOptions) => handle().addresses.sync(dev, wanted, opts),
};
/** @deprecated Use link.addresses.add(); stays for one release. @example await link.addAddresses('d0', ['10.0.0.1/32']); */
export const addAddresses = (name: string, addrs: string[], opts?: AddAddressesOptions) => handle().addAddresses(name, addrs, opts);
/** @deprecated Use link.addresses.delete(); stays for one release. @example await link.delAddresses('d0', ['10.0.0.1/32']); */
export const delAddresses = (name: string, addrs: string[], opts?: DelAddressesOptions) => handle().delAddresses(name, addrs, opts);
/** @deprecated Use link.addresses.list(); stays for one release. @example await link.listAddresses('d0'); */
export const listAddresses = (name?: string) => handle().listAddresses(name);
/** @deprecated Use link.addresses.sync() (counts, like every sync); stays for one release. @example await link.syncAddresses('d0', []); */
export const syncAddresses = (name: string, wanted: string[]) => handle().syncAddresses(name, wanted);
export * as namespaces from './namespaces.js';
