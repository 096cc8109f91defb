// A network namespace path or $XTABLES_LOCKFILE that is a FIFO: opening it for reading waited
// for a writer forever on the handle's thread, and the process could never exit. It must fail
// with InvalidArgumentError saying what the file is. In a child, killed if it hangs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withNetns, kernelSkipReason } from '../helpers/netns.js';
import { lastJson, runTs } from '../helpers/child.js';

const child = fileURLToPath(new URL('../helpers/fifo-child.ts', import.meta.url));
const skip = kernelSkipReason('iptables-legacy-save') ?? kernelSkipReason('mkfifo');

type Outcome = { name?: string; message?: string; code?: string; errno?: number; kind?: string };

describe('FIFOs where a namespace or the lock file should be', { skip }, () => {
  it('fail at once with InvalidArgumentError naming the FIFO, and the process exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nlkit-fifo-'));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    try {
      await withNetns(1, async (ns) => {
        const r = await runTs(child, [fifo, ns.path], { timeoutMs: 120_000 });
        assert.equal(r.signal, null, `the child hung and was killed: ${r.stdout}${r.stderr.slice(-2000)}`);
        assert.equal(r.status, 0, r.stderr.slice(-2000));
        const out = lastJson<Record<string, Outcome>>(r.stdout)!;
        assert.equal(out.netnsOpen?.name, 'InvalidArgumentError', JSON.stringify(out));
        assert.match(out.netnsOpen!.message!, /is a FIFO/);
        // The worker's own open: a plain failure record that TypeScript maps.
        assert.equal(out.netnsWorker?.kind, 'netns', JSON.stringify(out));
        assert.equal(out.netnsWorker?.errno, 22);
        assert.match(out.netnsWorker!.message!, /is a FIFO, not a regular file/);
        for (const k of ['restore', 'withLock']) {
          assert.equal(out[k]?.name, 'InvalidArgumentError', `${k}: ${JSON.stringify(out[k])}`);
          assert.equal(out[k]?.code, 'EINVAL');
          assert.match(out[k]!.message!, /lock file .* is a FIFO/);
        }
        // Nothing was committed without the lock.
        assert.doesNotMatch(ns.run('iptables-legacy-save', ['-t', 'filter']), /NLKIT/);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
