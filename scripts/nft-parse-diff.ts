// Differential of two checkouts' nft text parsers (restore()'s): parseScript() results or errors (class, message,
// fields) compared exactly on the .nft fixtures under test/, the nft texts in the nft unit and kernel
// tests, and MUTATED texts cut from those and TEXT (bench/nft-parse.ts --capture 1000 TEXT) with
// tokens deleted, inserted or replaced. For parser speed work: the new parser must say the same.
//   tsx scripts/nft-parse-diff.ts BASE_LIB [NEW_LIB] [TEXT] [MUTATED]
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const [baseLib, newLib = new URL('../lib', import.meta.url).pathname, bigText = '/tmp/kube-cascade-1k.nft', count = '3000'] = process.argv.slice(2);
if (!baseLib) { console.error('usage: tsx scripts/nft-parse-diff.ts BASE_LIB [NEW_LIB] [TEXT] [MUTATED]'); process.exit(2); }
const A = await import(pathToFileURL(`${resolve(baseLib)}/nft/parse.ts`).href) as typeof import('../lib/nft/parse.js');
const B = await import(pathToFileURL(`${resolve(newLib)}/nft/parse.ts`).href) as typeof import('../lib/nft/parse.js');
const run = (m: typeof A, t: string) => { try { const r = m.parseScript(t, '<t>'); return JSON.stringify(r); } catch (e) { const x = e as Error & Record<string, unknown>; return `${x.constructor.name}|${x.message}|${JSON.stringify({ ...x })}`; } };
const texts: string[] = [];
const big = readFileSync(bigText, 'utf8');
texts.push(big);
const W = new URL('../test', import.meta.url).pathname;
const walk = (d: string): string[] => readdirSync(d).flatMap((f) => { const p = join(d, f); return statSync(p).isDirectory() ? walk(p) : [p]; });
const files = walk(W);
let fixtures = 0;
for (const f of files.filter((f) => f.endsWith('.nft'))) { texts.push(readFileSync(f, 'utf8')); fixtures++; }
const srcs = files.filter((f) => /(unit|kernel)\/(property-)?nft[^/]*\.test\.ts$/.test(f));
for (const f of srcs) {
  const src = readFileSync(f, 'utf8');
  for (const m of src.matchAll(/'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`/g)) { const s = (m[1] ?? m[2] ?? '').replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\'/g, "'"); if (/\b(add|table|define|flush|delete|insert|replace|create)\b/.test(s)) texts.push(s); }
}
const lit = texts.length;
const corpus = [big, ...texts.slice(1, fixtures + 1)].join('\n').split('\n');
let seed = 12345; const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const junk = ['{', '}', ';', ',', '"', '"x"', '$a', 'define a = 1', 'define', '\\\n', '#c', ' ', '\n', 'ip', 'vmap', ':', '.', '&', '|', '0x10', 'set', 'map', 'jump', 'comment', 'counter', '==', 'accept', '12345678901234567', '007', '-1', 'x/24', '1.2.3.4/8', 'tcp', 'dport', 'meta', 'map', 'dnat', 'to', ':80', '[::1]:80', '10.0.0.1-10.0.0.2:1-2', 'random', 'ip6', 'snat', 'masquerade', 'redirect', 'fully-random', 'persistent', 'inet'];
const N = Number(count);
for (let k = 0; k < N; k++) {
  const a = rnd(corpus.length - 30); const chunk = corpus.slice(a, a + 1 + rnd(25)).join('\n');
  const fx = texts.slice(1, fixtures + 1);
  let t = k % 2 === 1 ? fx[rnd(fx.length)]! : (rnd(4) === 0 ? 'table inet t {\n' : 'table ip t {\n') + chunk + '\n}\n';
  if (rnd(3) === 0) t = 'define a = 10.0.0.1\ndefine b = { 1, 2 }\n' + t.replace(/172\.30\.0\.\d+/, '$a');
  const toks = t.split(/(\s+)/);
  for (let m = k % 2 === 1 ? rnd(3) : rnd(4); m > 0; m--) { const p = rnd(toks.length); const op = rnd(3); if (op === 0) toks.splice(p, 1); else if (op === 1) toks.splice(p, 0, junk[rnd(junk.length)]!); else toks[p] = junk[rnd(junk.length)]!; }
  texts.push(toks.join(''));
}
let diff = 0, errs = 0;
for (const t of texts) { const x = run(A, t), y = run(B, t); if (!x.startsWith('{')) errs++; if (x !== y) { diff++; if (diff <= 5) console.log('DIFF\n', JSON.stringify(t).slice(0, 400), '\n A:', x.slice(0, 300), '\n B:', y.slice(0, 300)); } }
console.log(`${texts.length} texts (${fixtures} .nft fixtures, ${lit - fixtures - 1} test literals, ${N} mutated), ${errs} errors, ${diff} differences`);
process.exitCode = diff ? 1 : 0;
