// Many handles and worker_threads on one namespace at once: each actor (test/helpers/
// hammer-actor.ts) checks every result of its adds, tests, deletes and restores against its
// own model; afterwards `ipset save` and iptables-legacy-save must hold exactly what all the
// models say. (Longer: npm run test:soak.)
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { inVm } from '../helpers/vm.js';
import { hammer } from '../helpers/hammer.js';

const skip = kernelSkipReason('ipset') ?? kernelSkipReason('iptables-legacy-save')
  ?? (inVm() ? 'fault tests run on the host; the VM tier is for what the host kernel lacks' : undefined);
const LOCK = `/tmp/nlkit-hammer-${process.pid}.lock`;

describe('hammering one namespace', { skip }, () => {
  after(() => rmSync(LOCK, { force: true }));
  it('3 actors on the main thread and 3 worker_threads: every result and the final state are right', async (t) => {
    await withNetns(1, async (ns) => {
      const f = await hammer(ns, LOCK, { mainActors: 3, workers: 3, rounds: 30 });
      t.diagnostic(JSON.stringify(f));
    });
  });
});
