// h.add / h.update / h.list for the link kinds this host's kernel makes (veth, bridge, macvlan,
// vxlan, ifb), against iproute2: a link nlkit made reads back in `ip -j -d link show` as the one
// `ip link add` made with the same parameters, whole objects; nlkit lists what ip made (flags,
// operstate, master, peer, statistics) as `ip -j -s -d link show` reports it. The kinds this
// kernel lacks run in the VM tier (test/kernel/link-kinds-vm.test.ts). Every test runs in
// throwaway namespaces.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { link, InvalidArgumentError, NotFoundError, ExistsError } from '../../lib/index.js';
import type { AddLinkInput } from '../../lib/link/types.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { linksOfIp, type IpLink } from '../helpers/links.js';

const skip = kernelSkipReason();

// Bridge timers tick between two reads: they are normalised to 0 (their presence still compared).
const TIMERS = new Set(['hello_timer', 'tcn_timer', 'topology_change_timer', 'gc_timer', 'hold_timer', 'message_age_timer', 'forward_delay_timer']);

/** `ip -j -d link show` with the ticking timers zeroed; everything else compared as is. */
function ipLinks(ns: Netns, ...args: string[]): unknown[] {
  return JSON.parse(ns.run('ip', ['-j', '-d', 'link', 'show', ...args]), (k, v: unknown) => (TIMERS.has(k) ? 0 : v)) as unknown[];
}

/**
 * Both namespaces' links, equal: carrier (NO-CARRIER, LOWER_UP) and operstate are set by the
 * kernel's linkwatch work up to a second after a change, so the two are read until they settle.
 */
async function settledEqual(a: Netns, b: Netns, what: string): Promise<void> {
  for (let i = 0; ; i++) {
    const x = ipLinks(a), y = ipLinks(b);
    if (i >= 30 || isDeepStrictEqual(x, y)) return assert.deepEqual(x, y, what);
    await sleep(100);
  }
}

const mac = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;

interface Case {
  what: string;
  /** Run by ip in both namespaces first (the links the case's link sits on). */
  prep?: string[];
  ip: string;
  nlkit: AddLinkInput;
  /** The case needs a second namespace for each side (a veth peer goes there); `OTHER` in `ip` names it. */
  other?: boolean;
}

const CASES: Case[] = [
  { what: 'veth pair', ip: `link add v0 address ${mac(1)} mtu 1400 type veth peer name v1 address ${mac(2)}`,
    nlkit: { name: 'v0', kind: 'veth', mac: mac(1), mtu: 1400, peer: { name: 'v1', mac: mac(2) } } },
  { what: 'veth pair, up', ip: `link add v0 address ${mac(1)} up type veth peer name v1 address ${mac(2)}`,
    nlkit: { name: 'v0', kind: 'veth', mac: mac(1), up: true, peer: { name: 'v1', mac: mac(2) } } },
  { what: 'veth pair with its peer in another namespace', other: true,
    ip: `link add v0 address ${mac(1)} type veth peer name eth0 address ${mac(2)} netns OTHER`,
    nlkit: { name: 'v0', kind: 'veth', mac: mac(1), peer: { name: 'eth0', mac: mac(2), netns: 'OTHER' } } },
  { what: 'bridge', ip: `link add br0 address ${mac(3)} up type bridge`, nlkit: { name: 'br0', kind: 'bridge', mac: mac(3), up: true } },
  { what: 'veth enslaved to a bridge at creation', prep: [`link add br0 address ${mac(3)} type bridge`],
    ip: `link add v0 address ${mac(1)} master br0 type veth peer name v1 address ${mac(2)}`,
    nlkit: { name: 'v0', kind: 'veth', mac: mac(1), master: 'br0', peer: { name: 'v1', mac: mac(2) } } },
  { what: 'macvlan', prep: [`link add p0 address ${mac(4)} type veth peer name p1 address ${mac(5)}`],
    ip: `link add link p0 name mv0 address ${mac(6)} type macvlan mode bridge`,
    nlkit: { name: 'mv0', kind: 'macvlan', link: 'p0', mac: mac(6), mode: 'bridge' } },
  { what: 'macvlan, default mode', prep: [`link add p0 address ${mac(4)} type veth peer name p1 address ${mac(5)}`],
    ip: `link add link p0 name mv0 address ${mac(6)} type macvlan`,
    nlkit: { name: 'mv0', kind: 'macvlan', link: 'p0', mac: mac(6) } },
  { what: 'vxlan with a local address', ip: `link add vx0 address ${mac(7)} type vxlan id 42 local 10.0.0.1 dstport 4789`,
    nlkit: { name: 'vx0', kind: 'vxlan', mac: mac(7), id: 42, local: '10.0.0.1', port: 4789 } },
  { what: 'vxlan with a remote, a device and a ttl', prep: [`link add p0 address ${mac(4)} type veth peer name p1 address ${mac(5)}`],
    ip: `link add vx1 address ${mac(7)} type vxlan id 7 remote 10.0.0.2 dev p0 ttl 10 dstport 4789`,
    nlkit: { name: 'vx1', kind: 'vxlan', mac: mac(7), id: 7, remote: '10.0.0.2', link: 'p0', ttl: 10, port: 4789 } },
  { what: 'vxlan over IPv6', ip: `link add vx6 address ${mac(7)} type vxlan id 9 local fd00::1 remote fd00::2 dstport 4789`,
    nlkit: { name: 'vx6', kind: 'vxlan', mac: mac(7), id: 9, local: 'fd00::1', remote: 'fd00::2', port: 4789 } },
  { what: 'ifb', ip: `link add ifb0 address ${mac(8)} mtu 9000 type ifb`, nlkit: { name: 'ifb0', kind: 'ifb', mac: mac(8), mtu: 9000 } },
];

describe('link kinds: nlkit writes, ip reads', { skip }, () => {
  for (const c of CASES) {
    it(`${c.what} reads back in \`ip -j -d link show\` as \`ip ${c.ip}\` made it`, () =>
      withNetns(c.other ? 4 : 2, async (byIp, byNlkit, ipOther, nlkitOther) => {
        for (const line of c.prep ?? []) {
          byIp.run('ip', line.split(' '));
          byNlkit.run('ip', line.split(' '));
        }
        byIp.run('ip', c.ip.replace('OTHER', ipOther?.name ?? '').split(' '));
        const h = link.open({ netns: byNlkit.name });
        try {
          const input = c.other ? { ...c.nlkit, peer: { ...c.nlkit.peer!, netns: nlkitOther!.name } } : c.nlkit;
          await h.add(input);
        } finally {
          await h.close();
        }
        assert.ok(ipLinks(byIp).some((l) => (l as IpLink).ifname === c.nlkit.name), 'ip made the link');
        await settledEqual(byNlkit, byIp, c.ip);
        if (c.other) await settledEqual(nlkitOther!, ipOther!, `${c.ip}: the other namespace`);
      }));
  }
});

describe('link kinds: update', { skip }, () => {
  it('h.update does what `ip link set` does: up, mtu, address, master, nomaster, name, netns', () =>
    withNetns(4, async (byIp, byNlkit, ipOther, nlkitOther) => {
      const prep = [`link add br0 address ${mac(3)} type bridge`, `link add v0 address ${mac(1)} type veth peer name v1 address ${mac(2)}`,
        `link add w0 address ${mac(4)} type veth peer name w1 address ${mac(5)}`];
      for (const ns of [byIp, byNlkit]) for (const l of prep) ns.run('ip', l.split(' '));
      const h = link.open({ netns: byNlkit.path });
      const steps: [string, string, Parameters<typeof h.update>[1]][] = [
        ['v0', 'up mtu 1300 address 02:00:00:00:00:aa master br0', { up: true, mtu: 1300, mac: '02:00:00:00:00:aa', master: 'br0' }],
        ['br0', 'up', { up: true }],
        ['v0', 'nomaster', { master: null }],
        ['v1', 'name v9', { name: 'v9' }],
        ['w1', 'netns OTHER', { netns: 'OTHER' }],
        ['v0', 'down', { up: false }],
      ];
      try {
        for (const [dev, ipArgs, change] of steps) {
          byIp.run('ip', ['link', 'set', 'dev', dev, ...ipArgs.replace('OTHER', ipOther!.name).split(' ')]);
          await h.update(dev, change.netns ? { ...change, netns: nlkitOther!.name } : change);
          await settledEqual(byNlkit, byIp, `ip link set dev ${dev} ${ipArgs}`);
        }
        await settledEqual(nlkitOther!, ipOther!, 'the namespace w1 moved to');
        assert.equal((await h.get('br0')).up, true);
      } finally {
        await h.close();
      }
    }));
});

describe('link kinds: nlkit reads what ip made', { skip }, () => {
  it('h.list() is `ip -j -s -d link show` (flags, operstate, master, peer, statistics), after traffic', () =>
    withNetns(2, async (ns, other) => {
      // No IPv6: its router solicitations and DAD would move the counters between the two reads.
      for (const n of [ns, other]) n.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      ns.run('ip', ['-batch', '-'], [
        'link add br0 type bridge', 'link set br0 up',
        'link add v0 master br0 up type veth peer name v1', 'link set v1 up',
        `link add x0 up type veth peer name eth0 netns ${other.name}`,
        'addr add 10.0.0.1/24 dev x0',
        'link add link v1 name mv0 type macvlan mode private',
        'link add vx0 type vxlan id 42 local 10.0.0.1 dstport 4789',
        'link add ifb0 type ifb', 'link set ifb0 up',
      ].join('\n') + '\n');
      other.run('ip', ['link', 'set', 'eth0', 'up']);
      other.run('ip', ['addr', 'add', '10.0.0.2/24', 'dev', 'eth0']);
      other.run('busybox', ['ping', '-c', '3', '-W', '2', '10.0.0.1']);
      const h = link.open({ netns: ns.path });
      try {
        const listed = await h.list();
        assert.deepEqual(listed, linksOfIp(ns, true));
        const x0 = listed.find((l) => l.name === 'x0')!;
        assert.ok(x0.stats!.rx.packets >= 3 && x0.stats!.tx.packets >= 3, JSON.stringify(x0.stats));
        assert.equal(listed.find((l) => l.name === 'v0')!.master, 'br0');
        assert.deepEqual(await h.get('x0'), x0);
      } finally {
        await h.close();
      }
    }));
});

describe('link kinds: errors', { skip }, () => {
  it('bad input of any type is an InvalidArgumentError and nothing is made', () =>
    withNetns(1, async (ns) => {
      ns.run('ip', ['link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
      const before = ipLinks(ns);
      const h = link.open({ netns: ns.path });
      const bad: unknown[] = [
        undefined, null, 7, 'br0', [], { name: 'br0' }, { name: 'br0', kind: 'tun' }, { name: 'br0', kind: 7 },
        { name: '', kind: 'bridge' }, { name: 'x'.repeat(16), kind: 'bridge' }, { name: 'a/b', kind: 'bridge' },
        { name: 'br0', kind: 'bridge', mtu: -1 }, { name: 'br0', kind: 'bridge', mtu: 1.5 }, { name: 'br0', kind: 'bridge', mtu: '1500' },
        { name: 'br0', kind: 'bridge', up: 'yes' }, { name: 'br0', kind: 'bridge', mac: '02:00:00:00:00' },
        { name: 'br0', kind: 'bridge', mac: 2 }, { name: 'br0', kind: 'bridge', peer: { name: 'x' } }, { name: 'br0', kind: 'bridge', bogus: 1 },
        { name: 'v0', kind: 'veth', peer: 'v1' }, { name: 'v0', kind: 'veth', peer: { name: 'v1', extra: 1 } },
        { name: 'v0', kind: 'veth', peer: { name: 'v0' } }, { name: 'v0', kind: 'veth', peer: { name: 'v1', netns: 'rel/path' } },
        { name: 'v0', kind: 'veth', peer: { name: 'v1', netns: 7 } }, { name: 'v0', kind: 'veth', peer: { name: 'v1', mac: 'zz' } },
        { name: 'mv0', kind: 'macvlan' }, { name: 'mv0', kind: 'macvlan', link: 'p0', mode: 'wild' },
        { name: 'vx0', kind: 'vxlan' }, { name: 'vx0', kind: 'vxlan', id: 1 << 24 }, { name: 'vx0', kind: 'vxlan', id: 1, port: 70000 },
        { name: 'vx0', kind: 'vxlan', id: 1, local: '10.0.0.1', remote: 'fd00::1' }, { name: 'vx0', kind: 'vxlan', id: 1, local: 'x' },
        { name: 'vx0', kind: 'vxlan', id: 1, ttl: 256 },
      ];
      try {
        for (const b of bad) {
          // A list is many links (an empty one makes nothing): each bad value is refused alone and inside a list.
          if (!Array.isArray(b)) await assert.rejects(h.add(b as AddLinkInput), InvalidArgumentError, JSON.stringify(b));
          await assert.rejects(h.add([b as AddLinkInput]), InvalidArgumentError, JSON.stringify(b));
        }
        const badUpdates: [unknown, unknown][] = [
          ['p0', undefined], ['p0', null], ['p0', 'up'], ['p0', { up: 1 }], ['p0', { mtu: 'x' }], ['p0', { mac: '1' }], ['p0', { master: 7 }],
          ['p0', { name: '' }], ['p0', { netns: '' }], ['p0', { bogus: true }], [7, { up: true }], ['', { up: true }],
        ];
        for (const [n, u] of badUpdates) await assert.rejects(h.update(n as string, u as object), InvalidArgumentError, JSON.stringify([n, u]));
        // Names that do not resolve: NotFoundError, and nothing is made or changed.
        await assert.rejects(h.add({ name: 'v0', kind: 'veth', master: 'nobr', peer: { name: 'v1' } }), NotFoundError);
        await assert.rejects(h.add({ name: 'mv0', kind: 'macvlan', link: 'nolink' }), NotFoundError);
        await assert.rejects(h.add({ name: 'v0', kind: 'veth', peer: { name: 'v1', netns: 'nlkit-no-such-ns' } }), NotFoundError);
        await assert.rejects(h.update('p0', { up: true, master: 'nobr' }), NotFoundError);
        await assert.rejects(h.update('nolink', { up: true }), NotFoundError);
        assert.deepEqual(ipLinks(ns), before);
        // The kernel's refusals are typed too.
        await assert.rejects(h.add({ name: 'p0', kind: 'bridge' }), ExistsError);
        await assert.rejects(h.update('p0', { master: 'p1' }), (e: unknown) => e instanceof Error && 'errno' in e);
        await h.delete('p0');
        await assert.rejects(h.get('p0'), NotFoundError);
        assert.deepEqual(ipLinks(ns).map((l) => (l as IpLink).ifname), ['lo']);
      } finally {
        await h.close();
      }
    }));
});
