// IPVS operations beyond add/list: partial updates, statistics with real (loopback) traffic,
// zero, drain, info, timeouts, sync daemons and flush, checked against ipvsadm and /proc.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ipvs, InvalidArgumentError } from '../../lib/index.js';
import { Netns } from '../helpers/netns.js';
import { ipvsSkipReason, saveLines, whereRan } from '../helpers/ipvs.js';

const skip = ipvsSkipReason();
const web = { protocol: 'tcp' as const, address: '10.0.0.1', port: 80 };
const dns = { protocol: 'udp' as const, address: '127.0.0.2', port: 9999 };

describe('ipvs operations', { skip }, () => {
  let ns: Netns;
  let h: ipvs.IpvsHandle;
  before(() => {
    ns = new Netns('ipvsops');
    h = ipvs.open({ netns: ns.path });
  });
  after(async () => {
    await h?.close();
    ns?.remove();
  });

  it('updates change only the fields they give', async (t) => {
    t.diagnostic(`ran ${whereRan()}`);
    await h.addService({ ...web, scheduler: 'sh', flags: ['sh-port'], persistence: { timeout: 100, netmask: '255.255.255.0' } });
    await h.addDestination(web, { address: '10.1.0.1', forward: 'tunnel', weight: 5, upperThreshold: 50, lowerThreshold: 5, tunnel: { type: 'gue', port: 6080, checksum: 'csum' } });
    await h.updateDestination(web, { address: '10.1.0.1', weight: 7 });
    await h.updateService({ ...web, flags: ['sh-fallback'] });
    assert.deepEqual(saveLines(ns), [
      '-A -t 10.0.0.1:80 -s sh -p 100 -M 255.255.255.0 -b sh-fallback',
      '-a -t 10.0.0.1:80 -r 10.1.0.1:80 -i -w 7 --tun-type gue --tun-port 6080 --tun-csum',
    ]);
    const [d] = await h.listDestinations(web);
    assert.deepEqual([d!.weight, d!.upperThreshold, d!.lowerThreshold, d!.forward], [7, 50, 5, 'tunnel']);
    await h.updateService({ ...web, scheduler: 'wrr', persistence: null });
    await h.updateDestination(web, { address: '10.1.0.1', forward: 'route' });
    const s = await h.getService(web);
    assert.deepEqual([s.scheduler, s.persistence, s.flags], ['wrr', undefined, ['hashed']]);
    assert.deepEqual(s.destinations!.map((x) => [x.forward, x.weight, x.tunnel]), [['route', 7, undefined]]);
    // Updates and adds in one batch see each other.
    const r = await h.apply([
      { op: 'addDestination', service: web, destination: { address: '10.1.0.2', forward: 'route' } },
      { op: 'updateDestination', service: web, destination: { address: '10.1.0.2', weight: 3 } },
      { op: 'deleteDestination', service: web, destination: { address: '10.1.0.1' } },
      { op: 'updateDestination', service: web, destination: { address: '10.1.0.1', weight: 3 } },
    ]);
    assert.deepEqual(r.map((x) => (x.ok ? 'ok' : x.error.name)), ['ok', 'ok', 'ok', 'NotFoundError']);
    assert.deepEqual(saveLines(ns).filter((l) => l.startsWith('-a')), ['-a -t 10.0.0.1:80 -r 10.1.0.2:80 -g -w 3']);
  });

  it('64-bit statistics of real traffic, zero, and drain', async () => {
    await h.addService({ ...dns, scheduler: 'rr' });
    await h.addDestination(dns, { address: '127.0.0.1', port: 10000 });
    await h.addDestination(dns, { address: '127.0.0.1', port: 10001 });
    // Loopback datagrams to the virtual address: IPVS schedules them from LOCAL_OUT.
    ns.run('bash', ['-c', 'for i in 1 2 3 4; do echo hello > /dev/udp/127.0.0.2/9999; done']);
    // The kernel folds per-CPU counters into what it reports every 2 s (its rate estimator).
    let s!: ipvs.Service;
    for (let i = 0; i < 20; i++) {
      s = (await h.listServices({ stats: true })).find((x) => x.port === 9999)!;
      if (s.stats!.packetsIn >= 4n) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(s.stats!.connections >= 1n, `connections ${s.stats!.connections}`);
    assert.ok(s.stats!.packetsIn >= 4n);
    assert.ok(s.stats!.bytesIn >= 4n * 34n);
    assert.equal(typeof s.stats!.bytesIn, 'bigint');
    const tool = ns.run('ipvsadm', ['-Ln', '--stats', '--exact', '-u', '127.0.0.2:9999']).split('\n').find((l) => l.startsWith('UDP'))!.trim().split(/\s+/);
    assert.deepEqual(tool.slice(2, 7).map(BigInt), [s.stats!.connections, s.stats!.packetsIn, s.stats!.packetsOut, s.stats!.bytesIn, s.stats!.bytesOut]);
    const sum = s.destinations!.reduce((n, d) => n + d.stats!.packetsIn, 0n);
    assert.equal(sum, s.stats!.packetsIn);
    const busy = s.destinations!.find((d) => d.activeConnections + d.inactiveConnections > 0)!;
    assert.ok(busy, 'a real server holds the UDP connection');

    await h.zero(dns);
    const z = await h.getService(dns, { stats: true, destinations: false });
    assert.deepEqual([z.stats!.connections, z.stats!.packetsIn, z.stats!.bytesIn], [0n, 0n, 0n]);
    await h.zero();

    // Drain the busy one: weight 0 at once, the deadline passes with its connection still
    // there, then it is deleted; the event loop keeps running meanwhile.
    // Order, not tick counts (under qemu timers run late): a timer and a listing of ours
    // completed while the drain was still pending.
    let drainEnded = false;
    const drainP = h.drain(dns, busy, { deadline: Date.now() + 3000, interval: 200 }).finally(() => { drainEnded = true; });
    await new Promise((r) => setTimeout(r, 300));
    const during = (await h.listDestinations(dns)).find((d) => d.port === busy.port)!;
    assert.equal(during.weight, 0);
    assert.equal(drainEnded, false, 'the drain ended before its deadline with a connection still there');
    const res = await drainP;
    assert.equal(res.drained, false);
    assert.ok(res.remaining >= 1);
    // A lower bound only: a slow machine can make the wait longer, never shorter.
    assert.ok(res.waitedMs >= 2900, `waited ${res.waitedMs}`);
    // One without connections drains at once.
    const idle = { address: '127.0.0.1', port: 10009 };
    await h.addDestination(dns, idle);
    const res2 = await h.drain(dns, idle, { deadline: new Date(Date.now() + 60_000), interval: 100 });
    assert.equal(res2.drained, true);
    assert.ok(!(await h.listDestinations(dns)).some((d) => d.port === 10009 || d.port === busy.port));
  });

  // Before, { deadline: 30_000 } (the README's example) was a time in 1970: the server went at
  // once; and `timeout` was ignored (5 minutes of waiting: the test's own timeout catches that).
  it('drain: timeout is a duration; a deadline that is a duration is refused, nothing deleted', { timeout: 90_000 }, async () => {
    const svc = { protocol: 'udp' as const, address: '127.0.0.3', port: 9998 };
    const d = { address: '127.0.0.1', port: 10002 };
    await h.addService({ ...svc, scheduler: 'rr' });
    await h.addDestination(svc, d);
    ns.run('bash', ['-c', 'echo hello > /dev/udp/127.0.0.3/9998']);
    await assert.rejects(h.drain(svc, d, { deadline: 30_000 }), (e: unknown) =>
      e instanceof InvalidArgumentError && e.argument === 'deadline' && /use \{ timeout: 30000 \}/.test(e.message));
    await assert.rejects(h.drain(svc, d, { timeout: 30_000, deadline: new Date() }), InvalidArgumentError);
    await assert.rejects(h.drain(svc, d, { timeout: -1 }), InvalidArgumentError);
    assert.ok(saveLines(ns).includes('-a -u 127.0.0.3:9998 -r 127.0.0.1:10002 -m -w 1'), saveLines(ns).join('\n'));
    const res = await h.drain(svc, d, { timeout: 0, interval: 50 });
    assert.equal(res.drained, false);
    assert.ok(res.remaining >= 1, `remaining ${res.remaining}`);
    assert.ok(!saveLines(ns).some((l) => l.includes('127.0.0.1:10002')));
    await h.deleteService(svc);
  });

  it('info and timeouts as ipvsadm and /proc show them', async () => {
    const info = await h.getInfo();
    const head = ns.run('cat', ['/proc/net/ip_vs']).split('\n')[0]!;
    assert.equal(head, `IP Virtual Server version ${info.version} (size=${info.connectionTableSize})`);
    await h.setTimeouts({ tcp: 1000, tcpFin: 100, udp: 200 });
    await h.setTimeouts({ udp: 250 });
    assert.deepEqual(await h.getTimeouts(), { tcp: 1000, tcpFin: 100, udp: 250 });
    assert.equal(ns.run('ipvsadm', ['-l', '--timeout']).trim(), 'Timeout (tcp tcpfin udp): 1000 100 250');
  });

  it('sync daemons: start, list, stop', async () => {
    await h.flush();  // no daemon while real servers of the other family exist
    await h.startDaemon({ state: 'master', interface: 'lo', syncId: 7 });
    await h.startDaemon({ state: 'backup', interface: 'lo', syncId: 9, maxLength: 1200, group: '224.0.0.88', port: 8850, ttl: 2 });
    const list = (await h.listDaemons()).sort((a, b) => (a.state < b.state ? -1 : 1));
    assert.deepEqual(list, [
      { state: 'backup', interface: 'lo', syncId: 9, maxLength: 1200, group: '224.0.0.88', port: 8850, ttl: 2 },
      { state: 'master', interface: 'lo', syncId: 7, maxLength: 1472, group: '224.0.0.81', port: 8848, ttl: 1 },
    ]);
    assert.deepEqual(ns.run('ipvsadm', ['-l', '--daemon']).trim().split('\n').sort(), [
      'backup sync daemon (mcast=lo, syncid=9, maxlen=1200, group=224.0.0.88, port=8850, ttl=2)',
      'master sync daemon (mcast=lo, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)',
    ]);
    await assert.rejects(h.startDaemon({ state: 'master', interface: 'lo' }), (e: Error) => e.name === 'ExistsError');
    await h.stopDaemon('master');
    await h.stopDaemon({ state: 'backup' });
    assert.deepEqual(await h.listDaemons(), []);
  });

  it('flush empties everything; module-level functions use the caller namespace', async () => {
    await h.addService({ fwmark: 1 });
    await h.addService({ fwmark: 2, family: 'inet6' });
    await h.flush();
    assert.deepEqual(await h.listServices(), []);
    assert.deepEqual(saveLines(ns), []);
    assert.equal(typeof ipvs.listServices, 'function');
  });
});
