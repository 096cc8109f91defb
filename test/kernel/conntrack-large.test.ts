// A large table in a small JS heap: count() and delete() by filter stream the dump (matched on
// its bytes chunk by chunk, no flow objects) so they finish in a heap the flows' objects do not
// fit in; list() of the same table in the same heap runs out of memory, which shows the limit
// binds. conntrack(8) checks what was counted and deleted.
import { type TestContext, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { conntrack } from '../../lib/index.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { lastJson, runTs } from '../helpers/child.js';
import { toolLines } from '../helpers/conntrack.js';

const skip = kernelSkipReason('conntrack') ?? kernelSkipReason('nft');
const CHILD = fileURLToPath(new URL('../helpers/conntrack-heap-child.ts', import.meta.url));
const FLOWS = 30_000;
/** MB of old space: the child's code fits with room to spare; 30k flows as objects do not. */
const HEAP_MB = 16;

describe('conntrack with a large table in a small heap', { skip, timeout: 180_000 }, () => {
  it(`counts and deletes by filter among ${FLOWS} flows with --max-old-space-size=${HEAP_MB}, where list() runs out of memory`, (t: TestContext) =>
    withNetns(1, async (ns) => {
      ns.run('nft', ['-f', '-'], 'table inet nlkit {\n chain out {\n  type filter hook output priority 0;\n  ct state new counter\n }\n}\n');
      const ct = conntrack.open({ netns: ns.name });
      try {
        let pending: Promise<void>[] = [];
        for (let i = 0; i < FLOWS; i++) {
          const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, sport = 1024 + (i % 60000);
          pending.push(ct.create(i % 2
            ? { protocol: 'udp', original: { src, dst: '10.96.0.10', sport, dport: 53 }, timeout: 600_000 }
            : { protocol: 'tcp', original: { src, dst: '10.96.0.1', sport, dport: 80 }, state: 'ESTABLISHED', timeout: 600_000 }));
          if (pending.length === 4096) { await Promise.all(pending); pending = []; }
        }
        await Promise.all(pending);
      } finally {
        await ct.close();
      }
      const child = (what: string) => runTs(CHILD, [ns.name, what], { env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` }, timeoutMs: 120_000 });

      const list = await child('list');
      assert.notEqual(list.status, 0, `list() of ${FLOWS} flows fit in ${HEAP_MB} MB: ${list.stdout}`);
      assert.match(list.stderr, /heap out of memory/);

      const count = await child('count');
      assert.equal(count.status, 0, count.stderr);
      assert.equal(lastJson<{ result: number }>(count.stdout)!.result, FLOWS / 2);
      t.diagnostic(`count: peak heap ${lastJson<{ heapMB: number }>(count.stdout)!.heapMB} MB`);
      assert.equal(toolLines(ns.run('conntrack', ['-L', '-p', 'udp'])).length, FLOWS / 2);

      const del = await child('delete');
      assert.equal(del.status, 0, del.stderr);
      assert.equal(lastJson<{ result: number }>(del.stdout)!.result, FLOWS / 2);
      t.diagnostic(`delete: peak heap ${lastJson<{ heapMB: number }>(del.stdout)!.heapMB} MB`);
      assert.equal(toolLines(ns.run('conntrack', ['-L', '-p', 'udp'])).length, 0);
      assert.equal(toolLines(ns.run('conntrack', ['-L', '-p', 'tcp'])).length, FLOWS / 2);
    }));
});
