// bench/progress: does onProgress slow a bulk load? One run, interleaved per repetition:
// `ipset restore` of 1M entries (the tool, for scale), nlkit's add of the same entries without a
// callback, and with one; each load in a fresh throwaway namespace. Wall time and CPU time
// (user+system: the tool's from /usr/bin/time, nlkit's from process.cpuUsage(), which counts its
// worker thread) as medians, and the load average.
// Usage: tsx bench/progress.ts [--reps N] [--n 1000000]
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { ipset, type Progress } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';
import { median } from './common.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 1_000_000);
const REPS = arg('reps', 5);
const ip4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const CREATE = `hashsize 1048576 maxelem ${2 * N}`;

interface Sample { wall: number; cpu: number }

function tool(text: string): Sample {
  const ns = new Netns('bench');
  try {
    const t0 = performance.now();
    const r = spawnSync('ip', ['netns', 'exec', ns.name, '/usr/bin/time', '-f', '%U %S', 'ipset', 'restore'], { input: text, encoding: 'utf8', maxBuffer: 1 << 30 });
    const wall = performance.now() - t0;
    if (r.status !== 0) throw new Error(`ipset restore failed: ${r.stderr}`);
    const [u, s] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    return { wall, cpu: (u! + s!) * 1000 };
  } finally {
    ns.remove();
  }
}

async function nlkit(entries: string[], withProgress: boolean): Promise<Sample & { reports: number }> {
  const ns = new Netns('bench');
  const h = ipset.open({ netns: ns.path });
  try {
    await h.create('s', 'hash:ip', { hashsize: 1 << 20, maxelem: 2 * N });
    const seen: Progress[] = [];
    const opts = withProgress ? { onProgress: (p: Progress) => { seen.push(p); } } : {};
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await h.add('s', entries, opts);
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return { wall, cpu: (c.user + c.system) / 1000, reports: seen.length };
  } finally {
    await h.close();
    ns.remove();
  }
}

const entries = Array.from({ length: N }, (_, i) => ip4(i));
const text = [`create s hash:ip ${CREATE}`, ...entries.map((e) => `add s ${e}`)].join('\n') + '\n';
const runs = { tool: [] as Sample[], plain: [] as Sample[], progress: [] as Sample[] };
const reports: number[] = [];
const load0 = loadavg();
for (let rep = 0; rep < REPS; rep++) {
  runs.tool.push(tool(text));
  runs.plain.push(await nlkit(entries, false));
  const p = await nlkit(entries, true);
  runs.progress.push(p);
  reports.push(p.reports);
}
const load1 = loadavg();
const fmt = (xs: Sample[]) => `wall ${median(xs.map((x) => x.wall)).toFixed(0)} ms, cpu ${median(xs.map((x) => x.cpu)).toFixed(0)} ms`;
console.log(`${N} entries, hash:ip, ${REPS} reps interleaved; load average ${load0.map((x) => x.toFixed(1)).join(' ')} -> ${load1.map((x) => x.toFixed(1)).join(' ')}`);
console.log(`ipset restore        ${fmt(runs.tool)}`);
console.log(`nlkit add            ${fmt(runs.plain)}`);
console.log(`nlkit add+onProgress ${fmt(runs.progress)}  (reports per load: ${reports.join(', ')})`);
const ratio = (k: 'wall' | 'cpu') => median(runs.progress.map((x) => x[k])) / median(runs.plain.map((x) => x[k]));
console.log(`with/without onProgress: wall ${ratio('wall').toFixed(3)}x, cpu ${ratio('cpu').toFixed(3)}x`);
console.log('per rep (wall ms) tool / plain / progress: ' + runs.tool.map((t, i) => `${t.wall.toFixed(0)}/${runs.plain[i]!.wall.toFixed(0)}/${runs.progress[i]!.wall.toFixed(0)}`).join('  '));
