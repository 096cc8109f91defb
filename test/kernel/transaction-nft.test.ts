// nft joins transactions: its batches apply with the other participants' changes, a later
// participant's failure puts every touched table back in one batch, and bad nft input is
// refused before anything changes. Oracle: whole dumps of `nft list ruleset`, `ipset save`,
// `ip -j addr`, before and after; the success case against the same text run by `nft -f`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nft, transaction, InvalidArgumentError, NlkitError, TransactionError } from '../../lib/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('nft') ?? kernelSkipReason('ipset') ?? kernelSkipReason('iptables-legacy-save');
const legacy = { backend: 'legacy' as const };

// The kernel refuses this table at commit (DNAT is not allowed in nat INPUT): the last participant fails.
const REFUSED_NAT = '*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n';

const KEEP = `table ip keep {
\tset allowed {
\t\ttype ipv4_addr
\t\telements = { 10.0.0.1, 10.0.0.2 }
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tip saddr @allowed counter packets 3 bytes 180 accept
\t\ttcp dport 22 drop
\t}
}
table inet other {
\tchain out {
\t\ttype filter hook output priority filter; policy accept;
\t}
}
`;

function setup(ns: Netns): void {
  ns.run('ip', ['link', 'add', 'v0', 'address', '02:00:00:00:00:01', 'type', 'veth', 'peer', 'name', 'v1', 'address', '02:00:00:00:00:02']);
  ns.run('ip', ['link', 'set', 'v0', 'addrgenmode', 'none', 'up']);
  ns.run('ip', ['addr', 'add', '10.1.0.1/24', 'dev', 'v0']);
  ns.run('ipset', ['create', 'old', 'hash:ip']);
  ns.run('ipset', ['add', 'old', '10.2.0.1']);
  ns.run('nft', ['-f', '-'], KEEP);
}

function dump(ns: Netns): { nft: string; ipset: string; addr: unknown } {
  return { nft: ns.run('nft', ['list', 'ruleset']), ipset: ns.run('ipset', ['save']), addr: JSON.parse(ns.run('ip', ['-j', 'addr', 'show'])) };
}

const CHANGES = `add rule ip keep input udp dport 53 accept
add element ip keep allowed { 10.0.0.9 }
delete element ip keep allowed { 10.0.0.1 }
flush chain inet other out
add table ip fresh
add chain ip fresh pre { type nat hook prerouting priority dstnat; policy accept; }
add rule ip fresh pre tcp dport 80 dnat to 10.0.0.5
`;

describe('transaction: nft participant', { skip }, () => {
  it('nft + ipset + link, the last step fails: nft list ruleset, ipset save, ip -j addr exactly as before', () => withNetns(1, async (ns) => {
    setup(ns);
    const before = dump(ns);
    await assert.rejects(transaction((tx) => {
      tx.link.addresses.add('v0', ['10.96.0.10/32']);
      tx.ipset.create('new', 'hash:ip').add('new', ['10.3.0.1']).add('old', ['10.2.0.2']);
      tx.nft.restore(CHANGES);
      tx.nft.apply([{ delete: { table: { family: 'inet', name: 'other' } } }, { add: { table: { family: 'ip6', name: 'six' } } }]);
      tx.iptables.restore(REFUSED_NAT);
    }, { netns: ns.path, iptables: legacy }), (e: unknown) => {
      assert.ok(e instanceof TransactionError, String(e));
      assert.equal(e.rolledBack, true, e.message);
      assert.match(e.message, /nft: tables .*put back/);
      return true;
    });
    assert.deepEqual(dump(ns), before);
  }));

  it('a flush ruleset undone puts back every table of the ruleset', () => withNetns(1, async (ns) => {
    setup(ns);
    const before = dump(ns);
    await assert.rejects(transaction((tx) => {
      tx.nft.apply([{ flush: { ruleset: null } }, { add: { table: { family: 'ip', name: 'only' } } }]);
      tx.iptables.restore(REFUSED_NAT);
    }, { netns: ns.path, iptables: legacy }), TransactionError);
    assert.deepEqual(dump(ns), before);
  }));

  it('success: the ruleset is what nft -f makes of the same text, and the other participants applied', () => withNetns(2, async (ours, theirs) => {
    setup(ours);
    setup(theirs);
    const r = await transaction((tx) => {
      tx.link.addresses.add('v0', ['10.96.0.10/32']);
      tx.ipset.create('new', 'hash:ip').add('new', ['10.3.0.1']);
      tx.nft.restore(CHANGES);
      tx.nft.apply([{ add: { table: { family: 'ip6', name: 'six' } } }]);
    }, { netns: ours.path, iptables: legacy });
    assert.equal(r.applied, 5);
    assert.deepEqual(r.plan.filter((o) => o.subsystem === 'nft').map((o) => o.phase), ['nft', 'nft']);
    theirs.run('nft', ['-f', '-'], `${CHANGES}add table ip6 six\n`);
    theirs.run('ipset', ['create', 'new', 'hash:ip']);
    theirs.run('ipset', ['add', 'new', '10.3.0.1']);
    theirs.run('ip', ['addr', 'add', '10.96.0.10/32', 'dev', 'v0']);
    const a = dump(ours), b = dump(theirs);
    assert.equal(a.nft, b.nft);
    // initval is the hash seed each set is created with at random.
    const seedless = (t: string) => t.replace(/ initval 0x[0-9a-f]+/g, '');
    assert.equal(seedless(a.ipset), seedless(b.ipset));
    assert.deepEqual(a.addr, b.addr);
  }));

  for (const [what, queue, check] of [
    ['a rule on a chain that does not exist (the kernel refuses it in the check batch)',
      (tx: Parameters<Parameters<typeof transaction>[0]>[0]) => tx.nft.apply([{ add: { table: { family: 'ip', name: 'x' } } }, { add: { rule: { family: 'ip', table: 'x', chain: 'nope', expr: [{ accept: null }] } } }]),
      (e: NlkitError) => { assert.equal(e.index, 3); assert.equal(e.entry, 1); assert.match(e.message, /command 1/); }],
    ['a command nlkit cannot encode (its position is the operation\'s own, not the position among all nft commands)',
      (tx: Parameters<Parameters<typeof transaction>[0]>[0]) => tx.nft.apply([{ add: { table: { family: 'ip', name: 'x' } } }, { add: { table: { family: 'nope', name: 'y' } } }]),
      (e: NlkitError) => { assert.ok(e instanceof InvalidArgumentError, String(e)); assert.equal(e.index, 3); assert.equal(e.entry, 1); assert.match(e.message, /commands\[1\]/); }],
    ['a syntax error in nft text',
      (tx: Parameters<Parameters<typeof transaction>[0]>[0]) => tx.nft.restore('add table ip x\nadd chain ip x c { type filter hook input priority filter; policy maybe; }\n'),
      (e: NlkitError) => { assert.ok(e instanceof InvalidArgumentError, String(e)); assert.equal(e.index, 3); }],
    ['an element of a set that does not exist',
      (tx: Parameters<Parameters<typeof transaction>[0]>[0]) => tx.nft.restore('add element ip keep nothere { 10.0.0.1 }\n'),
      (e: NlkitError) => { assert.equal(e.index, 3); }],
  ] as const) {
    it(`bad nft input in a transaction changes nothing: ${what}`, () => withNetns(1, async (ns) => {
      setup(ns);
      const before = dump(ns);
      const h = nft.open({ netns: ns.path });
      const gen = await h.generation();
      await assert.rejects(transaction((tx) => {
        tx.link.addresses.add('v0', ['10.96.0.10/32']);
        tx.ipset.create('new', 'hash:ip');
        tx.nft.restore('add rule ip keep input udp dport 53 accept\n');
        queue(tx);
      }, { netns: ns.path, iptables: legacy }), (e: unknown) => {
        assert.ok(e instanceof NlkitError && !(e instanceof TransactionError), String(e));
        check(e);
        return true;
      });
      assert.deepEqual(dump(ns), before);
      try {
        assert.equal(await h.generation(), gen, 'the check batch committed nothing');
      } finally {
        await h.close();
      }
    }));
  }

  it('nft.apply({ dryRun }) reports what the kernel refuses and applies nothing', () => withNetns(1, async (ns) => {
    setup(ns);
    const before = ns.run('nft', ['list', 'ruleset']);
    const h = nft.open({ netns: ns.path });
    try {
      await h.apply([{ add: { table: { family: 'ip', name: 'y' } } }], { dryRun: true });
      await assert.rejects(h.apply([{ add: { chain: { family: 'ip', table: 'missing', name: 'c' } } }], { dryRun: true }), (e: unknown) => {
        assert.ok(e instanceof NlkitError, String(e));
        assert.equal(e.index, 0);
        return true;
      });
    } finally {
      await h.close();
    }
    assert.equal(ns.run('nft', ['list', 'ruleset']), before);
  }));
});
