// bench/nft: kube-proxy's nftables ruleset (test/helpers/nft-kube.ts: per service a chain with a
// numgen vmap, per endpoint a DNAT chain, the service-ips verdict map) loaded whole through
// nlkit's apply (one batch) and through `nft -j -f` of the same JSON, each in a fresh namespace;
// then one new service-ips element at that size, and reading the ruleset back (list() against
// `nft -j list ruleset`). Sizes: 1k services (quick: 200), 2 endpoints each.
// Usage: tsx bench/nft.ts [--quick] [--reps N] [--sizes 1000] [--json]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nft } from '../lib/index.js';
import { Netns } from '../test/helpers/netns.js';
import { kubeProxyCommands } from '../test/helpers/nft-kube.js';
import { fmtN, parseArgs, row, runStandalone, timed, type Row, type Section } from './common.js';

const element = { add: { element: { family: 'ip', table: 'kube-proxy', name: 'service-ips', elem: [[{ concat: ['172.31.255.1', 'tcp', 443] }, { drop: null }]] } } };

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  const sizes = args.list('--sizes') ?? [args.quick ? 200 : 1000];
  const dir = mkdtempSync(join(tmpdir(), 'nlkit-bench-nft-'));
  const rows: Row[] = [];
  // Warm up the encoder and decoder (module loading, JIT) outside the timings, as in a long-running proxy.
  const w = new Netns('bench');
  const wh = nft.open({ netns: w.name });
  try {
    await wh.apply({ nftables: kubeProxyCommands(20, 2) });
    await wh.list();
  } finally {
    await wh.close();
    w.remove();
  }
  try {
    for (const n of sizes) {
      const cmds = { nftables: kubeProxyCommands(n, 2) };
      const file = join(dir, `kube-${n}.json`);
      writeFileSync(file, JSON.stringify(cmds));
      const m = { load: [] as number[], toolLoad: [] as number[], elem: [] as number[], toolElem: [] as number[], list: [] as number[], toolList: [] as number[] };
      for (let r = 0; r < args.reps; r++) {
        const a = new Netns('bench');
        const h = nft.open({ netns: a.name });
        try {
          await h.generation();  // start the handle's thread and socket outside the timing
          m.load.push(await timed(() => h.apply(cmds)));
          m.elem.push(await timed(() => h.apply([element])));
          m.list.push(await timed(() => h.list()));
        } finally {
          await h.close();
          a.remove();
        }
        const b = new Netns('bench');
        try {
          m.toolLoad.push(await timed(() => b.run('nft', ['-j', '-f', file])));
          m.toolElem.push(await timed(() => b.run('nft', ['add', 'element', 'ip', 'kube-proxy', 'service-ips', '{ 172.31.255.1 . tcp . 443 : drop }'])));
          m.toolList.push(await timed(() => b.run('nft', ['-j', 'list', 'ruleset'])));
        } finally {
          b.remove();
        }
      }
      rows.push(row('load the kube-proxy ruleset (numgen vmaps)', n, 'services', m.load, m.toolLoad, '`nft -j -f` of the same JSON'));
      rows.push(row('add one service-ips element', n, 'services', m.elem, m.toolElem, '`nft add element`'));
      rows.push(row('read the ruleset back', n, 'services', m.list, m.toolList, '`nft -j list ruleset`'));
      console.error(`nft: ${fmtN(n)} services done`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    id: 'nft',
    title: 'nftables (`bench/nft.ts`)',
    notes: ['kube-proxy\'s nftables shape with 2 endpoints per service, each run in a fresh namespace; nlkit encodes the JSON commands itself and sends one batch. First, small scales only: the larger rows of issue 13 are still to come.'],
    rows,
    charts: [],
  };
}

await runStandalone(import.meta.url, run);
