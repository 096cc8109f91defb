// link joins transactions: addresses, routes and rules change with the other participants and
// are put back exactly when a later change fails. Oracle: `ip -j addr/route/rule show` whole
// dumps (IPv4 and IPv6), before and after, and against the same changes made by `ip` itself.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { transaction, TransactionError } from '../../lib/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { rejectsRolledBack } from '../helpers/transaction.js';

const skip = kernelSkipReason('iptables-legacy-save');
const legacy = { backend: 'legacy' as const };

function topology(ns: Netns): void {
  // Fixed MACs, no IPv6 link-local addresses and no DAD: two namespaces come out the same.
  ns.run('ip', ['link', 'add', 'v0', 'address', '02:00:00:00:00:01', 'type', 'veth', 'peer', 'name', 'v1', 'address', '02:00:00:00:00:02']);
  for (const d of ['v0', 'v1']) {
    ns.run('sysctl', ['-qw', `net.ipv6.conf.${d}.accept_dad=0`]);
    ns.run('ip', ['link', 'set', d, 'addrgenmode', 'none', 'up']);
  }
  ns.run('sh', ['-c', [
    'ip addr add 10.1.0.1/24 dev v0',
    'ip addr add 10.1.0.50/24 dev v0',
    'ip addr add fd00::1/64 dev v0 nodad',
    'ip route add 10.20.0.0/16 via 10.1.0.2',
    'ip route add 10.21.0.0/16 via 10.1.0.2 table 100',
    'ip -6 route add fd20::/64 via fd00::2',
    'ip rule add priority 200 fwmark 5 table 100',
    'ip -6 rule add priority 210 from fd00::/64 table 100',
  ].join(' && ')]);
  ns.settleIpv6();
}

/** Every address, route and rule of the namespace, as ip prints them. */
function dump(ns: Netns): unknown {
  const j = (...args: string[]) => JSON.parse(ns.run('ip', ['-j', ...args])) as unknown;
  return {
    addr: j('addr', 'show'),
    route4: j('route', 'show', 'table', 'all'), route6: j('-6', 'route', 'show', 'table', 'all'),
    rule4: j('rule', 'show'), rule6: j('-6', 'rule', 'show'),
  };
}

// The kernel refuses this table at commit (DNAT is not allowed in nat INPUT): a later participant fails.
const REFUSED_NAT = '*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n';

describe('transaction: link participant', { skip }, () => {
  it('addresses, routes and rules changed, then iptables fails: ip dumps exactly as before', () => withNetns(1, async (ns) => {
    topology(ns);
    const before = dump(ns);
    await rejectsRolledBack(transaction((tx) => {
      tx.link.addresses.add('v0', ['10.96.0.10/32', '10.97.0.1/24', 'fd00::10/128']);
      tx.link.routes.add({ dst: '10.30.0.0/16', gateway: '10.1.0.2', table: 100 });
      tx.link.routes.add({ dst: '10.31.0.0/16', gateway: '10.97.0.2' });
      tx.link.routes.add({ dst: 'fd30::/64', gateway: 'fd00::2', metric: 7 });
      tx.link.rules.add({ priority: 300, fwmark: 0x10, table: 100 });
      tx.link.rules.add({ family: 6, priority: 310, dst: 'fd30::/64', table: 100 });
      // A deletion that a later change names again runs in the first phase, before iptables fails.
      tx.link.rules.delete({ priority: 200, fwmark: 5, table: 100 });
      tx.link.rules.add({ priority: 200, fwmark: 6, table: 100 });
      tx.link.routes.delete({ dst: '10.20.0.0/16' });
      tx.link.routes.add({ dst: '10.20.0.0/16', gateway: '10.1.0.3', metric: 3 });
      tx.iptables.restore(REFUSED_NAT);
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.equal((e.failed as { op?: { subsystem: string } }).op?.subsystem, 'iptables');
    });
    assert.deepEqual(dump(ns), before);
  }));

  it('a deletion that fails in the last phase puts back the deletions and additions before it', () => withNetns(1, async (ns) => {
    topology(ns);
    const before = dump(ns);
    await rejectsRolledBack(transaction((tx) => {
      tx.link.addresses.add('v0', ['10.96.0.10/32']);
      tx.link.routes.add({ dst: '10.40.0.0/16', gateway: '10.1.0.2' });
      tx.iptables.restore('*filter\n-A INPUT -d 10.96.0.10/32 -j ACCEPT\nCOMMIT\n', { noflush: true });
      tx.link.routes.delete({ dst: '10.20.0.0/16', gateway: '10.1.0.2' });
      tx.link.routes.delete({ dst: 'fd20::/64' });
      tx.link.rules.delete({ family: 6, priority: 210 });
      tx.link.addresses.delete('v0', ['10.1.0.50/24']);
      tx.link.addresses.delete('v0', ['10.1.0.99/24']); // not there: refused
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.match(e.message, /ip addr del 10\.1\.0\.99\/24 dev v0 \(#7\)/);
    });
    assert.deepEqual(dump(ns), before);
    assert.equal(ns.run('iptables-legacy-save', ['-t', 'filter']).includes('10.96.0.10'), false);
  }));

  it('a transaction that applies leaves what ip would have made', () => withNetns(2, async (ours, theirs) => {
    topology(ours);
    topology(theirs);
    const r = await transaction((tx) => {
      tx.link.addresses.add('v0', ['10.96.0.10/32', 'fd00::10/128']);
      tx.link.addresses.delete('v0', ['10.1.0.50/24']);
      tx.link.routes.add({ dst: '10.30.0.0/16', gateway: '10.1.0.2', table: 100, metric: 4 });
      tx.link.routes.add({ dst: 'fd30::/64', gateway: 'fd00::2' });
      tx.link.routes.delete({ dst: '10.21.0.0/16', table: 100 });
      tx.link.rules.add({ priority: 300, fwmark: 0x10, fwmask: 0xff, table: 100 });
      tx.link.rules.delete({ priority: 200 });
    }, { netns: ours.path });
    assert.deepEqual(r.plan.map((o) => [o.phase, o.summary]), [
      ['link', 'ip addr add (2 addresses) dev v0'],
      ['link', 'ip route add 10.30.0.0/16 gateway 10.1.0.2 table 100 metric 4'],
      ['link', 'ip route add fd30::/64 gateway fd00::2'],
      ['link', 'ip rule add priority 300 fwmark 16 fwmask 255 table 100'],
      ['link-release', 'ip addr del 10.1.0.50/24 dev v0'],
      ['link-release', 'ip route del 10.21.0.0/16 table 100'],
      ['link-release', 'ip rule del priority 200'],
    ]);
    theirs.run('sh', ['-c', [
      'ip addr add 10.96.0.10/32 dev v0', 'ip addr add fd00::10/128 dev v0',
      'ip route add 10.30.0.0/16 via 10.1.0.2 table 100 metric 4', 'ip -6 route add fd30::/64 via fd00::2',
      'ip rule add priority 300 fwmark 0x10/0xff table 100',
      'ip addr del 10.1.0.50/24 dev v0', 'ip route del 10.21.0.0/16 table 100', 'ip rule del priority 200',
    ].join(' && ')]);
    assert.deepEqual(dump(ours), dump(theirs));
  }));
});
