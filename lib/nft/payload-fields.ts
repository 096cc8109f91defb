// The header fields, meta keys and ct keys beyond the first ones (compile.ts holds those), as
// nft 1.0.6 names them (src/proto.c, meta.c, ct.c) and as `nft describe` lists their symbols.
// Registered in compile.ts's PAYLOAD / META_TYPES tables and in ir.ts's key tables; only
// byte-aligned fields here; the sub-byte ones (ip dscp, vlan id, ...) are in bitfields.ts.
import { PAYLOAD_BASE } from './ir.js';
import { BYTEORDER, TYPES, type DataType } from './datatypes.js';

const uintOf = (v: unknown, max: number): number | undefined => {
  const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max ? n : undefined;
};

/**
 * An integer of `len` bytes in the given byte order, optionally with nft's symbolic constants
 * (the first name of a value is the one nft prints; values without a name print as numbers).
 * @example symbolic('icmp_type', 14, 1, BYTEORDER.BIG, { 'echo-request': 8 }).parse('echo-request') // <Buffer 08>
 */
export function symbolic(name: string, id: number, len: number, byteorder: number, names: Record<string, number> = {}): DataType {
  const max = 2 ** (8 * len) - 1;
  return {
    name, id, len, byteorder,
    parse(v) {
      const n = (typeof v === 'string' ? names[v] : undefined) ?? uintOf(v, max);
      if (n === undefined) return undefined;
      const b = Buffer.alloc(len);
      if (byteorder === BYTEORDER.HOST) b.writeUIntLE(n, 0, len); else b.writeUIntBE(n, 0, len);
      return b;
    },
    format(b) {
      const n = byteorder === BYTEORDER.HOST ? b.readUIntLE(0, len) : b.readUIntBE(0, len);
      return Object.keys(names).find((k) => names[k] === n) ?? n;
    },
  };
}

const be = (len: number) => symbolic('integer', 4, len, BYTEORDER.BIG);
const host = (len: number) => symbolic('integer', 4, len, BYTEORDER.HOST);

/** tcp flag bits by nft's names (the tcp_flag type; `in` tests and `&` masks in bitfields.ts). */
export const TCP_FLAG_NAMES: Record<string, number> = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ecn: 0x40, cwr: 0x80 };

export const EXTRA_TYPES = {
  tcp_flag: symbolic('tcp_flag', 15, 1, BYTEORDER.BIG, TCP_FLAG_NAMES),
  icmp_type: symbolic('icmp_type', 14, 1, BYTEORDER.BIG, {
    'echo-reply': 0, 'destination-unreachable': 3, 'source-quench': 4, redirect: 5, 'echo-request': 8, 'router-advertisement': 9,
    'router-solicitation': 10, 'time-exceeded': 11, 'parameter-problem': 12, 'timestamp-request': 13, 'timestamp-reply': 14,
    'info-request': 15, 'info-reply': 16, 'address-mask-request': 17, 'address-mask-reply': 18,
  }),
  icmp_code: symbolic('icmp_code', 32, 1, BYTEORDER.BIG, {
    'net-unreachable': 0, 'host-unreachable': 1, 'prot-unreachable': 2, 'port-unreachable': 3, 'net-prohibited': 9,
    'host-prohibited': 10, 'admin-prohibited': 13, 'frag-needed': 4,
  }),
  icmpv6_type: symbolic('icmpv6_type', 29, 1, BYTEORDER.BIG, {
    'destination-unreachable': 1, 'packet-too-big': 2, 'time-exceeded': 3, 'parameter-problem': 4, 'echo-request': 128,
    'echo-reply': 129, 'mld-listener-query': 130, 'mld-listener-report': 131, 'mld-listener-done': 132, 'mld-listener-reduction': 132,
    'nd-router-solicit': 133, 'nd-router-advert': 134, 'nd-neighbor-solicit': 135, 'nd-neighbor-advert': 136, 'nd-redirect': 137,
    'router-renumbering': 138, 'ind-neighbor-solicit': 141, 'ind-neighbor-advert': 142, 'mld2-listener-report': 143,
  }),
  icmpv6_code: symbolic('icmpv6_code', 33, 1, BYTEORDER.BIG, {
    'no-route': 0, 'admin-prohibited': 1, 'addr-unreachable': 3, 'port-unreachable': 4, 'policy-fail': 5, 'reject-route': 6,
  }),
  pkt_type: symbolic('pkt_type', 31, 1, BYTEORDER.HOST, { host: 0, unicast: 0, broadcast: 1, multicast: 2, other: 3 }),
  nf_proto: symbolic('nf_proto', 2, 1, BYTEORDER.HOST, { ipv4: 2, ipv6: 10 }),
  ct_dir: symbolic('ct_dir', 27, 1, BYTEORDER.HOST, { original: 0, reply: 1 }),
  iface_type: symbolic('iface_type', 21, 2, BYTEORDER.HOST, { ether: 1, ppp: 0x200, ipip: 0x300, ipip6: 0x301, loopback: 0x304, sit: 0x308, ipgre: 0x30a }),
  uid: symbolic('uid', 24, 4, BYTEORDER.HOST),
  gid: symbolic('gid', 25, 4, BYTEORDER.HOST),
  ether_addr: TYPES.ether_addr,
  /** ct state as a set key (`ct state { established, related }`): one flag an element. */
  ct_state: symbolic('ct_state', 26, 4, BYTEORDER.HOST, { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 }),
  ether_type: symbolic('ether_type', 10, 2, BYTEORDER.BIG, { ip: 0x0800, arp: 0x0806, ip6: 0x86dd, '8021q': 0x8100, '8021ad': 0x88a8, vlan: 0x8100 }),
} satisfies Record<string, DataType>;

type Field = [number, number, number, DataType];
const N = PAYLOAD_BASE.NETWORK, T = PAYLOAD_BASE.TRANSPORT, L = PAYLOAD_BASE.LL;

/** Header fields: protocol -> field -> [base, offset, len, type], in header order (nft's templates). */
export const EXTRA_PAYLOAD: Record<string, Record<string, Field>> = {
  ip: {
    length: [N, 2, 2, be(2)], id: [N, 4, 2, be(2)], 'frag-off': [N, 6, 2, be(2)], ttl: [N, 8, 1, be(1)],
    protocol: [N, 9, 1, TYPES.inet_proto], checksum: [N, 10, 2, be(2)],
  },
  ip6: { length: [N, 4, 2, be(2)], nexthdr: [N, 6, 1, TYPES.inet_proto], hoplimit: [N, 7, 1, be(1)] },
  tcp: { sequence: [T, 4, 4, be(4)], ackseq: [T, 8, 4, be(4)], flags: [T, 13, 1, EXTRA_TYPES.tcp_flag], window: [T, 14, 2, be(2)], checksum: [T, 16, 2, be(2)], urgptr: [T, 18, 2, be(2)] },
  udp: { length: [T, 4, 2, be(2)], checksum: [T, 6, 2, be(2)] },
  sctp: { sport: [T, 0, 2, TYPES.inet_service], dport: [T, 2, 2, TYPES.inet_service], vtag: [T, 4, 4, be(4)], checksum: [T, 8, 4, be(4)] },
  icmp: { type: [T, 0, 1, EXTRA_TYPES.icmp_type], code: [T, 1, 1, EXTRA_TYPES.icmp_code], checksum: [T, 2, 2, be(2)] },
  icmpv6: { type: [T, 0, 1, EXTRA_TYPES.icmpv6_type], code: [T, 1, 1, EXTRA_TYPES.icmpv6_code], checksum: [T, 2, 2, be(2)] },
  ether: { daddr: [L, 0, 6, EXTRA_TYPES.ether_addr], saddr: [L, 6, 6, EXTRA_TYPES.ether_addr], type: [L, 12, 2, EXTRA_TYPES.ether_type] },
};

/** Fields that are their header's protocol key (nft's EXPR_F_PROTOCOL: a merge keeps their place). */
export const PROTOCOL_FIELDS = new Set(['ip protocol', 'ip6 nexthdr', 'ether type']);

/** Transport protocols by the meta l4proto value nft's dependency matches (and the network protocol they need). */
export const L4_PROTOCOLS: Record<string, { l4: number; nfproto?: number } | undefined> = {
  tcp: { l4: 6 }, udp: { l4: 17 }, sctp: { l4: 132 }, icmp: { l4: 1, nfproto: 2 }, icmpv6: { l4: 58, nfproto: 10 },
};

/** nft's devgroup type (TYPE_DEVGROUP). */
const DEVGROUP = symbolic('devgroup', 35, 4, BYTEORDER.HOST, { default: 0 });

/** Meta keys beyond mark/iifname/oifname/l4proto with their types (their numbers: ir.ts META_KEY). */
export const EXTRA_META: Record<string, DataType> = {
  length: host(4), iiftype: EXTRA_TYPES.iface_type, oiftype: EXTRA_TYPES.iface_type, skuid: EXTRA_TYPES.uid, skgid: EXTRA_TYPES.gid,
  pkttype: EXTRA_TYPES.pkt_type, cpu: host(4), nfproto: EXTRA_TYPES.nf_proto,
  // meta protocol: the link layer's ether type; device groups named as Debian's /etc/iproute2/group names them (0: default); cgroup: the net_cls class id.
  protocol: EXTRA_TYPES.ether_type, iifgroup: DEVGROUP, oifgroup: DEVGROUP, cgroup: host(4),
};
/** ct keys by nft's JSON name: the kernel key, the value type (or the table family's address), whether a direction is required. */
export const EXTRA_CT: Record<string, { key: number; type: DataType | 'addr'; dir: boolean } | undefined> = {
  direction: { key: 1, type: EXTRA_TYPES.ct_dir, dir: false },
  l3proto: { key: 7, type: EXTRA_TYPES.nf_proto, dir: false },
  protocol: { key: 10, type: TYPES.inet_proto, dir: false },
  zone: { key: 17, type: host(2), dir: false },
  saddr: { key: 8, type: 'addr', dir: true },
  daddr: { key: 9, type: 'addr', dir: true },
  'proto-src': { key: 11, type: TYPES.inet_service, dir: true },
  'proto-dst': { key: 12, type: TYPES.inet_service, dir: true },
  'ip saddr': { key: 19, type: TYPES.ipv4_addr, dir: true },
  'ip daddr': { key: 20, type: TYPES.ipv4_addr, dir: true },
  'ip6 saddr': { key: 21, type: TYPES.ipv6_addr, dir: true },
  'ip6 daddr': { key: 22, type: TYPES.ipv6_addr, dir: true },
};
export const CT_DIRS = ['original', 'reply'];

/** typeof records (typeof.ts): nft's proto_desc_id of these protocols and its header template indexes of these fields. */
export const TYPEOF_DESC: Record<string, number> = { icmp: 4, sctp: 10, icmpv6: 14, ether: 17 };
export const TYPEOF_FIELD: Record<string, Record<string, number>> = {
  ip: { length: 5, id: 6, 'frag-off': 7, ttl: 8, protocol: 9, checksum: 10 },
  ip6: { length: 5, nexthdr: 6, hoplimit: 7 },
  tcp: { sequence: 3, ackseq: 4, flags: 7, window: 8, checksum: 9, urgptr: 10 },
  udp: { length: 3, checksum: 4 },
  sctp: { sport: 1, dport: 2, vtag: 3, checksum: 4 },
  icmp: { type: 1, code: 2, checksum: 3 },
  icmpv6: { type: 1, code: 2, checksum: 3 },
  ether: { daddr: 1, saddr: 2, type: 3 },
};

/**
 * nft's iface_index type (`meta iif "lo"`): names resolved to the namespace's interface
 * indexes (`index`) when encoding and back (`name`) when listing; nft prints an index without a
 * name as a number. One per call: the mapping belongs to a namespace at a moment.
 * @example ifaceIndexType((n) => (n === 'lo' ? 1 : undefined), () => undefined).parse('lo') // <Buffer 01 00 00 00>
 */
export function ifaceIndexType(index: (name: string) => number | undefined, name: (i: number) => string | undefined): DataType {
  return {
    name: 'iface_index', id: 20, len: 4, byteorder: BYTEORDER.HOST,
    parse(v) {
      const n = typeof v === 'string' ? index(v) : typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 0xffffffff ? v : undefined;
      if (n === undefined) return undefined;
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    },
    format: (b) => name(b.readUInt32LE(0)) ?? b.readUInt32LE(0),
  };
}

/** The iface_index type without a namespace (typeof records and key lengths only). */
export const IFACE_INDEX = ifaceIndexType(() => undefined, () => undefined);
