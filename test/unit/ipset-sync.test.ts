// The ipset sync planner without a kernel. Current members are lines `ipset save` printed
// (captured from ipset v7.17 on Linux 6.18); the desired entries are written in other forms.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planIpsetSync } from '../../lib/ipset/sync.js';
import { parseMember } from '../../lib/ipset/syntax.js';
import type { Member } from '../../lib/ipset/types.js';
import { throwsInvalid } from '../helpers/throws.js';

const saved = (...lines: string[]): Member[] => lines.map(parseMember);
const sorted = (p: { del: string[]; add: string[]; update: string[]; unchanged: number }) =>
  ({ del: [...p.del].sort(), add: [...p.add].sort(), update: [...p.update].sort(), unchanged: p.unchanged });
const none = (unchanged: number) => ({ del: [], add: [], update: [], unchanged });

const bad = (fn: () => unknown, re: RegExp, entry?: number) => throwsInvalid(fn, re, entry === undefined ? {} : { entry });

describe('planIpsetSync', () => {
  it('nothing changed: no operations', () => {
    const cur = saved('10.0.0.1', '10.0.0.2');
    assert.deepEqual(planIpsetSync(cur, ['10.0.0.2', { ip: '10.0.0.1' }], 'hash:ip'), none(2));
  });

  it('adds what is missing, deletes what the list lacks (elements only)', () => {
    const cur = saved('10.0.0.1,tcp:80 comment "a"', '10.0.0.2,tcp:80');
    const p = planIpsetSync(cur, ['10.0.0.1,80 comment "a"', '10.0.0.3,udp:53 comment "b"'], 'hash:ip,port');
    assert.deepEqual(sorted(p), { del: ['10.0.0.2,tcp:80'], add: ['10.0.0.3,udp:53 comment "b"'], update: [], unchanged: 1 });
  });

  it('hash:net keeps the network: 10.0.0.1/24 is 10.0.0.0/24, /32 is a host, a range is cut into networks', () => {
    const cur = saved('10.0.0.0/24', '10.1.0.1', '10.1.0.2/31', '10.1.0.4/31', '10.1.0.6', '10.2.0.1', '10.3.0.0/16 nomatch');
    assert.deepEqual(planIpsetSync(cur, ['10.0.0.1/24', '10.1.0.6-10.1.0.1', '10.2.0.1/32', '10.3.255.255/16 nomatch'], 'hash:net'), none(7));
    // nomatch dropped: an update (add -exist), not a delete and add.
    assert.deepEqual(planIpsetSync(cur.slice(6), ['10.3.0.0/16'], 'hash:net'), { del: [], add: [], update: ['10.3.0.0/16'], unchanged: 0 });
  });

  it('IPv6: compressed lower-case text, networks masked, /128 a host', () => {
    const cur = saved('2001:db8::/64', '2001:db8:0:1::1', '::ffff:10.1.2.3');
    assert.deepEqual(planIpsetSync(cur, ['2001:DB8:0:0:ffff::1/64', '2001:db8:0:1:0:0:0:1/128', '::FFFF:10.1.2.3'], { type: 'hash:net', family: 'inet6' }), none(3));
  });

  it('addresses one by one where the type stores addresses, masked by the set netmask', () => {
    assert.deepEqual(sorted(planIpsetSync([], ['10.0.1.0/30', '10.0.2.9-10.0.2.8'], 'hash:ip')).add,
      ['10.0.1.0', '10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.2.8', '10.0.2.9']);
    // Captured: netmask 24, entries 10.0.0.5 and 10.1.0.0-10.1.2.9.
    const cur = saved('10.0.0.0', '10.1.0.0', '10.1.2.0', '10.1.1.0');
    assert.deepEqual(planIpsetSync(cur, ['10.0.0.99', '10.1.0.0-10.1.2.9'], { type: 'hash:ip', netmask: 24 }), none(4));
  });

  it('ports: names and protocol names as `ipset save` prints them, ranges port by port', () => {
    // Captured from `ipset save` after adding these entries with the tool.
    const cur = saved('10.0.0.1,icmp:echo-request', '10.0.0.1,sctp:5', '10.0.0.1,sctp:6', '10.0.0.1,udplite:9', '10.0.0.1,gre:0');
    assert.deepEqual(planIpsetSync(cur, ['10.0.0.1,icmp:ping', '10.0.0.1,sctp:6-5', '10.0.0.1,udplite:9', '10.0.0.1,47:0'], 'hash:ip,port'), none(5));
    const v6 = saved('2001:db8::1,ipv6-icmp:echo-request');
    assert.deepEqual(planIpsetSync(v6, ['2001:db8::1,icmpv6:ping'], { type: 'hash:ip,port', family: 'inet6' }), none(1));
    assert.deepEqual(planIpsetSync(saved('10.0.0.2,tcp:80'), [{ ip: '10.0.0.2', port: 'http' }], 'hash:ip,port'), none(1));
    assert.deepEqual(planIpsetSync(saved('5', '6', '7'), ['tcp:5-7'], { type: 'bitmap:port' }), none(3));
  });

  it('macs upper case, marks masked and printed as 0x%08x, physdev interfaces', () => {
    assert.deepEqual(planIpsetSync(saved('10.0.0.1,AA:BB:CC:DD:EE:FF'), ['10.0.0.1,aa:bb:cc:dd:ee:ff'], 'hash:ip,mac'), none(1));
    assert.deepEqual(planIpsetSync(saved('10.0.0.1,0x00000034'), ['10.0.0.1,0x1234'], { type: 'hash:ip,mark', markmask: 0xff }), none(1));
    assert.deepEqual(planIpsetSync(saved('10.0.0.0/8,physdev:eth0'), ['10.0.0.1/8,physdev:eth0'], 'hash:net,iface'), none(1));
  });

  it('extensions: comment and skbinfo changes are updates; counters and remaining timeouts are left alone', () => {
    const cur = saved('10.0.0.1 timeout 99 packets 5 bytes 50 comment "x y"', '10.0.0.2 timeout 0 packets 1 bytes 1 skbmark 0x10/0xff0',
      '10.0.0.3 timeout 30 packets 0 bytes 0 skbprio 1:2 skbqueue 3');
    assert.deepEqual(planIpsetSync(cur, [
      '10.0.0.1 timeout 300 comment "x y"', '10.0.0.2 timeout 0 skbmark 0x10/0xff0', '10.0.0.3 skbprio 1:2 skbqueue 3',
    ], 'hash:ip'), none(3));
    assert.deepEqual(sorted(planIpsetSync(cur, [
      '10.0.0.1 comment "z"',                 // comment changed
      '10.0.0.2 timeout 0 skbmark 0x10',      // mask changed
      '10.0.0.3 timeout 0 skbprio 1:2 skbqueue 3',  // made permanent
    ], 'hash:ip')), {
      del: [], add: [], unchanged: 0,
      update: ['10.0.0.1 comment "z"', '10.0.0.2 timeout 0 skbmark 0x10/0xffffffff', '10.0.0.3 timeout 0 skbprio 1:2 skbqueue 3'],
    });
    // Counters given are compared; an extension removed is a change.
    assert.deepEqual(planIpsetSync(cur.slice(0, 1), ['10.0.0.1 packets 5 comment "x y"'], 'hash:ip'), none(1));
    assert.deepEqual(planIpsetSync(cur.slice(0, 1), ['10.0.0.1 packets 6 comment "x y"'], 'hash:ip').update, ['10.0.0.1 packets 6 comment "x y"']);
    assert.deepEqual(planIpsetSync(cur.slice(0, 1), ['10.0.0.1'], 'hash:ip').update, ['10.0.0.1']);
  });

  it('entries naming one member merge when they agree, and are refused when they do not', () => {
    assert.deepEqual(planIpsetSync([], ['10.0.0.0/31', '10.0.0.1', { ip: '10.0.0.1' }], 'hash:ip').add, ['10.0.0.0', '10.0.0.1']);
    bad(() => planIpsetSync([], ['10.0.0.1 comment "a"', '10.0.0.0/30'], 'hash:ip'), /entries 0 and 1 both name member 10\.0\.0\.1/, 1);
  });

  it('bad entries name the entry and its index', () => {
    bad(() => planIpsetSync([], ['10.0.0.1', '10.0.0.256'], 'hash:ip'), /ipset\.sync: entry 1 \(10\.0\.0\.256\): invalid IPv4 address/, 1);
    bad(() => planIpsetSync([], ['10.0.0.1', { ip: '10.0.0.2', port: 80 }], 'hash:ip'), /entry 1 .*field 'port' does not belong/, 1);
    bad(() => planIpsetSync([], ['2001:db8::1'], 'hash:ip'), /entry 0/, 0);
    bad(() => planIpsetSync([], ['10.0.0.0/8'], 'hash:ip', ), /expand to more than|entry 0/);
    bad(() => planIpsetSync([], 'x' as unknown as string[], 'hash:ip'), /expects an array of entries/);
  });

  it('list:set: membership by name', () => {
    assert.deepEqual(sorted(planIpsetSync(saved('a', 'b'), ['b', 'c before b'], 'list:set')), { del: ['a'], add: ['c before b'], update: [], unchanged: 1 });
  });
});
