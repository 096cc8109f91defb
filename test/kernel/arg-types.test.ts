// Every public function and handle method of every subsystem, given arguments (and options)
// of the wrong JS type (null, undefined, number, Buffer, function, symbol, object), rejects
// with InvalidArgumentError: never a bare TypeError, never a resolved no-op, and nothing
// changes in the kernel. It runs inside a throwaway namespace (test/helpers/arg-walker-child.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';

const child = fileURLToPath(new URL('../helpers/arg-walker-child.ts', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

describe('wrong JS types', { skip: kernelSkipReason('ipset') ?? kernelSkipReason('iptables-legacy-save') }, () => {
  it('every public function rejects them with InvalidArgumentError and changes nothing', () => withNetns(1, async (ns) => {
    const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, '--import', 'tsx', child], {
      cwd: repo, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 26,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { walked: number; problems: string[]; changed: string };
    assert.ok(out.walked > 500, `only ${out.walked} calls walked`);
    assert.deepEqual(out.problems, []);
    assert.equal(out.changed, '', 'the kernel state changed');
  }));
});
