// The table builder and restore's retry on the nf_tables backend: a builder committed through
// nlkit (namespace B) against its own text through iptables-nft-restore (namespace A), compared
// as iptables-nft-save and `nft -j list ruleset` print them; and a batch whose generation went
// stale between the read and the send is rebuilt and sent again (ERESTART), as the tool does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { iptables } from '../../lib/index.js';
import { IptablesHandle } from '../../lib/iptables/handle.js';
import { restoreNft } from '../../lib/iptables/nft/restore.js';
import { readEntries } from '../../lib/iptables/nft/entries.js';
import { binding, type RawWorker } from '../../lib/core/native.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('iptables-nft-restore') ?? kernelSkipReason('nft');
const ruleset = (ns: Netns) => JSON.parse(ns.run('nft', ['-j', 'list', 'ruleset']), (k, v) => (k === 'handle' || k === 'metainfo' ? undefined : v)) as unknown;
const save = (ns: Netns, f: 4 | 6) => ns.run(f === 6 ? 'ip6tables-nft-save' : 'iptables-nft-save', ['-c']).split('\n').filter((l) => !l.startsWith('# ')).join('\n');

/** A handle that lends its worker to the test (native() is protected). */
class Lender extends IptablesHandle {
  lend<T>(fn: (w: RawWorker) => Promise<T>): Promise<T> {
    return this.run('test', () => this.native('test', fn));
  }
}

describe('iptables backend nft: builder and stale generation', { skip }, () => {
  for (const family of [4, 6] as const) {
    it(`builder commit equals iptables-nft-restore of the builder's text (IPv${family})`, () => withNetns(2, async (a, b) => {
      const h = iptables.open({ netns: b.path, family, backend: 'nft' });
      try {
        const nat = h.table('nat');
        const dst = family === 4 ? '10.96.0.10/32' : 'fd00:10:96::a/128';
        nat.chain('PREROUTING').append({ comment: 'kubernetes service portals', jump: 'KUBE-SERVICES' });
        nat.chain('KUBE-SERVICES').append({
          comment: 'default/web:http cluster IP', protocol: 'tcp', destination: dst, matches: [{ module: 'tcp', dport: 80 }], jump: 'KUBE-SVC-WEB',
        });
        nat.chain('KUBE-SVC-WEB')
          .append({ matches: [{ module: 'statistic', mode: 'random', probability: 0.5 }], jump: 'KUBE-MARK-MASQ' })
          .append({ jump: 'RETURN' });
        nat.chain('KUBE-MARK-MASQ').append({ jump: 'MARK', target: { 'set-xmark': '0x4000/0x4000' } });
        nat.chain('POSTROUTING').append({ matches: [{ module: 'mark', mark: { not: '0x4000/0x4000' } }], jump: 'RETURN' });
        a.run(family === 6 ? 'ip6tables-nft-restore' : 'iptables-nft-restore', [], nat.text());
        const r = await nat.commit({ wait: 0 });
        assert.deepEqual(r.committed, ['nat']);
        assert.match(save(a, family), /-A KUBE-SVC-WEB/);
        assert.equal(save(b, family), save(a, family));
        assert.deepEqual(ruleset(b), ruleset(a));
      } finally {
        await h.close();
      }
    }));
  }

  it('a batch refused with ERESTART (the ruleset changed after it was read) is rebuilt and sent again', () => withNetns(2, async (a, b) => {
    const text = '*filter\n:INPUT DROP [0:0]\n:X - [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j X\n-A X -j ACCEPT\nCOMMIT\n';
    a.run('nft', ['add', 'table', 'ip', 'other']);  // what namespace B gets between read and send
    a.run('iptables-nft-restore', [], text);
    const h = new Lender({ netns: b.path, backend: 'nft' });
    try {
      const compiled = await h.lend((w) => binding().iptablesRestore(w, null, {
        family: 4, counters: false, compileOnly: true,
        tables: [{ name: 'filter', flush: true, body: text.split('\n').slice(1, -2).join('\n') + '\n', line: 1, firstLine: 2, commitLine: 6, chains: 2 }],
      }));
      const raw = compiled.tables![0]!;
      assert.deepEqual(readEntries(4, raw).map((c) => [c.name, c.rules.length]), [['INPUT', 1], ['FORWARD', 0], ['OUTPUT', 0], ['X', 1]]);
      // the first batch goes out with the generation read before another process changed the ruleset
      let calls = 0, batches = 0;
      const refusal = await restoreNft({
        native: async (fn) => {
          const r = await h.lend(fn);
          if (++calls === 1) b.run('nft', ['add', 'table', 'ip', 'other']);  // after the first read
          if ((r as { errors?: unknown }).errors !== undefined) batches++;
          return r;
        },
      }, 4, [{ name: 'filter', body: text, raw }]);
      assert.equal(refusal, undefined);
      assert.equal(batches, 2, 'the stale batch was not refused and resent');
      assert.deepEqual(ruleset(b), ruleset(a));
    } finally {
      await h.close();
    }
  }));
});
