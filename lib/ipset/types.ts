// Public types of the ipset API. Field names follow ipset's own option names.
import type { ProtocolName } from '../core/protocols.js';

export type SetType =
  | 'bitmap:ip' | 'bitmap:ip,mac' | 'bitmap:port'
  | 'hash:ip' | 'hash:mac' | 'hash:ip,mac' | 'hash:net' | 'hash:net,net'
  | 'hash:ip,port' | 'hash:net,port' | 'hash:ip,port,ip' | 'hash:ip,port,net'
  | 'hash:ip,mark' | 'hash:net,port,net' | 'hash:net,iface' | 'list:set';

export const SET_TYPES: readonly SetType[] = [
  'bitmap:ip', 'bitmap:ip,mac', 'bitmap:port',
  'hash:ip', 'hash:mac', 'hash:ip,mac', 'hash:net', 'hash:net,net',
  'hash:ip,port', 'hash:net,port', 'hash:ip,port,ip', 'hash:ip,port,net',
  'hash:ip,mark', 'hash:net,port,net', 'hash:net,iface', 'list:set',
];

export type Family = 'inet' | 'inet6';

/** Options of `ipset create`; each maps to the option of the same name. */
export interface CreateOptions {
  family?: Family;
  hashsize?: number;
  maxelem?: number;
  bucketsize?: number;
  /** hash:ip, bitmap:ip: a prefix length (hash) or dotted mask / prefix (bitmap). */
  netmask?: number | string;
  /** hash:ip, hash:net,net, hash:ip,mark ... : `markmask` for hash:ip,mark. */
  markmask?: number;
  /** bitmap types: 'FROM-TO' or a CIDR ('192.168.0.0/16'); bitmap:port: '1024-65535'. */
  range?: string;
  /** Default timeout in seconds; also turns on per-entry timeouts (0 = permanent). */
  timeout?: number;
  counters?: boolean;
  comment?: boolean;
  skbinfo?: boolean;
  forceadd?: boolean;
  /** list:set: size. */
  size?: number;
  /** Fixes the hash seed (what `ipset save` prints as initval). */
  initval?: number;
}

/**
 * One member. A string is ipset's own element syntax (`10.0.0.1,tcp:80`, `10.0.0.0/8`,
 * `10.0.0.1-10.0.0.9`). An object names the parts; they are joined in the order of the
 * set's type name (ip, port, ip2, mac, mark, iface).
 */
export type Entry = string | EntryObject;

export interface EntryObject {
  /** An address, CIDR (`10.0.0.0/8`) or range (`10.0.0.1-10.0.0.9`). */
  ip?: string;
  /** A port, a range `80-90`, or a protocol with ICMP type (`icmp:ping`). */
  port?: number | string;
  /** Protocol of `port`: tcp (default where one is needed), udp, sctp, udplite, icmp, icmpv6, ... */
  proto?: ProtocolName;
  /** Second address part (hash:ip,port,ip, hash:ip,port,net, hash:net,net, hash:net,port,net). */
  ip2?: string;
  mac?: string;
  mark?: number;
  /** hash:net,iface: interface name; `physdev` marks a bridge port. */
  iface?: string;
  physdev?: boolean;
  /** list:set: member set, and optionally where to put it. */
  set?: string;
  before?: string;
  after?: string;
  /** Extensions. */
  timeout?: number;
  packets?: number | bigint;
  bytes?: number | bigint;
  comment?: string;
  skbmark?: number | string;
  skbprio?: string;
  skbqueue?: number;
  nomatch?: boolean;
}

/** A set as `ipset list` shows it. */
export interface SetInfo {
  name: string;
  type: SetType;
  revision: number;
  /** Every header option `ipset list` printed, typed where numeric/boolean. */
  header: SetHeader;
  sizeInMemory: number;
  references: number;
  numEntries: number;
  members?: Member[];
}

export interface SetHeader extends CreateOptions {
  family?: Family;
  /** Anything else the kernel reports that nlkit does not model yet, verbatim. */
  [option: string]: unknown;
}

/** A member as listed: the element in ipset's syntax plus its extensions. */
export interface Member {
  /** The element exactly as `ipset save` prints it (without extensions). */
  elem: string;
  timeout?: number;
  packets?: bigint;
  bytes?: bigint;
  comment?: string;
  skbmark?: string;
  skbprio?: string;
  skbqueue?: number;
  nomatch?: boolean;
}
