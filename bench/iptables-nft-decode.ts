// bench/iptables-nft-decode: save()'s decode on the nf_tables backend without the kernel. A
// kube-proxy nat table's dump (the two crossings readNft makes) is captured once into a file,
// then replayed: readNft's read and decode, CPU time per round (process.cpuUsage, one thread).
//   tsx bench/iptables-nft-decode.ts --capture 20000 /tmp/nft-20k.json   (root: a throwaway netns)
//   tsx bench/iptables-nft-decode.ts --run /tmp/nft-20k.json [rounds]
import { readFileSync, writeFileSync } from 'node:fs';
import { readNft } from '../lib/iptables/nft/save.js';

const [mode, a, b] = process.argv.slice(2);
type Rec = { data: Buffer; sections: number[]; errnos: Int32Array; messages: Record<number, string> };

if (mode === '--capture') {
  const { withIptables } = await import('./common.js');
  const { kubeProxyNat } = await import('../test/fixtures/iptables/kube-proxy.js');
  await withIptables('nft', async (h) => {
    await h.restore(kubeProxyNat({ services: Number(a) }));
    const recs: Rec[] = [];
    const native = (fn: (w: unknown) => Promise<unknown>) => (h as any).native('iptables.save', async (w: unknown) => {
      const r = await fn(w) as Rec;
      recs.push(r);
      return r;
    });
    await readNft(native as never, 'iptables.save', 4, 'nat');
    writeFileSync(b!, JSON.stringify(recs.map((r) => ({ data: Buffer.from(r.data).toString('base64'), sections: Array.from(r.sections), errnos: Array.from(r.errnos) }))));
  });
} else if (mode === '--run') {
  const recs = (JSON.parse(readFileSync(a!, 'utf8')) as Array<{ data: string; sections: number[]; errnos: number[] }>)
    .map((r) => ({ data: Buffer.from(r.data, 'base64'), sections: r.sections, errnos: Int32Array.from(r.errnos), messages: {} }));
  const rounds = Number(b ?? 10);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let k = 0;
    const native = () => Promise.resolve(recs[k++]);
    const c0 = process.cpuUsage();
    const r = await readNft(native as never, 'iptables.save', 4, 'nat');
    const c = process.cpuUsage(c0);
    if (r.tables[0]!.incompatible) throw new Error('incompatible');
    times.push((c.user + c.system) / 1000);
  }
  const s = [...times].sort((x, y) => x - y);
  console.log(JSON.stringify({ median: s[s.length >> 1], min: s[0], max: s[s.length - 1], times: times.map((t) => Math.round(t)) }));
}
