// The structured builder against hand-written text: the builder committed through nlkit
// (namespace B) and the text a person would write for the same rules, restored with
// iptables-legacy-restore (namespace A), must leave tables that iptables-legacy-save prints
// identically.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { iptables, InvalidArgumentError } from '../../lib/index.js';
import type { IptablesHandle, TableBuilder } from '../../lib/iptables/index.js';
import { kernelSkipReason, withHandle, withNetns, type Netns } from '../helpers/netns.js';

type Family = 4 | 6;
const skip = kernelSkipReason('iptables-legacy-restore') ?? kernelSkipReason('ipset');
const tool = (f: Family, what: 'save' | 'restore') => `${f === 6 ? 'ip6tables' : 'iptables'}-legacy-${what}`;

function toolSave(ns: Netns, f: Family, table: string): string {
  return ns.run(tool(f, 'save'), ['-t', table]).split('\n').filter((l) => !l.startsWith('# ')).join('\n');
}

interface Case {
  family: Family;
  table: iptables.TableName;
  noflush?: boolean;
  /** Run first in both namespaces (through iptables-legacy-restore). */
  before?: string;
  build: (t: TableBuilder) => void;
  /** The same rules, written by hand. */
  text: string;
}

function sets(ns: Netns): void {
  ns.run('ipset', ['create', 'KUBE-LOAD-BALANCER', 'hash:ip,port']);
  ns.run('ipset', ['create', 'KUBE-6-NODE-PORT', 'hash:ip,port', 'family', 'inet6']);
  ns.run('ipset', ['create', 'KUBE-6-CLUSTER-IP', 'hash:ip,port', 'family', 'inet6']);
}

async function differential(c: Case): Promise<void> {
  await withNetns(2, async (a, b) => {
    sets(a);
    sets(b);
    if (c.before) {
      a.run(tool(c.family, 'restore'), [], c.before);
      b.run(tool(c.family, 'restore'), [], c.before);
    }
    a.run(tool(c.family, 'restore'), c.noflush ? ['--noflush'] : [], c.text);
    await withHandle(iptables.open({ netns: b.path, family: c.family, backend: 'legacy' }), async (h) => {
      const t = h.table(c.table, { noflush: c.noflush ?? false });
      c.build(t);
      const r = await t.commit({ wait: 5_000 });
      assert.deepEqual(r.committed, [c.table]);
      const want = toolSave(a, c.family, c.table);
      assert.ok(want.split('\n').filter((l) => l.startsWith('-A ')).length > 0, 'the hand-written text made rules');
      assert.equal(toolSave(b, c.family, c.table), want);
    });
  });
}

describe('iptables builder against hand-written iptables-legacy-restore text', { skip }, () => {
  it("kube-proxy's nat table: services, statistic DNAT, comments with spaces, MARK, MASQUERADE --random-fully, addrtype, negation", () => differential({
    family: 4,
    table: 'nat',
    build: (nat) => {
      nat.chain('PREROUTING', { policy: 'ACCEPT' }).append({ comment: 'kubernetes service portals', jump: 'KUBE-SERVICES' });
      nat.chain('OUTPUT').append({ comment: 'kubernetes service portals', jump: 'KUBE-SERVICES' });
      nat.chain('POSTROUTING').append({ comment: 'kubernetes postrouting rules', jump: 'KUBE-POSTROUTING' });
      nat.chain('KUBE-SERVICES')
        .append({
          comment: 'default/web:http cluster IP', protocol: 'tcp', destination: '10.96.0.10/32',
          matches: [{ module: 'tcp', dport: 80 }], jump: 'KUBE-SVC-WEB',
        })
        .append({
          comment: 'kubernetes service nodeports; NOTE: this must be the last rule in this chain',
          matches: [{ module: 'addrtype', dstType: 'LOCAL' }], jump: 'KUBE-NODEPORTS',
        });
      nat.chain('KUBE-NODEPORTS').append({
        comment: 'default/web:http', protocol: 'tcp', matches: [{ module: 'tcp', dport: 30080 }], jump: 'KUBE-EXT-WEB',
      });
      nat.chain('KUBE-EXT-WEB')
        .append({ comment: 'masquerade traffic for default/web:http external destinations', jump: 'KUBE-MARK-MASQ' })
        .append({ jump: 'KUBE-SVC-WEB' });
      nat.chain('KUBE-SVC-WEB')
        .append({
          comment: 'default/web:http cluster IP', protocol: 'tcp', destination: '10.96.0.10/32', source: { not: '10.244.0.0/16' },
          matches: [{ module: 'tcp', dport: 80 }], jump: 'KUBE-MARK-MASQ',
        })
        .append({ comment: 'default/web:http -> 10.244.1.5:8080', matches: [{ module: 'statistic', mode: 'random', probability: 0.3333333333 }], jump: 'KUBE-SEP-A' })
        .append({ comment: 'default/web:http -> 10.244.2.7:8080', matches: [{ module: 'statistic', mode: 'random', probability: 0.5 }], jump: 'KUBE-SEP-B' })
        .append({ comment: 'default/web:http -> 10.244.3.9:8080', jump: 'KUBE-SEP-C' });
      for (const [chain, ip] of [['KUBE-SEP-A', '10.244.1.5'], ['KUBE-SEP-B', '10.244.2.7'], ['KUBE-SEP-C', '10.244.3.9']] as const) {
        nat.chain(chain)
          .append({ comment: 'default/web:http', source: `${ip}/32`, jump: 'KUBE-MARK-MASQ' })
          .append({ comment: 'default/web:http', protocol: 'tcp', matches: [{ module: 'tcp' }], jump: 'DNAT', target: { toDestination: `${ip}:8080` } });
      }
      nat.chain('KUBE-MARK-MASQ').append({ jump: 'MARK', target: { 'set-xmark': '0x4000/0x4000' } });
      nat.chain('KUBE-POSTROUTING')
        .append({ matches: [{ module: 'mark', mark: { not: '0x4000/0x4000' } }], jump: 'RETURN' })
        .append({ jump: 'MARK', target: { setXmark: '0x4000/0x0' } })
        .append({ comment: 'kubernetes service traffic requiring SNAT', jump: 'MASQUERADE', target: { randomFully: true } });
    },
    text: `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-EXT-WEB - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
:KUBE-SEP-C - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10/32 --dport 80 -j KUBE-SVC-WEB
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-WEB
-A KUBE-EXT-WEB -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10/32 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-A
-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.2.7:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-B
-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.3.9:8080" -j KUBE-SEP-C
-A KUBE-SEP-A -m comment --comment default/web:http -s 10.244.1.5/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-A -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-B -m comment --comment default/web:http -s 10.244.2.7/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-B -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SEP-C -m comment --comment default/web:http -s 10.244.3.9/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-C -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.3.9:8080
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
COMMIT
`,
  }));

  it("kube-proxy's filter table: conntrack, multiport, set --match-set, mark, gotos, policies, insert", () => differential({
    family: 4,
    table: 'filter',
    build: (f) => {
      f.chain('INPUT', { policy: 'DROP' })
        .append({ matches: [{ module: 'conntrack', ctstate: ['RELATED', 'ESTABLISHED'] }], jump: 'ACCEPT' })
        .append({ matches: [{ module: 'conntrack', ctstate: 'NEW' }, { module: 'comment', comment: 'kubernetes load balancer firewall' }], jump: 'KUBE-PROXY-FIREWALL' })
        .append({ inInterface: 'lo', jump: 'ACCEPT' })
        .insert({ matches: [{ module: 'set', matchSet: ['KUBE-LOAD-BALANCER', 'dst,dst'] }], goto: 'KUBE-LB' }, 2);
      f.chain('FORWARD', { policy: 'DROP' })
        .append({ matches: [{ module: 'comment', comment: 'kubernetes forwarding rules' }], jump: 'KUBE-FORWARD' });
      f.chain('KUBE-FORWARD')
        .append({ matches: [{ module: 'conntrack', ctstate: 'INVALID' }], jump: 'DROP' })
        .append({ comment: 'kubernetes forwarding rules', matches: [{ module: 'mark', mark: '0x4000/0x4000' }], jump: 'ACCEPT' })
        .append({ comment: 'kubernetes forwarding conntrack rule', matches: [{ module: 'conntrack', ctstate: ['RELATED', 'ESTABLISHED'] }], jump: 'ACCEPT' });
      f.chain('KUBE-PROXY-FIREWALL')
        .append({ protocol: 'tcp', destination: '192.0.2.10/32', matches: [{ module: 'multiport', dports: [80, 443, '8000:8080'] }], jump: 'KUBE-FW-WEB' })
        .append({ protocol: 'udp', matches: [{ module: 'multiport', '!dports': [53] }, { module: 'udp' }], goto: 'KUBE-LB' })
        .append('-p tcp -m tcp --tcp-flags SYN,RST,ACK SYN -m set ! --match-set KUBE-LOAD-BALANCER dst,dst -j REJECT --reject-with icmp-port-unreachable');
      f.chain('KUBE-FW-WEB').append({ protocol: { not: 'icmp' }, outInterface: { not: 'eth+' }, fragment: { not: true }, jump: 'DROP' });
      f.chain('KUBE-LB').append({ protocol: 'tcp', matches: [{ module: 'tcp', tcpFlags: [['SYN', 'ACK'], 'SYN'], '!syn': false }], jump: 'RETURN' });
    },
    text: `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-FW-WEB - [0:0]
:KUBE-LB - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m set --match-set KUBE-LOAD-BALANCER dst,dst -g KUBE-LB
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -i lo -j ACCEPT
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -d 192.0.2.10/32 -p tcp -m multiport --dports 80,443,8000:8080 -j KUBE-FW-WEB
-A KUBE-PROXY-FIREWALL -p udp -m multiport ! --dports 53 -m udp -g KUBE-LB
-A KUBE-PROXY-FIREWALL -p tcp -m tcp --tcp-flags SYN,RST,ACK SYN -m set ! --match-set KUBE-LOAD-BALANCER dst,dst -j REJECT --reject-with icmp-port-unreachable
-A KUBE-FW-WEB ! -p icmp ! -o eth+ ! -f -j DROP
-A KUBE-LB -p tcp -m tcp --tcp-flags SYN,ACK SYN -j RETURN
COMMIT
`,
  }));

  it('--noflush: declared chains are replaced, the others keep their rules', () => differential({
    family: 4,
    table: 'filter',
    noflush: true,
    before: '*filter\n:KEEP - [0:0]\n:KUBE-X - [0:0]\n-A INPUT -j KEEP\n-A KEEP -s 10.0.0.1/32 -j ACCEPT\n-A KUBE-X -j DROP\nCOMMIT\n',
    build: (f) => {
      f.chain('KUBE-X').append({ source: '10.0.0.2/32', jump: 'ACCEPT' });
      f.chain('KUBE-NEW').append({ jump: 'RETURN' });
      f.chain('INPUT').append({ jump: 'KUBE-NEW' });
    },
    text: '*filter\n:KUBE-X - [0:0]\n:KUBE-NEW - [0:0]\n-A KUBE-X -s 10.0.0.2 -j ACCEPT\n-A KUBE-NEW -j RETURN\n-A INPUT -j KUBE-NEW\nCOMMIT\n',
  }));

  it('IPv6: nat with DNAT to [addr]:port, set, conntrack, negated addresses and interfaces', () => differential({
    family: 6,
    table: 'nat',
    build: (nat) => {
      nat.chain('PREROUTING').append({ comment: 'kubernetes service portals', jump: 'KUBE-SERVICES' });
      nat.chain('KUBE-SERVICES')
        .append({ matches: [{ module: 'set', 'match-set': ['KUBE-6-CLUSTER-IP', 'dst,dst'] }], jump: 'KUBE-MARK-MASQ' })
        .append({ matches: [{ module: 'set', matchSet: ['KUBE-6-NODE-PORT', ['dst', 'dst']] }, { module: 'addrtype', dstType: 'LOCAL' }], protocol: 'tcp', jump: 'KUBE-NODE-PORT' })
        .append({
          comment: 'default/web6:http cluster IP', protocol: 'tcp', destination: 'fd00:10:96::10/128', source: { not: 'fd00:10:244::/64' },
          inInterface: { not: 'lo' }, matches: [{ module: 'tcp', dport: 80 }], jump: 'DNAT', target: { toDestination: '[fd00:10:244:1::5]:8080' },
        });
      nat.chain('KUBE-NODE-PORT').append({ matches: [{ module: 'conntrack', ctstate: 'NEW' }], jump: 'RETURN' });
      nat.chain('KUBE-MARK-MASQ').append({ jump: 'MARK', target: { setXmark: '0x4000/0x4000' } });
      nat.chain('POSTROUTING').append({ matches: [{ module: 'mark', mark: '0x4000/0x4000' }], outInterface: 'eth0', jump: 'MASQUERADE', target: { randomFully: true } });
    },
    text: `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -p tcp -m set --match-set KUBE-6-NODE-PORT dst,dst -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES ! -s fd00:10:244::/64 -d fd00:10:96::10 ! -i lo -p tcp -m comment --comment "default/web6:http cluster IP" -m tcp --dport 80 -j DNAT --to-destination [fd00:10:244:1::5]:8080
-A KUBE-NODE-PORT -m conntrack --ctstate NEW -j RETURN
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A POSTROUTING -o eth0 -m mark --mark 0x4000/0x4000 -j MASQUERADE --random-fully
COMMIT
`,
  }));

  it('IPv6 filter: policies, ipv6-icmp, several sources, insert at a position', () => differential({
    family: 6,
    table: 'filter',
    build: (f) => {
      f.chain('INPUT', { policy: 'DROP' })
        .append({ protocol: 'ipv6-icmp', jump: 'ACCEPT' })
        .append({ source: ['2001:db8::1', '2001:db8:1::/48'], protocol: 'tcp', matches: [{ module: 'tcp', dport: 22 }], jump: 'ACCEPT' })
        .insert({ inInterface: 'lo', jump: 'ACCEPT' }, 1);
      f.chain('OUTPUT', { policy: 'ACCEPT' });
    },
    text: `*filter
:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -s 2001:db8::1/128 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 2001:db8:1::/48 -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
`,
  }));

  it('a line libxtables refuses names the builder call that made it, and nothing is committed', () => withNetns(1, async (ns) => {
    const h: IptablesHandle = iptables.open({ netns: ns.path, backend: 'legacy' });
    try {
      const f = h.table('filter');
      f.chain('KUBE-A').append({ jump: 'RETURN' });
      // @ts-expect-error a misspelt option: the error libxtables gives at commit is under test
      f.chain('INPUT').append({ jump: 'KUBE-A' }).append({ protocol: 'tcp', matches: [{ module: 'tcp', dprot: 80 }], jump: 'ACCEPT' });
      await assert.rejects(f.commit(), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError, String(e));
        assert.equal(e.line, 5);
        assert.deepEqual((e as { builderCall?: unknown }).builderCall, { chain: 'INPUT', call: 'append', index: 2 });
        assert.match(e.message, /\[from chain\(INPUT\)\.append #2\]/);
        return true;
      });
      // reading the table may have instantiated it, empty (as iptables-legacy-restore does)
      const after = ns.run('iptables-legacy-save', []);
      assert.doesNotMatch(after, /^-A |^:KUBE-A /m);
    } finally {
      await h.close();
    }
  }));
});
