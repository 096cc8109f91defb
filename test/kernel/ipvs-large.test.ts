// Large tables come back whole: 50k services × 5 real servers (250k) written in one apply()
// and listed in one crossing, checked against ipvsadm's own count. NLKIT_IPVS_LARGE sets
// the number of services (default 50000).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ipvs } from '../../lib/index.js';
import { Netns } from '../helpers/netns.js';
import { ipvsSkipReason, whereRan } from '../helpers/ipvs.js';

const skip = ipvsSkipReason();
const N = Number(process.env.NLKIT_IPVS_LARGE ?? 50_000);
const PER = 5;

const svcAt = (i: number) => ({ protocol: 'tcp' as const, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 80 + (i >> 24) });

describe('ipvs large tables', { skip }, () => {
  let ns: Netns | undefined;
  after(() => ns?.remove());

  it(`${N} services × ${PER} real servers: written in one batch, listed whole`, async (t) => {
    ns = new Netns('ipvsbig');
    const h = ipvs.open({ netns: ns.path });
    try {
      const ops: ipvs.ApplyOp[] = [];
      for (let i = 0; i < N; i++) {
        const service = svcAt(i);
        ops.push({ op: 'addService', service: { ...service, scheduler: 'wrr' } });
        for (let j = 1; j <= PER; j++) ops.push({ op: 'addDestination', service, destination: { address: `10.200.0.${j}`, port: 8080, weight: j } });
      }
      let t0 = performance.now();
      const r = await h.apply(ops);
      const wrote = performance.now() - t0;
      assert.equal(r.filter((x) => !x.ok).length, 0);
      t0 = performance.now();
      const list = await h.listServices({ stats: true });
      const listed = performance.now() - t0;
      t.diagnostic(`ran ${whereRan()}: apply ${ops.length} ops ${wrote.toFixed(0)} ms, list with stats ${listed.toFixed(0)} ms`);
      assert.equal(list.length, N);
      const keys = new Set(list.map((s) => `${s.address}:${s.port}`));
      assert.equal(keys.size, N);
      for (let i = 0; i < N; i += 997) assert.ok(keys.has(`${svcAt(i).address}:${svcAt(i).port}`));
      let dests = 0;
      for (const s of list) {
        assert.equal(s.destinations!.length, PER, `${s.address}`);
        dests += s.destinations!.length;
        assert.equal(typeof s.destinations![0]!.stats!.bytesIn, 'bigint');
      }
      assert.equal(dests, N * PER);
      // ipvsadm sees the same number of lines.
      const lines = spawnSync('ip', ['netns', 'exec', ns.name, 'sh', '-c', 'ipvsadm -S -n | wc -l'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(Number(lines), N * (PER + 1));
      await h.flush();
      assert.equal((await h.listServices()).length, 0);
    } finally {
      await h.close();
    }
  });
});
