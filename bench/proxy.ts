// bench/proxy: the example service proxy (examples/service-proxy) at scale, in a fresh namespace
// per mode and size: the cold start (an empty namespace to N services of 25 endpoints each, so
// 250k endpoints at 10k services) and then one changed endpoint, several times over (service 0's
// first endpoint moved, then back: each is one ServiceProxy.apply() one endpoint away from the
// last; the configs are parsed outside the timing). Wall and CPU time (process.cpuUsage(), which
// counts nlkit's worker threads, plus waited-for children). There is no system tool to run
// beside it: kube-proxy's own figures (from the nft issue, #13) are printed beside ours.
// The ipvs mode runs where the kernel has IPVS, else inside the qemu VM (scripts/vm/run.sh, one
// VM at a time under .scratch/vm.lock, NLKIT_VM_MEM MiB: 250k real servers need more than the
// default); its times there are under software emulation, comparable with each other only.
// Usage: tsx bench/proxy.ts [--quick] [--sizes 1000,10000,20000] [--modes nftables,iptables,ipvs]
//          [--changes 5] [--reps 3 (cold starts at 1k services; one above)] [--no-vm] [--json]
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceProxy, type Mode } from '../examples/service-proxy/proxy.js';
import { parseConfig } from '../examples/service-proxy/config.js';
import { Netns } from '../test/helpers/netns.js';
import { hostHasIpvs, inVm } from '../test/helpers/vm.js';
import { benchInVm, cpuNow, fmtN, fmtTime, median, parseArgs, row, runStandalone, type Row, type Section } from './common.js';

const ENDPOINTS = 25;
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** N tcp services on 10.96.0.0/12 port 80, 25 endpoints each on 10.128.0.0/9 port 8080; `moved`: service 0's first endpoint elsewhere. */
function configFor(n: number, moved = false): object {
  const ip = (base: number, i: number) => `10.${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const services = [];
  for (let s = 0; s < n; s++) {
    const endpoints = [];
    for (let k = 0; k < ENDPOINTS; k++) endpoints.push({ address: moved && s === 0 && k === 0 ? '10.255.255.1' : ip(128, s * ENDPOINTS + k), port: 8080 });
    services.push({ name: `default/svc-${s}:http`, protocol: 'tcp', address: ip(96, s + 1), port: 80, endpoints });
  }
  return { clusterCIDR: '10.128.0.0/9', services };
}

interface Measured { wall: number; cpu: number; load: number }

async function measure(fn: () => Promise<unknown>): Promise<Measured> {
  const c0 = cpuNow(), t0 = performance.now();
  await fn();
  return { wall: performance.now() - t0, cpu: cpuNow() - c0, load: loadavg()[0]! };
}

/** kube-proxy's figures as the nft issue (#13) quotes them (other machines, the whole agent): beside our rows, never divided by them. */
const KUBE_PROXY: Record<string, { cold?: string; change?: string }> = {
  10000: {
    cold: 'kube-proxy nftables mode: 10k services programmed in 9 min (kubernetes PR #126013)',
    change: 'kube-proxy nftables mode: 5,006 services with 250k endpoints, 13 min per sync (#135639)',
  },
  20000: { cold: 'kube-proxy: 44k services in 16m44s (#139513)' },
};

const spread = (xs: number[]) => (xs.length > 1 ? ` (${fmtTime(Math.min(...xs))}-${fmtTime(Math.max(...xs))}, ${xs.length} runs)` : '');

function rowsFor(mode: Mode, n: number, cold: Measured[], changes: Measured[]): Row[] {
  const note = (ms: Measured[]) => {
    const cpu = ms.map((m) => m.cpu);
    return `${mode}; CPU ${fmtTime(median(cpu))}${spread(cpu)}; load ${Math.min(...ms.map((m) => m.load)).toFixed(1)}-${Math.max(...ms.map((m) => m.load)).toFixed(1)}`;
  };
  const kp = KUBE_PROXY[n] ?? {};
  return [
    row(`${mode}: cold start, ${fmtN(n * ENDPOINTS)} endpoints`, n, 'services', cold.map((m) => m.wall), undefined, kp.cold, note(cold)),
    row(`${mode}: one changed endpoint`, n, 'services', changes.map((m) => m.wall), undefined, kp.change, note(changes)),
  ];
}

/** One mode at one size, in a fresh namespace per cold start. */
async function runMode(mode: Mode, n: number, reps: number, changeRounds: number): Promise<Row[]> {
  const cold: Measured[] = [], changes: Measured[] = [];
  const configs = [parseConfig(configFor(n)), parseConfig(configFor(n, true))];
  for (let r = 0; r < reps; r++) {
    const ns = new Netns('proxy');
    try {
      const proxy = new ServiceProxy({ mode, netns: ns.name, log: () => {}, wait: 30_000 });
      cold.push(await measure(() => proxy.apply(configs[0]!)));
      // Only after the last cold start: the changes need one namespace, and the next cold start a fresh one.
      if (r === reps - 1) for (let c = 1; c <= changeRounds; c++) changes.push(await measure(() => proxy.apply(configs[c % 2]!)));
    } finally {
      ns.remove();
    }
    const m = cold.at(-1)!;
    console.error(`proxy: ${mode} ${fmtN(n)} services: cold ${fmtTime(m.wall)} (CPU ${fmtTime(m.cpu)})`);
  }
  console.error(`proxy: ${mode} ${fmtN(n)} services: one endpoint ${changes.map((m) => `${fmtTime(m.wall)} (CPU ${fmtTime(m.cpu)})`).join(', ')}`);
  return rowsFor(mode, n, cold, changes);
}

function commit(): string {
  const git = (a: string[]) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  return `${git(['rev-parse', '--short', 'HEAD']) || 'unknown'}${git(['status', '--porcelain', '--untracked-files=no']) ? ' + uncommitted changes' : ''}`;
}

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  const sizes = args.list('--sizes') ?? (args.quick ? [1000] : [1000, 10_000, 20_000]);
  const modes = (args.value('--modes')?.split(',') ?? ['nftables', 'iptables', 'ipvs']) as Mode[];
  const changeRounds = Number(args.value('--changes') ?? (args.quick ? 3 : 5));
  // Cold starts take minutes at 10k services: repeated at the small size only, unless asked.
  const repsAt = (n: number) => (args.value('--reps') ? args.reps : n <= 1000 ? 3 : 1);
  const rows: Row[] = [];
  const started = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const load0 = loadavg()[0]!;
  const notes: string[] = [];
  for (const mode of modes) {
    if (mode === 'ipvs' && !hostHasIpvs()) {
      if (inVm()) throw new Error('no IPVS inside the VM either');
      if (args.has('--no-vm') || process.env.NLKIT_VM_SKIP === '1') {
        notes.push('The ipvs mode was not measured: no IPVS in this kernel and the VM was turned off.');
        continue;
      }
      const pass = ['--sizes', sizes.join(','), '--changes', String(changeRounds), ...(args.value('--reps') ? ['--reps', String(args.reps)] : [])];
      const vm = await benchInVm('bench/proxy.ts', [...pass, '--modes', 'ipvs'],
        { NLKIT_VM_TIMEOUT: process.env.NLKIT_VM_TIMEOUT ?? '3600', NLKIT_VM_MEM: process.env.NLKIT_VM_MEM ?? '6144' });
      rows.push(...vm.rows);
      notes.push(...vm.notes.filter((l) => l.startsWith('ipvs mode')));
      continue;
    }
    for (const n of sizes) {
      try {
        rows.push(...await runMode(mode, n, repsAt(n), changeRounds));
      } catch (e) {
        // A limit reached (the kernel refusing a table too large) is a result too.
        const msg = (e as Error).message.split('\n')[0]!;
        console.error(`proxy: ${mode} ${fmtN(n)} services failed: ${msg}`);
        rows.push(row(`${mode}: cold start, ${fmtN(n * ENDPOINTS)} endpoints`, n, 'services', undefined, undefined, KUBE_PROXY[n]?.cold, `${mode}; refused: ${msg}`));
      }
    }
  }
  if (inVm()) notes.push(`ipvs mode inside the qemu VM (software emulation, 1 vCPU, Debian's kernel ${spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim()}): its wall and CPU times are the guest's, several times the host's; compare them with each other only.`);
  return {
    id: 'proxy',
    title: 'Service proxy (`bench/proxy.ts`)',
    notes: [
      `The example proxy (examples/service-proxy) in a fresh namespace per mode, size and cold start: N tcp services of ${ENDPOINTS} endpoints each. ` +
      `Cold start: an empty namespace to all N services, one ServiceProxy.apply() (the median of ${repsAt(1000)} at 1,000 services, one above); then ` +
      `${changeRounds} changes of one endpoint (moved, then back), each one apply(), median with the range. nlkit column: wall time; the CPU time (user + system of ` +
      'the process and its worker threads) is in each row\'s note, and is the figure to compare on a shared machine. kube-proxy cannot run here: its figures ' +
      `as the nft issue quotes them are in the tool column, for reading beside ours (other machines, the whole agent), not divided by them. Run ${started} UTC, ` +
      `commit ${commit()}, load average ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end.`,
      ...notes,
    ],
    rows,
    charts: [],
  };
}

await runStandalone(import.meta.url, run);
