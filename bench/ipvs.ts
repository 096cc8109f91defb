// bench/ipvs: nlkit against ipvsadm in the same kernel and the same run (inside the VM where
// the host has no IPVS: bash scripts/vm/run.sh node --import tsx bench/ipvs.ts), in throwaway
// namespaces. 10k services × 5 real servers; ratios > 1 mean nlkit is faster.
// Usage: bench/ipvs.ts [--services N] [--reps N]
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { ipvs } from '../lib/index.js';
import { formatIpvsadm } from '../lib/ipvs/ipvsadm-text.js';
import { Netns } from '../test/helpers/netns.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('--services', 10_000);
const REPS = arg('--reps', 3);
const PER = 5;
const SINGLE = 60;  // single operations timed per measurement

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => (x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(2)} ms`);
const rows: string[][] = [['measurement', 'nlkit', 'ipvsadm', 'ratio']];
const row = (what: string, lib: number, tool?: number) =>
  rows.push([what, ms(lib), tool === undefined ? '-' : ms(tool), tool === undefined ? '-' : `${(tool / lib).toFixed(2)}×`]);

async function timed(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function tool(ns: Netns, args: string[], input?: string): void {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'ipvsadm', ...args], { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`ipvsadm ${args.join(' ')}: ${r.stderr}`);
}

const svc = (i: number) => ({ protocol: 'tcp' as const, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 80 });
function table(n: number) {
  const services: (ipvs.ServiceInput & { destinations: ipvs.DestinationInput[] })[] = [];
  for (let i = 0; i < n; i++) {
    const d: ipvs.DestinationInput[] = [];
    for (let j = 1; j <= PER; j++) d.push({ address: `10.200.${j}.${i & 255}`, port: 8080, forward: 'masq', weight: 1 + j });
    services.push({ ...svc(i), scheduler: 'wrr', destinations: d });
  }
  return services;
}
function opsOf(services: ReturnType<typeof table>): ipvs.ApplyOp[] {
  const ops: ipvs.ApplyOp[] = [];
  for (const { destinations, ...service } of services) {
    ops.push({ op: 'addService', service });
    for (const destination of destinations) ops.push({ op: 'addDestination', service, destination });
  }
  return ops;
}

const big = table(N);
const text = formatIpvsadm(big);
const ops = opsOf(big);
const small = table(10);

const create = { lib: [] as number[], tool: [] as number[] };
const list = { lib: [] as number[], tool: [] as number[], libNoStats: [] as number[] };
const delAll = { lib: [] as number[], tool: [] as number[] };
const delEach = { lib: [] as number[], tool: [] as number[] };
let addBig = 0, addSmall = 0, weightFull = 0, weightPartial = 0, toolAdd = 0, toolWeight = 0;

for (let rep = 0; rep < REPS; rep++) {
  const a = new Netns('benchA');
  const b = new Netns('benchB');
  const h = ipvs.open({ netns: b.path });
  try {
    create.tool.push(await timed(() => tool(a, ['-R'], text)));
    create.lib.push(await timed(async () => {
      const r = await h.apply(ops);
      if (r.some((x) => !x.ok)) throw new Error('apply failed');
    }));
    list.tool.push(await timed(() => tool(a, ['-Ln', '--stats'])));
    list.lib.push(await timed(async () => {
      const l = await h.listServices({ stats: true });
      if (l.length !== N || l.reduce((n, s) => n + s.destinations!.length, 0) !== N * PER) throw new Error('incomplete listing');
    }));
    list.libNoStats.push(await timed(() => h.listServices()));

    if (rep === 0) {
      // One add at N services and at 10: interleaved single calls on two handles (so noise
      // and garbage collection fall on both alike), medians.
      const c = new Netns('benchC');
      const hc = ipvs.open({ netns: c.path });
      try {
        await hc.apply(opsOf(small));
        const tb: number[] = [], ts: number[] = [];
        for (let k = 0; k < SINGLE + 5; k++) {
          const tBig = await timed(() => h.addService({ ...svc((1 << 20) + k), scheduler: 'rr' }));
          const tSmall = await timed(() => hc.addService({ ...svc((1 << 20) + k), scheduler: 'rr' }));
          if (k >= 5) { tb.push(tBig); ts.push(tSmall); }  // the first few warm up
        }
        addBig = median(tb);
        addSmall = median(ts);
        await h.apply(Array.from({ length: SINGLE + 5 }, (_, k) => ({ op: 'deleteService' as const, service: svc((1 << 20) + k) })));
      } finally {
        await hc.close();
        c.remove();
      }
      const s0 = svc(N >> 1);
      const full: number[] = [], partial: number[] = [];
      for (let k = 0; k < SINGLE; k++) {
        full.push(await timed(() => h.updateDestination(s0, { address: `10.200.1.${(N >> 1) & 255}`, port: 8080, forward: 'masq', weight: 10 + k, upperThreshold: 0, lowerThreshold: 0 })));
        partial.push(await timed(() => h.updateDestination(s0, { address: `10.200.1.${(N >> 1) & 255}`, port: 8080, weight: 50 + k })));
      }
      weightFull = median(full);
      weightPartial = median(partial);
      toolAdd = median([0, 1, 2].map((k) => { const t0 = performance.now(); tool(a, ['-A', '-t', `10.250.0.${k}:80`, '-s', 'rr']); return performance.now() - t0; }));
      toolWeight = median([0, 1, 2].map((k) => { const t0 = performance.now(); tool(a, ['-e', '-t', `${s0.address}:80`, '-r', `10.200.1.${(N >> 1) & 255}:8080`, '-m', '-w', String(20 + k)]); return performance.now() - t0; }));
    }

    // Delete every service one by one (one batch vs ipvsadm -R of -D lines), then all at once.
    const delText = big.map((_, i) => `-D -t ${svc(i).address}:80`).join('\n') + '\n';
    delEach.tool.push(await timed(() => tool(a, ['-R'], delText)));
    delEach.lib.push(await timed(() => h.apply(big.map((_, i) => ({ op: 'deleteService' as const, service: svc(i) })))));
    tool(a, ['-R'], text);
    await h.apply(ops);
    delAll.tool.push(await timed(() => tool(a, ['-C'])));
    delAll.lib.push(await timed(() => h.flush()));
  } finally {
    await h.close();
    a.remove();
    b.remove();
  }
}

const where = process.env.NLKIT_IN_VM === '1' ? 'inside the qemu VM (software emulation: compare ratios, not absolute times)' : 'on this host';
console.log(`nlkit IPVS benchmark, ${where}; ${N.toLocaleString('en')} services × ${PER} real servers, median of ${REPS}`);
row(`create ${N.toLocaleString('en')} × ${PER} (apply vs ipvsadm -R)`, median(create.lib), median(create.tool));
row('list everything with stats (listServices vs ipvsadm -Ln --stats)', median(list.lib), median(list.tool));
row('list everything, no stats', median(list.libNoStats), median(list.tool));
row(`one addService at ${N.toLocaleString('en')} services (vs one ipvsadm -A)`, addBig, toolAdd);
row('one addService at 10 services', addSmall);
row('one weight change, every field given (vs ipvsadm -e)', weightFull, toolWeight);
row('one weight change, only the weight (read + write)', weightPartial, toolWeight);
row(`delete ${N.toLocaleString('en')} services one by one (apply vs ipvsadm -R of -D)`, median(delEach.lib), median(delEach.tool));
row('delete all (flush vs ipvsadm -C)', median(delAll.lib), median(delAll.tool));
const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((x, c) => (c === 0 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join('  '));
console.log(`one add at ${N.toLocaleString('en')} vs at 10 services: ${(addBig / addSmall).toFixed(2)}× the time`);
