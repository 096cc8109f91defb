// The hammer scenario: actors on the main thread and in worker_threads at once, then the
// kernel's state (read with the system tools) against the union of their models.
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { actor, type ActorResult } from './hammer-actor.js';
import type { Netns } from './netns.js';

const workerFile = fileURLToPath(new URL('./hammer-worker.mjs', import.meta.url));

export interface HammerFigures { actors: number; workers: number; ops: number; members: number; rules: number; seconds: number }

function inWorker(id: number, netns: string, rounds: number, seed: number): Promise<ActorResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerFile, { workerData: { id, netns, rounds, seed } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker ${id} exited with ${code} before reporting`)));
  });
}

export async function hammer(ns: Netns, lockPath: string, o: { mainActors: number; workers: number; rounds: number; seed?: number }): Promise<HammerFigures> {
  const t0 = Date.now();
  const saved = process.env.XTABLES_LOCKFILE;
  process.env.XTABLES_LOCKFILE = lockPath;
  let results: ActorResult[];
  try {
    ns.run('ipset', ['create', 'shared', 'hash:ip']);
    const seed = o.seed ?? 1;
    results = await Promise.all([
      ...Array.from({ length: o.mainActors }, (_, i) => actor(i + 1, ns.path, o.rounds, seed)),
      ...Array.from({ length: o.workers }, (_, i) => inWorker(o.mainActors + i + 1, ns.path, o.rounds, seed)),
    ]);
  } finally {
    if (saved === undefined) delete process.env.XTABLES_LOCKFILE;
    else process.env.XTABLES_LOCKFILE = saved;
  }
  for (const r of results) assert.deepEqual(r.wrong, [], `actor ${r.id} saw wrong results`);
  // The kernel, read by the tools, holds exactly the union of the models.
  const save = ns.run('ipset', ['save']);
  const inSet = (name: string) => save.split('\n').filter((l) => l.startsWith(`add ${name} `)).map((l) => l.split(' ')[2]!).sort();
  for (const r of results) assert.deepEqual(inSet(`h${r.id}`), r.members, `set h${r.id}`);
  assert.deepEqual(inSet('shared'), results.flatMap((r) => r.shared).sort(), 'set shared');
  const filter = ns.run('iptables-legacy-save', ['-t', 'filter']).split('\n');
  for (const r of results) {
    const got = filter.filter((l) => l.startsWith(`-A C${r.id} `)).map((l) => /--comment "?([^" ]+)"?/.exec(l)?.[1]);
    assert.deepEqual(got, r.rules, `chain C${r.id}`);
  }
  return {
    actors: results.length, workers: o.workers, ops: results.reduce((n, r) => n + r.ops, 0),
    members: results.reduce((n, r) => n + r.members.length, 0), rules: results.reduce((n, r) => n + r.rules.length, 0),
    seconds: (Date.now() - t0) / 1000,
  };
}
