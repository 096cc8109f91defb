// The iptables mode: the whole data plane is the nat table, as kube-proxy's iptables mode
// writes it. KUBE-SERVICES matches a service's address and port and jumps to its KUBE-SVC-*
// chain, which picks an endpoint with `statistic` rules and jumps to that endpoint's KUBE-SEP-*
// chain, which DNATs. One `iptables-restore --noflush -T nat` text per change: our chains are
// declared (so flushed and rewritten), chains no longer wanted are deleted, everyone else's
// rules stay.
import type { ProxyConfig, ServiceSpec } from './config.js';
import {
  KUBE_MARK_MASQ, KUBE_POSTROUTING, KUBE_SERVICES, MASQ_RULES, type NatState, comment, endpointChain, missingJumps, serviceChain,
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
  const vip = `-d ${s.address}/32 ${protoMatch(s)} -m comment --comment ${comment(`${s.name} cluster IP`)} -m ${s.protocol} --dport ${s.port}`;
  const named = `-m comment --comment ${comment(s.name)}`;
  const chains = [svc];
  const rules = [`-A ${KUBE_SERVICES} ${vip} -j ${svc}`];
  if (config.masqueradeAll) rules.push(`-A ${svc} ${vip} -j ${KUBE_MARK_MASQ}`);
  else if (config.clusterCIDR) rules.push(`-A ${svc} ! -s ${config.clusterCIDR} ${vip} -j ${KUBE_MARK_MASQ}`);
  let remaining = active.reduce((sum, e) => sum + e.weight, 0);
  const sepRules: string[] = [];
  active.forEach((e, i) => {
    const sep = endpointChain(s.name, s.protocol, `${e.address}:${e.port}`);
    chains.push(sep);
    const last = i === active.length - 1;
    rules.push(`-A ${svc} ${named}${last ? '' : ` -m statistic --mode random --probability ${probability(e.weight, remaining)}`} -j ${sep}`);
    remaining -= e.weight;
    // Hairpin: an endpoint reaching its own service must see the reply come back through us.
    sepRules.push(`-A ${sep} -s ${e.address}/32 ${named} -j ${KUBE_MARK_MASQ}`);
    sepRules.push(`-A ${sep} ${protoMatch(s)} ${named} -m ${s.protocol} -j DNAT --to-destination ${e.address}:${e.port}`);
  });
  return { chains, rules: [...rules, ...sepRules] };
}

/** The restore text (for `{ noflush: true, table: 'nat' }`) that makes `current` serve `config`. */
export function iptablesModeRules(config: ProxyConfig, current: NatState): string {
  const chains = [KUBE_SERVICES, KUBE_POSTROUTING, KUBE_MARK_MASQ];
  const rules: string[] = [...MASQ_RULES];
  for (const s of config.services) {
    const r = serviceRules(s, config);
    chains.push(...r.chains);
    rules.push(...r.rules);
  }
  const wanted = new Set(chains);
  const stale = [...current.chains].filter((c) => /^KUBE-(SVC|SEP)-/.test(c) && !wanted.has(c)).sort();
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
