// bench/link: 20k /32 addresses through nlkit (one crossing) vs `ip -batch` of the same `addr add` lines, each in a fresh namespace.
// Usage: tsx bench/link.ts  (N, RUNS, KIND=dummy|ifb: ifb where the kernel has no dummy driver)
import { link } from '../lib/index.js';
import { execFileSync, spawnSync } from 'node:child_process';
const N = Number(process.env.N ?? 20000), RUNS = Number(process.env.RUNS ?? 3);
const KIND = process.env.KIND ?? 'ifb';
const addrs = Array.from({ length: N }, (_, i) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`);
const text = addrs.map((a) => `addr add ${a} dev kube-ipvs0`).join('\n') + '\n';
let c = 0;
function fresh(): string {
  const ns = `lkbench-${process.pid}-${c++}`;
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'add', 'kube-ipvs0', 'type', KIND]);
  return ns;
}
const drop = (ns: string) => execFileSync('ip', ['netns', 'del', ns]);
const count = (ns: string) => execFileSync('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', 'kube-ipvs0'], { maxBuffer: 1 << 28 }).toString().split('\n').filter(Boolean).length;
const res: Record<string, number[]> = { nlkit: [], ipBatch: [], nlkitDel: [], ipBatchDel: [] };
for (let r = 0; r < RUNS; r++) {
  {
    const ns = fresh();
    const h = link.open({ netns: ns });
    await h.listAddresses('kube-ipvs0'); // warm: thread + socket
    let t = performance.now();
    await h.addAddresses('kube-ipvs0', addrs);
    res.nlkit!.push(performance.now() - t);
    if (count(ns) !== N) throw new Error('nlkit count');
    t = performance.now();
    await h.delAddresses('kube-ipvs0', addrs);
    res.nlkitDel!.push(performance.now() - t);
    await h.close();
    drop(ns);
  }
  {
    const ns = fresh();
    let t = performance.now();
    const p = spawnSync('ip', ['-n', ns, '-batch', '-'], { input: text });
    res.ipBatch!.push(performance.now() - t);
    if (p.status !== 0 || count(ns) !== N) throw new Error('ip count ' + p.stderr);
    t = performance.now();
    spawnSync('ip', ['-n', ns, '-batch', '-'], { input: text.replaceAll('addr add', 'addr del') });
    res.ipBatchDel!.push(performance.now() - t);
    drop(ns);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
for (const [k, v] of Object.entries(res)) console.log(`${k.padEnd(11)} median ${med(v).toFixed(0)} ms  runs ${v.map((x) => x.toFixed(0)).join(' ')}`);
console.log(`add: ip -batch / nlkit = ${(med(res.ipBatch!) / med(res.nlkit!)).toFixed(2)}x   del: ${(med(res.ipBatchDel!) / med(res.nlkitDel!)).toFixed(2)}x  (N=${N}, link kind ${KIND}, kernel ${execFileSync('uname', ['-r']).toString().trim()})`);
