// What every benchmark shares: the structured rows and chart series a run returns (bench/run.ts
// renders them into bench/results.md and bench/charts/*.svg), timing helpers, the command
// line, and running a benchmark file on its own.
import { performance } from 'node:perf_hooks';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { iptables } from '../lib/index.js';
import { Netns, kernelSkipReason } from '../test/helpers/netns.js';

/** One measurement: nlkit and, where there is one, the system tool on the same work in the same run. */
export interface Row {
  /** What was measured. */
  case: string;
  /** The scale: entries, services, items (absent for one-off measurements). */
  n?: number;
  /** What `n` counts ('entries', 'services', ...). */
  unit?: string;
  /** nlkit's median, in milliseconds. */
  nlkit?: number;
  /** The system tool's median, in milliseconds. */
  tool?: number;
  /** How the tool was run, e.g. '`ipset restore`'. */
  toolName?: string;
  /** Every repetition, in milliseconds. */
  nlkitRuns?: number[];
  toolRuns?: number[];
  note?: string;
}

export interface Series {
  name: string;
  /** [scale, milliseconds] */
  points: [number, number][];
  dashed?: boolean;
  /** A point the series could not reach within its time cap: drawn as an open marker at the cap. */
  capped?: [number, number];
}

export interface ChartSpec {
  /** File name under bench/charts/, without .svg. */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** One line under the title (e.g. what was emulated). */
  subtitle?: string;
}

export interface Section {
  id: string;
  title: string;
  /** Markdown paragraphs shown above the table. */
  notes: string[];
  rows: Row[];
  charts: ChartSpec[];
  /** 'compare' (default): nlkit against the tool; 'cost': nlkit alone, per call or item and in total. */
  layout?: 'compare' | 'cost';
}

export interface BenchOptions {
  quick: boolean;
  /** Repetitions per measurement; the median is reported. */
  reps: number;
}

export function parseArgs(argv = process.argv.slice(2)) {
  const quick = argv.includes('--quick');
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = (name: string) => value(name)?.split(',').map(Number);
  return { quick, reps: Number(value('--reps') ?? (quick ? 1 : 3)), value, list, has: (name: string) => argv.includes(name) };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * With NLKIT_BENCH_CPU=1, timed() and timedShell() return CPU time instead of wall time: this
 * process's user + system (nlkit's worker threads included) plus that of the children it waited
 * for (the tools; /proc/self/stat, 10 ms ticks). For comparisons on a busy machine, where wall
 * time mostly measures the other load (the before/after runs of issue #12 use it).
 */
const CPU_MODE = process.env.NLKIT_BENCH_CPU === '1';

/**
 * CPU ms of this process and its waited-for children, so far.
 * @example const c0 = cpuNow(); await work(); console.log(`${cpuNow() - c0} ms CPU`);
 */
export function cpuNow(): number {
  const c = process.cpuUsage();
  // Fields after the command name: cutime and cstime are the 14th and 15th (1-based from state).
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (c.user + c.system) / 1000 + (Number(f[13]) + Number(f[14])) * 10;
}

export async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  if (CPU_MODE) {
    const c0 = cpuNow();
    await fn();
    return cpuNow() - c0;
  }
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** A duration given in milliseconds, in the unit that keeps 3 significant digits readable. */
export function fmtTime(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 0.001) return `${(ms * 1e6).toPrecision(3)} ns`;
  if (ms < 1) return `${(ms * 1e3).toPrecision(3)} µs`;
  if (ms < 10_000) return `${ms < 100 ? ms.toPrecision(3) : ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export const fmtN = (n: number) => n.toLocaleString('en');

export function fmtRatio(tool: number, nlkit: number): string {
  const r = tool / nlkit;
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** A row from repetitions: medians of both sides. */
export function row(c: string, n: number | undefined, unit: string | undefined, nlkitRuns: number[] | undefined, toolRuns?: number[], toolName?: string, note?: string): Row {
  const r: Row = { case: c };
  if (n !== undefined) r.n = n;
  if (unit !== undefined) r.unit = unit;
  if (nlkitRuns?.length) { r.nlkitRuns = nlkitRuns; r.nlkit = median(nlkitRuns); }
  if (toolRuns?.length) { r.toolRuns = toolRuns; r.tool = median(toolRuns); }
  if (toolName !== undefined) r.toolName = toolName;
  if (note !== undefined) r.note = note;
  return r;
}

/** A section's rows as a markdown table: medians and tool time / nlkit time (> 1: nlkit is faster). */
export function markdownTable(rows: Row[]): string {
  const out = ['| case | scale | nlkit | system tool | tool time | ratio (tool / nlkit) |', '|---|---:|---:|---|---:|---:|'];
  for (const r of rows) {
    const scale = r.n === undefined ? '' : `${fmtN(r.n)}${r.unit ? ` ${r.unit}` : ''}`;
    const ratio = r.nlkit !== undefined && r.tool !== undefined ? fmtRatio(r.tool, r.nlkit) : '';
    const note = r.note ? ` (${r.note})` : '';
    out.push(`| ${r.case}${note} | ${scale} | ${r.nlkit === undefined ? '' : fmtTime(r.nlkit)} | ${r.toolName ?? ''} | ${r.tool === undefined ? '' : fmtTime(r.tool)} | ${ratio} |`);
  }
  return out.join('\n');
}

/** Rows whose nlkit figure is a cost per call or item: that, the count, and the total of one run. */
export function costTable(rows: Row[]): string {
  const out = ['| what | count | per call or item | whole run |', '|---|---:|---:|---:|'];
  for (const r of rows) {
    out.push(`| ${r.case}${r.note ? ` (${r.note})` : ''} | ${r.n === undefined ? '' : `${fmtN(r.n)} ${r.unit ?? ''}`} | ${r.nlkit === undefined ? '' : fmtTime(r.nlkit)} | ${r.nlkit === undefined || r.n === undefined ? '' : fmtTime(r.nlkit * r.n)} |`);
  }
  return out.join('\n');
}

export function sectionMarkdown(s: Section, level = 2): string {
  const table = s.layout === 'cost' ? costTable(s.rows) : markdownTable(s.rows);
  return [`${'#'.repeat(level)} ${s.title}`, '', ...s.notes.flatMap((n) => [n, '']), table, ''].join('\n');
}

/** Runs a shell script (given on stdin) inside a namespace, killed after capMs; null when it did not finish in time. */
export function timedShell(nsName: string, script: string, capMs: number): number | null {
  const t0 = performance.now(), c0 = CPU_MODE ? cpuNow() : 0;
  const r = spawnSync('ip', ['netns', 'exec', nsName, 'timeout', '--foreground', '-k', '5', String(Math.ceil(capMs / 1000)), 'sh', '-e'], {
    input: script, encoding: 'utf8', maxBuffer: 1 << 26,
  });
  const t = CPU_MODE ? cpuNow() - c0 : performance.now() - t0;
  if (r.status === 124 || r.status === 137) return null;
  if (r.status !== 0) throw new Error(`shell script in ${nsName} failed (${r.status ?? r.signal}): ${r.stderr.slice(0, 2000)}`);
  return t;
}

/** Exits with a reason when benchmarks cannot run here (they need root to make namespaces); on Ctrl-C removes the namespaces this process made. */
export function prepareToRun(): void {
  const why = kernelSkipReason();
  if (why) {
    console.error(`bench: cannot run: ${why}`);
    process.exit(1);
  }
  const mine = new RegExp(`^nlkit-\\w+-${process.pid}-\\d+$`);
  const cleanUp = (signal: NodeJS.Signals) => {
    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    for (const name of list.split('\n').map((l) => l.split(' ')[0]!).filter((n) => mine.test(n))) spawnSync('ip', ['netns', 'del', name]);
    console.error(`bench: stopped by ${signal}`);
    process.exit(130);
  };
  process.once('SIGINT', cleanUp);
  process.once('SIGTERM', cleanUp);
}

/** When a bench file is run directly (`tsx bench/x.ts [--quick] [--json]`): run it and print its section. */
export async function runStandalone(moduleUrl: string, run: (argv: ReturnType<typeof parseArgs>) => Promise<Section>): Promise<void> {
  if (!process.argv[1] || pathToFileURL(process.argv[1]).href !== moduleUrl) return;
  prepareToRun();
  const args = parseArgs();
  const section = await run(args);
  if (args.has('--json')) console.log(JSON_MARKER + JSON.stringify(section));
  else console.log(sectionMarkdown(section));
}

/** Prefix of the stdout line that carries a section as JSON (bench/ipvs.ts inside the VM). */
export const JSON_MARKER = 'NLKIT-BENCH-JSON ';

/**
 * A bench file run with `--json` inside the qemu VM (scripts/vm/run.sh), one VM at a time (the
 * lock other users of the VM take too); its section comes back as JSON on stdout.
 * @example const section = await benchInVm('bench/ipvs.ts', ['--quick'], { NLKIT_VM_TIMEOUT: '1200' });
 */
export function benchInVm(file: string, argv: string[], env: Record<string, string>): Promise<Section> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const lock = process.env.NLKIT_VM_LOCK ?? join(root, '.scratch', 'vm.lock');
  mkdirSync(dirname(lock), { recursive: true });
  const child = spawn('flock', [lock, 'bash', join(root, 'scripts/vm/run.sh'), 'node', '--import', 'tsx', resolve(root, file), '--json', ...argv],
    { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  return new Promise((done, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(JSON_MARKER));
      if (code === 0 && line) done(JSON.parse(line.slice(JSON_MARKER.length)) as Section);
      else reject(new Error(`${file} in the VM exited ${code}${line ? '' : ' without results'}: ${out.slice(-2000)}`));
    });
  });
}

/**
 * Runs fn in a fresh throwaway namespace, removed after (also when fn throws).
 * @example const n = await inNetns((ns) => ns.run('iptables-nft-save', []).length);
 */
export async function inNetns<T>(fn: (ns: Netns) => T | Promise<T>): Promise<T> {
  const ns = new Netns('bench');
  try {
    return await fn(ns);
  } finally {
    ns.remove();
  }
}

/**
 * Runs fn with an iptables handle of that backend in a fresh throwaway namespace; the handle is
 * closed and the namespace removed after.
 * @example await withIptables('nft', (h) => h.restore(text));
 */
export function withIptables<T>(backend: 'legacy' | 'nft', fn: (h: ReturnType<typeof iptables.open>, ns: Netns) => Promise<T>): Promise<T> {
  return inNetns(async (ns) => {
    const h = iptables.open({ netns: ns.path, backend });
    try {
      return await fn(h, ns);
    } finally {
      await h.close();
    }
  });
}

/**
 * The tool and nlkit take turns going first (`r` even: the tool), so that neither always
 * follows the other's namespace teardown.
 * @example for (let r = 0; r < reps; r++) await inTurns(r, tool, () => lib(r));
 */
export async function inTurns(r: number, tool: () => unknown, lib: () => unknown): Promise<void> {
  for (const side of r % 2 === 0 ? [tool, lib] : [lib, tool]) await side();
}
