import type { ProgressCallback } from '../core/progress.js';
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
  /** The flag words `ip link` prints ('BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP', 'NO-CARRIER', 'M-DOWN', ...). */
  flags: string[];
  /** RFC 2863 state as `ip link` prints it: 'UP', 'DOWN', 'UNKNOWN', 'LOWERLAYERDOWN', ... */
  operstate: string;
  /** The bridge (or other master) the link is enslaved to. */
  master?: string;
  /** ip's `link`: the link this one sits on (vlan, macvlan) or its veth peer; null for a tunnel bound to none. */
  link?: string | null;
  /** When the peer/parent is in another namespace: its index there and that namespace's id (ip's link_index, link_netnsid). */
  linkIndex?: number;
  linkNetnsid?: number;
  /** Counters as `ip -j -s link show` prints them under stats64. */
  stats?: LinkStats;
}

/** `ip -j -s link show`'s stats64, under its names. */
export interface LinkStats {
  rx: { bytes: number; packets: number; errors: number; dropped: number; over_errors: number; multicast: number };
  tx: { bytes: number; packets: number; errors: number; dropped: number; carrier_errors: number; collisions: number };
}

export type LinkKind = 'dummy' | 'ifb' | 'veth' | 'bridge' | 'vlan' | 'macvlan' | 'vxlan' | 'ipip' | 'gre' | 'sit';

/**
 * A link for `h.add`: the fields of `ip link add`. Down unless `up: true` (as `ip link add`).
 * @example { name: 'veth0', kind: 'veth', peer: { name: 'eth0', netns: 'pod1' } }
 * @example { name: 'eth0.10', kind: 'vlan', link: 'eth0', id: 10 }
 */
export interface AddLinkInput {
  name: string;
  kind: LinkKind;
  mac?: string;
  mtu?: number;
  up?: boolean;
  /** The bridge to enslave it to. */
  master?: string;
  /** veth: the other end, optionally created in another namespace (a name from `ip netns add`, or a path). */
  peer?: { name: string; mac?: string; netns?: string };
  /** vlan, macvlan: the link it sits on (required); vxlan, tunnels: the underlay device (ip's `dev`). */
  link?: string;
  /** vlan: the VLAN id; vxlan: the VNI. */
  id?: number;
  /** macvlan: 'private' | 'vepa' | 'bridge' | 'passthru' | 'source'. */
  mode?: string;
  /** vxlan (IPv4 or IPv6), ipip/gre/sit (IPv4): tunnel endpoints. */
  local?: string;
  remote?: string;
  /** vxlan: the UDP destination port (ip's dstport; the kernel's default is 8472). */
  port?: number;
  ttl?: number;
}

/** What `h.update` changes: `ip link set dev NAME up|down mtu N address MAC master M|nomaster netns NS name NEW`. */
export interface UpdateLinkInput {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** null takes it out of its bridge. */
  master?: string | null;
  /** Moves it to another namespace (a name from `ip netns add`, or a path). */
  netns?: string;
  /** Renames it (the kernel refuses while it is up). */
  name?: string;
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
  /**
   * An aborted signal rejects with an AbortedError (name 'AbortError', code 'ABORT_ERR') and
   * changes nothing; checked on entry and when the call's turn comes, before its one batch is
   * sent: once sent, the call runs to its end (its undo on a refusal included).
   */
  signal?: AbortSignal;
  /**
   * Called with `{ done, total }` in address requests while the kernel takes the batch, and once
   * at the end (see ProgressCallback); after a refusal the final `done` is what stays applied
   * once the call put back what it changed (0 when it could).
   */
  onProgress?: ProgressCallback;
}

export interface DelAddressesOptions {
  /** Addresses not on the link are not an error. */
  exist?: boolean;
  /** @deprecated Use `exist`; stays for one release. */
  missingOk?: boolean;
  /**
   * An aborted signal rejects with an AbortedError (name 'AbortError', code 'ABORT_ERR') and
   * changes nothing; checked on entry and when the call's turn comes, before its one batch is
   * sent: once sent, the call runs to its end (its undo on a refusal included).
   */
  signal?: AbortSignal;
  /**
   * Called with `{ done, total }` in address requests while the kernel takes the batch, and once
   * at the end (see ProgressCallback); after a refusal the final `done` is what stays applied
   * once the call put back what it changed (0 when it could).
   */
  onProgress?: ProgressCallback;
}

/** Options of h.addresses.sync(). */
export interface SyncAddressesOptions {
  /**
   * An aborted signal rejects with an AbortedError (name 'AbortError', code 'ABORT_ERR') and
   * changes nothing; checked on entry and when the call's turn comes, before its one batch is
   * sent: once sent, the call runs to its end (its undo on a refusal included).
   */
  signal?: AbortSignal;
  /**
   * Called with `{ done, total }` in address requests while the kernel takes the batch, and once
   * at the end (see ProgressCallback); after a refusal the final `done` is what stays applied
   * once the call put back what it changed (0 when it could).
   */
  onProgress?: ProgressCallback;
}

/** @deprecated What the deprecated syncAddresses() returns; h.addresses.sync() returns AddressSyncResult. */
export interface SyncResult {
  /** What was added and removed, as `ADDRESS/PREFIXLEN`. */
  added: string[];
  removed: string[];
}
