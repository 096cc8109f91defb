// The nftables mode: one table `ip nlkit-proxy` in kube-proxy's nftables shape
// (pkg/proxy/nftables/proxier.go): the base chains jump to `services`, whose one rule looks the
// packet's daddr . l4proto . dport up in the named verdict map `service-ips`; each service's
// chain marks what needs masquerading and picks an endpoint chain, which DNATs. Every change is
// one nft.apply batch holding only what changed: changed services' chains are flushed and
// refilled, map elements added or deleted, chains no longer wanted flushed and deleted.
//
// Picking an endpoint: equal weights use kube-proxy's scalable cascade without anonymous sets
// (`numgen random mod N-i == 0 goto endpoint-i`, the last one unconditional); unequal weights
// use an anonymous `numgen random mod SUM vmap { ... }` (weights divided by their gcd), the one
// anonymous map nlkit's nft encoder supports; nft has no `<` on numgen in nlkit (only ==, !=).
import type { ProxyConfig, ServiceSpec } from './config.js';
import { hash16 } from './chains.js';

export const TABLE = 'nlkit-proxy';
const T = { family: 'ip', table: TABLE } as const;
const MASQ_BIT = 0x4000;

type Command = Record<string, unknown>;
const pl = (protocol: string, field: string) => ({ payload: { protocol, field } });
const eq = (left: object, right: unknown, op = '==') => ({ match: { op, left, right } });
const mark = { meta: { key: 'mark' } };
const chain = (name: string, base?: object): Command => ({ add: { chain: { ...T, name, ...base } } });
const rule = (chainName: string, expr: object[]): Command => ({ add: { rule: { ...T, chain: chainName, expr } } });
const flushChain = (name: string): Command => ({ flush: { chain: { ...T, name } } });
const deleteChain = (name: string): Command => ({ delete: { chain: { ...T, name } } });

/** kube-proxy's chain names: a hash for uniqueness, then something a person can read. */
const readable = (s: ServiceSpec) => `${s.name.replace(/:/g, '/')}/${s.protocol}`;
export const serviceChainName = (s: ServiceSpec) => `service-${hash16(s.name + s.protocol).slice(0, 8)}-${readable(s)}`;
export const endpointChainName = (s: ServiceSpec, address: string, port: number) =>
  `endpoint-${hash16(`${s.name}${s.protocol}${address}:${port}`).slice(0, 8)}-${readable(s)}__${address}/${port}`;

/** One service as the table holds it; undefined when no endpoint takes traffic (no element). */
export interface RenderedService {
  chain: string;
  rules: object[][];
  /** Endpoint chain name -> its rules. */
  endpoints: Map<string, object[][]>;
  key: [string, string, number];
}
export type Rendered = Map<string, RenderedService>;

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

function renderService(s: ServiceSpec, config: ProxyConfig): RenderedService | undefined {
  const active = s.endpoints.filter((e) => e.weight > 0);
  if (!active.length) return undefined;
  const svc = serviceChainName(s);
  const rules: object[][] = [];
  const masq = [{ jump: { target: 'mark-for-masquerade' } }];
  if (config.masqueradeAll) rules.push(masq);
  else if (config.clusterCIDR) {
    const [addr, len] = config.clusterCIDR.split('/');
    rules.push([eq(pl('ip', 'saddr'), { prefix: { addr, len: Number(len) } }, '!='), ...masq]);
  }
  const endpoints = new Map<string, object[][]>();
  const names = active.map((e) => {
    const name = endpointChainName(s, e.address, e.port);
    endpoints.set(name, [
      // Hairpin: an endpoint reaching its own service must see the answer come back through us.
      [eq(pl('ip', 'saddr'), e.address), ...masq],
      [eq({ meta: { key: 'l4proto' } }, s.protocol), { dnat: { addr: e.address, port: e.port } }],
    ]);
    return name;
  });
  const g = active.reduce((a, e) => gcd(a, e.weight), 0);
  const weights = active.map((e) => e.weight / g);
  if (weights.every((w) => w === 1)) {
    names.forEach((name, i) => {
      const left = names.length - i;
      rules.push(left === 1 ? [{ goto: { target: name } }]
        : [eq({ numgen: { mode: 'random', mod: left, offset: 0 } }, 0), { goto: { target: name } }]);
    });
  } else {
    const entries: unknown[] = [];
    names.forEach((name, i) => {
      for (let k = 0; k < weights[i]!; k++) entries.push([entries.length, { goto: { target: name } }]);
    });
    rules.push([{ vmap: { key: { numgen: { mode: 'random', mod: entries.length, offset: 0 } }, data: { set: entries } } }]);
  }
  return { chain: svc, rules, endpoints, key: [s.address, s.protocol, s.port] };
}

/** What the table should hold for `config`, by service name. */
export function renderNft(config: ProxyConfig): Rendered {
  const out: Rendered = new Map();
  for (const s of config.services) {
    const r = renderService(s, config);
    if (r) out.set(s.name, r);
  }
  return out;
}

const element = (op: 'add' | 'delete', r: RenderedService): Command =>
  ({ [op]: { element: { ...T, name: 'service-ips', elem: [[{ concat: r.key }, { goto: { target: r.chain } }]] } } });

/** The table, its base chains, masquerading and the service map: a cold start's first part. */
function skeleton(): Command[] {
  const svcKey = { concat: [pl('ip', 'daddr'), { meta: { key: 'l4proto' } }, pl('th', 'dport')] };
  return [
    // Whatever an earlier run left goes in the same transaction (add first: delete needs it to exist).
    { add: { table: { family: 'ip', name: TABLE } } },
    { delete: { table: { family: 'ip', name: TABLE } } },
    { add: { table: { family: 'ip', name: TABLE } } },
    chain('mark-for-masquerade'),
    rule('mark-for-masquerade', [{ mangle: { key: mark, value: { '|': [mark, MASQ_BIT] } } }]),
    chain('masquerading'),
    rule('masquerading', [eq({ '&': [mark, MASQ_BIT] }, 0), { return: null }]),
    // Clear the bit: a packet that goes round again is not masqueraded twice.
    rule('masquerading', [{ mangle: { key: mark, value: { '^': [mark, MASQ_BIT] } } }]),
    rule('masquerading', [{ masquerade: { flags: 'fully-random' } }]),
    { add: { map: { ...T, name: 'service-ips', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict' } } },
    chain('services'),
    rule('services', [{ vmap: { key: svcKey, data: '@service-ips' } }]),
    chain('nat-prerouting', { type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' }),
    rule('nat-prerouting', [{ jump: { target: 'services' } }]),
    chain('nat-output', { type: 'nat', hook: 'output', prio: -100, policy: 'accept' }),
    rule('nat-output', [{ jump: { target: 'services' } }]),
    chain('nat-postrouting', { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' }),
    rule('nat-postrouting', [{ jump: { target: 'masquerading' } }]),
  ];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The one batch that turns the table from `before` (undefined: not ours yet, a cold start that
 * replaces any table of that name) into `after`. Empty when nothing changed.
 */
export function nftModeCommands(before: Rendered | undefined, after: Rendered): Command[] {
  const adds: Command[] = before ? [] : skeleton();
  const elementDeletes: Command[] = [];
  const elementAdds: Command[] = [];
  const removals: Command[] = [];
  const old = before ?? new Map<string, RenderedService>();
  for (const [name, r] of after) {
    const o = old.get(name);
    // New endpoint chains first: the service's new rules jump to them.
    for (const [ep, rules] of r.endpoints) {
      if (o?.endpoints.has(ep)) continue;
      adds.push(chain(ep), ...rules.map((x) => rule(ep, x)));
    }
    if (!o || !same(o.key, r.key)) {
      if (o) elementDeletes.push(element('delete', o));
      elementAdds.push(element('add', r));
    }
    if (!o) adds.push(chain(r.chain));
    else if (same(o.rules, r.rules)) continue;
    else adds.push(flushChain(r.chain));
    adds.push(...r.rules.map((x) => rule(r.chain, x)));
    // Refilled above, so nothing jumps to them any more.
    if (o) for (const ep of o.endpoints.keys()) if (!r.endpoints.has(ep)) removals.push(flushChain(ep), deleteChain(ep));
  }
  for (const [name, o] of old) {
    if (after.has(name)) continue;
    elementDeletes.push(element('delete', o));
    removals.push(flushChain(o.chain), deleteChain(o.chain));
    for (const ep of o.endpoints.keys()) removals.push(flushChain(ep), deleteChain(ep));
  }
  // Old keys leave the map before new ones come: a new service may take a removed one's address.
  return [...adds, ...elementDeletes, ...elementAdds, ...removals];
}
