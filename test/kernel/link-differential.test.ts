// iproute2 is the oracle: a dummy link and addresses nlkit made read back in `ip` exactly as
// if `ip link add` / `ip addr add` had made them, and nlkit lists what `ip` made as `ip -j`
// reports it. Every test runs in throwaway namespaces. Dummy links need CONFIG_DUMMY; on a
// host kernel without it those tests say so, and the address tests use an ifb link instead.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { release } from 'node:os';
import { link } from '../../lib/index.js';
import type { Address, Link } from '../../lib/link/types.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { linksOfIp, probeLinkKinds } from '../helpers/links.js';

const skip = kernelSkipReason();

const kinds = probeLinkKinds(['dummy', 'ifb', 'veth', 'bridge']);
const dummySkip = skip ?? (kinds.has('dummy') ? undefined
  : `the running kernel (${release()}) has no dummy links (CONFIG_DUMMY); run these tests in the VM: ` +
    'bash scripts/vm/run.sh node --import tsx --test test/kernel/link-*.test.ts');
/** The kind of link the address tests put their addresses on. */
const testKind = kinds.has('dummy') ? 'dummy' : kinds.has('ifb') ? 'ifb' : undefined;
const addrSkip = skip ?? (testKind ? undefined : 'the running kernel has neither dummy nor ifb links');

/** `ip` output with what differs between two otherwise equal links masked: the random MAC and what derives from it. */
const masked = (text: string): string => text
  .replace(/link\/ether [0-9a-f:]{17}/g, 'link/ether MAC')
  .replace(/permaddr [0-9a-f:]{17}/g, 'permaddr MAC')
  .replace(/fe80::[0-9a-f:]+/g, 'fe80::EUI64');

const ipText = (ns: Netns, ...args: string[]): string => masked(ns.run('ip', args));

/** ip -batch in a namespace (one process for many commands). */
const ipBatch = (ns: Netns, lines: string[]): void => {
  ns.run('ip', ['-batch', '-'], lines.join('\n') + '\n');
};

describe('link: nlkit writes, ip reads', () => {
  it('a dummy link reads back in `ip -d link show` as one `ip link add ... type dummy` made', { skip: dummySkip }, async () => {
    const variants: { ip: string[]; nlkit: link.AddDummyOptions }[] = [
      { ip: ['type', 'dummy'], nlkit: { up: false } },
      { ip: ['up', 'type', 'dummy'], nlkit: {} },
      { ip: ['up', 'mtu', '1400', 'type', 'dummy'], nlkit: { mtu: 1400 } },
    ];
    for (const v of variants) {
      await withNetns(2, async (byIp, byNlkit) => {
        byIp.run('ip', ['link', 'add', 'kube-ipvs0', ...v.ip]);
        const h = link.open({ netns: byNlkit.path });
        try {
          await h.addDummy('kube-ipvs0', v.nlkit);
        } finally {
          await h.close();
        }
        const want = ipText(byIp, '-d', 'link', 'show', 'kube-ipvs0');
        assert.match(want, /dummy/);
        assert.equal(ipText(byNlkit, '-d', 'link', 'show', 'kube-ipvs0'), want, `ip link add kube-ipvs0 ${v.ip.join(' ')}`);
        // The kernel's own addresses (IPv6 link-local when up) come out the same way too.
        assert.equal(ipText(byNlkit, '-o', 'addr', 'show', 'dev', 'kube-ipvs0'), ipText(byIp, '-o', 'addr', 'show', 'dev', 'kube-ipvs0'));
      });
    }
  });

  it('addresses read back in `ip -o addr show` as ones `ip addr add` made, and so do deletions', { skip: addrSkip }, () =>
    withNetns(2, async (byIp, byNlkit) => {
      const addrs = [
        '10.96.0.1/32', '10.96.0.2', '10.96.255.254/32', '10.1.0.1/24', '10.1.0.2/24', '10.1.0.3/24', '192.168.7.9/16',
        '127.0.0.5/8', '2001:db8::1/128', '2001:DB8:0:0:1::5/64', 'fd00::a:b', '::ffff:10.2.3.4/128',
      ];
      for (const ns of [byIp, byNlkit]) ns.run('ip', ['link', 'add', 'x0', 'up', 'type', testKind!]);
      ipBatch(byIp, addrs.map((a) => `addr add ${a} dev x0`));
      const h = link.open({ netns: byNlkit.path });
      try {
        await h.addAddresses('x0', addrs);
        const want = ipText(byIp, '-o', 'addr', 'show', 'dev', 'x0');
        assert.equal(want.split('\n').filter(Boolean).length, addrs.length + 1);  // + the kernel's fe80::
        assert.equal(ipText(byNlkit, '-o', 'addr', 'show', 'dev', 'x0'), want);
        // Deleting the /24 primary takes its secondaries with it (promote_secondaries is off), in both.
        const del = ['10.96.0.2/32', '10.1.0.1/24', '2001:db8::1:0:0:5/64'];
        ipBatch(byIp, del.map((a) => `addr del ${a} dev x0`));
        await h.delAddresses('x0', del);
        assert.equal(ipText(byNlkit, '-o', 'addr', 'show', 'dev', 'x0'), ipText(byIp, '-o', 'addr', 'show', 'dev', 'x0'));
        // The routes the kernel derives from them agree as well.
        for (const table of ['local', 'main']) {
          for (const fam of ['-4', '-6']) {
            assert.equal(ipText(byNlkit, fam, 'route', 'show', 'table', table), ipText(byIp, fam, 'route', 'show', 'table', table), `${fam} table ${table}`);
          }
        }
      } finally {
        await h.close();
      }
    }));
});

// ---- ip writes, nlkit reads ----

interface IpAddrInfo {
  family: string; local: string; prefixlen: number; scope: string; label?: string; address?: string; broadcast?: string;
  valid_life_time: number; preferred_life_time: number; [flag: string]: unknown;
}
interface IpAddrLink { ifindex: number; ifname: string; addr_info: IpAddrInfo[] }

const FLAGS = ['secondary', 'temporary', 'nodad', 'optimistic', 'dadfailed', 'home', 'deprecated', 'tentative',
  'mngtmpaddr', 'noprefixroute', 'autojoin', 'stable-privacy'];
const FOREVER = 4294967295;

/** Statistics tick (IPv6 router solicitations on links that are up): test/kernel/link-kinds.test.ts compares them where nothing moves. */
const withoutStats = (links: Link[]): Link[] => links.map(({ stats: _, ...l }) => l);

/** `ip -j addr show`, in nlkit's shape (lifetimes only as present or not: they tick). */
function addrsOfIp(ns: Netns, dev?: string): unknown[] {
  const links = JSON.parse(ns.run('ip', ['-j', 'addr', 'show', ...(dev ? ['dev', dev] : [])])) as IpAddrLink[];
  const out: unknown[] = [];
  for (const l of links) {
    for (const a of l.addr_info) {
      const flags = FLAGS.filter((f) => a[f] === true);
      if (a.dynamic !== true) flags.push('permanent');
      out.push({
        link: l.ifname, index: l.ifindex, family: a.family, address: `${a.local}/${a.prefixlen}`, scope: a.scope,
        flags: flags.sort(), label: a.label, peer: a.address, broadcast: a.broadcast,
        validLft: a.valid_life_time !== FOREVER, preferredLft: a.preferred_life_time !== FOREVER,
      });
    }
  }
  return out;
}

const shape = (list: Address[]): unknown[] => list.map((a) => ({
  link: a.link, index: a.index, family: a.family, address: a.address, scope: a.scope, flags: [...a.flags].sort(),
  label: a.label, peer: a.peer, broadcast: a.broadcast, validLft: a.validLft !== undefined, preferredLft: a.preferredLft !== undefined,
}));

describe('link: ip writes, nlkit reads', () => {
  it('lists the links and addresses `ip` made as `ip -j` reports them', { skip: addrSkip }, () =>
    withNetns(1, async (ns) => {
      const lines = [`link add x0 mtu 9000 type ${testKind}`, 'link set x0 up'];
      if (kinds.has('dummy')) lines.push('link add kube-ipvs0 type dummy');
      if (kinds.has('ifb')) lines.push('link add ifb7 type ifb');
      if (kinds.has('veth')) lines.push('link add v0 type veth peer name v1', 'link set v1 mtu 1280 up');
      if (kinds.has('bridge')) lines.push('link add br0 type bridge', 'link set br0 up');
      lines.push(
        'addr add 10.0.0.1/24 brd + dev x0',
        'addr add 10.0.0.2/24 dev x0',
        'addr add 10.0.0.3/24 dev x0 label x0:web',
        'addr add 10.9.0.1 peer 10.9.0.2 dev x0',
        'addr add 10.7.0.1/32 dev x0 valid_lft 1000 preferred_lft 500',
        'addr add 127.0.0.9/8 dev x0',
        'addr add 172.16.0.1/12 dev x0 scope link',
        'addr add 2001:db8::5/64 dev x0 noprefixroute',
        'addr add 2001:db8:1::1/128 dev x0 nodad',
        'addr add 10.5.5.5/32 dev lo',
      );
      ipBatch(ns, lines);
      // 2001:db8::5 is tentative until duplicate address detection ends (about a second, more
      // under emulation): wait it out, or ip and nlkit may read the flags on either side of it.
      for (let i = 0; i < 100 && ns.run('ip', ['-6', 'addr', 'show', 'tentative']).trim(); i++) await sleep(100);
      const h = link.open({ netns: ns.path });
      try {
        assert.deepEqual(withoutStats(await h.list()), linksOfIp(ns));
        assert.deepEqual(shape(await h.listAddresses()), addrsOfIp(ns));
        assert.deepEqual(shape(await h.listAddresses('x0')), addrsOfIp(ns, 'x0'));
        const x0 = await h.get('x0');
        assert.deepEqual([x0.name, x0.kind, x0.up, x0.mtu], ['x0', testKind, true, 9000]);
        if (kinds.has('veth')) assert.equal((await h.get('v1')).kind, 'veth');
      } finally {
        await h.close();
      }
    }));
});
