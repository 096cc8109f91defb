// bench/nft-list-decode: list()'s read path without the kernel. The native dump results of one
// list() of a kube-proxy cascade ruleset (the dump and the streamed dump readRuleset makes, as the
// binding returned and delivered them) are captured once into a file, then replayed through the
// binding: splitting, sorting and decoding into the objects `nft -j list ruleset` prints, CPU time
// per round (process.cpuUsage, one thread; the worker thread is idle in a replay).
//   tsx bench/nft-list-decode.ts --capture 20000 /tmp/nft-list-20k.bin [--lib DIR ...]  (root: a throwaway netns;
//     several libs: one file each, FILE.0, FILE.1, ..., as each lib reads)
//   tsx bench/nft-list-decode.ts --run /tmp/nft-list-20k.bin[,FILE2...] [rounds] [--lib DIR ...]
//   tsx bench/nft-list-decode.ts --live 20000 [rounds] [--lib DIR ...]  (root: list() and `nft -j list` in turn)
//   --lib DIR (repeatable): a checkout's lib/ to replay through (default this one's); several take
//   turns each round, for before/after rounds in one process.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import * as thisLib from '../lib/index.js';

/**
 * One native dump call of a listing: `dump`, a netlinkDump result (data, sections, ...);
 * `stream`, a netlinkDumpStream's chunks (back to back in data, their lengths in chunkLens) and result.
 */
type Rec = { kind: 'dump' | 'stream'; data: Buffer; chunkLens: number[]; sections: Uint32Array; errnos: Int32Array; messages: Record<number, string>; interrupted: boolean; attempts: number; chunks?: number };

/** Records as one file: a JSON header line, then the data of each record back to back. */
function save(file: string, recs: Rec[]): void {
  const head = JSON.stringify(recs.map((r) => ({ kind: r.kind, len: r.data.length, chunkLens: r.chunkLens, sections: Array.from(r.sections), errnos: Array.from(r.errnos), interrupted: r.interrupted, attempts: r.attempts })));
  writeFileSync(file, Buffer.concat([Buffer.from(`${head}\n`), ...recs.map((r) => r.data)]));
}

function load(file: string): Rec[] {
  const b = readFileSync(file);
  const nl = b.indexOf(10);
  const head = JSON.parse(b.toString('utf8', 0, nl)) as Array<{ kind?: 'dump' | 'stream'; len: number; chunkLens?: number[]; sections: number[]; errnos: number[]; interrupted: boolean; attempts: number }>;
  let p = nl + 1;
  return head.map((h) => {
    const data = Buffer.from(b.subarray(p, p + h.len));
    p += h.len;
    return { kind: h.kind ?? 'dump', data, chunkLens: h.chunkLens ?? [], sections: Uint32Array.from(h.sections), errnos: Int32Array.from(h.errnos), messages: {}, interrupted: h.interrupted, attempts: h.attempts };
  });
}

/** utime+stime of waited-for children (fields 16 and 17 of /proc/self/stat), in ticks. */
function childTicks(): [number, number] {
  const st = readFileSync('/proc/self/stat', 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return [Number(f[13]), Number(f[14])];
}

type Lib = typeof import('../lib/index.js');
type Dumps = {
  netlinkDump: (...args: unknown[]) => Promise<Rec>;
  netlinkDumpStream: (w: unknown, p: number, bytes: Uint8Array, ends: Uint32Array, onChunk: (d: Buffer) => void, opts?: unknown) => Promise<{ chunks: number; errnos: Int32Array; messages: Record<number, string>; interrupted: boolean }>;
};

const [mode, a, b] = process.argv.slice(2);
const libDirs = process.argv.flatMap((x, i) => (x === '--lib' ? [resolve(process.argv[i + 1]!)] : []));
const ext = (dir: string) => (existsSync(`${dir}/index.ts`) ? 'ts' : 'js');
/** A lib's nft and the native binding object its transport calls (replaced below to record or replay dumps). */
async function libOf(dir: string): Promise<{ nft: Lib['nft']; dumps: Dumps }> {
  const lib = dir ? await import(pathToFileURL(`${dir}/index.${ext(dir)}`).href) as Lib : thisLib;
  const native = await import(pathToFileURL(`${dir || resolve('lib')}/core/native.${dir ? ext(dir) : 'ts'}`).href) as { binding(): Dumps };
  return { nft: lib.nft, dumps: native.binding() };
}

if (mode === '--capture') {
  // Each --lib's list() (default this checkout's) of one namespace, its dumps into `b` (or b.0, b.1, ... for several libs).
  const { Netns } = await import('../test/helpers/netns.js');
  const { kubeProxyCommands } = await import('../test/helpers/nft-kube.js');
  const libs = libDirs.length ? libDirs : [''];
  const ns = new Netns('listcap');
  try {
    for (const [i, dir] of libs.entries()) {
      const { nft, dumps } = await libOf(dir);
      const h = nft.open({ netns: ns.name });
      try {
        if (i === 0) await h.apply(kubeProxyCommands(Number(a), 2, 'cascade'));
        const recs: Rec[] = [], finals: Array<() => void> = [];
        const dump = dumps.netlinkDump, stream = dumps.netlinkDumpStream;
        dumps.netlinkDump = async (...args) => { const r = await dump(...args); recs.push({ ...r, kind: 'dump', data: Buffer.from(r.data), chunkLens: [] }); return r; };
        dumps.netlinkDumpStream = async (w, p, bytes, ends, onChunk, opts) => {
          // The record first: chunks may still be on their way when the native promise resolves.
          const parts: Buffer[] = [];
          const rec: Rec = { kind: 'stream', data: Buffer.alloc(0), chunkLens: [], sections: new Uint32Array(0), errnos: new Int32Array(0), messages: {}, interrupted: false, attempts: 1 };
          recs.push(rec);
          const r = await stream(w, p, bytes, ends, (d) => { parts.push(Buffer.from(d)); rec.chunkLens.push(d.length); onChunk(d); }, opts);
          Object.assign(rec, { errnos: r.errnos, interrupted: r.interrupted });
          finals.push(() => { rec.data = Buffer.concat(parts); });
          return r;
        };
        const objects = await h.list();
        for (const f of finals) f();
        dumps.netlinkDump = dump; dumps.netlinkDumpStream = stream;
        const file = libs.length > 1 ? `${b}.${i}` : b!;
        save(file, recs);
        console.log(`${dir || 'lib'}: ${objects.length} objects, ${recs.length} dumps, ${recs.reduce((n, r) => n + r.data.length, 0)} bytes -> ${file}`);
      } finally {
        await h.close();
      }
    }
  } finally {
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
  const sides: Array<{ name: string; list: () => Promise<unknown>; close: () => Promise<void>; user: number[]; sys: number[]; wall: number[] }> = [];
  try {
    for (const dir of libs) {
      const { nft } = dir ? await import(pathToFileURL(`${dir}/index.${existsSync(`${dir}/index.ts`) ? 'ts' : 'js'}`).href) as Lib : thisLib;
      const h = nft.open({ netns: ns.name });
      if (!sides.length) await h.apply(kubeProxyCommands(Number(a), 2, 'cascade'));
      await h.list();  // warm: JIT, the worker's thread and socket
      sides.push({ name: dir || 'lib', list: () => h.list(), close: () => h.close(), user: [], sys: [], wall: [] });
      // The floor under list() where the lib has it: the same dumps, nothing decoded.
      const floor = (h as { listFloor?: () => Promise<number> }).listFloor?.bind(h);
      if (floor) sides.push({ name: `${dir || 'lib'} floor`, list: floor, close: async () => {}, user: [], sys: [], wall: [] });
    }
    sides.push({ name: 'nft -j list ruleset', list: async () => { ns.run('nft', ['-j', 'list', 'ruleset']); }, close: async () => {}, user: [], sys: [], wall: [] });
    for (let i = 0; i < rounds; i++) {
      for (let j = 0; j < sides.length; j++) {
        const s = sides[(i + j) % sides.length]!;
        const c0 = childTicks(), u0 = process.cpuUsage(), t0 = performance.now();
        await s.list();
        s.wall.push(performance.now() - t0);
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
    console.log(JSON.stringify({ side: s.name, user: med(s.user), sys: med(s.sys), total: med(s.user.map((u, i) => u + s.sys[i]!)), wall: med(s.wall), users: s.user.map(Math.round), syss: s.sys.map(Math.round), walls: s.wall.map(Math.round) }));
  }
} else if (mode === '--run') {
  // Each --lib in turn per round, the first to run rotating (the second of a pair pays the first's
  // garbage); `a`: the capture file, or one per lib, comma-separated (libs that read differently).
  const libs = libDirs.length ? libDirs : [''];
  const files = a!.split(',');
  const rounds = Number(b ?? 10);
  const sides = await Promise.all(libs.map(async (dir, i) => {
    const { nft, dumps } = await libOf(dir);
    const recs = load(files[Math.min(i, files.length - 1)]!);
    let k = 0;
    const next = () => recs[k++ % recs.length]!;
    dumps.netlinkDump = () => Promise.resolve(next());
    dumps.netlinkDumpStream = (_w, _p, _b, _e, onChunk) => {
      const r = next();
      let p = 0;
      for (const n of r.chunkLens) { onChunk(r.data.subarray(p, p + n)); p += n; }
      return Promise.resolve({ chunks: r.chunkLens.length, errnos: r.errnos, messages: {}, interrupted: r.interrupted });
    };
    const h = nft.open();
    return { dir, h, times: [] as number[], objects: 0, json: '', reset: () => { k = 0; } };
  }));
  try {
    for (let i = 0; i < rounds; i++) {
      for (let j = 0; j < sides.length; j++) {
        const s = sides[(i + j) % sides.length]!;
        s.reset();
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
