// Leak checks (test/kernel/leak.test.ts, test/soak/leak-soak.test.ts): each subsystem's
// operations run in rounds in a child process (leak-loop.ts) inside a namespace made here.
// With the normal build the child's memory after a full GC must stay flat from the first
// round (the warm-up) to the last: the resident set outside V8's heap (malloc, native code's
// own) and the live JS heap. Under `npm run test:asan` (NLKIT_ASAN=1) RSS means nothing (ASan
// keeps freed memory in quarantine); there LeakSanitizer checks at the child's exit that
// nothing was lost, and a report makes the child's exit status non-zero.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kernelSkipReason, Netns } from './netns.js';
import { ipvsSkipReason } from './ipvs.js';
import { inVm } from './vm.js';

export const underAsan = (): boolean => process.env.NLKIT_ASAN === '1';

export interface Memory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
}

export interface LoopResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Bytes after each round, after a full GC. */
  after: Memory[];
}

const loop = fileURLToPath(new URL('leak-loop.ts', import.meta.url));

/** Runs `subsystem`'s loop in a child process, in a namespace of its own. */
export async function runLoop(subsystem: string, rounds: number, scale: number): Promise<LoopResult> {
  const ns = new Netns('leak');
  try {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', loop, subsystem, ns.path, String(rounds), String(scale)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // One malloc arena per thread keeps freed memory cached per thread: with worker threads
      // starting and ending, RSS then moves by ~10 MB between rounds with nothing leaked.
      // One arena leaves a real leak (which grows every round) as visible as before.
      env: { ...process.env, MALLOC_ARENA_MAX: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('close', (code, sig) => resolve([code, sig])));
    const line = stdout.split('\n').find((l) => l.startsWith('{'));
    return { status, signal, stderr, after: line ? (JSON.parse(line) as { after: Memory[] }).after : [] };
  } finally {
    ns.remove();
  }
}

const MB = 1024 * 1024;

/** What a leak would make grow: memory outside V8's heap (RSS less the heap's pages), and live JS objects. */
export const measures = {
  native: (m: Memory) => m.rss - m.heapTotal,
  heap: (m: Memory) => m.heapUsed,
};

/**
 * Growth per round that counts as a leak (the median round's, leakGrowth). After a full GC the
 * resident set outside V8's heap still moves by 2-3 MB between rounds (malloc keeps freed
 * pages), so the bound is generous: at the default scale it catches a leak of about 1 KB per
 * operation; LeakSanitizer (test:asan) catches the small ones.
 */
export const LIMIT = 2 * 1024 * 1024;

/**
 * Growth per round as a leak makes it: the median of the rounds' increments. A leak grows
 * memory every round; malloc settling (arenas grown, pages kept) grows it in the first two or
 * three rounds only. Counted first round to last, that failed the ipset, link and workers loops
 * now and then with nothing lost (native 59.7, 64.4, 69.4, 69.9, 70.5 MB; 59.2, 71.8, 72.1, 71.8,
 * 71.9 MB).
 * @example leakGrowth([10, 12, 14, 16, 18]) // 2
 */
export function leakGrowth(values: number[]): number {
  const inc = values.slice(1).map((v, i) => v - values[i]!).sort((a, b) => a - b);
  if (inc.length === 0) return 0;
  const h = inc.length >> 1;
  return inc.length % 2 ? inc[h]! : (inc[h - 1]! + inc[h]!) / 2;
}

export const mb = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MB`;

// Seven: the median of six rounds' growth is a later round's even when malloc settles over three.
const ROUNDS = 7;

/** Which loops run here; in the VM only IPVS, which the host kernel lacks (the rest ran on the host). */
const loops: [string, string | undefined][] = [
  ['ipset', kernelSkipReason('ipset')],
  ['iptables', kernelSkipReason('iptables-legacy')],
  ['link', kernelSkipReason()],
  ['handles', kernelSkipReason('iptables-legacy')],
  ['workers', kernelSkipReason()],
  ['ipvs', ipvsSkipReason()],
].map(([name, reason]) => [name!, reason ?? (inVm() && name !== 'ipvs' ? 'in the VM only the IPVS loop runs; this one runs on the host' : undefined)]);

const what: Record<string, string> = {
  ipset: 'ipset add/test/del/save/restore/list, refused adds and dels',
  iptables: 'iptables restore/save, refused restores',
  link: 'address add/list/del/sync, refused adds',
  handles: 'handles opened, used and closed (or dropped to the GC), in parallel',
  workers: 'worker threads that load the addon, use handles and exit',
  ipvs: 'IPVS services and destinations added, listed and deleted, refused adds',
};

/** The leak tests: each loop with `scale` times the default number of operations per round. */
export function leakSuite(scale: number): void {
  describe(`no memory lost per operation (scale ${scale})`, () => {
    for (const [name, skip] of loops) {
      it(`${name}: ${what[name]}`, { skip, timeout: 120_000 * scale }, async (t) => {
        const r = await runLoop(name, ROUNDS, scale);
        const hint = r.signal === 'SIGABRT' && /uv__close: Assertion/.test(r.stderr)
          ? ' (libuv found one of fds 0-2 reused: something closed the process\'s stdin/stdout/stderr)' : '';
        assert.equal(r.status, 0, `the ${name} loop failed (status ${r.status}, signal ${r.signal})${hint}:\n${r.stderr}`);
        assert.equal(r.after.length, ROUNDS, 'the loop reported no measurements');
        for (const [measure, of] of Object.entries(measures)) {
          t.diagnostic(`${measure} memory after each round: ${r.after.map((m) => mb(of(m))).join(', ')}`);
        }
        if (underAsan()) {
          t.diagnostic('sanitizer build: LeakSanitizer checked the exit; memory is not compared (ASan holds freed memory)');
          return;
        }
        for (const [measure, of] of Object.entries(measures)) {
          const growth = leakGrowth(r.after.map(of));
          assert.ok(growth < LIMIT, `${measure} memory grew by ${mb(growth)} a round (the median of ${ROUNDS - 1} rounds' growth; limit ${mb(LIMIT)} a round)`);
        }
      });
    }
  });
}
