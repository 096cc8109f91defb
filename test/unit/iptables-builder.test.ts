// TableBuilder.text(): the iptables-restore text an iptables user would write by hand for
// the same chains and rules. The expected texts below are written that way, not captured.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, NlkitError } from '../../lib/core/errors.js';
import { TableBuilder, ruleText } from '../../lib/iptables/builder.js';
import { tokenize } from '../../lib/iptables/restore-text.js';
import { tableText } from '../fixtures/iptables/save-text.js';

describe('TableBuilder.text()', () => {
  it('an empty table is just its header and COMMIT', () => {
    assert.equal(new TableBuilder('filter').text(), '*filter\nCOMMIT\n');
  });

  it('built-in chains get a line only with a policy; user chains always get one, before any rule', () => {
    const t = new TableBuilder('filter');
    t.chain('INPUT', { policy: 'DROP' }).append('-i lo -j ACCEPT');
    t.chain('FORWARD').append({ jump: 'MY-FWD' });
    t.chain('MY-FWD').append({ protocol: 'icmp', jump: 'ACCEPT' });
    assert.equal(t.text(), tableText('filter', 'INPUT DROP, MY-FWD', `
-A INPUT -i lo -j ACCEPT
-A FORWARD -j MY-FWD
-A MY-FWD -p icmp -j ACCEPT`));
  });

  it("kube-proxy's service, endpoint and masquerade rules", () => {
    const nat = new TableBuilder('nat', { noflush: true });
    nat.chain('KUBE-SERVICES')
      .append({
        comment: 'default/web:http cluster IP', protocol: 'tcp', destination: '10.96.0.10/32',
        matches: [{ module: 'tcp', dport: 80 }], jump: 'KUBE-SVC-WEB',
      })
      .append({ comment: 'kubernetes service nodeports; NOTE: this must be the last rule in this chain',
        matches: [{ module: 'addrtype', dstType: 'LOCAL' }], jump: 'KUBE-NODEPORTS' });
    nat.chain('KUBE-SVC-WEB')
      .append({ comment: 'default/web:http -> 10.244.1.5:8080', matches: [{ module: 'statistic', mode: 'random', probability: 0.5 }], jump: 'KUBE-SEP-A' })
      .append({ comment: 'default/web:http -> 10.244.2.7:8080', jump: 'KUBE-SEP-B' });
    nat.chain('KUBE-SEP-A')
      .append({ source: '10.244.1.5/32', jump: 'KUBE-MARK-MASQ' })
      .append({ protocol: 'tcp', matches: [{ module: 'tcp' }], jump: 'DNAT', target: { 'to-destination': '10.244.1.5:8080' } });
    nat.chain('KUBE-MARK-MASQ').append({ jump: 'MARK', target: { setXmark: '0x4000/0x4000' } });
    nat.chain('KUBE-POSTROUTING')
      .append({ matches: [{ module: 'mark', '!mark': '0x4000/0x4000' }], jump: 'RETURN' })
      .append({ jump: 'MASQUERADE', target: { 'random-fully': true } });
    assert.equal(nat.text(), tableText('nat', 'KUBE-SERVICES, KUBE-SVC-WEB, KUBE-SEP-A, KUBE-MARK-MASQ, KUBE-POSTROUTING', `
-A KUBE-SERVICES -p tcp -d 10.96.0.10/32 -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.5 -j KUBE-SEP-A
-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.2.7:8080" -j KUBE-SEP-B
-A KUBE-SEP-A -s 10.244.1.5/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MASQUERADE --random-fully`));
  });

  it('negation of basic fields and options, lists, multi-word options, goto and insert', () => {
    const f = new TableBuilder('filter');
    f.chain('KUBE-FIREWALL')
      .append({ source: { not: '127.0.0.0/8' }, destination: '127.0.0.0/8', matches: [{ module: 'conntrack', '!ctstate': ['RELATED', 'ESTABLISHED', 'DNAT'] }], jump: 'DROP' })
      .append({ inInterface: { not: 'lo' }, outInterface: 'eth+', fragment: { not: true }, protocol: { not: 'udp' }, goto: 'KUBE-OUT' })
      .append({ protocol: 'tcp', matches: [{ module: 'multiport', dports: [80, 443, '8000:8080'] }, { module: 'set', matchSet: ['KUBE-LB', 'dst,dst'] }], jump: 'ACCEPT' })
      .append({ protocol: 'tcp', matches: [{ module: 'tcp', tcpFlags: [['SYN', 'RST', 'ACK'], 'SYN'], syn: { not: true } }], jump: 'REJECT', target: { rejectWith: 'tcp-reset' } })
      .insert({ matches: [{ module: 'addrtype', dstType: { not: 'LOCAL' } }], jump: 'RETURN' })
      .insert('-s 10.0.0.0/8 -j ACCEPT', 3);
    f.chain('KUBE-OUT');
    assert.equal(f.text(), tableText('filter', 'KUBE-FIREWALL, KUBE-OUT', `
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FIREWALL ! -p udp ! -i lo -o eth+ ! -f -g KUBE-OUT
-A KUBE-FIREWALL -p tcp -m multiport --dports 80,443,8000:8080 -m set --match-set KUBE-LB dst,dst -j ACCEPT
-A KUBE-FIREWALL -p tcp -m tcp --tcp-flags SYN,RST,ACK SYN ! --syn -j REJECT --reject-with tcp-reset
-I KUBE-FIREWALL -m addrtype ! --dst-type LOCAL -j RETURN
-I KUBE-FIREWALL 3 -s 10.0.0.0/8 -j ACCEPT`));
  });

  it('quotes values with spaces, quotes and backslashes so that iptables-restore reads them back', () => {
    const value = 'say "hi" \\ there';
    const line = ruleText({ comment: value, jump: 'ACCEPT' });
    assert.equal(line, '-m comment --comment "say \\"hi\\" \\\\ there" -j ACCEPT');
    assert.deepEqual(tokenize(line).args, ['-m', 'comment', '--comment', value, '-j', 'ACCEPT']);
    assert.equal(ruleText({ comment: '', jump: 'ACCEPT' }), '-m comment --comment "" -j ACCEPT');
  });

  it('IPv6 addresses and several sources', () => {
    const t = new TableBuilder('filter');
    t.chain('INPUT').append({ source: ['2001:db8::/32', 'fe80::1'], protocol: 'ipv6-icmp', jump: 'ACCEPT' });
    assert.equal(t.text(), '*filter\n-A INPUT -p ipv6-icmp -s 2001:db8::/32,fe80::1 -j ACCEPT\nCOMMIT\n');
  });

  it('a chain asked for twice is the same chain; chain() on a chain goes back to the table', () => {
    const t = new TableBuilder('mangle');
    const a = t.chain('A');
    assert.equal(t.chain('A'), a);
    a.append({ jump: 'B' }).chain('B').append({ jump: 'RETURN' });
    assert.equal(t.text(), '*mangle\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j RETURN\nCOMMIT\n');
    assert.deepEqual(t.origins().slice(1), [undefined, { chain: 'A', call: 'chain', index: 0 }, { chain: 'B', call: 'chain', index: 0 },
      { chain: 'A', call: 'append', index: 1 }, { chain: 'B', call: 'append', index: 1 }, undefined]);
  });

  it('a table iptables does not know: every chain is declared', () => {
    assert.equal(new TableBuilder('mytable').chain('INPUT').append('-j ACCEPT').text(), '*mytable\n:INPUT - [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n');
  });
});

describe('TableBuilder validation', () => {
  const bad = (fn: () => unknown, argument: string | undefined, re: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, String(e));
      assert.match(e.message, re);
      if (argument !== undefined) assert.equal(e.argument, argument);
      assert.equal(e.subsystem, 'iptables');
      return true;
    });

  it('names', () => {
    bad(() => new TableBuilder('na t'), 'na t', /table name/);
    bad(() => new TableBuilder('x'.repeat(32)), 'x'.repeat(32), /table name/);
    const t = new TableBuilder('nat');
    bad(() => t.chain('A'.repeat(29)), 'A'.repeat(29), /longer than 28 bytes/);
    bad(() => t.chain('MY CHAIN'), 'MY CHAIN', /whitespace/);
    bad(() => t.chain('-X'), '-X', /must not start/);
    bad(() => t.chain(''), '', /non-empty/);
    bad(() => t.chain('ACCEPT'), 'ACCEPT', /verdict/);
    bad(() => t.chain('KUBE-X', { policy: 'DROP' }), 'KUBE-X', /only built-in chains have a policy/);
    bad(() => t.chain('PREROUTING', { policy: 'RETURN' as 'DROP' }), 'RETURN', /ACCEPT or DROP/);
    bad(() => t.chain('A').append({ jump: 'x y' }), 'x y', /jump/);
    bad(() => t.chain('A').append({ goto: 'G'.repeat(40) }), 'G'.repeat(40), /goto/);
  });

  it('rules', () => {
    const c = new TableBuilder('filter').chain('INPUT');
    bad(() => c.append({ jump: 'A', goto: 'B' }), undefined, /either jump or goto/);
    bad(() => c.append({ target: { x: 1 } }), undefined, /target options need a jump/);
    bad(() => c.append({ protocl: 'tcp' } as never), 'protocl', /unknown rule field "protocl"/);
    bad(() => c.append({ comment: 'a\nb', jump: 'ACCEPT' }), 'a\nb', /newline/);
    bad(() => c.append({ matches: [{ module: 'tcp', dport: Infinity }] }), 'Infinity', /finite number/);
    // @ts-expect-error not a module name: the runtime check is under test
    bad(() => c.append({ matches: [{ module: 'bad module' }] }), 'bad module', /extension name/);
    // @ts-expect-error not an option name: the runtime check is under test
    bad(() => c.append({ matches: [{ module: 'tcp', 'd port': 1 }] }), 'd port', /not an option name/);
    bad(() => c.append({ matches: [{ module: 'tcp', '!dport': { not: 1 } }] }), undefined, /negated twice/);
    bad(() => c.append({ matches: [{ module: 'multiport', dports: [] }] }), '[]', /empty list/);
    bad(() => c.append('-A INPUT -j ACCEPT'), '-A INPUT -j ACCEPT', /must not start with -A/);
    bad(() => c.append('-j ACCEPT\n-A FORWARD -j DROP'), undefined, /newline/);
    bad(() => c.insert('-j ACCEPT', 0), '0', /position/);
    bad(() => c.append(), undefined, /no rule/);
  });

  it('a bad rule leaves the builder as it was', () => {
    const t = new TableBuilder('filter');
    const c = t.chain('X').append('-j RETURN');
    assert.throws(() => c.append({ jump: 'A', goto: 'B' }));
    assert.equal(t.text(), '*filter\n:X - [0:0]\n-A X -j RETURN\nCOMMIT\n');
  });

  it('commit needs a handle', async () => {
    await assert.rejects(new TableBuilder('filter').commit(), (e: unknown) => e instanceof NlkitError && /not bound to a handle/.test(e.message));
  });
});
