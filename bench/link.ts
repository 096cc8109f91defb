// bench/link: N /32 addresses on one interface (what a service proxy binds its service IPs to)
// through nlkit (one crossing) against `ip -batch` of the same `addr add` lines, each in a
// fresh namespace; then deleting them all. 20k addresses (quick: 5k).
// Usage: tsx bench/link.ts [--quick] [--reps N] [--sizes 20000] [--json]
import { execFileSync, spawnSync } from 'node:child_process';
import { link } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';
import { fmtN, parseArgs, row, runStandalone, timed, type Row, type Section } from './common.js';

const DEV = 'kube-ipvs0';
const count = (ns: Netns) => execFileSync('ip', ['-n', ns.name, '-o', '-4', 'addr', 'show', 'dev', DEV], { maxBuffer: 1 << 28 }).toString().split('\n').filter(Boolean).length;

/** dummy where the kernel has it (what kube-proxy uses), else ifb: both take addresses alike. */
function linkKind(): string {
  const ns = new Netns('bench');
  try {
    return ns.try('ip', ['link', 'add', 'probe0', 'type', 'dummy']).status === 0 ? 'dummy' : 'ifb';
  } finally {
    ns.remove();
  }
}

function fresh(kind: string): Netns {
  const ns = new Netns('bench');
  ns.run('ip', ['link', 'add', DEV, 'type', kind]);
  return ns;
}

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  const sizes = args.list('--sizes') ?? [args.quick ? 5000 : 20_000];
  const kind = linkKind();
  const rows: Row[] = [];
  for (const n of sizes) {
    const addrs = Array.from({ length: n }, (_, i) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`);
    const text = addrs.map((a) => `addr add ${a} dev ${DEV}`).join('\n') + '\n';
    const m = { add: [] as number[], del: [] as number[], toolAdd: [] as number[], toolDel: [] as number[] };
    for (let r = 0; r < args.reps; r++) {
      const a = fresh(kind);
      const h = link.open({ netns: a.path });
      try {
        await h.addresses.list(DEV);  // start the handle's thread and socket outside the timing
        m.add.push(await timed(() => h.addresses.add(DEV, addrs)));
        if (count(a) !== n) throw new Error('nlkit did not add every address');
        m.del.push(await timed(() => h.addresses.delete(DEV, addrs)));
      } finally {
        await h.close();
        a.remove();
      }
      const b = fresh(kind);
      try {
        const batch = (input: string) => {
          const p = spawnSync('ip', ['-n', b.name, '-batch', '-'], { input });
          if (p.status !== 0) throw new Error(`ip -batch: ${p.stderr}`);
        };
        m.toolAdd.push(await timed(() => batch(text)));
        if (count(b) !== n) throw new Error('ip -batch did not add every address');
        m.toolDel.push(await timed(() => batch(text.replaceAll('addr add', 'addr del'))));
      } finally {
        b.remove();
      }
    }
    rows.push(row('add /32 addresses to one interface', n, 'addresses', m.add, m.toolAdd, '`ip -batch` of `addr add` lines'));
    rows.push(row('delete them again', n, 'addresses', m.del, m.toolDel, '`ip -batch` of `addr del` lines'));
    console.error(`link: ${fmtN(n)} addresses done`);
  }
  return {
    id: 'link',
    title: 'Addresses (`bench/link.ts`)',
    notes: [`Service addresses on one \`${kind}\` interface in a fresh namespace each run, as a proxy in IPVS mode binds them to \`kube-ipvs0\`; nlkit sends the whole list in one call.`],
    rows,
    charts: [],
  };
}

await runStandalone(import.meta.url, run);
