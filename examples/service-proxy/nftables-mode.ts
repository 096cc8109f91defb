// The nftables mode: tables `ip nlkit-proxy` and `ip6 nlkit-proxy` (one per family, as
// kube-proxy's two proxiers keep theirs) in kube-proxy's nftables shape
// (pkg/proxy/nftables/proxier.go): the base chains jump to `services`, whose first rule looks the
// packet's daddr . l4proto . dport up in the named verdict map `service-ips`; each service's
// chain marks what needs masquerading and picks an endpoint chain, which DNATs. NodePorts: the
// second rule of `services` looks l4proto . dport up in `service-nodeports` for packets to any
// local address (`fib daddr type local`, loopback excepted) and goes to the service's
// `external-*` chain, which marks for masquerade and goes on to the service chain. Every change
// is one nft.apply batch holding only what changed: changed services' chains are flushed and
// refilled, map elements added or deleted, chains no longer wanted flushed and deleted.
//
// Picking an endpoint: kube-proxy's scalable cascade without anonymous sets. Equal weights:
// `numgen random mod N-i == 0 goto endpoint-i`, the last one unconditional. Unequal weights
// (divided by their gcd): with R the sum of the weights still left, `numgen random mod R < w_i
// goto endpoint-i` for each endpoint but the last (R -= w_i), the last unconditional; endpoint i
// is then taken with probability w_i / SUM, and no anonymous map is made (those are what make
// kube-proxy's loads quadratic, see the nft issue).
import { type Family, type ProxyConfig, type ServiceSpec, clusterCIDRFor, sameService } from './config.js';
import { hash16 } from './chains.js';

export const TABLE = 'nlkit-proxy';
/** nft's table family for an IP family. */
export const nftFamily = (f: Family) => (f === 6 ? 'ip6' : 'ip');
const FAMILIES: readonly Family[] = [4, 6];
const MASQ_BIT = 0x4000;

type Command = Record<string, unknown>;
const tbl = (f: Family) => ({ family: nftFamily(f), table: TABLE });
const pl = (protocol: string, field: string) => ({ payload: { protocol, field } });
const eq = (left: object, right: unknown, op = '==') => ({ match: { op, left, right } });
const mark = { meta: { key: 'mark' } };
const chain = (f: Family, name: string, base?: object): Command => ({ add: { chain: { ...tbl(f), name, ...base } } });
const rule = (f: Family, chainName: string, expr: object[]): Command => ({ add: { rule: { ...tbl(f), chain: chainName, expr } } });
const flushChain = (f: Family, name: string): Command => ({ flush: { chain: { ...tbl(f), name } } });
const deleteChain = (f: Family, name: string): Command => ({ delete: { chain: { ...tbl(f), name } } });

/** kube-proxy's chain names: a hash for uniqueness, then something a person can read. */
const readable = (s: ServiceSpec) => `${s.name.replace(/:/g, '/')}/${s.protocol}`;
export const serviceChainName = (s: ServiceSpec) => `service-${hash16(s.name + s.protocol).slice(0, 8)}-${readable(s)}`;
export const endpointChainName = (s: ServiceSpec, address: string, port: number) =>
  `endpoint-${hash16(`${s.name}${s.protocol}${address}:${port}`).slice(0, 8)}-${readable(s)}__${address}/${port}`;
export const externalChainName = (s: ServiceSpec) => `external-${hash16(s.name + s.protocol).slice(0, 8)}-${readable(s)}`;

/** One service as the table holds it; undefined when no endpoint takes traffic (no element). */
export interface RenderedService {
  family: Family;
  chain: string;
  rules: object[][];
  /** Endpoint chain name -> its rules. */
  endpoints: Map<string, object[][]>;
  key: [string, string, number];
  /** NodePort: its service-nodeports key and external chain. */
  nodePort?: { key: [string, number]; chain: string; rules: object[][] };
}
export type Rendered = Map<string, RenderedService>;

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

function renderService(s: ServiceSpec, config: ProxyConfig): RenderedService | undefined {
  const active = s.endpoints.filter((e) => e.weight > 0);
  if (!active.length) return undefined;
  const svc = serviceChainName(s);
  const ip = nftFamily(s.family);
  const rules: object[][] = [];
  const masq = [{ jump: { target: 'mark-for-masquerade' } }];
  const cidr = clusterCIDRFor(config, s.family);
  if (config.masqueradeAll) rules.push(masq);
  else if (cidr) {
    const [addr, len] = cidr.split('/');
    rules.push([eq(pl(ip, 'saddr'), { prefix: { addr, len: Number(len) } }, '!='), ...masq]);
  }
  const endpoints = new Map<string, object[][]>();
  const names = active.map((e) => {
    const name = endpointChainName(s, e.address, e.port);
    endpoints.set(name, [
      // Hairpin: an endpoint reaching its own service must see the answer come back through us.
      [eq(pl(ip, 'saddr'), e.address), ...masq],
      [eq({ meta: { key: 'l4proto' } }, s.protocol), { dnat: { addr: e.address, port: e.port } }],
    ]);
    return name;
  });
  const g = active.reduce((a, e) => gcd(a, e.weight), 0);
  const weights = active.map((e) => e.weight / g);
  const equal = weights.every((w) => w === 1);
  let left = weights.reduce((a, w) => a + w, 0);
  names.forEach((name, i) => {
    const w = weights[i]!;
    const pick = { numgen: { mode: 'random', mod: left, offset: 0 } };
    rules.push(i === names.length - 1 ? [{ goto: { target: name } }]
      : [equal ? eq(pick, 0) : eq(pick, w, '<'), { goto: { target: name } }]);
    left -= w;
  });
  const out: RenderedService = { family: s.family, chain: svc, rules, endpoints, key: [s.address, s.protocol, s.port] };
  if (s.nodePort !== undefined) {
    // kube-proxy's external chain (externalTrafficPolicy Cluster): every NodePort connection is masqueraded.
    out.nodePort = { key: [s.protocol, s.nodePort], chain: externalChainName(s), rules: [masq, [{ goto: { target: svc } }]] };
  }
  return out;
}

/**
 * What the table should hold for `config`, by service name. `previous`: the config last rendered
 * and its rendering; a service whose spec did not change (nor the masquerade settings) keeps its
 * rendered object, so one changed endpoint among 10k services renders one service, and
 * nftModeCommands skips the others by identity.
 * @example const rendered = renderNft(config, { config: before, rendered: renderedBefore });
 */
export function renderNft(config: ProxyConfig, previous?: { config: ProxyConfig; rendered: Rendered }): Rendered {
  const out: Rendered = new Map();
  const reuse = previous && previous.config.masqueradeAll === config.masqueradeAll && previous.config.clusterCIDR === config.clusterCIDR
    ? new Map(previous.config.services.map((s) => [s.name, s])) : undefined;
  for (const s of config.services) {
    const old = reuse?.get(s.name);
    if (old && previous!.rendered.has(s.name) && sameService(old, s)) {
      out.set(s.name, previous!.rendered.get(s.name)!);
      continue;
    }
    const r = renderService(s, config);
    if (r) out.set(s.name, r);
  }
  return out;
}

const element = (op: 'add' | 'delete', r: RenderedService): Command =>
  ({ [op]: { element: { ...tbl(r.family), name: 'service-ips', elem: [[{ concat: r.key }, { goto: { target: r.chain } }]] } } });
const nodePortElement = (op: 'add' | 'delete', r: RenderedService): Command =>
  ({ [op]: { element: { ...tbl(r.family), name: 'service-nodeports', elem: [[{ concat: r.nodePort!.key }, { goto: { target: r.nodePort!.chain } }]] } } });

/** A family's table, its base chains, masquerading and the service maps: a cold start's first part. */
function skeleton(f: Family): Command[] {
  const ip = nftFamily(f);
  const svcKey = { concat: [pl(ip, 'daddr'), { meta: { key: 'l4proto' } }, pl('th', 'dport')] };
  const portKey = { concat: [{ meta: { key: 'l4proto' } }, pl('th', 'dport')] };
  const loopback = f === 6 ? '::1' : { prefix: { addr: '127.0.0.0', len: 8 } };
  const table = { family: ip, name: TABLE };
  return [
    // Whatever an earlier run left goes in the same transaction (add first: delete needs it to exist).
    { add: { table } },
    { delete: { table } },
    { add: { table } },
    chain(f, 'mark-for-masquerade'),
    rule(f, 'mark-for-masquerade', [{ mangle: { key: mark, value: { '|': [mark, MASQ_BIT] } } }]),
    chain(f, 'masquerading'),
    rule(f, 'masquerading', [eq({ '&': [mark, MASQ_BIT] }, 0), { return: null }]),
    // Clear the bit: a packet that goes round again is not masqueraded twice.
    rule(f, 'masquerading', [{ mangle: { key: mark, value: { '^': [mark, MASQ_BIT] } } }]),
    rule(f, 'masquerading', [{ masquerade: { flags: 'fully-random' } }]),
    { add: { map: { ...tbl(f), name: 'service-ips', type: [f === 6 ? 'ipv6_addr' : 'ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict' } } },
    { add: { map: { ...tbl(f), name: 'service-nodeports', type: ['inet_proto', 'inet_service'], map: 'verdict' } } },
    chain(f, 'services'),
    rule(f, 'services', [{ vmap: { key: svcKey, data: '@service-ips' } }]),
    rule(f, 'services', [
      eq({ fib: { result: 'type', flags: ['daddr'] } }, 'local'), eq(pl(ip, 'daddr'), loopback, '!='),
      { vmap: { key: portKey, data: '@service-nodeports' } },
    ]),
    chain(f, 'nat-prerouting', { type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' }),
    rule(f, 'nat-prerouting', [{ jump: { target: 'services' } }]),
    chain(f, 'nat-output', { type: 'nat', hook: 'output', prio: -100, policy: 'accept' }),
    rule(f, 'nat-output', [{ jump: { target: 'services' } }]),
    chain(f, 'nat-postrouting', { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' }),
    rule(f, 'nat-postrouting', [{ jump: { target: 'masquerading' } }]),
  ];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The one batch that turns the tables from `before` (undefined: not ours yet, a cold start that
 * replaces any tables of that name) into `after`. Empty when nothing changed.
 */
export function nftModeCommands(before: Rendered | undefined, after: Rendered): Command[] {
  const adds: Command[] = before ? [] : FAMILIES.flatMap(skeleton);
  const elementDeletes: Command[] = [];
  const elementAdds: Command[] = [];
  const removals: Command[] = [];
  const old = before ?? new Map<string, RenderedService>();
  const removeAll = (o: RenderedService) => {
    elementDeletes.push(element('delete', o));
    if (o.nodePort) elementDeletes.push(nodePortElement('delete', o));
    if (o.nodePort) removals.push(flushChain(o.family, o.nodePort.chain), deleteChain(o.family, o.nodePort.chain));
    removals.push(flushChain(o.family, o.chain), deleteChain(o.family, o.chain));
    for (const ep of o.endpoints.keys()) removals.push(flushChain(o.family, ep), deleteChain(o.family, ep));
  };
  for (const [name, r] of after) {
    let o = old.get(name);
    if (o === r) continue; // renderNft kept an unchanged service's rendering
    const f = r.family;
    // A service that changed family is a removal from one table and an addition to the other.
    if (o && o.family !== f) { removeAll(o); o = undefined; }
    // New endpoint chains first: the service's new rules jump to them.
    for (const [ep, rules] of r.endpoints) {
      if (o?.endpoints.has(ep)) continue;
      adds.push(chain(f, ep), ...rules.map((x) => rule(f, ep, x)));
    }
    if (!o || !same(o.key, r.key)) {
      if (o) elementDeletes.push(element('delete', o));
      elementAdds.push(element('add', r));
    }
    if (!same(o?.nodePort, r.nodePort)) {
      if (o?.nodePort) elementDeletes.push(nodePortElement('delete', o));
      if (r.nodePort) elementAdds.push(nodePortElement('add', r));
      if (o?.nodePort && o.nodePort.chain !== r.nodePort?.chain) removals.push(flushChain(f, o.nodePort.chain), deleteChain(f, o.nodePort.chain));
    }
    if (!o) adds.push(chain(f, r.chain));
    else if (same(o.rules, r.rules)) {
      if (r.nodePort && o.nodePort?.chain !== r.nodePort.chain) adds.push(chain(f, r.nodePort.chain), ...r.nodePort.rules.map((x) => rule(f, r.nodePort!.chain, x)));
      continue;
    } else adds.push(flushChain(f, r.chain));
    adds.push(...r.rules.map((x) => rule(f, r.chain, x)));
    // The external chain goes to the service chain: after it exists.
    if (r.nodePort && o?.nodePort?.chain !== r.nodePort.chain) adds.push(chain(f, r.nodePort.chain), ...r.nodePort.rules.map((x) => rule(f, r.nodePort!.chain, x)));
    // Refilled above, so nothing jumps to them any more.
    if (o) for (const ep of o.endpoints.keys()) if (!r.endpoints.has(ep)) removals.push(flushChain(f, ep), deleteChain(f, ep));
  }
  for (const [name, o] of old) if (!after.has(name)) removeAll(o);
  // Old keys leave the maps before new ones come: a new service may take a removed one's address or port.
  return [...adds, ...elementDeletes, ...elementAdds, ...removals];
}
