// The example proxy's iptables mode with real traffic: a client namespace opens new TCP
// connections to a service address, the node namespace's nat table (written by the proxy from a
// watched file) spreads them over backend namespaces, and the backends' answers are counted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kernelSkipReason } from '../helpers/netns.js';
import { inVm } from '../helpers/vm.js';
import {
  useProxyBench, assertSpreadMasqueraded, writeRemoval, assertOnlyBackend1, VIP6, assertShares, dumpState, assertMovedToLiveBackend, assertDualStackTraffic, dualStackConfig, inNetns,
  moveUdpEndpoint, serviceConfig,
} from '../helpers/e2e.js';
import { NODEPORTS_JUMP, iptablesModeRules } from '../../examples/service-proxy/iptables-mode.js';
import { readNat } from '../../examples/service-proxy/chains.js';
import { parseConfig } from '../../examples/service-proxy/config.js';

const skip = kernelSkipReason('iptables-legacy-save');
// The VM (one emulated CPU) runs this file too: fewer connections there.
const REQUESTS = inVm() ? 150 : 300;

describe('service proxy, iptables mode, real traffic', { skip, timeout: 300_000 }, () => {
  const bench = useProxyBench('iptables', 3);

  it('spreads new connections by the configured weights, masqueraded from outside the cluster range', async () => {
    const weights = { 'backend-1': 1, 'backend-2': 2, 'backend-3': 3 };
    const config = serviceConfig(bench().topo, weights);
    const report = await bench().start(config);
    assert.equal(report.generation, 1);
    // What iptables-legacy-save reads back is exactly what the proxy meant to write.
    const saved = readNat(inNetns(bench().topo.node, 'iptables-legacy-save', ['-t', 'nat']));
    const meant = iptablesModeRules(parseConfig(config), readNat('')).split('\n')
      .filter((l) => l.startsWith('-A ') || l.startsWith('-I ')).map((l) => l.replace(/^-I /, '-A '));
    assert.deepEqual([...saved.rules].sort(), meant.sort());
    await assertSpreadMasqueraded(bench(), weights, REQUESTS);
  });

  it('sends a removed endpoint and one of weight 0 no new connections', async () => {
    const { report } = await writeRemoval(bench());
    assert.equal(report.generation, 2);
    await assertOnlyBackend1(bench(), REQUESTS / 2);
    // Stale chains went away with the endpoints.
    const chains = [...readNat(inNetns(bench().topo.node, 'iptables-legacy-save', ['-t', 'nat'])).chains].filter((c) => c.startsWith('KUBE-SEP-'));
    assert.equal(chains.length, 1, chains.join(' '));
  });

  it('brings endpoints back with new weights', async () => {
    const weights = { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 };
    const config = serviceConfig(bench().topo, weights);
    await bench().write(config);
    // Partial syncs since the first change (only the chains that changed): the table they leave
    // reads back as what a full sync of this config writes.
    const saved = readNat(inNetns(bench().topo.node, 'iptables-legacy-save', ['-t', 'nat']));
    const full = iptablesModeRules(parseConfig(config), readNat('')).split('\n');
    const meant = full.filter((l) => l.startsWith('-A ') || l.startsWith('-I ')).map((l) => l.replace(/^-I /, '-A '));
    assert.deepEqual([...saved.rules].sort(), meant.sort());
    // No chain of a removed endpoint left behind.
    assert.deepEqual([...saved.chains].filter((c) => c.startsWith('KUBE-')).sort(), full.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!).sort());
    assertShares(await bench().traffic(REQUESTS), weights, 'equal weights');
  });

  it('keeps serving the last good config when a version is refused, with the kernel state untouched', async () => {
    const beforeState = dumpState(bench().topo.node, false);
    await assert.rejects(bench().write('{ "services": [ '), /not JSON/);
    await assert.rejects(bench().write({ services: [{ name: 'x', address: '10.96.0.300', port: 80, endpoints: [] }] }), /services\[0\]\.address/);
    assert.equal(dumpState(bench().topo.node, false), beforeState);
    assertShares(await bench().traffic(REQUESTS), { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, 'after refused versions');
  });

  it('serves an IPv6 service (ip6tables), and NodePorts on the node\'s IPv4 and IPv6 addresses (addrtype LOCAL), by the weights, masqueraded', async () => {
    const weights = { 'backend-1': 1, 'backend-2': 2, 'backend-3': 3 };
    const config = dualStackConfig(bench().topo, weights);
    await bench().write(config);
    // Each family's nat table, as its legacy -save reads it back, holds exactly the rules meant
    // for that family's services; KUBE-SERVICES ends with the jump to the node ports.
    for (const family of [4, 6] as const) {
      const text = inNetns(bench().topo.node, family === 6 ? 'ip6tables-legacy-save' : 'iptables-legacy-save', ['-t', 'nat']);
      const meant = iptablesModeRules(parseConfig(config), readNat(''), family).split('\n')
        .filter((l) => l.startsWith('-A ') || l.startsWith('-I ')).map((l) => l.replace(/^-I /, '-A '));
      assert.deepEqual([...readNat(text).rules].sort(), meant.sort(), `IPv${family}`);
      assert.ok(meant.some((l) => l.includes(family === 6 ? VIP6 : '10.96.0.10')), `IPv${family} service missing`);
      assert.equal(text.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES ')).at(-1), NODEPORTS_JUMP, `IPv${family}`);
    }
    // Real traffic to the IPv6 service and both NodePorts; the node at another port answers nothing.
    await assertDualStackTraffic(bench(), weights, REQUESTS);
  });

  it('moves a UDP client that keeps sending to a live backend within a second of an endpoint removal (conntrack clean-up)', async () => {
    assertMovedToLiveBackend(bench(), await moveUdpEndpoint(bench(), { 'backend-1': 1 }));
  });
});
