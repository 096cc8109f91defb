// Links themselves in transactions (tx.link.add/update/delete): a transaction that adds a veth
// pair and a bridge, puts addresses and a route on the new link, changes, renames and
// enslaves links and moves one to another namespace, then fails at a later step, leaves the
// whole `ip -j -d link show`, `ip -j addr show` and `ip -j route show table all` dumps of both
// namespaces exactly as before. The same transaction without the failing step applies all of it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, transaction, TransactionError } from '../../lib/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { rejectsRolledBack } from '../helpers/transaction.js';

const skip = kernelSkipReason();

function topology(ns: Netns): void {
  // Fixed MACs and no IPv6 link-local addresses on the links that come up: dumps do not move by themselves.
  ns.run('ip', ['-batch', '-'], [
    'link add p0 address 02:00:00:00:00:01 type veth peer name p1 address 02:00:00:00:00:02',
    'link set p0 addrgenmode none up', 'link set p1 addrgenmode none up',
    'addr add 10.1.0.1/24 dev p0',
    'route add 10.20.0.0/16 via 10.1.0.2',
    // br0 has a port already: a bridge keeps the largest TSO size its ports ever gave it, which no request puts back.
    'link add br0 address 02:00:00:00:00:10 type bridge', 'link set br0 addrgenmode none',
    'link add y0 address 02:00:00:00:00:41 master br0 type veth peer name y1 address 02:00:00:00:00:42',
    'link add br2 address 02:00:00:00:00:12 type bridge', 'link set br2 addrgenmode none',
    'link add x0 address 02:00:00:00:00:21 type veth peer name x1 address 02:00:00:00:00:22',
  ].join('\n') + '\n');
}

function dump(ns: Netns): unknown {
  const j = (...args: string[]) => JSON.parse(ns.run('ip', ['-j', ...args])) as unknown;
  return { link: j('-d', 'link', 'show'), addr: j('addr', 'show'), route4: j('route', 'show', 'table', 'all'), route6: j('-6', 'route', 'show', 'table', 'all') };
}

type Tx = Parameters<Parameters<typeof transaction>[0]>[0];

/** Links added, changed, renamed, enslaved, moved and deleted, and addresses and a route on a link the transaction adds. */
function changes(tx: Tx, other: Netns): void {
  tx.link.add({ name: 'n0', kind: 'veth', mac: '02:00:00:00:00:31', up: true, peer: { name: 'n1', mac: '02:00:00:00:00:32' } });
  tx.link.addresses.add('n0', ['10.5.0.1/24']);
  tx.link.routes.add({ dst: '10.6.0.0/16', gateway: '10.5.0.2' });
  tx.link.add({ name: 'br1', kind: 'bridge' });
  tx.link.update('p0', { mtu: 1400, master: 'br0', mac: '02:00:00:00:00:77' });
  // Not up: a link that was never up shows qdisc noop, and noqueue once it has been up (down again or not).
  tx.link.update('br2', { name: 'br3', mtu: 1400 });
  tx.link.update('x1', { netns: other.path });
  tx.link.delete('x0');
}

describe('transaction: links themselves', { skip }, () => {
  it('adds, changes, renames, enslaves, moves and deletes, then a later step fails: both namespaces dump exactly as before', () =>
    withNetns(2, async (ns, other) => {
      topology(ns);
      const before = dump(ns), otherBefore = dump(other);
      await rejectsRolledBack(transaction((tx) => {
        changes(tx, other);
        // A deletion that a later change names runs in the first phase: after everything above, and it fails (not there).
        tx.link.addresses.delete('lo', ['10.99.9.9/32']);
        tx.link.addresses.add('lo', ['10.99.9.9/32']);
      }, { netns: ns.path }), (e) => {
        assert.match(e.message, /10\.99\.9\.9/);
      });
      assert.deepEqual(dump(ns), before);
      assert.deepEqual(dump(other), otherBefore);
    }));

  it('the same changes applied: what ip shows afterwards', () =>
    withNetns(2, async (ns, other) => {
      topology(ns);
      await transaction((tx) => changes(tx, other), { netns: ns.path });
      const links = JSON.parse(ns.run('ip', ['-j', '-d', 'link', 'show'])) as { ifname: string; mtu: number; master?: string; address: string; operstate: string; flags: string[] }[];
      const by = new Map(links.map((l) => [l.ifname, l]));
      assert.deepEqual([...by.keys()].sort(), ['br0', 'br1', 'br3', 'lo', 'n0', 'n1', 'p0', 'p1', 'y0', 'y1']);
      assert.equal(by.get('p0')!.mtu, 1400);
      assert.equal(by.get('p0')!.master, 'br0');
      assert.equal(by.get('p0')!.address, '02:00:00:00:00:77');
      assert.equal(by.get('br3')!.mtu, 1400);
      assert.ok(by.get('n0')!.flags.includes('UP'));
      const addrs = JSON.parse(ns.run('ip', ['-j', 'addr', 'show', 'dev', 'n0'])) as { addr_info: { local: string }[] }[];
      assert.deepEqual(addrs[0]!.addr_info.map((a) => a.local), ['10.5.0.1']);
      assert.match(ns.run('ip', ['route', 'show', '10.6.0.0/16']), /via 10\.5\.0\.2 dev n0/);
      // x1 went to the other namespace, and went away with x0.
      assert.deepEqual((JSON.parse(other.run('ip', ['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname), ['lo']);
    }));

  it('a link named by an address before the transaction adds it, or after it deletes it, is refused before anything changes', () =>
    withNetns(1, async (ns) => {
      topology(ns);
      const before = dump(ns);
      await assert.rejects(transaction((tx) => {
        tx.link.add({ name: 'n5', kind: 'bridge' });
        tx.link.addresses.add('n6', ['10.7.0.1/24']);
        tx.link.add({ name: 'n6', kind: 'bridge' });
      }, { netns: ns.path }), /link n6 does not exist/);
      await assert.rejects(transaction((tx) => {
        tx.link.update('br2', { name: 'br4' });
        tx.link.update('br2', { up: true });
      }, { netns: ns.path }), /link br2 does not exist/);
      await assert.rejects(transaction((tx) => {
        tx.link.add({ name: 'p0', kind: 'bridge' });
      }, { netns: ns.path }), /p0 already exists/);
      // Wrong JS types anywhere: InvalidArgumentError, after a valid link add that must not run.
      const wrong: ((tx: Tx) => unknown)[] = [
        (tx) => tx.link.add({ name: 'n7', kind: 'bogus' } as never), (tx) => tx.link.add(null as never), (tx) => tx.link.add(7 as never),
        (tx) => tx.link.update('p0', 7 as never), (tx) => tx.link.update(7 as never, { up: true }), (tx) => tx.link.update('p0', { mtu: 'x' } as never),
        (tx) => tx.link.update('p0', { bogus: 1 } as never), (tx) => tx.link.delete(undefined as never), (tx) => tx.link.delete('a/b'),
      ];
      for (const w of wrong) {
        await assert.rejects(transaction((tx) => {
          tx.link.add({ name: 'n8', kind: 'bridge' });
          w(tx);
        }, { netns: ns.path }), InvalidArgumentError, String(w));
      }
      assert.deepEqual(dump(ns), before);
    }));
});
