// bench/nft-encode: apply()'s user-space encoding without the kernel: kube-proxy's commands
// (test/helpers/nft-kube.ts) through encodeCommands, CPU time (user+system of this process, GC
// threads included) per call. The commands are built before the clock starts.
//   tsx bench/nft-encode.ts --run 20000 [rounds] [--shape cascade|vmap] [--family ip|ip6] [--lib DIR] [--json] [--reuse]
//     prints the first call's CPU (JIT cold) and each later call's; one process per lib, in turn,
//     for before/after figures.
//   tsx bench/nft-encode.ts --hash [--lib DIR]
//     sha256 of every batch the tests' fixtures (test/fixtures/nft/cases/*.json, nft-text/*.nft)
//     and the 1k/20k kube-proxy shapes (IPv4 and IPv6 tables) encode to: equal output for two libs = byte-identical batches.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { kubeProxyCommands } from '../test/helpers/nft-kube.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const lib = resolve(opt('--lib') ?? new URL('../lib', import.meta.url).pathname);
// (.js when run compiled: profiles with line numbers)
const ext = import.meta.url.endsWith('.js') ? 'js' : 'ts';
const { encodeCommands } = await import(pathToFileURL(`${lib}/nft/encode.${ext}`).href) as typeof import('../lib/nft/encode.js');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

if (argv[0] === '--run') {
  const n = Number(argv[1]);
  const rounds = Number(argv[2] && !argv[2].startsWith('--') ? argv[2] : 5);
  const shape = (opt('--shape') ?? 'cascade') as 'cascade' | 'vmap';
  // --json: the commands as JSON.parse makes them (objects of one shape share a hidden class;
  // the helper's spread-built objects each have their own, which makes every property read a
  // cache miss).
  const family = (opt('--family') ?? 'ip') as 'ip' | 'ip6';
  const built = kubeProxyCommands(n, 2, shape, family);
  const cmds = argv.includes('--json') ? JSON.parse(JSON.stringify(built)) as object[] : built;
  const times: number[] = [];
  let hash = '', bytes = 0;
  // --reuse: each call writes into the previous call's buffer, as apply() does with its spare (wire.ts SpareBuffer).
  const reuse = argv.includes('--reuse');
  let spare: Buffer | undefined;
  for (let i = 0; i <= rounds; i++) {
    const c0 = process.cpuUsage();
    const b = encodeCommands(cmds, reuse && spare ? { buffer: spare } as object : {});
    if (reuse) spare = Buffer.from(b.buf.buffer, 0, b.buf.buffer.byteLength);
    const c = process.cpuUsage(c0);
    times.push((c.user + c.system) / 1000);
    if (i === 0) { hash = sha(b.buf); bytes = b.buf.length; }
  }
  const later = times.slice(1).sort((x, y) => x - y);
  console.log(JSON.stringify({ lib, n, shape, family, json: argv.includes('--json'), reuse, hash, bytes, first: Math.round(times[0]!), median: Math.round(later[later.length >> 1] ?? 0), min: Math.round(later[0] ?? 0), times: times.map(Math.round) }));
} else if (argv[0] === '--hash') {
  const out: Record<string, string> = {};
  const dir = new URL('../test/fixtures/nft/cases/', import.meta.url);
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    out[f] = sha(encodeCommands(JSON.parse(readFileSync(new URL(f, dir), 'utf8')), { ruleAt: () => undefined }).buf);
  }
  out['timeouts.json'] = sha(encodeCommands(JSON.parse(readFileSync(new URL('../test/fixtures/nft/timeouts/timeouts.json', import.meta.url), 'utf8'))).buf);
  const { parseScript } = await import(pathToFileURL(`${lib}/nft/parse.${ext}`).href) as typeof import('../lib/nft/parse.js');
  for (const d of ['../test/fixtures/nft/cases/', '../test/fixtures/nft-text/']) {
    const u = new URL(d, import.meta.url);
    for (const f of readdirSync(u).filter((x) => x.endsWith('.nft')).sort()) {
      try {
        out[`text:${f}`] = sha(encodeCommands(parseScript(readFileSync(new URL(f, u), 'utf8'), f).commands, { ruleAt: () => undefined }).buf);
      } catch (e) { out[`text:${f}`] = `error ${(e as Error).message.slice(0, 60)}`; }
    }
  }
  for (const n of [1000, 20000]) for (const shape of ['cascade', 'vmap'] as const) out[`kube ${shape} ${n}`] = sha(encodeCommands(kubeProxyCommands(n, 2, shape)).buf);
  for (const n of [1000, 20000]) for (const shape of ['cascade', 'vmap'] as const) out[`kube ip6 ${shape} ${n}`] = sha(encodeCommands(kubeProxyCommands(n, 2, shape, 'ip6')).buf);
  for (const [k, v] of Object.entries(out)) console.log(`${k} ${v}`);
}
