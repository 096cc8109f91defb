// The engine's order comes from what each participant says it needs first, never from names
// it knows: the real list gives the documented phases; a list with a missing or circular
// dependency is refused (a mistake in lib/transaction/participants.ts, caught at load).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dependencyOrder, phaseOrder } from '../../lib/transaction/order.js';
import { PHASES, TxQueue } from '../../lib/transaction/queue.js';
import { planText } from '../helpers/tx-plan.js';

describe('transaction participant order', () => {
  it('the list gives changes in dependency order and releases in reverse', () => {
    assert.deepEqual(PHASES, ['link', 'ipset', 'ipvs', 'iptables', 'ipvs-release', 'ipset-release', 'link-release']);
  });

  it('a participant goes after those it names, whatever its place in the list', () => {
    const list = [{ name: 'rules', after: ['sets', 'addrs'] }, { name: 'sets', releases: true }, { name: 'addrs', releases: true }];
    const ordered = dependencyOrder(list);
    assert.deepEqual(ordered.map((p) => p.name), ['sets', 'addrs', 'rules']);
    assert.deepEqual(phaseOrder(ordered), ['sets', 'addrs', 'rules', 'addrs-release', 'sets-release']);
  });

  it('a dependency on a participant not in the list, or a cycle, is refused', () => {
    assert.throws(() => dependencyOrder([{ name: 'a', after: ['b'] }]), /a is after b, which is not in the list/);
    assert.throws(() => dependencyOrder([{ name: 'a', after: ['b'] }, { name: 'b', after: ['a'] }]), /cycle: a, b/);
  });

  it('link changes run before everything, link deletions after everything', () => {
    const tx = new TxQueue();
    tx.link.addresses.delete('kube-ipvs0', '10.96.0.9/32');
    tx.iptables.restore('*filter\n-A INPUT -j ACCEPT\nCOMMIT\n');
    tx.ipset.destroy('old');
    tx.ipvs.addService({ protocol: 'tcp', address: '10.96.0.10', port: 80 });
    tx.link.addresses.add('kube-ipvs0', ['10.96.0.10/32']);
    tx.link.routes.delete({ dst: '10.2.0.0/16' });
    tx.link.routes.add({ dst: '10.2.0.0/16', gateway: '10.1.0.3' });
    assert.equal(planText(tx, 'summary'), `4 link ip addr add 10.96.0.10/32 dev kube-ipvs0
5 link ip route del 10.2.0.0/16
6 link ip route add 10.2.0.0/16 gateway 10.1.0.3
3 ipvs ipvsadm -A tcp 10.96.0.10:80
1 iptables iptables-restore -T filter
2 ipset-release ipset destroy old
0 link-release ip addr del 10.96.0.9/32 dev kube-ipvs0`);
  });
});
