// Many handles and worker_threads on one namespace at once: each actor (test/helpers/
// hammer-actor.ts) checks every result of its adds, tests, deletes and restores against its
// own model; afterwards `ipset save` and iptables-legacy-save must hold exactly what all the
// models say. (Longer: npm run test:soak.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withNetns } from '../helpers/netns.js';
import { hammer } from '../helpers/hammer.js';
import { faultSkipReason, suiteLockFile } from '../helpers/fault-scenarios.js';

const skip = faultSkipReason('ipset', 'iptables-legacy-save');

describe('hammering one namespace', { skip }, () => {
  const LOCK = suiteLockFile('hammer');
  it('3 actors on the main thread and 3 worker_threads: every result and the final state are right', async (t) => {
    await withNetns(1, async (ns) => {
      const f = await hammer(ns, LOCK, { mainActors: 3, workers: 3, rounds: 30 });
      t.diagnostic(JSON.stringify(f));
    });
  });
});
