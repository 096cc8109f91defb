// Transactions on an nf_tables host: the iptables participant checks, snapshots and undoes
// nf_tables tables. A transaction whose iptables step applied and whose later step the kernel
// refuses leaves whole `iptables-nft-save -c` (both families) and `nft -j list ruleset` (handles
// removed) as they were; one that succeeds leaves what iptables-nft-restore leaves.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { transaction, TransactionError } from '../../lib/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { tableText } from '../fixtures/iptables/save-text.js';
import { rejectsRolledBack } from '../helpers/transaction.js';

const skip = kernelSkipReason('iptables-nft-restore') ?? kernelSkipReason('nft');
const ruleset = (ns: Netns) => JSON.parse(ns.run('nft', ['-j', 'list', 'ruleset']), (k, v) => (k === 'handle' || k === 'metainfo' ? undefined : v)) as unknown;
const objects = (ns: Netns) => ((ruleset(ns) as { nftables: unknown[] }).nftables).map((o) => JSON.stringify(o)).sort();
const saves = (ns: Netns) => ['iptables-nft-save', 'ip6tables-nft-save'].map((t) => ns.run(t, ['-c']).split('\n').filter((l) => !l.startsWith('# ')).join('\n')).join('----\n');

const START = (six: boolean) => tableText('filter', 'INPUT ACCEPT [5:500], FORWARD DROP, OUTPUT ACCEPT, X', `
[3:300] -A INPUT -s ${six ? 'fd00::1/128' : '10.0.0.1/32'} -j X
[4:400] -A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
[6:600] -A X -m comment --comment "x" -j RETURN`)
  + tableText('nat', 'PREROUTING ACCEPT, INPUT ACCEPT, OUTPUT ACCEPT, POSTROUTING ACCEPT', `
[7:700] -A POSTROUTING -o eth9 -j MASQUERADE`);
const CHANGE = '*filter\n:Y - [0:0]\n-D INPUT 2\n-A INPUT -j Y\n-A Y -p udp -m udp --dport 53 -j ACCEPT\nCOMMIT\n';

function prepare(ns: Netns): void {
  ns.run('iptables-nft-restore', ['-c'], START(false));
  ns.run('ip6tables-nft-restore', ['-c'], START(true));
  // a table iptables does not own: untouched either way
  ns.run('nft', ['add table inet other; add chain inet other c { type filter hook input priority 10; }; add rule inet other c tcp dport 9 counter drop']);
}

describe('transactions on nf_tables: the iptables participant', { skip }, () => {
  it('a later step the kernel refuses: both families and the whole ruleset as before', () => withNetns(1, async (ns) => {
    prepare(ns);
    const before = { saves: saves(ns), ruleset: ruleset(ns) };
    await rejectsRolledBack(transaction((tx) => {
      tx.iptables.restore(CHANGE, { noflush: true, family: 'both' });
      tx.iptables.restore('*nat\n-F POSTROUTING\n-A POSTROUTING -j ACCEPT\nCOMMIT\n', { noflush: true });
      // compiles, but the kernel refuses it at commit: DNAT is not allowed in the INPUT hook
      tx.iptables.restore('*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n', { noflush: true });
    }, { netns: ns.path }));
    assert.equal(saves(ns), before.saves);
    assert.deepEqual(ruleset(ns), before.ruleset);
  }));

  it('a flushing step undone: the tools print the same tables; the ruleset holds the same objects (the table is listed last, as after iptables-nft-restore)', () => withNetns(1, async (ns) => {
    prepare(ns);
    const before = { saves: saves(ns), objects: objects(ns) };
    await assert.rejects(transaction((tx) => {
      tx.iptables.restore('*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n', { family: 'both' });
      tx.iptables.restore('*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n', { noflush: true });
    }, { netns: ns.path }), (e: unknown) => e instanceof TransactionError && e.rolledBack === true);
    assert.equal(saves(ns), before.saves);
    assert.deepEqual(objects(ns), before.objects);
  }));

  it('an applied transaction leaves what iptables-nft-restore --noflush leaves', () => withNetns(2, async (a, b) => {
    for (const ns of [a, b]) prepare(ns);
    a.run('iptables-nft-restore', ['--noflush'], CHANGE);
    a.run('ip6tables-nft-restore', ['--noflush'], CHANGE);
    await transaction((tx) => {
      tx.iptables.restore(CHANGE, { noflush: true, family: 'both' });
    }, { netns: b.path });
    assert.equal(saves(b), saves(a));
    assert.deepEqual(ruleset(b), ruleset(a));
  }));
});
