// Child of faults-worker-exit.test.ts: starts worker_threads that load nlkit and call it in a
// loop inside the namespace given, and ends each one at a random point: worker.terminate()
// from here (sometimes before the addon has loaded), or process.exit() inside the worker.
// Last, a worker waiting for an xtables lock that another process holds is terminated: its
// teardown must not wait for the holder to let go. Exits 0 when this process survived every
// one; a native abort ends it with 134 instead, a teardown that waits keeps it from exiting.
import { Worker } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync, rmSync } from 'node:fs';

const [netns, roundsArg, seedArg, lockFile] = process.argv.slice(2);
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

// A worker waiting (without end) for the xtables lock held by another process.
// In a process group of its own: flock's child (the sleep, which holds the lock too) goes with it.
const holder = spawn('flock', [lockFile!, 'sh', '-c', 'echo held; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
await once(holder.stdout!, 'data');
holder.stdout!.destroy();
const waiter = new Worker(`
  const { workerData, parentPort } = require('node:worker_threads');
  process.env.XTABLES_LOCKFILE = workerData.lockFile;
  const { iptables } = require(workerData.lib);
  const t = iptables.open({ netns: workerData.netns, backend: 'legacy' });
  t.withLock(() => parentPort.postMessage('got the lock')).catch(() => {});
  parentPort.postMessage('waiting');`, { eval: true, workerData: { lib, netns, lockFile } });
const first = await once(waiter, 'message');
if (first[0] !== 'waiting') throw new Error(`the worker did not wait for the lock: ${String(first[0])}`);
// The handle's thread is in the wait once it has the lock file open (it polls with LOCK_NB).
const lockOpen = () => readdirSync('/proc/self/fd').some((fd) => {
  try { return readlinkSync(`/proc/self/fd/${fd}`) === lockFile; } catch { return false; }
});
while (!lockOpen()) await new Promise((r) => setTimeout(r, 5));
await waiter.terminate();
// The holder still holds it: the termination did not wait for it.
const holderAlive = holder.exitCode === null && holder.signalCode === null;
process.kill(-holder.pid!, 'SIGKILL');
rmSync(lockFile!, { force: true });
console.log(JSON.stringify({ rounds, ...counts, holderAlive }));
