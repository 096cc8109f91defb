// h.addresses: a link's addresses, with the verbs every subsystem uses (add/delete/list/sync).
// The work is LinkHandle's; this object only names it (the old addAddresses/delAddresses/
// listAddresses/syncAddresses stay on the handle as deprecated aliases for one release).
import type { SyncResult } from '../core/sync.js';
import type { Address, AddAddressesOptions, DelAddressesOptions, SyncAddressesOptions } from './types.js';

/** What h.addresses.sync() changed: the counts every sync returns, and which addresses. */
export interface AddressSyncResult extends SyncResult {
  /** The addresses added and removed, as `ADDRESS/PREFIXLEN`. */
  addresses: { added: string[]; removed: string[] };
}

/** The LinkHandle methods this object names (internal; each takes the op its errors carry). */
export interface AddressOps {
  addressesAdd(op: string, dev: string, addrs: string[], opts?: AddAddressesOptions): Promise<void>;
  addressesDelete(op: string, dev: string, addrs: string[], opts?: DelAddressesOptions): Promise<void>;
  addressesList(op: string, dev?: string): Promise<Address[]>;
  addressesSync(op: string, dev: string, wanted: string[], opts?: SyncAddressesOptions): Promise<{ added: string[]; removed: string[]; unchanged: number }>;
}

/**
 * h.addresses (and link.addresses): the addresses of the handle's links, like `ip addr`.
 * @example await h.addresses.add('kube-ipvs0', ['10.96.0.1/32'], { exist: true });
 */
export class Addresses {
  readonly #h: AddressOps;

  constructor(h: AddressOps) {
    this.#h = h;
  }

  /**
   * Adds addresses to a link in one crossing, like `ip addr add ADDR dev DEV` for each; a
   * refusal puts back what the call added. With `exist`, addresses already there are no error.
   * `signal`: an aborted one rejects with an AbortedError before the batch is sent (nothing added).
   * @example await h.addresses.add('kube-ipvs0', ['10.96.0.1/32', 'fd00::1/128']);
   */
  add(dev: string, addrs: string[], opts: AddAddressesOptions = {}): Promise<void> {
    return this.#h.addressesAdd('link.addresses.add', dev, addrs, opts);
  }

  /**
   * Removes addresses from a link, like `ip addr del ADDR dev DEV`. Without `exist`, an address
   * that is not on the link is a NotFoundError and nothing is removed. `signal`: an aborted one
   * rejects with an AbortedError before the batch is sent (nothing removed).
   * @example await h.addresses.delete('kube-ipvs0', ['10.96.0.1/32'], { exist: true });
   */
  delete(dev: string, addrs: string[], opts: DelAddressesOptions = {}): Promise<void> {
    return this.#h.addressesDelete('link.addresses.delete', dev, addrs, opts);
  }

  /**
   * The addresses of one link, or of every link, in the order `ip addr show` prints them.
   * @example const addrs = await h.addresses.list('eth0');
   */
  list(dev?: string): Promise<Address[]> {
    return this.#h.addressesList('link.addresses.list', dev);
  }

  /**
   * Makes the link's addresses exactly `wanted` (IPv6 link-local ones are left alone unless
   * listed): one dump, one batch; a refusal puts back what the call changed. `signal`: an
   * aborted one rejects with an AbortedError before the batch is sent (nothing changed).
   * @example const { added, removed } = await h.addresses.sync('kube-ipvs0', ['10.96.0.1/32']);
   */
  async sync(dev: string, wanted: string[], opts: SyncAddressesOptions = {}): Promise<AddressSyncResult> {
    const r = await this.#h.addressesSync('link.addresses.sync', dev, wanted, opts);
    return { added: r.added.length, updated: 0, removed: r.removed.length, unchanged: r.unchanged, addresses: { added: r.added, removed: r.removed } };
  }
}
