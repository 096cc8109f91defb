// The iptables mode: the whole data plane is the nat table, as kube-proxy's iptables mode
// writes it. KUBE-SERVICES matches a service's address and port and jumps to its KUBE-SVC-*
// chain, which picks an endpoint with `statistic` rules and jumps to that endpoint's KUBE-SEP-*
// chain, which DNATs. One `iptables-restore --noflush -T nat` text per change and family (IPv6
// services go to ip6tables, as kube-proxy's second proxier does): our chains are declared (so
// flushed and rewritten), chains no longer wanted are deleted, everyone else's rules stay.
// NodePorts as kube-proxy writes them: the last rule of KUBE-SERVICES sends what is addressed
// to any local address (`-m addrtype --dst-type LOCAL`) to KUBE-NODEPORTS, which matches the
// port and jumps to the service's KUBE-EXT-* chain: mark for masquerade, then KUBE-SVC-*.
import { type Family, type ProxyConfig, type ServiceSpec, clusterCIDRFor } from './config.js';
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

/**
 * The restore text (for `{ noflush: true, table: 'nat', family }`) that makes `current` (that
 * family's nat table) serve the services of `config` of that family.
 */
export function iptablesModeRules(config: ProxyConfig, current: NatState, family: Family = 4): string {
  const chains = [KUBE_SERVICES, KUBE_POSTROUTING, KUBE_MARK_MASQ, KUBE_NODEPORTS];
  const rules: string[] = [...MASQ_RULES];
  for (const s of config.services) {
    if (s.family !== family) continue;
    const r = serviceRules(s, config);
    chains.push(...r.chains);
    rules.push(...r.rules);
  }
  rules.push(NODEPORTS_JUMP);
  const wanted = new Set(chains);
  const stale = [...current.chains].filter((c) => /^KUBE-(SVC|SEP|EXT)-/.test(c) && !wanted.has(c)).sort();
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
