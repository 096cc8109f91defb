// h.routes against ip: the same routes made by `ip route` in one namespace and by nlkit in
// another give identical `ip -j route show table all` dumps (IPv4 and IPv6); nlkit's list of
// routes ip made equals `ip -j route show table all`; bad input is typed and changes nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { link } from '../../lib/index.js';
import type { RouteInput } from '../../lib/link/index.js';
import { ExistsError, InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns, withHandle } from '../helpers/netns.js';

const skip = kernelSkipReason();

function topology(ns: Netns): void {
  // Fixed MACs and no IPv6 link-local addresses: both namespaces' kernel routes come out the same, whenever DAD ends.
  ns.run('ip', ['link', 'add', 'v0', 'address', '02:00:00:00:00:01', 'type', 'veth', 'peer', 'name', 'v1', 'address', '02:00:00:00:00:02']);
  for (const d of ['v0', 'v1']) ns.run('ip', ['link', 'set', d, 'addrgenmode', 'none', 'up']);
  ns.run('ip', ['addr', 'add', '10.1.0.1/24', 'dev', 'v0']);
  ns.run('ip', ['addr', 'add', 'fd00::1/64', 'dev', 'v0', 'nodad']);
  ns.settleIpv6();
}

// Each case: the `ip route` words, and the same route for nlkit.
const CASES: [string[], RouteInput][] = [
  [['add', '10.2.0.0/16', 'via', '10.1.0.2', 'metric', '10'], { dst: '10.2.0.0/16', gateway: '10.1.0.2', metric: 10 }],
  [['add', 'blackhole', '10.3.0.0/16', 'table', '100'], { dst: '10.3.0.0/16', type: 'blackhole', table: 100 }],
  [['add', '10.4.0.0/16', 'proto', 'static', 'scope', 'link', 'dev', 'v0', 'src', '10.1.0.1'],
    { dst: '10.4.0.0/16', protocol: 'static', scope: 'link', dev: 'v0', src: '10.1.0.1' }],
  [['add', 'default', 'nexthop', 'via', '10.1.0.2', 'weight', '2', 'nexthop', 'via', '10.1.0.3'],
    { dst: 'default', nexthops: [{ gateway: '10.1.0.2', weight: 2 }, { gateway: '10.1.0.3' }] }],
  [['add', 'unreachable', '10.5.0.1'], { dst: '10.5.0.1', type: 'unreachable' }],
  [['add', 'local', '10.6.0.1', 'dev', 'v0'], { dst: '10.6.0.1', type: 'local', dev: 'v0' }],
  [['add', '10.7.0.0/24', 'via', '10.1.0.2', 'table', '1000'], { dst: '10.7.0.0/24', gateway: '10.1.0.2', table: 1000 }],
  [['add', '10.8.0.0/24', 'via', '192.168.99.1', 'dev', 'v0', 'onlink'], { dst: '10.8.0.0/24', gateway: '192.168.99.1', dev: 'v0', onlink: true }],
  [['add', 'prohibit', '10.9.0.0/16', 'metric', '5'], { dst: '10.9.0.0/16', type: 'prohibit', metric: 5 }],
  [['add', 'throw', '10.10.0.0/16', 'table', 'local'], { dst: '10.10.0.0/16', type: 'throw', table: 'local' }],
  [['add', '10.11.0.0/16', 'dev', 'v0', 'proto', '99', 'table', '7'], { dst: '10.11.0.0/16', dev: 'v0', protocol: 99, table: 7 }],
  [['-6', 'add', 'fd01::/64', 'via', 'fd00::2', 'metric', '5'], { dst: 'fd01::/64', gateway: 'fd00::2', metric: 5 }],
  [['-6', 'add', 'prohibit', 'fd02::/64'], { dst: 'fd02::/64', type: 'prohibit' }],
  [['-6', 'add', 'fd03::/64', 'dev', 'v0', 'table', '100', 'proto', 'bird'], { dst: 'fd03::/64', dev: 'v0', table: 100, protocol: 'bird' }],
  [['-6', 'add', 'default', 'via', 'fd00::2', 'dev', 'v0'], { dst: 'default', gateway: 'fd00::2', dev: 'v0' }],
  [['-6', 'add', 'blackhole', 'fd05::1'], { dst: 'fd05::1', type: 'blackhole' }],
  [['-6', 'add', 'fd06::/64', 'nexthop', 'via', 'fd00::2', 'nexthop', 'via', 'fd00::3', 'weight', '3'],
    { dst: 'fd06::/64', nexthops: [{ gateway: 'fd00::2' }, { gateway: 'fd00::3', weight: 3 }] }],
  [['replace', '10.2.0.0/16', 'via', '10.1.0.3', 'metric', '10'], { dst: '10.2.0.0/16', gateway: '10.1.0.3', metric: 10 }],
  [['del', '10.5.0.1'], { dst: '10.5.0.1' }],
  [['-6', 'del', 'default'], { dst: 'default', family: 6 }],
  [['del', 'blackhole', '10.3.0.0/16', 'table', '100'], { dst: '10.3.0.0/16', type: 'blackhole', table: 100 }],
  [['-6', 'del', 'fd01::/64', 'via', 'fd00::2'], { dst: 'fd01::/64', gateway: 'fd00::2' }],
];

const dumpOf = (ns: Netns, ...family: string[]) => JSON.parse(ns.run('ip', ['-j', ...family, 'route', 'show', 'table', 'all'])) as unknown[];

describe('link routes', { skip }, () => {
  it('the same routes made by ip and by nlkit dump identically', () => withNetns(2, async (a, b) => {
    topology(a);
    topology(b);
    await withHandle(link.open({ netns: b.path }), async (h) => {
      for (const [words, route] of CASES) {
        const family = words[0] === '-6' ? ['-6'] : [];
        const rest = words[0] === '-6' ? words.slice(1) : words;
        a.run('ip', [...family, 'route', ...rest]);
        const cmd = rest[0] === 'add' ? 'add' : rest[0] === 'replace' ? 'replace' : 'delete';
        await h.routes[cmd](route);
        assert.deepEqual(dumpOf(b), dumpOf(a), `after ip route ${words.join(' ')}`);
      }
      assert.deepEqual(dumpOf(b, '-6'), dumpOf(a, '-6'));
      assert.deepEqual(dumpOf(b, '-4'), dumpOf(a, '-4'));
    });
  }));

  it('lists the routes ip made as ip -j route prints them, and resolves like ip route get', () => withNetns(1, async (a) => {
    topology(a);
    a.run('ip', ['route', 'add', 'unreachable', '10.12.0.0/16']);
    for (const [words] of CASES) {
      const family = words[0] === '-6' ? ['-6'] : [];
      a.run('ip', [...family, 'route', ...(words[0] === '-6' ? words.slice(1) : words)]);
    }
    await withHandle(link.open({ netns: a.path }), async (h) => {
      assert.deepEqual(await h.routes.list(), dumpOf(a));
      for (const dst of ['10.2.3.4', '10.4.0.9', '10.1.0.7', '10.8.0.1', 'fd00::5', 'fd06::1']) {
        const ipSays = JSON.parse(a.run('ip', ['-j', 'route', 'get', dst]))[0] as Record<string, unknown>;
        const r = await h.routes.get(dst) as unknown as Record<string, unknown>;
        for (const k of ['dst', 'gateway', 'dev', 'prefsrc', 'type']) assert.equal(r[k], ipSays[k], `${dst}: ${k}`);
      }
      for (const dst of ['10.9.0.1', '10.12.0.1']) await assert.rejects(h.routes.get(dst), NotFoundError, dst); // prohibit, unreachable
      await assert.rejects(h.routes.get('fd77::1'), NotFoundError); // no IPv6 default after ip's cases
    });
  }));

  it('types bad input and kernel refusals, changing nothing', () => withNetns(1, async (a) => {
    topology(a);
    await withHandle(link.open({ netns: a.path }), async (h) => {
      await h.routes.add({ dst: '10.2.0.0/16', gateway: '10.1.0.2' });
      const before = dumpOf(a);
      await assert.rejects(h.routes.add({ dst: '10.2.0.0/16', gateway: '10.1.0.2' }), ExistsError);
      await assert.rejects(h.routes.delete({ dst: '10.99.0.0/16' }), NotFoundError);
      await assert.rejects(h.routes.add({ dst: '10.3.0.0/16', dev: 'nosuch0' }), NotFoundError);
      await assert.rejects(h.routes.add({ dst: '10.3.0.1/16', gateway: '10.1.0.2' }), InvalidArgumentError);
      const bad: unknown[] = [
        null, 7, 'x', [], {}, { dst: 7 }, { dst: '10.0.0.0/33' }, { dst: '10.3.0.0/16', gateway: 'fd00::2' },
        { dst: '10.3.0.0/16', gateway: '10.1.0.2', metric: -1 }, { dst: '10.3.0.0/16', gateway: '10.1.0.2', metric: 1.5 },
        { dst: '10.3.0.0/16', type: 'nat' }, { dst: '10.3.0.0/16', table: 'nosuch' }, { dst: '10.3.0.0/16', table: 0 },
        { dst: '10.3.0.0/16', protocol: 256 }, { dst: '10.3.0.0/16', scope: 'galaxy' }, { dst: '10.3.0.0/16', dev: 'a/b' },
        { dst: '10.3.0.0/16', via: '10.1.0.2' }, { dst: '10.3.0.0/16', nexthops: [] }, { dst: '10.3.0.0/16', nexthops: [{}] },
        { dst: '10.3.0.0/16', nexthops: [{ gateway: '10.1.0.2', weight: 0 }] }, { dst: 'default' },
        { dst: '10.3.0.0/16', gateway: '10.1.0.2', nexthops: [{ gateway: '10.1.0.3' }] }, { dst: '10.3.0.0/16', onlink: 'yes' },
      ];
      for (const r of bad) {
        // A list is many routes (an empty one adds nothing): each bad value is refused alone and inside a list.
        if (!Array.isArray(r)) await assert.rejects(h.routes.add(r as RouteInput), InvalidArgumentError, JSON.stringify(r));
        await assert.rejects(h.routes.add([r as RouteInput]), InvalidArgumentError, JSON.stringify(r));
        await assert.rejects(h.routes.replace(r as RouteInput), InvalidArgumentError, JSON.stringify(r));
      }
      for (const d of [7, null, '10.0.0.0/8', 'x']) await assert.rejects(h.routes.get(d as string), InvalidArgumentError);
      assert.deepEqual(dumpOf(a), before);
    });
  }));
});
