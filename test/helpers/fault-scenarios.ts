// The fault scenarios, sized by their callers: test/kernel/faults-*.test.ts run them briefly
// in `npm test`, test/soak/*.ts run them for long and print their figures.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { iptables } from '../../lib/index.js';
import type { Netns } from './netns.js';
import { bigFilter, withoutComments } from './tables.js';
import { after } from 'node:test';
import { rmSync } from 'node:fs';
import { kernelSkipReason } from './netns.js';
import { inVm } from './vm.js';

const commitLoop = fileURLToPath(new URL('./commit-loop-child.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

export interface KillFigures {
  kills: number;
  /** How often the table found after a kill was A, B. */
  foundA: number;
  foundB: number;
  /** Commits the children reported before they were killed. */
  commits: number;
}

/**
 * A child commits two big tables (A, B) in turn; it is SIGKILLed at random moments. After
 * each kill iptables-legacy-save must print exactly A's or B's table, as the tool itself
 * writes them (computed first with iptables-legacy-restore).
 */
export async function killDuringCommits(ns: Netns, lockPath: string, rules: number, kills: number, rand = Math.random): Promise<KillFigures> {
  const save = () => withoutComments(ns.run('iptables-legacy-save', ['-t', 'filter']));
  ns.run('iptables-legacy-restore', [], bigFilter('B', rules));
  const saveB = save();
  ns.run('iptables-legacy-restore', [], bigFilter('A', rules));
  const saveA = save();
  assert.notEqual(saveA, saveB);
  const f: KillFigures = { kills: 0, foundA: 0, foundB: 0, commits: 0 };
  for (let k = 0; k < kills; k++) {
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', commitLoop, JSON.stringify({ netns: ns.path, rules })], {
      env: { ...childEnv(), XTABLES_LOCKFILE: lockPath }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d; });
    const ready = new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('ready')) resolve();
    }));
    await Promise.race([ready, once(child, 'exit')]);
    assert.ok(out.includes('ready'), `the child did not start: ${err}`);
    // Anywhere from before the first commit to a few commits in.
    await sleep(rand() * 2500);
    const before = (out.match(/committed/g) ?? []).length;
    child.kill('SIGKILL');
    const [, signal] = await once(child, 'exit') as [number | null, string | null];
    assert.equal(signal, 'SIGKILL', `the child ended on its own: ${err}`);
    f.kills++;
    f.commits += before;
    const now = save();
    if (now === saveA) f.foundA++;
    else if (now === saveB) f.foundB++;
    else assert.fail(`after kill ${k + 1} the filter table is neither A nor B (${now.split('\n').length} lines)`);
  }
  // The lock died with the child: the tool can take it.
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'iptables-legacy', '-w', '5', '-N', 'AFTER-KILL'], { env: { ...process.env, XTABLES_LOCKFILE: lockPath }, encoding: 'utf8' });
  assert.equal(r.status, 0, `iptables-legacy -w after the kills: ${r.stderr}`);
  return f;
}

export interface LockFigures {
  commits: number;
  cliWrites: number;
  lost: number;
  seconds: number;
}

/**
 * nlkit commits --noflush rule batches into chain NLKIT while `writers` shell loops append
 * rules to chain TOOL with `iptables-legacy -w`, all under one private lock file, for
 * `seconds`. Afterwards every rule either side added must be in the table.
 */
export async function lockContention(ns: Netns, lockPath: string, seconds: number, writers = 2): Promise<LockFigures> {
  ns.run('iptables-legacy-restore', [], '*filter\n:NLKIT - [0:0]\n:TOOL - [0:0]\nCOMMIT\n');
  const env = { ...process.env, XTABLES_LOCKFILE: lockPath };
  const deadline = Date.now() + seconds * 1000;
  const procs = Array.from({ length: writers }, (_, w) => spawn('ip', ['netns', 'exec', ns.name, 'sh', '-c',
    // Each writer appends rules numbered w.i until the time is up, and prints how many it wrote.
    `i=0; end=$(( $(date +%s) + ${seconds} )); while [ $(date +%s) -lt $end ]; do ` +
    `iptables-legacy -w -A TOOL -s 10.${w}.$((i / 256 % 256)).$((i % 256)) -m comment --comment "w${w}.$i" -j RETURN || exit 1; i=$((i+1)); done; echo $i`],
  { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const outputs = procs.map((p) => {
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => { out += d; });
    p.stderr!.on('data', (d: Buffer) => { err += d; });
    return once(p, 'exit').then(([status]) => ({ status: status as number, out, err }));
  });
  const saved = process.env.XTABLES_LOCKFILE;
  process.env.XTABLES_LOCKFILE = lockPath;
  const h = iptables.open({ netns: ns.path, backend: 'legacy' });
  let commits = 0;
  const mine: string[] = [];
  try {
    while (Date.now() < deadline) {
      const batch: string[] = [];
      for (let i = 0; i < 5; i++) {
        const n = mine.length + batch.length;
        batch.push(`nlkit.${n}`);
      }
      const text = `*filter\n${batch.map((c) => `-A NLKIT -m comment --comment "${c}" -j RETURN`).join('\n')}\nCOMMIT\n`;
      await h.restore(text, { noflush: true, wait: true, waitInterval: 5 });
      mine.push(...batch);
      commits++;
    }
  } finally {
    await h.close();
    if (saved === undefined) delete process.env.XTABLES_LOCKFILE;
    else process.env.XTABLES_LOCKFILE = saved;
  }
  const results = await Promise.all(outputs);
  let cliWrites = 0;
  const theirs: string[] = [];
  for (const [w, r] of results.entries()) {
    assert.equal(r.status, 0, `writer ${w} failed: ${r.err}`);
    const n = Number(r.out.trim());
    cliWrites += n;
    for (let i = 0; i < n; i++) theirs.push(`w${w}.${i}`);
  }
  const text = ns.run('iptables-legacy-save', ['-t', 'filter']);
  const present = new Set([...text.matchAll(/--comment "?([^" ]+)"? -j RETURN/g)].map((m) => m[1]!));
  const lost = [...mine, ...theirs].filter((c) => !present.has(c)).length;
  return { commits, cliWrites, lost, seconds };
}

/**
 * Why a fault test cannot run here: one of `tools` is missing, or this is the VM (fault tests
 * are for the host; the VM tier is for what the host kernel lacks).
 * @example const skip = faultSkipReason('ipset', 'iptables-legacy-save');
 */
export function faultSkipReason(...tools: string[]): string | undefined {
  for (const t of tools) {
    const r = kernelSkipReason(t);
    if (r) return r;
  }
  return inVm() ? 'fault tests run on the host; the VM tier is for what the host kernel lacks' : undefined;
}

/**
 * A private xtables lock file path for one describe block (/tmp/nlkit-<tag>-<pid>.lock), removed
 * after its tests. Call inside describe().
 * @example const lock = suiteLockFile('hammer');
 */
export function suiteLockFile(tag: string): string {
  const path = `/tmp/nlkit-${tag}-${process.pid}.lock`;
  after(() => rmSync(path, { force: true }));
  return path;
}
