// Lock contention: nlkit commits (--noflush) while `iptables-legacy -w -A` writers run, all
// on one private lock file; afterwards every rule either side added is there. (One minute
// of it: npm run test:soak.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withNetns } from '../helpers/netns.js';
import { faultSkipReason, lockContention, suiteLockFile } from '../helpers/fault-scenarios.js';

const skip = faultSkipReason('iptables-legacy');

describe('xtables lock contention', { skip }, () => {
  const LOCK = suiteLockFile('contention');
  it('nlkit commits and iptables -w writers for a few seconds lose no rule', async (t) => {
    await withNetns(1, async (ns) => {
      const f = await lockContention(ns, LOCK, 3);
      t.diagnostic(JSON.stringify(f));
      assert.ok(f.commits > 0 && f.cliWrites > 0, 'both sides must have written');
      assert.equal(f.lost, 0);
    });
  });
});
