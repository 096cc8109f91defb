// transaction() with ipsets and iptables in a throwaway namespace: what it applies, what it
// refuses before touching anything, and the state it puts back when the kernel refuses midway.
// The oracle is `ipset save`, `iptables-legacy-save -c` and `ip6tables-legacy-save -c`.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transaction, InvalidArgumentError, LockTimeoutError, NlkitError, NotFoundError, TransactionError } from '../../lib/index.js';
import { kernelSkipReason, Netns } from '../helpers/netns.js';
import { suiteNamespaces } from '../helpers/suite.js';
import { assertUndone, rejectsRolledBack } from '../helpers/transaction.js';

const skip = kernelSkipReason('iptables-legacy-save') ?? kernelSkipReason('ipset');

const TABLES = ['filter', 'nat', 'mangle', 'raw'];

/** Everything a transaction could have changed, as the system tools print it (one process start). */
function dump(ns: Netns): string {
  const out = ns.run('sh', ['-c', 'ipset save; echo ----; iptables-legacy-save -c; echo ----; ip6tables-legacy-save -c']);
  return out.split('\n').filter((l) => !l.startsWith('# ')).join('\n');
}

const BASE_SETS = [
  'create keep hash:ip family inet hashsize 1024 maxelem 65536 comment',
  'add keep 10.0.0.1 comment "first"',
  'add keep 10.0.0.2',
  'create ports hash:ip,port family inet hashsize 1024 maxelem 65536',
  'add ports 10.0.0.1,tcp:80',
].join('\n') + '\n';

const BASE_FILTER = [
  '*filter',
  ':INPUT ACCEPT [10:1000]',
  ':FORWARD DROP [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  ':KEEP - [0:0]',
  '[5:500] -A INPUT -m set --match-set keep src -j KEEP',
  '[7:700] -A INPUT -m set --match-set ports dst,dst -j ACCEPT',
  '-A KEEP -j ACCEPT',
  'COMMIT',
  '*nat',
  ':PREROUTING ACCEPT [0:0]',
  ':INPUT ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  ':POSTROUTING ACCEPT [0:0]',
  '-A PREROUTING -d 192.0.2.10/32 -p tcp -j DNAT --to-destination 10.0.0.1:80',
  'COMMIT',
].join('\n') + '\n';

/** A namespace holding BASE_SETS and BASE_FILTER, every table already read (reading one creates it). */
function baseline(): Netns {
  const ns = new Netns('tx');
  const read = TABLES.map((t) => `iptables-legacy -t ${t} -S >/dev/null && ip6tables-legacy -t ${t} -S >/dev/null`).join(' && ');
  ns.run('sh', ['-c', `${read} && ipset restore && iptables-legacy-restore --counters <<'EOF'\n${BASE_FILTER}EOF\n`], BASE_SETS);
  return ns;
}

const legacy = { backend: 'legacy' as const };
const FILTER_ACCEPT = '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n';

describe('transaction: ipset + iptables', { skip }, () => {
  const fresh = suiteNamespaces(baseline);

  it('creates a set, fills it and adds a rule matching it', async () => {
    const ns = fresh();
    const r = await transaction((tx) => {
      // Queued rule first: the set must still be created before the table is compiled.
      tx.iptables.restore('*filter\n:ALLOWED - [0:0]\n-A INPUT -m set --match-set allowed src -j ALLOWED\n-A ALLOWED -j ACCEPT\nCOMMIT\n', { noflush: true });
      tx.ipset.create('allowed', 'hash:net', { comment: true });
      tx.ipset.add('allowed', [{ ip: '10.1.0.0/16', comment: 'pods' }, '192.0.2.0/24']);
    }, { netns: ns.path, iptables: legacy });
    assert.deepEqual(r.plan.map((o) => o.op), ['ipset.create', 'ipset.add', 'iptables.restore']);
    assert.equal(r.applied, 3);
    const sets = ns.run('ipset', ['save', 'allowed']);
    assert.match(sets, /^create allowed hash:net family inet .*comment/m);
    assert.match(sets, /^add allowed 10\.1\.0\.0\/16 comment "pods"$/m);
    assert.match(sets, /^add allowed 192\.0\.2\.0\/24$/m);
    const rules = ns.run('iptables-legacy', ['-S', 'INPUT']);
    assert.match(rules, /^-A INPUT -m set --match-set allowed src -j ALLOWED$/m);
    // noflush: the rules that were there stay
    assert.match(rules, /^-A INPUT -m set --match-set keep src -j KEEP$/m);
    assert.equal(ns.run('iptables-legacy', ['-S', 'ALLOWED']), '-N ALLOWED\n-A ALLOWED -j ACCEPT\n');
  });

  it('a tx whose validation fails changes nothing', async () => {
    const ns = fresh();
    const before = dump(ns);
    const cases: { name: string; fn: Parameters<typeof transaction>[0]; check: (e: unknown) => void }[] = [
      {
        name: 'bad rule',
        fn: (tx) => {
          tx.ipset.create('x', 'hash:ip').add('x', '10.9.0.1');
          tx.ipset.add('keep', '10.0.0.9');
          tx.iptables.restore('*filter\n-A INPUT -p tcp --dport 80 -j ACCEPT\n-A INPUT -m nosuchmatch --foo 1 -j ACCEPT\nCOMMIT\n', { noflush: true });
        },
        check: (e) => {
          assert.ok(e instanceof NlkitError && !(e instanceof TransactionError), String(e));
          assert.equal((e as NlkitError & { line?: number }).line, 3);
          assert.equal((e as NlkitError & { index?: number }).index, 3);
        },
      },
      {
        name: 'bad entry',
        fn: (tx) => {
          tx.ipset.create('x', 'hash:ip');
          tx.ipset.add('x', ['10.9.0.1', '10.9.0.300']);
          tx.iptables.restore('*filter\n-A INPUT -j ACCEPT\nCOMMIT\n', { noflush: true });
        },
        check: (e) => {
          assert.ok(e instanceof InvalidArgumentError, String(e));
          assert.equal((e as NlkitError & { index?: number; entry?: number }).index, 1);
          assert.equal((e as NlkitError & { entry?: number }).entry, 1);
          assert.match(e.message, /ipset add x/);
        },
      },
      {
        name: 'entry of the wrong kind for the set type',
        fn: (tx) => {
          tx.ipset.add('ports', { ip: '10.0.0.5' });
        },
        check: (e) => assert.ok(e instanceof InvalidArgumentError, String(e)),
      },
      {
        name: 'set that does not exist',
        fn: (tx) => {
          tx.ipset.create('x', 'hash:ip');
          tx.ipset.add('nosuchset', '10.0.0.1');
        },
        check: (e) => assert.ok(e instanceof NotFoundError, String(e)),
      },
      {
        name: 'rule matching a set that does not exist',
        fn: (tx) => {
          tx.ipset.add('keep', '10.0.0.7');
          tx.iptables.restore('*filter\n-A INPUT -m set --match-set nosuchset src -j ACCEPT\nCOMMIT\n', { noflush: true });
        },
        check: (e) => assert.ok(e instanceof NlkitError && !(e instanceof TransactionError), String(e)),
      },
      {
        name: 'broken table structure',
        fn: (tx) => {
          tx.ipset.add('keep', '10.0.0.7');
          tx.iptables.restore('*filter\n-A INPUT -j ACCEPT\n');
        },
        check: (e) => assert.ok(e instanceof InvalidArgumentError, String(e)),
      },
    ];
    for (const c of cases) {
      await assert.rejects(transaction(c.fn, { netns: ns.path, iptables: legacy }), (e: unknown) => {
        c.check(e);
        return true;
      }, c.name);
      assert.equal(dump(ns), before, `${c.name}: the kernel changed`);
    }
  });

  it('a table the kernel refuses after sets changed: everything is put back', async () => {
    const ns = fresh();
    await assertUndone(() => dump(ns), () => transaction((tx) => {
      tx.ipset.add('keep', ['10.0.0.3', '10.0.0.4']);
      tx.ipset.del('keep', '10.0.0.1');
      tx.ipset.create('fresh', 'hash:ip').add('fresh', '10.5.0.1');
      tx.ipset.replace('ports', ['10.0.0.9,udp:53']);
      tx.iptables.restore('*filter\n:INPUT DROP [0:0]\n-A INPUT -m set --match-set fresh src -j ACCEPT\nCOMMIT\n');
      // Compiles, but the kernel refuses it at commit: DNAT is not allowed in nat INPUT.
      tx.iptables.restore('*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n');
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.equal(e.undoErrors.length, 0);
      assert.equal(e.failed?.op?.op, 'iptables.restore');
      assert.equal(e.failed?.op?.index, 6);
      assert.ok(e.failed?.error instanceof NlkitError);
      assert.ok(e.undone.some((u) => /ipset destroy fresh/.test(u)), e.undone.join('; '));
      assert.ok(e.undone.some((u) => /-T filter/.test(u)), e.undone.join('; '));
    });
  });

  it('a table compiled after its set was created fails: the set is rolled back', async () => {
    const ns = fresh();
    await assertUndone(() => dump(ns), () => transaction((tx) => {
      tx.ipset.create('later', 'hash:ip').add('later', '10.6.0.1');
      tx.ipset.add('keep', '10.0.0.6');
      // Matches a set created here, so it is compiled once the set exists; its bad match fails then.
      tx.iptables.restore('*filter\n-A INPUT -m set --match-set later src -m nosuchmatch -j ACCEPT\nCOMMIT\n', { noflush: true });
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.equal(e.failed?.op?.op, 'iptables.restore');
      assert.equal((e.failed?.error as NlkitError & { line?: number }).line, 2);
      assert.ok(e.undone.includes('ipset destroy later'), e.undone.join('; '));
    });
  });

  it('waits for the xtables lock, and gives up without changing anything', async () => {
    const ns = fresh();
    const before = dump(ns);
    const dir = mkdtempSync(join(tmpdir(), 'nlkit-tx-lock-'));
    const lockfile = join(dir, 'xtables.lock');
    const saved = process.env.XTABLES_LOCKFILE;
    // Another process holds the lock (as `iptables -w` would find it).
    const holder = spawn('flock', [lockfile, 'sh', '-c', 'echo held; sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await once(holder.stdout!, 'data');
      process.env.XTABLES_LOCKFILE = lockfile;
      await assert.rejects(transaction((tx) => {
        tx.ipset.create('locked', 'hash:ip');
        tx.iptables.restore(FILTER_ACCEPT);
      }, { netns: ns.path, iptables: legacy, wait: 0 }), LockTimeoutError);
      assert.equal(dump(ns), before);
    } finally {
      holder.kill();
      if (saved === undefined) delete process.env.XTABLES_LOCKFILE;
      else process.env.XTABLES_LOCKFILE = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a refusal in the last phase rolls back the tables already committed', async () => {
    const ns = fresh();
    await assertUndone(() => dump(ns), () => transaction((tx) => {
      tx.iptables.restore('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n');
      tx.ipset.create('other', 'hash:ip').add('other', '10.7.0.1');
      // Not a member: the kernel refuses the del, which runs after the tables.
      tx.ipset.del('keep', '10.0.0.99');
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.equal(e.failed?.op?.op, 'ipset.del');
    });
  });

  it('a set destroyed and recreated with another type is put back', async () => {
    const ns = fresh();
    await assertUndone(() => dump(ns), () => transaction((tx) => {
      tx.iptables.restore('*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
      tx.ipset.destroy('keep');
      tx.ipset.create('keep', 'hash:net');
      tx.ipset.add('keep', '10.8.0.0/16');
      tx.ipset.add('ports', '10.0.0.1,tcp:80');  // already a member: refused
    }, { netns: ns.path, iptables: legacy }));
  });

  // A list:set holds other sets: a rollback must bring its members back before it (and in its
  // member order), or restoring it fails ("set does not exist") or reorders it.
  it('a list:set whose member sets were taken out and destroyed: put back, members first, in order', async () => {
    const ns = fresh();
    ns.run('ipset', ['restore'], [
      'create a hash:ip family inet hashsize 1024 maxelem 65536',
      'add a 10.9.0.1',
      'create b hash:net family inet hashsize 1024 maxelem 65536',
      'add b 10.9.1.0/24',
      'create c hash:ip family inet hashsize 1024 maxelem 65536',
      'create l list:set size 8',
      'add l b',
      'add l a',
      'create m list:set size 8',
      'add m c',
      'add m a',
    ].join('\n') + '\n');
    await assertUndone(() => dump(ns), () => transaction((tx) => {
      // Members are taken out with del (a destroyed list:set lets go of its members only after
      // an RCU grace period, so destroying them right after it may find them still in use).
      tx.ipset.del('l', 'a');
      tx.ipset.del('l', 'b');
      tx.ipset.del('m', 'a');
      tx.ipset.destroy('a');
      tx.ipset.destroy('b');
      tx.ipset.del('keep', '10.0.0.99');  // not a member: refused, after the destroys
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.deepEqual(e.undoErrors, []);
      assert.equal(e.failed?.op?.op, 'ipset.del');
    });
  });

  it('renames and swaps are undone as such: the rules keep their sets', async () => {
    const ns = fresh();
    ns.run('ipset', ['create', 'alt', 'hash:ip']);
    ns.run('ipset', ['add', 'alt', '10.0.0.50']);
    await assertUndone(() => dump(ns), () => transaction((tx) => {
      // After the swap the rule's set is named keep and holds alt's members; alt is free to rename.
      tx.ipset.swap('keep', 'alt');
      tx.ipset.rename('alt', 'alt2');
      tx.ipset.add('ports', '10.0.0.1,tcp:80');  // already a member: refused
    }, { netns: ns.path, iptables: legacy }), (e) => {
      assert.deepEqual(e.undone, ['ipset rename alt2 alt', 'ipset swap alt keep']);
    });
  });

  it('plan() and dryRun apply nothing and give the apply order', async () => {
    const ns = fresh();
    const before = dump(ns);
    const fn = (tx: Parameters<Parameters<typeof transaction>[0]>[0]) => {
      tx.iptables.restore('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set planned src -j ACCEPT\nCOMMIT\n');
      tx.ipset.destroy('keep');
      tx.ipset.create('planned', 'hash:ip').add('planned', '10.0.0.1');
      const inside = tx.plan();
      assert.deepEqual(inside.map((o) => o.summary), [
        'ipset create planned hash:ip', 'ipset add planned 10.0.0.1', 'iptables-restore -T filter', 'ipset destroy keep',
      ]);
    };
    const plan = await transaction.plan(fn, { netns: ns.path, iptables: legacy });
    assert.deepEqual(plan.map((o) => o.phase), ['ipset', 'ipset', 'iptables', 'ipset-release']);
    const r = await transaction(fn, { netns: ns.path, iptables: legacy, dryRun: true });
    assert.equal(r.applied, 0);
    assert.equal(r.dryRun, true);
    assert.equal(dump(ns), before);
  });

  it('removes a rule and destroys the set it used, in the order that works', async () => {
    const ns = fresh();
    // Queued destroy first: run as queued, the kernel would refuse it (the rule holds the set).
    const r = await transaction((tx) => {
      tx.ipset.destroy('keep');
      tx.iptables.restore('*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m set --match-set ports dst,dst -j ACCEPT\nCOMMIT\n');
    }, { netns: ns.path, iptables: legacy });
    assert.deepEqual(r.plan.map((o) => o.op), ['iptables.restore', 'ipset.destroy']);
    assert.doesNotMatch(ns.run('ipset', ['list', '-n']), /^keep$/m);
    assert.doesNotMatch(ns.run('iptables-legacy-save', []), /keep/);
    // The system tool in the queued order fails: the order mattered.
    const ns2 = fresh();
    assert.notEqual(ns2.try('ipset', ['destroy', 'keep']).status, 0);
  });

  it("family 'both' commits the same table to iptables and ip6tables", async () => {
    const ns = fresh();
    const tool = fresh();
    const raw = '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 22 -j NOTRACK\nCOMMIT\n';
    await transaction((tx) => {
      tx.iptables.restore(raw);
    }, { netns: ns.path, iptables: legacy, family: 'both' });
    // the same text through the system tools, in a namespace of the same baseline
    tool.run('iptables-legacy-restore', [], raw);
    tool.run('ip6tables-legacy-restore', [], raw);
    const tables = (n: Netns) => dump(n).split('\n----\n').slice(1);
    assert.deepEqual(tables(ns), tables(tool));
    for (const t of tables(ns)) assert.match(t, /^\[0:0\] -A PREROUTING -p tcp -m tcp --dport 22 -j /m);
  });

  it('a table builder is read when the transaction applies', async () => {
    const ns = fresh();
    await transaction((tx) => {
      const nat = tx.iptables.table('nat');
      nat.chain('PREROUTING', { policy: 'ACCEPT' });
      tx.ipset.create('svc', 'hash:ip,port').add('svc', '10.96.0.10,tcp:80');
      nat.chain('SVC').append('-j RETURN');
      nat.chain('PREROUTING').append({ matches: [{ module: 'set', 'match-set': ['svc', 'dst,dst'] }], jump: 'SVC' });
    }, { netns: ns.path, iptables: legacy });
    const nat = ns.run('iptables-legacy', ['-t', 'nat', '-S']);
    assert.match(nat, /^-A PREROUTING -m set --match-set svc dst,dst -j SVC$/m);
    assert.match(nat, /^-A SVC -j RETURN$/m);
    // the builder's table replaced the old one
    assert.doesNotMatch(nat, /DNAT/);
  });
  it('two transactions in one namespace at once: the one that fails does not undo the other', async () => {
    const ns = fresh();
    const members = () => ns.run('ipset', ['save', 'keep']).split('\n').filter((l) => l.startsWith('add ')).map((l) => l.split(' ')[2]).sort();
    const big = Array.from({ length: 150_000 }, (_, i) => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
    let firstDone = false;
    // The first changes `keep`, then spends a while filling a big set, then the kernel refuses its nat table.
    const first = transaction((tx) => {
      tx.ipset.add('keep', '10.0.0.3');
      tx.ipset.create('big', 'hash:ip', { maxelem: 262144 }).add('big', big);
      tx.iptables.restore('*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n');
    }, { netns: ns.path, iptables: legacy }).then(() => 'applied', (e: unknown) => e).finally(() => (firstDone = true));
    // Once the first has applied its change to `keep` (its snapshot is older), an ipset-only one changes `keep` too.
    while (!firstDone && !members().includes('10.0.0.3')) await new Promise((r) => setImmediate(r));
    const second = await transaction((tx) => {
      tx.ipset.add('keep', '10.0.0.77');
    }, { netns: ns.path });
    assert.equal(second.applied, 1);
    const failed = await first;
    assert.ok(failed instanceof TransactionError && failed.rolledBack, String(failed));
    // The first put back only its own change; the second's stays.
    assert.deepEqual(members(), ['10.0.0.1', '10.0.0.2', '10.0.0.77']);
    assert.doesNotMatch(ns.run('ipset', ['list', '-n']), /^big$/m);
  });
});
