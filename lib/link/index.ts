// link: host network set-up over rtnetlink (dummy links and their addresses). Module-level
// functions run on a default handle in the caller's own namespace; open({ netns }) gives a
// handle bound to another one.
import type { OpenOptions } from '../core/handle.js';
import { LinkHandle } from './handle.js';
import type { AddAddressesOptions, AddDummyOptions, AddLinkInput, DelAddressesOptions, DeleteOptions, SyncAddressesOptions, UpdateLinkInput } from './types.js';
import type { RouteInput } from './routes.js';
import type { RuleInput } from './rules.js';
import type { NeighbourInput } from './neighbours.js';
import type { SysctlValue } from './sysctl.js';
import type { EventsOptions } from './events.js';

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
 * Creates a link, or a list of links in one crossing, as h.add (default handle).
 * @example
 * await link.add({ name: 'br0', kind: 'bridge', up: true });
 */
export const add = (l: AddLinkInput | readonly AddLinkInput[]) => handle().add(l);
/**
 * Changes a link, as h.update: up, mtu, mac, master, netns, name (default handle).
 * @example
 * await link.update('veth0', { master: 'br0', up: true });
 */
export const update = (name: string, changes: UpdateLinkInput) => handle().update(name, changes);
/**
 * Routes of the caller's namespace (default handle), as `h.routes` of a handle.
 * @example await link.routes.add({ dst: '10.2.0.0/16', gateway: '10.1.0.2' });
 */
export const routes = {
  /** @example await link.routes.add([{ dst: '10.3.0.0/24', dev: 'eth1' }, { dst: '10.4.0.0/24', dev: 'eth1' }]); */
  add: (r: RouteInput | readonly RouteInput[]) => handle().routes.add(r),
  /** @example await link.routes.replace({ dst: '10.2.0.0/16', dev: 'eth1' }); */
  replace: (r: RouteInput) => handle().routes.replace(r),
  /** @example await link.routes.delete({ dst: '10.2.0.0/16' }); */
  delete: (r: RouteInput) => handle().routes.delete(r),
  /** @example const r = await link.routes.get('10.2.3.4'); */
  get: (dst: string) => handle().routes.get(dst),
  /** @example const all = await link.routes.list(); */
  list: () => handle().routes.list(),
};
/**
 * Policy rules of the caller's namespace (default handle), as `h.rules` of a handle.
 * @example await link.rules.add({ priority: 100, fwmark: 1, table: 100 });
 */
export const rules = {
  /** @example await link.rules.add({ priority: 100, fwmark: 1, table: 100 }); */
  add: (r: RuleInput) => handle().rules.add(r),
  /** @example await link.rules.delete({ priority: 100, fwmark: 1, table: 100 }); */
  delete: (r: RuleInput) => handle().rules.delete(r),
  /** @example const v6 = await link.rules.list(6); */
  list: (family?: 4 | 6) => handle().rules.list(family),
};
/**
 * Neighbour entries of the caller's namespace (default handle), as `h.neighbours` of a handle.
 * @example await link.neighbours.add({ dst: '10.0.0.2', lladdr: '02:00:00:00:00:02', dev: 'eth0' });
 */
export const neighbours = {
  /** @example await link.neighbours.add({ dst: '10.0.0.2', lladdr: '02:00:00:00:00:02', dev: 'eth0' }); */
  add: (n: NeighbourInput | readonly NeighbourInput[]) => handle().neighbours.add(n),
  /** @example await link.neighbours.replace({ dst: '10.0.0.2', lladdr: '02:00:00:00:00:03', dev: 'eth0' }); */
  replace: (n: NeighbourInput) => handle().neighbours.replace(n),
  /** @example await link.neighbours.delete({ dst: '10.0.0.2', dev: 'eth0' }); */
  delete: (n: Pick<NeighbourInput, 'dst' | 'dev' | 'proxy'>) => handle().neighbours.delete(n),
  /** @example const all = await link.neighbours.list({ dev: 'eth0' }); */
  list: (opts?: { dev?: string; proxy?: boolean; all?: boolean }) => handle().neighbours.list(opts),
  /** @example const n = await link.neighbours.flush({ dev: 'eth0' }); */
  flush: (opts?: { dev?: string; family?: 4 | 6 }) => handle().neighbours.flush(opts),
};
/**
 * sysctls of the caller's namespace (default handle), as `h.sysctls` of a handle.
 * @example await link.sysctls.set('net.ipv4.ip_forward', 1);
 */
export const sysctls = {
  /** @example const on = (await link.sysctls.get('net.ipv4.ip_forward')) === '1'; */
  get: (key: string) => handle().sysctls.get(key),
  /** @example await link.sysctls.set('net.ipv4.conf.all.arp_ignore', 1); */
  set: (key: string, value: SysctlValue) => handle().sysctls.set(key, value),
};
/**
 * Link, address, route and neighbour changes in the caller's namespace, as h.events (default handle).
 * @example
 * for await (const e of link.events({ groups: ['link'], signal })) console.log(e);
 */
export const events = (opts?: EventsOptions) => handle().events(opts);
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
