// The nf_tables backend (issue #14) against iptables-nft 1.8.9: the same restore text through
// iptables-nft-restore (namespace A) and nlkit's backend 'nft' (namespace B) must leave rulesets
// that iptables-nft-save prints identically, with and without -c, AND that `nft -j list ruleset`
// prints identically with the handles removed: the expressions, not only the text, match.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { iptables } from '../../lib/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { kubeProxyNat } from '../fixtures/iptables/kube-proxy.js';
import { CALICO_FILTER, CALICO_NAT, EXTENSIONS_V4, EXTENSIONS_V6 } from '../fixtures/iptables/nft-corpus.js';
import { commonCases, fixture, restoreFlags, restoreOptions, type RestoreStep } from '../fixtures/iptables/differential-steps.js';

const skip = kernelSkipReason('iptables-nft-restore') ?? kernelSkipReason('nft') ?? kernelSkipReason('ipset');

type Family = 4 | 6;
const tool = (f: Family, what: 'save' | 'restore') => `${f === 6 ? 'ip6tables' : 'iptables'}-nft-${what}`;

/** iptables-nft-save without its `#` timestamp lines. */
export function nftToolSave(ns: Netns, f: Family, counters: boolean): string {
  return ns.run(tool(f, 'save'), counters ? ['-c'] : []).split('\n').filter((l) => !l.startsWith('# ')).join('\n');
}

/** `nft -j list ruleset` without handles and metainfo (which names the nft version). */
export function nftRuleset(ns: Netns): unknown {
  const j = JSON.parse(ns.run('nft', ['-j', 'list', 'ruleset']), (k, v) => (k === 'handle' ? undefined : v)) as { nftables: Array<Record<string, unknown>> };
  return j.nftables.filter((o) => !('metainfo' in o));
}

function sets(ns: Netns): void {
  ns.run('ipset', ['create', 'nlkit-allow', 'hash:net']);
  ns.run('ipset', ['create', 'nlkit-deny', 'hash:ip,port']);
  ns.run('ipset', ['create', 'nlkit-allow6', 'hash:net', 'family', 'inet6']);
  ns.run('ipset', ['create', 'cali40all-ipam-pools', 'hash:net']);
  ns.run('ipset', ['create', 'cali40masq-ipam-pools', 'hash:net']);
}


/** Runs the steps through both and compares after each; returns how many rules the last step left. */
async function differential(family: Family, steps: RestoreStep[]): Promise<void> {
  await withNetns(2, async (a, b) => {
    sets(a);
    sets(b);
    const h = { 4: iptables.open({ netns: b.path, family: 4, backend: 'nft' }), 6: iptables.open({ netns: b.path, family: 6, backend: 'nft' }) };
    try {
      for (const [i, s] of steps.entries()) {
        const f = s.family ?? family;
        a.run(tool(f, 'restore'), restoreFlags(s), s.text);
        const r = await h[f].restore(s.text, restoreOptions(s));
        assert.ok(r.committed.length > 0, 'nothing committed');
        for (const c of [false, true]) {
          const want = nftToolSave(a, f, c);
          assert.ok(/^-A |\] -A /m.test(want), 'the tool made no rules: nothing is compared');
          assert.equal(nftToolSave(b, f, c), want, `step ${i}: ${tool(f, 'save')}${c ? ' -c' : ''} differs`);
        }
        assert.deepEqual(nftRuleset(b), nftRuleset(a), `step ${i}: nft -j list ruleset differs`);
      }
    } finally {
      await h[4].close();
      await h[6].close();
    }
  });
}

describe('iptables backend nft against iptables-nft-restore/-save 1.8.9 and nft -j', { skip }, () => {
  for (const [name, family, steps] of commonCases(40)) it(name, () => differential(family, steps));

  it("Calico's filter and nat shapes (marks, sets, conntrack, comments, gotos)", () => differential(4, [
    { text: CALICO_FILTER + CALICO_NAT },
    { text: CALICO_FILTER, counters: true },
  ]));

  it('native translations and their edges: tcp flags, port ranges, udp, mark masks, limit units, prefixes and masks, interfaces, fragments, NFLOG, TRACE', () =>
    differential(4, [{ text: EXTENSIONS_V4 }, { text: EXTENSIONS_V4, counters: true }]));

  it('IPv6 native translations and prefixes', () => differential(6, [{ text: EXTENSIONS_V6 }]));

  it('both families in one namespace, each replaced', () => differential(4, [
    { text: fixture('input-v4.restore') },
    { text: fixture('input-v6.restore'), family: 6 },
    { text: kubeProxyNat({ services: 3 }) },
  ]));

  it('restores one table of a text with -T', () => differential(4, [
    { text: fixture('input-v4.restore') },
    { text: kubeProxyNat({ services: 5, filter: true }), table: 'nat' },
  ]));

  it('counters from [pkts:bytes] and -c, with and without --counters', () => {
    const text = [
      '*filter', ':INPUT ACCEPT [11:1100]', ':FORWARD DROP [22:2200]', ':OUTPUT ACCEPT [33:3300]', ':C - [44:4400]',
      '[1:100] -A INPUT -s 10.0.0.1/32 -j ACCEPT', '[2:200] -A INPUT -s 10.0.0.2,10.0.0.3 -j C',
      '-A INPUT -c 7 700 -s 10.0.0.4/32 -j ACCEPT', '[18446744073709551615:18446744073709551615] -A C -j RETURN', 'COMMIT', '',
    ].join('\n');
    return differential(4, [{ text }, { text, counters: true }]);
  });

  it('a table named twice in one text, tables in any order, chains the text never names', () => differential(4, [{
    text: [
      '*nat', ':PREROUTING ACCEPT [0:0]', ':X - [0:0]', '-A PREROUTING -j X', 'COMMIT',
      '*filter', ':INPUT DROP [0:0]', '-A INPUT -j ACCEPT', '-A FORWARD -j DROP', 'COMMIT',
      '*nat', ':Y - [0:0]', '-A PREROUTING -j Y', '-A OUTPUT -j Y', 'COMMIT', '',
    ].join('\n'),
  }, { text: '*mangle\nCOMMIT\n*raw\n:OUTPUT DROP [0:0]\nCOMMIT\n' }]));

  it('comments, blank lines, quoting and odd spacing', () => differential(4, [{
    text: [
      '# leading comment', '', '*filter', '# comment inside', ':INPUT ACCEPT [0:0]',
      '  -A INPUT\t-s 10.0.0.1   -m comment --comment "a \\"quoted\\" ünïcödé \\\\ word" -j ACCEPT',
      '-A INPUT -m comment --comment "" -j ACCEPT',
      '-A INPUT --source 10.0.0.2 --protocol tcp --match tcp --destination-port 80 --jump ACCEPT',
      '-A INPUT --src 10.0.0.3 --in-interface eth+ -j ACCEPT',
      'COMMIT', '',
    ].join('\n'),
  }]));
});
