// IPVS cases moby/ipvs and the other tests do not cover, against the kernel with ipvsadm as the
// oracle (a throwaway namespace; on hosts without IPVS inside the VM: see test/helpers/ipvs.ts):
// the dh scheduler; the scheduler and the forwarding method changed in place for tcp, udp and
// firewall-mark services of both families; setTimeouts where 0 (or a missing value) keeps the
// current value, as `ipvsadm --set` does; and an update that names some flags, which keeps
// persistence and the flags it does not name. Each ends in the state `ipvsadm -R` of the
// expected text leaves in a twin namespace (`ipvsadm -S -n`, whole).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipvs } from '../../lib/index.js';
import type { Scheduler } from '../../lib/ipvs/types.js';
import { Netns, withHandle } from '../helpers/netns.js';
import { ipvsSkipReason, saveLines, whereRan } from '../helpers/ipvs.js';
import { suiteNamespaces } from '../helpers/suite.js';

const skip = ipvsSkipReason();

describe('ipvs: schedulers, forwarding, timeouts and flags changed in place', { skip }, () => {
  const ns = suiteNamespaces((tag: string) => new Netns(tag));

  /** `ipvsadm -S -n` of what `ipvsadm -R` of `text` leaves. */
  const oracle = (text: string) => {
    const n = ns('ipvsoracle');
    n.run('ipvsadm', ['-R'], text);
    return saveLines(n);
  };

  it('the dh scheduler: added with real servers, listed and saved as ipvsadm -R leaves it', async (t) => {
    t.diagnostic(`IPVS kernel tests ran ${whereRan()}`);
    const n = ns('ipvsdh');
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      await h.apply([
        { op: 'addService', service: { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'dh' } },
        { op: 'addDestination', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 }, destination: { address: '10.1.0.1', weight: 2 } },
        { op: 'addService', service: { fwmark: 9, family: 'inet6', scheduler: 'dh', persistence: { timeout: 60 } } },
        { op: 'addDestination', service: { fwmark: 9, family: 'inet6' }, destination: { address: '2001:db8::9', forward: 'route' } },
      ]);
      assert.deepEqual(saveLines(n), oracle([
        '-A -t 10.0.0.1:80 -s dh', '-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 2',
        '-A -f 9 -6 -s dh -p 60', '-a -f 9 -6 -r [2001:db8::9]:0 -g -w 1',
      ].join('\n') + '\n'));
      assert.deepEqual((await h.listServices()).map((s) => s.scheduler), ['dh', 'dh']);
    });
  });

  it('scheduler and forwarding method changed in place: tcp, udp and fwmark, IPv4 and IPv6', async () => {
    const n = ns('ipvsinplace');
    n.run('ipvsadm', ['-R'], [
      '-A -t 10.0.0.1:80 -s rr', '-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1',
      '-A -u [2001:db8::1]:53 -s wlc', '-a -u [2001:db8::1]:53 -r [2001:db8::a]:53 -m -w 2',
      '-A -f 5 -s lc', '-a -f 5 -r 10.1.0.5:0 -g -w 3',
      '-A -f 6 -6 -s sh -b sh-port', '-a -f 6 -6 -r [2001:db8::6]:0 -i -w 4',
    ].join('\n') + '\n');
    const tcp = { protocol: 'tcp' as const, address: '10.0.0.1', port: 80 };
    const udp6 = { protocol: 'udp' as const, address: '2001:db8::1', port: 53 };
    const f5 = { fwmark: 5 };
    const f6 = { fwmark: 6, family: 'inet6' as const };
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      // One at a time, each naming only what changes: per service its scheduler, then its real server.
      const steps: [Parameters<typeof h.updateDestination>[0], Scheduler, Parameters<typeof h.updateDestination>[1]][] = [
        [tcp, 'dh', { address: '10.1.0.1', port: 80, forward: 'route' }],
        [udp6, 'sh', { address: '2001:db8::a', port: 53, forward: 'tunnel' }],
        [f5, 'mh', { address: '10.1.0.5', port: 0, forward: 'tunnel', tunnel: { type: 'gre' } }],
        [f6, 'wrr', { address: '2001:db8::6', port: 0, forward: 'masq' }],
      ];
      for (const [svc, scheduler, dest] of steps) {
        await h.updateService({ ...svc, scheduler });
        await h.updateDestination(svc, dest);
      }
      assert.deepEqual(saveLines(n), oracle([
        '-A -t 10.0.0.1:80 -s dh', '-a -t 10.0.0.1:80 -r 10.1.0.1:80 -g -w 1',
        '-A -u [2001:db8::1]:53 -s sh', '-a -u [2001:db8::1]:53 -r [2001:db8::a]:53 -i -w 2',
        '-A -f 5 -s mh', '-a -f 5 -r 10.1.0.5:0 -i -w 3 --tun-type gre',
        '-A -f 6 -6 -s wrr', '-a -f 6 -6 -r [2001:db8::6]:0 -m -w 4',
      ].join('\n') + '\n'));
      // And back in one batch, whole operations this time.
      await h.apply([
        { op: 'updateService', service: { ...tcp, scheduler: 'rr' } },
        { op: 'updateDestination', service: tcp, destination: { address: '10.1.0.1', port: 80, forward: 'masq', weight: 1 } },
        { op: 'updateService', service: { ...f6, scheduler: 'sh', flags: ['sh-port'] } },
        { op: 'updateDestination', service: f6, destination: { address: '2001:db8::6', port: 0, forward: 'tunnel', weight: 4 } },
      ]);
      assert.deepEqual(saveLines(n), oracle([
        '-A -t 10.0.0.1:80 -s rr', '-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1',
        '-A -u [2001:db8::1]:53 -s sh', '-a -u [2001:db8::1]:53 -r [2001:db8::a]:53 -i -w 2',
        '-A -f 5 -s mh', '-a -f 5 -r 10.1.0.5:0 -i -w 3 --tun-type gre',
        '-A -f 6 -6 -s sh -b sh-port', '-a -f 6 -6 -r [2001:db8::6]:0 -i -w 4',
      ].join('\n') + '\n'));
    });
  });

  it('setTimeouts: 0 or a missing value keeps the current one, as `ipvsadm --set` does', async () => {
    const n = ns('ipvstimeouts');
    const tool = ns('ipvstimeoutstool');
    const timeouts = (x: Netns) => x.run('ipvsadm', ['-L', '--timeout']);
    for (const x of [n, tool]) x.run('ipvsadm', ['--set', '100', '20', '30']);
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      await h.setTimeouts({ tcp: 0, tcpFin: 50, udp: 0 });
      tool.run('ipvsadm', ['--set', '0', '50', '0']);
      assert.equal(timeouts(n), timeouts(tool));
      assert.deepEqual(await h.getTimeouts(), { tcp: 100, tcpFin: 50, udp: 30 });
      await h.setTimeouts({ udp: 40 });
      tool.run('ipvsadm', ['--set', '0', '0', '40']);
      assert.equal(timeouts(n), timeouts(tool));
      assert.deepEqual(await h.getTimeouts(), { tcp: 100, tcpFin: 50, udp: 40 });
    });
  });

  it('an update naming some flags keeps persistence and the flags it does not name', async () => {
    const n = ns('ipvsflags');
    n.run('ipvsadm', ['-R'], [
      '-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port -p 600 -M 255.255.255.0',
      '-A -u 10.0.0.2:53 -s rr -o -p 60',
      '-A -f 3 -s mh -b mh-port -p 120',
    ].join('\n') + '\n');
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      // Named booleans change only the flags they name.
      await h.updateService({ protocol: 'tcp', address: '10.0.0.1', port: 80, flags: { 'sh-port': false } });
      await h.updateService({ protocol: 'udp', address: '10.0.0.2', port: 53, flags: { 'flag-1': true } });
      // A new scheduler with no flags named keeps one-packet and persistence, not the old scheduler's flags.
      await h.updateService({ fwmark: 3, scheduler: 'sh', flags: { 'sh-fallback': true } });
      assert.deepEqual(saveLines(n), oracle([
        '-A -t 10.0.0.1:80 -s sh -b sh-fallback -p 600 -M 255.255.255.0',
        '-A -u 10.0.0.2:53 -s rr -o -b flag-1 -p 60',
        '-A -f 3 -s sh -b sh-fallback -p 120',
      ].join('\n') + '\n'));
      // Naming persistent: false ends persistence; the other flags stay.
      await h.updateService({ protocol: 'udp', address: '10.0.0.2', port: 53, flags: { persistent: false } });
      assert.deepEqual(saveLines(n), oracle([
        '-A -t 10.0.0.1:80 -s sh -b sh-fallback -p 600 -M 255.255.255.0',
        '-A -u 10.0.0.2:53 -s rr -o -b flag-1',
        '-A -f 3 -s sh -b sh-fallback -p 120',
      ].join('\n') + '\n'));
    });
  });
});
