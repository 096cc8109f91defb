// AbortSignal on the long operations, against the real kernel in throwaway namespaces: a signal
// already aborted rejects with an AbortedError (name 'AbortError', code 'ABORT_ERR', applied 0,
// cause = the signal's reason) and the system tool's whole dump (`ipset save`,
// `iptables-legacy-save`, `nft list ruleset`, `ip -j addr`, `conntrack -L`) is unchanged; a
// signal aborted after the call but before its batch is sent stops it the same way; a value that
// is not an AbortSignal is an InvalidArgumentError. (Progress: test/kernel/progress.test.ts.)
// IPVS's apply/sync are in test/kernel/ipvs-abort.test.ts (they run in the VM where the host
// has no IPVS).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { conntrack, ipset, iptables, link, nft, InvalidArgumentError } from '../../lib/index.js';
import { kernelSkipReason, withNetns, type Netns, withHandle } from '../helpers/netns.js';
import { SEEDS, insertArgs } from '../helpers/conntrack.js';
import { REASON, rejectsAborted } from '../helpers/abort.js';
import { assertUnchangedSave, splitSave, type SplitSave } from '../helpers/ipset-save.js';

const aborted = () => AbortSignal.abort(REASON);

/** Values that are not AbortSignals (an AbortController and a look-alike among them). */
const BAD_SIGNALS: unknown[] = ['yes', 1, {}, { aborted: true }, new AbortController()];

async function rejectsBadSignal(call: (signal: unknown) => Promise<unknown>, what: string): Promise<void> {
  for (const bad of BAD_SIGNALS) {
    await assert.rejects(call(bad), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, `${what} with signal ${String(bad)}: ${String(e)}`);
      assert.match(e.message, /signal/);
      return true;
    });
  }
}

describe('abort: ipset', { skip: kernelSkipReason('ipset') }, () => {
  const SETUP = 'create a hash:ip\nadd a 10.0.0.1\nadd a 10.0.0.2\ncreate b hash:ip,port timeout 300\nadd b 10.0.0.9,tcp:80\n';
  const save = (ns: Netns) => splitSave(ns.run('ipset', ['save']));
  const unchanged = (ns: Netns, before: SplitSave) => assertUnchangedSave(ns.run('ipset', ['save']), before, 'after the abort');
  const many = Array.from({ length: 5000 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);

  it('a signal aborted before the call: add, delete, del, restore, replace, sync reject with AbortError and change nothing', () =>
    withNetns(1, async (ns) => {
      ns.run('ipset', ['restore'], SETUP);
      const before = save(ns);
      await withHandle(ipset.open({ netns: ns.path }), async (h) => {
        await rejectsAborted(h.add('a', many, { signal: aborted() }), 'ipset.add');
        await rejectsAborted(h.delete('a', ['10.0.0.1'], { signal: aborted() }), 'ipset.delete');
        await rejectsAborted(h.del('a', ['10.0.0.1'], { signal: aborted() }), 'ipset.del');
        await rejectsAborted(h.restore('flush a\nadd a 10.9.9.9\ncreate c hash:net\n', { signal: aborted() }), 'ipset.restore');
        await rejectsAborted(h.replace('a', ['10.3.3.3'], { signal: aborted() }), 'ipset.replace');
        await rejectsAborted(h.sync('a', ['10.3.3.3'], { signal: aborted() }), 'ipset.sync');
        await rejectsAborted(h.sync('new', ['10.3.3.3'], { create: { type: 'hash:ip' }, signal: aborted() }), 'ipset.sync');
        unchanged(ns, before);
      });
    }));

  it('a signal aborted after the call, before its turn: the batch is not sent', () =>
    withNetns(1, async (ns) => {
      ns.run('ipset', ['restore'], SETUP);
      const before = save(ns);
      await withHandle(ipset.open({ netns: ns.path }), async (h) => {
        const ac = new AbortController();
        const first = h.list('a');
        const adding = h.add('a', many, { signal: ac.signal });
        const restoring = h.restore('add a 10.9.9.9\n', { signal: ac.signal });
        ac.abort(REASON);
        await first;
        await rejectsAborted(adding, 'ipset.add');
        await rejectsAborted(restoring, 'ipset.restore');
        unchanged(ns, before);
        // A signal that does not abort changes nothing in how the call works.
        await h.add('a', many, { signal: new AbortController().signal });
        assert.equal(ns.run('ipset', ['save', 'a']).split('\n').filter((l) => l.startsWith('add a ')).length, many.length + 2);
      });
    }));

  it('a signal that is not an AbortSignal is an InvalidArgumentError and changes nothing', () =>
    withNetns(1, async (ns) => {
      ns.run('ipset', ['restore'], SETUP);
      const before = save(ns);
      await withHandle(ipset.open({ netns: ns.path }), async (h) => {
        const o = (signal: unknown) => ({ signal } as { signal: AbortSignal });
        await rejectsBadSignal((s) => h.add('a', ['10.5.5.5'], o(s)), 'ipset.add');
        await rejectsBadSignal((s) => h.delete('a', ['10.0.0.1'], o(s)), 'ipset.delete');
        await rejectsBadSignal((s) => h.restore('add a 10.5.5.5\n', o(s)), 'ipset.restore');
        await rejectsBadSignal((s) => h.replace('a', ['10.5.5.5'], o(s)), 'ipset.replace');
        await rejectsBadSignal((s) => h.sync('a', ['10.5.5.5'], o(s)), 'ipset.sync');
        unchanged(ns, before);
      });
    }));
});

describe('abort: iptables (legacy)', { skip: kernelSkipReason('iptables-legacy-restore') }, () => {
  const SETUP = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-FW - [0:0]\n-A INPUT -j KUBE-FW\n-A KUBE-FW -s 10.0.0.1/32 -j DROP\nCOMMIT\n';
  const save = (ns: Netns) => ns.run('iptables-legacy-save', []).split('\n').filter((l) => !l.startsWith('#')).join('\n');

  it('restore and the builder\'s commit with an aborted signal reject with AbortError and commit nothing', () =>
    withNetns(1, async (ns) => {
      ns.run('iptables-legacy-restore', [], SETUP);
      const before = save(ns);
      await withHandle(iptables.open({ netns: ns.path, family: 4, backend: 'legacy' }), async (h) => {
        await rejectsAborted(h.restore('*filter\n:KUBE-FW - [0:0]\n-A KUBE-FW -j ACCEPT\nCOMMIT\n', { signal: aborted() }), 'iptables.restore');
        await rejectsAborted(h.restore('*nat\n:KUBE-SVC - [0:0]\nCOMMIT\n', { noflush: true, signal: aborted() }), 'iptables.restore');
        const t = h.table('filter');
        t.chain('KUBE-FW').append({ protocol: 'tcp', jump: 'ACCEPT' });
        await rejectsAborted(t.commit({ signal: aborted() }), 'iptables.restore');
        // Aborted after the call, before its turn.
        const ac = new AbortController();
        const p = h.restore('*filter\n:KUBE-FW - [0:0]\nCOMMIT\n', { signal: ac.signal });
        ac.abort(REASON);
        await rejectsAborted(p, 'iptables.restore');
        assert.equal(save(ns), before);
        const o = (signal: unknown) => ({ signal } as { signal: AbortSignal });
        await rejectsBadSignal((s) => h.restore('*filter\nCOMMIT\n', o(s)), 'iptables.restore');
        await rejectsBadSignal((s) => t.commit(o(s)), 'commit');
        assert.equal(save(ns), before);
      });
    }));
});

describe('abort: nft', { skip: kernelSkipReason('nft') }, () => {
  const SETUP = 'table inet fw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 22 accept\n\t}\n}\n';
  const CMDS = [{ add: { table: { family: 'ip', name: 'nat' } } }, { flush: { ruleset: null } }];

  it('apply and restore with an aborted signal reject with AbortError and apply nothing', () =>
    withNetns(1, async (ns) => {
      ns.run('nft', ['-f', '-'], SETUP);
      const before = ns.run('nft', ['list', 'ruleset']);
      await withHandle(nft.open({ netns: ns.path }), async (h) => {
        await rejectsAborted(h.apply(CMDS, { signal: aborted() }), 'nft.apply');
        await rejectsAborted(h.restore('flush ruleset\nadd table ip nat\n', { signal: aborted() }), 'nft.restore');
        const ac = new AbortController();
        const p = h.apply(CMDS, { signal: ac.signal });
        ac.abort(REASON);
        await rejectsAborted(p, 'nft.apply');
        assert.equal(ns.run('nft', ['list', 'ruleset']), before);
        const o = (signal: unknown) => ({ signal } as { signal: AbortSignal });
        await rejectsBadSignal((s) => h.apply(CMDS, o(s)), 'nft.apply');
        await rejectsBadSignal((s) => h.restore('flush ruleset\n', o(s)), 'nft.restore');
        assert.equal(ns.run('nft', ['list', 'ruleset']), before);
      });
    }));
});

describe('abort: link addresses', { skip: kernelSkipReason() }, () => {
  const addrs = Array.from({ length: 300 }, (_, i) => `10.20.${i >> 8}.${i & 255}/32`);

  it('add, delete, sync with an aborted signal reject with AbortError and change nothing (ip -j addr)', () =>
    withNetns(1, async (ns) => {
      ns.run('ip', ['addr', 'add', '10.9.0.1/24', 'dev', 'lo']);
      const before = ns.run('ip', ['-j', 'addr']);
      await withHandle(link.open({ netns: ns.path }), async (h) => {
        await rejectsAborted(h.addresses.add('lo', addrs, { signal: aborted() }), 'link.addresses.add');
        await rejectsAborted(h.addresses.delete('lo', ['10.9.0.1/24'], { signal: aborted() }), 'link.addresses.delete');
        await rejectsAborted(h.addresses.sync('lo', addrs, { signal: aborted() }), 'link.addresses.sync');
        const ac = new AbortController();
        const adding = h.addresses.add('lo', addrs, { signal: ac.signal });
        const deleting = h.addresses.delete('lo', ['10.9.0.1/24'], { signal: ac.signal });
        const syncing = h.addresses.sync('lo', addrs, { signal: ac.signal });
        ac.abort(REASON);
        await rejectsAborted(adding, 'link.addresses.add');
        await rejectsAborted(deleting, 'link.addresses.delete');
        await rejectsAborted(syncing, 'link.addresses.sync');
        assert.equal(ns.run('ip', ['-j', 'addr']), before);
        const o = (signal: unknown) => ({ signal } as { signal: AbortSignal });
        await rejectsBadSignal((s) => h.addresses.add('lo', addrs, o(s)), 'link.addresses.add');
        await rejectsBadSignal((s) => h.addresses.delete('lo', ['10.9.0.1/24'], o(s)), 'link.addresses.delete');
        await rejectsBadSignal((s) => h.addresses.sync('lo', addrs, o(s)), 'link.addresses.sync');
        assert.equal(ns.run('ip', ['-j', 'addr']), before);
      });
    }));
});

describe('abort: conntrack', { skip: kernelSkipReason('conntrack') }, () => {
  // `conntrack -L` without the timeout column, which counts down between two reads.
  const table = (ns: Netns) => ns.run('conntrack', ['-L']).split('\n').map((l) => l.replace(/^(\S+\s+\d+\s+)\d+ /, '$1')).sort().join('\n');

  it('list, count, delete, flush with an aborted signal reject with AbortError and delete nothing', () =>
    withNetns(1, async (ns) => {
      ns.run('sh', ['-ec', SEEDS.map((f) => ['conntrack', ...insertArgs(f), '2>/dev/null'].join(' ')).join('\n')]);
      const before = table(ns);
      assert.ok(before.split('\n').filter(Boolean).length >= 5, before);
      await withHandle(conntrack.open({ netns: ns.path }), async (ct) => {
        await rejectsAborted(ct.list(undefined, { signal: aborted() }), 'conntrack.list');
        await rejectsAborted(ct.count(undefined, { signal: aborted() }), 'conntrack.count');
        await rejectsAborted(ct.count({ protocol: 'udp' }, { signal: aborted() }), 'conntrack.count');
        await rejectsAborted(ct.delete({}, { signal: aborted() }), 'conntrack.delete');
        await rejectsAborted(ct.flush({ signal: aborted() }), 'conntrack.flush');
        await rejectsAborted(ct.flush({ family: 'inet', signal: aborted() }), 'conntrack.flush');
        const ac = new AbortController();
        const deleting = ct.delete({ protocol: 'tcp' }, { signal: ac.signal });
        const flushing = ct.flush({ signal: ac.signal });
        ac.abort(REASON);
        await rejectsAborted(deleting, 'conntrack.delete');
        await rejectsAborted(flushing, 'conntrack.flush');
        assert.equal(table(ns), before);
        const o = (signal: unknown) => ({ signal } as { signal: AbortSignal });
        await rejectsBadSignal((s) => ct.list(undefined, o(s)), 'conntrack.list');
        await rejectsBadSignal((s) => ct.count({ protocol: 'udp' }, o(s)), 'conntrack.count');
        await rejectsBadSignal((s) => ct.delete({}, o(s)), 'conntrack.delete');
        await rejectsBadSignal((s) => ct.flush(o(s) as { signal: AbortSignal }), 'conntrack.flush');
        assert.equal(table(ns), before);
        // A signal that does not abort: the calls work as without one.
        const live = new AbortController().signal;
        assert.equal((await ct.list(undefined, { signal: live })).length, await ct.count(undefined, { signal: live }));
        assert.ok(await ct.delete({ protocol: 'udp' }, { signal: live }) > 0);
      });
    }));
});
