// --noflush on the nf_tables backend: the same starting tables in two namespaces (written by
// iptables-nft-restore -c in both), then a noflush text applied by `iptables-nft-restore
// --noflush` in A and by nlkit's restore({ noflush: true }) in B; whole iptables-nft-save (with
// and without -c) and `nft -j list ruleset` without handles must be equal. Then the partial
// commit itself: only the changed chains' messages go out, the result equals a full restore of
// the final text, and a writer between the read and the send makes the batch go stale
// (ERESTART): it is recomputed from a fresh read.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { iptables } from '../../lib/index.js';
import { IptablesHandle } from '../../lib/iptables/handle.js';
import { commitNoflush } from '../../lib/iptables/nft/noflush.js';
import { binding, type RawWorker } from '../../lib/core/native.js';
import { kubeProxyNat } from '../fixtures/iptables/kube-proxy.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { tableText } from '../fixtures/iptables/save-text.js';

const skip = kernelSkipReason('iptables-nft-restore') ?? kernelSkipReason('nft');
const ruleset = (ns: Netns) => JSON.parse(ns.run('nft', ['-j', 'list', 'ruleset']), (k, v) => (k === 'handle' || k === 'metainfo' ? undefined : v)) as unknown;
const tool = (f: 4 | 6, what: 'save' | 'restore') => `${f === 6 ? 'ip6' : 'ip'}tables-nft-${what}`;
const save = (ns: Netns, f: 4 | 6, counters: boolean) => ns.run(tool(f, 'save'), counters ? ['-c'] : []).split('\n').filter((l) => !l.startsWith('# ')).join('\n');

/** The two namespaces hold the same tables, as the tools print them. */
function assertSame(a: Netns, b: Netns, f: 4 | 6): void {
  assert.equal(save(b, f, true), save(a, f, true));
  assert.equal(save(b, f, false), save(a, f, false));
  assert.deepEqual(ruleset(b), ruleset(a));
}

const ADDR = {
  4: { x: '10.1.2.3/32', y: '192.168.0.0/16', z: '10.9.9.9/32' },
  6: { x: 'fd00::3/128', y: 'fd00:1::/64', z: 'fd00::9/128' },
} as const;

/** Starting tables with counters on rules and policies, user chains jumping to each other. */
const start = (f: 4 | 6) => {
  const a = ADDR[f];
  return tableText('filter', 'INPUT ACCEPT [11:1100], FORWARD DROP, OUTPUT ACCEPT [3:300], OLD, W, Y, Z', `
[5:500] -A INPUT -s ${a.x} -j Z
[6:600] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -j W
[1:10] -A W -s ${a.y} -j ACCEPT
[2:20] -A W -d ${a.y} -j DROP
[3:30] -A W -p udp -m udp --dport 53 -j ACCEPT
[4:40] -A Y -j LOG --log-prefix "y: "
-A Y -j DROP
[7:70] -A Z -p tcp -m tcp --dport 80 -j ACCEPT
[8:80] -A Z -s ${a.z} -j DROP
[9:90] -A Z -p tcp -m tcp --dport 443 -j ACCEPT
[10:100] -A Z -m comment --comment "z last" -j RETURN`)
    + tableText('mangle', 'PREROUTING ACCEPT, INPUT ACCEPT, FORWARD ACCEPT, OUTPUT ACCEPT, POSTROUTING ACCEPT', `
[2:2] -A PREROUTING -j MARK --set-xmark 0x1/0xffffffff`);
};

/** One noflush text with every kind of change. */
const change = (f: 4 | 6) => {
  const a = ADDR[f];
  return tableText('filter', 'INPUT DROP [12:1200], Y, NEW', `
-X OLD
-F W
[21:2100] -A W -s ${a.y} -j ACCEPT
-D Z 2
-D Z -p tcp -m tcp --dport 443 -j ACCEPT
-I Z 1 -p tcp -m tcp --dport 8080 -j ACCEPT
-I Z 3 -p udp -m udp --dport 8053 -j ACCEPT
[30:3000] -A Z -p tcp -m tcp --dport 9090 -j DROP
-R INPUT 2 -p tcp -m tcp --dport 2222 -j ACCEPT
-A NEW -m comment --comment "new chain" -j RETURN
-I INPUT 1 -j NEW`)
    + tableText('nat', '', `
[4:44] -A PREROUTING -d ${a.z} -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080`);
};

describe('iptables backend nft: --noflush against iptables-nft-restore --noflush', { skip }, () => {
  for (const family of [4, 6] as const) {
    for (const counters of [false, true]) {
      it(`-N/-X/-F/-D/-I/-A/-R and policies, a table made on the way (IPv${family}${counters ? ', --counters' : ''})`, () => withNetns(2, async (a, b) => {
        for (const ns of [a, b]) ns.run(tool(family, 'restore'), ['-c'], start(family));
        assertSame(a, b, family);
        a.run(tool(family, 'restore'), ['--noflush', ...(counters ? ['-c'] : [])], change(family));
        const h = iptables.open({ netns: b.path, family, backend: 'nft' });
        try {
          const r = await h.restore(change(family), { noflush: true, counters });
          assert.deepEqual(r.committed, ['filter', 'nat']);
        } finally {
          await h.close();
        }
        assert.match(save(a, family, false), /-A NEW -m comment --comment "new chain" -j RETURN/);
        assert.doesNotMatch(save(a, family, false), /:OLD/);
        assertSame(a, b, family);
      }));
    }

    it(`a bad line fails at the tool's line, nothing applied (IPv${family})`, () => withNetns(2, async (a, b) => {
      for (const ns of [a, b]) ns.run(tool(family, 'restore'), ['-c'], start(family));
      const text = '*filter\n-A W -j ACCEPT\n-F Y\n-A W -p tcp -m tcp --dport nope -j ACCEPT\nCOMMIT\n';
      const r = a.try(tool(family, 'restore'), ['--noflush'], text);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /line: 4/);
      const h = iptables.open({ netns: b.path, family, backend: 'nft' });
      try {
        await assert.rejects(h.restore(text, { noflush: true }), (e: Error & { line?: number }) => e.line === 4);
      } finally {
        await h.close();
      }
      assertSame(a, b, family);
    }));

    it(`-N of an existing chain is refused as the tool refuses it, nothing applied (IPv${family})`, () => withNetns(2, async (a, b) => {
      for (const ns of [a, b]) ns.run(tool(family, 'restore'), ['-c'], start(family));
      const text = '*filter\n-A W -j ACCEPT\n-N Y\nCOMMIT\n';
      assert.notEqual(a.try(tool(family, 'restore'), ['--noflush'], text).status, 0);
      const h = iptables.open({ netns: b.path, family, backend: 'nft' });
      try {
        await assert.rejects(h.restore(text, { noflush: true }), (e: Error & { line?: number }) => e.line === 3 && /exists/i.test(e.message));
      } finally {
        await h.close();
      }
      assertSame(a, b, family);
    }));
  }

  it('a noflush builder on nf_tables equals iptables-nft-restore --noflush of its text', () => withNetns(2, async (a, b) => {
    for (const ns of [a, b]) ns.run('iptables-nft-restore', ['-c'], start(4));
    const h = iptables.open({ netns: b.path, backend: 'nft' });
    try {
      const t = h.table('filter', { noflush: true });
      t.chain('Z').append({ protocol: 'tcp', matches: [{ module: 'tcp', dport: 25 }], jump: 'DROP' });
      t.chain('BUILT').append({ jump: 'RETURN' });
      a.run('iptables-nft-restore', ['--noflush'], t.text());
      await t.commit();
    } finally {
      await h.close();
    }
    assertSame(a, b, 4);
  }));

  it('one kube-proxy service changed: that chain\'s changes only, equal to the tool\'s --noflush and to a full restore of the final text', () => withNetns(3, async (a, b, c) => {
    const first = kubeProxyNat({ services: 200 });
    const next = kubeProxyNat({ services: 200, variant: 7 });
    // kube-proxy's own --noflush text: every chain it keeps declared (flushed and refilled), the stale ones deleted
    const chains = (t: string) => new Set(t.split('\n').filter((l) => l[0] === ':').map((l) => l.slice(1).split(' ')[0]!));
    const stale = [...chains(first)].filter((n) => !chains(next).has(n));
    assert.equal(stale.length, 2);
    const text = next.replace(/^\*nat\n/, `*nat\n${stale.map((n) => `:${n} - [0:0]\n`).join('')}`).replace(/COMMIT\n$/, `${stale.map((n) => `-X ${n}\n`).join('')}COMMIT\n`);
    for (const ns of [a, b]) ns.run('iptables-nft-restore', [], first);
    a.run('iptables-nft-restore', ['--noflush'], text);
    const h = new Lender({ netns: b.path, backend: 'nft' });
    try {
      const out = await commitNoflush({ native: (fn) => h.lend(fn) }, 'test', 4, [{ name: 'nat', body: body(text) }], false, false, async (bases) => {
        const r = await h.lend((w) => binding().iptablesRestore(w, null, {
          family: 4, counters: false, compileOnly: true,
          tables: [{ name: 'nat', flush: false, body: body(text), line: 1, firstLine: 2, commitLine: text.split('\n').length - 1, base: bases.get('nat')! }],
        }));
        return r.tables!;
      });
      assert.equal(out.refusal, undefined);
      // 1 of 200 services differs: its two endpoint chains go and come, their rules and the
      // KUBE-SVC rules that jump to them change; the rest is not sent again (~2000 rules)
      assert.ok(out.messages > 0 && out.messages < 20, `${out.messages} messages sent`);
    } finally {
      await h.close();
    }
    assertSame(a, b, 4);
    // a full restore of the final text (as iptables-nft-save prints it) makes the same tables;
    // nf_tables lists chains in creation order, and the tool's text has them sorted: the
    // ruleset is compared as a set of objects
    c.run('iptables-nft-restore', [], save(b, 4, false));
    assert.equal(save(b, 4, true), save(c, 4, true));
    const objects = (ns: Netns) => ((ruleset(ns) as { nftables: unknown[] }).nftables).map((o) => JSON.stringify(o)).sort();
    assert.deepEqual(objects(b), objects(c));
  }));

  it('a writer between the read and the send: the batch is refused (ERESTART), recomputed and sent again', () => withNetns(2, async (a, b) => {
    for (const ns of [a, b]) ns.run('iptables-nft-restore', ['-c'], start(4));
    a.run('nft', ['add', 'table', 'ip', 'other']);
    a.run('iptables-nft-restore', ['--noflush'], change(4));
    const h = new Lender({ netns: b.path, backend: 'nft' });
    try {
      let reads = 0, batches = 0;
      const text = change(4);
      const filter = text.slice(text.indexOf('\n') + 1, text.indexOf('COMMIT\n'));
      const nat = '[4:44] -A PREROUTING -d 10.9.9.9/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080\n';
      const out = await commitNoflush({
        native: async (fn) => {
          const r = await h.lend(fn);
          if ((r as { errors?: unknown }).errors !== undefined) batches++;
          else if ((r as { sections?: unknown }).sections !== undefined && ++reads === 1) b.run('nft', ['add', 'table', 'ip', 'other']);
          return r;
        },
      }, 'test', 4, [{ name: 'filter', body: filter }, { name: 'nat', body: nat }], false, false, async (bases) => {
        const lines = (s: string) => s.split('\n').length - 1;
        const r = await h.lend((w) => binding().iptablesRestore(w, null, {
          family: 4, counters: false, compileOnly: true,
          tables: [
            { name: 'filter', flush: false, body: filter, line: 1, firstLine: 2, commitLine: 2 + lines(filter), base: bases.get('filter')! },
            { name: 'nat', flush: false, body: nat, line: 1, firstLine: 2, commitLine: 2 + lines(nat), base: bases.get('nat')! },
          ],
        }));
        return r.tables!;
      });
      assert.equal(out.refusal, undefined);
      assert.equal(batches, 2, 'the stale batch was not refused and resent');
      assert.equal(out.attempts, 2);
    } finally {
      await h.close();
    }
    assertSame(a, b, 4);
  }));
});

/** A handle that lends its worker to the test (native() is protected). */
class Lender extends IptablesHandle {
  lend<T>(fn: (w: RawWorker) => Promise<T>): Promise<T> {
    return this.run('test', () => this.native('test', fn));
  }
}

/** The lines between `*nat` and COMMIT of a one-table text. */
function body(text: string): string {
  return text.slice(text.indexOf('\n') + 1, text.lastIndexOf('COMMIT\n'));
}
