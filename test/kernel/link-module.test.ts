// The module-level link functions (link.add, link.update, link.routes/rules/neighbours/sysctls,
// link.events) act on a default handle in the caller's own namespace: a node process run
// inside a throwaway namespace (`ip netns exec`) uses them, and `ip -j` in that namespace reads
// back what they made.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { runTs } from '../helpers/child.js';

const skip = kernelSkipReason('sysctl');

describe('link: module-level functions on the default handle', { skip }, () => {
  it('add, update, addresses, routes, rules, neighbours, sysctls and events act in the caller\'s namespace', () =>
    withNetns(1, async (ns) => {
      const r = await runTs(new URL('../helpers/link-default-child.ts', import.meta.url).pathname, [],
        { argv0: ['ip', 'netns', 'exec', ns.name], timeoutMs: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const got = JSON.parse(r.stdout) as { link: { mtu: number; up: boolean; mac: string }; route: { gateway: string; dev: string };
        rules: number[]; neighbours: { dst: string; lladdr: string }[]; forward: string; event: string };
      const j = (...a: string[]) => JSON.parse(ns.run('ip', ['-j', ...a])) as Record<string, unknown>[];
      const d0 = j('link', 'show', 'd0')[0]!;
      assert.deepEqual([got.link.mtu, got.link.up, got.link.mac], [d0.mtu, true, d0.address]);
      assert.equal(d0.mtu, 1400);
      assert.deepEqual(j('link', 'show', 'd1').map((l) => l.ifname), ['d1']);
      assert.deepEqual(j('-4', 'addr', 'show', 'dev', 'd0')[0]!.addr_info, [{ family: 'inet', local: '10.9.0.1', prefixlen: 24, broadcast: undefined, scope: 'global', label: 'd0', valid_life_time: 4294967295, preferred_life_time: 4294967295 }].map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined))));
      assert.deepEqual(j('route', 'show', '10.8.0.0/24').map((x) => [x.dst, x.gateway, x.dev]), [['10.8.0.0/24', '10.9.0.2', 'd0']]);
      assert.deepEqual([got.route.gateway, got.route.dev], ['10.9.0.2', 'd0']);
      assert.ok(got.rules.includes(100));
      assert.deepEqual(got.neighbours.map((n) => [n.dst, n.lladdr]), [['10.9.0.2', '02:00:00:00:0d:02']]);
      assert.equal(got.forward, '1');
      assert.equal(ns.run('sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '1');
      assert.equal(got.event, 'd0');
      // What the child deleted again is gone: the deletes went to the same namespace.
      assert.deepEqual(j('route', 'show', '10.7.0.0/24'), []);
      assert.ok(!(j('rule', 'show') as { priority: number }[]).some((x) => x.priority === 100));
      assert.deepEqual(j('neigh', 'show', 'dev', 'd0'), []);
    }));
});
