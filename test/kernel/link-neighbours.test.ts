// h.neighbours against `ip neigh`: entries nlkit adds, replaces and deletes read back in
// `ip -j neigh show` (and `show proxy`) exactly as the ones `ip neigh` made with the same
// arguments; nlkit lists what ip made as ip prints it; flush removes what `ip neigh flush`
// removes. IPv4 and IPv6, in throwaway namespaces on a veth pair.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { link, ExistsError, InvalidArgumentError, NotFoundError } from '../../lib/index.js';
import type { Neighbour, NeighbourInput } from '../../lib/link/neighbours.js';
import { kernelSkipReason, withNetns, type Netns, withHandle } from '../helpers/netns.js';

const skip = kernelSkipReason();

/** A veth pair, up, with an address of each family (what neighbour entries need to exist on). */
function prepare(ns: Netns): void {
  ns.run('ip', ['-batch', '-'], ['link add v0 address 02:00:00:00:00:01 up type veth peer name v1 address 02:00:00:00:00:02',
    'link set v1 up', 'addr add 10.0.0.1/24 dev v0', 'addr add fd00::1/64 dev v0 nodad'].join('\n') + '\n');
}

/** `ip -j neigh show` (or `show proxy`; both families), in nlkit's shape: ip's null markers as true. */
function neighOfIp(ns: Netns, proxy = false): Neighbour[] {
  const out = JSON.parse(ns.run('ip', proxy ? ['-j', 'neigh', 'show', 'proxy'] : ['-j', 'neigh', 'show'])) as Record<string, unknown>[];
  return out.map((n) => {
    const r: Record<string, unknown> = { ...n };
    for (const k of ['router', 'proxy']) if (k in r) r[k] = true;
    return r as unknown as Neighbour;
  });
}

/**
 * The kernel dumps neighbours in hash-table order, and each namespace's table hashes with its
 * own random seed: between two namespaces the entries compare as sets (one namespace's list and
 * ip's compare in order).
 */
const sorted = (l: Neighbour[]): Neighbour[] => [...l].sort((a, b) => `${a.dev} ${a.dst}`.localeCompare(`${b.dev} ${b.dst}`));

const CASES: [string, NeighbourInput][] = [
  ['10.0.0.2 lladdr 02:00:00:00:00:aa dev v0', { dst: '10.0.0.2', lladdr: '02:00:00:00:00:aa', dev: 'v0' }],
  ['10.0.0.3 lladdr 02:00:00:00:00:ab dev v0 nud reachable', { dst: '10.0.0.3', lladdr: '02:00:00:00:00:ab', dev: 'v0', state: 'reachable' }],
  ['10.0.0.4 lladdr 02:00:00:00:00:ac dev v0 nud stale', { dst: '10.0.0.4', lladdr: '02:00:00:00:00:ac', dev: 'v0', state: 'stale' }],
  ['fd00::2 lladdr 02:00:00:00:00:ad dev v0 router', { dst: 'fd00::2', lladdr: '02:00:00:00:00:ad', dev: 'v0', router: true }],
  ['fd00::3 lladdr 02:00:00:00:00:ae dev v1', { dst: 'fd00::3', lladdr: '02:00:00:00:00:ae', dev: 'v1' }],
  ['proxy 10.0.0.9 dev v0', { dst: '10.0.0.9', dev: 'v0', proxy: true }],
  ['proxy fd00::9 dev v1', { dst: 'fd00::9', dev: 'v1', proxy: true }],
];

describe('neighbours: nlkit writes, ip reads', { skip }, () => {
  it('add, replace and delete read back in `ip -j neigh show` as `ip neigh` made them', () =>
    withNetns(2, async (byIp, byNlkit) => {
      prepare(byIp);
      prepare(byNlkit);
      const h = link.open({ netns: byNlkit.path });
      const compare = (what: string) => {
        assert.deepEqual(sorted(neighOfIp(byNlkit)), sorted(neighOfIp(byIp)), what);
        assert.deepEqual(sorted(neighOfIp(byNlkit, true)), sorted(neighOfIp(byIp, true)), `${what} (proxy)`);
      };
      try {
        for (const [args, input] of CASES) {
          byIp.run('ip', ['neigh', 'add', ...args.split(' ')]);
          await h.neighbours.add(input);
          compare(`ip neigh add ${args}`);
        }
        assert.equal(neighOfIp(byIp).length, 5);
        const replaces: [string, NeighbourInput][] = [
          ['10.0.0.2 lladdr 02:00:00:00:00:ff dev v0 nud reachable', { dst: '10.0.0.2', lladdr: '02:00:00:00:00:ff', dev: 'v0', state: 'reachable' }],
          ['10.0.0.7 lladdr 02:00:00:00:00:07 dev v0', { dst: '10.0.0.7', lladdr: '02:00:00:00:00:07', dev: 'v0' }],
          ['fd00::2 lladdr 02:00:00:00:00:ad dev v0', { dst: 'fd00::2', lladdr: '02:00:00:00:00:ad', dev: 'v0' }],
        ];
        for (const [args, input] of replaces) {
          byIp.run('ip', ['neigh', 'replace', ...args.split(' ')]);
          await h.neighbours.replace(input);
          compare(`ip neigh replace ${args}`);
        }
        for (const [args, input] of [['10.0.0.3 dev v0', { dst: '10.0.0.3', dev: 'v0' }], ['proxy fd00::9 dev v1', { dst: 'fd00::9', dev: 'v1', proxy: true }]] as const) {
          byIp.run('ip', ['neigh', 'del', ...args.split(' ')]);
          await h.neighbours.delete(input);
          compare(`ip neigh del ${args}`);
        }
      } finally {
        await h.close();
      }
    }));
});

describe('neighbours: ip writes, nlkit reads', { skip }, () => {
  it('list() is `ip -j neigh show`, list({ proxy }) `ip -j neigh show proxy`, list({ dev }) one link\'s', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      for (const [args] of CASES) ns.run('ip', ['neigh', 'add', ...args.split(' ')]);
      await withHandle(link.open({ netns: ns.path }), async (h) => {
        const listed = await h.neighbours.list();
        assert.deepEqual(listed, neighOfIp(ns));
        assert.equal(listed.length, 5);
        assert.deepEqual(await h.neighbours.list({ proxy: true }), neighOfIp(ns, true));
        assert.deepEqual(await h.neighbours.list({ dev: 'v1' }), neighOfIp(ns).filter((n) => n.dev === 'v1'));
      });
    }));

  it('flush removes what `ip neigh flush` removes (learned entries), permanent and proxy entries stay', () =>
    withNetns(2, async (byIp, byNlkit) => {
      for (const ns of [byIp, byNlkit]) {
        prepare(ns);
        for (const [args] of CASES) ns.run('ip', ['neigh', 'add', ...args.split(' ')]);
      }
      byIp.run('ip', ['neigh', 'flush', 'dev', 'v0']);
      await withHandle(link.open({ netns: byNlkit.path }), async (h) => {
        assert.equal(await h.neighbours.flush({ dev: 'v0' }), 2); // the reachable and the stale one
        assert.deepEqual(sorted(neighOfIp(byNlkit)), sorted(neighOfIp(byIp)));
        assert.deepEqual(sorted(neighOfIp(byNlkit, true)), sorted(neighOfIp(byIp, true)));
        assert.equal(await h.neighbours.flush(), 0);
      });
    }));
});

describe('neighbours: errors', { skip }, () => {
  it('bad input is an InvalidArgumentError and nothing is applied; the kernel\'s refusals are typed', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      ns.run('ip', ['neigh', 'add', '10.0.0.2', 'lladdr', '02:00:00:00:00:aa', 'dev', 'v0']);
      const before = [neighOfIp(ns), neighOfIp(ns, true)];
      const h = link.open({ netns: ns.path });
      const bad: unknown[] = [
        undefined, null, 'x', [], {}, { dst: '10.0.0.5', dev: 'v0' }, { dst: '10.0.0.5', lladdr: 'x', dev: 'v0' },
        { dst: '10.0.0.5', lladdr: '02:00:00:00:00:01', dev: 7 }, { dst: 'nope', lladdr: '02:00:00:00:00:01', dev: 'v0' },
        { dst: 10, lladdr: '02:00:00:00:00:01', dev: 'v0' }, { dst: '10.0.0.5/24', lladdr: '02:00:00:00:00:01', dev: 'v0' },
        { dst: '10.0.0.5', lladdr: '02:00:00:00:00:01', dev: 'v0', state: 'bogus' },
        { dst: '10.0.0.5', lladdr: '02:00:00:00:00:01', dev: 'v0', proxy: 'yes' },
        { dst: '10.0.0.5', lladdr: '02:00:00:00:00:01', dev: 'v0', proxy: true },
        { dst: '10.0.0.5', lladdr: '02:00:00:00:00:01', dev: 'v0', extra: 1 },
      ];
      try {
        for (const b of bad) {
          // A list is many entries (an empty one adds nothing): each bad value is refused alone and inside a list.
          if (!Array.isArray(b)) await assert.rejects(h.neighbours.add(b as NeighbourInput), InvalidArgumentError, JSON.stringify(b));
          await assert.rejects(h.neighbours.add([b as NeighbourInput]), InvalidArgumentError, JSON.stringify(b));
          await assert.rejects(h.neighbours.replace(b as NeighbourInput), InvalidArgumentError, JSON.stringify(b));
        }
        for (const o of [null, 'v0', { dev: 7 }, { proxy: 1 }, { what: 1 }]) {
          await assert.rejects(h.neighbours.list(o as object), InvalidArgumentError, JSON.stringify(o));
          await assert.rejects(h.neighbours.flush(o as object), InvalidArgumentError, JSON.stringify(o));
        }
        await assert.rejects(h.neighbours.add({ dst: '10.0.0.5', lladdr: '02:00:00:00:00:01', dev: 'nodev' }), NotFoundError);
        await assert.rejects(h.neighbours.flush({ dev: 'nodev' }), NotFoundError);
        assert.deepEqual([neighOfIp(ns), neighOfIp(ns, true)], before);
        await assert.rejects(h.neighbours.add({ dst: '10.0.0.2', lladdr: '02:00:00:00:00:aa', dev: 'v0' }), ExistsError);
        await assert.rejects(h.neighbours.delete({ dst: '10.0.0.77', dev: 'v0' }), NotFoundError);
      } finally {
        await h.close();
      }
    }));
});
