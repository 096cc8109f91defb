// The iptables mode: the whole data plane is the nat table, as kube-proxy's iptables mode
// writes it. KUBE-SERVICES matches a service's address and port and jumps to its KUBE-SVC-*
// chain, which picks an endpoint with `statistic` rules and jumps to that endpoint's KUBE-SEP-*
// chain, which DNATs. One `iptables-restore --noflush -T nat` text per change and family (IPv6
// services go to ip6tables, as kube-proxy's second proxier does), everyone else's rules stay.
// As kube-proxy: the first is a full sync (iptablesModeRules: every chain of ours declared, so
// flushed and rewritten, stale ones deleted), the later ones partial (iptablesModeUpdate: only
// the chains whose rules changed, and the ones no longer wanted). On the legacy backend the
// kernel still takes the whole table at each change (IPT_SO_SET_REPLACE); what the partial sync
// saves is compiling, and reading the table as text, for every rule of every service.
// NodePorts as kube-proxy writes them: the last rule of KUBE-SERVICES sends what is addressed
// to any local address (`-m addrtype --dst-type LOCAL`) to KUBE-NODEPORTS, which matches the
// port and jumps to the service's KUBE-EXT-* chain: mark for masquerade, then KUBE-SVC-*.
import { type Family, type ProxyConfig, type ServiceSpec, clusterCIDRFor, sameService } from './config.js';
import {
  KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_SERVICES, MASQ_RULES, type NatState, comment, endpointChain, externalChain,
  hostPort, missingJumps, serviceChain,
} from './chains.js';

/**
 * The `--probability` that makes the i-th of the remaining rules take its share:
 * p_i = w_i / (w_i + w_{i+1} + ...). Printed as iptables-save prints it back: the kernel
 * keeps round(p * 2^31) and iptables prints that / 2^31 with 11 decimals, so what we write
 * is what `iptables-save` shows, and the share written is the share the kernel draws.
 */
export function probability(weight: number, remaining: number): string {
  const scaled = BigInt(Math.round((weight / remaining) * 0x80000000));
  // scaled / 2^31 to 11 decimals, rounded half to even as printf does, exactly.
  const q = scaled * 10n ** 11n;
  let n = q >> 31n;
  const r = q & 0x7fffffffn;
  if (r > 0x40000000n || (r === 0x40000000n && (n & 1n) === 1n)) n += 1n;
  const digits = n.toString().padStart(12, '0');
  return `${digits.slice(0, -11)}.${digits.slice(-11)}`;
}

const protoMatch = (s: ServiceSpec) => `-p ${s.protocol}`;

/** The chains and rules one service needs; none when no endpoint takes traffic. */
function serviceRules(s: ServiceSpec, config: ProxyConfig): { chains: string[]; rules: string[] } {
  const active = s.endpoints.filter((e) => e.weight > 0);
  if (!active.length) return { chains: [], rules: [] };
  const svc = serviceChain(s.name, s.protocol);
  const host = s.family === 6 ? 128 : 32;
  const vip = `-d ${s.address}/${host} ${protoMatch(s)} -m comment --comment ${comment(`${s.name} cluster IP`)} -m ${s.protocol} --dport ${s.port}`;
  const named = `-m comment --comment ${comment(s.name)}`;
  const chains = [svc];
  const rules = [`-A ${KUBE_SERVICES} ${vip} -j ${svc}`];
  const cidr = clusterCIDRFor(config, s.family);
  if (config.masqueradeAll) rules.push(`-A ${svc} ${vip} -j ${KUBE_MARK_MASQ}`);
  else if (cidr) rules.push(`-A ${svc} ! -s ${cidr} ${vip} -j ${KUBE_MARK_MASQ}`);
  if (s.nodePort !== undefined) {
    const ext = externalChain(s.name, s.protocol);
    chains.push(ext);
    rules.push(`-A ${KUBE_NODEPORTS} ${protoMatch(s)} ${named} -m ${s.protocol} --dport ${s.nodePort} -j ${ext}`);
    rules.push(`-A ${ext} -m comment --comment ${comment(`masquerade traffic for ${s.name} external destinations`)} -j ${KUBE_MARK_MASQ}`);
    rules.push(`-A ${ext} -j ${svc}`);
  }
  let remaining = active.reduce((sum, e) => sum + e.weight, 0);
  const sepRules: string[] = [];
  active.forEach((e, i) => {
    const sep = endpointChain(s.name, s.protocol, hostPort(e.address, e.port));
    chains.push(sep);
    const last = i === active.length - 1;
    rules.push(`-A ${svc} ${named}${last ? '' : ` -m statistic --mode random --probability ${probability(e.weight, remaining)}`} -j ${sep}`);
    remaining -= e.weight;
    // Hairpin: an endpoint reaching its own service must see the reply come back through us.
    sepRules.push(`-A ${sep} -s ${e.address}/${host} ${named} -j ${KUBE_MARK_MASQ}`);
    sepRules.push(`-A ${sep} ${protoMatch(s)} ${named} -m ${s.protocol} -j DNAT --to-destination ${hostPort(e.address, e.port)}`);
  });
  return { chains, rules: [...rules, ...sepRules] };
}

/** kube-proxy's jump to the node ports: the last rule of KUBE-SERVICES. */
export const NODEPORTS_JUMP = `-A ${KUBE_SERVICES} -m comment --comment ${comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL -j ${KUBE_NODEPORTS}`;

/** Our chains every table has, whatever the services. */
const BASE_CHAINS = [KUBE_SERVICES, KUBE_POSTROUTING, KUBE_MARK_MASQ, KUBE_NODEPORTS];

/** One service's part of the table: its rules in the order the full sync writes them, and by chain. */
export interface IptablesService {
  spec: ServiceSpec;
  /** Its own chains (KUBE-SVC-, KUBE-EXT-, KUBE-SEP-), in the order declared. */
  chains: string[];
  rules: string[];
  /** Its own chains' rules by chain. */
  own: Map<string, string[]>;
  /** Its rules in the shared chains: KUBE-SERVICES and KUBE-NODEPORTS. */
  entry: { services: string[]; nodePorts: string[] };
}

/**
 * One family's nat table as the iptables mode writes it for `config`, by service name.
 * renderIptables() keeps an unchanged service's rendering from the previous one, so one changed
 * endpoint among 10k services renders (and hashes the chain names of) one service, and
 * iptablesModeUpdate() compares only the services whose rendering is new.
 */
export interface IptablesRendering {
  config: ProxyConfig;
  family: Family;
  services: Map<string, IptablesService>;
}

function renderService(s: ServiceSpec, config: ProxyConfig): IptablesService {
  const { chains, rules } = serviceRules(s, config);
  const own = new Map<string, string[]>(chains.map((c) => [c, []]));
  const entry = { services: [] as string[], nodePorts: [] as string[] };
  for (const rule of rules) {
    // Every rule starts `-A CHAIN `.
    const chain = rule.slice(3, rule.indexOf(' ', 3));
    if (chain === KUBE_SERVICES) entry.services.push(rule);
    else if (chain === KUBE_NODEPORTS) entry.nodePorts.push(rule);
    else own.get(chain)!.push(rule);
  }
  return { spec: s, chains, rules, own, entry };
}

/**
 * What `config` makes of one family's nat table. `previous`: the last rendering of that family;
 * services whose spec (and the masquerade settings) did not change keep their rendering.
 * @example const next = renderIptables(config, 4, last); const text = iptablesModeUpdate(last, next);
 */
export function renderIptables(config: ProxyConfig, family: Family = 4, previous?: IptablesRendering): IptablesRendering {
  const reuse = previous && previous.family === family && previous.config.masqueradeAll === config.masqueradeAll
    && previous.config.clusterCIDR === config.clusterCIDR ? previous.services : undefined;
  const services: IptablesRendering['services'] = new Map();
  for (const s of config.services) {
    if (s.family !== family) continue;
    const old = reuse?.get(s.name);
    services.set(s.name, old && sameService(old.spec, s) ? old : renderService(s, config));
  }
  return { config, family, services };
}

const isOurs = (chain: string) => /^KUBE-(SVC|SEP|EXT)-/.test(chain);

/**
 * The restore text (for `{ noflush: true, table: 'nat', family }`) that makes `current` (that
 * family's nat table as read now) serve the services of `config` of that family: every chain of
 * ours declared (so flushed) and written, stale ones deleted, the jumps into ours added where
 * missing. kube-proxy's full sync; iptablesModeUpdate() is its partial one.
 */
export function iptablesModeRules(config: ProxyConfig, current: NatState, family: Family = 4, rendered = renderIptables(config, family)): string {
  const chains = [...BASE_CHAINS];
  const rules: string[] = [...MASQ_RULES];
  for (const r of rendered.services.values()) {
    chains.push(...r.chains);
    rules.push(...r.rules);
  }
  rules.push(NODEPORTS_JUMP);
  const wanted = new Set(chains);
  const stale = [...current.chains].filter((c) => isOurs(c) && !wanted.has(c)).sort();
  return [
    '*nat',
    ...[...chains, ...stale].map((c) => `:${c} - [0:0]`),
    ...missingJumps(current),
    ...rules,
    ...stale.map((c) => `-X ${c}`),
    'COMMIT',
    '',
  ].join('\n');
}

const sameRules = (a: string[] | undefined, b: string[]) => a === b || (a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]));

/** The rules of a shared chain: every service's entries there, in config order. */
const shared = (r: IptablesRendering, key: 'services' | 'nodePorts') => [...r.services.values()].flatMap((s) => s.entry[key]);

/**
 * kube-proxy's partial sync: the restore text (for `{ noflush: true, table: 'nat', family }`)
 * that turns the table `before` wrote into what `after` describes, naming only the chains whose
 * rules changed (declared, so flushed and refilled) and the chains no longer wanted (flushed,
 * then deleted); every other chain stays as it is. undefined when nothing changed.
 * @example const text = iptablesModeUpdate(last, renderIptables(config, 4, last)); if (text) await h.restore(text, { noflush: true, table: 'nat' });
 */
export function iptablesModeUpdate(before: IptablesRendering, after: IptablesRendering): string | undefined {
  const changed = new Map<string, string[]>();
  const stale: string[] = [];
  const services = [...shared(after, 'services'), NODEPORTS_JUMP];
  if (!sameRules([...shared(before, 'services'), NODEPORTS_JUMP], services)) changed.set(KUBE_SERVICES, services);
  const nodePorts = shared(after, 'nodePorts');
  if (!sameRules(shared(before, 'nodePorts'), nodePorts)) changed.set(KUBE_NODEPORTS, nodePorts);
  // Only the services rendered anew: a kept rendering is the same object.
  for (const [name, r] of after.services) {
    const o = before.services.get(name);
    if (o === r) continue;
    for (const [c, rules] of r.own) if (!sameRules(o?.own.get(c), rules)) changed.set(c, rules);
  }
  for (const [name, o] of before.services) {
    const r = after.services.get(name);
    if (o === r) continue;
    for (const c of o.own.keys()) if (!r?.own.has(c)) stale.push(c);
  }
  if (!changed.size && !stale.length) return undefined;
  stale.sort();
  return [
    '*nat',
    ...[...changed.keys(), ...stale].map((c) => `:${c} - [0:0]`),
    ...[...changed.values()].flat(),
    ...stale.map((c) => `-X ${c}`),
    'COMMIT',
    '',
  ].join('\n');
}
