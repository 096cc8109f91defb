// bench/iptables: kube-proxy-shaped nat tables through nlkit and through
// iptables-legacy-restore/-save, in throwaway namespaces, in one run; prints milliseconds and
// ratios (the median of the repetitions, tool and nlkit runs interleaved).
//   full replace:   a fresh namespace, the whole table; tool time / nlkit time (target >= 3 at 20k)
//   one change:     the same handle again with one service changed; / kernel floor (target <= 1.5)
//   kernel floor:   IPT_SO_SET_REPLACE (+ ADD_COUNTERS) of the unchanged table, as nlkit issues it
//   --noflush:      kube-proxy's own mode (its chains only, --noflush --counters), one service changed
//   save:           iptables-legacy-save -t nat vs iptables.save({ table: 'nat' })
// Usage: tsx bench/iptables.ts [--quick] [--reps N] [--sizes 1000,5000,20000]
import { performance } from 'node:perf_hooks';
import { iptables } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';
import { kubeProxyNat } from '../test/fixtures/iptables/kube-proxy.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const opt = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const REPS = Number(opt('--reps') ?? (quick ? 1 : 3));
const SIZES = (opt('--sizes') ?? (quick ? '1000,5000' : '1000,5000,20000')).split(',').map(Number);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function timed<T>(fn: () => Promise<T> | T): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

interface Row {
  size: number; rules: number; tool: number; nlkit: number; same: number; change: number; floor: number;
  toolSave: number; nlkitSave: number; compile: number; toolNoflush: number; nlkitNoflush: number;
}
const rows: Row[] = [];

for (const services of SIZES) {
  const text = kubeProxyNat({ services });
  const changed = kubeProxyNat({ services, variant: Math.floor(services / 2) });
  // what kube-proxy itself sends: only its chains, with --noflush --counters
  const own = (t: string) => t.split('\n').filter((l) => !/^:(PREROUTING|INPUT|OUTPUT|POSTROUTING) /.test(l) && !/^-A (PREROUTING|OUTPUT|POSTROUTING) /.test(l)).join('\n');
  const ownChanged = own(changed);
  const rules = text.split('\n').filter((l) => l.startsWith('-A ')).length;
  const tool: number[] = [], nlkit: number[] = [], same: number[] = [], change: number[] = [], floor: number[] = [];
  const toolSave: number[] = [], nlkitSave: number[] = [], compile: number[] = [];
  const toolNoflush: number[] = [], nlkitNoflush: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const a = new Netns('bench');
    try {
      tool.push((await timed(() => a.run('iptables-legacy-restore', [], text)))[0]);
      toolSave.push((await timed(() => a.run('iptables-legacy-save', ['-t', 'nat'])))[0]);
      toolNoflush.push((await timed(() => a.run('iptables-legacy-restore', ['--noflush', '--counters'], ownChanged)))[0]);
    } finally {
      a.remove();
    }
    const b = new Netns('bench');
    const h = iptables.open({ netns: b.path });
    try {
      const [full, r0] = await timed(() => h.restore(text));
      nlkit.push(full);
      compile.push(r0.stats.compileMs);
      const [again, r1] = await timed(() => h.restore(text));
      same.push(again);
      floor.push(r1.stats.replaceMs + r1.stats.countersMs);
      change.push((await timed(() => h.restore(changed)))[0]);
      nlkitSave.push((await timed(() => h.save({ table: 'nat' })))[0]);
      await h.restore(text);
      nlkitNoflush.push((await timed(() => h.restore(ownChanged, { noflush: true, counters: true })))[0]);
    } finally {
      await h.close();
      b.remove();
    }
  }
  const row: Row = {
    size: services, rules, tool: median(tool), nlkit: median(nlkit), same: median(same), change: median(change),
    floor: median(floor), toolSave: median(toolSave), nlkitSave: median(nlkitSave), compile: median(compile),
    toolNoflush: median(toolNoflush), nlkitNoflush: median(nlkitNoflush),
  };
  rows.push(row);
  console.error(`${services} services: done`);
}

console.log(`iptables: kube-proxy-shaped nat table, median of ${REPS}; ${new Date().toISOString()}`);
console.log('| services (rules) | iptables-legacy-restore | nlkit full replace | speed-up | nlkit same text | one service changed | kernel floor | change / floor | --noflush resync: tool | nlkit | iptables-legacy-save | nlkit save |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.size.toLocaleString('en')} (${r.rules.toLocaleString('en')}) | ${ms(r.tool)} | ${ms(r.nlkit)} | ${(r.tool / r.nlkit).toFixed(2)}× | ${ms(r.same)} | ${ms(r.change)} | ${ms(r.floor)} | ${(r.change / r.floor).toFixed(2)}× | ${ms(r.toolNoflush)} | ${ms(r.nlkitNoflush)} | ${ms(r.toolSave)} | ${ms(r.nlkitSave)} |`);
}
