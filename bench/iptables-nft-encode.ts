// bench/iptables-nft-encode: restore()'s user-space path on the nf_tables backend without the
// kernel: a kube-proxy nat text through the dialect check and the plan (TS), the libxtables
// compile (native, on the handle's worker), and the batch encoding (TS), nothing sent. CPU time
// per round (process.cpuUsage: every thread, the worker's compile included), split into the
// three parts, and a sha256 of the batch (fixed generation id) so that two versions' batches can
// be compared byte for byte. Runs in a throwaway namespace (root) only because the compile runs
// on a handle's worker.
//   node --import tsx bench/iptables-nft-encode.ts SERVICES [ROUNDS]   (WARM=N: warm-up size, default 200)
// Before/after: run it from two checkouts in turns (one process each) and compare the medians.
import { createHash } from 'node:crypto';
import { withIptables } from './common.js';
import { kubeProxyNat } from '../test/fixtures/iptables/kube-proxy.js';
import { binding, type RawWorker } from '../lib/core/native.js';
import { planRestore } from '../lib/iptables/restore-text.js';
import { nftDialect } from '../lib/iptables/nft/handle-restore.js';
import { restoreMessages, type CompiledNftTable } from '../lib/iptables/nft/restore.js';

const services = Number(process.argv[2] ?? 5000);
const rounds = Number(process.argv[3] ?? 5);
const text = kubeProxyNat({ services });
const warm = kubeProxyNat({ services: Number(process.env.WARM ?? 200) });

const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };

await withIptables('nft', async (h) => {
  const native = <T>(fn: (w: RawWorker) => Promise<T>): Promise<T> => (h as any).native('iptables.restore', fn);
  const once = async (input: string) => {
    const c0 = cpu();
    const t = nftDialect(input);
    const plan = planRestore(t);
    const tables = plan.tables.map((p) => ({ name: p.name, flush: true, body: p.body, line: p.line, firstLine: p.firstLine, commitLine: p.commitLine, chains: p.chains }));
    const c1 = cpu();
    const r = await native((w) => binding().iptablesRestore(w, null, { family: 4, counters: false, tables, compileOnly: true }));
    const c2 = cpu();
    const compiled: CompiledNftTable[] = r.tables!.map((raw) => ({ name: raw.table, body: plan.tables.find((p) => p.name === raw.table)!.body, raw }));
    const msgs = restoreMessages(4, compiled, new Set(['nat']), 0, undefined, 1234);
    const sealed = msgs.sealed();
    const c3 = cpu();
    return { plan: c1 - c0, compile: c2 - c1, encode: c3 - c2, total: c3 - c0, bytes: sealed.bytes, ends: sealed.ends };
  };
  for (let i = 0; i < 3; i++) await once(warm);
  const rs: Array<Awaited<ReturnType<typeof once>>> = [];
  let hash = '';
  for (let i = 0; i < rounds; i++) {
    const r = await once(text);
    if (i === 0) hash = createHash('sha256').update(r.bytes).update(Buffer.from(r.ends.buffer, r.ends.byteOffset, r.ends.byteLength)).digest('hex').slice(0, 16);
    rs.push(r);
  }
  const min = (k: 'total') => Math.round(Math.min(...rs.map((r) => r[k])));
  const med = (k: 'plan' | 'compile' | 'encode' | 'total') => { const s = rs.map((r) => r[k]).sort((a, b) => a - b); return Math.round(s[s.length >> 1]!); };
  console.log(JSON.stringify({ services, rounds, plan: med('plan'), compile: med('compile'), encode: med('encode'), total: med('total'), min: min('total'), totals: rs.map((r) => Math.round(r.total)), parts: rs.slice(0, 3).map((r) => [r.plan, r.compile, r.encode].map(Math.round).join('/')), bytes: rs[0]!.bytes.length, hash }));
});
