// Mutated `ipset restore` texts through nlkit's check, encoder and netlink path in a throwaway
// namespace, next to the real `ipset restore` in another: a child process (so a crash fails
// the test) checks every outcome is a value or an NlkitError, that what nlkit applies the
// tool applies too with the same result, and that a refused text changes nothing.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { inVm } from '../helpers/vm.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { lastJson, runTs } from '../helpers/child.js';
import { runs, seed } from '../helpers/fuzz.js';

const skip = kernelSkipReason('ipset')
  ?? (inVm() ? 'fault tests run on the host; the VM tier is for what the host kernel lacks' : undefined);
const child = fileURLToPath(new URL('../helpers/ipset-fuzz-child.ts', import.meta.url));

interface Figures {
  runs: number; applied: number; errors: Record<string, number>; toolAccepts: number; onlyTool: number; onlyNlkit: number;
  stateDiffers: number; refusedButChanged: number; samples: string[]; stricter: string[];
}

describe('mutated ipset restore texts through the native path', { skip }, () => {
  let f: Figures | undefined;
  let failure: string | undefined;
  before(async () => {
    await withNetns(2, async (tool, ns) => {
      const cfg = { netns: ns.path, name: ns.name, toolNs: tool.name, runs: runs(60), seed: seed() };
      const r = await runTs(child, [JSON.stringify(cfg)], { timeoutMs: 1_800_000 });
      if (r.signal !== null || r.status !== 0) failure = `the child ended with ${r.signal ?? `status ${r.status}`}: ${r.stderr.slice(-3000)}`;
      f = lastJson<Figures>(r.stdout);
      if (f && f.runs !== cfg.runs) failure = `the child ran ${f.runs} of ${cfg.runs} texts`;
    });
  });

  it('every text applies or gives an NlkitError; nlkit applies only what `ipset restore` applies, with the same sets', (t) => {
    assert.equal(failure, undefined);
    assert.ok(f, 'no figures from the child');
    assert.ok(f.applied > 0 && Object.keys(f.errors).length > 0, JSON.stringify(f));
    t.diagnostic(`runs ${f.runs}, applied ${f.applied}, errors ${JSON.stringify(f.errors)}, tool applies ${f.toolAccepts}, only nlkit ${f.onlyNlkit}, only the tool ${f.onlyTool}, sets differ ${f.stateDiffers}, refused but changed ${f.refusedButChanged}`);
    for (const s of f.stricter) t.diagnostic(`only the tool applies; nlkit: ${s.slice(0, 400)}`);
    assert.deepEqual([f.onlyNlkit, f.stateDiffers], [0, 0], f.samples.join('\n'));
  });

  // Found by this test: when the kernel refused a line after the text created a list:set
  // holding sets it also created, the rollback stopped at the first set still in use:
  // 'create m hash:ip\ncreate l list:set\nadd l m\nadd l m\n' -> ExistsError at line 4 left m and l.
  it('a refused text leaves the sets as they were', () => {
    assert.ok(f, 'no figures from the child');
    assert.equal(f.refusedButChanged, 0, f.samples.join('\n'));
  });
});
