// libipset sessions and iptables' captured extension printers both depend on C's process-wide
// `stdout`; run at once they once closed fd 1 or freed a capture buffer twice (found by the
// transaction tests). In a child, so that an abort fails this test instead of the runner.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Netns, kernelSkipReason } from '../helpers/netns.js';
import { runTs } from '../helpers/child.js';

const skip = kernelSkipReason('ipset') ?? kernelSkipReason('iptables-legacy');
const child = fileURLToPath(new URL('../helpers/stdio-race-child.ts', import.meta.url));

describe('ipset and iptables handles working at the same time', { skip }, () => {
  it('neither corrupts the other nor the process', async () => {
    const ns = new Netns('stdio');
    try {
      ns.run('ipset', ['create', 'a', 'hash:ip,port']);
      ns.run('ipset', ['add', 'a', '10.0.0.1,tcp:80']);
      ns.run('iptables-legacy', ['-A', 'INPUT', '-p', 'tcp', '--dport', '80', '-j', 'ACCEPT']);
      const r = await runTs(child, [ns.path, '150'], { timeoutMs: 120_000 });
      assert.equal(r.signal, null, `child died of ${r.signal}: ${r.stderr.slice(-2000)}`);
      assert.equal(r.status, 0, r.stderr.slice(-2000));
      assert.match(r.stdout, /"rounds":150/);
      assert.equal(ns.run('ipset', ['save', 'a']).trim().split('\n').length, 2);
    } finally {
      ns.remove();
    }
  });
});
