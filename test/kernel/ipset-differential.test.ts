// What nlkit writes must read back from `ipset save` exactly as what `ipset restore` of the
// same input produces, and what the tool wrote must read back through nlkit as the tool
// itself prints it.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../../lib/ipset/index.js';
import type { CreateOptions, EntryObject, SetType } from '../../lib/ipset/types.js';
import { parseList } from '../../lib/ipset/syntax.js';
import { kernelHasSetType, kernelSkipReason, setTypeModule, withNetns } from '../helpers/netns.js';
import { UnsupportedError } from '../../lib/core/errors.js';
import { assertSameSave } from '../helpers/ipset-save.js';

interface Case {
  type: SetType;
  /** Create options as the tool takes them, and as nlkit's object. */
  toolOpts: string;
  opts: CreateOptions;
  /** Each entry as the tool's text and as nlkit's object. */
  entries: [string, EntryObject][];
  needs?: string[];
}

const INIT = 0x1234abcd;
const CASES: Case[] = [
  {
    type: 'hash:ip', toolOpts: 'family inet hashsize 2048 maxelem 1000 timeout 600 counters comment', opts: { family: 'inet', hashsize: 2048, maxelem: 1000, timeout: 600, counters: true, comment: true },
    entries: [
      ['10.0.0.1 timeout 300 packets 5 bytes 500 comment "web one"', { ip: '10.0.0.1', timeout: 300, packets: 5, bytes: 500, comment: 'web one' }],
      ['10.0.0.2', { ip: '10.0.0.2' }],
      ['192.168.7.0/30', { ip: '192.168.7.0/30' }],
      ['172.16.0.1-172.16.0.3 timeout 0', { ip: '172.16.0.1-172.16.0.3', timeout: 0 }],
    ],
  },
  {
    type: 'hash:ip', toolOpts: 'family inet6 netmask 64', opts: { family: 'inet6', netmask: 64 },
    entries: [['2001:db8:1::1', { ip: '2001:db8:1::1' }], ['2001:db8:2::5', { ip: '2001:db8:2::5' }]],
  },
  {
    type: 'hash:ip', toolOpts: 'skbinfo forceadd bucketsize 4', opts: { skbinfo: true, forceadd: true, bucketsize: 4 },
    entries: [['10.1.1.1 skbmark 0x10/0xff skbprio 1:10 skbqueue 3', { ip: '10.1.1.1', skbmark: '0x10/0xff', skbprio: '1:10', skbqueue: 3 }]],
  },
  {
    type: 'hash:net', toolOpts: 'family inet', opts: {},
    entries: [['10.1.0.0/16', { ip: '10.1.0.0/16' }], ['10.1.2.0/24 nomatch', { ip: '10.1.2.0/24', nomatch: true }], ['10.9.9.9', { ip: '10.9.9.9' }]],
  },
  {
    type: 'hash:net', toolOpts: 'family inet6 counters', opts: { family: 'inet6', counters: true },
    entries: [['2001:db8::/32 packets 1 bytes 2', { ip: '2001:db8::/32', packets: 1n, bytes: 2n }]],
  },
  {
    type: 'hash:net,net', toolOpts: '', opts: {},
    entries: [['10.0.0.0/8,192.168.0.0/16', { ip: '10.0.0.0/8', ip2: '192.168.0.0/16' }]],
  },
  {
    type: 'hash:ip,port', toolOpts: 'timeout 100', opts: { timeout: 100 },
    entries: [
      ['10.0.0.1,udp:53', { ip: '10.0.0.1', proto: 'udp', port: 53 }],
      ['10.0.0.2,80', { ip: '10.0.0.2', port: 80 }],
      ['10.0.0.3,sctp:9000', { ip: '10.0.0.3', proto: 'sctp', port: 9000 }],
      ['10.0.0.4,icmp:echo-request', { ip: '10.0.0.4', proto: 'icmp', port: 'echo-request' }],
    ],
  },
  {
    type: 'hash:net,port', toolOpts: '', opts: {},
    entries: [['10.0.0.0/24,tcp:8000-8002', { ip: '10.0.0.0/24', proto: 'tcp', port: '8000-8002' }]],
  },
  {
    type: 'hash:ip,port,ip', toolOpts: '', opts: {},
    entries: [['10.0.0.1,tcp:443,10.0.0.9', { ip: '10.0.0.1', proto: 'tcp', port: 443, ip2: '10.0.0.9' }]],
  },
  {
    type: 'hash:ip,port,net', toolOpts: 'family inet6', opts: { family: 'inet6' },
    entries: [['2001:db8::1,udp:53,2001:db8:ff::/48', { ip: '2001:db8::1', proto: 'udp', port: 53, ip2: '2001:db8:ff::/48' }]],
  },
  {
    type: 'hash:net,port,net', toolOpts: '', opts: {},
    entries: [['10.0.0.0/16,tcp:22,10.5.0.0/24', { ip: '10.0.0.0/16', proto: 'tcp', port: 22, ip2: '10.5.0.0/24' }]],
  },
  {
    type: 'hash:ip,mark', toolOpts: 'markmask 0xffff', opts: { markmask: 0xffff },
    entries: [['10.0.0.1,0x10', { ip: '10.0.0.1', mark: 0x10 }]],
  },
  {
    type: 'hash:net,iface', toolOpts: '', opts: {},
    entries: [['10.0.0.0/8,eth0', { ip: '10.0.0.0/8', iface: 'eth0' }], ['10.2.0.0/16,physdev:br0', { ip: '10.2.0.0/16', iface: 'br0', physdev: true }]],
  },
  { type: 'hash:mac', toolOpts: '', opts: {}, entries: [['00:11:22:33:44:55', { mac: '00:11:22:33:44:55' }]] },
  { type: 'hash:ip,mac', toolOpts: '', opts: {}, entries: [['10.0.0.1,00:11:22:33:44:55', { ip: '10.0.0.1', mac: '00:11:22:33:44:55' }]] },
  {
    type: 'bitmap:ip', toolOpts: 'range 10.0.0.0/24 timeout 50', opts: { range: '10.0.0.0/24', timeout: 50 },
    entries: [['10.0.0.5', { ip: '10.0.0.5' }], ['10.0.0.10-10.0.0.12 timeout 20', { ip: '10.0.0.10-10.0.0.12', timeout: 20 }]],
  },
  {
    type: 'bitmap:ip,mac', toolOpts: 'range 10.0.0.0-10.0.0.255 counters', opts: { range: '10.0.0.0-10.0.0.255', counters: true },
    entries: [['10.0.0.1,00:11:22:33:44:55', { ip: '10.0.0.1', mac: '00:11:22:33:44:55' }]],
  },
  {
    type: 'bitmap:port', toolOpts: 'range 1024-2048 comment', opts: { range: '1024-2048', comment: true },
    entries: [['1025', { port: 1025 }], ['1030-1032 comment "three"', { port: '1030-1032', comment: 'three' }]],
  },
];

const SET = 's';

/** Hash types get a fixed initval so that both sides print the same header. */
const hashInit = (t: SetType) => (t.startsWith('hash:') ? ` initval 0x${INIT.toString(16)}` : '');
const hashInitOpt = (t: SetType): CreateOptions => (t.startsWith('hash:') ? { initval: INIT } : {});

/**
 * Whole saves equal, member lines in any order (hash order), remaining timeouts within 3 s: the
 * tool's set is filled first, nlkit's after it (a handle opened, two calls), then both are saved.
 */
const sameSave = (mine: string, theirs: string) => assertSameSave(mine, theirs, 'ipset save', { sorted: true, slack: 3 });

const skip = kernelSkipReason('ipset');

describe('ipset differential against the ipset tool', { skip }, () => {
  for (const c of CASES) {
    const label = `${c.type} ${c.toolOpts}`.trim();
    // Types this kernel lacks are checked below for the error instead; the VM tier has them all.
    const typeSkip = skip ? undefined : kernelHasSetType(c.type) ? undefined : `the running kernel has no ${c.type} (${setTypeModule(c.type)})`;
    describe(label, { skip: typeSkip }, () => {
    it(`nlkit create+add reads back like ipset restore: ${label}`, () =>
      withNetns(2, async (tool, lib) => {
        const text = [`create ${SET} ${c.type} ${c.toolOpts}${hashInit(c.type)}`, ...c.entries.map(([s]) => `add ${SET} ${s}`)].join('\n') + '\n';
        tool.run('ipset', ['restore'], text);
        const h = open({ netns: lib.path });
        try {
          await h.create(SET, c.type, { ...c.opts, ...hashInitOpt(c.type) });
          await h.add(SET, c.entries.map(([, o]) => o));
        } finally {
          await h.close();
        }
        sameSave(lib.run('ipset', ['save']), tool.run('ipset', ['save']));
      }));

    it(`nlkit restore of the tool's text equals the tool's restore: ${label}`, () =>
      withNetns(2, async (tool, lib) => {
        const text = [`create ${SET} ${c.type} ${c.toolOpts}${hashInit(c.type)}`, ...c.entries.map(([s]) => `add ${SET} ${s}`)].join('\n') + '\n';
        tool.run('ipset', ['restore'], text);
        const h = open({ netns: lib.path });
        try {
          await h.restore(text);
        } finally {
          await h.close();
        }
        sameSave(lib.run('ipset', ['save']), tool.run('ipset', ['save']));
      }));

    it(`nlkit save/list of a set the tool made equal the tool's own: ${label}`, () =>
      withNetns(1, async (ns) => {
        const text = [`create ${SET} ${c.type} ${c.toolOpts}`, ...c.entries.map(([s]) => `add ${SET} ${s}`)].join('\n') + '\n';
        ns.run('ipset', ['restore'], text);
        const h = open({ netns: ns.path });
        try {
          const timeouts = /timeout/.test(text);
          const mine = await h.save();
          const theirs = ns.run('ipset', ['save']);
          if (timeouts) sameSave(mine, theirs);
          else assert.equal(mine, theirs);

          const listed = await h.list(SET);
          const toolListed = parseList(ns.run('ipset', ['list', SET]))[0]!;
          assert.equal(listed.name, SET);
          assert.equal(listed.type, c.type);
          assert.equal(listed.numEntries, toolListed.numEntries);
          assert.deepEqual(listed.header, toolListed.header);
          // Remaining timeouts tick between the two reads: equal within a second, the rest exactly.
          const strip = (m: { elem: string; timeout?: number }) => ({ ...m, timeout: m.timeout === undefined ? undefined : 0 });
          assert.deepEqual(listed.members!.map(strip), toolListed.members!.map(strip));
          listed.members!.forEach((m, i) => assert.ok(Math.abs((m.timeout ?? 0) - (toolListed.members![i]!.timeout ?? 0)) <= 1, `${m.elem}: ${m.timeout} s left, the tool's ${toolListed.members![i]!.timeout} s`));
          assert.equal(listed.members!.length, listed.numEntries);
        } finally {
          await h.close();
        }
      }));
    });
  }

  const missing = skip ? [] : CASES.map((c) => c.type).filter((t, i, all) => all.indexOf(t) === i && !kernelHasSetType(t));
  it('a set type the running kernel lacks is UnsupportedError naming it and its module', { skip: skip || missing.length ? undefined : 'the running kernel has every set type' }, () =>
    withNetns(1, async (ns) => {
      const h = open({ netns: ns.path });
      try {
        for (const t of missing) {
          await assert.rejects(h.create('x', t), (e: unknown) =>
            e instanceof UnsupportedError && e.message.includes(t) && e.message.includes(setTypeModule(t)));
        }
        assert.equal(ns.run('ipset', ['list', '-n']), '');
      } finally {
        await h.close();
      }
    }));

  it('list:set members, before/after positions, read and written both ways', () =>
    withNetns(2, async (tool, lib) => {
      const text = 'create a hash:ip\ncreate b hash:net\ncreate c hash:ip\ncreate l list:set size 8\nadd l a\nadd l c\nadd l b before c\n';
      tool.run('ipset', ['restore'], text);
      const h = open({ netns: lib.path });
      try {
        await h.create('a', 'hash:ip', { initval: 0 });
        await h.create('b', 'hash:net');
        await h.create('c', 'hash:ip');
        await h.create('l', 'list:set', { size: 8 });
        await h.add('l', [{ set: 'a' }, { set: 'c' }, { set: 'b', before: 'c' }]);
        const strip = (s: string) => s.replace(/ initval 0x[0-9a-f]+/g, '');
        assert.equal(strip(await h.save('l')), strip(tool.run('ipset', ['save', 'l'])));
        assert.deepEqual((await h.list('l')).members!.map((m) => m.elem), ['a', 'b', 'c']);
      } finally {
        await h.close();
      }
    }));

  it('a set of 150k members lists and saves completely (multi-message dumps)', () =>
    withNetns(1, async (ns) => {
      const n = 150_000;
      const lines = ['create big hash:ip,port hashsize 262144 maxelem 300000'];
      for (let i = 0; i < n; i++) lines.push(`add big 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},tcp:${1000 + (i % 5000)}`);
      ns.run('ipset', ['restore'], lines.join('\n') + '\n');
      const h = open({ netns: ns.path });
      try {
        const info = await h.list('big');
        assert.equal(info.numEntries, n);
        assert.equal(info.members!.length, n);
        assert.equal(new Set(info.members!.map((m) => m.elem)).size, n);
        assert.equal(await h.save('big'), ns.run('ipset', ['save', 'big']));
      } finally {
        await h.close();
      }
    }));
});
