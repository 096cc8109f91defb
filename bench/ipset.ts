// bench/ipset: nlkit against `ipset restore` on the same entries, in one run, in throwaway
// namespaces. Prints entries per second and ratios (higher ratio = nlkit faster).
// Usage: tsx bench/ipset.ts [--quick]
import { performance } from 'node:perf_hooks';
import { ipset } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';

const quick = process.argv.includes('--quick');
const scale = quick ? 10 : 1;
const REPS = quick ? 1 : 3;

const ip4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: string[][] = [];

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function load(label: string, type: string, createOpts: string, entries: string[]) {
  const n = entries.length;
  const text = [`create s ${type} ${createOpts}`, ...entries.map((e) => `add s ${e}`)].join('\n') + '\n';
  const tool: number[] = [], lib: number[] = [], libRestore: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const a = new Netns('bench');
    try {
      tool.push(await timed(() => a.run('ipset', ['restore'], text)));
    } finally {
      a.remove();
    }
    const b = new Netns('bench');
    const h = ipset.open({ netns: b.path });
    try {
      lib.push(await timed(async () => {
        await h.create('s', type as ipset.SetType, optsOf(createOpts));
        await h.add('s', entries);
      }));
      const got = (await h.list('s', { members: false })).numEntries;
      if (got !== n) throw new Error(`nlkit loaded ${got} of ${n}`);
      await h.destroy('s');
      libRestore.push(await timed(() => h.restore(text)));
    } finally {
      await h.close();
      b.remove();
    }
  }
  const eps = (ms: number) => Math.round(n / (median([ms]) / 1000));
  const t = median(tool), l = median(lib), lr = median(libRestore);
  rows.push([`${label}: ${n.toLocaleString('en')} entries, ipset.add(array)`, `${l.toFixed(0)} ms`, `${eps(l).toLocaleString('en')}/s`, `${t.toFixed(0)} ms (${eps(t).toLocaleString('en')}/s)`, `${(t / l).toFixed(2)}×`]);
  rows.push([`${label}: ${n.toLocaleString('en')} entries, ipset.restore(text)`, `${lr.toFixed(0)} ms`, `${eps(lr).toLocaleString('en')}/s`, `${t.toFixed(0)} ms (${eps(t).toLocaleString('en')}/s)`, `${(t / lr).toFixed(2)}×`]);
}

function optsOf(s: string): ipset.CreateOptions {
  const o: Record<string, number> = {};
  const parts = s.split(/\s+/).filter(Boolean);
  for (let i = 0; i < parts.length; i += 2) o[parts[i]!] = Number(parts[i + 1]);
  return o;
}

async function small() {
  const ns = new Netns('bench');
  const h = ipset.open({ netns: ns.path });
  try {
    const base = Array.from({ length: 10_000 }, (_, i) => ip4(i));
    await h.create('a', 'hash:ip');
    await h.create('b', 'hash:ip');
    await h.add('a', base);
    const swaps = quick ? 200 : 2000;
    for (let i = 0; i < 50; i++) await h.swap('a', 'b');
    const ts = await timed(async () => { for (let i = 0; i < swaps; i++) await h.swap('a', 'b'); });
    const toolSwap = median(Array.from({ length: 6 }, () => performance.now()).map(() => {
      const t0 = performance.now(); ns.run('ipset', ['swap', 'a', 'b']); return performance.now() - t0;
    }));
    const tp = await timed(() => Promise.all(Array.from({ length: swaps }, () => h.swap('a', 'b'))));
    rows.push([`swap two sets, each awaited before the next (mean of ${swaps})`, `${((ts / swaps) * 1000).toFixed(1)} µs`, '', `${(toolSwap * 1000).toFixed(0)} µs (\`ipset swap\` process)`, `${(toolSwap / (ts / swaps)).toFixed(0)}×`]);
    rows.push([`swap two sets, ${swaps} calls in flight (mean)`, `${((tp / swaps) * 1000).toFixed(1)} µs`, '', `${(toolSwap * 1000).toFixed(0)} µs (\`ipset swap\` process)`, `${(toolSwap / (tp / swaps)).toFixed(0)}×`]);
    const changes: number[] = [];
    for (let r = 0; r < (quick ? 20 : 200); r++) {
      const adds = Array.from({ length: 50 }, (_, i) => ip4(100_000 + r * 50 + i));
      const dels = Array.from({ length: 50 }, (_, i) => ip4(r * 50 + i));
      changes.push(await timed(async () => { await h.add('a', adds); await h.del('a', dels); }));
      await h.swap('a', 'b'); await h.swap('a', 'b');
    }
    const toolChange = median([0, 1, 2].map((r) => {
      const text = Array.from({ length: 50 }, (_, i) => `add a ${ip4(900_000 + r * 50 + i)}`).concat(Array.from({ length: 50 }, (_, i) => `del a ${ip4(100_000 + r * 50 + i)}`)).join('\n') + '\n';
      const t0 = performance.now(); ns.run('ipset', ['restore'], text); return performance.now() - t0;
    }));
    const c = median(changes);
    rows.push(['100-entry change (50 add + 50 del) on a 10k set, median', `${(c * 1000).toFixed(0)} µs`, '', `${(toolChange * 1000).toFixed(0)} µs (\`ipset restore\`)`, `${(toolChange / c).toFixed(1)}×`]);
  } finally {
    await h.close();
    ns.remove();
  }
}

const N1 = 1_000_000 / scale, N2 = 100_000 / scale;
await load('hash:ip', 'hash:ip', `hashsize ${1 << 20} maxelem ${2 * N1}`, Array.from({ length: N1 }, (_, i) => ip4(i)));
await load('hash:ip,port', 'hash:ip,port', `hashsize ${1 << 17} maxelem ${2 * N2}`, Array.from({ length: N2 }, (_, i) => `${ip4(i)},tcp:${1 + (i % 60000)}`));
await small();

console.log(`\nnlkit ipset benchmark (${quick ? 'quick' : 'full'}, median of ${REPS}), ${new Date().toISOString().slice(0, 10)}\n`);
console.log('| case | nlkit | nlkit rate | ipset tool | ratio (tool time / nlkit time) |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
