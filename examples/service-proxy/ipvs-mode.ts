// The ipvs mode, as kube-proxy's: every service address sits on a dummy interface so the node
// accepts its packets, where IPVS picks a real server; the services' address:port pairs go into
// one ipset, and a constant handful of nat rules matches that set to mark what needs
// masquerading. A change touches IPVS and the set; the iptables rules never change with it.
// IPv6 services as kube-proxy's IPv6 proxier keeps them: inet6 IPVS services, /128 addresses on
// the dummy, the set KUBE-6-CLUSTER-IP (family inet6) and ip6tables rules. NodePorts as
// kube-proxy's ipvs mode makes them: one IPVS service per node address of the family at the node
// port, the ports in KUBE-NODE-PORT-<PROTO> (bitmap:port; KUBE-6-... for IPv6), and nat rules that
// send what is addressed to a local address (`-m addrtype --dst-type LOCAL`) to KUBE-NODE-PORT,
// which marks those ports' connections for masquerade.
import type { ipvs } from '../../lib/index.js';
import { type Family, type ProxyConfig, clusterCIDRFor, familyOf } from './config.js';
import { KUBE_MARK_MASQ, KUBE_POSTROUTING, KUBE_SERVICES, MASQ_RULES, type NatState, comment, missingJumps } from './chains.js';

export const DUMMY = 'kube-ipvs0';
export const CLUSTER_IP_SET = 'KUBE-CLUSTER-IP';
export const CLUSTER_IP_SET_TYPE = 'hash:ip,port';
export const KUBE_NODE_PORT = 'KUBE-NODE-PORT';
export const NODE_PORT_SET_TYPE = 'bitmap:port';
export const NODE_PORT_SET_RANGE = '0-65535';
/** kube-proxy's set names: KUBE-6-... for IPv6 (sets share one namespace across families). */
export const setName = (name: string, family: Family): string => (family === 6 ? name.replace(/^KUBE-/, 'KUBE-6-') : name);
export const nodePortSet = (protocol: string, family: Family): string => setName(`KUBE-NODE-PORT-${protocol.toUpperCase()}`, family);

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
  /** IPv6 services and NodePorts only (absent otherwise: an IPv4 config without NodePorts plans as before). */
  /** KUBE-6-CLUSTER-IP members. */
  clusterIPs6?: string[];
  /** Members of each node port set, by set name (KUBE-NODE-PORT-TCP, KUBE-6-NODE-PORT-UDP, ...). */
  nodePorts?: Record<string, string[]>;
}

/**
 * The IPVS services, set members and dummy addresses for `config`; NodePort services get one
 * IPVS service per address in `nodeAddresses` of their family (the node's own addresses, as
 * kube-proxy's --nodeport-addresses would list them).
 */
export function ipvsPlan(config: ProxyConfig, nodeAddresses: string[] = []): IpvsPlan {
  const services: IpvsServicePlan[] = [];
  for (const s of config.services) {
    const one = (address: string, port: number): IpvsServicePlan => ({
      protocol: s.protocol,
      address,
      port,
      scheduler: s.scheduler as ipvs.Scheduler,  // from JSON: config.ts checks its shape, the kernel knows the names
      destinations: s.endpoints.map((e) => ({ address: e.address, port: e.port, weight: e.weight, forward: 'masq' as const })),
    });
    services.push(one(s.address, s.port));
    if (s.nodePort !== undefined) for (const a of nodeAddresses) if (familyOf(a) === s.family) services.push(one(a, s.nodePort));
  }
  const member = (s: ProxyConfig['services'][number]) => `${s.address},${s.protocol}:${s.port}`;
  const v4 = config.services.filter((s) => s.family === 4), v6 = config.services.filter((s) => s.family === 6);
  const plan: IpvsPlan = {
    services,
    clusterIPs: v4.map(member),
    addresses: [...new Set(config.services.map((s) => `${s.address}/${s.family === 6 ? 128 : 32}`))],
  };
  if (v6.length) plan.clusterIPs6 = v6.map(member);
  const withPorts = config.services.filter((s) => s.nodePort !== undefined);
  if (withPorts.length) {
    plan.nodePorts = {};
    for (const s of withPorts) (plan.nodePorts[nodePortSet(s.protocol, s.family)] ??= []).push(String(s.nodePort));
  }
  return plan;
}

/**
 * The nat rules of the ipvs mode for one family: they depend on the masquerade settings and on
 * which node port sets exist (`nodePortSets`, from the plan), never on the services themselves.
 * Restored with `{ noflush: true, table: 'nat', family }`.
 */
export function ipvsModeRules(config: ProxyConfig, current: NatState, family: Family = 4, nodePortSets: string[] = []): string {
  const masq = comment('Kubernetes service cluster ip + port for masquerade purpose');
  const match = `-m set --match-set ${setName(CLUSTER_IP_SET, family)} dst,dst`;
  const rules = [...MASQ_RULES];
  const cidr = clusterCIDRFor(config, family);
  if (config.masqueradeAll) rules.push(`-A ${KUBE_SERVICES} -m comment --comment ${masq} ${match} -j ${KUBE_MARK_MASQ}`);
  else if (cidr) rules.push(`-A ${KUBE_SERVICES} ! -s ${cidr} -m comment --comment ${masq} ${match} -j ${KUBE_MARK_MASQ}`);
  // Accepted here, the packet goes on to the local input path, where IPVS takes it.
  rules.push(`-A ${KUBE_SERVICES} ${match} -j ACCEPT`);
  const chains = [KUBE_SERVICES, KUBE_POSTROUTING, KUBE_MARK_MASQ];
  const sets = nodePortSets.filter((n) => n.startsWith(setName('KUBE-NODE-PORT-', family)));
  if (sets.length) {
    chains.push(KUBE_NODE_PORT);
    rules.push(`-A ${KUBE_SERVICES} -m addrtype --dst-type LOCAL -j ${KUBE_NODE_PORT}`);
    for (const set of sets) {
      const proto = set.slice(set.lastIndexOf('-') + 1);
      rules.push(`-A ${KUBE_NODE_PORT} -p ${proto.toLowerCase()} -m comment --comment ${comment(`Kubernetes nodeport ${proto} port for masquerade purpose`)} -m set --match-set ${set} dst -j ${KUBE_MARK_MASQ}`);
    }
  }
  return [
    '*nat',
    ...chains.map((c) => `:${c} - [0:0]`),
    ...missingJumps(current),
    ...rules,
    'COMMIT',
    '',
  ].join('\n');
}

type Dest = IpvsServicePlan['destinations'][number];

/** What changed from one applied plan to the next, as the operations that make it so. */
export interface IpvsPlanChanges {
  services: { add: IpvsServicePlan[]; update: IpvsServicePlan[]; delete: IpvsServicePlan[] };
  /** Real servers of services that stay (a new service's come with it in `services.add`). */
  destinations: { service: IpvsServicePlan; add: Dest[]; update: Dest[]; delete: Dest[] }[];
  /** Members added to and deleted from each set. */
  sets: { name: string; add: string[]; delete: string[] }[];
  addresses: { add: string[]; delete: string[] };
  /** Whether there is nothing to do. */
  empty: boolean;
}

const serviceKey = (s: IpvsServicePlan) => `${s.protocol} ${s.address} ${s.port}`;
const destKey = (d: Dest) => `${d.address} ${d.port}`;

/** Members of `after` not in `before`, and the other way round. */
function listDiff(before: readonly string[], after: readonly string[]): { add: string[]; delete: string[] } {
  const b = new Set(before), a = new Set(after);
  return { add: after.filter((x) => !b.has(x)), delete: before.filter((x) => !a.has(x)) };
}

/** The sets a plan fills, by name. */
const planSets = (p: IpvsPlan): Map<string, string[]> => new Map([
  [CLUSTER_IP_SET, p.clusterIPs], ...(p.clusterIPs6 ? [[setName(CLUSTER_IP_SET, 6), p.clusterIPs6] as [string, string[]]] : []),
  ...Object.entries(p.nodePorts ?? {}),
]);

/**
 * The partial sync of the ipvs mode: the IPVS services and real servers, set members and dummy
 * addresses that differ between the plan last applied and the next, so that one changed endpoint
 * is one real server added and one deleted, not a sync that reads and compares every service.
 * undefined when the sets themselves come or go (the full sync creates them).
 * @example const ch = ipvsPlanChanges(applied, ipvsPlan(config)); if (ch && !ch.empty) queue(ch);
 */
export function ipvsPlanChanges(before: IpvsPlan, after: IpvsPlan): IpvsPlanChanges | undefined {
  const setsBefore = planSets(before), setsAfter = planSets(after);
  if (setsBefore.size !== setsAfter.size || [...setsAfter.keys()].some((k) => !setsBefore.has(k))) return undefined;
  const out: IpvsPlanChanges = {
    services: { add: [], update: [], delete: [] }, destinations: [], sets: [], addresses: listDiff(before.addresses, after.addresses), empty: true,
  };
  const old = new Map(before.services.map((s) => [serviceKey(s), s]));
  for (const s of after.services) {
    const o = old.get(serviceKey(s));
    old.delete(serviceKey(s));
    if (!o) { out.services.add.push(s); continue; }
    if (o.scheduler !== s.scheduler) out.services.update.push(s);
    if (o.destinations.length === s.destinations.length && o.destinations.every((d, i) => {
      const e = s.destinations[i]!;
      return d.address === e.address && d.port === e.port && d.weight === e.weight;
    })) continue;
    const was = new Map(o.destinations.map((d) => [destKey(d), d]));
    const ch = { service: s, add: [] as Dest[], update: [] as Dest[], delete: [] as Dest[] };
    for (const d of s.destinations) {
      const w = was.get(destKey(d));
      was.delete(destKey(d));
      if (!w) ch.add.push(d);
      else if (w.weight !== d.weight) ch.update.push(d);
    }
    ch.delete.push(...was.values());
    if (ch.add.length || ch.update.length || ch.delete.length) out.destinations.push(ch);
  }
  out.services.delete.push(...old.values());
  for (const [name, members] of setsAfter) {
    const d = listDiff(setsBefore.get(name)!, members);
    if (d.add.length || d.delete.length) out.sets.push({ name, ...d });
  }
  out.empty = !out.services.add.length && !out.services.update.length && !out.services.delete.length && !out.destinations.length
    && !out.sets.length && !out.addresses.add.length && !out.addresses.delete.length;
  return out;
}
