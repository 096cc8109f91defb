// The handle's model of its nf_tables tables between --noflush commits (lib/iptables/nft/model.ts):
// after a commit it holds the generation the kernel then reports (so the next commit reads only
// the touched chains' rules), and a change by another writer (iptables-nft-restore, nft) between
// two commits makes the next one read the tables again: the tables the two commits leave, with a
// writer in between, are what the tools leave (whole iptables-nft-save with and without -c, and
// `nft -j list ruleset` without handles).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { iptables, nft } from '../../lib/index.js';
import { IptablesHandle } from '../../lib/iptables/handle.js';
import { commitNoflush } from '../../lib/iptables/nft/noflush.js';
import type { NftModelSlot } from '../../lib/iptables/nft/model.js';
import { binding, type RawWorker } from '../../lib/core/native.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('iptables-nft-restore') ?? kernelSkipReason('nft');
const ruleset = (ns: Netns) => JSON.parse(ns.run('nft', ['-j', 'list', 'ruleset']), (k, v) => (k === 'handle' || k === 'metainfo' ? undefined : v)) as unknown;
const save = (ns: Netns, counters: boolean) => ns.run('iptables-nft-save', counters ? ['-c'] : []).split('\n').filter((l) => !l.startsWith('# ')).join('\n');

function assertSame(a: Netns, b: Netns): void {
  assert.equal(save(b, true), save(a, true));
  assert.equal(save(b, false), save(a, false));
  assert.deepEqual(ruleset(b), ruleset(a));
}

const START = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:OLD - [0:0]
:W - [0:0]
:Y - [0:0]
:Z - [0:0]
[5:500] -A INPUT -s 10.1.2.3/32 -j Z
-A INPUT -j W
[1:10] -A W -s 192.168.0.0/16 -j ACCEPT
[4:40] -A Y -j LOG --log-prefix "y: "
-A Y -j DROP
[7:70] -A Z -p tcp -m tcp --dport 80 -j ACCEPT
[8:80] -A Z -s 10.9.9.9/32 -j DROP
COMMIT
`;

/** The first commit: a chain made, rules added and replaced. */
const FIRST = `*filter
:NEW - [0:0]
-A NEW -p udp -m udp --dport 53 -j ACCEPT
-I Z 1 -j NEW
-A W -d 192.168.0.0/16 -j DROP
COMMIT
`;

/** The second commit: each of its lines depends on what the writer in between did to the chain it names. */
const SECOND = `*filter
:Y - [0:0]
-A Y -j RETURN
-A V -p tcp -m tcp --dport 25 -j DROP
-D Z 1
-A Z -j V
-X OLD
COMMIT
`;

/** Writers between the two commits, each run the same way in both namespaces. */
const WRITERS: Array<{ name: string; run: (ns: Netns) => void }> = [
  {
    name: 'iptables-nft-restore --noflush',
    run: (ns) => ns.run('iptables-nft-restore', ['--noflush'], '*filter\n:V - [0:0]\n-A V -j ACCEPT\n-F Y\n-X Y\n-I Z 1 -p tcp -m tcp --dport 443 -j ACCEPT\n-A W -j V\nCOMMIT\n'),
  },
  {
    name: 'nft and iptables-nft',
    run: (ns) => {
      ns.run('nft', ['add', 'chain', 'ip', 'filter', 'V']);
      ns.run('nft', ['flush', 'chain', 'ip', 'filter', 'Y']);
      ns.run('nft', ['delete', 'chain', 'ip', 'filter', 'Y']);
      ns.run('iptables-nft', ['-I', 'Z', '1', '-p', 'tcp', '-m', 'tcp', '--dport', '443', '-j', 'ACCEPT']);
    },
  },
];

describe('iptables backend nft: the noflush model across other writers', { skip }, () => {
  for (const writer of WRITERS) {
    it(`two noflush commits with ${writer.name} in between equal the tools' own (whole dumps)`, () => withNetns(2, async (a, b) => {
      for (const ns of [a, b]) ns.run('iptables-nft-restore', ['-c'], START);
      const h = iptables.open({ netns: b.path, backend: 'nft' });
      try {
        a.run('iptables-nft-restore', ['--noflush'], FIRST);
        await h.restore(FIRST, { noflush: true });
        assertSame(a, b);
        for (const ns of [a, b]) writer.run(ns);
        a.run('iptables-nft-restore', ['--noflush'], SECOND);
        await h.restore(SECOND, { noflush: true });
        assertSame(a, b);
        // and a third commit on the model the second left
        const third = '*filter\n-A V -j RETURN\n-D W 1\nCOMMIT\n';
        a.run('iptables-nft-restore', ['--noflush'], third);
        await h.restore(third, { noflush: true });
      } finally {
        await h.close();
      }
      assertSame(a, b);
    }));
  }

  it('after a commit the model holds the kernel\'s generation, and another writer makes the next commit read everything again', () => withNetns(1, async (b) => {
    b.run('iptables-nft-restore', [], START);
    const h = new Lender({ netns: b.path, backend: 'nft' });
    const g = nft.open({ netns: b.path });
    const slot: NftModelSlot = {};
    const chainDumps: boolean[] = [];
    const io = {
      model: slot,
      native: async <T>(fn: (w: RawWorker) => Promise<T>): Promise<T> => {
        const r = await h.lend(fn);
        // a read that dumped the chains (NEWCHAIN replies, type 0x0a03) or only rules
        const d = (r as { data?: Buffer; sections?: unknown }).data;
        if ((r as { sections?: unknown }).sections !== undefined && d) chainDumps.push(hasType(d, 0x0a03));
        return r;
      },
    };
    const commit = (body: string) => commitNoflush(io, 'test', 4, [{ name: 'filter', body }], false, false, async (bases) => {
      const r = await h.lend((w) => binding().iptablesRestore(w, null, {
        family: 4, counters: false, compileOnly: true,
        tables: [{ name: 'filter', flush: false, body, line: 1, firstLine: 2, commitLine: 2 + body.split('\n').length - 1, base: bases.get('filter')! }],
      }));
      return r.tables!;
    });
    try {
      assert.equal((await commit(':NEW - [0:0]\n-A NEW -j ACCEPT\n-A Z -j NEW\n')).refusal, undefined);
      assert.deepEqual(chainDumps, [true], 'the first commit reads the chains');
      assert.equal(slot.current?.generation, await g.generation());
      assert.ok(slot.current?.tables.get('filter')?.has('NEW'));
      assert.equal((await commit('-A NEW -j DROP\n')).refusal, undefined);
      assert.deepEqual(chainDumps, [true, false], 'the second commit reads only the touched chain\'s rules');
      assert.equal(slot.current?.generation, await g.generation());
      b.run('iptables-nft', ['-X', 'OLD']);
      assert.notEqual(slot.current?.generation, await g.generation());
      assert.equal((await commit('-A NEW -j RETURN\n')).refusal, undefined);
      assert.deepEqual(chainDumps, [true, false, false, true], 'a stale model: the rules read, then everything');
      assert.equal(slot.current?.tables.get('filter')?.has('OLD'), false);
      assert.equal(slot.current?.generation, await g.generation());
    } finally {
      await h.close();
      await g.close();
    }
    assert.match(save(b, false), /-A NEW -j ACCEPT\n-A NEW -j DROP\n-A NEW -j RETURN\n/);
  }));
});

/** Whether a dump's replies hold a message of `type`. */
function hasType(d: Buffer, type: number): boolean {
  for (let p = 0; p + 16 <= d.length;) {
    const len = d.readUInt32LE(p);
    if (len < 16) break;
    if (d.readUInt16LE(p + 4) === type) return true;
    p += (len + 3) & ~3;
  }
  return false;
}

/** A handle that lends its worker to the test (native() is protected). */
class Lender extends IptablesHandle {
  lend<T>(fn: (w: RawWorker) => Promise<T>): Promise<T> {
    return this.run('test', () => this.native('test', fn));
  }
}
