// ipset.sync() against the kernel, with `ipset save` as the oracle: the same entries written by
// the ipset tool and synced by nlkit leave the same members; a second sync changes nothing;
// members that stay keep their counters.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../../lib/ipset/index.js';
import type { IpsetHandle } from '../../lib/ipset/handle.js';
import { InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import { kernelHasSetType, kernelSkipReason, withNetns, type Netns, withHandle } from '../helpers/netns.js';

const skip = kernelSkipReason('ipset');
const members = (save: string, set: string) =>
  save.split('\n').filter((l) => l.startsWith(`add ${set} `)).map((l) => l.slice(`add ${set} `.length)).sort();

/**
 * Per type: the create options and entries written in the many forms the tool takes (ranges,
 * networks with host bits, names, upper-case IPv6, reversed ranges).
 */
const CASES: { type: string; create?: string; entries: string[] }[] = [
  { type: 'hash:ip', entries: ['10.0.0.1', '10.0.1.0/30', '10.0.2.9-10.0.2.7', '10.0.0.1'] },
  { type: 'hash:ip', create: 'netmask 24', entries: ['10.0.0.5', '10.1.0.0-10.1.2.9', '10.2.0.0/23'] },
  { type: 'hash:ip', create: 'family inet6', entries: ['2001:DB8:0:0::1', '2001:db8::ffff:10.0.0.1', '::ffff:10.1.2.3', 'fe80::1/128'] },
  { type: 'hash:ip', create: 'family inet6 netmask 64', entries: ['2001:db8::1', '2001:db8:0:0:ffff::1', '2001:db8:1::1'] },
  { type: 'hash:net', entries: ['10.0.0.1/24', '10.1.0.1-10.1.0.6', '10.2.0.1/32', '10.3.0.0/16 nomatch', '192.168.7.7', '10.9.0.255-10.9.0.0'] },
  { type: 'hash:net', create: 'family inet6', entries: ['2001:DB8::1/64', '2001:db8:0:1::1/128', '2001:db8:2::/48 nomatch', 'fe80::9'] },
  { type: 'hash:ip,port', entries: ['10.0.0.1,icmp:echo-request', '10.0.0.1,icmp:3/1', '10.0.0.1,gre:0', '10.0.0.1,udplite:9', '10.0.0.1,sctp:5-6', '10.0.0.2-10.0.0.3,http', '10.0.0.4,udp:domain', '10.0.0.5,53', '10.0.0.6,tcp:0x10', '10.0.0.7,udp:12-10'] },
  { type: 'hash:ip,port', create: 'family inet6', entries: ['2001:db8::1,icmpv6:ping', '2001:DB8::2,tcp:443', '2001:db8::3,ipv6-icmp:128/1'] },
  { type: 'hash:net,port', entries: ['10.0.0.1/24,tcp:80', '10.1.0.0-10.1.0.2,udp:53-54', '10.2.0.1,sctp:9 nomatch'] },
  { type: 'hash:ip,port,ip', entries: ['10.0.0.1,tcp:80,10.1.0.1', '10.0.0.2-10.0.0.3,udp:53,10.1.0.2'] },
  { type: 'hash:ip,port,net', entries: ['10.0.0.1,tcp:80,10.1.0.1/24', '10.0.0.2,udp:53,10.2.0.0-10.2.0.4'] },
  { type: 'hash:net,net', entries: ['10.0.0.1/24,10.1.0.1/16', '10.2.0.0-10.2.0.2,10.3.0.1'] },
  { type: 'hash:net,port,net', entries: ['10.0.0.1/24,tcp:80,10.1.0.1/16', '10.2.0.1,icmp:ping,10.3.0.0-10.3.0.1'] },
  { type: 'hash:net,iface', entries: ['10.0.0.1/8,physdev:eth0', '10.0.0.0/8,eth1', '0.0.0.0/0,lo', '10.1.0.0-10.1.0.2,eth2', '10.2.0.0/16,veth wildcard'] },
  { type: 'hash:ip,mark', create: 'markmask 0xff', entries: ['10.0.0.1,0x1234', '10.0.0.2,5', '10.0.0.3-10.0.0.4,0x10'] },
  { type: 'hash:ip,mac', entries: ['10.0.0.1,aa:bb:cc:dd:ee:ff', '10.0.0.2,01:02:03:04:05:06'] },
  { type: 'hash:mac', entries: ['aa:bb:cc:dd:ee:ff', '01:02:03:04:05:06'] },
  { type: 'bitmap:ip', create: 'range 10.0.0.0/24', entries: ['10.0.0.1', '10.0.0.8/30', '10.0.0.20-10.0.0.18'] },
  { type: 'bitmap:ip', create: 'range 10.0.0.0/16 netmask 24', entries: ['10.0.1.7', '10.0.2.0-10.0.3.1'] },
  { type: 'bitmap:ip,mac', create: 'range 10.0.0.0/24', entries: ['10.0.0.1,aa:bb:cc:dd:ee:ff', '10.0.0.2'] },
  { type: 'bitmap:port', create: 'range 1-100', entries: ['tcp:5-7', '9', 'udp:11', '15-13'] },
];

/** A fresh namespace whose sets `ipset restore` made from `text`, and an ipset handle on it. */
const withSets = (text: string, body: (h: IpsetHandle, ns: Netns) => Promise<void>) => withNetns(1, async (ns) => {
  ns.run('ipset', ['restore'], text);
  await withHandle(open({ netns: ns.path }), (h) => body(h, ns));
});

describe('ipset sync', { skip }, () => {
  for (const c of CASES) {
    const name = `${c.type}${c.create ? ` ${c.create}` : ''}`;
    it(`${name}: the members the tool stores for the same entries, then nothing to do`, {
      skip: !skip && !kernelHasSetType(c.type) ? `the running kernel has no ${c.type}` : false,
    }, () => withNetns(1, async (ns) => {
      const header = `${c.type}${c.create ? ` ${c.create}` : ''}`;
      ns.run('ipset', ['restore'], `create tool ${header}\n${c.entries.map((e) => `add -exist tool ${e}`).join('\n')}\ncreate ours ${header}\n`);
      await withHandle(open({ netns: ns.path }), async (h) => {
        const r = await h.sync('ours', c.entries);
        const save = ns.run('ipset', ['save']);
        const want = members(save, 'tool');
        assert.deepEqual(members(save, 'ours'), want);
        assert.equal(r.added, want.length);
        assert.deepEqual([r.removed, r.updated, r.unchanged], [0, 0, 0]);
        // Both sets already hold the entries: nothing to send.
        for (const set of ['ours', 'tool']) {
          const again = await h.sync(set, c.entries);
          assert.deepEqual(again, { added: 0, removed: 0, updated: 0, unchanged: want.length, created: false }, set);
        }
      });
    }));
  }

  it('to a new list: exactly the listed members; members that stay keep counters and comments', () =>
    withSets(`create s hash:ip,port counters comment
add s 10.0.0.1,tcp:80 packets 5 bytes 500 comment "keep"
add s 10.0.0.2,tcp:80 packets 7 bytes 700 comment "old"
add s 10.0.0.3,tcp:80 packets 9 bytes 900
add s 10.0.0.4,udp:53 packets 1 bytes 100 comment "gone"
`, async (h, ns) => {
      const r = await h.sync('s', [
        { ip: '10.0.0.1', port: 80, comment: 'keep' },            // unchanged
        { ip: '10.0.0.2', port: 80, comment: 'new' },             // comment changed
        '10.0.0.3,tcp:80',                                        // unchanged
        '10.0.0.5,udp:53 comment "added"',                        // added
      ]);
      assert.deepEqual(r, { added: 1, removed: 1, updated: 1, unchanged: 2, created: false });
      assert.deepEqual(members(ns.run('ipset', ['save']), 's'), [
        '10.0.0.1,tcp:80 packets 5 bytes 500 comment "keep"',
        '10.0.0.2,tcp:80 packets 7 bytes 700 comment "new"',
        '10.0.0.3,tcp:80 packets 9 bytes 900',
        '10.0.0.5,udp:53 packets 0 bytes 0 comment "added"',
      ]);
      // A comment removed is a change too.
      const r2 = await h.sync('s', ['10.0.0.1,tcp:80', '10.0.0.2,tcp:80 comment "new"', '10.0.0.3,tcp:80', '10.0.0.5,udp:53 comment "added"']);
      assert.deepEqual(r2, { added: 0, removed: 0, updated: 1, unchanged: 3, created: false });
      assert.deepEqual(members(ns.run('ipset', ['save']), 's')[0], '10.0.0.1,tcp:80 packets 5 bytes 500');
    }));

  it('extensions: nomatch, skbinfo and permanence are synced; remaining timeouts are not refreshed', () =>
    withSets(`create n hash:net timeout 600 skbinfo
add n 10.0.0.0/24 timeout 500
add n 10.1.0.0/24 timeout 0 skbmark 0x10
add n 10.2.0.0/24 nomatch timeout 0
`, async (h, ns) => {
      const r = await h.sync('n', [
        '10.0.0.0/24 timeout 300',                   // still expiring: left alone
        '10.1.0.1/24 timeout 0 skbmark 0x20/0xff',   // skbmark changed
        '10.2.0.0/24 timeout 0',                     // nomatch dropped
      ]);
      assert.deepEqual(r, { added: 0, removed: 0, updated: 2, unchanged: 1, created: false });
      const got = members(ns.run('ipset', ['save']), 'n');
      assert.match(got[0]!, /^10\.0\.0\.0\/24 timeout (4\d\d|500)$/);
      assert.deepEqual(got.slice(1), ['10.1.0.0/24 timeout 0 skbmark 0x20/0xff', '10.2.0.0/24 timeout 0']);
      // Made permanent.
      assert.equal((await h.sync('n', ['10.0.0.0/24 timeout 0', '10.1.0.0/24 timeout 0 skbmark 0x20/0xff', '10.2.0.0/24 timeout 0'])).updated, 1);
      assert.equal(members(ns.run('ipset', ['save']), 'n')[0], '10.0.0.0/24 timeout 0');
    }));

  it('list:set: members by name, a new one placed before another', () =>
    withSets('create a hash:ip\ncreate b hash:ip\ncreate c hash:ip\ncreate l list:set\nadd l a\nadd l b\n', async (h, ns) => {
      assert.deepEqual(await h.sync('l', ['b', 'c before b']), { added: 1, removed: 1, updated: 0, unchanged: 1, created: false });
      // list:set keeps its order: `ipset save` prints members in it.
      assert.deepEqual(ns.run('ipset', ['save', 'l']).split('\n').filter((l) => l.startsWith('add ')), ['add l c', 'add l b']);
      await assert.rejects(h.sync('l', ['nosuch']), NotFoundError);
    }));

  it('creates a missing set only when asked; bad input changes nothing', () =>
    withNetns(1, async (ns: Netns) => {
      await withHandle(open({ netns: ns.path }), async (h) => {
        await assert.rejects(h.sync('nosuch', ['10.0.0.1']), NotFoundError);
        assert.equal(ns.run('ipset', ['list', '-n']), '');
        // With create, bad entries are refused before the set is created.
        await assert.rejects(h.sync('made', ['10.0.0.1', '10.0.0.300'], { create: { type: 'hash:ip' } }),
          (e: unknown) => e instanceof InvalidArgumentError && /entry 1 \(10\.0\.0\.300\)/.test(e.message) && (e as { entry?: number }).entry === 1);
        assert.equal(ns.run('ipset', ['list', '-n']), '');
        const r = await h.sync('made', ['10.0.0.1', '10.0.0.2'], { create: { type: 'hash:ip', options: { comment: true } } });
        assert.deepEqual(r, { added: 2, removed: 0, updated: 0, unchanged: 0, created: true });
        assert.match(ns.run('ipset', ['save']), /^create made hash:ip family inet .*comment/m);
        // Conflicting duplicates are refused; the set keeps its members.
        await assert.rejects(h.sync('made', ['10.0.0.3 comment "a"', '10.0.0.3 comment "b"']),
          (e: unknown) => e instanceof InvalidArgumentError && /entries 0 and 1 both name member 10\.0\.0\.3/.test(e.message));
        assert.deepEqual(members(ns.run('ipset', ['save']), 'made'), ['10.0.0.1', '10.0.0.2']);
        // An extension the set was created without: refused before the delete of 10.0.0.2 is sent.
        ns.run('ipset', ['restore'], 'create p hash:ip\nadd p 10.0.0.1\nadd p 10.0.0.2\n');
        await assert.rejects(h.sync('p', ['10.0.0.1', '10.0.0.3 comment "x"']), /comment cannot be used/);
        assert.deepEqual(members(ns.run('ipset', ['save', 'p']), 'p'), ['10.0.0.1', '10.0.0.2']);
        // create of another type for an existing set is refused.
        await assert.rejects(h.sync('made', [], { create: { type: 'hash:net' } }), /exists with type hash:ip, not hash:net/);
        assert.deepEqual(await h.sync('made', []), { added: 0, removed: 2, updated: 0, unchanged: 0, created: false });
        assert.deepEqual(members(ns.run('ipset', ['save']), 'made'), []);
      });
    }));
});
