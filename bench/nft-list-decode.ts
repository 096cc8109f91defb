// bench/nft-list-decode: list()'s read path without the kernel. The native dump results of one
// list() of a kube-proxy cascade ruleset (the two crossings readRuleset makes) are captured once
// into a file, then replayed through a handle whose native calls return them: splitting, sorting
// and decoding into the objects `nft -j list ruleset` prints, CPU time per round
// (process.cpuUsage, one thread; the worker thread is idle in a replay).
//   tsx bench/nft-list-decode.ts --capture 20000 /tmp/nft-list-20k.bin   (root: a throwaway netns)
//   tsx bench/nft-list-decode.ts --run /tmp/nft-list-20k.bin [rounds] [--lib DIR]
//   tsx bench/nft-list-decode.ts --live 20000 [rounds] [--lib DIR ...]  (root: list() and `nft -j list` in turn)
//   --lib DIR (repeatable): a checkout's lib/ to replay through (default this one's); several take
//   turns each round, for before/after rounds in one process.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as thisLib from '../lib/index.js';

type Rec = { data: Buffer; sections: Uint32Array; errnos: Int32Array; messages: Record<number, string>; interrupted: boolean; attempts: number };

/** Records as one file: a JSON header line, then the data of each record back to back. */
function save(file: string, recs: Rec[]): void {
  const head = JSON.stringify(recs.map((r) => ({ len: r.data.length, sections: Array.from(r.sections), errnos: Array.from(r.errnos), interrupted: r.interrupted, attempts: r.attempts })));
  writeFileSync(file, Buffer.concat([Buffer.from(`${head}\n`), ...recs.map((r) => r.data)]));
}

function load(file: string): Rec[] {
  const b = readFileSync(file);
  const nl = b.indexOf(10);
  const head = JSON.parse(b.toString('utf8', 0, nl)) as Array<{ len: number; sections: number[]; errnos: number[]; interrupted: boolean; attempts: number }>;
  let p = nl + 1;
  return head.map((h) => {
    const data = Buffer.from(b.subarray(p, p + h.len));
    p += h.len;
    return { data, sections: Uint32Array.from(h.sections), errnos: Int32Array.from(h.errnos), messages: {}, interrupted: h.interrupted, attempts: h.attempts };
  });
}

/** utime+stime of waited-for children (fields 16 and 17 of /proc/self/stat), in ticks. */
function childTicks(): [number, number] {
  const st = readFileSync('/proc/self/stat', 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return [Number(f[13]), Number(f[14])];
}

type Lib = typeof import('../lib/index.js');
type Native = (op: string, fn: (w: unknown) => Promise<unknown>) => Promise<unknown>;

const [mode, a, b] = process.argv.slice(2);
const libDirs = process.argv.flatMap((x, i) => (x === '--lib' ? [resolve(process.argv[i + 1]!)] : []));

if (mode === '--capture') {
  const { Netns } = await import('../test/helpers/netns.js');
  const { kubeProxyCommands } = await import('../test/helpers/nft-kube.js');
  const { nft } = thisLib;
  const ns = new Netns('listcap');
  const h = nft.open({ netns: ns.name });
  try {
    await h.apply(kubeProxyCommands(Number(a), 2, 'cascade'));
    const recs: Rec[] = [];
    const self = h as unknown as { native: Native };
    const orig = self.native.bind(h);
    self.native = (op, fn) => orig(op, async (w) => { const r = await fn(w) as Rec; recs.push(r); return r; });
    const objects = await h.list();
    save(b!, recs);
    console.log(`${objects.length} objects, ${recs.length} dumps, ${recs.reduce((n, r) => n + r.data.length, 0)} bytes`);
  } finally {
    await h.close();
    ns.remove();
  }
} else if (mode === '--live') {
  // Against the kernel: one namespace loaded once; per round each --lib's list() and `nft -j list
  // ruleset` in turn (the order rotating), CPU user and system time of each (nlkit's: this
  // process's, worker thread included; nft's: the waited-for child's, 10 ms ticks).
  const { Netns } = await import('../test/helpers/netns.js');
  const { kubeProxyCommands } = await import('../test/helpers/nft-kube.js');
  const rounds = Number(b ?? 3);
  const ns = new Netns('listlive');
  const libs = libDirs.length ? libDirs : [''];
  const sides: Array<{ name: string; list: () => Promise<unknown>; close: () => Promise<void>; user: number[]; sys: number[] }> = [];
  try {
    for (const dir of libs) {
      const { nft } = dir ? await import(pathToFileURL(`${dir}/index.${existsSync(`${dir}/index.ts`) ? 'ts' : 'js'}`).href) as Lib : thisLib;
      const h = nft.open({ netns: ns.name });
      if (!sides.length) await h.apply(kubeProxyCommands(Number(a), 2, 'cascade'));
      await h.list();  // warm: JIT, the worker's thread and socket
      sides.push({ name: dir || 'lib', list: () => h.list(), close: () => h.close(), user: [], sys: [] });
    }
    sides.push({ name: 'nft -j list ruleset', list: async () => { ns.run('nft', ['-j', 'list', 'ruleset']); }, close: async () => {}, user: [], sys: [] });
    for (let i = 0; i < rounds; i++) {
      for (let j = 0; j < sides.length; j++) {
        const s = sides[(i + j) % sides.length]!;
        const c0 = childTicks(), u0 = process.cpuUsage();
        await s.list();
        const u = process.cpuUsage(u0), c1 = childTicks();
        s.user.push(u.user / 1000 + (c1[0] - c0[0]) * 10);
        s.sys.push(u.system / 1000 + (c1[1] - c0[1]) * 10);
      }
    }
  } finally {
    for (const s of sides) await s.close();
    ns.remove();
  }
  const med = (x: number[]) => { const t = [...x].sort((p, q) => p - q); return Math.round(t[t.length >> 1]!); };
  for (const s of sides) {
    console.log(JSON.stringify({ side: s.name, user: med(s.user), sys: med(s.sys), total: med(s.user.map((u, i) => u + s.sys[i]!)), users: s.user.map(Math.round), syss: s.sys.map(Math.round) }));
  }
} else if (mode === '--run') {
  // Each --lib in turn per round, the first to run rotating (the second of a pair pays the first's garbage).
  const libs = libDirs.length ? libDirs : [''];
  const recs = load(a!);
  const rounds = Number(b ?? 10);
  const sides = await Promise.all(libs.map(async (dir) => {
    const { nft } = dir ? await import(pathToFileURL(`${dir}/index.${existsSync(`${dir}/index.ts`) ? 'ts' : 'js'}`).href) as Lib : thisLib;
    const h = nft.open();
    return { dir, h, times: [] as number[], objects: 0, json: '' };
  }));
  let k = 0;
  for (const s of sides) (s.h as unknown as { native: Native }).native = () => Promise.resolve(recs[k++ % recs.length]);
  try {
    for (let i = 0; i < rounds; i++) {
      for (let j = 0; j < sides.length; j++) {
        const s = sides[(i + j) % sides.length]!;
        k = 0;
        const c0 = process.cpuUsage();
        const objects = await s.h.list();
        const c = process.cpuUsage(c0);
        s.objects = objects.length;
        s.times.push((c.user + c.system) / 1000);
        // The sides' listings must be equal (checked once, outside the timing).
        if (i === 0 && sides.length > 1) s.json = JSON.stringify(objects);
      }
    }
  } finally {
    for (const s of sides) await s.h.close();
  }
  for (const s of sides) if (s.json !== sides[0]!.json) throw new Error(`${s.dir}'s listing differs from ${sides[0]!.dir}'s`);
  for (const s of sides) {
    const t = [...s.times].sort((x, y) => x - y);
    console.log(JSON.stringify({ lib: s.dir || 'lib', objects: s.objects, median: Math.round(t[t.length >> 1]!), min: Math.round(t[0]!), max: Math.round(t[t.length - 1]!), times: s.times.map((x) => Math.round(x)) }));
  }
}
