// Protocol, service and ICMP names as libipset resolves them: getprotobyname() and
// getservbyname() read /etc/protocols and /etc/services on a "files" system, read here once,
// when first needed; the ICMP names are libipset's own tables (lib/icmp.c, lib/icmpv6.c).
import { readFileSync } from 'node:fs';

interface NetDb {
  proto: Map<string, number>;
  protoName: Map<number, string>;
  /** `name/proto` -> port; undefined when /etc/services cannot be read (names are then taken on trust). */
  service?: Map<string, number>;
}
let netdb: NetDb | undefined;

const FALLBACK_PROTOCOLS = 'ip 0 IP\nicmp 1 ICMP\nigmp 2 IGMP\nipencap 4 IP-ENCAP\ntcp 6 TCP\nudp 17 UDP\n' +
  'ipv6 41 IPv6\ngre 47 GRE\nesp 50 IPSEC-ESP\nah 51 IPSEC-AH\nipv6-icmp 58 IPv6-ICMP\nospf 89 OSPFIGP\n' +
  'pim 103 PIM\nvrrp 112 VRRP\nl2tp 115 L2TP\nsctp 132 SCTP\nudplite 136 UDPLite\n';

function readEtc(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

function db(): NetDb {
  if (netdb) return netdb;
  const proto = new Map<string, number>();
  const protoName = new Map<number, string>();
  for (const line of (readEtc('/etc/protocols') ?? FALLBACK_PROTOCOLS).split('\n')) {
    const f = line.replace(/#.*/, '').trim().split(/\s+/);
    const num = Number(f[1]);
    if (f.length < 2 || !Number.isInteger(num)) continue;
    if (!protoName.has(num)) protoName.set(num, f[0]!);
    for (const n of [f[0]!, ...f.slice(2)]) if (!proto.has(n)) proto.set(n, num);
  }
  const text = readEtc('/etc/services');
  let service: Map<string, number> | undefined;
  if (text !== undefined) {
    service = new Map();
    for (const line of text.split('\n')) {
      const f = line.replace(/#.*/, '').trim().split(/\s+/);
      const m = /^(\d+)\/(\S+)$/.exec(f[1] ?? '');
      if (!m) continue;
      for (const n of [f[0]!, ...f.slice(2)]) {
        const key = `${n}/${m[2]}`;
        if (!service.has(key)) service.set(key, Number(m[1]));
      }
    }
  }
  return (netdb = { proto, protoName, ...(service ? { service } : {}) });
}

/** The number of a protocol name (getprotobyname(); libipset maps "icmpv6" itself), or -1. */
export function protoByName(name: string): number {
  if (name.length === 6 && name.toLowerCase() === 'icmpv6') return 58;
  return db().proto.get(name) ?? -1;
}

/** The name getprotobynumber() gives, which `ipset save` prints. */
export function protoName(num: number): string {
  return db().protoName.get(num) ?? String(num);
}

/** The port of a service name, -1 if unknown, -2 if the services database cannot be read. */
export function servicePort(name: string, proto: string): number {
  const s = db().service;
  return s ? s.get(`${name}/${proto}`) ?? -1 : -2;
}

export const ICMP: readonly [string, number, number][] = [
  ['echo-reply', 0, 0], ['pong', 0, 0], ['network-unreachable', 3, 0], ['host-unreachable', 3, 1],
  ['protocol-unreachable', 3, 2], ['port-unreachable', 3, 3], ['fragmentation-needed', 3, 4],
  ['source-route-failed', 3, 5], ['network-unknown', 3, 6], ['host-unknown', 3, 7],
  ['network-prohibited', 3, 9], ['host-prohibited', 3, 10], ['TOS-network-unreachable', 3, 11],
  ['TOS-host-unreachable', 3, 12], ['communication-prohibited', 3, 13],
  ['host-precedence-violation', 3, 14], ['precedence-cutoff', 3, 15], ['source-quench', 4, 0],
  ['network-redirect', 5, 0], ['host-redirect', 5, 1], ['TOS-network-redirect', 5, 2],
  ['TOS-host-redirect', 5, 3], ['echo-request', 8, 0], ['ping', 8, 0], ['router-advertisement', 9, 0],
  ['router-solicitation', 10, 0], ['ttl-zero-during-transit', 11, 0],
  ['ttl-zero-during-reassembly', 11, 1], ['ip-header-bad', 12, 0], ['required-option-missing', 12, 1],
  ['timestamp-request', 13, 0], ['timestamp-reply', 14, 0], ['address-mask-request', 17, 0],
  ['address-mask-reply', 18, 0],
];
export const ICMPV6: readonly [string, number, number][] = [
  ['no-route', 1, 0], ['communication-prohibited', 1, 1], ['address-unreachable', 1, 3],
  ['port-unreachable', 1, 4], ['packet-too-big', 2, 0], ['ttl-zero-during-transit', 3, 0],
  ['ttl-zero-during-reassembly', 3, 1], ['bad-header', 4, 0], ['unknown-header-type', 4, 1],
  ['unknown-option', 4, 2], ['echo-request', 128, 0], ['ping', 128, 0], ['echo-reply', 129, 0],
  ['pong', 129, 0], ['router-solicitation', 133, 0], ['router-advertisement', 134, 0],
  ['neighbour-solicitation', 135, 0], ['neigbour-solicitation', 135, 0],
  ['neighbour-advertisement', 136, 0], ['neigbour-advertisement', 136, 0], ['redirect', 137, 0],
];


/** The name `ipset save` prints for an ICMP(v6) type/code. */
export function icmpName(typecode: number, v6: boolean): string {
  const t = typecode >> 8;
  const c = typecode & 0xff;
  for (const [name, nt, nc] of v6 ? ICMPV6 : ICMP) if (nt === t && nc === c) return name;
  return `${t}/${c}`;
}
