// nlkit's nf_tables encoder and dump decoder (lib/nft) against nft 1.0.6 itself: for each case
// of test/fixtures/nft/cases, the batch nlkit builds from the JSON commands must equal, message
// for message and byte for byte, the batch `nft -f` sent for the same ruleset (captured with
// strace by test/fixtures/nft/capture.sh), and decoding the kernel's dump replies that
// `nft -j list ruleset` received must give exactly the objects it printed. Then bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, NotFoundError, UnsupportedError, type NlkitError } from '../../lib/core/errors.js';
import { splitMessages } from '../../lib/nft/attrs.js';
import { decodeRuleset, sortDump } from '../../lib/nft/decode.js';
import { encodeCommands } from '../../lib/nft/encode.js';

const dir = new URL('../fixtures/nft/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');
const cases = readdirSync(new URL('cases/', dir)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));

/** Each message of a batch as hex, like the fixtures' lines. */
const messagesHex = (buf: Buffer): string[] => {
  const out: string[] = [];
  for (let p = 0; p < buf.length;) {
    const len = buf.readUInt32LE(p);
    out.push(buf.subarray(p, p + len).toString('hex'));
    p += (len + 3) & ~3;
  }
  return out;
};

describe('nft encoder: the batch nft 1.0.6 sends', () => {
  assert.ok(cases.length >= 4, 'fixture cases present');
  for (const name of cases) {
    it(`${name}: every message byte for byte`, () => {
      const want = read(`${name}.batch.hex`).trim().split('\n');
      // Rule indexes (cases/positions) count the batch's own rules: its chains start empty.
      const got = encodeCommands(JSON.parse(read(`cases/${name}.json`)), { ruleAt: () => undefined });
      assert.deepEqual(messagesHex(got.buf), want);
      assert.equal(got.commandOf.length, want.length);
    });
  }

  it('element timeout, expires, comment and counter, and a counting set: the batch nft -f sent for timeouts/timeouts.nft', () => {
    const want = read('timeouts/timeouts.batch.hex').trim().split('\n');
    assert.deepEqual(messagesHex(encodeCommands(JSON.parse(read('timeouts/timeouts.json'))).buf), want);
  });

  it('maps each message to its command and can carry the generation', () => {
    const b = encodeCommands({ nftables: [
      { metainfo: {} },
      { add: { table: { family: 'ip', name: 't' } } },
      { add: { chain: { family: 'ip', table: 't', name: 'c' } } },
      { add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', elem: ['10.0.0.1'] } } },
    ] }, { generation: 7 });
    // BEGIN, table (1), chain (2), set + its elements (3), END.
    assert.deepEqual(b.commandOf, [-1, 1, 2, 3, 3, -1]);
    const begin = splitMessages(b.buf)[0]!;
    assert.equal(begin.body.toString('hex'), '0800010000000007');
  });

  it('splits element lists over several messages under the 64 KiB attribute limit', () => {
    const elem = Array.from({ length: 20000 }, (_, i) => `10.${i >> 8 & 255}.${i & 255}.1`);
    const b = encodeCommands([
      { add: { table: { family: 'ip', name: 't' } } },
      { add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr' } } },
      { add: { element: { family: 'ip', table: 't', name: 's', elem } } },
    ]);
    const msgs = splitMessages(b.buf).filter((m) => (m.type & 0xff) === 12);
    assert.ok(msgs.length > 1);
    for (const m of msgs) assert.ok(m.body.length < 65536);
    assert.equal(b.commandOf.filter((i) => i === 2).length, msgs.length);
  });
});

describe('nft decoder: what `nft -j list ruleset` prints', () => {
  for (const name of cases) {
    it(`${name}: the kernel's dump replies decode to nft's objects`, () => {
      const all = read(`${name}.dump.hex`).trim().split('\n').flatMap((l) => splitMessages(Buffer.from(l, 'hex')));
      // nft 1.0.6 dumps a table's rules twice when a set has a raw payload typeof (rawpayload): each rule once.
      const seen = new Set<string>();
      const msgs = all.filter((m) => (m.type & 0xff) !== 6 || !seen.has(m.body.toString('hex')) && !!seen.add(m.body.toString('hex')));
      const want = JSON.parse(read(`${name}.list.json`)).nftables.filter((o: object) => !('metainfo' in o));
      assert.deepEqual(decodeRuleset(sortDump(msgs)), want);
    });
  }
});

describe('nft encoder: bad input is a typed error naming the command', () => {
  const t = { add: { table: { family: 'ip', name: 't' } } };
  const bad = (cmd: unknown, cls: new (...a: never[]) => NlkitError, match: RegExp) => {
    assert.throws(() => encodeCommands([t, cmd]), (e: NlkitError) => {
      assert.ok(e instanceof cls, `${e.constructor.name}: ${e.message}`);
      assert.match(e.message, match);
      assert.equal(e.index, 1);
      return true;
    });
  };
  it('unknown family, hook, chain type, policy', () => {
    bad({ add: { table: { family: 'ipx', name: 'u' } } }, InvalidArgumentError, /unknown family "ipx"/);
    const nt = (family: string, name: string) => ({ add: { table: { family, name } } });
    assert.throws(() => encodeCommands([nt('netdev', 'n'), { add: { chain: { family: 'netdev', table: 'n', name: 'c', type: 'filter', hook: 'ingress', prio: 0 } } }]),
      (e: NlkitError) => e instanceof InvalidArgumentError && e.index === 1 && /needs a device name/.test(e.message));
    assert.throws(() => encodeCommands([nt('arp', 'a'), { add: { chain: { family: 'arp', table: 'a', name: 'c', type: 'filter', hook: 'prerouting', prio: 0 } } }]),
      (e: NlkitError) => e instanceof InvalidArgumentError && e.index === 1 && /unknown hook "prerouting" in a arp table \(input, output, forward\)/.test(e.message));
    assert.throws(() => encodeCommands([nt('arp', 'a'), { add: { chain: { family: 'arp', table: 'a', name: 'c', type: 'filter', hook: 'input', prio: 'raw' } } }]),
      (e: NlkitError) => e instanceof InvalidArgumentError && /"raw" is not a valid priority for the input hook of a arp table/.test(e.message));
    assert.throws(() => encodeCommands([nt('bridge', 'b'), { add: { chain: { family: 'bridge', table: 'b', name: 'c', type: 'filter', hook: 'input', prio: 'dstnat' } } }]),
      (e: NlkitError) => e instanceof InvalidArgumentError && /"dstnat" is not a valid priority for the input hook of a bridge table/.test(e.message));
    assert.throws(() => encodeCommands([nt('bridge', 'b'), { add: { rule: { family: 'bridge', table: 'b', chain: 'c', expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '10.0.0.1' } }] } } }]),
      (e: NlkitError) => e instanceof UnsupportedError && e.index === 1 && /ip header matches in bridge tables/.test(e.message));
    bad({ add: { chain: { family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'input', prio: 0, dev: 'lo' } } }, UnsupportedError, /a device on a ip chain/);
    bad({ add: { chain: { family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'inbound', prio: 0 } } }, InvalidArgumentError, /unknown hook "inbound"/);
    bad({ add: { chain: { family: 'ip', table: 't', name: 'c', type: 'natty', hook: 'input', prio: 0 } } }, InvalidArgumentError, /unknown chain type/);
    bad({ add: { chain: { family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'input', prio: 'middle' } } }, InvalidArgumentError, /named priority/);
    bad({ add: { chain: { family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'input', prio: 0, policy: 'reject' } } }, InvalidArgumentError, /accept" or "drop/);
  });
  it('names longer than the kernel allows, wrong JS types', () => {
    bad({ add: { chain: { family: 'ip', table: 't', name: 'x'.repeat(300) } } }, InvalidArgumentError, /300 bytes long/);
    bad({ add: { chain: { family: 'ip', table: 't', name: 42 } } }, InvalidArgumentError, /name: must be a non-empty string/);
    bad({ add: { rule: { family: 'ip', table: 't', chain: 'c', expr: 'accept' } } }, InvalidArgumentError, /expr: must be an array/);
    bad(null, InvalidArgumentError, /one key/);
  });
  it('a wrong key type in an element, a missing set, a set of the wrong type', () => {
    const s = { add: { set: { family: 'ip', table: 't', name: 's', type: ['ipv4_addr', 'inet_service'] } } };
    assert.throws(() => encodeCommands([t, s, { add: { element: { family: 'ip', table: 't', name: 's', elem: [{ concat: ['10.0.0.1', 'http-ish'] }] } } }]),
      (e: NlkitError) => e instanceof InvalidArgumentError && e.index === 2 && /concat\[1\]: not a valid inet_service/.test(e.message));
    bad({ add: { element: { family: 'ip', table: 't', name: 'nope', elem: ['10.0.0.1'] } } }, NotFoundError, /no set or map ip t nope/);
    assert.throws(() => encodeCommands([t, s, { add: { rule: { family: 'ip', table: 't', chain: 'c', expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@s' } }] } } }]),
      (e: NlkitError) => e instanceof InvalidArgumentError && e.index === 2 && /@s has keys of type ipv4_addr . inet_service/.test(e.message));
  });
  it('bad limit, quota, log, nat, reject and hash arguments are InvalidArgumentError naming the place', () => {
    const rule = (expr: unknown[]) => ({ add: { rule: { family: 'ip', table: 't', chain: 'c', expr } } });
    bad(rule([{ limit: { rate: 10, per: 'fortnight' } }]), InvalidArgumentError, /expr\[0\]\.limit\.per: must be one of second/);
    bad(rule([{ limit: { rate: -1, per: 'second' } }]), InvalidArgumentError, /limit\.rate: must be an integer/);
    bad(rule([{ limit: { rate: 1, per: 'second', rate_unit: 'gbytes' } }]), InvalidArgumentError, /rate_unit: unknown unit "gbytes"/);
    bad(rule([{ quota: { val: 5, val_unit: 'bits' } }]), InvalidArgumentError, /quota\.val_unit: unknown unit/);
    bad(rule([{ quota: 5 }]), InvalidArgumentError, /quota: needs \{ val/);
    bad(rule([{ log: { level: 'loud' } }]), InvalidArgumentError, /log\.level: must be one of emerg/);
    bad(rule([{ log: { flags: ['tcp everything'] } }]), InvalidArgumentError, /unknown log flag "tcp everything"/);
    bad(rule([{ log: { group: 1, level: 'info' } }]), InvalidArgumentError, /a log group \(nflog\) takes no level or flags/);
    bad(rule([{ log: { prefix: 7 } }]), InvalidArgumentError, /log\.prefix: must be a string/);
    bad(rule([{ dnat: { addr: { range: ['10.0.0.1', 'x'] } } }]), InvalidArgumentError, /dnat\.addr: not an ipv4_addr: "x"/);
    bad(rule([{ dnat: { addr: '10.0.0.1', flags: 'sticky' } }]), InvalidArgumentError, /unknown flag "sticky"/);
    bad(rule([{ redirect: { port: 80 } }]), InvalidArgumentError, /needs a transport protocol match/);
    bad(rule([{ reject: { type: 'icmp', expr: 'nope' } }]), InvalidArgumentError, /unknown icmp code "nope"/);
    bad(rule([{ reject: { type: 'icmpv6', expr: 'no-route' } }]), InvalidArgumentError, /icmpv6 in an ip table/);
    bad(rule([{ reject: { type: 'icmpx' } }]), UnsupportedError, /reject with icmpx in ip tables/);
    bad(rule([{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } }, { reject: { type: 'tcp reset' } }]), InvalidArgumentError, /needs meta l4proto 6, the rule matches 17/);
    bad(rule([{ match: { op: '==', left: { jhash: { mod: 0, expr: { payload: { protocol: 'ip', field: 'saddr' } } } }, right: 1 } }]), InvalidArgumentError, /jhash\.mod: must be an integer from 1/);
    bad(rule([{ match: { op: '==', left: { symhash: { mod: 2, expr: {} } }, right: 1 } }]), InvalidArgumentError, /unknown symhash property/);
    bad(rule([{ notrack: 1 }]), InvalidArgumentError, /notrack: takes no value/);
  });

  it('named objects: bad properties are InvalidArgumentError, other object types UnsupportedError', () => {
    const T = { family: 'ip', table: 't' };
    bad({ add: { counter: { ...T, name: 'c', packets: -1 } } }, InvalidArgumentError, /counter\.packets: must be an integer/);
    bad({ add: { quota: { ...T, name: 'q' } } }, InvalidArgumentError, /quota\.bytes: is required/);
    bad({ add: { quota: { ...T, name: 'q', bytes: 5, used: 'x' } } }, InvalidArgumentError, /quota\.used: must be an integer/);
    bad({ add: { limit: { ...T, name: 'l', rate: 5, per: 'ever' } } }, InvalidArgumentError, /limit\.per: must be one of/);
    bad({ add: { 'ct helper': { ...T, name: 'h', type: 'ftp', protocol: 'sctp' } } }, InvalidArgumentError, /protocol: must be "tcp" or "udp"/);
    // secmark objects: the test kernel refuses nft's own (ENOENT), so they stay refused.
    bad({ add: { secmark: { ...T, name: 'sm', context: 'system_u:object_r:ssh_server_packet_t:s0' } } }, UnsupportedError, /object "secmark"/);
    bad({ add: { 'ct expectation': { ...T, family: 'inet', name: 'e', protocol: 'tcp', dport: 21, timeout: 100, size: 1 } } }, InvalidArgumentError, /ct expectation\.l3proto: must be ip or ip6/);
    bad({ add: { 'ct expectation': { ...T, name: 'e', protocol: 'icmp', dport: 21, l3proto: 'ip' } } }, InvalidArgumentError, /ct expectation\.protocol: must be one of tcp/);
    bad({ add: { 'ct expectation': { ...T, name: 'e', protocol: 'tcp', l3proto: 'ip' } } }, InvalidArgumentError, /dport: is required/);
    bad({ add: { synproxy: { ...T, name: 's', mss: 1460, flags: ['ecn'] } } }, InvalidArgumentError, /synproxy\.flags\[0\]: must be "timestamp" or "sack-perm"/);
    bad({ add: { synproxy: { ...T, name: 's', wscale: 15 } } }, InvalidArgumentError, /synproxy\.wscale: must be an integer from 0 to 14/);
    bad({ add: { rule: { ...T, chain: 'c', expr: [{ synproxy: { mss: 1460 } }] } } }, UnsupportedError, /synproxy statement with its own options/);
    bad({ add: { 'ct timeout': { ...T, name: 'tt', protocol: 'tcp', policy: { sleeping: 100 } } } }, InvalidArgumentError, /policy.sleeping: unknown tcp state/);
    bad({ add: { 'ct timeout': { ...T, name: 'tt', protocol: 'icmp', policy: {} } } }, InvalidArgumentError, /protocol: must be "tcp" or "udp"/);
    bad({ add: { rule: { ...T, chain: 'c', expr: [{ counter: '' }] } } }, InvalidArgumentError, /counter: must be an object name/);
  });

  it('interface wildcards and set statements: bad ones are InvalidArgumentError, unsupported options UnsupportedError', () => {
    const rule = (expr: unknown[]) => ({ add: { rule: { family: 'ip', table: 't', chain: 'c', expr } } });
    const ifname = (right: string) => rule([{ match: { op: '==', left: { meta: { key: 'iifname' } }, right } }]);
    // nft: "All-wildcard strings are not supported", "String exceeds maximum length of 16".
    bad(ifname('*'), InvalidArgumentError, /not a valid ifname: "\*"/);
    bad(ifname('abcdefghijklmno*'), InvalidArgumentError, /not a valid ifname/);
    const s = { add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', flags: ['timeout'] } } };
    const saddr = { payload: { protocol: 'ip', field: 'saddr' } };
    const upd = (body: unknown) => encodeCommands([t, s, rule([{ set: body }])]);
    const refused = (body: unknown, cls: new (...a: never[]) => NlkitError, re: RegExp) =>
      assert.throws(() => upd(body), (e: NlkitError) => e instanceof cls && e.index === 2 && re.test(e.message));
    refused({ op: 'replace', elem: saddr, set: '@s' }, InvalidArgumentError, /op: must be one of add, update, delete/);
    refused({ op: 'update', elem: saddr, set: 's' }, InvalidArgumentError, /must be "@name"/);
    refused({ op: 'update', elem: { concat: [saddr, saddr] }, set: '@s' }, InvalidArgumentError, /@s has 4-byte keys, the expression is 8 bytes/);
    refused({ op: 'update', elem: { elem: { val: saddr, comment: 'x' } }, set: '@s' }, UnsupportedError, /"comment" on the element of a set statement/);
    refused({ op: 'update', elem: { elem: { val: saddr, timeout: -1 } }, set: '@s' }, InvalidArgumentError, /timeout: must be a number of seconds/);
    // nft 1.0.6 lists a sub-byte field in a set statement as `ip dscp >> 2`.
    refused({ op: 'update', elem: { concat: [{ payload: { protocol: 'ip', field: 'dscp' } }, saddr] }, set: '@s' }, UnsupportedError, /ip dscp in a set statement's key/);
    // TCP MSS clamping: maxseg size only, from rt mtu or a number.
    bad(rule([{ mangle: { key: { 'tcp option': { name: 'window', field: 'count' } }, value: 5 } }]), UnsupportedError, /setting tcp option .* \(only maxseg size\)/);
    bad(rule([{ mangle: { key: { 'tcp option': { name: 'maxseg', field: 'size' } }, value: 70000 } }]), InvalidArgumentError, /must be rt mtu or a size from 0 to 65535/);
    bad(rule([{ mangle: { key: { 'tcp option': { name: 'maxseg', field: 'size' } }, value: { rt: { key: 'nexthop' } } } }]), UnsupportedError, /only rt mtu or a number/);
  });
  it('concatenated interval sets and maps: bad elements are InvalidArgumentError', () => {
    const set = (elem: unknown[]) => ({ add: { set: { family: 'inet', table: 't', name: 's', type: ['ipv4_addr', 'inet_proto', 'inet_service'], flags: ['interval'], elem } } });
    const refused = (cmd: unknown, cls: new (...a: never[]) => NlkitError, re: RegExp) =>
      assert.throws(() => encodeCommands([{ add: { table: { family: 'inet', name: 't' } } }, cmd]), (e: NlkitError) => e instanceof cls && e.index === 1 && re.test(e.message));
    refused(set([{ concat: ['10.0.0.1', 'tcp'] }]), InvalidArgumentError, /elem\[0\]: must be \{ concat: \[\.\.\.\] \} of 3 values/);
    refused(set([{ concat: ['10.0.0.1', 'tcp', { prefix: { addr: 80, len: 8 } }] }]), InvalidArgumentError, /concat\[2\]: a prefix needs an address key, not inet_service/);
    refused(set([{ concat: ['10.0.0.1', 'tcp', { range: [90, 80] }] }]), InvalidArgumentError, /concat\[2\].range: the range ends before it starts/);
    refused(set([{ concat: ['10.0.0.300', 'tcp', 80] }]), InvalidArgumentError, /concat\[0\]: not a valid ipv4_addr/);
    // Interval maps keyed by concatenations: a key of the wrong length, a bad value.
    const map = (elem: unknown[]) => ({ add: { map: { family: 'inet', table: 't', name: 'm', type: ['ipv4_addr', 'inet_service'], map: 'verdict', flags: ['interval'], elem } } });
    refused(map([[{ concat: [{ prefix: { addr: '10.0.0.0', len: 8 } }] }, { accept: null }]]), InvalidArgumentError, /elem\[0\]: must be \{ concat: \[\.\.\.\] \} of 2 values/);
    refused(map([[{ concat: ['10.0.0.0', 80, 81] }, { accept: null }]]), InvalidArgumentError, /must be \{ concat: \[\.\.\.\] \} of 2 values/);
    refused(map([[{ concat: ['10.0.0.0', { range: [80, 90] }] }, { jump: {} }]]), InvalidArgumentError, /elem\[0\]\[1\]/);
    refused(map([{ concat: ['10.0.0.0', 80] }]), InvalidArgumentError, /a map element is \[key, verdict\]/);
  });

  it('constructs outside the supported set are refused by name', () => {
    const rule = (expr: unknown[]) => ({ add: { rule: { family: 'ip', table: 't', chain: 'c', expr } } });
    // nft_queue is not built into the test kernel: queue stays refused.
    bad(rule([{ queue: { num: 1 } }]), UnsupportedError, /statement "queue"/);
    bad(rule([{ match: { op: '=~', left: { meta: { key: 'mark' } }, right: 5 } }]), UnsupportedError, /match operator "=~"/);
    bad(rule([{ match: { op: '<', left: { meta: { key: 'l4proto' } }, right: 'tcp' } }]), UnsupportedError, /"<" on a inet_proto/);
    bad(rule([{ match: { op: '<', left: { meta: { key: 'iifname' } }, right: 'eth0' } }]), UnsupportedError, /"<" on a ifname/);
    bad(rule([{ match: { op: '==', left: { meta: { key: 'iif' } }, right: 'lo' } }]), InvalidArgumentError, /interface "lo" does not exist/);
    bad(rule([{ match: { op: '==', left: { meta: { key: 'iifkind' } }, right: true } }]), UnsupportedError, /meta key "iifkind"/);
    // Raw payloads: a zero length, a byte offset past 65535 (the kernel's limit), more than one register, a value too wide, sub-byte bits in a set.
    const raw = (offset: unknown, len: unknown) => ({ payload: { base: 'th', offset, len } });
    bad(rule([{ match: { op: '==', left: raw(0, 0), right: 1 } }]), InvalidArgumentError, /len must be a positive integer/);
    bad(rule([{ match: { op: '==', left: raw(524288, 8), right: 1 } }]), InvalidArgumentError, /offset 524288 lies past the 65536 bytes/);
    bad(rule([{ match: { op: '==', left: raw(0, 136), right: 1 } }]), InvalidArgumentError, /needs 17 bytes/);
    bad(rule([{ match: { op: '==', left: { payload: { base: 'xx', offset: 0, len: 8 } }, right: 1 } }]), InvalidArgumentError, /unknown raw payload base "xx"/);
    bad(rule([{ match: { op: '==', left: raw(96, 24), right: 0x1000000 } }]), InvalidArgumentError, /not a valid integer/);
    bad(rule([{ match: { op: '==', left: raw(9, 3), right: 8 } }]), InvalidArgumentError, /fits 3 bits/);
    bad(rule([{ match: { op: '==', left: raw(9, 3), right: { set: [1, 2] } } }]), UnsupportedError, /not on byte boundaries/);
    // ipsec (xfrm): bad keys and directions, an address without its family in an inet table (rule() is ip: the table's family is the default), a set of them.
    bad(rule([{ match: { op: '==', left: { ipsec: { key: 'mode', dir: 'in' } }, right: 1 } }]), InvalidArgumentError, /unknown ipsec key "mode"/);
    bad(rule([{ match: { op: '==', left: { ipsec: { key: 'reqid', dir: 'sideways' } }, right: 1 } }]), InvalidArgumentError, /must be "in" or "out"/);
    bad(rule([{ match: { op: '==', left: { ipsec: { key: 'reqid', dir: 'in', family: 'ip' } }, right: 1 } }]), InvalidArgumentError, /ipsec reqid takes no family/);
    bad(rule([{ match: { op: '==', left: { ipsec: { key: 'spi', dir: 'in' } }, right: { set: [1, 2] } } }]), UnsupportedError, /typeof/);
    assert.throws(() => encodeCommands([{ add: { table: { family: 'inet', name: 'i' } } }, { add: { chain: { family: 'inet', table: 'i', name: 'c' } } },
      { add: { rule: { family: 'inet', table: 'i', chain: 'c', expr: [{ match: { op: '==', left: { ipsec: { key: 'saddr', dir: 'in' } }, right: '10.0.0.1' } }] } } }]),
    (e: NlkitError) => e instanceof InvalidArgumentError && e.index === 2 && /ipsec saddr needs a family/.test(e.message));
    bad(rule([{ match: { op: '<', left: { payload: { protocol: 'tcp', field: 'doff' } }, right: 5 } }]), UnsupportedError, /"<" on tcp doff/);
    // nft -j list's `>>` of a sub-byte field in a concatenation (nft -j -f would shift it twice).
    bad(rule([{ match: { op: '==', left: { concat: [{ '>>': [{ payload: { protocol: 'ip', field: 'dscp' } }, 2] }, { payload: { protocol: 'ip', field: 'saddr' } }] }, right: '@s' } }]), UnsupportedError, /expression ">>"/);
    // A named map looked up by a shifted sub-byte field: nft 1.0.6 lists the rule as a raw payload expression.
    bad(rule([{ vmap: { key: { payload: { protocol: 'ip', field: 'dscp' } }, data: '@m' } }]), UnsupportedError, /a named map keyed by ip dscp/);
    bad(rule([{ mangle: { key: { meta: { key: 'mark' } }, value: { map: { key: { payload: { protocol: 'ip', field: 'dscp' } }, data: '@m' } } } }]), UnsupportedError, /a named map keyed by ip dscp/);
    bad(rule([{ mangle: { key: { meta: { key: 'mark' } }, value: { map: { key: { payload: { protocol: 'ip', field: 'dscp' } }, data: { set: [['cs9', 1]] } } } } }]), InvalidArgumentError, /set\[0\]\[0\]: not a valid ip dscp: "cs9"/);
    bad(rule([{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'dscp' } }, right: { set: ['cs1', 'cs99'] } } }]), InvalidArgumentError, /set\[1\]: not a valid ip dscp: "cs99"/);
    bad(rule([{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'dscp' } }, right: 'cs9' } }]), InvalidArgumentError, /not a valid ip dscp: "cs9"/);
    bad(rule([{ match: { op: '==', left: { payload: { protocol: 'vlan', field: 'dei' } }, right: 1 } }]), UnsupportedError, /vlan dei/);
    bad(rule([{ match: { op: 'in', left: { payload: { protocol: 'tcp', field: 'flags' } }, right: ['syn', 'nope'] } }]), InvalidArgumentError, /not tcp flags/);
    bad(rule([{ match: { op: '==', left: { payload: { protocol: 'icmp', field: 'id' } }, right: 1 } }]), UnsupportedError, /payload "icmp id"/);
    assert.throws(() => encodeCommands([{ add: { table: { family: 'inet', name: 'i' } } }, { add: { rule: { family: 'inet', table: 'i', chain: 'c', expr: [{ match: { op: '==', left: { concat: [{ payload: { protocol: 'ether', field: 'saddr' } }, { payload: { protocol: 'ip', field: 'saddr' } }] }, right: '@s' } }] } } }]),
      (e: NlkitError) => e instanceof UnsupportedError && /ip header after an ether header in inet tables/.test(e.message));
    bad(rule([{ match: { op: '==', left: { ct: { key: 'expiration' } }, right: 1 } }]), UnsupportedError, /ct key "expiration"/);
    bad(rule([{ match: { op: '==', left: { ct: { key: 'zone', dir: 'original' } }, right: 1 } }]), UnsupportedError, /ct original zone/);
    bad(rule([{ match: { op: '==', left: { ct: { key: 'saddr' } }, right: '10.0.0.1' } }]), InvalidArgumentError, /ct saddr needs a direction/);
    bad(rule([{ match: { op: '==', left: { ct: { key: 'saddr', dir: 'sideways' } }, right: '10.0.0.1' } }]), InvalidArgumentError, /unknown ct direction "sideways"/);
    bad(rule([{ match: { op: '==', left: { payload: { protocol: 'icmp', field: 'type' } }, right: 'echo-sideways' } }]), InvalidArgumentError, /not a valid icmp_type/);
    bad(rule([{ match: { op: '==', left: { concat: [{ payload: { protocol: 'ip', field: 'daddr' } }, { payload: { protocol: 'tcp', field: 'dport' } }] }, right: { set: [{ concat: ['10.0.0.1', { range: [1, 2] }] }, { prefix: { addr: '10.0.0.0', len: 8 } }] } } }]), UnsupportedError, /prefixes and ranges in an anonymous set of concatenations/);
    bad(rule([{ match: { op: '==', left: { meta: { key: 'mark' } }, right: { set: [{ range: [1, 5] }] } } }]), UnsupportedError, /intervals of mark/);
    bad(rule([{ match: { op: '<', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { set: ['10.0.0.1'] } } }]), UnsupportedError, /"<" with an anonymous set/);
    bad(rule([{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { set: [] } } }]), InvalidArgumentError, /must not be empty/);
    bad(rule([{ match: { op: '<', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { range: [1000, 2000] } } }]), UnsupportedError, /"<" with a range/);
    // Anonymous interval maps: overlaps are refused as nft refuses them ("conflicting intervals specified"); a concatenated key of the wrong length.
    bad(rule([{ vmap: { key: { payload: { protocol: 'ip', field: 'daddr' } }, data: { set: [[{ prefix: { addr: '10.0.0.0', len: 8 } }, { accept: null }], [{ prefix: { addr: '10.0.0.0', len: 16 } }, { drop: null }]] } } }]), InvalidArgumentError, /conflicting intervals/);
    bad(rule([{ vmap: { key: { concat: [{ payload: { protocol: 'ip', field: 'daddr' } }, { payload: { protocol: 'tcp', field: 'dport' } }] }, data: { set: [[{ concat: [{ prefix: { addr: '10.0.0.0', len: 8 } }] }, { accept: null }]] } } }]), InvalidArgumentError, /set\[0\]\[0\]: must be \{ concat: \[\.\.\.\] \} of 2 values/);
    bad(rule([{ mangle: { key: { meta: { key: 'mark' } }, value: { map: { key: { payload: { protocol: 'ip', field: 'daddr' } }, data: { set: [[{ elem: { val: { prefix: { addr: '10.0.0.0', len: 8 } }, comment: 'x' } }, 1]] } } } } }]), UnsupportedError, /element options.* in an anonymous map/);
    bad(rule([{ dnat: { family: 'ip', addr: { map: { key: { payload: { protocol: 'ip', field: 'daddr' } }, data: { set: [['10.0.0.1', { concat: ['10.0.0.2', 'http-ish'] }]] } } } } }]), InvalidArgumentError, /concat\[1\]: not a valid inet_service/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'mark', flags: ['interval'], elem: [{ range: [1, 5] }] } } }, UnsupportedError, /intervals of mark/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', flags: ['interval'], elem: ['10.0.0.0-10.0.0.9', { range: ['10.0.0.5', '10.0.0.20'] }] } } }, InvalidArgumentError, /not a valid ipv4_addr/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', flags: ['interval'], elem: [{ prefix: { addr: '10.0.0.0', len: 8 } }, { range: ['10.0.0.5', '10.0.0.20'] }] } } }, InvalidArgumentError, /conflicting intervals/);
    bad(rule([{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { range: [2000, 1000] } } }]), InvalidArgumentError, /ends before it starts/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', flags: ['constant', 'timeout'] } } }, InvalidArgumentError, /constant set cannot have timeouts/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', timeout: 5 } } }, InvalidArgumentError, /needs the timeout flag/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', flags: 'bogus' } } }, InvalidArgumentError, /unknown set flag/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', policy: 'speed' } } }, InvalidArgumentError, /policy: must be "performance" or "memory"/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', size: 0 } } }, InvalidArgumentError, /size: must be an integer from 1/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', 'auto-merge': true } } }, InvalidArgumentError, /only interval sets merge/);
    bad({ add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', 'gc-interval': -1 } } }, InvalidArgumentError, /gc-interval: must be a number of seconds/);
    bad({ add: { map: { family: 'ip', table: 't', name: 'm', type: 'ipv4_addr', map: 'ct_state' } } }, UnsupportedError, /set key type "ct_state"/);
    bad({ add: { map: { family: 'ip', table: 't', name: 'm', type: 'ipv4_addr' } } }, InvalidArgumentError, /a map needs a data type/);
    assert.throws(() => encodeCommands([t, { add: { map: { family: 'ip', table: 't', name: 'v', type: 'ipv4_addr', map: 'verdict' } } },
      rule([{ mangle: { key: { meta: { key: 'mark' } }, value: { map: { key: { payload: { protocol: 'ip', field: 'saddr' } }, data: '@v' } } } }])]),
    (e: NlkitError) => e instanceof InvalidArgumentError && /@v is a verdict map/.test(e.message) && e.index === 2);
    bad(rule([{ dnat: { addr: '10.0.0.1', port: 80 } }]), InvalidArgumentError, /needs a transport protocol match/);
  });
});
