// bench/ipvs: nlkit against ipvsadm in the same kernel and the same run, in throwaway
// namespaces: N services × 5 real servers created (one ipvs.apply() against `ipvsadm -R`, and
// at small scales against one `ipvsadm -A`/`-a` process per service and real server), listed
// with stats, and deleted; single-operation latencies at the largest scale.
// Where the host kernel has no IPVS it runs inside the VM (bench/run.ts does that):
//   flock .scratch/vm.lock bash scripts/vm/run.sh node --import tsx bench/ipvs.ts [--quick] --json
// Under software emulation only the ratios mean anything.
// Usage: bench/ipvs.ts [--quick] [--reps N] [--sizes 1000,5000] [--per-command 10,30] [--cap SECONDS] [--json]
import { spawnSync } from 'node:child_process';
import { ipvs } from '../lib/index.js';
import { formatIpvsadm } from '../lib/ipvs/ipvsadm-text.js';
import { Netns } from '../test/helpers/netns.js';
import { fmtN, median, parseArgs, row, runStandalone, timed, timedShell, type Row, type Section, type Series } from './common.js';

const PER = 5;  // real servers per service
const SINGLE = 60;  // single operations timed per latency measurement

function tool(ns: Netns, args: string[], input?: string): void {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'ipvsadm', ...args], { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`ipvsadm ${args.join(' ')}: ${r.stderr}`);
}

const svc = (i: number) => ({ protocol: 'tcp' as const, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 80 });
type Table = (ReturnType<typeof svc> & { scheduler: ipvs.Scheduler; destinations: ipvs.DestinationInput[] })[];
function table(n: number): Table {
  const services: Table = [];
  for (let i = 0; i < n; i++) {
    const d: ipvs.DestinationInput[] = [];
    for (let j = 1; j <= PER; j++) d.push({ address: `10.200.${j}.${i & 255}`, port: 8080, forward: 'masq', weight: 1 + j });
    services.push({ ...svc(i), scheduler: 'wrr', destinations: d });
  }
  return services;
}
function opsOf(services: Table): ipvs.ApplyOp[] {
  const ops: ipvs.ApplyOp[] = [];
  for (const { destinations, ...service } of services) {
    ops.push({ op: 'addService', service });
    for (const destination of destinations) ops.push({ op: 'addDestination', service, destination });
  }
  return ops;
}
/** The table as one ipvsadm process per service and per real server. */
const perCommandScript = (services: Table) => services.flatMap((s) => [
  `ipvsadm -A -t ${s.address}:${s.port} -s ${s.scheduler}`,
  ...s.destinations.map((d) => `ipvsadm -a -t ${s.address}:${s.port} -r ${d.address}:${d.port} -m -w ${d.weight}`),
]).join('\n') + '\n';

async function latencies(h: ipvs.IpvsHandle, a: Netns, n: number, rows: Row[]) {
  // One add at N services and at 10: interleaved single calls on two handles (so noise and
  // garbage collection fall on both alike), medians.
  const c = new Netns('bench');
  const hc = ipvs.open({ netns: c.path });
  try {
    await hc.apply(opsOf(table(10)));
    const tb: number[] = [], ts: number[] = [];
    for (let k = 0; k < SINGLE + 5; k++) {
      const tBig = await timed(() => h.addService({ ...svc((1 << 20) + k), scheduler: 'rr' }));
      const tSmall = await timed(() => hc.addService({ ...svc((1 << 20) + k), scheduler: 'rr' }));
      if (k >= 5) { tb.push(tBig); ts.push(tSmall); }  // the first few warm up
    }
    const toolAdd = [0, 1, 2].map((k) => { const t0 = performance.now(); tool(a, ['-A', '-t', `10.250.0.${k}:80`, '-s', 'rr']); return performance.now() - t0; });
    rows.push(row(`one addService at ${fmtN(n)} services`, n, 'services', [median(tb)], toolAdd, '`ipvsadm -A` (one process)'));
    rows.push(row('one addService at 10 services', 10, 'services', [median(ts)]));
    await h.apply(Array.from({ length: SINGLE + 5 }, (_, k) => ({ op: 'deleteService' as const, service: svc((1 << 20) + k) })));
  } finally {
    await hc.close();
    c.remove();
  }
  const s0 = svc(n >> 1);
  const dst = `10.200.1.${(n >> 1) & 255}`;
  const full: number[] = [], partial: number[] = [];
  for (let k = 0; k < SINGLE; k++) {
    full.push(await timed(() => h.updateDestination(s0, { address: dst, port: 8080, forward: 'masq', weight: 10 + k, upperThreshold: 0, lowerThreshold: 0 })));
    partial.push(await timed(() => h.updateDestination(s0, { address: dst, port: 8080, weight: 50 + k })));
  }
  const toolWeight = [0, 1, 2].map((k) => {
    const t0 = performance.now();
    tool(a, ['-e', '-t', `${s0.address}:80`, '-r', `${dst}:8080`, '-m', '-w', String(20 + k)]);
    return performance.now() - t0;
  });
  rows.push(row('one weight change, every field given', n, 'services', [median(full)], toolWeight, '`ipvsadm -e` (one process)'));
  rows.push(row('one weight change, only the weight (read + write)', n, 'services', [median(partial)], toolWeight, '`ipvsadm -e` (one process)'));
}

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  const quick = args.quick;
  const sizes = args.list('--sizes') ?? (quick ? [100, 1000, 2000] : [100, 1000, 5000, 20_000]);
  const perCommandSizes = args.list('--per-command') ?? (quick ? [10, 30] : [10, 30, 100]);
  const capMs = Number(args.value('--cap') ?? (quick ? 60 : 300)) * 1000;
  const inVm = process.env.NLKIT_IN_VM === '1';
  const rows: Row[] = [];
  const series = {
    perCommand: { name: 'one `ipvsadm` process per service and real server', points: [] } as Series,
    tool: { name: '`ipvsadm -R` (whole table)', points: [] } as Series,
    nlkit: { name: 'nlkit ipvs.apply (whole table, one call)', points: [] } as Series,
  };
  const nlkitAt = new Map<number, number>();

  {
    // warm up outside the timing: the JIT, nlkit's code paths, the tool's pages
    const w = new Netns('bench');
    const h = ipvs.open({ netns: w.path });
    try {
      const t = table(200);
      await h.apply(opsOf(t));
      await h.listServices({ stats: true });
      await h.flush();
      tool(w, ['-R'], formatIpvsadm(t));
      tool(w, ['-C']);
    } finally {
      await h.close();
      w.remove();
    }
  }

  for (const n of sizes) {
    const big = table(n);
    const text = formatIpvsadm(big);
    const ops = opsOf(big);
    const m = { create: [] as number[], toolCreate: [] as number[], list: [] as number[], toolList: [] as number[],
      delEach: [] as number[], toolDelEach: [] as number[], flush: [] as number[], toolFlush: [] as number[] };
    const last = n === sizes[sizes.length - 1];
    for (let rep = 0; rep < args.reps; rep++) {
      const a = new Netns('bench');
      const b = new Netns('bench');
      const h = ipvs.open({ netns: b.path });
      try {
        await h.getInfo();  // start the handle's thread and socket outside the timing
        m.toolCreate.push(await timed(() => tool(a, ['-R'], text)));
        m.create.push(await timed(async () => {
          const r = await h.apply(ops);
          if (r.some((x) => !x.ok)) throw new Error('apply failed');
        }));
        m.toolList.push(await timed(() => tool(a, ['-Ln', '--stats'])));
        m.list.push(await timed(async () => {
          const l = await h.listServices({ stats: true });
          if (l.length !== n || l.reduce((k, s) => k + s.destinations!.length, 0) !== n * PER) throw new Error('incomplete listing');
        }));
        if (last && rep === 0) await latencies(h, a, n, rows);
        if (rep === 0) {
          // every service one by one (one batch against ipvsadm -R of -D lines), once: the refill costs as much again
          m.toolDelEach.push(await timed(() => tool(a, ['-R'], big.map((_, i) => `-D -t ${svc(i).address}:80`).join('\n') + '\n')));
          m.delEach.push(await timed(() => h.apply(big.map((_, i) => ({ op: 'deleteService' as const, service: svc(i) })))));
          tool(a, ['-R'], text);
          await h.apply(ops);
        }
        m.toolFlush.push(await timed(() => tool(a, ['-C'])));
        m.flush.push(await timed(() => h.flush()));
      } finally {
        await h.close();
        a.remove();
        b.remove();
      }
    }
    rows.push(row(`create N services × ${PER} real servers`, n, 'services', m.create, m.toolCreate, '`ipvsadm -R`'));
    rows.push(row('list everything with stats', n, 'services', m.list, m.toolList, '`ipvsadm -Ln --stats`'));
    rows.push(row('delete every service, one request each', n, 'services', m.delEach, m.toolDelEach, '`ipvsadm -R` of `-D` lines', 'run once'));
    rows.push(row('delete all (flush)', n, 'services', m.flush, m.toolFlush, '`ipvsadm -C`'));
    series.tool.points.push([n, median(m.toolCreate)]);
    series.nlkit.points.push([n, median(m.create)]);
    nlkitAt.set(n, median(m.create));
    console.error(`ipvs: ${fmtN(n)} services done`);
  }

  for (const n of perCommandSizes) {
    const t0 = table(n);
    const ns = new Netns('bench');
    const h = ipvs.open({ netns: ns.path });
    let t: number | null;
    try {
      t = timedShell(ns.name, perCommandScript(t0), capMs);
      if (t !== null && (await h.listServices()).length !== n) throw new Error('per-command ipvsadm left the table incomplete');
      await h.flush();
      if (!nlkitAt.has(n)) {
        // this scale is not among the others: the whole-table lines get a point here too
        const lib: number[] = [], whole: number[] = [];
        for (let r = 0; r < args.reps; r++) {
          lib.push(await timed(() => h.apply(opsOf(t0))));
          await h.flush();
          whole.push(await timed(() => tool(ns, ['-R'], formatIpvsadm(t0))));
          tool(ns, ['-C']);
        }
        rows.push(row(`create N services × ${PER} real servers`, n, 'services', lib, whole, '`ipvsadm -R`'));
        series.tool.points.push([n, median(whole)]);
        series.nlkit.points.push([n, median(lib)]);
        nlkitAt.set(n, median(lib));
      }
    } finally {
      await h.close();
      ns.remove();
    }
    const commands = n * (1 + PER);
    const nl = nlkitAt.get(n)!;
    if (t === null) {
      series.perCommand.capped = [n, capMs];
      rows.push(row('create, one `ipvsadm` process per service and real server', n, 'services', [nl], undefined, '`ipvsadm -A`/`-a`, one process each',
        `${fmtN(commands)} commands: not finished within the ${capMs / 1000} s cap`));
      break;
    }
    series.perCommand.points.push([n, t]);
    rows.push(row('create, one `ipvsadm` process per service and real server', n, 'services', [nl], [t], '`ipvsadm -A`/`-a`, one process each', `${fmtN(commands)} commands, run once`));
    console.error(`ipvs: per-command ${fmtN(n)} services done`);
  }

  const order = (r: Row) => (r.case.startsWith('create') ? 0 : r.case.startsWith('list') ? 1 : r.case.startsWith('delete') ? 2 : 3);
  rows.sort((x, y) => order(x) - order(y) || (x.n ?? 0) - (y.n ?? 0));
  const where = inVm
    ? "Measured inside Debian's stock kernel under qemu software emulation (TCG, 1 vCPU), because the host kernel has no IPVS: the ratios mean something, the absolute times do not (starting a process costs far more there than on real hardware)."
    : 'Measured on the host kernel.';
  return {
    id: 'ipvs',
    title: 'IPVS (`bench/ipvs.ts`)',
    notes: [
      `${where} Each service has ${PER} real servers (masquerading, weighted round robin); tools run as \`ip netns exec NS ipvsadm …\` in a namespace of their own, ` +
      'nlkit on a handle bound to another. The per-process rows are run once per scale with a cap of ' + `${capMs / 1000} s; their ratio is against nlkit's one-call create at the same scale.`,
    ],
    rows,
    charts: [{
      id: 'ipvs', title: `Creating N IPVS services × ${PER} real servers`,
      subtitle: inVm ? 'inside a qemu VM (software emulation): compare lines, not absolute times; lower is better' : 'lower is better',
      xLabel: 'services', yLabel: 'time to create all of them', series: [series.perCommand, series.tool, series.nlkit],
    }],
  };
}

await runStandalone(import.meta.url, run);
