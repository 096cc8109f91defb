// kube-proxy's nftables ruleset (pkg/proxy/nftables/proxier.go, the shape of proxier_test.go's
// expected rulesets) as libnftables JSON commands, for `services` ClusterIP services with
// `endpoints` endpoints each, in its IPv4 (`ip`) or IPv6 (`ip6`) table. No table, chain or set
// comments: nft 1.0.6's JSON parser drops them, and the differential tests compare with `nft -j -f`.
const pl = (protocol: string, field: string) => ({ payload: { protocol, field } });
const eq = (left: object, right: unknown, op = '==') => ({ match: { op, left, right } });
const mark = { meta: { key: 'mark' } };
const hex = (n: number) => n.toString(16);

/** What differs between kube-proxy's IPv4 and IPv6 tables (proxier.go's ipX, ipvX_addr). */
function familyOf(family: 'ip' | 'ip6') {
  const v6 = family === 'ip6';
  return {
    family, ipX: family, addrType: v6 ? 'ipv6_addr' : 'ipv4_addr',
    reject: { reject: { type: v6 ? 'icmpv6' : 'icmp', expr: 'port-unreachable' } },
    clusterCidr: v6 ? { prefix: { addr: 'fd00:10::', len: 64 } } : { prefix: { addr: '10.0.0.0', len: 8 } },
    serviceIp: (s: number) => (v6 ? `fd00:172:30::${hex(s >> 8)}:${hex(s & 255)}` : `172.30.${s >> 8}.${s & 255}`),
    endpointIp: (s: number, e: number) => (v6 ? `fd00:10:${hex(180 + (e % 8))}:${hex(s >> 8)}::${hex((s + e) & 255)}` : `10.${180 + (e % 8)}.${s >> 8}.${(s + e) & 255}`),
    noEndpointIp: v6 ? 'fd00:172:31::1' : '172.31.0.1',
  };
}

/**
 * kube-proxy's shape; `shape` 'cascade' writes each service's endpoint choice without an
 * anonymous map (`numgen random mod N-k == 0 goto endpoint-k`, the last endpoint unconditional),
 * the shape whose load the kernel does in linear time (issue 13).
 */
export function kubeProxyCommands(services: number, endpoints: number, shape: 'vmap' | 'cascade' = 'vmap', family: 'ip' | 'ip6' = 'ip'): object[] {
  const p = kubeProxyParts(services, endpoints, shape, family);
  return [...p.base, ...p.services.flat(), ...p.elements];
}

/**
 * The same ruleset as a staged first load (nft's applyStages): the table with its base chains
 * and empty maps, then the services' chains and rules `per` services a stage, then the map and
 * set elements that make them reachable.
 */
export function kubeProxyStages(services: number, endpoints: number, shape: 'vmap' | 'cascade', per: number, family: 'ip' | 'ip6' = 'ip'): object[][] {
  const p = kubeProxyParts(services, endpoints, shape, family);
  const stages = [p.base];
  for (let i = 0; i < p.services.length; i += per) stages.push(p.services.slice(i, i + per).flat());
  return [...stages, p.elements];
}

function kubeProxyParts(services: number, endpoints: number, shape: 'vmap' | 'cascade', family: 'ip' | 'ip6'): { base: object[]; services: object[][]; elements: object[] } {
  const F = familyOf(family);
  const T = { family, table: 'kube-proxy' };
  const chain = (name: string, base?: object) => ({ add: { chain: { ...T, name, ...base } } });
  const rule = (chain: string, expr: object[], comment?: string) => ({ add: { rule: { ...T, chain, expr, ...(comment ? { comment } : {}) } } });
  const svcKey = { concat: [pl(F.ipX, 'daddr'), { meta: { key: 'l4proto' } }, pl('th', 'dport')] };
  const c: object[] = [
    { add: { table: { family, name: 'kube-proxy' } } },
    chain('mark-for-masquerade'),
    rule('mark-for-masquerade', [{ mangle: { key: mark, value: { '|': [mark, 0x4000] } } }]),
    chain('masquerading'),
    rule('masquerading', [eq({ '&': [mark, 0x4000] }, 0), { return: null }]),
    rule('masquerading', [{ mangle: { key: mark, value: { '^': [mark, 0x4000] } } }]),
    rule('masquerading', [{ masquerade: { flags: 'fully-random' } }]),
    chain('services'),
    chain('service-endpoints-check'),
    chain('firewall-check'),
    chain('filter-input', { type: 'filter', hook: 'input', prio: -110, policy: 'accept' }),
    rule('filter-input', [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: 'new' } }, { jump: { target: 'service-endpoints-check' } }]),
    chain('filter-forward', { type: 'filter', hook: 'forward', prio: -110, policy: 'accept' }),
    rule('filter-forward', [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: 'new' } }, { jump: { target: 'firewall-check' } }]),
    chain('nat-output', { type: 'nat', hook: 'output', prio: -100, policy: 'accept' }),
    rule('nat-output', [{ jump: { target: 'services' } }]),
    chain('nat-postrouting', { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' }),
    rule('nat-postrouting', [{ jump: { target: 'masquerading' } }]),
    chain('nat-prerouting', { type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' }),
    rule('nat-prerouting', [{ jump: { target: 'services' } }]),
    { add: { set: { ...T, name: 'cluster-ips', type: F.addrType } } },
    chain('cluster-ips-check'),
    rule('cluster-ips-check', [eq(pl(F.ipX, 'daddr'), '@cluster-ips'), F.reject], 'Reject traffic to invalid ports of ClusterIPs'),
    { add: { map: { ...T, name: 'firewall-ips', type: [F.addrType, 'inet_proto', 'inet_service'], map: 'verdict' } } },
    rule('firewall-check', [{ vmap: { key: svcKey, data: '@firewall-ips' } }]),
    chain('reject-chain'),
    rule('reject-chain', [{ reject: null }]),
    { add: { map: { ...T, name: 'no-endpoint-services', type: [F.addrType, 'inet_proto', 'inet_service'], map: 'verdict' } } },
    { add: { map: { ...T, name: 'no-endpoint-nodeports', type: ['inet_proto', 'inet_service'], map: 'verdict' } } },
    rule('service-endpoints-check', [{ vmap: { key: svcKey, data: '@no-endpoint-services' } }]),
    { add: { map: { ...T, name: 'service-ips', type: [F.addrType, 'inet_proto', 'inet_service'], map: 'verdict' } } },
    { add: { map: { ...T, name: 'service-nodeports', type: ['inet_proto', 'inet_service'], map: 'verdict' } } },
    rule('services', [{ vmap: { key: svcKey, data: '@service-ips' } }]),
    rule('services', [eq({ fib: { result: 'type', flags: ['daddr'] } }, 'local'),
      { vmap: { key: { concat: [{ meta: { key: 'l4proto' } }, pl('th', 'dport')] }, data: '@service-nodeports' } }]),
  ];
  const clusterIps: string[] = [], serviceIps: unknown[] = [], nodePorts: unknown[] = [];
  const base = c, perService: object[][] = [];
  for (let s = 0; s < services; s++) {
    const c: object[] = [];
    perService.push(c);
    const ip = F.serviceIp(s), port = 80 + (s % 3);
    const svc = `service-${s.toString(36).toUpperCase().padStart(8, 'X')}-ns${s % 7}/svc${s}/tcp/p${port}`;
    const eps = Array.from({ length: endpoints }, (_, e) => ({
      ip: F.endpointIp(s, e),
      chain: `endpoint-${(s * 31 + e).toString(36).toUpperCase().padStart(8, 'Y')}-ns${s % 7}/svc${s}/tcp/p${port}__10.180.${s}.${e}/${port}`,
    }));
    c.push(chain(svc));
    for (const ep of eps) c.push(chain(ep.chain));
    c.push(rule(svc, [eq(pl(F.ipX, 'daddr'), ip), eq(pl('tcp', 'dport'), port), eq(pl(F.ipX, 'saddr'), F.clusterCidr, '!='), { jump: { target: 'mark-for-masquerade' } }]));
    if (shape === 'vmap') c.push(rule(svc, [{ vmap: { key: { numgen: { mode: 'random', mod: endpoints, offset: 0 } }, data: { set: eps.map((ep, i) => [i, { goto: { target: ep.chain } }]) } } }]));
    else {
      eps.forEach((ep, i) => c.push(rule(svc, [
        ...(i < eps.length - 1 ? [eq({ numgen: { mode: 'random', mod: endpoints - i, offset: 0 } }, 0)] : []),
        { goto: { target: ep.chain } },
      ])));
    }
    for (const ep of eps) {
      c.push(rule(ep.chain, [eq(pl(F.ipX, 'saddr'), ep.ip), { jump: { target: 'mark-for-masquerade' } }]));
      c.push(rule(ep.chain, [eq({ meta: { key: 'l4proto' } }, 'tcp'), { dnat: { addr: ep.ip, port: 8080 } }]));
    }
    clusterIps.push(ip);
    serviceIps.push([{ elem: { val: { concat: [ip, 'tcp', port] }, comment: `ns${s % 7}/svc${s}:p${port}` } }, { goto: { target: svc } }]);
    nodePorts.push([{ concat: ['tcp', 30000 + s] }, { goto: { target: svc } }]);
  }
  const elements: object[] = [];
  if (services) {
    const c = elements;
    c.push({ add: { element: { ...T, name: 'cluster-ips', elem: clusterIps } } });
    c.push({ add: { element: { ...T, name: 'service-ips', elem: serviceIps } } });
    c.push({ add: { element: { ...T, name: 'service-nodeports', elem: nodePorts } } });
    c.push({ add: { element: { ...T, name: 'no-endpoint-services', elem: [[{ concat: [F.noEndpointIp, 'udp', 53] }, { drop: null }]] } } });
  }
  return { base, services: perService, elements };
}
