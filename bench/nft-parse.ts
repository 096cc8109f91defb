// bench/nft-parse: restore()'s user-space work without the kernel: nft's text of a kube-proxy
// cascade ruleset (what bench/nft.ts restores: nlkit's save() of it, equal to nft's) parsed and
// encoded into the one batch restore() sends (streamScript, its streaming path), CPU time
// (user+system of this process, GC threads included) per round after a warm-up.
//   tsx bench/nft-parse.ts --capture 20000 /tmp/kube-cascade-20k.nft   (root: a throwaway netns)
//   tsx bench/nft-parse.ts --run /tmp/kube-cascade-20k.nft [rounds] [--lib DIR] [--parse-only]
//   --lib DIR: a checkout's lib/ to measure (default this one's); run one process per lib, in
//   turn, for before/after figures (the batch's sha256 is printed to compare bytes).
//   --parse-only: parseInto() into a sink that drops the commands (the parser's share).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [mode, a, b] = process.argv.slice(2);
const libArg = process.argv.indexOf('--lib');
const lib = resolve(libArg > 0 ? process.argv[libArg + 1]! : new URL('../lib', import.meta.url).pathname);

if (mode === '--capture') {
  const { Netns } = await import('../test/helpers/netns.js');
  const { kubeProxyCommands } = await import('../test/helpers/nft-kube.js');
  const { nft } = await import('../lib/index.js');
  const ns = new Netns('parsecap');
  const h = nft.open({ netns: ns.name });
  try {
    await h.apply(kubeProxyCommands(Number(a), 2, 'cascade'));
    const text = await h.save();
    writeFileSync(b!, text);
    console.log(`${text.length} characters, ${text.split('\n').length} lines`);
  } finally {
    await h.close();
    ns.remove();
  }
} else if (mode === '--run') {
  const text = readFileSync(a!, 'utf8');
  const rounds = Number(b ?? 6);
  const parseOnly = process.argv.includes('--parse-only');
  const { streamScript } = await import(pathToFileURL(`${lib}/nft/restore-stream.ts`).href) as typeof import('../lib/nft/restore-stream.js');
  const { parseInto } = await import(pathToFileURL(`${lib}/nft/parse.ts`).href) as typeof import('../lib/nft/parse.js');
  const drop = { command() {}, blockBegin() {}, blockItem() {}, blockEnd() {} };
  let hash = '';
  const once = () => {
    if (parseOnly) { parseInto(text, '<bench>', drop); return; }
    const s = streamScript(text, '<bench>', {});
    if (!s) throw new Error('the text did not stream');
    hash = createHash('sha256').update(s.batch.buf).digest('hex').slice(0, 16);
  };
  once();  // warm-up: module loading, JIT
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const c0 = process.cpuUsage();
    once();
    const c = process.cpuUsage(c0);
    times.push((c.user + c.system) / 1000);
  }
  const t = [...times].sort((x, y) => x - y);
  console.log(JSON.stringify({ lib, parseOnly, hash, median: Math.round(t[t.length >> 1]!), min: Math.round(t[0]!), max: Math.round(t[t.length - 1]!), times: times.map(Math.round) }));
}
