// Most rule lines are compiled without getopt (native/iptables/parse.cc FastCompile); with
// NLKIT_IPTABLES_VERIFY set, every such line is also compiled by the port of iptables' own
// parser and the two must agree byte for byte, or the restore fails.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { iptables } from '../../lib/index.js';
import { kernelSkipReason, Netns } from '../helpers/netns.js';
import { kubeProxyNat } from '../fixtures/iptables/kube-proxy.js';
import { CALICO_SETS, calicoTables } from '../fixtures/iptables/calico.js';
import { BAD_CASES, filterWith } from '../fixtures/iptables/bad-lines.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/iptables/${name}`, import.meta.url)), 'utf8');
const skip = kernelSkipReason('ipset');

describe('the fast path compiles exactly what iptables\' parser compiles', { skip }, () => {
  let ns: Netns;
  let saved: string | undefined;
  before(() => {
    saved = process.env.NLKIT_IPTABLES_VERIFY;
    process.env.NLKIT_IPTABLES_VERIFY = '1';
    ns = new Netns('fast');
    ns.run('ipset', ['create', 'nlkit-allow', 'hash:net']);
    ns.run('ipset', ['create', 'nlkit-deny', 'hash:ip,port']);
    ns.run('ipset', ['create', 'nlkit-allow6', 'hash:net', 'family', 'inet6']);
    for (const set of CALICO_SETS) ns.run('ipset', ['create', set, 'hash:net']);
  });
  after(() => {
    ns?.remove();
    if (saved === undefined) delete process.env.NLKIT_IPTABLES_VERIFY;
    else process.env.NLKIT_IPTABLES_VERIFY = saved;
  });

  for (const [name, family, text] of [
    ['IPv4 fixture', 4, () => fixture('input-v4.restore')],
    ['IPv6 fixture', 6, () => fixture('input-v6.restore')],
    ['kube-proxy tables', 4, () => kubeProxyNat({ services: 300, endpoints: 3, filter: true })],
    ['Calico tables', 4, () => calicoTables({ workloads: 40 })],
  ] as const) {
    it(name, async () => {
      const h = iptables.open({ netns: ns.path, family, backend: 'legacy' });
      try {
        const r = await h.restore(text());
        assert.ok(r.stats.fast > 0, 'nothing went through the fast path');
      } finally {
        await h.close();
      }
    });
  }

  it('odd spellings, negations and interfaces', async () => {
    const h = iptables.open({ netns: ns.path, backend: 'legacy' });
    const lines = [
      '-A INPUT ! -s 10.0.0.1 ! -d 10.0.0.0/8 ! -p tcp -j ACCEPT',
      '-A INPUT -p TCP -m tcp ! --dport 22 --sport 1024:65535 -j ACCEPT',
      '-A INPUT -p 6 -m tcp --tcp-flags SYN,ACK SYN -j ACCEPT',
      '-A INPUT -m tcp --dport 22 -p tcp -j ACCEPT',
      '-A INPUT --protocol udp --match udp --dport 53 --jump ACCEPT',
      '-A FORWARD -i eth+ ! -o lo -f -j DROP',
      '-A INPUT -s 0.0.0.0/0 -d 255.255.255.255/32 -j RETURN',
      '-A INPUT -s 10.1.2.3/24 -j RETURN',
      '-A INPUT -m comment --comment "x" -m comment --comment "y" -j C',
      '-A INPUT -j C',
      '-A INPUT -g C',
      '-A INPUT',
      '-A C -m mark ! --mark 0x1/0xff -m conntrack ! --ctstate NEW,INVALID --ctdir ORIGINAL -j MARK --set-xmark 0x2/0x3',
      '-A C -p tcp -m multiport ! --dports 1,2,3:9 -j REJECT --reject-with tcp-reset',
      '-A C -m statistic --mode nth --every 3 --packet 1 -j LOG --log-prefix "a b"',
      '-A C -m recent --name r --rcheck --seconds 5 --reap -j DROP',
      '-A C -m addrtype ! --src-type LOCAL --limit-iface-in -j DROP',
      '-A C -m set --match-set nlkit-allow src -j ACCEPT',
    ];
    try {
      await h.restore(`*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:C - [0:0]\n${lines.join('\n')}\nCOMMIT\n`);
    } finally {
      await h.close();
    }
  });

  it('lines the fast path gives up on fail exactly as before', async () => {
    const h = iptables.open({ netns: ns.path, backend: 'legacy' });
    try {
      for (const c of BAD_CASES) {
        if (c.family === 6) continue;
        await assert.rejects(h.restore(c.text ?? filterWith(c.line!), { counters: c.counters }), (e: unknown) => {
          assert.doesNotMatch(String(e), /disagree/);
          return true;
        });
      }
    } finally {
      await h.close();
    }
  });
});
