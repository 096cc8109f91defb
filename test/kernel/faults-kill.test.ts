// A commit interrupted by SIGKILL leaves the table entirely old or entirely new: a child
// commits two big tables in turn and is killed at random moments; after each kill
// iptables-legacy-save prints exactly one of the two. (Longer: npm run test:soak.)
import { describe, it, after } from 'node:test';
import { rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { inVm } from '../helpers/vm.js';
import { killDuringCommits } from '../helpers/fault-scenarios.js';

const skip = kernelSkipReason('iptables-legacy-restore')
  ?? (inVm() ? 'fault tests run on the host; the VM tier is for what the host kernel lacks' : undefined);

describe('killed commits', { skip }, () => {
  after(() => rmSync(`/tmp/nlkit-kill-${process.pid}.lock`, { force: true }));
  it('a 20k-rule commit killed at random moments leaves table A or table B, never a mix', async (t) => {
    await withNetns(1, async (ns) => {
      const f = await killDuringCommits(ns, `/tmp/nlkit-kill-${process.pid}.lock`, 20_000, 4);
      t.diagnostic(JSON.stringify(f));
      assert.equal(f.foundA + f.foundB, f.kills);
    });
  });
});
