// The API style of DESIGN.md (issue #12): the new names do what the old ones did, and the old
// names, kept as deprecated aliases for one release, still do it. Each pair runs in a throwaway
// namespace and is compared through the system tools (`ipset save`, `ip -j addr`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipset, ipvs, iptables, link, transaction } from '../../lib/index.js';
import { ExistsError, InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { ipvsSkipReason } from '../helpers/ipvs.js';

const ipsetSkip = kernelSkipReason('ipset');
const skip = kernelSkipReason();

const members = (ns: Netns, set: string) =>
  ns.run('ipset', ['save', set]).split('\n').filter((l) => l.startsWith('add ')).sort();
/** The addresses `ip -j addr` shows on lo, IPv4 only (what these tests add). */
const loAddrs = (ns: Netns) =>
  (JSON.parse(ns.run('ip', ['-j', '-4', 'addr', 'show', 'dev', 'lo'])) as { addr_info: { local: string; prefixlen: number }[] }[])
    .flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).sort();

describe('ipset: delete and its deprecated alias del', { skip: ipsetSkip }, () => {
  it('delete and del remove the same members, refuse a missing one alike, and take exist alike', () =>
    withNetns(1, async (ns) => {
      const h = ipset.open({ netns: ns.path });
      try {
        for (const s of ['a', 'b']) {
          await h.create(s, 'hash:ip');
          await h.add(s, ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
        }
        await h.delete('a', ['10.0.0.1', '10.0.0.2']);
        await h.del('b', ['10.0.0.1', '10.0.0.2']);
        assert.deepEqual(members(ns, 'a'), ['add a 10.0.0.3']);
        assert.deepEqual(members(ns, 'b'), ['add b 10.0.0.3']);
        await assert.rejects(h.delete('a', '10.0.0.9'), (e: unknown) => e instanceof NotFoundError && e.op === 'ipset.delete');
        await assert.rejects(h.del('b', '10.0.0.9'), (e: unknown) => e instanceof NotFoundError && e.op === 'ipset.del');
        await h.delete('a', '10.0.0.9', { exist: true });
        await h.del('b', '10.0.0.9', { exist: true });
        assert.deepEqual(members(ns, 'a'), ['add a 10.0.0.3']);
      } finally {
        await h.close();
      }
    }));

  it('tx.ipset.delete queues what tx.ipset.del queues', () =>
    withNetns(1, async (ns) => {
      ns.run('ipset', ['restore'], 'create a hash:ip\nadd a 10.0.0.1\nadd a 10.0.0.2\ncreate b hash:ip\nadd b 10.0.0.1\nadd b 10.0.0.2\n');
      const r = await transaction((tx) => {
        tx.ipset.delete('a', '10.0.0.1');
        tx.ipset.del('b', '10.0.0.1');
      }, { netns: ns.path });
      assert.equal(r.applied, 2);
      assert.deepEqual(r.plan.map((o) => o.op), ['ipset.del', 'ipset.del']);
      assert.deepEqual(members(ns, 'a'), ['add a 10.0.0.2']);
      assert.deepEqual(members(ns, 'b'), ['add b 10.0.0.2']);
    }));
});

describe('link: h.addresses and its deprecated aliases; exist and missingOk', { skip }, () => {
  it('addresses.add/delete/list/sync do what addAddresses/delAddresses/listAddresses/syncAddresses do', () =>
    withNetns(2, async (n1, n2) => {
      const a = link.open({ netns: n1.path });
      const b = link.open({ netns: n2.path });
      try {
        await a.addresses.add('lo', ['10.9.0.1/32', '10.9.0.2/24']);
        await b.addAddresses('lo', ['10.9.0.1/32', '10.9.0.2/24']);
        assert.deepEqual(loAddrs(n1), loAddrs(n2));
        assert.deepEqual(loAddrs(n1), ['10.9.0.1/32', '10.9.0.2/24', '127.0.0.1/8']);
        assert.deepEqual(await a.addresses.list('lo'), (await b.listAddresses('lo')));

        await a.addresses.delete('lo', ['10.9.0.1/32']);
        await b.delAddresses('lo', ['10.9.0.1/32']);
        assert.deepEqual(loAddrs(n1), loAddrs(n2));
        await assert.rejects(a.addresses.delete('lo', ['10.9.0.1/32']), NotFoundError);
        await assert.rejects(b.delAddresses('lo', ['10.9.0.1/32']), NotFoundError);
        // exist (the name every subsystem uses) and its deprecated spelling missingOk.
        await a.addresses.delete('lo', ['10.9.0.1/32'], { exist: true });
        await b.delAddresses('lo', ['10.9.0.1/32'], { missingOk: true });
        await a.delAddresses('lo', ['10.9.0.1/32'], { exist: true });

        // sync: the new one returns the counts every sync returns; the alias keeps its old shape.
        // lo's own addresses are listed: sync removes every address not wanted (but IPv6 link-local ones).
        const r = await a.addresses.sync('lo', ['127.0.0.1/8', '::1/128', '10.9.0.3/32']);
        const old = await b.syncAddresses('lo', ['127.0.0.1/8', '::1/128', '10.9.0.3/32']);
        assert.deepEqual(loAddrs(n1), ['10.9.0.3/32', '127.0.0.1/8']);
        assert.deepEqual(loAddrs(n1), loAddrs(n2));
        assert.deepEqual(r, { added: 1, updated: 0, removed: 1, unchanged: 2, addresses: { added: ['10.9.0.3/32'], removed: ['10.9.0.2/24'] } });
        assert.deepEqual(old, { added: ['10.9.0.3/32'], removed: ['10.9.0.2/24'] });
      } finally {
        await a.close();
        await b.close();
      }
    }));

  it('delete of a missing link: NotFoundError, none with exist or with the deprecated missingOk', () =>
    withNetns(1, async (ns) => {
      const h = link.open({ netns: ns.path });
      try {
        await assert.rejects(h.delete('nlkit-none'), NotFoundError);
        await h.delete('nlkit-none', { exist: true });
        await h.delete('nlkit-none', { missingOk: true });
      } finally {
        await h.close();
      }
    }));
});

describe('ipvs: daemons.start/stop/list and the deprecated startDaemon/stopDaemon/listDaemons', { skip: ipvsSkipReason() }, () => {
  it('both start, list and stop the same daemons, as ipvsadm -l --daemon shows them', () =>
    withNetns(2, async (n1, n2) => {
      const a = ipvs.open({ netns: n1.path });
      const b = ipvs.open({ netns: n2.path });
      const daemonsOf = (ns: Netns) => ns.run('ipvsadm', ['-l', '--daemon']).trim().split('\n').filter(Boolean).sort();
      try {
        await a.daemons.start({ state: 'master', interface: 'lo', syncId: 7 });
        await b.startDaemon({ state: 'master', interface: 'lo', syncId: 7 });
        await a.daemons.start({ state: 'backup', interface: 'lo', syncId: 9, port: 8850 });
        await b.startDaemon({ state: 'backup', interface: 'lo', syncId: 9, port: 8850 });
        assert.deepEqual(daemonsOf(n1), daemonsOf(n2));
        assert.equal(daemonsOf(n1).length, 2);
        assert.deepEqual(await a.daemons.list(), await b.listDaemons());
        await assert.rejects(a.daemons.start({ state: 'master', interface: 'lo' }), (e: unknown) => e instanceof ExistsError && e.op === 'ipvs.daemons.start');
        await assert.rejects(b.startDaemon({ state: 'master', interface: 'lo' }), (e: unknown) => e instanceof ExistsError && e.op === 'ipvs.startDaemon');
        await a.daemons.stop('master');
        await b.stopDaemon('master');
        await a.daemons.stop({ state: 'backup' });
        await b.stopDaemon({ state: 'backup' });
        assert.deepEqual(daemonsOf(n1), []);
        assert.deepEqual(daemonsOf(n2), []);
        await assert.rejects(a.daemons.stop('backup'), (e: unknown) => e instanceof NotFoundError && e.op === 'ipvs.daemons.stop');
      } finally {
        await a.close();
        await b.close();
      }
    }));
});

describe('ipvs.daemons at module level checks its input like the handle', () => {
  it('a bad state is an InvalidArgumentError naming ipvs.daemons.stop; nothing is sent', async () => {
    await assert.rejects(ipvs.daemons.stop('primary' as never), (e: unknown) => e instanceof InvalidArgumentError && e.op === 'ipvs.daemons.stop');
    await assert.rejects(ipvs.daemons.start({ state: 'nope' } as never), (e: unknown) => e instanceof InvalidArgumentError && e.op === 'ipvs.daemons.start');
  });
});

describe('iptables: wait (milliseconds) and its deprecated alias waitTimeout', { skip: kernelSkipReason('iptables-legacy-save') }, () => {
  it('restore and transaction() take both and apply alike', () =>
    withNetns(1, async (ns) => {
      const h = iptables.open({ netns: ns.path, backend: 'legacy' });
      try {
        await h.restore('*filter\n:A - [0:0]\n-A A -j RETURN\nCOMMIT\n', { noflush: true, wait: 5_000 });
        await h.restore('*filter\n:B - [0:0]\n-A B -j RETURN\nCOMMIT\n', { noflush: true, waitTimeout: 5_000 });
        await h.withLock(async () => undefined, { wait: 1_000 });
        await h.withLock(async () => undefined, { waitTimeout: 1_000 });
      } finally {
        await h.close();
      }
      await transaction((tx) => { tx.iptables.restore('*filter\n:C - [0:0]\nCOMMIT\n', { noflush: true }); }, { netns: ns.path, iptables: { backend: 'legacy' }, wait: 5_000 });
      await transaction((tx) => { tx.iptables.restore('*filter\n:D - [0:0]\nCOMMIT\n', { noflush: true }); }, { netns: ns.path, iptables: { backend: 'legacy' }, waitTimeout: 5_000 });
      const chains = ns.run('iptables-legacy-save', ['-t', 'filter']).split('\n').filter((l) => /^:[A-D] /.test(l)).map((l) => l.slice(1, 2));
      assert.deepEqual(chains, ['A', 'B', 'C', 'D']);
    }));
});
