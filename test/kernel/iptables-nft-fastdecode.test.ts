// save()'s fast decode path (lib/iptables/nft/decode-fast.ts) against the general decoder it
// stands in for: tables written by iptables-nft-restore / ip6tables-nft-restore from the
// kube-proxy, Calico and extension fixtures are dumped once, and decoded both ways; the legacy
// blobs must be byte-identical (entries, hooks, underflows, counts), so any divergence of the fast
// path fails here. The fast path must also have decoded most rules of the kube-proxy and Calico
// tables (else this would compare the general decoder with itself).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { kubeProxyNat } from '../fixtures/iptables/kube-proxy.js';
import { CALICO_SETS, calicoTables } from '../fixtures/iptables/calico.js';
import { binding, type RawWorker } from '../../lib/core/native.js';
import { readNft } from '../../lib/iptables/nft/save.js';
import { decodeTables, groupDumpBytes, type DecodedTable, type Family } from '../../lib/iptables/nft/decode.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/iptables/${name}`, import.meta.url)), 'utf8');
const skip = kernelSkipReason('iptables-nft-restore') ?? kernelSkipReason('ipset');

/** Native port ranges, inversions, interfaces, marks, fragments, counters: the shapes at the fast path's edges. */
const EDGES = [
  '*filter',
  ':INPUT DROP [18446744073709551615:18446744073709551615]',
  ':FORWARD ACCEPT [0:0]',
  ':OUTPUT ACCEPT [1:2]',
  ':C - [0:0]',
  ':D - [0:0]',
  '[9007199254740993:18446744073709551615] -A INPUT -p tcp -m tcp --sport 0:1023 --dport 1024:65535 -j ACCEPT',
  '-A INPUT -p tcp -m tcp ! --sport 0:1023 ! --dport 80:90 -j C',
  '-A INPUT -p tcp -m tcp --sport 5 --dport 5 -j ACCEPT',
  '-A INPUT -p tcp -m tcp ! --sport 5 ! --dport 6 -j ACCEPT',
  '-A INPUT -p udp -m udp ! --sport 53 -j ACCEPT',
  '-A INPUT -p udp -m udp --dport 0:100 -j ACCEPT',
  '-A INPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j DROP',
  '-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "ssh in" -j ACCEPT',
  '-A INPUT ! -p udp -j RETURN',
  '-A INPUT -p udp -m udp -j ACCEPT',
  '-A INPUT ! -i + -j DROP',
  '-A FORWARD -i lo -o eth0 -j ACCEPT',
  '-A FORWARD -i eth+ ! -o veth123456789ab -j ACCEPT',
  '-A FORWARD -i abcdefghijklmno -o abcdefghijklmn+ -j ACCEPT',
  '-A INPUT -f -j DROP',
  '-A INPUT ! -f -s 10.1.2.3/255.0.255.0 -d 0.0.0.0/0 -j ACCEPT',
  '-A INPUT ! -s 10.0.0.0/8 ! -d 192.168.1.1 ! -p tcp -j C',
  '-A INPUT -s 10.0.0.0/12 -d 10.0.0.1/31 -j D',
  '-A INPUT -m mark ! --mark 0x1/0xf -m limit --limit 7/min --limit-burst 3 -j ACCEPT',
  '-A INPUT -m mark --mark 0x4000 -j ACCEPT',
  '-A INPUT -m limit --limit 1000/sec -j NFLOG --nflog-group 3 --nflog-prefix "some prefix" --nflog-threshold 2 --nflog-size 128',
  '-A INPUT -j TRACE',
  '-A OUTPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT',
  '-A OUTPUT -m ttl --ttl-gt 3 -j ACCEPT',
  '-A C',
  '-A C -g D',
  '-A D -j MARK --set-xmark 0x1/0xff',
  'COMMIT',
  '',
].join('\n');

/** The table dump readNft reads (both crossings), decoded by the fast path and by the general decoder alone. */
async function bothWays(ns: Netns, family: Family): Promise<{ fast: DecodedTable[]; general: DecodedTable[]; counts: { fast: number; general: number } }> {
  const w = new (binding().Worker)(ns.path);
  const recs: Array<{ data: Buffer; sections: ArrayLike<number> }> = [];
  try {
    await readNft(async (fn) => {
      const r = await fn(w as unknown as RawWorker) as { data: Buffer; sections: ArrayLike<number> };
      recs.push(r);
      return r as never;
    }, 'test', family);
  } finally {
    await w.close();
  }
  const [a, r] = recs.slice(-2) as [{ data: Buffer; sections: ArrayLike<number> }, { data: Buffer; sections: ArrayLike<number> }];
  const n = r.sections.length;
  const group = () => groupDumpBytes(a.data, a.sections[0]!, a.sections[2]!, family, [[r.data, 0, n > 1 ? r.sections[n - 2]! : 0]]);
  const counts = { fast: 0, general: 0 };
  const fast = decodeTables(group(), family, undefined, { counts });
  const general = decodeTables(group(), family, undefined, { fast: false });
  return { fast, general, counts };
}

function sameBlobs(fast: DecodedTable[], general: DecodedTable[]): void {
  assert.deepEqual(fast.map((t) => [t.name, t.incompatible]), general.map((t) => [t.name, t.incompatible]));
  for (let i = 0; i < fast.length; i++) {
    const f = fast[i]!, g = general[i]!;
    if (f.incompatible || g.incompatible) continue;
    const { entries: fe, ...fr } = f.raw;
    const { entries: ge, ...gr } = g.raw;
    assert.deepEqual(fr, gr, `${f.name}: hooks, underflows or counts differ`);
    const a = Buffer.from(fe), b = Buffer.from(ge);
    let at = 0;
    while (at < a.length && a[at] === b[at]) at++;
    assert.ok(a.length === b.length && at === a.length, `${f.name}: entries differ at byte ${at} of ${a.length} (${b.length})`);
  }
}

/** Each text through the tool's restore (as one step after another), then both decodes of the whole dump. */
async function check(family: Family, texts: string[], opts: { counters?: boolean; minFast?: number } = {}): Promise<void> {
  await withNetns(1, async (ns) => {
    ns.run('ipset', ['create', 'nlkit-allow', 'hash:net']);
    ns.run('ipset', ['create', 'nlkit-deny', 'hash:ip,port']);
    ns.run('ipset', ['create', 'nlkit-allow6', 'hash:net', 'family', 'inet6']);
    for (const s of CALICO_SETS) ns.run('ipset', ['create', s, 'hash:net', ...(family === 6 ? ['family', 'inet6'] : [])]);
    const tool = `${family === 6 ? 'ip6tables' : 'iptables'}-nft-restore`;
    for (const text of texts) ns.run(tool, opts.counters ? ['--counters'] : [], text);
    const { fast, general, counts } = await bothWays(ns, family);
    assert.ok(fast.length > 0, 'no table read');
    sameBlobs(fast, general);
    const all = counts.fast + counts.general;
    assert.ok(all > 0 && counts.fast >= (opts.minFast ?? 0) * all, `the fast path decoded ${counts.fast} of ${all} rules`);
  });
}

describe('iptables-nft save: the fast decode path gives the general decoder\'s bytes', { skip }, () => {
  it("kube-proxy's nat and filter tables (the fast path decodes every rule)", () =>
    check(4, [kubeProxyNat({ services: 60, filter: true })], { minFast: 1 }));

  it('Calico, both families', async () => {
    await check(4, [calicoTables({ workloads: 3 })], { minFast: 0.5 });
    await check(6, [calicoTables({ workloads: 3, family: 6 })], { minFast: 0.5 });
  });

  it('the extension corpus, both families, with counters', async () => {
    await check(4, [fixture('input-v4.restore')], { counters: true, minFast: 0.3 });
    await check(6, [fixture('input-v6.restore')], { counters: true, minFast: 0.3 });
  });

  it('native translations at their edges', () => check(4, [EDGES], { counters: true, minFast: 0.3 }));
});
