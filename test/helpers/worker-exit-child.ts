// Child of faults-worker-exit.test.ts: starts worker_threads that load nlkit and call it in a
// loop inside the namespace given, and ends each one at a random point: worker.terminate()
// from here (sometimes before the addon has loaded), or process.exit() inside the worker.
// Exits 0 when this process survived every one; a native abort ends it with 134 instead.
import { Worker } from 'node:worker_threads';

const [netns, roundsArg, seedArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 200);
let seed = Number(seedArg ?? Date.now()) >>> 0;
const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
// The built package, as users load it: a worker that compiled lib/ through tsx would spend
// a second loading where this takes a few milliseconds.
const lib = new URL('../../dist/index.cjs', import.meta.url).pathname;

// Runs in the worker: calls on several handles at once, never awaiting an end; told by
// workerData to call process.exit() after `exitAfter` completed calls.
const code = `
  const { workerData, parentPort } = require('node:worker_threads');
  const { ipset, iptables, link } = require(workerData.lib);
  let done = 0;
  const tick = () => {
    if (++done === 1) parentPort.postMessage('calling');
    if (done === workerData.exitAfter) process.exit(0);
  };
  const loop = async (fn) => { for (;;) { try { await fn(); } catch {} tick(); } };
  const s = ipset.open({ netns: workerData.netns });
  const t = iptables.open({ netns: workerData.netns, backend: 'legacy' });
  const l = link.open({ netns: workerData.netns });
  loop(() => s.list());
  loop(() => s.create('w' + workerData.id, 'hash:ip', {}, { exist: true }).then(() => s.add('w' + workerData.id, ['10.0.0.1'], { exist: true })));
  loop(() => t.save({ table: 'filter' }));
  loop(() => l.list());
  // Handles opened and dropped while calls are in flight.
  loop(() => { const h = link.open({ netns: workerData.netns }); return h.list(); });`;

async function one(id: number): Promise<string> {
  const mode = random();
  const exitAfter = mode < 0.3 ? 1 + Math.floor(random() * 50) : -1;
  const w = new Worker(code, { eval: true, workerData: { lib, netns, id: id % 4, exitAfter }, stdout: true, stderr: true });
  const errors: unknown[] = [];
  w.on('error', (e) => errors.push(e));
  const exited = new Promise<number>((resolve) => w.once('exit', resolve));
  if (exitAfter > 0) {
    await exited;
    return 'exit';
  }
  if (mode < 0.45) {
    // While the worker loads nlkit and the addon.
    await new Promise((r) => setTimeout(r, random() * 60));
    await w.terminate();
    return 'load';
  }
  // After the calls have started, a random while later.
  await Promise.race([new Promise((r) => w.once('message', r)), exited]);
  await new Promise((r) => setTimeout(r, random() * 20));
  await w.terminate();
  if (errors.length) throw errors[0];
  return 'calls';
}

const counts: Record<string, number> = {};
let next = 0;
// A few workers at a time: two cores.
await Promise.all(Array.from({ length: 4 }, async () => {
  while (next < rounds) {
    const how = await one(next++);
    counts[how] = (counts[how] ?? 0) + 1;
  }
}));
console.log(JSON.stringify({ rounds, ...counts }));
