// bench/link-setup: host set-up objects beside `ip -batch` of the same lines, each side in a
// fresh namespace: N veth pairs (h.add, one request each) and N permanent neighbour entries
// (h.neighbours.add, one call and one request each). Small by default (2 cores
// shared today); the sizes are --sizes 1000 (veth) and 10000 (neighbours).
// Usage: tsx bench/link-setup.ts [--reps N] [--sizes 200] [--json]
import { spawnSync } from 'node:child_process';
import { link } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';
import { fmtN, parseArgs, row, runStandalone, timed, type Row, type Section } from './common.js';

const batch = (ns: Netns, lines: string[]) => {
  const p = spawnSync('ip', ['-n', ns.name, '-batch', '-'], { input: lines.join('\n') + '\n' });
  if (p.status !== 0) throw new Error(`ip -batch: ${p.stderr}`);
};
const countLinks = (ns: Netns) => (JSON.parse(ns.run('ip', ['-j', 'link', 'show'])) as unknown[]).length;
const countNeigh = (ns: Netns) => (JSON.parse(ns.run('ip', ['-j', 'neigh', 'show'])) as unknown[]).length;
const mac = (i: number) => `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const ip4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** Times nlkit's calls in one fresh namespace and ip -batch's lines in another, `reps` times. */
async function compare(reps: number, prep: string[], ours: (h: link.LinkHandle) => Promise<void>, lines: string[],
  check: (ns: Netns) => void): Promise<{ ours: number[]; tool: number[] }> {
  const m = { ours: [] as number[], tool: [] as number[] };
  for (let r = 0; r < reps; r++) {
    const a = new Netns('bench');
    const h = link.open({ netns: a.path });
    try {
      if (prep.length) batch(a, prep);
      await h.list(); // start the handle's thread outside the timing
      m.ours.push(await timed(() => ours(h)));
      check(a);
    } finally {
      await h.close();
      a.remove();
    }
    const b = new Netns('bench');
    try {
      if (prep.length) batch(b, prep);
      m.tool.push(await timed(() => batch(b, lines)));
      check(b);
    } finally {
      b.remove();
    }
  }
  return m;
}

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  const sizes = args.list('--sizes') ?? [200];
  const rows: Row[] = [];
  for (const n of sizes) {
    const idx = Array.from({ length: n }, (_, i) => i);
    const veth = await compare(args.reps, [], async (h) => {
      for (const i of idx) await h.add({ name: `va${i}`, kind: 'veth', peer: { name: `vb${i}` } });
    }, idx.map((i) => `link add va${i} type veth peer name vb${i}`), (ns) => {
      if (countLinks(ns) !== 2 * n + 1) throw new Error('not every veth pair was made');
    });
    rows.push(row('veth pairs', n, 'pairs', veth.ours, veth.tool, '`ip -batch` of `link add ... type veth peer name ...` lines'));
    const prep = ['link add v0 up type veth peer name v1', 'link set v1 up'];
    const neigh = await compare(args.reps, prep, async (h) => {
      for (const i of idx) await h.neighbours.add({ dst: ip4(i + 256), lladdr: mac(i), dev: 'v0' });
    }, idx.map((i) => `neigh add ${ip4(i + 256)} lladdr ${mac(i)} dev v0`), (ns) => {
      if (countNeigh(ns) < n) throw new Error('not every neighbour was added');
    });
    rows.push(row('permanent neighbour entries', n, 'entries', neigh.ours, neigh.tool, '`ip -batch` of `neigh add` lines'));
    console.error(`link-setup: ${fmtN(n)} done`);
  }
  return {
    id: 'link-setup',
    title: 'Links and neighbours (`bench/link-setup.ts`)',
    notes: ['One call per object (no batch form for links and neighbours yet): each veth pair is one request; each neighbour one request whose link the worker resolves.'],
    rows,
    charts: [],
  };
}

await runStandalone(import.meta.url, run);
