// bench/ipset: nlkit against `ipset restore` on the same entries, in one run, each load in a
// fresh throwaway namespace: loads of 10k/100k/1M entries (quick: 10k/100k), set swaps and a
// small change to a large set.
// Usage: tsx bench/ipset.ts [--quick] [--reps N] [--sizes 10000,100000] [--json]
import { ipset } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';
import { shortCount } from './svg.js';
import { fmtN, median, parseArgs, row, runStandalone, timed, type Row, type Section, type Series } from './common.js';

const ip4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const rate = (n: number, ms: number) => `nlkit: ${shortCount((n / ms) * 1000)} entries/s`;

function optsOf(s: string): ipset.CreateOptions {
  const o: Record<string, number> = {};
  const parts = s.split(/\s+/).filter(Boolean);
  for (let i = 0; i < parts.length; i += 2) o[parts[i]!] = Number(parts[i + 1]);
  return o;
}

interface Load { tool: number[]; add: number[]; restore: number[] }

async function load(type: string, createOpts: string, entries: string[], reps: number): Promise<Load> {
  const n = entries.length;
  const text = [`create s ${type} ${createOpts}`, ...entries.map((e) => `add s ${e}`)].join('\n') + '\n';
  const r: Load = { tool: [], add: [], restore: [] };
  for (let rep = 0; rep < reps; rep++) {
    const a = new Netns('bench');
    try {
      r.tool.push(await timed(() => a.run('ipset', ['restore'], text)));
    } finally {
      a.remove();
    }
    const b = new Netns('bench');
    const h = ipset.open({ netns: b.path });
    try {
      await h.list();  // start the handle's thread and socket outside the timing
      r.add.push(await timed(async () => {
        await h.create('s', type as ipset.SetType, optsOf(createOpts));
        await h.add('s', entries);
      }));
      const got = (await h.list('s', { members: false })).numEntries;
      if (got !== n) throw new Error(`nlkit loaded ${got} of ${n}`);
      await h.destroy('s');
      r.restore.push(await timed(() => h.restore(text)));
    } finally {
      await h.close();
      b.remove();
    }
  }
  return r;
}

async function small(quick: boolean, rows: Row[]) {
  const ns = new Netns('bench');
  const h = ipset.open({ netns: ns.path });
  try {
    await h.create('a', 'hash:ip');
    await h.create('b', 'hash:ip');
    await h.add('a', Array.from({ length: 10_000 }, (_, i) => ip4(i)));
    const swaps = quick ? 200 : 2000;
    for (let i = 0; i < 50; i++) await h.swap('a', 'b');
    const awaited = await timed(async () => { for (let i = 0; i < swaps; i++) await h.swap('a', 'b'); });
    const inFlight = await timed(() => Promise.all(Array.from({ length: swaps }, () => h.swap('a', 'b'))));
    // an even number of swaps leaves the 10k entries in `a`
    const toolSwap = Array.from({ length: quick ? 4 : 8 }, () => 0).map(() => {
      const t0 = performance.now();
      ns.run('ipset', ['swap', 'a', 'b']);
      return performance.now() - t0;
    });
    rows.push(row(`swap two sets, each call awaited before the next (mean of ${fmtN(swaps)})`, undefined, undefined, [awaited / swaps], toolSwap, '`ipset swap` (one process)'));
    rows.push(row(`swap two sets, ${fmtN(swaps)} calls in flight (mean per call)`, undefined, undefined, [inFlight / swaps], toolSwap, '`ipset swap` (one process)'));
    const changes: number[] = [];
    for (let r = 0; r < (quick ? 20 : 200); r++) {
      const adds = Array.from({ length: 50 }, (_, i) => ip4(100_000 + r * 50 + i));
      const dels = Array.from({ length: 50 }, (_, i) => ip4(r * 50 + i));
      changes.push(await timed(async () => { await h.add('a', adds); await h.delete('a', dels); }));
      await h.swap('a', 'b');
      await h.swap('a', 'b');
    }
    const toolChange = [0, 1, 2].map((r) => {
      const text = Array.from({ length: 50 }, (_, i) => `add a ${ip4(900_000 + r * 50 + i)}`)
        .concat(Array.from({ length: 50 }, (_, i) => `del a ${ip4(100_000 + r * 50 + i)}`)).join('\n') + '\n';
      const t0 = performance.now();
      ns.run('ipset', ['restore'], text);
      return performance.now() - t0;
    });
    rows.push(row('100-entry change (50 add + 50 del) on a 10k set', undefined, undefined, [median(changes)], toolChange, '`ipset restore`'));
    // test: the tool answers one entry per process (a restore text stops at the first hit), so
    // its side is a sample of `ipset test` runs, interleaved with nlkit's, scaled to the 10k entries.
    const probe = Array.from({ length: 10_000 }, (_, i) => ip4(i * 2));
    const testRuns: number[] = [], toolTest: number[] = [];
    for (let r = 0; r < (quick ? 3 : 7); r++) {
      testRuns.push(await timed(() => h.test('a', probe)));
      const t0 = performance.now();
      for (let k = 0; k < 10; k++) ns.try('ipset', ['test', 'a', probe[r * 10 + k]!]);
      toolTest.push(((performance.now() - t0) / 10) * probe.length);
    }
    rows.push(row('test 10k entries against a 10k set, one ipset.test(array)', 10_000, 'entries', testRuns, toolTest,
      '`ipset test` per entry (10 runs per rep, scaled to 10k)', rate(10_000, median(testRuns))));
  } finally {
    await h.close();
    ns.remove();
  }
}

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  const sizes = args.list('--sizes') ?? (args.quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000]);
  const rows: Row[] = [];
  const tool: Series = { name: '`ipset restore` (one process, text on stdin)', points: [] };
  const add: Series = { name: 'nlkit ipset.create + ipset.add(array)', points: [] };
  const restore: Series = { name: 'nlkit ipset.restore(text)', points: [] };
  await load('hash:ip', 'maxelem 10000', Array.from({ length: 5000 }, (_, i) => ip4(i)), 1);  // warm up outside the timing
  for (const n of sizes) {
    const l = await load('hash:ip', `hashsize ${Math.max(1024, 1 << Math.ceil(Math.log2(n)))} maxelem ${2 * n}`, Array.from({ length: n }, (_, i) => ip4(i)), args.reps);
    rows.push(row('load hash:ip, ipset.add(array)', n, 'entries', l.add, l.tool, '`ipset restore`', rate(n, median(l.add))));
    rows.push(row('load hash:ip, ipset.restore(text)', n, 'entries', l.restore, l.tool, '`ipset restore`', rate(n, median(l.restore))));
    tool.points.push([n, median(l.tool)]);
    add.points.push([n, median(l.add)]);
    restore.points.push([n, median(l.restore)]);
    console.error(`ipset: hash:ip ${fmtN(n)} done`);
  }
  for (const n of sizes.filter((s) => s <= 100_000)) {
    const l = await load('hash:ip,port', `hashsize ${Math.max(1024, 1 << Math.ceil(Math.log2(n)))} maxelem ${2 * n}`, Array.from({ length: n }, (_, i) => `${ip4(i)},tcp:${1 + (i % 60000)}`), args.reps);
    rows.push(row('load hash:ip,port, ipset.add(array)', n, 'entries', l.add, l.tool, '`ipset restore`', rate(n, median(l.add))));
    rows.push(row('load hash:ip,port, ipset.restore(text)', n, 'entries', l.restore, l.tool, '`ipset restore`', rate(n, median(l.restore))));
  }
  await small(args.quick, rows);
  console.error('ipset: done');
  return {
    id: 'ipset',
    title: 'ipset (`bench/ipset.ts`)',
    notes: [
      'Each load runs in a fresh network namespace: the tool gets the whole `create` + `add` text on stdin (`ip netns exec NS ipset restore`), ' +
      'nlkit gets the same entries as one array (`add`) or the same text (`restore`) on a handle bound to the namespace. ' +
      'Tool times include starting the process, as a script or agent pays it.',
    ],
    rows,
    charts: [{
      id: 'ipset', title: 'Loading a hash:ip set', subtitle: 'a fresh set per load; lower is better',
      xLabel: 'entries', yLabel: 'time', series: [tool, add, restore],
    }],
  };
}

await runStandalone(import.meta.url, run);
