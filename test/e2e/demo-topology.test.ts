// The demo's network (examples/demo/topology.ts) is built and removed with nlkit alone: with
// `ip` and `sysctl` on PATH replaced by stubs that record their calls and fail, the topology
// starts, carries the client's connections to every backend through the forwarding node, and
// is removed; no stub was called.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology } from '../../examples/demo/topology.js';
import { kernelSkipReason } from '../helpers/netns.js';

const skip = kernelSkipReason('nsenter');

describe('demo topology', { skip }, () => {
  it('is built, used and removed without an ip or sysctl process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nlkit-stubs-'));
    const log = join(dir, 'calls.log');
    for (const tool of ['ip', 'sysctl']) {
      writeFileSync(join(dir, tool), `#!/bin/sh\necho "${tool} $*" >> ${log}\nexit 1\n`);
      chmodSync(join(dir, tool), 0o755);
    }
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    const topo = new Topology(`nlkit-dt${process.pid % 100000}`, 2);
    try {
      await topo.start();
      const counts = await topo.traffic(topo.backends[1]!.address, topo.backends[1]!.port, 3);
      assert.deepEqual(counts.answers, { 'backend-2': 3 }, JSON.stringify(counts));
      // The client's address arrives unchanged: the node only forwards.
      assert.deepEqual(Object.keys(counts.sources), ['192.168.77.2']);
      await topo.stop();
      for (const b of topo.backends) assert.equal(existsSync(`/run/netns/${b.netns}`), false);
      assert.equal(existsSync(log) ? readFileSync(log, 'utf8') : '', '', 'ip or sysctl was run');
    } finally {
      process.env.PATH = path;
      topo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
