// bench/ipset-adt: the CPU time of adtEntries() alone (check + encode of an ipset add, no kernel,
// no native code), for one tree or for two trees taking turns, each round in its own process.
// It is how the cost of the stateless parser (issue #12) was found and checked against an older
// tree: `git worktree add --detach ../old <commit>` then
//   tsx bench/ipset-adt.ts --trees .,../old --rounds 5
// Each process warms up, then times `--runs` calls per type (a forced GC before each, so a
// collection of the previous call's garbage is not counted) and prints the median and range.
// Usage: tsx bench/ipset-adt.ts [--trees DIR,DIR] [--rounds N] [--runs N] [--n 100000] [--no-gc]
//   [--types 'hash:ip,port;hash:ip;restore:hash:ip,port'] (restore:TYPE times compileRestorePlan)
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const ip4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const entriesOf: Record<string, (i: number) => string> = {
  'hash:ip': ip4,
  'hash:ip,port': (i) => `${ip4(i)},tcp:${1 + (i % 60000)}`,
  'hash:net': (i) => `${ip4(i << 8)}/24`,
  'hash:ip,port,ip': (i) => `${ip4(i)},udp:${1 + (i % 60000)},192.168.${(i >> 8) & 255}.${i & 255}`,
};

const child = process.argv.indexOf('--child');
if (child >= 0) {
  // One tree, in this process: print one JSON line { type: [ms per run...] }.
  const tree = resolve(process.argv[child + 1]!);
  const enc = await import(pathToFileURL(`${tree}/lib/ipset/encode.ts`).href);
  const n = Number(arg('--n', '100000'));
  const runs = Number(arg('--runs', '15'));
  const gc = (globalThis as { gc?: () => void }).gc;
  // --no-gc: no forced collection between calls (the steady state of a busy process).
  const noGc = process.argv.includes('--no-gc');
  if (!gc) throw new Error('run with --expose-gc');
  const out: Record<string, number[]> = {};
  for (const what of arg('--types', 'hash:ip,port;hash:ip').split(';')) {
    // restore:TYPE: compileRestorePlan() of `create` + `add` lines (ipset.restore's check and encode).
    const restore = what.startsWith('restore:');
    const type = restore ? what.slice(8) : what;
    const entries = Array.from({ length: n }, (_, i) => entriesOf[type]!(i));
    const known = { type, family: 'inet', timeout: false, counters: false, comment: false, skbinfo: false };
    const text = restore ? [`create s ${type} maxelem ${2 * n}`, ...entries.map((e) => `add s ${e}`)].join('\n') + '\n' : '';
    const once = restore ? () => enc.compileRestorePlan(text, new Map())
      : () => enc.adtEntries(9, 's', known, entries, { op: 'ipset.add' });
    for (let k = 0; k < 5; k++) once();
    const ms: number[] = [];
    for (let k = 0; k < runs; k++) {
      if (!noGc) gc();
      const t0 = process.cpuUsage();
      once();
      const t = process.cpuUsage(t0);
      ms.push((t.user + t.system) / 1000);
    }
    out[what] = ms;
  }
  console.log(JSON.stringify(out));
} else {
  const trees = arg('--trees', '.').split(',');
  const rounds = Number(arg('--rounds', '3'));
  const extra = ['--n', arg('--n', '100000'), '--runs', arg('--runs', '15'), '--types', arg('--types', 'hash:ip,port;hash:ip'),
    ...(process.argv.includes('--no-gc') ? ['--no-gc'] : [])];
  const flags = (process.env.NLKIT_ADT_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const all: Record<string, Record<string, number[]>> = {};
  for (let r = 0; r < rounds; r++) {
    for (const tree of trees) {
      const p = spawnSync(process.execPath, ['--expose-gc', ...flags, '--import', 'tsx', new URL(import.meta.url).pathname, '--child', tree, ...extra],
        { encoding: 'utf8', cwd: process.cwd() });
      if (p.status !== 0) throw new Error(`${tree}: ${p.stderr}`);
      const got = JSON.parse(p.stdout.trim().split('\n').pop()!) as Record<string, number[]>;
      for (const [type, ms] of Object.entries(got)) {
        ((all[tree] ??= {})[type] ??= []).push(median(ms));
        console.log(`round ${r + 1} ${tree} ${type}: median ${median(ms).toFixed(1)} ms (${Math.min(...ms).toFixed(1)}-${Math.max(...ms).toFixed(1)})`);
      }
    }
  }
  console.log('\nmedian of the rounds\' medians (range of them), ms CPU per adtEntries call:');
  for (const [tree, types] of Object.entries(all)) {
    for (const [type, meds] of Object.entries(types)) {
      console.log(`${tree} ${type}: ${median(meds).toFixed(1)} (${Math.min(...meds).toFixed(1)}-${Math.max(...meds).toFixed(1)})`);
    }
  }
}
