// Input `ipset restore` accepts that nlkit once refused (lines of ipset's own test suite,
// tests/*.t): ipset 4's type names and range options, a whole-IPv4 bitmap with a netmask,
// the inet_aton shorthands libipset's getaddrinfo() reads ("10.1", "127.1", "0/0"), and /0
// networks in hash:net,port,net (a type this host's kernel may lack: then these run in the VM).
// Each case goes through `ipset restore` in one throwaway namespace, through nlkit's restore in
// a twin, and (where the typed API can say it) through create/add/test/del in a third; the
// whole `ipset save` must be equal.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, type IpsetHandle } from '../../lib/ipset/index.js';
import { kernelHasSetType, kernelSkipReason, Netns } from '../helpers/netns.js';
import { assertSameSave } from '../helpers/ipset-save.js';

interface Case {
  name: string;
  /** Restore text, as ipset's tests write it. */
  text: string;
  /** The same through the typed API, when it can say it. */
  typed?: (h: IpsetHandle) => Promise<void>;
  /** Set types the running kernel must have. */
  needs?: string[];
}

const INIT = 'initval 0x1234abcd';
const NPN6 = '2:0:0::1/24,0,0:0:0::0/0';
const NPN4 = '0.0.0.0/0,tcp:1-2,192.168.230.128/25';

const CASES: Case[] = [
  { name: 'ipmap --from --to (ipset 4)', text: '-N test ipmap --from 2.0.0.1 --to 2.1.0.0\n-A test 2.0.0.1\n-A test 2.1.0.0\n' },
  { name: 'ipmap --from --to, reversed, without dashes', text: 'create test ipmap from 2.1.0.0 to 2.0.0.1\nadd test 2.0.255.255\n' },
  { name: 'ipmap --network', text: '-N test ipmap --network 2.0.0.0/16\n-A test 2.0.0.255\n' },
  { name: 'macipmap --network', text: '-N test macipmap --network 2.0.0.0/16\n-A test 2.0.0.2,00:11:22:33:44:55\n' },
  { name: 'macipmap --from --to', text: '-N test macipmap --from 2.0.0.1 --to 2.0.0.200\n-A test 2.0.0.1\n' },
  { name: 'portmap --from --to', text: '-N test portmap --from 1 --to 1024\n-A test 80\n-A test 1024\n' },
  {
    name: 'whole-IPv4 bitmap with a netmask', text: 'create test bitmap:ip range 0.0.0.0/0 netmask 16 timeout 5\nadd test 10.1.0.0\nadd test 255.255.0.0\n',
    typed: async (h) => {
      await h.create('test', 'bitmap:ip', { range: '0.0.0.0/0', netmask: 16, timeout: 5 });
      await h.add('test', ['10.1.0.0', '255.255.0.0']);
    },
  },
  { name: 'whole-IPv4 bitmap as `ipset save` prints it', text: 'create test bitmap:ip range 0.0.0.0-255.255.255.255 netmask 16 timeout 5\n' },
  {
    name: 'inet_aton shorthands in hash:ip', text: `create test hash:ip ${INIT}\nadd test 10.1\nadd test 127.1\nadd test 010.0.0.1\nadd test 1\nadd test 10.65536\nadd test 10.2.1-10.2.3\n`,
    typed: async (h) => {
      await h.create('test', 'hash:ip', { initval: 0x1234abcd });
      await h.add('test', ['10.1', '127.1', '010.0.0.1', '1', '10.65536', '10.2.1-10.2.3']);
      assert.equal(await h.test('test', '127.1'), true);
      assert.equal(await h.test('test', '127.0.0.1'), true);
    },
  },
  {
    name: '0/0 and 10/8 in hash:net,iface', text: `create test hash:net,iface ${INIT}\nadd test 0/0,eth0\nadd test 10/8,eth1\nadd test 10.1/16,eth2\n`,
    typed: async (h) => {
      await h.create('test', 'hash:net,iface', { initval: 0x1234abcd });
      await h.add('test', ['0/0,eth0', '10/8,eth1', '10.1/16,eth2']);
      assert.equal(await h.test('test', '0/0,eth0'), true);
    },
  },
  {
    name: 'hash:net,port,net with a /0 first network: add, test, del', needs: ['hash:net,port,net'],
    text: `create test hash:net,port,net ${INIT}\nadd test ${NPN4}\nadd test 10.0.0.0/8,udp:53,0.0.0.0/0\nadd test 10.1.0.0/16,80,10.2.0.0/16\ndel test 10.1.0.0/16,80,10.2.0.0/16\n`,
    typed: async (h) => {
      await h.create('test', 'hash:net,port,net', { initval: 0x1234abcd });
      await h.add('test', [NPN4, '10.0.0.0/8,udp:53,0.0.0.0/0', '10.1.0.0/16,80,10.2.0.0/16']);
      assert.equal(await h.test('test', '0.0.0.0/0,tcp:2,192.168.230.128/25'), true);
      await h.del('test', '10.1.0.0/16,80,10.2.0.0/16');
    },
  },
  {
    name: 'hash:net,port,net IPv6 with a /0 last network: add, test, del', needs: ['hash:net,port,net'],
    text: `create test hash:net,port,net family inet6 ${INIT}\nadd test ${NPN6}\nadd test 2001:db8::/32,udp:53,::/0\ndel test 2001:db8::/32,udp:53,::/0\n`,
    typed: async (h) => {
      await h.create('test', 'hash:net,port,net', { family: 'inet6', initval: 0x1234abcd });
      await h.add('test', [NPN6, '2001:db8::/32,udp:53,::/0']);
      assert.equal(await h.test('test', NPN6), true);
      await h.del('test', '2001:db8::/32,udp:53,::/0');
    },
  },
];

const skip = kernelSkipReason('ipset');

describe('ipset compatibility: what `ipset restore` accepts, nlkit accepts and stores the same', { skip }, () => {
  const made: Netns[] = [];
  after(() => { for (const n of made) n.remove(); });
  const twins = () => {
    const ns = [new Netns('compat-tool'), new Netns('compat-restore'), new Netns('compat-typed')];
    made.push(...ns);
    return ns;
  };
  let ns: Netns[] | undefined;

  for (const c of CASES) {
    it(c.name, async (t) => {
      const lacking = (c.needs ?? []).filter((type) => !kernelHasSetType(type));
      if (lacking.length) return t.skip(`the running kernel has no ${lacking.join(', ')} (these run in the VM: npm run test:vm)`);
      ns ??= twins();
      const [tool, viaRestore, viaTyped] = ns;
      for (const n of ns) n.run('ipset', ['destroy']);
      tool!.run('ipset', ['restore'], c.text);
      const oracle = tool!.run('ipset', ['save']);
      assert.match(oracle, /^create test /m);
      const h = open({ netns: viaRestore!.path });
      const h2 = open({ netns: viaTyped!.path });
      try {
        await h.restore(c.text);
        assertSameSave(viaRestore!.run('ipset', ['save']), oracle, 'nlkit restore');
        if (c.typed) {
          await c.typed(h2);
          assertSameSave(viaTyped!.run('ipset', ['save']), oracle, 'nlkit typed API');
        }
      } finally {
        await h.close();
        await h2.close();
      }
    });
  }
});

// `test` lines in a restore text (issue #11 item 14): libipset answers each with a warning (in the
// set) or a notice (not in it) and `ipset restore` exits there, 0 or 1: a passing test ends the
// restore with what ran before it, a failing one fails it at that line. nlkit then also puts back
// what the text changed, where the tool leaves it: compared with the save from before.
const TEST_PASS: { name: string; text: string }[] = [
  { name: 'hash:ip: the restore ends at a passing test', text: `create s hash:ip ${INIT}\nadd s 1.2.3.4\ntest s 1.2.3.4\nadd s 9.9.9.9\n` },
  { name: 'hash:net,port: -T alias, a net inside a stored one', text: `create n hash:net,port ${INIT}\nadd n 10.0.0.0/24,tcp:80\n-T n 10.0.0.0/24,tcp:80\ncreate later hash:ip\n` },
  { name: 'list:set: test with before', text: `create a hash:ip ${INIT}\ncreate b hash:ip ${INIT}\ncreate l list:set\nadd l a\nadd l b\ntest l a before b\nflush l\n` },
];

describe('ipset compatibility: test lines in a restore text', { skip }, () => {
  const made: Netns[] = [];
  after(() => { for (const n of made) n.remove(); });
  let ns: Netns[] | undefined;
  const twins = () => (ns ??= (() => {
    const n = [new Netns('ctest-tool'), new Netns('ctest-nlkit')];
    made.push(...n);
    return n;
  })());

  for (const c of TEST_PASS) {
    it(c.name, async () => {
      const [tool, mine] = twins();
      for (const n of [tool!, mine!]) { n.run('ipset', ['flush']); n.run('ipset', ['destroy']); }
      const r = tool!.try('ipset', ['restore'], c.text);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /is in set/);
      const oracle = tool!.run('ipset', ['save']);
      const h = open({ netns: mine!.path });
      try {
        await h.restore(c.text);
        assert.equal(mine!.run('ipset', ['save']), oracle);
      } finally {
        await h.close();
      }
    });
  }

  it('a test line whose element is missing fails the restore at that line', async () => {
    const [tool, mine] = twins();
    const setup = `create s hash:ip ${INIT}\nadd s 1.2.3.4\n`;
    const text = 'add s 7.7.7.7\ncreate t hash:ip\ntest s 5.6.7.8\nadd s 8.8.8.8\n';
    for (const n of [tool!, mine!]) {
      n.run('ipset', ['flush']);
      n.run('ipset', ['destroy']);
      n.run('ipset', ['restore'], setup);
    }
    const before = tool!.run('ipset', ['save']);
    const r = tool!.try('ipset', ['restore'], text);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /5\.6\.7\.8 is NOT in set s/);
    // The tool stops there: what ran before stays, what follows never runs.
    assert.match(tool!.run('ipset', ['save']), /^add s 7\.7\.7\.7$/m);
    assert.doesNotMatch(tool!.run('ipset', ['save']), /8\.8\.8\.8/);
    const h = open({ netns: mine!.path });
    try {
      await assert.rejects(h.restore(text), (e: Error & { line?: number; code?: string }) => {
        assert.equal(e.line, 3);
        assert.equal(e.code, 'ENOENT');
        assert.match(e.message, /line 3: 5\.6\.7\.8 is NOT in set s/);
        return true;
      });
      // nlkit puts back what the refused text changed and destroys what it created.
      assert.equal(mine!.run('ipset', ['save']), before);
    } finally {
      await h.close();
    }
  });
});
