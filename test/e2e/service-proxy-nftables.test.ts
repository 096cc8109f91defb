// The example proxy's nftables mode with real traffic: the node namespace's `ip nlkit-proxy`
// table (written by the proxy from a watched file, one nft batch per change) spreads a client
// namespace's new connections over backend namespaces. A UDP client that keeps sending across
// an endpoint removal shows what the conntrack clean-up is for: without it, its flow stays
// NATed to the removed endpoint.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kernelSkipReason } from '../helpers/netns.js';
import {
  NODE_PORT, ProxyBench, useProxyBench, assertSpreadMasqueraded, writeRemoval, assertOnlyBackend1, VIP, VIP6, VIP_PORT, assertShares, assertMovedToLiveBackend, assertDualStackTraffic, dualStackConfig, inNetns, moveUdpEndpoint,
  serviceConfig,
} from '../helpers/e2e.js';
import { parseConfig } from '../../examples/service-proxy/config.js';
import { TABLE, endpointChainName, externalChainName, renderNft, serviceChainName } from '../../examples/service-proxy/nftables-mode.js';

const skip = kernelSkipReason('nft') ?? kernelSkipReason('conntrack');
const REQUESTS = 300;
const OTHER = { name: 'default/other:http', protocol: 'tcp', address: '10.96.0.11', port: 80, endpoints: [{ address: '10.244.1.2', port: 8080 }] };

/**
 * A table as `nft -j list` prints it: chain names, the service-ips elements as
 * "ip . proto . port -> chain" and the service-nodeports ones as "proto . port -> chain".
 */
function table(netns: string, family = 'ip'): { chains: string[]; services: string[]; nodePorts: string[]; exprs: Record<string, object[][]> } {
  const objects = (JSON.parse(inNetns(netns, 'nft', ['-j', 'list', 'table', family, TABLE])) as { nftables: Record<string, any>[] }).nftables;
  const chains = objects.filter((o) => o.chain).map((o) => o.chain.name as string).sort();
  const elems = (name: string) => (objects.find((o) => o.map?.name === name)!.map.elem ?? [])
    .map(([k, v]: [any, any]) => `${k.concat.join(' . ')} -> ${v.goto.target}`).sort();
  const exprs: Record<string, object[][]> = {};
  for (const o of objects) if (o.rule) (exprs[o.rule.chain] ??= []).push(o.rule.expr);
  return { chains, services: elems('service-ips'), nodePorts: elems('service-nodeports'), exprs };
}

const BASE_CHAINS = ['mark-for-masquerade', 'masquerading', 'nat-output', 'nat-postrouting', 'nat-prerouting', 'services'];
const svcOf = (config: object, name: string) => parseConfig(config).services.find((s) => s.name === name)!;

describe('service proxy, nftables mode, real traffic', { skip, timeout: 300_000 }, () => {
  const bench = useProxyBench('nftables', 3);

  it('spreads new connections by the configured weights, masqueraded from outside the cluster range', async () => {
    const weights = { 'backend-1': 1, 'backend-2': 2, 'backend-3': 3 };
    const config = serviceConfig(bench().topo, weights, [OTHER]);
    const report = await bench().start(config);
    assert.equal(report.generation, 1);
    // nft reads back kube-proxy's structure: one element per service in service-ips, a chain per
    // service and per endpoint.
    const web = svcOf(config, 'default/web:http');
    const other = svcOf(config, OTHER.name);
    const got = table(bench().topo.node);
    assert.deepEqual(got.chains, [
      ...BASE_CHAINS, serviceChainName(web), serviceChainName(other),
      ...web.endpoints.map((e) => endpointChainName(web, e.address, e.port)), endpointChainName(other, '10.244.1.2', 8080),
    ].sort());
    assert.deepEqual(got.services, [
      `${VIP} . tcp . ${VIP_PORT} -> ${serviceChainName(web)}`, `10.96.0.11 . tcp . 80 -> ${serviceChainName(other)}`,
    ].sort());
    // Each service and endpoint chain's rules, as nft -j reads them back, are the ones meant.
    const meant = renderNft(parseConfig(config));
    for (const r of meant.values()) {
      for (const [name, rules] of [[r.chain, r.rules], ...r.endpoints] as [string, object[][]][]) assert.deepEqual(got.exprs[name], rules, name);
    }
    // Unequal weights are kube-proxy's cascade with `<` and no anonymous map, as nft prints it:
    // 1 of 6, then 2 of the 5 left, then the rest.
    const [e1, e2, e3] = web.endpoints.map((e) => endpointChainName(web, e.address, e.port));
    const webText = inNetns(bench().topo.node, 'nft', ['list', 'chain', 'ip', TABLE, serviceChainName(web)]);
    const picks = webText.split('\n').map((l) => l.trim()).filter((l) => /\bgoto\b/.test(l));
    assert.deepEqual(picks, [`numgen random mod 6 < 1 goto ${e1}`, `numgen random mod 5 < 2 goto ${e2}`, `goto ${e3}`], webText);
    assert.doesNotMatch(inNetns(bench().topo.node, 'nft', ['list', 'table', 'ip', TABLE]), /vmap \{/);
    await assertSpreadMasqueraded(bench(), weights, REQUESTS);
  });

  it('sends a removed endpoint and one of weight 0 no new connections, in a batch that touches only that service', async () => {
    const { report, config } = await writeRemoval(bench(), [OTHER]);
    const web = svcOf(config, 'default/web:http');
    const sent = JSON.stringify(report.nftCommands);
    const tableCommands = report.nftCommands!.filter((c) => Object.values(c).some((o) => 'table' in (o as object)));
    assert.ok(!sent.includes(serviceChainName(svcOf(config, OTHER.name))) && !tableCommands.length && !sent.includes('service-ips'),
      `the batch touched more than the changed service: ${sent}`);
    assert.ok(report.nftCommands!.some((c) => JSON.stringify(c) === JSON.stringify({ flush: { chain: { family: 'ip', table: TABLE, name: serviceChainName(web) } } })), sent);
    await assertOnlyBackend1(bench(), REQUESTS / 2);
    // The endpoint chains that take nothing are gone; the map is unchanged.
    const got = table(bench().topo.node);
    assert.deepEqual(got.chains.filter((c) => c.includes('default/web')), [serviceChainName(web), endpointChainName(web, '10.244.1.2', 8080)].sort());
    assert.equal(got.services.length, 2);
  });

  it('brings endpoints back with new weights', async () => {
    const weights = { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 };
    await bench().write(serviceConfig(bench().topo, weights, [OTHER]));
    assertShares(await bench().traffic(REQUESTS), weights, 'equal weights (numgen cascade)');
  });

  it('keeps serving the last good config when a version is refused, with the ruleset untouched', async () => {
    const ruleset = inNetns(bench().topo.node, 'nft', ['-j', 'list', 'ruleset']);
    await assert.rejects(bench().write('{ "services": [ '), /not JSON/);
    await assert.rejects(bench().write({ services: [{ name: 'x', address: '10.96.0.300', port: 80, endpoints: [] }] }), /services\[0\]\.address/);
    assert.equal(inNetns(bench().topo.node, 'nft', ['-j', 'list', 'ruleset']), ruleset);
    assertShares(await bench().traffic(REQUESTS), { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, 'after refused versions');
  });

  it('serves an IPv6 service, and NodePorts on the node\'s IPv4 and IPv6 addresses (fib daddr type local), by the weights, masqueraded', async () => {
    const weights = { 'backend-1': 1, 'backend-2': 2, 'backend-3': 3 };
    const config = dualStackConfig(bench().topo, weights);
    const report = await bench().write(config);
    assert.ok(report.nftCommands!.some((c) => JSON.stringify(c).includes('"ip6"')), 'the batch did not touch the ip6 table');
    // nft reads back both tables with what the proxy meant: elements, and every rule of the
    // IPv6 service's chains and of both external (NodePort) chains.
    const web = svcOf(config, 'default/web:http'), web6 = svcOf(config, 'default/web6:http');
    const v4 = table(bench().topo.node, 'ip'), v6 = table(bench().topo.node, 'ip6');
    assert.deepEqual(v4.nodePorts, [`tcp . ${NODE_PORT} -> ${externalChainName(web)}`]);
    assert.deepEqual(v6.services, [`${VIP6} . tcp . ${VIP_PORT} -> ${serviceChainName(web6)}`]);
    assert.deepEqual(v6.nodePorts, [`tcp . ${NODE_PORT} -> ${externalChainName(web6)}`]);
    const meant = renderNft(parseConfig(config));
    for (const [r, got] of [[meant.get(web.name)!, v4], [meant.get(web6.name)!, v6]] as const) {
      for (const [name, rules] of [[r.chain, r.rules], [r.nodePort!.chain, r.nodePort!.rules], ...r.endpoints] as [string, object[][]][]) {
        assert.deepEqual(got.exprs[name], rules, name);
      }
    }
    assert.equal(v6.exprs.services!.length, 2, JSON.stringify(v6.exprs.services));
    // Real traffic to the IPv6 service and both NodePorts; the node at another port answers nothing.
    await assertDualStackTraffic(bench(), weights, REQUESTS);
  });

  it('moves a UDP client that keeps sending to a live backend within a second of an endpoint removal', async () => {
    assertMovedToLiveBackend(bench(), await moveUdpEndpoint(bench(), { 'backend-1': 1 }));
  });

  it('stops answering a UDP client that keeps sending once its service is removed', async () => {
    const { report, answers } = await moveUdpEndpoint(bench(), { 'backend-1': 1 }, null);
    assert.deepEqual(answers, [], 'the removed service still answered');
    assert.equal(report.conntrackDeleted, 1, JSON.stringify(report));
    assert.ok(bench().log.some((l) => /conntrack: service default\/dns:udp 10\.96\.0\.53:53 removed: deleted 1 flow$/.test(l)), bench().log.join('\n'));
  });

  it('without the conntrack clean-up, the same client keeps reaching the removed endpoint', async (t) => {
    const plain = new ProxyBench('nftables', 2, { conntrackCleanup: false });
    try {
      await plain.start(serviceConfig(plain.topo, { 'backend-1': 1 }));
      const { report, answers } = await moveUdpEndpoint(plain, { 'backend-1': 1 });
      for (const line of plain.log) t.diagnostic(line);
      assert.equal(report.conntrackDeleted, 0);
      assert.ok(answers.length > 0, 'no answers in the second after the change');
      assert.deepEqual([...new Set(answers.map((a) => a.backend))], ['backend-1'], JSON.stringify(answers));
    } finally {
      plain.close();
    }
  });
});
