// The order a transaction applies its queued changes in, and what it refuses before opening
// anything (no kernel: the queue and the planner are pure, IPVS fields are checked in TypeScript).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { transaction, InvalidArgumentError } from '../../lib/index.js';
import { TxQueue } from '../../lib/transaction/queue.js';
import { matchedSets } from '../../lib/iptables/participant.js';
import { planText } from '../helpers/tx-plan.js';

const queue = (family: 4 | 6 | 'both' = 4) => new TxQueue({ family });
const web = { protocol: 'tcp' as const, address: '10.96.0.10', port: 80 };
const FILTER = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n';

describe('transaction plan order', () => {
  it('sets first, then IPVS, then tables, then deletions', () => {
    const tx = queue();
    tx.iptables.restore(FILTER);
    tx.ipset.destroy('old');
    tx.ipvs.deleteService(web);
    tx.ipset.create('new', 'hash:ip').add('new', '10.0.0.1');
    tx.ipvs.addService({ protocol: 'udp', address: '10.96.0.53', port: 53 });
    tx.ipset.del('keep', '10.0.0.2');
    tx.ipvs.deleteDestination({ protocol: 'udp', address: '10.96.0.54', port: 53 }, { address: '10.1.0.1' });
    assert.equal(planText(tx, 'op'), `3 ipset ipset.create
4 ipset ipset.add
5 ipvs ipvs.addService
0 iptables iptables.restore
2 ipvs-release ipvs.deleteService
7 ipvs-release ipvs.deleteDestination
1 ipset-release ipset.destroy
6 ipset-release ipset.del`);
  });

  it('a deletion that a later change of the same set or service depends on keeps its place', () => {
    const tx = queue();
    tx.ipset.destroy('a');
    tx.ipset.create('a', 'hash:net');
    tx.ipset.flush('b');
    tx.ipset.flush('c');
    tx.ipset.add('c', '10.0.0.1');
    tx.ipvs.deleteService(web);
    tx.ipvs.addService({ ...web, scheduler: 'rr' });
    tx.iptables.restore(FILTER);
    assert.deepEqual(tx.plan().map((o) => o.summary), [
      'ipset destroy a', 'ipset create a hash:net', 'ipset flush c', 'ipset add c 10.0.0.1',
      'ipvsadm -D tcp 10.96.0.10:80', 'ipvsadm -A tcp 10.96.0.10:80',
      'iptables-restore -T filter',
      'ipset flush b',
    ]);
  });

  it('a destroy or flush of every set waits only when nothing later needs a set', () => {
    const tx = queue();
    tx.ipset.destroy();
    tx.ipset.create('x', 'hash:ip');
    assert.deepEqual(tx.plan().map((o) => o.phase), ['ipset', 'ipset']);
    const tx2 = queue();
    tx2.ipset.create('x', 'hash:ip');
    tx2.ipset.flush();
    assert.deepEqual(tx2.plan().map((o) => o.phase), ['ipset', 'ipset-release']);
  });

  it('one atomic restore per table and family', () => {
    const tx = queue('both');
    tx.iptables.restore(`${FILTER}*nat\n-A PREROUTING -j RETURN\nCOMMIT\n`);
    tx.iptables.restore(FILTER, { family: 4, table: 'filter', noflush: true });
    assert.deepEqual(tx.plan().map((o) => o.summary), [
      'iptables-restore -T filter', 'iptables-restore -T nat',
      'ip6tables-restore -T filter', 'ip6tables-restore -T nat',
      'iptables-restore -T filter --noflush',
    ]);
  });

  it('a builder is read when planned, not when queued', () => {
    const tx = queue();
    const nat = tx.iptables.table('nat');
    const first = tx.plan();
    nat.chain('SVC').append('-j RETURN');
    const second = tx.plan();
    assert.equal(first.length, 1);
    assert.equal(first[0]!.subsystem === 'iptables' && first[0]!.text, '*nat\nCOMMIT\n');
    assert.equal(second[0]!.subsystem === 'iptables' && second[0]!.text, '*nat\n:SVC - [0:0]\n-A SVC -j RETURN\nCOMMIT\n');
  });

  it('an iptables text without COMMIT is refused with its line', () => {
    const tx = queue();
    tx.iptables.restore('*filter\n-A INPUT -j ACCEPT\n');
    assert.throws(() => tx.plan(), (e: unknown) => e instanceof InvalidArgumentError && e.line === 3 && /COMMIT/.test(e.message));
  });

  it('queued arguments are copies', () => {
    const tx = queue();
    const entries = ['10.0.0.1'];
    tx.ipset.add('s', entries);
    entries.push('10.0.0.2');
    const [op] = tx.plan();
    assert.deepEqual(op!.subsystem === 'ipset' && op!.op === 'ipset.add' && op!.entries, ['10.0.0.1']);
  });

  it('no change may be queued once the callback has returned', () => {
    const tx = queue();
    tx.seal();
    assert.throws(() => tx.ipset.flush('x'), InvalidArgumentError);
  });

  it('finds the sets rules match', () => {
    assert.deepEqual(matchedSets('-A INPUT -m set --match-set a src -j ACCEPT\n-A X -m set ! --match-set "b" dst,dst -j SET --add-set c src\n'), ['a', 'b', 'c']);
  });
});

describe('transaction validation without the kernel', () => {
  it('bad IPVS fields are refused before any handle opens', async () => {
    await assert.rejects(transaction.plan((tx) => {
      tx.ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 });
      tx.ipvs.addDestination({ protocol: 'tcp', address: '10.0.0.1', port: 80 }, { address: '10.1.0.1', weight: -1 });
    }), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, String(e));
      assert.equal((e as InvalidArgumentError & { index?: number }).index, 1);
      assert.match(e.message, /^transaction: ipvsadm -a tcp 10\.0\.0\.1:80 -r 10\.1\.0\.1 \(#1\): invalid weight/);
      return true;
    });
  });

  it('an IPVS sync list is checked whole: a service listed twice is refused', async () => {
    await assert.rejects(transaction.plan((tx) => {
      tx.ipvs.sync([{ ...web, destinations: [] }, { ...web, scheduler: 'rr', destinations: [] }]);
    }), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, String(e));
      assert.equal((e as InvalidArgumentError & { index?: number }).index, 0);
      assert.match(e.message, /ipvs sync \(2 services\) \(#0\).*twice/);
      return true;
    });
  });

  it('an error in the callback is the transaction\'s error, and nothing runs', async () => {
    const boom = new Error('boom');
    await assert.rejects(transaction(() => {
      throw boom;
    }), (e) => e === boom);
  });

  it('an empty transaction does nothing', async () => {
    const r = await transaction(() => {});
    assert.deepEqual(r.plan, []);
    assert.equal(r.applied, 0);
  });

  it('a bad family is refused where it is given', async () => {
    await assert.rejects(transaction((tx) => {
      tx.iptables.restore(FILTER, { family: 5 as 4 });
    }), InvalidArgumentError);
  });
});
