// Link operations in throwaway namespaces: dummy links (create, exist, delete, up/down),
// 20k addresses in one crossing, sync, and bad input or kernel refusals that change nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { release } from 'node:os';
import { link } from '../../lib/index.js';
import {
  ExistsError, HandleClosedError, InvalidArgumentError, NotFoundError, UnsupportedError,
} from '../../lib/core/errors.js';
import { binding, type Binding } from '../../lib/core/native.js';
import { kernelSkipReason, Netns, withNetns } from '../helpers/netns.js';

const skip = kernelSkipReason();

function probeKinds(): Set<string> {
  const kinds = new Set<string>();
  if (skip) return kinds;
  const ns = new Netns('lkprobe');
  try {
    for (const k of ['dummy', 'ifb']) {
      if (ns.try('ip', ['link', 'add', 'p0', 'type', k]).status === 0) {
        kinds.add(k);
        ns.run('ip', ['link', 'del', 'p0']);
      }
    }
  } finally {
    ns.remove();
  }
  return kinds;
}
const kinds = probeKinds();
const hasDummy = kinds.has('dummy');
const dummySkip = skip ?? (hasDummy ? undefined
  : `the running kernel (${release()}) has no dummy links (CONFIG_DUMMY); run these tests in the VM: ` +
    'bash scripts/vm/run.sh node --import tsx --test test/kernel/link-*.test.ts');
const testKind = hasDummy ? 'dummy' : kinds.has('ifb') ? 'ifb' : undefined;
const addrSkip = skip ?? (testKind ? undefined : 'the running kernel has neither dummy nor ifb links');

/** Counts the native calls (and the requests in them) while fn runs. */
async function counting<T>(fn: () => Promise<T>): Promise<{ result: T; sends: number[]; queries: number }> {
  const b = binding() as Binding;
  const { linkSend, linkQuery } = b;
  const sends: number[] = [];
  let queries = 0;
  b.linkSend = (w, bytes, ends, o) => {
    sends.push(ends.length);
    return linkSend(w, bytes, ends, o);
  };
  b.linkQuery = (w, bytes, ends, o) => {
    queries++;
    return linkQuery(w, bytes, ends, o);
  };
  try {
    return { result: await fn(), sends, queries };
  } finally {
    b.linkSend = linkSend;
    b.linkQuery = linkQuery;
  }
}

const v4 = (i: number, base = 96) => `10.${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
const ipAddrs = (ns: Netns, dev: string) =>
  ns.run('ip', ['-o', 'addr', 'show', 'dev', dev]).split('\n').filter(Boolean)
    .map((l) => /\sinet6? (\S+)/.exec(l)![1]!).filter((a) => !a.startsWith('fe80:'));

describe('link: dummy links', () => {
  it('add (up by default), exist, setUp, get, delete', { skip: dummySkip }, () =>
    withNetns(1, async (ns) => {
      const h = link.open({ netns: ns.name });
      try {
        await h.addDummy('kube-ipvs0');
        const made = await h.get('kube-ipvs0');
        assert.deepEqual([made.kind, made.up, made.mtu], ['dummy', true, 1500]);
        assert.match(made.mac!, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
        assert.match(ns.run('ip', ['-d', 'link', 'show', 'kube-ipvs0']), /<BROADCAST,NOARP,UP,LOWER_UP>.*\n.*\n\s+dummy /);

        await assert.rejects(h.addDummy('kube-ipvs0'), (e: unknown) => e instanceof ExistsError && e.code === 'EEXIST' &&
          /link kube-ipvs0 already exists/.test(e.message));
        // exist: an existing dummy is brought to the state asked for.
        await h.addDummy('kube-ipvs0', { exist: true, up: false, mtu: 1400 });
        assert.deepEqual(await h.get('kube-ipvs0').then((l) => [l.up, l.mtu]), [false, 1400]);
        await h.addDummy('kube-ipvs0', { exist: true, up: false });
        assert.equal((await h.get('kube-ipvs0')).mtu, 1400);
        // ... but a link of another kind by that name is still in the way.
        ns.run('ip', ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
        await assert.rejects(h.addDummy('v0', { exist: true }), (e: unknown) => e instanceof ExistsError && /is a veth link/.test(e.message));

        await h.setUp('kube-ipvs0', true);
        assert.match(ns.run('ip', ['link', 'show', 'kube-ipvs0']), /,UP,/);
        await h.setUp('kube-ipvs0', false);
        assert.doesNotMatch(ns.run('ip', ['link', 'show', 'kube-ipvs0']), /,UP/);

        const listed = await h.list();
        // What `ip` lists: a kernel that has loaded ip_gre/ipip/sit (the VM tier's link-kinds file
        // does) gives every new namespace its fallback devices too (gre0, sit0, tunl0, ...).
        const mine = listed.map((l) => `${l.name} ${l.kind}`).sort();
        const ips = (JSON.parse(ns.run('ip', ['-j', '-d', 'link', 'show'])) as { ifname: string; linkinfo?: { info_kind?: string } }[])
          .map((l) => `${l.ifname} ${l.linkinfo?.info_kind}`).sort();
        assert.deepEqual(mine, ips);
        for (const want of ['kube-ipvs0 dummy', 'lo undefined', 'v0 veth', 'v1 veth']) assert.ok(mine.includes(want), want);
        assert.deepEqual(listed.map((l) => l.index), [...listed.map((l) => l.index)].sort((a, b) => a - b));
        await h.delete('kube-ipvs0');
        assert.equal(ns.try('ip', ['link', 'show', 'kube-ipvs0']).status, 1);
        await assert.rejects(h.delete('kube-ipvs0'), (e: unknown) => e instanceof NotFoundError && e.code === 'ENODEV');
        await h.delete('kube-ipvs0', { missingOk: true });
        await assert.rejects(h.get('kube-ipvs0'), NotFoundError);
        await assert.rejects(h.setUp('kube-ipvs0', true), NotFoundError);
      } finally {
        await h.close();
      }
    }));

  it('a kernel without dummy links says which module is missing, and nothing is made', { skip: skip ?? (hasDummy ? 'this kernel has dummy links' : undefined) }, () =>
    withNetns(1, async (ns) => {
      const h = link.open({ netns: ns.path });
      try {
        await assert.rejects(h.addDummy('kube-ipvs0'), (e: unknown) => e instanceof UnsupportedError &&
          /no dummy links \(kernel module dummy, CONFIG_DUMMY/.test(e.message) && e.op === 'link.addDummy');
        assert.deepEqual((await h.list()).map((l) => l.name), ['lo']);
      } finally {
        await h.close();
      }
    }));
});

describe('link: addresses', { skip: addrSkip }, () => {
  let ns: Netns;
  let h: link.LinkHandle;
  before(() => {
    ns = new Netns('lkaddr');
    ns.run('ip', ['link', 'add', 'kube-ipvs0', 'type', testKind!]);
    h = link.open({ netns: ns.path });
  });
  after(async () => {
    await h?.close();
    ns?.remove();
  });

  it('20k addresses: added in one crossing, listed back by nlkit and by ip, synced, removed', async (t) => {
    const n = 20_000;
    const addrs = Array.from({ length: n }, (_, i) => v4(i));
    let t0 = performance.now();
    const added = await counting(() => h.addAddresses('kube-ipvs0', addrs));
    t.diagnostic(`addAddresses ${n}: ${(performance.now() - t0).toFixed(0)} ms on a ${testKind} link`);
    assert.deepEqual(added.sends, [n]);
    assert.equal(added.queries, 0);

    t0 = performance.now();
    const listed = await counting(() => h.listAddresses('kube-ipvs0'));
    t.diagnostic(`listAddresses ${n}: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(listed.queries, 1);
    const mine = listed.result.filter((a) => a.family === 'inet');
    assert.deepEqual(mine.map((a) => a.address).sort(), [...addrs].sort());
    assert.ok(mine.every((a) => a.link === 'kube-ipvs0' && a.scope === 'global' && a.flags.includes('permanent')));
    assert.deepEqual(ipAddrs(ns, 'kube-ipvs0').sort(), [...addrs].sort());

    // Sync to a set that drops the first 1000 and adds 1000 new: only those 2000 changes go out.
    const wanted = [...addrs.slice(1000), ...Array.from({ length: 1000 }, (_, i) => v4(i, 120))];
    t0 = performance.now();
    const synced = await counting(() => h.syncAddresses('kube-ipvs0', wanted));
    t.diagnostic(`syncAddresses ${n} wanted, 2000 changes: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.deepEqual([synced.queries, synced.sends], [1, [2000]]);
    assert.deepEqual(synced.result.removed.sort(), addrs.slice(0, 1000).sort());
    assert.deepEqual(synced.result.added.sort(), wanted.slice(-1000).sort());
    assert.deepEqual(ipAddrs(ns, 'kube-ipvs0').sort(), [...wanted].sort());
    // In sync already: nothing is sent.
    const again = await counting(() => h.syncAddresses('kube-ipvs0', wanted));
    assert.deepEqual([again.sends, again.result], [[], { added: [], removed: [] }]);

    t0 = performance.now();
    const removed = await counting(() => h.delAddresses('kube-ipvs0', wanted));
    t.diagnostic(`delAddresses ${n}: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.deepEqual(removed.sends, [n]);
    assert.deepEqual(ipAddrs(ns, 'kube-ipvs0'), []);
  });

  it('bad input is refused before anything is sent', async () => {
    ns.run('ip', ['addr', 'add', '10.0.0.1/32', 'dev', 'kube-ipvs0']);
    const before = ns.run('ip', ['-o', 'addr', 'show']);
    const invalid = (re: RegExp) => (e: unknown) => e instanceof InvalidArgumentError && e.code === 'EINVAL' && re.test(e.message);
    const { sends, queries } = await counting(async () => {
      await assert.rejects(h.addAddresses('kube-ipvs0-extra', ['10.0.0.2/32']), invalid(/invalid link name "kube-ipvs0-extra" \(1 to 15 bytes/));
      await assert.rejects(h.addAddresses('kube-ipvs0', ['10.0.0.2/32', '10.0.0.3/32', '10.0.0.4/32', '10.0.0.256/32']),
        invalid(/addresses\[3\]: invalid address "10.0.0.256\/32": not an IPv4 or IPv6 address/));
      await assert.rejects(h.addAddresses('kube-ipvs0', ['10.0.0.2/33']), invalid(/prefix length must be a number from 0 to 32/));
      await assert.rejects(h.addAddresses('kube-ipvs0', ['2001:db8::1/129']), invalid(/from 0 to 128/));
      await assert.rejects(h.addAddresses('kube-ipvs0', ['fe80::1%eth0']), invalid(/not an IPv4 or IPv6 address/));
      await assert.rejects(h.addAddresses('kube-ipvs0', ['10.0.0.2/32', '10.0.0.2']), invalid(/addresses\[1\]: 10.0.0.2\/32 is listed twice/));
      await assert.rejects(h.addAddresses('kube-ipvs0', '10.0.0.2/32' as unknown as string[]), invalid(/must be an array/));
      await assert.rejects(h.addAddresses('kube-ipvs0', [42 as unknown as string]), invalid(/addresses\[0\]: invalid address 42/));
      await assert.rejects(h.delAddresses('kube/ipvs0', ['10.0.0.1']), invalid(/invalid link name/));
      await assert.rejects(h.syncAddresses('kube-ipvs0', ['2001:db8::1/64', '2001:db8::1/128']), invalid(/one prefix length only/));
      await assert.rejects(h.addDummy('x', { mtu: -1 }), invalid(/mtu must be an integer/));
      await assert.rejects(h.addDummy('', {}), invalid(/invalid link name ""/));
      await assert.rejects(h.setUp('kube-ipvs0', 'yes' as unknown as boolean), invalid(/up must be true or false/));
    });
    assert.deepEqual([sends, queries], [[], 0]);
    assert.equal(ns.run('ip', ['-o', 'addr', 'show']), before);
    ns.run('ip', ['addr', 'flush', 'dev', 'kube-ipvs0']);
  });

  it('a missing link is NotFoundError and changes nothing', async () => {
    const before = ns.run('ip', ['-o', 'addr', 'show']);
    const missing = (e: unknown) => e instanceof NotFoundError && e.code === 'ENODEV' && /link nosuch0 does not exist/.test(e.message);
    await assert.rejects(h.addAddresses('nosuch0', ['10.0.0.2/32']), missing);
    await assert.rejects(h.delAddresses('nosuch0', ['10.0.0.2/32'], { missingOk: true }), missing);
    await assert.rejects(h.listAddresses('nosuch0'), missing);
    await assert.rejects(h.syncAddresses('nosuch0', []), missing);
    await assert.rejects(h.delete('nosuch0'), missing);
    assert.equal(ns.run('ip', ['-o', 'addr', 'show']), before);
  });

  it('a kernel refusal mid-batch names the address and leaves the link as it was', async () => {
    ns.run('ip', ['addr', 'add', '10.50.1.244/32', 'dev', 'kube-ipvs0']);
    const before = ns.run('ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0']);
    const batch = Array.from({ length: 1000 }, (_, i) => `10.50.${i >> 8}.${i & 255}/32`);  // index 500 is 10.50.1.244
    await assert.rejects(h.addAddresses('kube-ipvs0', batch), (e: unknown) => e instanceof ExistsError && e.code === 'EEXIST' &&
      /^link\.addAddresses: address 10\.50\.1\.244\/32 already exists on link kube-ipvs0/.test(e.message) && e.op === 'link.addAddresses');
    assert.equal(ns.run('ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0']), before);
    // exist: that one is left as it is, the rest are added.
    await h.addAddresses('kube-ipvs0', batch, { exist: true });
    assert.equal(ipAddrs(ns, 'kube-ipvs0').length, 1000);
    // A delete of one that is not there removes nothing; missingOk removes the rest.
    await assert.rejects(h.delAddresses('kube-ipvs0', [...batch.slice(0, 10), '10.99.0.1/32']),
      (e: unknown) => e instanceof NotFoundError && /address 10\.99\.0\.1\/32 is not on link kube-ipvs0/.test(e.message));
    assert.equal(ipAddrs(ns, 'kube-ipvs0').length, 1000);
    await h.delAddresses('kube-ipvs0', [...batch, '10.99.0.1/32'], { missingOk: true });
    assert.deepEqual(ipAddrs(ns, 'kube-ipvs0'), []);
  });

  it('the kernel refuses with its own words, and the caller\'s line is on the stack', async () => {
    // A multicast address is not an interface address.
    const err = await h.addAddresses('kube-ipvs0', ['2001:db8::7/128', 'ff02::1234/128']).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.equal(err.argument, 'ff02::1234/128');
    // Newer kernels (6.18 here, not 6.1) give their reason in the extended ack, which ends the message.
    assert.match(err.message, /the kernel cannot assign address ff02::1234\/128 to link kube-ipvs0 \(EADDRNOTAVAIL\)(: ipv6: Cannot assign multicast address|$)/);
    if (err.detail !== undefined) assert.ok(err.message.endsWith(`: ${err.detail}`), err.message);
    assert.equal(err.code, 'EADDRNOTAVAIL');
    assert.match(err.stack!, /link-ops\.test\.ts/);
    assert.deepEqual(ipAddrs(ns, 'kube-ipvs0'), []);  // the first one was taken back
  });

  it('sync keeps the kernel\'s link-local address, re-adds wanted secondaries, changes IPv6 prefixes', async () => {
    ns.run('ip', ['link', 'set', 'kube-ipvs0', 'up']);
    ns.run('ip', ['-batch', '-'], [
      'addr add 10.1.0.1/24 dev kube-ipvs0', 'addr add 10.1.0.2/24 dev kube-ipvs0', 'addr add 10.1.0.3/24 dev kube-ipvs0',
      'addr add 2001:db8::1/64 dev kube-ipvs0', 'addr add 10.96.0.1/32 dev kube-ipvs0',
    ].join('\n') + '\n');
    const r = await h.syncAddresses('kube-ipvs0', ['10.1.0.2/24', '2001:db8::1/128', '10.96.0.1', '10.96.0.2/32']);
    assert.deepEqual(r, { added: ['2001:db8::1/128', '10.96.0.2/32'], removed: ['10.1.0.1/24', '10.1.0.3/24', '2001:db8::1/64'] });
    assert.deepEqual(ipAddrs(ns, 'kube-ipvs0').sort(), ['10.1.0.2/24', '10.96.0.1/32', '10.96.0.2/32', '2001:db8::1/128']);
    const ll = (await h.listAddresses('kube-ipvs0')).filter((a) => a.address.startsWith('fe80:'));
    assert.equal(ll.length, 1);
    assert.equal(ll[0]!.scope, 'link');
    // A refusal half way through puts back what the sync removed and takes back what it added.
    const before = ns.run('ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0']);
    await assert.rejects(h.syncAddresses('kube-ipvs0', ['10.1.0.9/24', '10.96.0.3/32', 'ff02::1234/128']),
      (e: unknown) => e instanceof InvalidArgumentError && e.code === 'EADDRNOTAVAIL' && /address ff02::1234\/128/.test(e.message));
    assert.equal(ns.run('ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0']), before);
    await h.syncAddresses('kube-ipvs0', []);
    assert.deepEqual(ipAddrs(ns, 'kube-ipvs0'), []);
    assert.equal((await h.listAddresses('kube-ipvs0')).length, 1);  // the link-local one
    ns.run('ip', ['link', 'set', 'kube-ipvs0', 'down']);
  });

  it('calls on one handle run in call order; a closed handle refuses', async () => {
    const ps = [
      h.addAddresses('kube-ipvs0', ['10.3.0.1/32']),
      h.listAddresses('kube-ipvs0'),
      h.delAddresses('kube-ipvs0', ['10.3.0.1/32']),
      h.listAddresses('kube-ipvs0'),
    ] as const;
    const [, seen, , after] = await Promise.all(ps);
    assert.deepEqual(seen.map((a) => a.address).filter((a) => !a.startsWith('fe80')), ['10.3.0.1/32']);
    assert.deepEqual(after.map((a) => a.address).filter((a) => !a.startsWith('fe80')), []);
    const other = link.open({ netns: ns.path });
    await other.close();
    await assert.rejects(other.list(), HandleClosedError);
  });
});
