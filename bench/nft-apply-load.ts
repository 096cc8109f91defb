// bench/nft-apply-load: bench/nft.ts's whole-load row alone (the anonymous-set-free "cascade"
// shape): apply() of kube-proxy's commands against `nft -f` of the same ruleset's text, each
// load in a fresh namespace, interleaved per round. CPU time split into user and system: nlkit's
// from process.cpuUsage() (its worker thread included; the kernel's work on the batch is system
// time), nft's from the waited-for child's times in /proc/self/stat (10 ms ticks).
//   tsx bench/nft-apply-load.ts [services=20000] [rounds=5] [--lib DIR]   (root: throwaway netns)
//   --lib DIR: a checkout's lib/ to measure (its package root must have build/ and node_modules/).
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Netns } from '../test/helpers/netns.js';
import { kubeProxyCommands } from '../test/helpers/nft-kube.js';

const argv = process.argv.slice(2);
const li = argv.indexOf('--lib');
const lib = resolve(li >= 0 ? argv[li + 1]! : new URL('../lib', import.meta.url).pathname);
const pos = argv.filter((a, i) => !a.startsWith('--') && (li < 0 || i !== li + 1));
const n = Number(pos[0] ?? 20000), rounds = Number(pos[1] ?? 5);
const { nft } = await import(pathToFileURL(`${lib}/index.ts`).href) as typeof import('../lib/index.js');

function childTicks(): [number, number] {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return [Number(f[13]), Number(f[14])];
}

const cmds = kubeProxyCommands(n, 2, 'cascade');
const dir = mkdtempSync(join(tmpdir(), 'nlkit-apply-load-'));
const file = join(dir, 'kube.nft');
const me: Array<{ user: number; sys: number }> = [], tool: Array<{ user: number; sys: number }> = [];
try {
  // Warm-up outside the timings (module loading, JIT), as bench/nft.ts does; and nft's text.
  {
    const w = new Netns('applyload');
    const h = nft.open({ netns: w.name });
    try {
      await h.apply(kubeProxyCommands(50, 2, 'cascade'));
      await h.apply([{ flush: { ruleset: null } }]);
    } finally { await h.close(); w.remove(); }
  }
  for (let r = 0; r < rounds; r++) {
    const a = new Netns('applyload'), b = new Netns('applyload');
    const h = nft.open({ netns: a.name });
    try {
      await h.generation();  // thread and socket outside the timing
      const u0 = process.cpuUsage();
      await h.apply(cmds);
      const u = process.cpuUsage(u0);
      me.push({ user: u.user / 1000, sys: u.system / 1000 });
      if (r === 0) writeFileSync(file, await h.save());
      const c0 = childTicks();
      const x = spawnSync('ip', ['netns', 'exec', b.name, 'nft', '-f', file], { encoding: 'utf8' });
      const c1 = childTicks();
      if (x.status !== 0) throw new Error(`nft -f failed: ${x.stderr.slice(0, 300)}`);
      tool.push({ user: (c1[0] - c0[0]) * 10, sys: (c1[1] - c0[1]) * 10 });
      console.error(JSON.stringify({ round: r, nlkit: me[r], nft: tool[r] }));
    } finally { await h.close(); a.remove(); b.remove(); }
  }
} finally { rmSync(dir, { recursive: true, force: true }); }
const med = (v: number[]) => { const s = [...v].sort((x, y) => x - y); return s[s.length >> 1]!; };
const r0 = (v: number) => Math.round(v);
console.log(JSON.stringify({
  lib, n, rounds,
  nlkit: { user: r0(med(me.map((x) => x.user))), sys: r0(med(me.map((x) => x.sys))), users: me.map((x) => r0(x.user)), syss: me.map((x) => r0(x.sys)) },
  nft: { user: r0(med(tool.map((x) => x.user))), sys: r0(med(tool.map((x) => x.sys))), users: tool.map((x) => x.user), syss: tool.map((x) => x.sys) },
}));
