// transaction() across IPVS, ipsets and iptables: applied together, and put back together when
// the kernel refuses an operation midway. Needs IPVS: on a host without it, run in the VM:
//   bash scripts/vm/run.sh node --import tsx --test test/kernel/transaction-ipvs.test.ts
// The oracle is `ipvsadm -S -n`, `ipset save` and `iptables-legacy-save -c`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { transaction, NlkitError, TransactionError } from '../../lib/index.js';
import { kernelSkipReason, Netns } from '../helpers/netns.js';
import { ipvsSkipReason, whereRan } from '../helpers/ipvs.js';
import { suiteNamespaces } from '../helpers/suite.js';
import { assertUndone, rejectsRolledBack } from '../helpers/transaction.js';

const skip = ipvsSkipReason() ?? kernelSkipReason('iptables-legacy-save') ?? kernelSkipReason('ipset');

const web = { protocol: 'tcp' as const, address: '10.96.0.10', port: 80 };
const dns = { protocol: 'udp' as const, address: '10.96.0.53', port: 53 };
const legacy = { backend: 'legacy' as const };

/** Everything the transactions here could change, printed by the system tools in one process start. */
function dump(ns: Netns): string {
  const out = ns.run('sh', ['-c', 'ipvsadm -S -n; echo ----; ipset save; echo ----; iptables-legacy-save -c']);
  return out.split('\n').filter((l) => !l.startsWith('# ')).join('\n');
}

/** web with two real servers and a set, and a nat rule matching the set. */
function baseline(): Netns {
  const ns = new Netns('txipvs');
  ns.run('sh', ['-c', [
    'iptables-legacy -t nat -S >/dev/null',
    'iptables-legacy -t filter -S >/dev/null',
    'ipvsadm -A -t 10.96.0.10:80 -s wrr -p 60',
    'ipvsadm -a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 3',
    'ipvsadm -a -t 10.96.0.10:80 -r 10.244.2.7:8080 -m -w 1',
    'ipset create vips hash:ip,port',
    'ipset add vips 10.96.0.10,tcp:80',
    'iptables-legacy -t nat -A PREROUTING -m set --match-set vips dst,dst -j ACCEPT',
  ].join(' && ')]);
  return ns;
}

describe('transaction: IPVS with ipsets and iptables', { skip }, () => {
  const fresh = suiteNamespaces(baseline);

  it('applies services, real servers, a set and a rule together', async (t) => {
    t.diagnostic(`ran ${whereRan()}`);
    const ns = fresh();
    const r = await transaction((tx) => {
      tx.iptables.restore('*nat\n-A PREROUTING -m set --match-set vips dst,dst -j ACCEPT\n-A PREROUTING -m set --match-set dnsvips dst,dst -j ACCEPT\nCOMMIT\n', { noflush: true });
      tx.ipset.create('dnsvips', 'hash:ip,port').add('dnsvips', '10.96.0.53,udp:53');
      tx.ipvs.addService({ ...dns, scheduler: 'rr' });
      tx.ipvs.addDestination(dns, { address: '10.244.1.9', port: 53, weight: 2 });
      tx.ipvs.updateDestination(web, { address: '10.244.2.7', port: 8080, weight: 9, forward: 'masq' });
    }, { netns: ns.path, iptables: legacy });
    assert.deepEqual(r.plan.map((o) => o.phase), ['ipset', 'ipset', 'ipvs', 'ipvs', 'ipvs', 'iptables']);
    const d = dump(ns);
    assert.match(d, /^-A -u 10\.96\.0\.53:53 -s rr$/m);
    assert.match(d, /^-a -u 10\.96\.0\.53:53 -r 10\.244\.1\.9:53 -m -w 2$/m);
    assert.match(d, /^-a -t 10\.96\.0\.10:80 -r 10\.244\.2\.7:8080 -m -w 9$/m);
    assert.match(d, /^add dnsvips 10\.96\.0\.53,udp:53$/m);
    assert.match(d, /-A PREROUTING -m set --match-set dnsvips dst,dst -j ACCEPT/);
  });

  it('a real server for a service that does not exist: everything is put back', async () => {
    const ns = fresh();
    await assertUndone(() => dump(ns), () => transaction((tx) => {
      tx.ipset.add('vips', '10.96.0.53,udp:53');
      tx.ipset.create('extra', 'hash:ip').add('extra', '10.1.1.1');
      tx.ipvs.addService({ ...dns, scheduler: 'rr' });
      tx.ipvs.updateService({ ...web, scheduler: 'lc', persistence: null });
      tx.ipvs.updateDestination(web, { address: '10.244.1.5', port: 8080, weight: 0, forward: 'masq' });
      tx.ipvs.addDestination({ protocol: 'tcp', address: '10.96.9.9', port: 443 }, { address: '10.244.1.5', port: 8443 });
      tx.iptables.restore('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n');
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.equal(e.failed?.op?.op, 'ipvs.addDestination');
      assert.ok(e.failed?.error instanceof NlkitError);
      assert.ok(e.undone.some((u) => /ipvs/.test(u)), e.undone.join('; '));
    });
  });

  it('a refusal after the service was deleted brings it back with its real servers', async () => {
    const ns = fresh();
    ns.run('ipset', ['create', 'other', 'hash:ip']);
    await assertUndone(() => dump(ns), () => transaction((tx) => {
      tx.ipvs.deleteService(web);
      tx.iptables.restore('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n');
      tx.ipset.destroy('vips');
      // Not a member: the kernel refuses it in the last phase, after the service is gone.
      tx.ipset.del('other', '10.0.0.1');
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.equal(e.failed?.op?.op, 'ipset.del');
      assert.ok(e.undone.some((u) => /ipvs/.test(u)), e.undone.join('; '));
    });
  });

  it('syncs IPVS and a set; a later refusal undoes both syncs', async () => {
    const ns = fresh();
    ns.run('ipset', ['create', 'other', 'hash:ip']);
    const before = dump(ns);
    const wanted = [{ ...dns, scheduler: 'rr' as const, destinations: [{ address: '10.244.1.9', port: 53 }] }];
    await rejectsRolledBack(transaction((tx) => {
      tx.ipvs.sync(wanted);  // deletes web (prune), adds dns
      tx.ipset.sync('vips', ['10.96.0.53,udp:53']);
      tx.ipset.del('other', '10.0.0.1');  // not a member: refused, last
    }, { netns: ns.path, iptables: legacy }));
    assert.equal(dump(ns), before);
    await transaction((tx) => {
      tx.ipvs.sync(wanted);
      tx.ipset.sync('vips', ['10.96.0.53,udp:53']);
    }, { netns: ns.path, iptables: legacy });
    const d = dump(ns);
    assert.doesNotMatch(d, /10\.96\.0\.10:80/);
    assert.match(d, /^-A -u 10\.96\.0\.53:53 -s rr$/m);
    assert.match(d, /^-a -u 10\.96\.0\.53:53 -r 10\.244\.1\.9:53 -m -w 1$/m);
    assert.match(d, /^add vips 10\.96\.0\.53,udp:53$/m);
    assert.doesNotMatch(d, /^add vips 10\.96\.0\.10/m);
  });
});
