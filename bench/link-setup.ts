// bench/link-setup: host set-up objects beside `ip -batch` of the same lines, each side in a
// fresh namespace, interleaved (ip, nlkit, ip, nlkit, ...): N veth pairs, N routes and N
// permanent neighbour entries (h.add, h.routes.add and h.neighbours.add of the list: one
// crossing, requests pipelined). Wall and CPU time (user +
// system: the ip child's from /proc/self/stat, nlkit's from process.cpuUsage, which counts
// the handle's thread). Sizes: the 1,000 veth pairs, 10,000 routes and neighbours
// (quick: 100 and 1,000).
// Usage: tsx bench/link-setup.ts [--quick] [--reps N] [--json]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { link } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';
import { fmtN, fmtTime, median, parseArgs, row, runStandalone, type Row, type Section } from './common.js';

const TICK_MS = 10; // USER_HZ is 100 on Linux: /proc times count hundredths of a second

/** CPU time (ms) of this process's reaped children: utime + stime of every waited-for child. */
function childCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_MS; // cutime, cstime (fields 16 and 17)
}

const ownCpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

const batch = (ns: Netns, lines: string[]) => {
  const p = spawnSync('ip', ['-n', ns.name, '-batch', '-'], { input: lines.join('\n') + '\n', maxBuffer: 1 << 26 });
  if (p.status !== 0) throw new Error(`ip -batch: ${String(p.stderr).slice(0, 500)}`);
};
const count = (ns: Netns, what: string[]) => (JSON.parse(ns.run('ip', ['-j', ...what])) as unknown[]).length;
const mac = (i: number) => `02:00:00:${[16, 8, 0].map((s) => ((i >> s) & 255).toString(16).padStart(2, '0')).join(':')}`;
const ip4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

interface Runs { wall: number[]; cpu: number[] }
const runs = (): Runs => ({ wall: [], cpu: [] });

/** One case `reps` times, interleaved: ip -batch of `lines` in a fresh namespace, then nlkit's `ours` in another. */
async function compare(reps: number, prep: string[], ours: (h: link.LinkHandle) => Promise<void>, lines: string[],
  check: (ns: Netns) => void): Promise<{ ours: Runs; tool: Runs }> {
  const m = { ours: runs(), tool: runs() };
  for (let r = 0; r < reps; r++) {
    const b = new Netns('bench');
    try {
      if (prep.length) batch(b, prep);
      const c0 = childCpu(), t0 = performance.now();
      batch(b, lines);
      m.tool.wall.push(performance.now() - t0);
      m.tool.cpu.push(childCpu() - c0);
      check(b);
    } finally {
      b.remove();
    }
    const a = new Netns('bench');
    const h = link.open({ netns: a.path });
    try {
      if (prep.length) batch(a, prep);
      await h.list(); // start the handle's thread outside the timing
      const c0 = ownCpu(), t0 = performance.now();
      await ours(h);
      m.ours.wall.push(performance.now() - t0);
      m.ours.cpu.push(ownCpu() - c0);
      check(a);
    } finally {
      await h.close();
      a.remove();
    }
  }
  return m;
}

const cpuNote = (m: { ours: Runs; tool: Runs }) =>
  `CPU user+sys: nlkit ${fmtTime(median(m.ours.cpu))}, ip ${fmtTime(median(m.tool.cpu))}`;

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  const [nVeth, nMany] = args.list('--sizes') ?? (args.quick ? [100, 1000] : [1000, 10_000]);
  const rows: Row[] = [];
  const prep = ['link add v0 up type veth peer name v1', 'link set v1 up'];

  const iv = Array.from({ length: nVeth! }, (_, i) => i);
  const veth = await compare(args.reps, [], (h) => h.add(iv.map((i) => ({ name: `va${i}`, kind: 'veth' as const, peer: { name: `vb${i}` } }))), iv.map((i) => `link add va${i} type veth peer name vb${i}`), (ns) => {
    if (count(ns, ['link', 'show']) !== 2 * nVeth! + 1) throw new Error('not every veth pair was made');
  });
  rows.push(row('veth pairs, one h.add of the list', nVeth, 'pairs', veth.ours.wall, veth.tool.wall, '`ip -batch` of `link add ... type veth peer name ...` lines', cpuNote(veth)));
  console.error(`link-setup: ${fmtN(nVeth!)} veth pairs done`);

  const im = Array.from({ length: nMany! }, (_, i) => i);
  const routes = im.map((i) => ({ dst: `${ip4(i + 256)}/32`, dev: 'v0' }));
  const rt = await compare(args.reps, prep, (h) => h.routes.add(routes), routes.map((r) => `route add ${r.dst} dev v0`), (ns) => {
    if (count(ns, ['route', 'show']) < nMany!) throw new Error('not every route was added');
  });
  rows.push(row('routes through a veth, one h.routes.add of the list', nMany, 'routes', rt.ours.wall, rt.tool.wall, '`ip -batch` of `route add` lines', cpuNote(rt)));
  console.error(`link-setup: ${fmtN(nMany!)} routes done`);

  const neigh = im.map((i) => ({ dst: ip4(i + 256), lladdr: mac(i), dev: 'v0' }));
  const ne = await compare(args.reps, prep, (h) => h.neighbours.add(neigh), neigh.map((n) => `neigh add ${n.dst} lladdr ${n.lladdr} dev v0`), (ns) => {
    if (count(ns, ['neigh', 'show']) < nMany!) throw new Error('not every neighbour was added');
  });
  rows.push(row('permanent neighbour entries, one h.neighbours.add of the list', nMany, 'entries', ne.ours.wall, ne.tool.wall, '`ip -batch` of `neigh add` lines', cpuNote(ne)));
  console.error(`link-setup: ${fmtN(nMany!)} neighbours done`);
  return {
    id: 'link-setup',
    title: 'Links, routes and neighbours (`bench/link-setup.ts`)',
    notes: ['Each side in a fresh namespace, interleaved (`ip -batch`, nlkit, ...). ' +
      'One call with the whole list, whose requests go to the kernel pipelined in one crossing; `ip -batch` ' +
      'sends a line and waits for its acknowledgement before the next. CPU time is user + system: the `ip` child\'s and nlkit\'s whole process (its threads included).'],
    rows,
    charts: [],
  };
}

await runStandalone(import.meta.url, run);
