// Bad input and the kernel's refusals: typed errors, and nothing half-made left behind (what
// `ipvsadm -S -n` saw before is what it sees after).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ipvs } from '../../lib/index.js';
import {
  ExistsError, InvalidArgumentError, NlkitError, NotFoundError, UnsupportedError,
} from '../../lib/core/errors.js';
import { execFileSync } from 'node:child_process';
import { Netns } from '../helpers/netns.js';
import { ipvsSkipReason, saveLines, whereRan } from '../helpers/ipvs.js';

const skip = ipvsSkipReason();
const v4 = { protocol: 'tcp' as const, address: '10.0.0.1', port: 80 };
const v6 = { protocol: 'udp' as const, address: '2001:db8::1', port: 53 };

describe('ipvs bad input', { skip }, () => {
  let ns: Netns;
  let h: ipvs.IpvsHandle;
  let baseline: string[];

  before(async () => {
    ns = new Netns('ipvserr');
    h = ipvs.open({ netns: ns.path });
    await h.addService({ ...v4, scheduler: 'rr' });
    await h.addDestination(v4, { address: '10.1.0.1', port: 8080, weight: 2 });
    await h.addService({ ...v6, scheduler: 'wrr' });
    baseline = saveLines(ns);
  });
  after(async () => {
    await h?.close();
    ns?.remove();
  });

  const expectError = async (p: Promise<unknown>, cls: typeof NlkitError, code: string, re: RegExp) => {
    const e = await p.then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as NlkitError).code, code);
    assert.equal((e as NlkitError).subsystem, 'ipvs');
    assert.match((e as NlkitError).message, re);
    assert.match(String((e as NlkitError).stack), /ipvs-errors\.test\.ts/, 'stack of the call site');
  };

  it('refuses each with a typed error', async (t) => {
    t.diagnostic(`ran ${whereRan()}`);
    await expectError(h.addService({ protocol: 'tcp', address: '10.0.0.256', port: 80 }), InvalidArgumentError, 'EINVAL', /invalid address "10.0.0.256"/);
    await expectError(h.addService({ protocol: 'tcp', address: '10.0.0.2', port: 0 }), InvalidArgumentError, 'EINVAL', /port 0 is only for/);
    await expectError(h.addService({ protocol: 'udp', address: '10.0.0.2', port: 0, scheduler: 'rr' }), InvalidArgumentError, 'EINVAL', /port 0/);
    // @ts-expect-error a scheduler the kernel lacks: its refusal is under test
    await expectError(h.addService({ ...v4, address: '10.0.0.3', scheduler: 'nosuch' }), UnsupportedError, 'ENOENT', /scheduler nosuch \(kernel module ip_vs_nosuch\)/);
    await expectError(h.addService({ ...v4, address: '10.0.0.3', scheduler: 'rr', persistence: { timeout: 5, engine: 'nope' } }), UnsupportedError, 'ENOENT', /ip_vs_pe_nope/);
    await expectError(h.addDestination(v4, { address: '10.1.0.2', weight: 2 ** 31 }), InvalidArgumentError, 'EINVAL', /invalid weight/);
    await expectError(h.addDestination(v4, { address: '10.1.0.2', weight: -1 }), InvalidArgumentError, 'EINVAL', /invalid weight -1/);
    await expectError(h.addDestination({ ...v4, address: '10.9.9.9' }, { address: '10.1.0.2' }), NotFoundError, 'ESRCH', /service tcp 10.9.9.9:80 does not exist/);
    await expectError(h.addDestination(v4, { address: '2001:db8::7', forward: 'masq' }), InvalidArgumentError, 'EINVAL', /other address family.*forward 'tunnel'/);
    await expectError(h.addService({ ...v4 }), ExistsError, 'EEXIST', /service tcp 10.0.0.1:80 already exists/);
    await expectError(h.addDestination(v4, { address: '10.1.0.1', port: 8080 }), ExistsError, 'EEXIST', /real server 10.1.0.1:8080 already exists in service tcp 10.0.0.1:80/);
    await expectError(h.updateDestination(v4, { address: '10.1.0.9', weight: 1 }), NotFoundError, 'ENOENT', /real server 10.1.0.9:80 does not exist/);
    await expectError(h.updateDestination(v4, { address: '10.1.0.9', weight: 1, forward: 'masq', upperThreshold: 0, lowerThreshold: 0 }), NotFoundError, 'ENOENT', /10.1.0.9:80 does not exist/);
    await expectError(h.deleteDestination(v4, { address: '10.1.0.9' }), NotFoundError, 'ENOENT', /10.1.0.9:80 does not exist/);
    await expectError(h.updateService({ ...v4, address: '10.7.7.7', scheduler: 'wrr' }), NotFoundError, 'ESRCH', /does not exist/);
    await expectError(h.deleteService({ fwmark: 77 }), NotFoundError, 'ESRCH', /service fwmark 77 does not exist/);
    await expectError(h.getService({ fwmark: 77, family: 'inet6' }), NotFoundError, 'ESRCH', /fwmark 77 \(inet6\)/);
    await expectError(h.listDestinations({ fwmark: 77 }), NotFoundError, 'ESRCH', /fwmark 77/);
    await expectError(h.zero({ fwmark: 77 }), NotFoundError, 'ESRCH', /fwmark 77/);
    await expectError(h.updateService({ ...v4, flags: ['sh-port'] }), InvalidArgumentError, 'EINVAL', /needs scheduler sh/);
    await expectError(h.stopDaemon('backup'), NotFoundError, 'ESRCH', /no backup sync daemon/);
    await expectError(h.startDaemon({ state: 'master', interface: 'nosuch0' }), NotFoundError, 'ENODEV', /does not exist/);
    assert.deepEqual(saveLines(ns), baseline);
  });

  it('apply: invalid input sends nothing; kernel refusals are per operation', async () => {
    await expectError(h.apply([
      { op: 'addService', service: { ...v4, address: '10.0.0.5' } },
      { op: 'addDestination', service: v4, destination: { address: '10.1.0.3', forward: 'tunnel', tunnel: { type: 'gue' } } },
    ]), InvalidArgumentError, 'EINVAL', /operation 1 \(addDestination\): a gue tunnel needs a port/);
    assert.deepEqual(saveLines(ns), baseline);
    const r = await h.apply([
      { op: 'addService', service: { ...v4, address: '10.0.0.5' } },
      { op: 'addService', service: v4 },
      { op: 'addDestination', service: { ...v4, address: '10.0.0.5' }, destination: { address: '10.1.0.3', weight: 4 } },
      { op: 'addDestination', service: { ...v4, address: '10.0.0.6' }, destination: { address: '10.1.0.3' } },
      { op: 'updateDestination', service: { ...v4, address: '10.0.0.5' }, destination: { address: '10.1.0.3', weight: 9 } },
      { op: 'deleteService', service: { ...v4, address: '10.0.0.5' } },
    ]);
    assert.deepEqual(r.map((x) => (x.ok ? 'ok' : `${x.error.name} ${x.error.code}`)),
      ['ok', 'ExistsError EEXIST', 'ok', 'NotFoundError ESRCH', 'ok', 'ok']);
    assert.equal((r[1] as { error: NlkitError & { index?: number } }).error.index, 1);
    assert.deepEqual(saveLines(ns), baseline);
  });

  it('apply: results line up with operations across many pipelined chunks', async () => {
    const ops: ipvs.ApplyOp[] = [];
    const fw = (i: number) => ({ fwmark: 1000 + i });
    for (let i = 0; i < 1500; i++) ops.push({ op: 'addService', service: { ...fw(i % 1400), scheduler: 'rr' } });  // the last 100 repeat
    for (let i = 0; i < 1500; i++) ops.push({ op: 'deleteService', service: fw(i) });  // the last 100 are missing
    const r = await h.apply(ops);
    const bad = r.map((x, i) => (x.ok ? -1 : i)).filter((i) => i >= 0);
    assert.deepEqual(bad, [...Array.from({ length: 100 }, (_, k) => 1400 + k), ...Array.from({ length: 100 }, (_, k) => 2900 + k)]);
    assert.ok(r.slice(1400, 1500).every((x) => !x.ok && x.error instanceof ExistsError));
    assert.ok(r.slice(2900).every((x) => !x.ok && x.error instanceof NotFoundError && /fwmark 2[45]\d\d does not exist/.test(x.error.message)));
    assert.deepEqual(saveLines(ns), baseline);
  });

  it('a handle of a missing namespace, and a closed handle', async () => {
    assert.throws(() => ipvs.open({ netns: '/run/netns/nlkit-does-not-exist' }), NotFoundError);
    const c = ipvs.open({ netns: ns.path });
    await c.close();
    await assert.rejects(c.flush(), (e: unknown) => e instanceof NlkitError && e.code === 'EBADF');
    assert.deepEqual(saveLines(ns), baseline);
  });

  it('with loopback down (as `ip netns add` leaves it) an IPv4 real server is refused with the reason and the fix', async () => {
    // Not the Netns helper, which brings lo up: a namespace whose lo was never up has no local
    // routing table (taking lo down later leaves the table there).
    const name = `nlkit-ipvslo-${process.pid}`;
    execFileSync('ip', ['netns', 'add', name]);
    const bare = Object.assign(Object.create(Netns.prototype) as Netns, { name, path: `/run/netns/${name}` });
    const b = ipvs.open({ netns: bare.path });
    try {
      await b.addService({ ...v4, scheduler: 'rr' });
      const before = saveLines(bare);
      const loDown = /routing tables.*loopback `lo` is down.*Bring lo up/;
      await expectError(b.addDestination(v4, { address: '10.1.0.1', port: 8080 }), InvalidArgumentError, 'EINVAL', loDown);
      const [r] = await b.apply([{ op: 'addDestination', service: v4, destination: { address: '10.1.0.2', port: 8080 } }]);
      assert.ok(!r!.ok && r!.error instanceof InvalidArgumentError && loDown.test(r!.error.message), String(!r!.ok && r!.error));
      assert.deepEqual(saveLines(bare), before);
      // the fix the message names works
      bare.run('ip', ['link', 'set', 'lo', 'up']);
      await b.addDestination(v4, { address: '10.1.0.1', port: 8080 });
      assert.ok(saveLines(bare).some((l) => /-a -t 10\.0\.0\.1:80 -r 10\.1\.0\.1:8080/.test(l)), saveLines(bare).join('\n'));
    } finally {
      await b.close();
      bare.remove();
    }
  });
});
