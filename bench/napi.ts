// bench/napi: what the JS/native boundary costs, apart from any kernel work (probes in
// native/core/bench.cc, linked in by `npm run build:bench` only): a trivial synchronous call,
// a no-op job through a handle's worker queue and back (awaited one at a time, and many in
// flight), and a 100k-item batch crossing once as an array of strings or packed in one Buffer.
// Usage: tsx bench/napi.ts [--quick] [--reps N] [--json]
import { binding, type BenchBinding, type Binding } from '../lib/core/native.js';
import { fmtN, median, parseArgs, row, runStandalone, timed, type Row, type Section } from './common.js';

const ip4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},tcp:${1 + (i % 60000)}`;

/** Packs strings into one buffer, item i ending at ends[i] (how lib/ builds netlink batches). */
function pack(items: string[]): { bytes: Uint8Array; ends: Uint32Array } {
  const enc = new TextEncoder();
  const bytes = new Uint8Array(items.reduce((n, s) => n + s.length * 3, 0));
  const ends = new Uint32Array(items.length);
  let off = 0;
  items.forEach((s, i) => {
    off += enc.encodeInto(s, bytes.subarray(off)).written;
    ends[i] = off;
  });
  return { bytes: bytes.subarray(0, off), ends };
}

export async function run(args: ReturnType<typeof parseArgs>): Promise<Section> {
  // The production addon has no probes (native/core/bench.cc is linked in by NLKIT_BENCH=1 only).
  const loaded = binding() as Binding & Partial<BenchBinding>;
  if (typeof loaded.benchNoop !== 'function') throw new Error('bench/napi: the addon has no probes: run `npm run build:bench` first');
  const b = loaded as Binding & BenchBinding;
  const reps = Math.max(args.reps, 3);  // cheap: always a median
  const syncCalls = args.quick ? 1_000_000 : 5_000_000;
  const awaited = args.quick ? 10_000 : 50_000;
  const inFlight = 100_000;
  const batch = 100_000;
  const items = Array.from({ length: batch }, (_, i) => ip4(i));
  const w = new b.Worker();
  const per = (n: number, runs: number[]) => runs.map((t) => t / n);
  const m = { sync: [] as number[], awaited: [] as number[], inFlight: [] as number[], strings: [] as number[], buffer: [] as number[], pack: [] as number[] };
  try {
    // warm every path first: JIT, the worker thread, allocation
    for (let i = 0; i < 10_000; i++) b.benchNoop();
    for (let i = 0; i < 1000; i++) await b.benchAsync(w);
    const warm = pack(items);
    if ((await b.benchBuffer(w, warm.bytes, warm.ends)) <= 0 || (await b.benchStrings(w, items)) <= 0) throw new Error('batch probes walked nothing');
    for (let r = 0; r < reps; r++) {
      m.sync.push(await timed(() => { for (let i = 0; i < syncCalls; i++) b.benchNoop(); }));
      m.awaited.push(await timed(async () => { for (let i = 0; i < awaited; i++) await b.benchAsync(w); }));
      m.inFlight.push(await timed(() => Promise.all(Array.from({ length: inFlight }, () => b.benchAsync(w)))));
      m.strings.push(await timed(() => b.benchStrings(w, items)));
      let packed!: ReturnType<typeof pack>;
      m.pack.push(await timed(() => { packed = pack(items); }));
      m.buffer.push(await timed(() => b.benchBuffer(w, packed.bytes, packed.ends)));
    }
  } finally {
    await w.close();
  }
  const rows: Row[] = [
    row('trivial synchronous native call', syncCalls, 'calls', per(syncCalls, m.sync)),
    row('async no-op job through the worker queue, each awaited before the next: queue, thread hop, promise settled on the JS thread', awaited, 'calls', per(awaited, m.awaited)),
    row('async no-op job through the worker queue, all in flight', inFlight, 'calls', per(inFlight, m.inFlight)),
    row('one batch call: an array of strings, copied out of JS and walked on the worker', batch, 'items', per(batch, m.strings)),
    row('one batch call: one Buffer + end offsets, walked on the worker without a copy', batch, 'items', per(batch, m.buffer)),
    row('packing those strings into the Buffer in JS (TextEncoder; no native call)', batch, 'items', per(batch, m.pack)),
  ];
  console.error('napi: done');
  return {
    id: 'napi',
    title: 'N-API boundary (`bench/napi.ts`)',
    notes: [
      `What crossing between JavaScript and the native core costs, with no kernel work (probes in \`native/core/bench.cc\`); median of ${reps}. ` +
      'Every kernel operation pays one async crossing; a batch pays it once plus its per-item cost, ' +
      `so ${fmtN(batch)} entries as one batch cost the batch\'s whole run, against ${fmtN(batch)} × the in-flight figure as separate calls.`,
    ],
    layout: 'cost',
    rows: rows.map((r) => ({ ...r, nlkit: median(r.nlkitRuns!) })),
    charts: [],
  };
}

await runStandalone(import.meta.url, run);
