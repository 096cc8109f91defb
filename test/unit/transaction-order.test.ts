// The engine's order comes from what each participant says it needs first, never from names
// it knows: the real list gives the documented phases; a list with a missing or circular
// dependency is refused (a mistake in lib/transaction/participants.ts, caught at load).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dependencyOrder, phaseOrder } from '../../lib/transaction/order.js';
import { PHASES, TxQueue } from '../../lib/transaction/queue.js';
import { touchedBy } from '../../lib/nft/participant.js';
import { planText } from '../helpers/tx-plan.js';

describe('transaction participant order', () => {
  it('the list gives changes in dependency order and releases in reverse', () => {
    assert.deepEqual(PHASES, ['link', 'ipset', 'ipvs', 'nft', 'iptables', 'ipvs-release', 'ipset-release', 'link-release']);
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

describe('tx.nft', () => {
  it('queues batches in the phase nft: after link, before iptables, in queue order', () => {
    const tx = new TxQueue();
    tx.iptables.restore('*filter\n-A INPUT -j ACCEPT\nCOMMIT\n');
    tx.nft.restore('add table ip fw\n# a comment\nadd chain ip fw c\n');
    tx.link.addresses.add('v0', ['10.96.0.10/32']);
    tx.nft.apply({ nftables: [{ add: { table: { family: 'ip', name: 'x' } } }] });
    assert.deepEqual(tx.plan().map((o) => [o.index, o.phase, o.summary]), [
      [2, 'link', 'ip addr add 10.96.0.10/32 dev v0'],
      [1, 'nft', 'nft -f (2 lines)'],
      [3, 'nft', 'nft -j -f (1 command)'],
      [0, 'iptables', 'iptables-restore -T filter'],
    ]);
  });

  it('copies its input, and refuses what is not commands or text with InvalidArgumentError', () => {
    const tx = new TxQueue();
    const cmds = [{ add: { table: { family: 'ip', name: 'x' } } }];
    tx.nft.apply(cmds);
    cmds[0]!.add.table.name = 'changed';
    assert.equal(JSON.stringify((tx.plan()[0] as { commands: unknown }).commands), '[{"add":{"table":{"family":"ip","name":"x"}}}]');
    assert.throws(() => tx.nft.apply(5), (e: Error) => e.name === 'InvalidArgumentError');
    assert.throws(() => tx.nft.apply([() => 1]), (e: Error) => e.name === 'InvalidArgumentError');
    assert.throws(() => tx.nft.restore(5 as never), (e: Error) => e.name === 'InvalidArgumentError');
  });

  it('touchedBy names the tables of every command, and the families a flush ruleset empties', () => {
    const t = touchedBy([
      { add: { table: { family: 'ip', name: 'a' } } },
      { add: { chain: { family: 'inet', table: 'b', name: 'c' } } },
      { rule: { family: 'ip6', table: 'd', chain: 'c', expr: [] } },
      { delete: { element: { family: 'ip', table: 'a', name: 's', elem: [] } } },
      { flush: { ruleset: { family: 'ip6' } } },
      { flush: { ruleset: null } },
    ]);
    assert.deepEqual([...t.tables].map((k) => k.replace('\0', ' ')), ['ip a', 'inet b', 'ip6 d']);
    assert.deepEqual([...t.rulesets], ['ip6', '*']);
  });
});
