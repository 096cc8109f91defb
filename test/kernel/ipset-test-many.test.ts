// ipset test with many entries in one call (issue #12): every answer equals what `ipset test`
// says of that entry (exit status 0: in the set, 1 with "is NOT in set": not), and the
// 10k-entry call equals the members `ipset save` lists.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../../lib/ipset/index.js';
import { InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import type { Entry } from '../../lib/ipset/types.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('ipset');

/** The tool's answer for one entry (given in its own syntax). */
function oracle(ns: Netns, set: string, entry: string): boolean {
  const r = ns.try('ipset', ['test', set, ...entry.split(' ')]);
  if (r.status === 0) return true;
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is NOT in set/, `ipset test ${set} ${entry}: ${r.stderr}`);
  return false;
}

/** [set, restore text, entries as the tool writes them, the same entries as nlkit is given] */
const CASES: [string, string, string[], Entry[]][] = [
  ['ip', 'create ip hash:ip\nadd ip 10.0.0.1\nadd ip 10.0.0.3\n',
    ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'],
    ['10.0.0.1', '10.0.0.2', { ip: '10.0.0.3' }, { ip: '10.0.0.4' }]],
  ['ipport', 'create ipport hash:ip,port\nadd ipport 10.0.0.1,tcp:80\nadd ipport 10.0.0.2,udp:53\n',
    ['10.0.0.1,tcp:80', '10.0.0.1,udp:80', '10.0.0.2,udp:53', '10.0.0.2,tcp:53', '10.0.0.1,tcp:81'],
    ['10.0.0.1,tcp:80', '10.0.0.1,udp:80', { ip: '10.0.0.2', proto: 'udp', port: 53 }, { ip: '10.0.0.2', proto: 'tcp', port: 53 }, '10.0.0.1,81']],
  ['net', 'create net hash:net\nadd net 10.1.0.0/16\nadd net 192.168.7.0/24\n',
    ['10.1.2.3', '10.2.0.1', '192.168.7.200', '192.168.8.1', '10.1.0.0/16', '10.1.0.0/24'],
    ['10.1.2.3', '10.2.0.1', '192.168.7.200', { ip: '192.168.8.1' }, '10.1.0.0/16', '10.1.0.0/24']],
  ['lst', 'create a hash:ip\ncreate b hash:ip\ncreate c hash:net\ncreate lst list:set\nadd lst a\nadd lst c\n',
    ['a', 'b', 'c'],
    ['a', 'b', { set: 'c' }]],
];

describe('ipset test of many entries', { skip }, () => {
  it('answers each entry as `ipset test` does, in order, for hash:ip, hash:ip,port, hash:net, list:set', () =>
    withNetns(1, async (ns) => {
      const h = open({ netns: ns.path });
      try {
        for (const [set, text, tool, ours] of CASES) {
          ns.run('ipset', ['restore'], text);
          const want = tool.map((e) => oracle(ns, set, e));
          assert.ok(want.includes(true) && want.includes(false), `${set}: the cases hold members and non-members`);
          assert.deepEqual(await h.test(set, ours), want, set);
          // one entry: still a boolean
          for (let i = 0; i < ours.length; i++) assert.equal(await h.test(set, ours[i]!), want[i], `${set} ${tool[i]}`);
        }
        assert.deepEqual(await h.test('ip', []), []);
      } finally {
        await h.close();
      }
    }));

  it('10k entries in one call equal the members `ipset save` lists', () =>
    withNetns(1, async (ns) => {
      const addr = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      let text = 'create big hash:ip maxelem 65536\n';
      // every third address is a member
      for (let i = 0; i < 10_000; i += 3) text += `add big ${addr(i)}\n`;
      ns.run('ipset', ['restore'], text);
      const saved = new Set(ns.run('ipset', ['save', 'big']).split('\n').filter((l) => l.startsWith('add big ')).map((l) => l.slice(8)));
      const entries = Array.from({ length: 10_000 }, (_, i) => addr(i));
      const h = open({ netns: ns.path });
      try {
        const got = await h.test('big', entries);
        assert.equal(got.length, 10_000);
        assert.deepEqual(got, entries.map((e) => saved.has(e)));
        // and a sample against `ipset test` itself
        for (let i = 0; i < 10_000; i += 997) assert.equal(got[i], oracle(ns, 'big', entries[i]!), entries[i]);
      } finally {
        await h.close();
      }
    }));

  it('a set destroyed while its entries are tested: NotFoundError naming the first entry the kernel refused', () =>
    withNetns(1, async (ns) => {
      const addr = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const entries = Array.from({ length: 100_000 }, (_, i) => addr(i));
      const h = open({ netns: ns.path }), other = open({ netns: ns.path });
      try {
        // The destroy has to land between two chunks of the batch: its delay is searched for.
        let lo = 0, hi = -1, seen: NotFoundError | undefined;
        for (let attempt = 0; attempt < 12 && !seen; attempt++) {
          ns.run('ipset', ['create', 'big', 'hash:ip']);
          const t0 = performance.now();
          const p = h.test('big', entries).then((r) => ({ r }), (e: unknown) => ({ e }));
          const delay = hi < 0 ? lo + 10 : (lo + hi) / 2;
          await new Promise((r) => setTimeout(r, delay));
          await other.destroy('big');
          const out = await p;
          if ('r' in out) {
            assert.deepEqual(out.r, entries.map(() => false));  // finished first: the set was empty
            if (hi < 0) lo = Math.max(lo, performance.now() - t0);
            hi = delay;
            continue;
          }
          assert.ok(out.e instanceof NotFoundError, String(out.e));
          if (out.e.entry !== undefined && out.e.entry > 0) seen = out.e;
          else lo = delay;  // refused before the first chunk: later
        }
        assert.ok(seen, 'the destroy never landed mid-batch');
        assert.match(seen.message, new RegExp(`^ipset\\.test: entry ${seen.entry}: The set with the given name does not exist`));
        assert.equal(ns.run('ipset', ['list', '-n']), '');
      } finally {
        await h.close();
        await other.close();
      }
    }));

  it('a bad entry of any type or the wrong family: InvalidArgumentError with its index; a missing set: NotFoundError', () =>
    withNetns(1, async (ns) => {
      ns.run('ipset', ['restore'], 'create v4 hash:ip\nadd v4 10.0.0.1\ncreate v6 hash:ip family inet6\nadd v6 fd00::1\n');
      // the tool refuses the wrong family too, as an error, not as "not in set"
      const r = ns.try('ipset', ['test', 'v4', 'fd00::1']);
      assert.notEqual(r.status, 0);
      assert.doesNotMatch(r.stderr, /is NOT in set/);
      const h = open({ netns: ns.path });
      try {
        const bad: [string, unknown[], number][] = [
          ['v4', ['10.0.0.1', 'fd00::1'], 1],
          ['v6', ['fd00::1', 'fd00::2', '10.0.0.1'], 2],
          ['v4', ['10.0.0.1', 42], 1],
          ['v4', [null, '10.0.0.1'], 0],
          ['v4', ['10.0.0.1', '10.0.0.2', Symbol('x')], 2],
          ['v4', ['10.0.0.1', Buffer.from('x')], 1],
          ['v4', ['10.0.0.1', () => 'x'], 1],
          ['v4', ['10.0.0.1', { bogus: 1 }], 1],
          ['v4', ['10.0.0.1', '10.0.0.999'], 1],
        ];
        for (const [set, entries, at] of bad) {
          await assert.rejects(h.test(set, entries as Entry[]), (e: unknown) => {
            assert.ok(e instanceof InvalidArgumentError, String(e));
            assert.equal(e.entry, at);
            assert.match(e.message, new RegExp(`^ipset\\.test: entry ${at}: `));
            return true;
          });
        }
        assert.deepEqual(await h.test('v6', ['fd00::1', 'fd00::2']), [oracle(ns, 'v6', 'fd00::1'), oracle(ns, 'v6', 'fd00::2')]);
        await assert.rejects(h.test('nosuch', ['10.0.0.1']), NotFoundError);
        await assert.rejects(h.test('nosuch', '10.0.0.1'), NotFoundError);
        assert.equal(ns.try('ipset', ['test', 'nosuch', '10.0.0.1']).status, 1);
      } finally {
        await h.close();
      }
    }));
});
