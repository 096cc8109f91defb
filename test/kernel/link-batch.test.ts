// h.routes.add and h.neighbours.add of a list (one crossing, pipelined): what they add reads
// back in `ip -j route show` / `ip -j neigh show` as `ip -batch` of the same lines made it; a
// refusal in the middle leaves the tables as they were, with the refused entry's index on the
// error; bad input and a missing link send nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { link, ExistsError, InvalidArgumentError, NotFoundError } from '../../lib/index.js';
import type { NeighbourInput, RouteInput } from '../../lib/link/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason();

function prepare(ns: Netns): void {
  // No IPv6 link-local addresses: the kernel adds them (and their routes) a moment after the link comes up.
  ns.run('ip', ['-batch', '-'], ['link add v0 type veth peer name v1', 'link set v0 addrgenmode none up', 'link set v1 addrgenmode none up',
    'addr add 10.0.0.1/24 dev v0', 'addr add fd00::1/64 dev v0 nodad'].join('\n') + '\n');
  ns.settleIpv6();
}
const show = (ns: Netns, what: string[]) => JSON.parse(ns.run('ip', ['-j', ...what])) as Record<string, unknown>[];
/** As sets: the kernel's own IPv6 routes (fe80::/64, ff00::/8 per link) and the neighbour hash come in an order of their own. */
const asSet = (l: Record<string, unknown>[]) => l.map((x) => JSON.stringify(x)).sort();
const tables = (ns: Netns) => ({
  route4: asSet(show(ns, ['route', 'show', 'table', 'all'])),
  route6: asSet(show(ns, ['-6', 'route', 'show', 'table', 'all'])),
  neigh: asSet(show(ns, ['neigh', 'show'])),
});

const ROUTES: [string, RouteInput][] = [
  ['10.1.0.0/24 dev v0', { dst: '10.1.0.0/24', dev: 'v0' }],
  ['10.2.0.0/16 via 10.0.0.2', { dst: '10.2.0.0/16', gateway: '10.0.0.2' }],
  ['10.3.0.0/24 via 10.0.0.3 metric 7 table 100', { dst: '10.3.0.0/24', gateway: '10.0.0.3', metric: 7, table: 100 }],
  ['blackhole 10.4.0.0/24', { dst: '10.4.0.0/24', type: 'blackhole' }],
  ['fd01::/64 via fd00::2', { dst: 'fd01::/64', gateway: 'fd00::2' }],
];
const NEIGH: [string, NeighbourInput][] = [
  ['10.0.0.2 lladdr 02:00:00:00:00:aa dev v0', { dst: '10.0.0.2', lladdr: '02:00:00:00:00:aa', dev: 'v0' }],
  ['10.0.0.3 lladdr 02:00:00:00:00:ab dev v1', { dst: '10.0.0.3', lladdr: '02:00:00:00:00:ab', dev: 'v1' }],
  ['fd00::2 lladdr 02:00:00:00:00:ad dev v0 router', { dst: 'fd00::2', lladdr: '02:00:00:00:00:ad', dev: 'v0', router: true }],
];

const links = (ns: Netns) => show(ns, ['-d', 'link', 'show']);
const VETH = [0, 1, 2].map((i) => ({ name: `va${i}`, kind: 'veth' as const, mac: `02:00:00:00:0a:0${i}`, peer: { name: `vb${i}`, mac: `02:00:00:00:0b:0${i}` } }));
const vethLine = (v: (typeof VETH)[number]) => `link add ${v.name} address ${v.mac} type veth peer name ${v.peer.name} address ${v.peer.mac}`;

describe('links added as a list', { skip }, () => {
  it('read back in `ip -j -d link show` as `ip -batch` of the same lines made them, pipelined and in order', () =>
    withNetns(2, async (byIp, byNlkit) => {
      byIp.run('ip', ['-batch', '-'], [...VETH.map(vethLine), 'link add br9 type bridge', 'link set va0 master br9'].join('\n') + '\n');
      const h = link.open({ netns: byNlkit.path });
      try {
        await h.add(VETH);
        // A list naming another link is made one by one: the bridge first, then its port.
        await h.add({ name: 'br9', kind: 'bridge' });
        await h.update('va0', { master: 'br9' });
        assert.deepEqual(links(byNlkit), links(byIp));
      } finally {
        await h.close();
      }
    }));

  it('a refusal removes the links the call made; bad input sends nothing', () =>
    withNetns(1, async (ns) => {
      ns.run('ip', ['link', 'add', 'vx9', 'type', 'veth', 'peer', 'name', 'vy9']);
      const before = links(ns);
      const h = link.open({ netns: ns.path });
      try {
        await assert.rejects(h.add([...VETH, { name: 'vx9', kind: 'veth', peer: { name: 'vz9' } }]),
          (e: unknown) => e instanceof ExistsError && e.index === VETH.length);
        await assert.rejects(h.add([{ name: 'br8', kind: 'bridge' }, { name: 'va8', kind: 'veth', master: 'br8', peer: { name: 'vb8' } }, { name: 'vx9', kind: 'bridge' }]),
          (e: unknown) => e instanceof ExistsError && e.index === 2);
        await assert.rejects(h.add([...VETH, { name: 'bad/name', kind: 'veth' }]), (e: unknown) => e instanceof InvalidArgumentError && e.index === VETH.length);
        await assert.rejects(h.add([...VETH, { name: 'x', kind: 'nope' } as never]), (e: unknown) => e instanceof InvalidArgumentError && e.index === VETH.length);
        assert.deepEqual(links(ns), before);
      } finally {
        await h.close();
      }
    }));
});

describe('routes and neighbours added as a list', { skip }, () => {
  it('read back in `ip -j route/neigh show` as `ip -batch` of the same lines made them', () =>
    withNetns(2, async (byIp, byNlkit) => {
      prepare(byIp);
      prepare(byNlkit);
      byIp.run('ip', ['-batch', '-'], [...ROUTES.map(([l]) => `route add ${l}`), ...NEIGH.map(([l]) => `neigh add ${l}`)].join('\n') + '\n');
      const h = link.open({ netns: byNlkit.path });
      try {
        await h.routes.add(ROUTES.map(([, r]) => r));
        await h.neighbours.add(NEIGH.map(([, n]) => n));
        assert.deepEqual(tables(byNlkit), tables(byIp));
        await h.routes.add([]);
        await h.neighbours.add([]);
        assert.deepEqual(tables(byNlkit), tables(byIp));
      } finally {
        await h.close();
      }
    }));

  it('a refusal in the middle removes what the call added: tables as before, the error names the entry', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      ns.run('ip', ['route', 'add', '10.9.0.0/24', 'dev', 'v0']);
      ns.run('ip', ['neigh', 'add', '10.0.0.9', 'lladdr', '02:00:00:00:00:09', 'dev', 'v0']);
      const before = tables(ns);
      const h = link.open({ netns: ns.path });
      try {
        const routes = [...ROUTES.map(([, r]) => r), { dst: '10.9.0.0/24', dev: 'v0' }, { dst: '10.8.0.0/24', dev: 'v0' }];
        await assert.rejects(h.routes.add(routes), (e: unknown) => e instanceof ExistsError && e.index === ROUTES.length && /10\.9\.0\.0\/24/.test(e.message));
        const neigh = [...NEIGH.map(([, n]) => n), { dst: '10.0.0.9', lladdr: '02:00:00:00:00:10', dev: 'v0' }];
        await assert.rejects(h.neighbours.add(neigh), (e: unknown) => e instanceof ExistsError && e.index === NEIGH.length);
        assert.deepEqual(tables(ns), before);
      } finally {
        await h.close();
      }
    }));

  it('bad input at any position and a missing link send nothing', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      const before = tables(ns);
      const h = link.open({ netns: ns.path });
      try {
        const good = ROUTES.map(([, r]) => r);
        for (const bad of [null, 7, 'x', { dst: '10.5.0.0/33' }, { dst: '10.5.0.0/24', metric: -1 }, { dst: '10.5.0.0/24', nope: 1 }]) {
          await assert.rejects(h.routes.add([...good, bad as never]), (e: unknown) => e instanceof InvalidArgumentError && e.index === good.length, JSON.stringify(bad));
        }
        await assert.rejects(h.routes.add([...good, { dst: '10.5.0.0/24', dev: 'nope0' }]), (e: unknown) => e instanceof NotFoundError && e.index === good.length);
        const goodN = NEIGH.map(([, n]) => n);
        for (const bad of [undefined, [], { dst: '10.0.0.5', dev: 'v0' }, { dst: '10.0.0.5', lladdr: 'zz', dev: 'v0' }, { dst: 'x', lladdr: '02:00:00:00:00:01', dev: 'v0' }]) {
          await assert.rejects(h.neighbours.add([bad as never, ...goodN]), (e: unknown) => e instanceof InvalidArgumentError && e.index === 0, JSON.stringify(bad));
        }
        await assert.rejects(h.neighbours.add([...goodN, { dst: '10.0.0.5', lladdr: '02:00:00:00:00:01', dev: 'nope0' }]), NotFoundError);
        assert.deepEqual(tables(ns), before);
      } finally {
        await h.close();
      }
    }));
});
