// h.rules against ip rule: the same rules made by `ip rule` in one namespace and by nlkit in
// another give identical `ip -j rule show` (IPv4 and IPv6); nlkit lists what ip made as ip
// prints it; bad input is typed and changes nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { link } from '../../lib/index.js';
import type { RuleInput } from '../../lib/link/index.js';
import { ExistsError, InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns, withHandle } from '../helpers/netns.js';

const skip = kernelSkipReason();

const CASES: [string[], RuleInput][] = [
  [['add', 'fwmark', '0x10/0xff', 'table', '100', 'priority', '100'], { fwmark: 0x10, fwmask: 0xff, table: 100, priority: 100 }],
  [['add', 'from', '10.0.0.0/8', 'to', '192.168.0.0/16', 'iif', 'v0', 'oif', 'v1', 'table', '1000', 'prio', '200'],
    { src: '10.0.0.0/8', dst: '192.168.0.0/16', iif: 'v0', oif: 'v1', table: 1000, priority: 200 }],
  [['add', 'fwmark', '7', 'lookup', 'main', 'pref', '300'], { fwmark: 7, table: 'main', priority: 300 }],
  [['add', 'prio', '400', 'blackhole'], { priority: 400, action: 'blackhole' }],
  [['add', 'prio', '410', 'unreachable'], { priority: 410, action: 'unreachable' }],
  [['add', 'prio', '600', 'not', 'from', '1.2.3.4', 'table', '9'], { priority: 600, not: true, src: '1.2.3.4', table: 9 }],
  [['add', 'from', '10.9.0.0/16'], { src: '10.9.0.0/16' }],
  [['-6', 'add', 'from', 'fd00::/64', 'table', '5', 'pref', '50'], { src: 'fd00::/64', table: 5, priority: 50 }],
  [['-6', 'add', 'to', 'fd01::1', 'prohibit', 'pref', '60'], { dst: 'fd01::1', action: 'prohibit', priority: 60 }],
  [['-6', 'add', 'fwmark', '0x20', 'table', 'local', 'pref', '70'], { family: 6, fwmark: 0x20, table: 'local', priority: 70 }],
  [['del', 'prio', '410'], { priority: 410 }],
  [['del', 'fwmark', '7', 'table', 'main'], { fwmark: 7, table: 'main' }],
  [['-6', 'del', 'from', 'fd00::/64'], { src: 'fd00::/64' }],
];

const dumpOf = (ns: Netns, six: boolean) => JSON.parse(ns.run('ip', ['-j', ...(six ? ['-6'] : []), 'rule', 'show'])) as unknown[];
const ipRule = (ns: Netns, words: string[]) => ns.run('ip', [...(words[0] === '-6' ? ['-6'] : []), 'rule', ...(words[0] === '-6' ? words.slice(1) : words)]);
const links = (ns: Netns) => ns.run('ip', ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);

describe('link rules', { skip }, () => {
  it('the same rules made by ip and by nlkit show identically', () => withNetns(2, async (a, b) => {
    links(a);
    links(b);
    await withHandle(link.open({ netns: b.path }), async (h) => {
      for (const [words, rule] of CASES) {
        ipRule(a, words);
        await h.rules[words.includes('del') ? 'delete' : 'add'](rule);
        for (const six of [false, true]) assert.deepEqual(dumpOf(b, six), dumpOf(a, six), `after ip rule ${words.join(' ')}`);
      }
    });
  }));

  it('lists the rules ip made as ip -j rule show prints them', () => withNetns(1, async (a) => {
    links(a);
    for (const [words] of CASES) ipRule(a, words);
    a.run('ip', ['rule', 'add', 'prio', '500', 'goto', '600']);
    await withHandle(link.open({ netns: a.path }), async (h) => {
      assert.deepEqual(await h.rules.list(), dumpOf(a, false));
      assert.deepEqual(await h.rules.list(6), dumpOf(a, true));
    });
  }));

  it('types bad input and kernel refusals, changing nothing', () => withNetns(1, async (a) => {
    await withHandle(link.open({ netns: a.path }), async (h) => {
      await h.rules.add({ priority: 100, fwmark: 1, table: 100 });
      const before = [dumpOf(a, false), dumpOf(a, true)];
      await assert.rejects(h.rules.add({ priority: 100, fwmark: 1, table: 100 }), ExistsError);
      await assert.rejects(h.rules.delete({ priority: 999 }), NotFoundError);
      const bad: unknown[] = [
        null, 7, [], { prio: 1 }, { family: 5 }, { src: 'x' }, { src: '10.0.0.0/8', dst: 'fd00::/64' }, { family: 6, src: '10.0.0.0/8' },
        { priority: -1 }, { priority: 1.5 }, { fwmark: 'x' }, { iif: 'a/b' }, { oif: 7 }, { table: 'nosuch' }, { table: 0 },
        { action: 'nat' }, { action: 'blackhole', table: 5 }, { not: 'yes' },
      ];
      for (const r of bad) {
        await assert.rejects(h.rules.add(r as RuleInput), InvalidArgumentError, JSON.stringify(r));
        await assert.rejects(h.rules.delete(r as RuleInput), InvalidArgumentError, JSON.stringify(r));
      }
      await assert.rejects(h.rules.list(5 as 4), InvalidArgumentError);
      assert.deepEqual([dumpOf(a, false), dumpOf(a, true)], before);
    });
  }));
});
