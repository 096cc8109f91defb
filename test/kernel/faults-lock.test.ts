// Lock contention: nlkit commits (--noflush) while `iptables-legacy -w -A` writers run, all
// on one private lock file; afterwards every rule either side added is there. (One minute
// of it: npm run test:soak.)
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { inVm } from '../helpers/vm.js';
import { lockContention } from '../helpers/fault-scenarios.js';

const skip = kernelSkipReason('iptables-legacy')
  ?? (inVm() ? 'fault tests run on the host; the VM tier is for what the host kernel lacks' : undefined);
const LOCK = `/tmp/nlkit-contention-${process.pid}.lock`;

describe('xtables lock contention', { skip }, () => {
  after(() => rmSync(LOCK, { force: true }));
  it('nlkit commits and iptables -w writers for a few seconds lose no rule', async (t) => {
    await withNetns(1, async (ns) => {
      const f = await lockContention(ns, LOCK, 3);
      t.diagnostic(JSON.stringify(f));
      assert.ok(f.commits > 0 && f.cliWrites > 0, 'both sides must have written');
      assert.equal(f.lost, 0);
    });
  });
});
