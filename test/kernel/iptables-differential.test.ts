// The same restore text through iptables-legacy-restore (namespace A) and nlkit (namespace
// B) must leave tables that iptables-legacy-save prints identically, with and without -c;
// and nlkit's save() of what the tool wrote must be the tool's own output.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { iptables } from '../../lib/index.js';
import { kernelSkipReason, withHandle, withNetns, type Netns } from '../helpers/netns.js';
import { kubeProxyNat } from '../fixtures/iptables/kube-proxy.js';
import { CALICO_SETS, calicoTables } from '../fixtures/iptables/calico.js';
import { commonCases, fixture, restoreFlags, restoreOptions, type RestoreStep } from '../fixtures/iptables/differential-steps.js';

const skip = kernelSkipReason('iptables-legacy-restore') ?? kernelSkipReason('ipset');

type Family = 4 | 6;
const tool = (f: Family, what: 'save' | 'restore') => `${f === 6 ? 'ip6tables' : 'iptables'}-legacy-${what}`;

/** iptables-legacy-save without its two timestamp comment lines. */
function toolSave(ns: Netns, f: Family, counters: boolean, table?: string): string {
  const args = [...(counters ? ['-c'] : []), ...(table ? ['-t', table] : [])];
  return ns.run(tool(f, 'save'), args).split('\n').filter((l) => !l.startsWith('# ')).join('\n');
}

function sets(ns: Netns): void {
  ns.run('ipset', ['create', 'nlkit-allow', 'hash:net']);
  ns.run('ipset', ['create', 'nlkit-deny', 'hash:ip,port']);
  ns.run('ipset', ['create', 'nlkit-allow6', 'hash:net', 'family', 'inet6']);
  for (const set of CALICO_SETS) ns.run('ipset', ['create', set, 'hash:net']);
}

/** Runs the steps through both and compares the tables after each. */
async function differential(family: Family, steps: RestoreStep[]): Promise<void> {
  await withNetns(2, async (a, b) => {
    sets(a);
    sets(b);
    await withHandle(iptables.open({ netns: b.path, family, backend: 'legacy' }), async (h) => {
      for (const [i, s] of steps.entries()) {
        a.run(tool(family, 'restore'), restoreFlags(s), s.text);
        await h.restore(s.text, restoreOptions(s));
        for (const c of [false, true]) {
          assert.equal(toolSave(b, family, c), toolSave(a, family, c), `step ${i}: iptables-save${c ? ' -c' : ''} differs`);
        }
      }
      // nlkit reads back what the tool wrote exactly as the tool prints it
      await withHandle(iptables.open({ netns: a.path, family, backend: 'legacy' }), async (ha) => {
        for (const c of [false, true]) {
          assert.equal(await ha.save({ counters: c }), toolSave(a, family, c), `save${c ? ' -c' : ''} of the tool's tables differs`);
        }
        const tables = toolSave(a, family, false).split('\n').filter((l) => l.startsWith('*')).map((l) => l.slice(1));
        for (const t of tables) assert.equal(await ha.save({ table: t }), toolSave(a, family, false, t), `save -t ${t} differs`);
      });
    });
  });
}

describe('iptables differential against iptables-legacy-restore/-save', { skip }, () => {
  for (const [name, family, steps] of commonCases(60)) it(name, () => differential(family, steps));

  it("Calico Felix's raw, mangle, nat and filter chains, rewritten with --noflush", () => differential(4, [
    { text: calicoTables({ workloads: 20 }), noflush: true },
    { text: calicoTables({ workloads: 25 }), noflush: true },
  ]));

  it('restores one table of a text with -T', () => differential(4, [
    { text: fixture('input-v4.restore') },
    { text: kubeProxyNat({ services: 5, filter: true }), table: 'nat' },
  ]));

  it('--noflush: :CHAIN flushes that chain only, commands edit what is there', () => differential(4, [
    { text: fixture('input-v4.restore'), counters: true },
    {
      noflush: true,
      text: [
        '*filter',
        ':SSH - [0:0]',                        // existing: flushed
        ':NEWCHAIN - [0:0]',                   // created
        '-A SSH -s 192.168.0.0/16 -j ACCEPT',
        '-I INPUT 2 -s 10.9.0.0/16 -j NEWCHAIN',
        '-I INPUT -p udp -m udp --dport 53 -j ACCEPT',
        '-A NEWCHAIN -j RETURN',
        '-D INPUT -m conntrack --ctstate INVALID -j DROP',
        '-D INPUT 5',
        '-R INPUT 1 -i lo -m comment --comment replaced -j ACCEPT',
        '-Z INPUT 3',
        '-Z FORWARD',
        '-P FORWARD ACCEPT',
        '-F LOGDROP',
        '-A LOGDROP -j DROP',
        '-N EMPTY',
        '-X EMPTY',
        '-E NEWCHAIN RENAMED',
        '-C INPUT -s 10.9.0.0/16 -j RENAMED',
        '-A FORWARD -s 10.1.0.1,10.1.0.2 -d 10.2.0.0/24,10.3.0.0/24 -j ACCEPT',
        '-I FORWARD 1 -s 10.4.0.1,10.4.0.2 -j DROP',
        'COMMIT',
        '*nat',
        ':KUBE-SVC-CCCCCCCCCCCCCCCC - [0:0]',
        '-A KUBE-SVC-CCCCCCCCCCCCCCCC -j KUBE-SEP-BBBBBBBBBBBBBBBB',
        '-D KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CCCCCCCCCCCCCCCC',
        '-F KUBE-SEP-AAAAAAAAAAAAAAAA',
        '-X KUBE-SEP-AAAAAAAAAAAAAAAA',
        'COMMIT',
        '',
      ].join('\n'),
    },
  ]));

  it('counters from [pkts:bytes] and -c, with and without --counters', () => {
    const text = [
      '*filter',
      ':INPUT ACCEPT [11:1100]',
      ':FORWARD DROP [22:2200]',
      ':OUTPUT ACCEPT [33:3300]',
      ':C - [44:4400]',
      '[1:100] -A INPUT -s 10.0.0.1/32 -j ACCEPT',
      '[2:200] -A INPUT -s 10.0.0.2,10.0.0.3 -j C',
      '-A INPUT -c 7 700 -s 10.0.0.4/32 -j ACCEPT',
      '[18446744073709551615:18446744073709551615] -A C -j RETURN',
      'COMMIT',
      '',
    ].join('\n');
    return differential(4, [{ text }, { text, counters: true }, { text, counters: true, noflush: true }]);
  });

  it('a table named twice in one text, and tables in any order', () => differential(4, [{
    text: [
      '*nat', ':PREROUTING ACCEPT [0:0]', ':X - [0:0]', '-A PREROUTING -j X', 'COMMIT',
      '*filter', ':INPUT DROP [0:0]', '-A INPUT -j ACCEPT', 'COMMIT',
      '*nat', ':Y - [0:0]', '-A PREROUTING -j Y', 'COMMIT', '',
    ].join('\n'),
  }, {
    noflush: true,
    text: ['*nat', ':X - [0:0]', '-A X -j RETURN', 'COMMIT', '*nat', '-A X -j RETURN', 'COMMIT', ''].join('\n'),
  }]));

  it('comments, blank lines, quoting and odd spacing', () => differential(4, [{
    text: [
      '# leading comment',
      '',
      '*filter',
      '# comment inside',
      ':INPUT ACCEPT [0:0]',
      '  -A INPUT\t-s 10.0.0.1   -m comment --comment "a \\"quoted\\" ünïcödé \\\\ word" -j ACCEPT',
      '-A INPUT -m comment --comment "" -j ACCEPT',
      '-A INPUT -m comment --comment a"b c" -j ACCEPT',
      '-A INPUT --source 10.0.0.2 --protocol tcp --match tcp --destination-port 80 --jump ACCEPT',
      '-A INPUT --src 10.0.0.3 --in-interface eth+ -j ACCEPT',
      '-A INPUT -4 -s 10.0.0.5 -j ACCEPT',
      '-A INPUT -6 -s ::1 -j ACCEPT',
      'COMMIT',
      '',
    ].join('\n'),
  }]));
});
