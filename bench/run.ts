// `npm run bench` / `npm run bench:quick`: every benchmark of bench/, each side by side with
// the system tool in the same run, then bench/results.md (tables of medians and ratios, the
// machine and the mode), bench/results.json (every repetition) and bench/charts/*.svg.
// IPVS runs on the host where its kernel has IPVS, else inside the qemu VM (scripts/vm/run.sh).
// Usage: tsx bench/run.ts [--quick] [--only napi,ipset,iptables,nft,link,link-setup,conntrack,ipvs] [--reps N] [--no-vm] [--readme] [--from-json]
//   --readme     also writes the results into README.md, between its bench:results markers
//   --from-json  runs nothing: renders bench/results.json (the last run) again
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchInVm, parseArgs, prepareToRun, sectionMarkdown, type ChartSpec, type Section } from './common.js';
import { lineChart } from './svg.js';
import { Netns } from '../test/helpers/netns.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
// run order: the VM last, so the host measurements do not share the cores with it
const ORDER = ['napi', 'ipset', 'iptables', 'nft', 'link', 'link-setup', 'conntrack', 'ipvs'] as const;
// shown in this order, the headline first
const SHOWN = ['iptables', 'ipvs', 'ipset', 'nft', 'conntrack', 'link', 'link-setup', 'napi'] as const;
type Name = (typeof ORDER)[number];
const PER_IPVS = 5;  // real servers per service in bench/ipvs.ts

const args = parseArgs();
const only = (args.value('--only')?.split(',') ?? [...ORDER]) as Name[];
for (const n of only) if (!ORDER.includes(n)) throw new Error(`--only: unknown benchmark ${n} (known: ${ORDER.join(', ')})`);
const passOn = [...(args.quick ? ['--quick'] : []), ...(args.value('--reps') ? ['--reps', args.value('--reps')!] : [])];

/** Whether IPVS works here: ipvsadm in a throwaway namespace (it loads the module where there is one). */
function hostHasIpvs(): boolean {
  const ns = new Netns('probe');
  try {
    return ns.try('ipvsadm', ['-Ln']).status === 0;
  } finally {
    ns.remove();
  }
}

/** bench/ipvs.ts inside the VM. */
function ipvsInVm(): Promise<Section> {
  return benchInVm('bench/ipvs.ts', passOn, { NLKIT_VM_TIMEOUT: process.env.NLKIT_VM_TIMEOUT ?? (args.quick ? '1200' : '5400') });
}

async function runOne(name: Name): Promise<Section> {
  if (name === 'ipvs' && !hostHasIpvs()) {
    if (args.has('--no-vm') || process.env.NLKIT_VM_SKIP === '1') throw new Error('the host kernel has no IPVS and the VM is turned off (--no-vm / NLKIT_VM_SKIP=1)');
    return ipvsInVm();
  }
  const mod = (await import(`./${name}.js`)) as { run: (a: typeof args) => Promise<Section> };
  return mod.run(args);
}

function machine(): string {
  const cpu = cpus();
  const debian = existsSync('/etc/debian_version') ? `Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}` : 'not Debian';
  const kernel = spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim();
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), kernel ${kernel}, ${debian}, Node ${process.version}`;
}

/** The IPVS lines joined to the iptables chart, dashed and labelled with where they were measured. */
function combined(iptablesChart: ChartSpec, ipvs: Section | undefined): ChartSpec {
  const c = ipvs?.charts[0];
  if (!c) return iptablesChart;
  const vm = ipvs!.notes.join(' ').includes('qemu');
  const extra = c.series.slice(1).map((s) => ({ ...s, dashed: true, name: `IPVS${vm ? ' in qemu' : ''}, ${PER_IPVS} real servers per service: ${s.name}` }));
  const subtitle = vm ? `${iptablesChart.subtitle}; dashed: IPVS under emulation, compare its lines with each other only` : iptablesChart.subtitle;
  return { ...iptablesChart, subtitle, series: [...iptablesChart.series, ...extra] };
}

/** What a run records besides its sections; --from-json renders a recorded run again. */
interface RunInfo {
  started: string;
  quick: boolean;
  reps: number;
  machine: string;
  minutes: number;
  load: [number, number];
  failures: string[];
}

const sections = new Map<Name, Section>();
let info: RunInfo;
if (args.has('--from-json')) {
  const saved = JSON.parse(readFileSync(join(BENCH, 'results.json'), 'utf8')) as RunInfo & { sections: Section[] };
  for (const s of saved.sections) sections.set(s.id as Name, s);
  const { sections: _, ...rest } = saved;
  info = rest;
} else {
  prepareToRun();
  const t0 = Date.now();
  const started = new Date().toISOString();
  const load0 = loadavg()[0]!;
  const failures: string[] = [];
  for (const name of ORDER.filter((n) => only.includes(n))) {
    console.error(`== ${name}`);
    try {
      sections.set(name, await runOne(name));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      console.error(`bench ${name} failed: ${msg}`);
      failures.push(`- **${name}** did not run: ${msg.split('\n')[0]}`);
    }
  }
  info = { started, quick: args.quick, reps: args.reps, machine: machine(), minutes: (Date.now() - t0) / 60_000, load: [load0, loadavg()[0]!], failures };
}

mkdirSync(join(BENCH, 'charts'), { recursive: true });
const charts: { id: string; title: string }[] = [];
for (const name of SHOWN) {
  for (let c of sections.get(name)?.charts ?? []) {
    if (c.id === 'iptables') c = combined(c, sections.get('ipvs'));
    writeFileSync(join(BENCH, 'charts', `${c.id}.svg`), lineChart(c));
    charts.push({ id: c.id, title: c.title });
  }
}

/** The results as markdown; `prefix` is where bench/ is seen from (no charts when null: the README shows them itself), `level` the heading level of a section. */
function render(prefix: string | null, level: number): string {
  const mode = info.quick ? `quick (smaller scales, ${info.reps} repetition${info.reps > 1 ? 's' : ''})` : `full (median of ${info.reps} repetitions)`;
  const head = [
    `Measured ${info.started.slice(0, 16).replace('T', ' ')} UTC by \`npm run bench${info.quick ? ':quick' : ''}\`, mode: ${mode}; ` +
    `${info.minutes.toFixed(1)} minutes in all. Machine: ${info.machine}; load average ${info.load[0].toFixed(2)} at the start, ${info.load[1].toFixed(2)} at the end.`,
    '',
    'Every row runs nlkit and the system tool on the same work in the same run; the ratio is the tool\'s time divided by nlkit\'s ' +
    '(above 1: nlkit is faster). Times are medians; every repetition is in `bench/results.json`.',
    '',
    ...info.failures, ...(info.failures.length ? [''] : []),
    ...(prefix === null ? [] : charts.map((c) => `![${c.title}](${prefix}charts/${c.id}.svg)\n`)),
  ];
  return [...head, ...SHOWN.filter((n) => sections.has(n)).map((n) => sectionMarkdown(sections.get(n)!, level))].join('\n');
}

writeFileSync(join(BENCH, 'results.md'), `# nlkit benchmark results\n\n${render('', 2)}`);
if (!args.has('--from-json')) writeFileSync(join(BENCH, 'results.json'), JSON.stringify({ ...info, sections: [...sections.values()] }, null, 1) + '\n');
if (args.has('--readme')) {
  const readme = join(ROOT, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const re = /(<!-- bench:results:start -->\n)[\s\S]*?(<!-- bench:results:end -->)/;
  if (!re.test(text)) throw new Error('README.md has no <!-- bench:results:start/end --> markers');
  writeFileSync(readme, text.replace(re, (_, a: string, b: string) => `${a}${render(null, 3)}\n${b}`));
}
console.error(`bench: wrote bench/results.md, bench/results.json and ${charts.length} chart(s); ${info.minutes.toFixed(1)} minutes${info.failures.length ? `; ${info.failures.length} benchmark(s) failed` : ''}`);
if (info.failures.length) process.exitCode = 1;
