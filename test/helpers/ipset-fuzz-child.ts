// Child process of test/kernel/faults-ipset-restore.test.ts: mutated `ipset restore` texts
// through nlkit (check, encode, send) in one namespace and through `ipset restore` in another.
// Every outcome must be a value or an NlkitError (anything else exits 1 with the input); a
// text nlkit takes the tool must take too, leaving the same sets; a text nlkit refuses must
// change nothing. Texts only the tool takes are counted (nlkit is stricter on purpose: see
// lib/ipset/grammar.ts). Prints its figures as one JSON line.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { ipset } from '../../lib/index.js';
import { garbage, mutated, typedFailure } from './fuzz.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { netns: string; name: string; toolNs: string; runs: number; seed: number };
const base = readFileSync(new URL('../fixtures/ipset/input.restore', import.meta.url), 'utf8');
const texts = fc.sample(fc.oneof({ weight: 8, arbitrary: mutated(fc.constant(base)) }, { weight: 1, arbitrary: garbage }), { numRuns: cfg.runs, seed: cfg.seed });

const inNs = (ns: string, args: string[], input?: string) => spawnSync('ip', ['netns', 'exec', ns, ...args], { input, encoding: 'utf8' });
/** `ipset save` without what differs between two namespaces holding the same sets: hash seeds, member order, timeouts counting down. */
const save = (ns: string) => inNs(ns, ['ipset', 'save']).stdout.split('\n')
  .map((l) => (l.startsWith('create ') ? l.replace(/ initval 0x[0-9a-f]+/, '') : l.replace(/ timeout \d+/, ''))).sort().join('\n');
/** Each text starts from no sets, so that its create lines run rather than meet ExistsError. */
const reset = (ns: string) => {
  const r = inNs(ns, ['sh', '-c', 'ipset flush && ipset destroy']);
  if (r.status !== 0) throw new Error(`reset failed: ${r.stderr}`);
};

const h = ipset.open({ netns: cfg.netns });
const figures = {
  runs: 0, applied: 0, errors: {} as Record<string, number>, toolAccepts: 0, onlyTool: 0, onlyNlkit: 0, stateDiffers: 0,
  refusedButChanged: 0, samples: [] as string[], stricter: [] as string[],
};
const sample = (list: string[], s: string) => { if (list.length < 5) list.push(s); };

for (const text of texts) {
  figures.runs++;
  reset(cfg.toolNs);
  reset(cfg.name);
  const before = save(cfg.name);
  // NUL: libipset reads C strings; the tool's reading of such a line is no oracle.
  const oracle = !text.includes('\0');
  const toolOk = oracle && inNs(cfg.toolNs, ['ipset', 'restore'], text).status === 0;
  if (toolOk) figures.toolAccepts++;
  let ok: boolean;
  let why = '';
  try {
    await h.restore(text);
    figures.applied++;
    ok = true;
  } catch (caught) {
    const e = typedFailure(caught, text, figures.errors);
    const line = e.line;
    why = `${e.constructor.name}: ${e.message}${line ? ` | line ${line}: ${JSON.stringify(text.split('\n')[line - 1])}` : ''}`;
    ok = false;
  }
  const shown = JSON.stringify(text);
  const toolAfter = save(cfg.toolNs);
  const after = save(cfg.name);
  if (!ok && after !== before) {
    figures.refusedButChanged++;
    sample(figures.samples, `nlkit refused but changed the sets: ${shown}`);
  }
  if (oracle) {
    if (ok && !toolOk) {
      figures.onlyNlkit++;
      sample(figures.samples, `nlkit applied what the tool refuses: ${shown}`);
    } else if (!ok && toolOk) {
      figures.onlyTool++;
      sample(figures.stricter, why);
    } else if (ok && toolOk && after !== toolAfter) {
      figures.stateDiffers++;
      sample(figures.samples, `both applied, sets differ: ${shown}`);
    }
  }
}
await h.save();
await h.close();
console.log(JSON.stringify(figures));
