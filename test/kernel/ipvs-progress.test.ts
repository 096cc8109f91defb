// onProgress on ipvs.apply() and ipvs.sync() (a throwaway namespace; on hosts without IPVS
// inside the VM: see test/helpers/ipvs.ts): a 12k-operation apply reports increasing counts and
// ends with one done === total, and `ipvsadm -S -n` equals what `ipvsadm -R` of the same lines
// made in a twin namespace; operations the kernel refuses are not counted (the final done is
// what the kernel applied, never more); sync counts its operations; a value that is not a
// function is an InvalidArgumentError with nothing applied.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipvs, InvalidArgumentError, type Progress } from '../../lib/index.js';
import type { ApplyOp } from '../../lib/ipvs/types.js';
import { withNetns, withHandle } from '../helpers/netns.js';
import { checkReports } from '../helpers/progress.js';
import { ipvsSkipReason, saveLines, whereRan } from '../helpers/ipvs.js';

const skip = ipvsSkipReason();
const N = 4000;  // services, each with two real servers: 12k operations in one batch
const addr = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const svc = (i: number) => ({ protocol: 'tcp' as const, address: addr(i), port: 80 });

function ops(n: number): ApplyOp[] {
  const out: ApplyOp[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ op: 'addService', service: { ...svc(i), scheduler: 'rr' } });
    for (const d of [1, 2]) out.push({ op: 'addDestination', service: svc(i), destination: { address: `10.244.0.${d}`, port: 8080, forward: 'masq', weight: 1 } });
  }
  return out;
}

function lines(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    s += `-A -t ${addr(i)}:80 -s rr\n`;
    for (const d of [1, 2]) s += `-a -t ${addr(i)}:80 -r 10.244.0.${d}:8080 -m -w 1\n`;
  }
  return s;
}

describe(`ipvs onProgress (${whereRan()})`, { skip }, () => {
  it('a 12k-operation apply reports increasing counts, ends with done === total; ipvsadm -S equals ipvsadm -R\'s', () =>
    withNetns(2, async (a, b) => {
      b.run('ipvsadm', ['-R'], lines(N));
      await withHandle(ipvs.open({ netns: a.path }), async (h) => {
        const seen: Progress[] = [];
        const rs = await h.apply(ops(N), { onProgress: (p) => seen.push({ ...p }) });
        assert.ok(rs.every((r) => r.ok));
        checkReports(seen, 3 * N, 3 * N, 'ipvs.apply');
        assert.ok(seen.length >= 2, `ipvs.apply: expected an intermediate report, got ${JSON.stringify(seen)}`);
        assert.deepEqual(saveLines(a), saveLines(b));
      });
    }));

  it('refused operations are not counted: the final done is what the kernel applied', () =>
    withNetns(2, async (a, b) => {
      // every third service is not added: its two real servers are refused (no such service)
      const idx = (address: string) => { const p = address.split('.').map(Number); return (p[2]! << 8) | p[3]!; };
      const missing = (o: ApplyOp) => 'service' in o && !!o.service && 'address' in o.service && idx(o.service.address) % 3 === 0;
      const all = ops(300).filter((o) => !(o.op === 'addService' && missing(o)));
      const applied = all.filter((o) => !missing(o)).length;  // 200 services and their 400 real servers
      const kept = (l: string) => idx(/^-[Aa] -t ([\d.]+):/.exec(l)![1]!) % 3 !== 0;
      b.run('ipvsadm', ['-R'], lines(300).split('\n').filter((l) => l && kept(l)).join('\n') + '\n');
      await withHandle(ipvs.open({ netns: a.path }), async (h) => {
        const seen: Progress[] = [];
        const rs = await h.apply(all, { onProgress: (p) => seen.push({ ...p }) });
        assert.equal(rs.filter((r) => r.ok).length, applied);
        assert.equal(applied, 600);
        checkReports(seen, all.length, applied, 'ipvs.apply with refusals');
        assert.deepEqual(saveLines(a), saveLines(b));
      });
    }));

  it('sync counts its operations; nothing to do ends with 0 of 0; a non-function onProgress changes nothing', () =>
    withNetns(1, async (ns) => {
      await withHandle(ipvs.open({ netns: ns.path }), async (h) => {
        const desired = Array.from({ length: 200 }, (_, i) => ({ ...svc(i), scheduler: 'rr' as const, destinations: [{ address: '10.244.0.1', port: 8080 }] }));
        const seen: Progress[] = [];
        const r = await h.sync(desired, { onProgress: (p) => seen.push({ ...p }) });
        checkReports(seen, r.ops, r.ops, 'ipvs.sync');
        assert.equal(r.ops, 400);
        const again: Progress[] = [];
        await h.sync(desired, { onProgress: (p) => again.push({ ...p }) });
        assert.deepEqual(again, [{ done: 0, total: 0 }]);
        const before = saveLines(ns);
        for (const bad of ['yes', 1, {}, true, null]) {
          const o = { onProgress: bad } as unknown as { onProgress: () => void };
          await assert.rejects(h.apply(ops(5), o), InvalidArgumentError);
          await assert.rejects(h.sync([], o), InvalidArgumentError);
        }
        assert.deepEqual(saveLines(ns), before);
      });
    }));
});
