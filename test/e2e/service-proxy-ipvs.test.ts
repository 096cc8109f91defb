// The example proxy's ipvs mode with real traffic: IPVS in the node namespace picks a backend
// namespace for each new connection to the service address on kube-ipvs0; the nat rules matching
// the KUBE-CLUSTER-IP set masquerade connections from outside the cluster range. Needs IPVS: on
// a host kernel without it, this file runs in the VM tier (test/vm/run-in-vm.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TransactionError } from '../../lib/core/errors.js';
import { kernelSkipReason } from '../helpers/netns.js';
import { hostHasIpvs, inVm } from '../helpers/vm.js';
import { useProxyBench, assertSpreadMasqueraded, writeRemoval, assertOnlyBackend1, VIP, VIP_PORT, assertMovedToLiveBackend, assertShares, dumpState, inNetns, moveUdpEndpoint, serviceConfig } from '../helpers/e2e.js';

const skip = kernelSkipReason('ipvsadm')
  ?? (inVm() || hostHasIpvs() ? undefined : 'the host kernel has no IPVS: this file runs inside the VM tier (test/vm/run-in-vm.test.ts)');
// The VM is one emulated CPU: keep the connection counts modest.
const REQUESTS = 120;

describe('service proxy, ipvs mode, real traffic', { skip, timeout: 600_000 }, () => {
  const bench = useProxyBench('ipvs', 3);

  it('spreads new connections by the configured weights (wrr), masqueraded through the ipset rules', async () => {
    const weights = { 'backend-1': 1, 'backend-2': 2, 'backend-3': 3 };
    await bench().start(serviceConfig(bench().topo, weights));
    // What the kernel holds, as ipvsadm and ipset print it.
    const node = bench().topo.node;
    assert.equal(inNetns(node, 'ipvsadm', ['-Sn']), [
      `-A -t ${VIP}:${VIP_PORT} -s wrr`,
      ...bench().topo.backends.map((b, i) => `-a -t ${VIP}:${VIP_PORT} -r ${b.address}:${b.port} -m -w ${i + 1}`),
      '',
    ].join('\n'));
    assert.match(inNetns(node, 'ipset', ['save']), new RegExp(`^add KUBE-CLUSTER-IP ${VIP.replace(/\./g, '\\.')},tcp:${VIP_PORT}$`, 'm'));
    assert.match(inNetns(node, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0']), new RegExp(`inet ${VIP.replace(/\./g, '\\.')}/32`));
    await assertSpreadMasqueraded(bench(), weights, REQUESTS);
  });

  it('sends a removed endpoint and one of weight 0 no new connections', async () => {
    await writeRemoval(bench());
    // Weight 0 stays listed (connections already open may finish); the removed one is gone.
    assert.equal(inNetns(bench().topo.node, 'ipvsadm', ['-Sn']), [
      `-A -t ${VIP}:${VIP_PORT} -s wrr`,
      `-a -t ${VIP}:${VIP_PORT} -r 10.244.1.2:8080 -m -w 1`,
      `-a -t ${VIP}:${VIP_PORT} -r 10.244.3.2:8080 -m -w 0`,
      '',
    ].join('\n'));
    await assertOnlyBackend1(bench(), REQUESTS / 2);
  });

  it('leaves the kernel state and the traffic exactly as before when the kernel refuses the IPVS part', async (t) => {
    const weights = { 'backend-1': 1, 'backend-2': 1 };
    await bench().write(serviceConfig(bench().topo, weights));
    const beforeState = dumpState(bench().topo.node, true);
    // The endpoint change and the first new service are valid; the second new service asks for a
    // scheduler no kernel has (like 'twos' on Debian 12's 6.1), which only IPVS itself can
    // refuse, in the middle of the transaction: the new addresses on kube-ipvs0, set members and
    // the IPVS changes around it must all be undone.
    const failing = serviceConfig(bench().topo, { 'backend-2': 1, 'backend-3': 5 }, [
      { name: 'default/extra:http', protocol: 'tcp', address: '10.96.0.12', port: 80, endpoints: [{ address: '10.244.3.2', port: 8080 }] },
      { name: 'default/other:http', protocol: 'tcp', address: '10.96.0.11', port: 80, scheduler: 'nosuchsched', endpoints: [{ address: '10.244.1.2', port: 8080 }] },
    ]);
    const refused = await bench().write(failing).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof TransactionError, `expected a TransactionError, got ${String(refused)}`);
    t.diagnostic(`refused: ${refused.message}; undone: ${refused.undone.join('; ')}`);
    assert.equal(refused.rolledBack, true, 'the transaction says it did not restore the state it found');
    assert.equal(dumpState(bench().topo.node, true), beforeState);
    assert.equal(bench().proxy.config?.services.length, 1);
    const counts = await bench().traffic(REQUESTS / 2);
    assertShares(counts, weights, 'after the refused change');
    assert.equal(counts.answers['backend-3'] ?? 0, 0);
  });

  it('moves a UDP client that keeps sending to a live backend within a second of an endpoint removal (expire_nodest_conn, conntrack clean-up)', async () => {
    // IPVS keeps its own connection to the removed real server; net.ipv4.vs.expire_nodest_conn
    // (set by the proxy, as kube-proxy does) ends it and its conntrack entry, so the proxy's
    // clean-up may find nothing left to delete.
    assertMovedToLiveBackend(bench(), await moveUdpEndpoint(bench(), { 'backend-1': 1 }), null);
  });
});
