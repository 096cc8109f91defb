// The long fault soaks (npm run test:soak): the scenarios of test/kernel/faults-*.test.ts run
// for longer, each printing its figures. Sizes can be changed with NLKIT_SOAK_SECONDS,
// NLKIT_SOAK_KILLS and NLKIT_SOAK_ROUNDS.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { killDuringCommits, lockContention } from '../helpers/fault-scenarios.js';
import { hammer } from '../helpers/hammer.js';

const skip = kernelSkipReason('iptables-legacy') ?? kernelSkipReason('ipset');
const num = (name: string, dflt: number) => (Number(process.env[name]) > 0 ? Number(process.env[name]) : dflt);
const LOCK = `/tmp/nlkit-soak-${process.pid}.lock`;

function report(t: { diagnostic(s: string): void }, what: string, figures: object): void {
  const line = `${what}: ${JSON.stringify(figures)}`;
  t.diagnostic(line);
  console.log(`# soak ${line}`);
}

describe('fault soaks', { skip, concurrency: 1 }, () => {
  after(() => rmSync(LOCK, { force: true }));

  it('lock contention: nlkit commits and iptables -w writers for a minute lose no rule', { timeout: 600_000 }, async (t) => {
    await withNetns(1, async (ns) => {
      const f = await lockContention(ns, LOCK, num('NLKIT_SOAK_SECONDS', 60), 2);
      report(t, 'lock contention', f);
      assert.ok(f.commits > 0 && f.cliWrites > 0);
      assert.equal(f.lost, 0);
    });
  });

  it('killed commits: 20k-rule tables, many random kills, always A or B', { timeout: 1_800_000 }, async (t) => {
    await withNetns(1, async (ns) => {
      const f = await killDuringCommits(ns, LOCK, 20_000, num('NLKIT_SOAK_KILLS', 25));
      report(t, 'killed commits', f);
      assert.equal(f.foundA + f.foundB, f.kills);
    });
  });

  it('hammer: 4 actors on the main thread and 4 worker_threads, many rounds', { timeout: 1_800_000 }, async (t) => {
    await withNetns(1, async (ns) => {
      const f = await hammer(ns, LOCK, { mainActors: 4, workers: 4, rounds: num('NLKIT_SOAK_ROUNDS', 300), seed: 7 });
      report(t, 'hammer', f);
    });
  });
});
