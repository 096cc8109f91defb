// bench/iptables: kube-proxy-shaped nat tables (test/fixtures/iptables/kube-proxy.ts: ≈8
// rules and 3 chains per service) programmed three ways, each in a fresh throwaway namespace,
// in one run:
//   per-rule commands:  one `iptables-legacy -N` per chain and `-A` per rule, each its own
//                       process, as a program that calls `iptables` once per rule does;
//                       every command reads and rewrites the whole table, so it grows
//                       super-linearly: measured once per scale, under a time cap, and not at
//                       larger scales once a scale hits the cap
//   iptables-legacy-restore of the whole table, and nlkit iptables.restore() of the same text
// The nf_tables backend the same way (bench/iptables-nft.ts): iptables-nft-restore and
// iptables-nft-save against nlkit with backend 'nft' (the same text, one nfnetlink batch), with
// CPU time beside wall, at --nft-sizes (default 1000,20000; quick 100,1000).
// At the published scales it also times, on the filled table: the same text with one service
// changed (nlkit against a second iptables-legacy-restore, and against the kernel floor:
// IPT_SO_SET_REPLACE + ADD_COUNTERS of the unchanged table as nlkit issues it), kube-proxy's
// own `--noflush --counters` resync of its chains, and saving the table.
// Usage: tsx bench/iptables.ts [--quick] [--reps N] [--sizes 1000,5000] [--per-rule 100,250]
//                              [--nft-sizes 100,1000] [--cap SECONDS] [--json]
import { Netns } from '../test/helpers/netns.js';
import { kubeProxyNat } from '../test/fixtures/iptables/kube-proxy.js';
import { fmtN, inNetns, inTurns, median, parseArgs, row, runStandalone, timed, timedShell, withIptables, type Row, type Section, type Series } from './common.js';
import { nftRows } from './iptables-nft.js';
import { nftNoflushRows } from './iptables-nft-noflush.js';

const BUILTIN = /^:(PREROUTING|INPUT|OUTPUT|POSTROUTING) /;
const PUBLISHED = [1000, 5000, 20_000];

/** The table as one shell command per chain (`-N`) and per rule (`-A`), chains first, rules in table order. */
export function perRuleScript(text: string): { script: string; commands: number } {
  const cmds: string[] = [];
  for (const l of text.split('\n')) {
    if (l.startsWith(':') && !BUILTIN.test(l)) cmds.push(`iptables-legacy -w -t nat -N ${l.slice(1).split(' ')[0]}`);
    else if (l.startsWith('-A ')) cmds.push(`iptables-legacy -w -t nat ${l}`);
  }
  return { script: cmds.join('\n') + '\n', commands: cmds.length };
}

/** kube-proxy's own part of the table: its chains only, as it sends them with --noflush. */
const own = (t: string) => t.split('\n').filter((l) => !BUILTIN.test(l) && !/^-A (PREROUTING|OUTPUT|POSTROUTING) /.test(l)).join('\n');

const countRules = (ns: Netns) => ns.run('iptables-legacy-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A ')).length;

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  const quick = args.quick;
  const sizes = args.list('--sizes') ?? (quick ? [100, 250, 1000, 2000, 5000] : [100, 250, 500, 1000, 2000, 5000, 10_000, 20_000]);
  const perRuleSizes = args.list('--per-rule') ?? (quick ? [100, 250] : [100, 250, 500, 1000]);
  const capMs = Number(args.value('--cap') ?? (quick ? 60 : 300)) * 1000;
  const detailed = sizes.filter((n) => PUBLISHED.includes(n));
  const rows: Row[] = [];
  const series = {
    perRule: { name: 'one `iptables-legacy` process per chain and rule', points: [] } as Series,
    tool: { name: '`iptables-legacy-restore` (whole table)', points: [] } as Series,
    nlkit: { name: 'nlkit iptables.restore (whole table)', points: [] } as Series,
    nftTool: { name: '`iptables-nft-restore` (whole table)', points: [] } as Series,
    nftNlkit: { name: "nlkit iptables.restore, backend 'nft' (whole table)", points: [] } as Series,
  };
  const nlkitAt = new Map<number, number>();

  {
    // warm up outside the timing: the JIT, nlkit's code paths, the tools' pages
    const text = kubeProxyNat({ services: 200 });
    await withIptables('legacy', async (h, w) => {
      await h.restore(text);
      await h.save({ table: 'nat' });
      w.run('iptables-legacy-restore', ['-w'], text);
      w.run('iptables-legacy-save', ['-t', 'nat']);
    });
  }

  for (const services of sizes) {
    const text = kubeProxyNat({ services });
    const rules = text.split('\n').filter((l) => l.startsWith('-A ')).length;
    const detail = detailed.includes(services);
    const changed = kubeProxyNat({ services, variant: Math.floor(services / 2) });
    const m = { tool: [] as number[], nlkit: [] as number[], toolChange: [] as number[], change: [] as number[], floor: [] as number[],
      toolNoflush: [] as number[], nlkitNoflush: [] as number[], toolSave: [] as number[], nlkitSave: [] as number[] };
    const tool = () => inNetns(async (a) => {
      m.tool.push(await timed(() => a.run('iptables-legacy-restore', ['-w'], text)));
      if (detail) {
        m.toolSave.push(await timed(() => a.run('iptables-legacy-save', ['-t', 'nat'])));
        m.toolChange.push(await timed(() => a.run('iptables-legacy-restore', ['-w'], changed)));
        m.toolNoflush.push(await timed(() => a.run('iptables-legacy-restore', ['-w', '--noflush', '--counters'], own(text))));
      }
    });
    const lib = (r: number) => withIptables('legacy', async (h, b) => {
      await h.save({ table: 'filter' });  // start the handle's thread outside the timing
      m.nlkit.push(await timed(() => h.restore(text)));
      if (r === 0 && countRules(b) !== rules) throw new Error(`nlkit wrote ${countRules(b)} of ${rules} rules`);
      if (detail) {
        const again = await h.restore(text);
        m.floor.push(again.stats.replaceMs + again.stats.countersMs);
        m.nlkitSave.push(await timed(() => h.save({ table: 'nat' })));
        m.change.push(await timed(() => h.restore(changed)));
        m.nlkitNoflush.push(await timed(() => h.restore(own(text), { noflush: true, counters: true })));
      }
    });
    // The largest scale, where the targets are judged, gets more repetitions; the two sides
    // take turns going first (inTurns).
    const reps = services === Math.max(...sizes) && !quick ? Math.max(args.reps, 5) : args.reps;
    for (let r = 0; r < reps; r++) await inTurns(r, tool, () => lib(r));
    const note = `${fmtN(rules)} rules`;
    rows.push(row('program the whole table', services, 'services', m.nlkit, m.tool, '`iptables-legacy-restore`', note));
    series.tool.points.push([services, median(m.tool)]);
    series.nlkit.points.push([services, median(m.nlkit)]);
    nlkitAt.set(services, median(m.nlkit));
    if (detail) {
      rows.push(row('same table, one service changed', services, 'services', m.change, m.toolChange, '`iptables-legacy-restore`'));
      rows.push(row('kernel floor: replace + counters of the unchanged table', services, 'services', m.floor, undefined, undefined, 'what one change cannot go below'));
      rows.push(row("kube-proxy's resync: its chains, `--noflush --counters`", services, 'services', m.nlkitNoflush, m.toolNoflush, '`iptables-legacy-restore --noflush --counters`'));
      rows.push(row('save the nat table', services, 'services', m.nlkitSave, m.toolSave, '`iptables-legacy-save -t nat`'));
    }
    console.error(`iptables: ${fmtN(services)} services done`);
  }

  // nf_tables backend: restore and save, both sides in one run (bench/iptables-nft.ts)
  const nft = await nftRows(args.list('--nft-sizes') ?? (quick ? [100, 1000] : [1000, 20_000]), args.reps);
  rows.push(...nft.rows);
  series.nftTool.points.push(...nft.tool.points);
  series.nftNlkit.points.push(...nft.nlkit.points);

  for (const services of perRuleSizes) {
    const text = kubeProxyNat({ services });
    const { script, commands } = perRuleScript(text);
    const t = await inNetns((ns) => {
      const ms = timedShell(ns.name, script, capMs);
      if (ms !== null && countRules(ns) !== text.split('\n').filter((l) => l.startsWith('-A ')).length) throw new Error('per-rule commands left the table incomplete');
      return ms;
    });
    if (!nlkitAt.has(services)) {
      // this scale is not among the others: nlkit's line gets a point here too
      const lib: number[] = [];
      for (let r = 0; r < args.reps; r++) {
        lib.push(await withIptables('legacy', async (h) => {
          await h.save({ table: 'filter' });
          return timed(() => h.restore(text));
        }));
      }
      series.nlkit.points.push([services, median(lib)]);
      nlkitAt.set(services, median(lib));
    }
    const nl = nlkitAt.get(services);
    if (t === null) {
      series.perRule.capped = [services, capMs];
      rows.push(row('program the whole table, one process per chain/rule', services, 'services', nl === undefined ? undefined : [nl], undefined,
        '`iptables-legacy -N`/`-A`, one process each', `${fmtN(commands)} commands: not finished within the ${capMs / 1000} s cap`));
      console.error(`iptables: per-rule ${fmtN(services)} services hit the ${capMs / 1000} s cap`);
      break;
    }
    series.perRule.points.push([services, t]);
    rows.push(row('program the whole table, one process per chain/rule', services, 'services', nl === undefined ? undefined : [nl], [t],
      '`iptables-legacy -N`/`-A`, one process each', `${fmtN(commands)} commands, run once`));
    console.error(`iptables: per-rule ${fmtN(services)} services done`);
  }

  // nf_tables backend: one service changed with --noflush (`--nft-noflush 1000,20000`; bench/iptables-nft-noflush.ts)
  rows.push(...await nftNoflushRows(args.list('--nft-noflush') ?? (quick ? [100] : [1000]), args.reps));

  rows.sort((x, y) => (x.case.startsWith('program') ? 0 : 1) - (y.case.startsWith('program') ? 0 : 1) || (x.n ?? 0) - (y.n ?? 0));
  return {
    id: 'iptables',
    title: 'iptables (`bench/iptables.ts`)',
    notes: [
      'A kube-proxy-shaped `nat` table (≈8 rules and 3 chains per service, 2 endpoints each, kube-proxy\'s chain names and comments), ' +
      'each way into a fresh network namespace, tools as `ip netns exec NS …`, nlkit on a handle opened with `backend: \'legacy\'`. ' +
      `The two take turns going first in each repetition; the largest scale (where the targets are judged) is repeated ${quick ? args.reps : Math.max(args.reps, 5)} times. ` +
      'Every whole-table figure includes the kernel\'s own replace (IPT_SO_SET_REPLACE), the same for both and the larger part of nlkit\'s time at 20,000 services; ' +
      'on this virtual machine it takes either ~0.33 s or ~0.5 s from one run to the next.',
      `The per-rule rows run one \`iptables-legacy -N\`/\`-A\` process per chain and rule from one shell, as a program that calls \`iptables\` ` +
      `once per rule does (the reason service proxies moved to \`iptables-restore\`): each command reads and rewrites the whole table, so the time grows with the square of the table. ` +
      `It is measured once per scale, with a cap of ${capMs / 1000} s per scale, and at no larger scale once one hits the cap; ` +
      'its ratio is against nlkit\'s whole-table restore at the same scale.',
    ],
    rows,
    charts: [{
      id: 'iptables', title: 'Programming N Kubernetes-style services',
      subtitle: `kube-proxy-shaped nat table, ≈8 rules per service; per-rule capped at ${capMs / 1000} s; lower is better`,
      xLabel: 'services', yLabel: 'time to program all of them', series: [series.perRule, series.tool, series.nlkit, series.nftTool, series.nftNlkit],
    }],
  };
}

await runStandalone(import.meta.url, run);
