// A rolled-back transaction leaves the kernel exactly as it found it, whatever the kernel held:
// rule comments with newlines (which iptables-save prints raw and iptables-restore cannot read
// back) must neither be lost nor run as commands. Oracle: `iptables-legacy-save -c`, `ipset save`.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { transaction, TransactionError } from '../../lib/index.js';
import { kernelSkipReason, Netns } from '../helpers/netns.js';
import { rejectsRolledBack } from '../helpers/transaction.js';

const skip = kernelSkipReason('iptables-legacy-save') ?? kernelSkipReason('ipset');
const legacy = { backend: 'legacy' as const };

function dump(ns: Netns): string {
  const out = ns.run('sh', ['-c', 'ipset save; echo ----; iptables-legacy-save -c; echo ----; ip6tables-legacy-save -c']);
  return out.split('\n').filter((l) => !l.startsWith('# ')).join('\n');
}

describe('transaction rollback: exact prior state', { skip }, () => {
  const made: Netns[] = [];
  after(() => {
    for (const ns of made) ns.remove();
  });

  it('a rule comment with a newline is put back as it was, and its text after the newline is not run', async () => {
    const ns = new Netns('txexact');
    made.push(ns);
    // The text after the newline reads as a rule to a line-based restore.
    ns.run('sh', ['-c', [
      `iptables-legacy -t nat -S >/dev/null`,
      `iptables-legacy -A INPUT -s 10.9.0.1 -m comment --comment "$(printf 'a\\n-A INPUT -j DROP')" -j ACCEPT`,
      `iptables-legacy -A INPUT -m comment --comment "$(printf 'q"uote\\\\back')" -j ACCEPT`,
      `ip6tables-legacy -A INPUT -m comment --comment "$(printf 'six\\n-A INPUT -j DROP')" -j ACCEPT`,
      `iptables-legacy -Z`,
    ].join(' && ')]);
    const before = dump(ns);
    assert.match(before, /"a\n-A INPUT -j DROP"/);
    await rejectsRolledBack(transaction((tx) => {
      tx.iptables.restore('*filter\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n', { noflush: true, family: 'both' });
      // Compiles, but the kernel refuses it at commit: DNAT is not allowed in nat INPUT.
      tx.iptables.restore('*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n');
    }, { netns: ns.path, iptables: legacy }));
    assert.equal(dump(ns), before);
  });

  it('a set member whose comment has a newline is put back as it was', async () => {
    const ns = new Netns('txexact');
    made.push(ns);
    ns.run('sh', ['-c', [
      'ipset create c hash:ip comment timeout 0',
      `ipset add c 10.0.0.1 comment "$(printf 'a\nadd c 10.0.0.66')"`,
      'ipset add c 10.0.0.2 comment plain',
    ].join(' && ')]);
    const before = dump(ns);
    assert.match(before, /"a\nadd c 10.0.0.66"/);
    await rejectsRolledBack(transaction((tx) => {
      tx.ipset.add('c', '10.0.0.3');
      tx.ipset.del('c', '10.0.0.1');
      tx.ipset.del('c', '10.0.0.99');  // not a member: refused
    }, { netns: ns.path }));
    assert.equal(dump(ns), before);
  });
});
