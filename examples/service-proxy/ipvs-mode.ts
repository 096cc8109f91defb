// The ipvs mode, as kube-proxy's: every service address sits on a dummy interface so the node
// accepts its packets, where IPVS picks a real server; the services' address:port pairs go into
// one ipset, and a constant handful of nat rules matches that set to mark what needs
// masquerading. A change touches IPVS and the set; the iptables rules never change with it.
import type { ipvs } from '../../lib/index.js';
import type { ProxyConfig } from './config.js';
import { KUBE_MARK_MASQ, KUBE_POSTROUTING, KUBE_SERVICES, MASQ_RULES, type NatState, comment, missingJumps } from './chains.js';

export const DUMMY = 'kube-ipvs0';
export const CLUSTER_IP_SET = 'KUBE-CLUSTER-IP';
export const CLUSTER_IP_SET_TYPE = 'hash:ip,port';

export interface IpvsServicePlan {
  protocol: 'tcp' | 'udp' | 'sctp';
  address: string;
  port: number;
  scheduler: ipvs.Scheduler;
  /** Weight 0 stays listed: IPVS sends it no new connections and lets open ones finish. */
  destinations: { address: string; port: number; weight: number; forward: 'masq' }[];
}

export interface IpvsPlan {
  services: IpvsServicePlan[];
  /** KUBE-CLUSTER-IP members, as ipset writes them. */
  clusterIPs: string[];
  /** The addresses on kube-ipvs0. */
  addresses: string[];
}

export function ipvsPlan(config: ProxyConfig): IpvsPlan {
  const services = config.services.map((s) => ({
    protocol: s.protocol,
    address: s.address,
    port: s.port,
    scheduler: s.scheduler as ipvs.Scheduler,  // from JSON: config.ts checks its shape, the kernel knows the names
    destinations: s.endpoints.map((e) => ({ address: e.address, port: e.port, weight: e.weight, forward: 'masq' as const })),
  }));
  const clusterIPs = config.services.map((s) => `${s.address},${s.protocol}:${s.port}`);
  const addresses = [...new Set(config.services.map((s) => `${s.address}/32`))];
  return { services, clusterIPs, addresses };
}

/**
 * The nat rules of the ipvs mode: they depend on the masquerade settings only, never on the
 * services. Restored with `{ noflush: true, table: 'nat' }`.
 */
export function ipvsModeRules(config: ProxyConfig, current: NatState): string {
  const masq = comment('Kubernetes service cluster ip + port for masquerade purpose');
  const match = `-m set --match-set ${CLUSTER_IP_SET} dst,dst`;
  const rules = [...MASQ_RULES];
  if (config.masqueradeAll) rules.push(`-A ${KUBE_SERVICES} -m comment --comment ${masq} ${match} -j ${KUBE_MARK_MASQ}`);
  else if (config.clusterCIDR) rules.push(`-A ${KUBE_SERVICES} ! -s ${config.clusterCIDR} -m comment --comment ${masq} ${match} -j ${KUBE_MARK_MASQ}`);
  // Accepted here, the packet goes on to the local input path, where IPVS takes it.
  rules.push(`-A ${KUBE_SERVICES} ${match} -j ACCEPT`);
  return [
    '*nat',
    ...[KUBE_SERVICES, KUBE_POSTROUTING, KUBE_MARK_MASQ].map((c) => `:${c} - [0:0]`),
    ...missingJumps(current),
    ...rules,
    'COMMIT',
    '',
  ].join('\n');
}
