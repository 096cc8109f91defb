// bench/iptables (nf_tables backend, one service changed): a kube-proxy-shaped nat table written
// by iptables-nft-restore into two namespaces, then kube-proxy's partial sync of one service
// (its chains declared and refilled, the stale endpoint chains deleted) applied with
// `iptables-nft-restore --noflush` in one and nlkit's restore({ noflush: true }) in the other,
// taking turns, each repetition toggling the service between two endpoint sets. Both results are
// checked equal (iptables-nft-save) before anything is timed. CPU time beside wall time: the
// tool's from /proc/self/stat's children fields (clock ticks), nlkit's from process.cpuUsage().
// The handle keeps its model of the table between commits (lib/iptables/nft/model.ts); it is
// read once before the timed runs.
//   node --import tsx bench/iptables-nft-noflush.ts [--nft-noflush 1000,20000] [--reps 5]
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { iptables } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';
import { kubeProxyNat } from '../test/fixtures/iptables/kube-proxy.js';
import { median, row, timed, type Row } from './common.js';

const TICK_MS = 10;  // USER_HZ 100

/** The waited-for children's CPU time so far (user, system), in milliseconds. */
function childrenCpuMs(): [number, number] {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const w = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(w[13]) * TICK_MS, Number(w[14]) * TICK_MS];  // fields 16 and 17: cutime, cstime
}

/** Rules by chain of a one-table text. */
function byChain(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const l of text.split('\n')) {
    if (l[0] === ':') m.set(l.slice(1).split(' ')[0]!, []);
    else if (l.startsWith('-A ')) m.get(l.split(' ')[1]!)!.push(l);
  }
  return m;
}

/**
 * kube-proxy's partial sync from table `from` to table `to` (MinimizeIPTablesRestore): the
 * chains whose rules differ declared and refilled, new chains made, stale ones flushed and deleted.
 * @example const text = partialSync(kubeProxyNat({ services: 10 }), kubeProxyNat({ services: 10, variant: 3 }));
 */
export function partialSync(from: string, to: string): string {
  const a = byChain(from), b = byChain(to);
  const changed = [...b].filter(([n, rules]) => !a.has(n) || a.get(n)!.join('\n') !== rules.join('\n')).map(([n]) => n);
  const stale = [...a.keys()].filter((n) => !b.has(n));
  return ['*nat', ...[...changed, ...stale].map((n) => `:${n} - [0:0]`), ...changed.flatMap((n) => b.get(n)!),
    ...stale.map((n) => `-X ${n}`), 'COMMIT', ''].join('\n');
}

/**
 * One row per scale: one service changed, nlkit's noflush restore against iptables-nft-restore --noflush.
 * @example rows.push(...await nftNoflushRows([1000, 20000], 5));
 */
export async function nftNoflushRows(sizes: number[], reps: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const services of sizes) {
    const tables = [kubeProxyNat({ services }), kubeProxyNat({ services, variant: Math.floor(services / 2) })];
    const step = [partialSync(tables[0]!, tables[1]!), partialSync(tables[1]!, tables[0]!)];
    const a = new Netns('bench'), b = new Netns('bench');
    const h = iptables.open({ netns: b.path, backend: 'nft' });
    try {
      // KUBE-FLOOR: a chain nothing reaches, for the kernel floor rows (in both, so the tables compare equal)
      for (const ns of [a, b]) ns.run('iptables-nft-restore', [], tables[0]!.replace('COMMIT\n', ':KUBE-FLOOR - [0:0]\nCOMMIT\n'));
      await h.save({ table: 'filter' });  // the handle's thread started outside the timing
      // a noflush commit that changes nothing: the handle reads its model of the table (what a
      // long-running proxy's handle holds after its first sync) outside the timing
      await h.restore('*nat\nCOMMIT\n', { noflush: true });
      const nl: number[] = [], tool: number[] = [], nlCpu: number[][] = [[], []], toolCpu: number[][] = [[], []];
      const loads: number[] = [];
      // kernel floors, nlkit only (user, sys ms): nothing to send; a rule without a target (a
      // commit: every chain of every table walked); a rule with a jump (the whole table validated
      // from its base chains, as for any rule with a verdict or a target)
      const floors = { none: [[], []], plain: [[], []], jump: [[], []] } as Record<'none' | 'plain' | 'jump', number[][]>;
      const floor = async (k: keyof typeof floors, text: string) => {
        const c0 = process.cpuUsage();
        await h.restore(text, { noflush: true });
        const c = process.cpuUsage(c0);
        floors[k][0]!.push(c.user / 1000);
        floors[k][1]!.push(c.system / 1000);
      };
      for (let r = 0; r < reps; r++) {
        if (r === 0 || r === reps - 1) loads.push(loadavg()[0]!);
        const text = step[r % 2]!;
        const lib = async () => {
          const c0 = process.cpuUsage();
          nl.push(await timed(() => h.restore(text, { noflush: true })));
          const c = process.cpuUsage(c0);
          nlCpu[0]!.push(c.user / 1000);
          nlCpu[1]!.push(c.system / 1000);
        };
        const tl = async () => {
          const c0 = childrenCpuMs();
          tool.push(await timed(() => a.run('iptables-nft-restore', ['--noflush'], text)));
          const c = childrenCpuMs();
          toolCpu[0]!.push(c[0] - c0[0]);
          toolCpu[1]!.push(c[1] - c0[1]);
        };
        if (r % 2 === 0) { await tl(); await lib(); } else { await lib(); await tl(); }
        if (r === 0) {
          const sa = a.run('iptables-nft-save', ['-t', 'nat']).replace(/^# .*\n/gm, ''), sb = b.run('iptables-nft-save', ['-t', 'nat']).replace(/^# .*\n/gm, '');
          if (sa !== sb) throw new Error(`nlkit's noflush at ${services} services left another table than iptables-nft-restore --noflush`);
        }
        await floor('none', '*nat\nCOMMIT\n');
        await floor('plain', `*nat\n-A KUBE-FLOOR -d 10.254.${r & 255}.1/32\nCOMMIT\n`);
        await floor('jump', `*nat\n-A KUBE-FLOOR -d 10.254.${r & 255}.2/32 -j KUBE-MARK-MASQ\nCOMMIT\n`);
      }
      const rules = tables[0]!.split('\n').filter((l) => l.startsWith('-A ')).length;
      const lines = step[0]!.split('\n').length - 1;
      rows.push(row('one service changed, `--noflush` (nf_tables)', services, 'services', nl, tool, '`iptables-nft-restore --noflush`',
        `${rules} rules in the table, ${lines} lines of text; CPU user+sys median nlkit ${median(nlCpu[0]!).toFixed(1)}+${median(nlCpu[1]!).toFixed(1)} ms, tool ${median(toolCpu[0]!).toFixed(0)}+${median(toolCpu[1]!).toFixed(0)} ms (10 ms ticks); load ${loads.map((l) => l.toFixed(1)).join('-')} on ${cpus().length} CPUs`));
      const floorRow = (c: string, k: keyof typeof floors) => rows.push(row(`kernel floor: ${c}, \`--noflush\` (nf_tables)`, services, 'services', floors[k][0]!.map((u, i) => u + floors[k][1]![i]!), undefined, undefined,
        `nlkit only, CPU user+sys ms (the kernel's commit is system time); median ${median(floors[k][0]!).toFixed(1)}+${median(floors[k][1]!).toFixed(1)} ms`));
      floorRow('nothing to send (`*nat`, `COMMIT`)', 'none');
      floorRow('one rule without a target in a chain nothing reaches', 'plain');
      floorRow('one rule with `-j KUBE-MARK-MASQ` in a chain nothing reaches (whole-table validation)', 'jump');
    } finally {
      await h.close();
      a.remove();
      b.remove();
    }
    console.error(`iptables: nft noflush ${services} services done`);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const at = (n: string) => { const i = argv.indexOf(n); return i >= 0 ? argv[i + 1] : undefined; };
  const rows = await nftNoflushRows((at('--nft-noflush') ?? '1000').split(',').map(Number), Number(at('--reps') ?? 5));
  for (const r of rows) console.log(JSON.stringify({ ...r, nlkitRuns: r.nlkitRuns?.map((x) => +x.toFixed(2)), toolRuns: r.toolRuns?.map((x) => +x.toFixed(2)) }));
}
