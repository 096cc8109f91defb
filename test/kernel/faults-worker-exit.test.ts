// A worker_thread that ends while it uses nlkit (worker.terminate(), or process.exit() inside
// it, during calls or while the addon loads) once aborted the whole process: results were
// settled into an environment that was shutting down and node-addon-api's error escaped into
// C ("terminate called after throwing an instance of 'Napi::Error'", exit 134); and a worker
// waiting for the xtables lock held its own termination until the holder let go. In a child,
// so that an abort or a hang fails this test instead of the runner.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withNetns, kernelSkipReason } from '../helpers/netns.js';
import { lastJson, runTs } from '../helpers/child.js';

const child = fileURLToPath(new URL('../helpers/worker-exit-child.ts', import.meta.url));
const dist = fileURLToPath(new URL('../../dist/index.cjs', import.meta.url));
const skip = kernelSkipReason('ipset') ?? kernelSkipReason('flock') ?? (existsSync(dist) ? undefined : 'dist/ is not built (npm run build:ts): the workers load the package');

describe('worker_threads ending while they use nlkit', { skip }, () => {
  it('200 workers terminated at random points (loading, calling, process.exit() inside), one waiting for the xtables lock: the process lives on', async (t) => {
    await withNetns(1, async (ns) => {
      const lock = join(tmpdir(), `nlkit-worker-exit-${process.pid}.lock`);
      const r = await runTs(child, [ns.path, '200', String(Date.now() >>> 0), lock], { timeoutMs: 300_000 });
      t.diagnostic(r.stdout.trim());
      assert.equal(r.signal, null, `child died of ${r.signal}: ${r.stderr.slice(-2000)}`);
      assert.equal(r.status, 0, `child exited ${r.status}: ${r.stderr.slice(-2000)}`);
      const f = lastJson<{ rounds: number; load?: number; calls?: number; exit?: number; holderAlive: boolean }>(r.stdout);
      assert.equal(f?.rounds, 200);
      // The worker waiting for the lock ended while another process still held it.
      assert.equal(f.holderAlive, true);
      // Every way of ending happened.
      assert.ok(f !== undefined && f.load && f.calls && f.exit, r.stdout);
    });
  });
});
