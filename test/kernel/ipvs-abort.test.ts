// ipvs.apply() and ipvs.sync() with an AbortSignal (a throwaway namespace; on hosts without
// IPVS inside the VM: see test/helpers/ipvs.ts): a signal aborted before the call, or after it
// but before its batch is sent, rejects with an AbortedError (name 'AbortError', code
// 'ABORT_ERR', applied 0) and `ipvsadm -S -n` is unchanged; a value that is not an AbortSignal
// is an InvalidArgumentError. The rest of the abort tests: test/kernel/abort-progress.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipvs, InvalidArgumentError } from '../../lib/index.js';
import type { ApplyOp } from '../../lib/ipvs/types.js';
import { withNetns, withHandle } from '../helpers/netns.js';
import { REASON, rejectsAborted } from '../helpers/abort.js';
import { ipvsSkipReason, saveLines, whereRan } from '../helpers/ipvs.js';

const skip = ipvsSkipReason();
const SVC = { protocol: 'tcp' as const, address: '10.0.0.1', port: 80 };
const OPS: ApplyOp[] = [
  { op: 'deleteService', service: SVC },
  { op: 'addService', service: { protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'rr' } },
];

describe(`ipvs abort (${whereRan()})`, { skip }, () => {
  it('apply and sync with an aborted signal reject with AbortError and change nothing (ipvsadm -S -n)', () =>
    withNetns(1, async (ns) => {
      ns.run('ipvsadm', ['-R'], '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 1\n');
      const before = saveLines(ns);
      await withHandle(ipvs.open({ netns: ns.path }), async (h) => {
        await rejectsAborted(h.apply(OPS, { signal: AbortSignal.abort(REASON) }), 'ipvs.apply');
        await rejectsAborted(h.sync([], { signal: AbortSignal.abort(REASON) }), 'ipvs.sync');
        // Aborted after the call, before its turn (queued behind a dump).
        const ac = new AbortController();
        const listing = h.listServices();
        const applying = h.apply(OPS, { signal: ac.signal });
        const syncing = h.sync([], { signal: ac.signal });
        ac.abort(REASON);
        await listing;
        await rejectsAborted(applying, 'ipvs.apply');
        await rejectsAborted(syncing, 'ipvs.sync');
        assert.deepEqual(saveLines(ns), before);
        for (const bad of ['yes', 1, {}, new AbortController()]) {
          const o = { signal: bad } as unknown as { signal: AbortSignal };
          await assert.rejects(h.apply(OPS, o), InvalidArgumentError);
          await assert.rejects(h.sync([], o), InvalidArgumentError);
        }
        assert.deepEqual(saveLines(ns), before);
        // A signal that does not abort: the calls work as without one.
        await h.sync([], { signal: new AbortController().signal });
        assert.deepEqual(saveLines(ns), []);
      });
    }));

  it('drain: aborted before, nothing changes; aborted while waiting, the weight stays 0 and the real server stays', () =>
    withNetns(1, async (ns) => {
      ns.run('ipvsadm', ['-R'], '-A -u 127.0.0.2:9999 -s rr\n-a -u 127.0.0.2:9999 -r 127.0.0.1:10000 -m -w 3\n');
      const before = saveLines(ns);
      await withHandle(ipvs.open({ netns: ns.path }), async (h) => {
        const svc = { protocol: 'udp' as const, address: '127.0.0.2', port: 9999 };
        const dest = { address: '127.0.0.1', port: 10000 };
        await rejectsAborted(h.drain(svc, dest, { signal: AbortSignal.abort(REASON) }), 'ipvs.drain');
        assert.deepEqual(saveLines(ns), before);
        // A UDP connection entry keeps the real server busy, so the drain waits until the abort.
        ns.run('bash', ['-c', 'echo hello > /dev/udp/127.0.0.2/9999']);
        const ac = new AbortController();
        const draining = h.drain(svc, dest, { signal: ac.signal, interval: 20, timeout: 120_000 });
        for (let i = 0; i < 1000 && !saveLines(ns).some((l) => / -w 0$/.test(l)); i++) await new Promise((r) => setTimeout(r, 10));
        ac.abort(REASON);
        await rejectsAborted(draining, 'ipvs.drain', 1);
        assert.deepEqual(saveLines(ns), before.map((l) => l.replace(/ -w 3$/, ' -w 0')));
        assert.notDeepEqual(before, before.map((l) => l.replace(/ -w 3$/, ' -w 0')));
      });
    }));
});
