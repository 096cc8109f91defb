// Child process of test/kernel/faults-native-restore.test.ts: pushes mutated restore texts
// through the native compile and commit (iptables handle, legacy) in one namespace, and the
// same texts through iptables-legacy-restore in another. Every outcome must be a
// RestoreResult or an NlkitError (anything else exits 1 with the input); nlkit must accept
// what the tool accepts, then hold the same tables, and a refused text must change nothing.
// Prints its figures as one JSON line.
//
//   node --import tsx native-fuzz-child.ts '{"netns":"/run/netns/b","toolNs":"a","family":4,"runs":200,"seed":1}'
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { iptables } from '../../lib/index.js';
import { NlkitError } from '../../lib/core/errors.js';
import { garbage, mutated, typedFailure } from './fuzz.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { netns: string; name: string; toolNs: string; family: 4 | 6; runs: number; seed: number };
const fixture = (name: string) => readFileSync(new URL(`../fixtures/iptables/${name}`, import.meta.url), 'utf8');
const base = cfg.family === 6 ? [fixture('input-v6.restore')] : [fixture('input-v4.restore'), fixture('kube.restore')];

// Mostly texts close to real ones (so that they reach the extensions' parsers), some noise.
const texts = fc.sample(fc.oneof({ weight: 8, arbitrary: mutated(fc.constantFrom(...base)) }, { weight: 1, arbitrary: garbage }), { numRuns: cfg.runs, seed: cfg.seed });

const prefix = cfg.family === 6 ? 'ip6tables' : 'iptables';
const inNs = (ns: string, cmd: string, args: string[], input?: string) =>
  spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
const save = (ns: string) => inNs(ns, `${prefix}-legacy-save`, []).stdout.replace(/^#.*\n/gm, '');
/**
 * A save without the tables that are just there, empty with ACCEPT policies: reading a table
 * (as iptables-restore and nlkit both do) makes the kernel set it up in the namespace.
 */
const rules = (saved: string) => saved.split(/(?=^\*)/m)
  .filter((t) => !t.split('\n').slice(1).every((l) => l === '' || l === 'COMMIT' || /^:\S+ ACCEPT \[0:0\]$/.test(l))).join('');
/** Makes nlkit's namespace hold what the tool's holds (after a text the tool cannot judge). */
const resync = () => {
  const r = inNs(cfg.name, `${prefix}-legacy-restore`, [], save(cfg.toolNs));
  if (r.status !== 0) throw new Error(`resync failed: ${r.stderr}`);
};

const h = iptables.open({ netns: cfg.netns, family: cfg.family, backend: 'legacy' });
const figures = {
  runs: 0, committed: 0, errors: {} as Record<string, number>, toolAccepts: 0, statusDiffers: 0, stateDiffers: 0, refusedButChanged: 0,
  noOracle: 0, samples: [] as string[], plain: [] as string[],
};
const sample = (list: string[], s: string) => { if (list.length < 5) list.push(s); };

// What each namespace holds, carried from one text to the next.
let toolBefore = save(cfg.toolNs);
let before = save(cfg.name);
for (const text of texts) {
  figures.runs++;
  // A NUL ends the line for iptables-restore (fgets, then C strings): it drops the rest of the
  // line unread and commits the prefix, where nlkit refuses the line. No oracle for those.
  const oracle = !text.includes('\0');
  let toolOk = false;
  if (oracle) {
    toolOk = inNs(cfg.toolNs, `${prefix}-legacy-restore`, [], text).status === 0;
    if (toolOk) figures.toolAccepts++;
  } else figures.noOracle++;
  let ok: boolean;
  try {
    await h.restore(text, { wait: 10_000 });
    figures.committed++;
    ok = true;
  } catch (caught) {
    const e = typedFailure(caught, text, figures.errors);
    if (e.constructor === NlkitError) sample(figures.plain, e.message);
    ok = false;
  }
  const shown = JSON.stringify(text.length > 20000 ? text.slice(0, 20000) : text);
  const toolAfter = save(cfg.toolNs);
  const after = save(cfg.name);
  // A refused text changes nothing but the set-up of tables (iptables-restore, by contrast,
  // keeps the tables it committed before the failing one: its state is no oracle then).
  if (!ok && rules(after) !== rules(before)) {
    figures.refusedButChanged++;
    sample(figures.samples, `nlkit refused but changed the tables: ${shown}`);
  }
  if (oracle) {
    // A `--h` in a rule makes the tool print help and exit 0 having committed nothing.
    const toolNoop = toolOk && toolAfter === toolBefore && !ok;
    if (toolOk !== ok && !toolNoop) {
      figures.statusDiffers++;
      sample(figures.samples, `nlkit ${ok ? 'committed' : 'refused'}, tool ${toolOk ? 'exit 0' : 'failed'}: ${shown}`);
    } else if (toolOk && ok && toolAfter !== after) {
      figures.stateDiffers++;
      sample(figures.samples, `both committed, tables differ: ${shown}`);
    }
  }
  if (toolAfter !== after) resync();
  toolBefore = toolAfter;
  before = toolAfter;
}
// The tables are still readable after all that.
await h.save();
await h.close();
console.log(JSON.stringify(figures));
