// The public shapes of the link subsystem.
import type { Family } from './addr.js';

export type { Family } from './addr.js';

export interface Link {
  name: string;
  index: number;
  /** 'dummy', 'veth', 'bridge', ... (IFLA_INFO_KIND); absent for loopback and hardware links. */
  kind?: string;
  /** Administratively up (IFF_UP), as `ip link set NAME up` makes it. */
  up: boolean;
  mtu: number;
  /** Link-layer address as lower-case hex pairs ('02:42:ac:11:00:02'); absent when the link has none. */
  mac?: string;
}

export type AddressScope = 'global' | 'site' | 'link' | 'host' | 'nowhere' | number;

/** IFA_F_* names as iproute2 prints them ('secondary' is IPv4's, 'temporary' IPv6's name for bit 0). */
export type AddressFlag =
  | 'secondary' | 'temporary' | 'nodad' | 'optimistic' | 'dadfailed' | 'home' | 'deprecated' | 'tentative'
  | 'permanent' | 'mngtmpaddr' | 'noprefixroute' | 'autojoin' | 'stable-privacy';

export interface Address {
  /** The link's name and index. */
  link: string;
  index: number;
  family: Family;
  /** `ADDRESS/PREFIXLEN` in canonical form: '10.96.0.1/32', '2001:db8::1/128'. */
  address: string;
  scope: AddressScope;
  flags: AddressFlag[];
  /** IPv4 only: the label (the link's name unless set otherwise). */
  label?: string;
  /** Point-to-point peer, when the address has one. */
  peer?: string;
  /** IPv4 broadcast address, when set. */
  broadcast?: string;
  /** Seconds left; absent for 'forever'. */
  validLft?: number;
  preferredLft?: number;
}

export interface AddDummyOptions {
  /** Bring the link up (default true). */
  up?: boolean;
  mtu?: number;
  /** An existing dummy of that name is not an error; it is brought to `up`/`mtu`. */
  exist?: boolean;
}

export interface DeleteOptions {
  /** No error when the link does not exist (as `exist` means in every subsystem). */
  exist?: boolean;
  /** @deprecated Use `exist`; stays for one release. */
  missingOk?: boolean;
}

export interface AddAddressesOptions {
  /** Addresses already on the link are not an error (and are left as they are). */
  exist?: boolean;
}

export interface DelAddressesOptions {
  /** Addresses not on the link are not an error. */
  exist?: boolean;
  /** @deprecated Use `exist`; stays for one release. */
  missingOk?: boolean;
}

/** @deprecated What the deprecated syncAddresses() returns; h.addresses.sync() returns AddressSyncResult. */
export interface SyncResult {
  /** What was added and removed, as `ADDRESS/PREFIXLEN`. */
  added: string[];
  removed: string[];
}
