// The example proxy's periodic full resync (kube-proxy's): in each mode, changes made from
// outside to the proxy's own objects (with nft, iptables, ipset, ipvsadm and ip) survive a
// partial sync and are repaired by the next full one. The oracle is the tools' whole dumps of the
// node namespace right after a clean sync. No traffic is needed: what is compared is the kernel's
// state. The ipvs mode needs IPVS: on a host kernel without it, that part runs in the VM tier.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Netns, kernelSkipReason } from '../helpers/netns.js';
import { hostHasIpvs, inVm } from '../helpers/vm.js';
import { dumpState } from '../helpers/e2e.js';
import { parseConfig } from '../../examples/service-proxy/config.js';
import { ServiceProxy, type Mode } from '../../examples/service-proxy/proxy.js';
import { TABLE, serviceChainName } from '../../examples/service-proxy/nftables-mode.js';
import { serviceChain } from '../../examples/service-proxy/chains.js';
import { CLUSTER_IP_SET, DUMMY } from '../../examples/service-proxy/ipvs-mode.js';

const CONFIG = parseConfig({
  clusterCIDR: '10.244.0.0/16',
  services: [
    {
      name: 'default/web:http', protocol: 'tcp', address: '10.96.0.10', port: 80,
      endpoints: [{ address: '10.244.1.2', port: 8080, weight: 3 }, { address: '10.244.2.2', port: 8080, weight: 1 }],
    },
    { name: 'kube-system/kube-dns:dns', protocol: 'udp', address: '10.96.0.53', port: 53, endpoints: [{ address: '10.244.3.2', port: 53 }] },
  ],
});
const WEB = CONFIG.services[0]!;

/** A proxy of `mode` on a fresh namespace, its periodic resync off unless asked (the tests call resync()). */
function useNode(mode: Mode, fullSyncPeriod = 0) {
  let ns: Netns | undefined, proxy: ServiceProxy | undefined;
  const log: string[] = [];
  before(() => {
    ns = new Netns('resync');
    proxy = new ServiceProxy({ mode, netns: ns.name, log: (l) => log.push(l), wait: 30_000, fullSyncPeriod });
  });
  after(() => {
    proxy?.close();
    ns?.remove();
  });
  return { ns: () => ns!, proxy: () => proxy!, log };
}

/** Runs a tool in the namespace (an outside change, or a dump). */
const run = (ns: Netns, cmd: string, ...args: string[]) => ns.run(cmd, args);

/**
 * The shared steps: a clean first sync and its dump; the outside changes (which must show in the
 * dump); a partial sync that leaves them; a full resync after which the dump is the clean one again.
 */
async function repairs(node: ReturnType<typeof useNode>, dump: () => string, tamper: () => void): Promise<void> {
  const first = await node.proxy().apply(CONFIG);
  assert.equal(first.fullSync, true, 'the first sync is a full one');
  const clean = dump();
  tamper();
  const tampered = dump();
  assert.notEqual(tampered, clean, 'the outside changes did not show in the dump');
  // An unchanged config is a partial sync: nothing sent, nothing repaired.
  const partial = await node.proxy().apply(CONFIG);
  assert.equal(partial.fullSync, false);
  assert.equal(dump(), tampered, 'a partial sync touched the tampered state');
  const full = await node.proxy().resync();
  assert.equal(full?.fullSync, true);
  assert.equal(dump(), clean);
  assert.ok(node.log.some((l) => /full resync/.test(l)), node.log.join('\n'));
}

describe('service proxy full resync, nftables mode', { skip: kernelSkipReason('nft') }, () => {
  const node = useNode('nftables');
  const dump = () => run(node.ns(), 'nft', 'list', 'ruleset');

  it('puts back a flushed service chain, a deleted map element and a rule added to a chain of ours', async () => {
    await repairs(node, dump, () => {
      const ns = node.ns();
      run(ns, 'nft', 'flush', 'chain', 'ip', TABLE, serviceChainName(WEB));
      run(ns, 'nft', 'delete', 'element', 'ip', TABLE, 'service-ips', '{ 10.96.0.53 . udp . 53 }');
      run(ns, 'nft', 'insert', 'rule', 'ip', TABLE, 'services', 'counter', 'drop');
      run(ns, 'nft', 'delete', 'chain', 'ip6', TABLE, 'nat-output');
    });
  });
});

describe('service proxy periodic resync, nftables mode', { skip: kernelSkipReason('nft') }, () => {
  const node = useNode('nftables', 300);
  const dump = () => run(node.ns(), 'nft', 'list', 'ruleset');

  it('repairs an outside change by itself, fullSyncPeriod after the last full sync', async () => {
    await node.proxy().apply(CONFIG);
    const clean = dump();
    const resyncs = () => node.log.filter((l) => /full resync/.test(l)).length;
    // Wait for one periodic resync to pass, then tamper: the next one must repair it.
    for (let i = 0; i < 100 && resyncs() === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const seen = resyncs();
    assert.ok(seen > 0, `no periodic resync in 10 s:\n${node.log.join('\n')}`);
    run(node.ns(), 'nft', 'flush', 'chain', 'ip', TABLE, serviceChainName(WEB));
    assert.notEqual(dump(), clean);
    // Two more: one that may have been under way while we changed the table, and one begun after.
    for (let i = 0; i < 100 && resyncs() < seen + 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(resyncs() >= seen + 2, `no periodic resync after the change in 10 s:\n${node.log.join('\n')}`);
    node.proxy().close();
    // The timer's resyncs are queued like changes: one more through the queue means they are done.
    await node.proxy().apply(CONFIG);
    assert.equal(dump(), clean);
  });
});

describe('service proxy full resync, iptables mode', { skip: kernelSkipReason('iptables-legacy-save') }, () => {
  const node = useNode('iptables');
  const dump = () => dumpState(node.ns().name, false);

  it('puts back a flushed service chain, a deleted jump and a rule added to a chain of ours', async () => {
    await repairs(node, dump, () => {
      const ns = node.ns();
      run(ns, 'iptables-legacy', '-w', '-t', 'nat', '-F', serviceChain(WEB.name, WEB.protocol));
      run(ns, 'iptables-legacy', '-w', '-t', 'nat', '-D', 'OUTPUT', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES');
      run(ns, 'iptables-legacy', '-w', '-t', 'nat', '-I', 'KUBE-SERVICES', '-j', 'RETURN');
      run(ns, 'iptables-legacy', '-w', '-t', 'nat', '-F', 'KUBE-POSTROUTING');
    });
  });
});

const ipvsSkip = kernelSkipReason('ipvsadm') ?? kernelSkipReason('ipset')
  ?? (inVm() || hostHasIpvs() ? undefined : 'the host kernel has no IPVS: this part runs inside the VM tier (test/vm/run-in-vm.test.ts)');

describe('service proxy full resync, ipvs mode', { skip: ipvsSkip }, () => {
  const node = useNode('ipvs');
  const dump = () => dumpState(node.ns().name, true);

  it('puts back a deleted real server and service, set member, service address and nat rules', async () => {
    await repairs(node, dump, () => {
      const ns = node.ns();
      run(ns, 'ipvsadm', '-d', '-t', '10.96.0.10:80', '-r', '10.244.2.2:8080');
      run(ns, 'ipvsadm', '-D', '-u', '10.96.0.53:53');
      run(ns, 'ipset', 'del', CLUSTER_IP_SET, '10.96.0.10,tcp:80');
      run(ns, 'ip', 'addr', 'del', '10.96.0.53/32', 'dev', DUMMY);
      run(ns, 'iptables-legacy', '-w', '-t', 'nat', '-F', 'KUBE-SERVICES');
    });
  });
});
