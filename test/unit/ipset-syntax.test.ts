// ipset text syntax: checked against facts of what was fed to the real tool (fixtures captured
// by test/fixtures/ipset/capture.sh) and, where root and `ipset` are at hand, against the tool
// itself in a throwaway network namespace.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { ExistsError, InUseError, InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import {
  formatCreate, formatEntry, parseList, parseSave, tokenize, validateElement, validateRestore, type KnownSet,
} from '../../lib/ipset/syntax.js';
import type { CreateOptions, EntryObject, SetInfo, SetType } from '../../lib/ipset/types.js';
import { throwsAt } from '../helpers/throws.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/ipset/${name}`, import.meta.url), 'utf8');


const known = (type: SetType, ext: Partial<KnownSet> = {}): KnownSet =>
  ({ type, family: 'inet', timeout: false, counters: false, comment: false, skbinfo: false, ...ext });

// ---------------------------------------------------------------------------------------------

describe('tokenize', () => {
  it('splits on blanks with 1-based columns, as build_argv does', () => {
    assert.deepEqual(tokenize('add  s\t10.0.0.1'), [
      { text: 'add', column: 1 }, { text: 's', column: 6 }, { text: '10.0.0.1', column: 8 },
    ]);
  });
  it('groups double-quoted text and drops the quotes; empty arguments vanish', () => {
    assert.deepEqual(tokenize('  add s 1.2.3.4 comment "a  b" x"y z"w ""').map((t) => t.text),
      ['add', 's', '1.2.3.4', 'comment', 'a  b', 'xy zw']);
    assert.equal(tokenize('add s 1.2.3.4 comment "a  b"')[4]!.column, 23);
  });
  it('refuses an unclosed quote and more than 30 arguments', () => {
    throwsAt(() => tokenize('add s 1.2.3.4 comment "abc'), InvalidArgumentError, { column: 23 });
    throwsAt(() => tokenize(Array(31).fill('x').join(' ')), InvalidArgumentError, { message: /30 arguments/ });
    assert.equal(tokenize(Array(30).fill('x').join(' ')).length, 30);
  });
});

describe('validateElement', () => {
  const good: [SetType, 'inet' | 'inet6', string][] = [
    ['hash:ip', 'inet', '10.0.0.1'], ['hash:ip', 'inet', '10.0.0.0/24'], ['hash:ip', 'inet', '10.0.0.9-10.0.0.1'],
    ['hash:ip', 'inet6', '2001:db8::1'], ['hash:ip', 'inet6', '::ffff:1.2.3.4'], ['hash:ip', 'inet6', '2001:db8::1/128'],
    ['hash:net', 'inet', '10.0.0.0/8'], ['hash:net', 'inet6', '2001:db8::/32'], ['hash:net,iface', 'inet', '0.0.0.0/0,eth0'],
    ['hash:net,iface', 'inet', '10.0.0.0/8,physdev:br0'], ['hash:ip,port', 'inet', '10.0.0.1,80'],
    ['hash:ip,port', 'inet', '10.0.0.1,udp:53'], ['hash:ip,port', 'inet', '10.0.0.1,tcp:80-90'],
    ['hash:ip,port', 'inet', '10.0.0.1,icmp:ping'], ['hash:ip,port', 'inet', '10.0.0.1,icmp:3/4'],
    ['hash:ip,port', 'inet', '10.0.0.1,gre:0'], ['hash:ip,port', 'inet', '10.0.0.1,0x50'],
    ['hash:ip,port', 'inet6', '2001:db8::1,icmpv6:neighbour-solicitation'], ['hash:ip,port', 'inet', '10.0.0.1,sctp:9000'],
    ['hash:ip,port,ip', 'inet', '10.0.0.1,tcp:443,10.0.0.9'], ['hash:ip,port,net', 'inet6', '2001:db8::1,udp:53,2001:db8:ff::/48'],
    ['hash:net,port,net', 'inet', '10.0.0.0/16,tcp:22,10.5.0.0/24'], ['hash:ip,mark', 'inet', '10.0.0.1,0xffffffff'],
    ['hash:mac', 'inet', '00:11:22:33:44:55'], ['hash:ip,mac', 'inet', '10.0.0.1,0:1:2:a:b:c'],
    ['bitmap:ip,mac', 'inet', '10.0.0.1'], ['bitmap:port', 'inet', 'udp:53'], ['list:set', 'inet', 'other'],
    ['list:set', 'inet', 'a,before,b'],
  ];
  for (const [type, family, elem] of good) {
    it(`takes ${type} ${family} ${elem}`, () => validateElement(type, family, elem));
  }
  // The element with the refused part in brackets: the error's argument, its column the bracket's.
  const bad: [SetType, 'inet' | 'inet6', string][] = [
    ['hash:ip', 'inet', '[10.0.0.300]'], ['hash:ip', 'inet', '[not-an-address.example]'],
    ['hash:ip', 'inet', '[0x0a.0.0.1]'], // hex parts: the tool's getaddrinfo refuses them too
    ['hash:ip', 'inet', '[10.256.1]'], // inet_aton: only the last part may exceed 255
    ['hash:ip', 'inet', '[2001:db8::1]'], // family mismatch
    ['hash:ip', 'inet6', '[10.0.0.1]'],
    ['hash:ip', 'inet6', '[2001:db8::/64]'], // hash:ip takes /128 only in inet6
    ['hash:ip', 'inet', '10.0.0.0/[0]'], // the kernel refuses /0
    ['hash:ip', 'inet', '[0.0.0.0]'], // and the null address
    ['hash:net', 'inet', '10.0.0.0/[33]'], ['hash:net', 'inet', '[0.0.0.0-255.255.255.255]'], ['hash:net', 'inet6', '[2001:db8::1-2001:db8::2]'],
    ['hash:ip,port', 'inet', '10.0.0.1,[65536]'], ['hash:ip,port', 'inet', '10.0.0.1,tcp:[70000]'],
    ['hash:ip,port', 'inet', '10.0.0.1,udp:[ssh]'], // /etc/services knows ssh for tcp only
    ['hash:ip,port', 'inet', '10.0.0.1,[icmpv6]:ping'], ['hash:ip,port', 'inet', '10.0.0.1,icmp:[8]'], ['hash:ip,port', 'inet', '10.0.0.1,gre:[1]'],
    ['hash:ip,port', 'inet', '10.0.0.1,[ip]:0'], ['hash:ip,port', 'inet', '[10.0.0.1]'],
    ['hash:ip,port,ip', 'inet', '10.0.0.1,80,[10.0.0.0/24]'],
    ['hash:ip,mark', 'inet', '10.0.0.1,[0x100000000]'],
    ['hash:net,iface', 'inet', '10.0.0.0/8,[abcdefghijklmnop]'],
    ['hash:mac', 'inet', '[00:11:22:33:44:55:66]'],
    ['hash:ip', 'inet', '[10.0.0.1,80]'],
    ['bitmap:port', 'inet', '[sctp]:80'],
    ['list:set', 'inet', '[abcdefghijabcdefghijabcdefghij12]'],
  ];
  for (const [type, family, marked] of bad) {
    const column = marked.indexOf('[') + 1;
    const argument = marked.slice(column, marked.indexOf(']'));
    const elem = marked.replace(/[[\]]/g, '');
    it(`refuses ${type} ${family} ${elem}`, () =>
      throwsAt(() => validateElement(type, family, elem), InvalidArgumentError, { argument, column }));
  }
});

// ---------------------------------------------------------------------------------------------

describe('parseList of real `ipset list` output', () => {
  const sets = parseList(fixture('list.txt'));
  const get = (name: string): SetInfo => {
    const s = sets.find((x) => x.name === name);
    assert.ok(s, `set ${name} listed`);
    return s;
  };
  const member = (set: string, elem: string) => {
    const m = get(set).members!.find((x) => x.elem === elem);
    assert.ok(m, `${elem} in ${set}`);
    return m;
  };

  it('finds every set of input.restore, in order', () => {
    assert.deepEqual(sets.map((s) => s.name), [
      'v4ext', 'v6mask', 'nets', 'nets6', 'ports', 'ports6', 'netport', 'ipportip', 'ipportnet', 'ifaces',
      'bmip', 'bmipmac', 'bmport', 'empty', 'lst',
    ]);
  });
  it('types the header options', () => {
    const v = get('v4ext');
    assert.equal(v.type, 'hash:ip');
    assert.equal(typeof v.revision, 'number');
    assert.deepEqual(v.header, {
      family: 'inet', hashsize: 2048, maxelem: 5000, timeout: 600, counters: true, comment: true, skbinfo: true,
      bucketsize: 4, initval: 0x1234abcd,
    });
    assert.equal(v.references, 1);  // lst holds it
    assert.equal(v.numEntries, 3);
    assert.ok(v.sizeInMemory > 0);
    assert.deepEqual(get('v6mask').header, { family: 'inet6', hashsize: 1024, maxelem: 65536, netmask: 64, comment: true, bucketsize: 12, initval: 1 });
    assert.deepEqual(get('bmip').header, { range: '10.0.0.0-10.0.0.255', netmask: 30, timeout: 50 });
    assert.deepEqual(get('bmport').header, { range: '1024-2048', comment: true });
    assert.deepEqual(get('lst').header, { size: 8, timeout: 30 });
  });
  it('reads every member extension', () => {
    const a = member('v4ext', '10.0.0.1');
    assert.ok(a.timeout! > 0 && a.timeout! <= 300);
    assert.equal(a.packets, 5n);
    assert.equal(a.bytes, 500n);
    assert.equal(a.comment, 'web one');
    assert.equal(a.skbmark, '0x10/0xff');
    assert.equal(a.skbprio, '1:10');
    assert.equal(a.skbqueue, 3);
    const b = member('v4ext', '10.0.0.2');
    assert.equal(b.timeout, 0);
    assert.equal(b.packets, 18446744073709551614n);
    assert.equal(b.bytes, 1n);
    assert.equal(b.comment, 'x');
    assert.equal(member('v4ext', '10.0.0.3').skbmark, '0x7');
    assert.equal(member('v6mask', '2001:db8:1::').comment, 'a b  c');  // masked to /64, blanks kept
    assert.equal(member('v6mask', '2001:db8:2::').comment, undefined);
    assert.equal(member('nets', '10.1.2.0/24').nomatch, true);
    assert.equal(member('nets', '10.1.0.0/16').nomatch, undefined);
    assert.equal(member('nets', '10.1.0.0/16').packets, 1n);
    const n6 = member('nets6', '2001:db8::/32');
    assert.equal(n6.nomatch, true);
    assert.ok(n6.timeout! <= 50);
    assert.equal(member('ifaces', '10.2.0.0/16,physdev:br0').nomatch, true);
    assert.equal((member('ifaces', '10.3.0.0/16,veth') as { wildcard?: boolean }).wildcard, true);
    assert.equal(member('ifaces', '10.0.0.0/8,eth0').skbmark, '0x1');
    assert.equal(member('bmipmac', '10.0.0.1,00:11:22:33:44:55').packets, 7n);
    assert.equal(member('bmipmac', '10.0.0.2').bytes, 0n);
    assert.equal(member('bmport', '1030').comment, 'three');
  });
  it('shows elements as save prints them: protocols and ICMP names resolved', () => {
    const ports = get('ports').members!.map((m) => m.elem).sort();
    assert.deepEqual(ports, [
      '10.0.0.1,udp:53', '10.0.0.2,tcp:80', '10.0.0.3,sctp:9000', '10.0.0.4,icmp:echo-request', '10.0.0.5,gre:0',
      '10.0.0.6,udplite:5', '10.0.0.7,tcp:80', '10.0.0.8,icmp:fragmentation-needed',
    ]);
    assert.ok(get('ports6').members!.some((m) => m.elem === '2001:db8::1,ipv6-icmp:neighbour-solicitation'));
  });
  it('keeps list:set order and member timeouts; empty sets have no members', () => {
    const l = get('lst');
    assert.deepEqual(l.members!.map((m) => m.elem), ['nets', 'v4ext', 'ports']);
    assert.ok(l.members!.every((m) => m.timeout! <= 30));
    assert.ok(member('lst', 'ports').timeout! <= 10);
    assert.deepEqual(get('empty').members, []);
    assert.equal(get('empty').numEntries, 0);
  });
  it('reads `ipset list -t`: headers, no members', () => {
    const terse = parseList(fixture('list-terse.txt'));
    assert.equal(terse.length, sets.length);
    for (const s of terse) {
      assert.equal(s.members, undefined);
      assert.equal(s.numEntries, sets.find((x) => x.name === s.name)!.numEntries);
      assert.deepEqual(s.header, sets.find((x) => x.name === s.name)!.header);
    }
  });
  it('agrees with parseSave of the `ipset save` taken at the same time', () => {
    const saved = parseSave(fixture('save.txt'));
    assert.deepEqual(saved.map((s) => s.name), sets.map((s) => s.name));
    for (const s of saved) {
      const l = sets.find((x) => x.name === s.name)!;
      assert.equal(s.type, l.type);
      assert.deepEqual(s.members.map((m) => m.elem).sort(), l.members!.map((m) => m.elem).sort());
    }
    assert.equal(saved[0]!.header.initval, 0x1234abcd);
  });
  it('reads 150k members', () => {
    const lines = ['Name: big', 'Type: hash:ip,port', 'Revision: 7', 'Header: family inet hashsize 262144 maxelem 300000 timeout 600 comment bucketsize 12 initval 0x1',
      'Size in memory: 1', 'References: 0', 'Number of entries: 150000', 'Members:'];
    for (let i = 0; i < 150_000; i++) lines.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},tcp:${1000 + (i % 5000)} timeout ${i % 600} comment "c ${i}"`);
    const text = lines.join('\n') + '\n';
    const [big] = parseList(text);
    assert.equal(big!.members!.length, 150_000);
    assert.equal(big!.members![149_999]!.comment, 'c 149999');
  });
});

// ---------------------------------------------------------------------------------------------

describe('validateRestore', () => {
  const save = fixture('save.txt');
  const lines = save.split('\n');
  const lineOf = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix)) + 1;
  const mutate = (prefix: string, f: (l: string) => string) => {
    const i = lineOf(prefix) - 1;
    assert.ok(i >= 0, prefix);
    const copy = lines.slice();
    copy[i] = f(copy[i]!);
    return copy.join('\n');
  };

  it('accepts the real save output and the text it came from', () => {
    const plan = validateRestore(save, new Map());
    assert.equal(plan.created.length, 15);
    assert.ok(plan.touched.includes('lst'));
    validateRestore(fixture('input.restore'), new Map());
  });
  it('takes each listed header back as create options (what a replace does)', () => {
    for (const s of parseList(fixture('list-terse.txt'))) {
      const header = /^Header: (.*)$/m.exec(fixture('list-terse.txt').split(`Name: ${s.name}\n`)[1]!)![1]!;
      validateRestore(`create tmp ${s.type} ${header.replace(/\s*initval 0x[0-9a-f]+/, '')}\n`, new Map());
    }
  });
  it('refuses an unknown type at its column', () => {
    const n = lineOf('create nets hash:net');
    throwsAt(() => validateRestore(mutate('create nets hash:net', (l) => l.replace('hash:net', 'hash:nett')), new Map()),
      InvalidArgumentError, { line: n, column: 13, argument: 'hash:nett', message: new RegExp(`^line ${n}: unknown set type`) });
  });
  it('refuses a 32-character set name', () => {
    const long = 'x'.repeat(32);
    throwsAt(() => validateRestore(`create ${long} hash:ip\n`, new Map()), InvalidArgumentError, { line: 1, column: 8, argument: long });
    validateRestore(`create ${long.slice(1)} hash:ip\n`, new Map());
  });
  it('refuses a malformed address', () => {
    const n = lineOf('add nets 10.1.0.0/16');
    throwsAt(() => validateRestore(mutate('add nets 10.1.0.0/16', (l) => l.replace('10.1.0.0/16', '10.1.0.300/16')), new Map()),
      InvalidArgumentError, { line: n, column: 10, argument: '10.1.0.300', message: /invalid IPv4 address '10\.1\.0\.300'/ });
  });
  it('refuses an IPv6 address in an inet set', () => {
    const n = lineOf('add nets 192.168.0.1');
    throwsAt(() => validateRestore(mutate('add nets 192.168.0.1', (l) => l.replace('192.168.0.1', '2001:db8::1')), new Map()),
      InvalidArgumentError, { line: n, column: 10, argument: '2001:db8::1' });
  });
  it('refuses port 65536', () => {
    const n = lineOf('add ports 10.0.0.2,tcp:80');
    throwsAt(() => validateRestore(mutate('add ports 10.0.0.2,tcp:80', (l) => l.replace('tcp:80', 'tcp:65536')), new Map()),
      InvalidArgumentError, { line: n, column: 24, argument: '65536' });
  });
  it('refuses timeout on a set made without timeout', () => {
    const n = lineOf('add nets 192.168.0.1');
    throwsAt(() => validateRestore(mutate('add nets 192.168.0.1', (l) => `${l} timeout 5`), new Map()),
      InvalidArgumentError, { line: n, column: 40, argument: 'timeout', message: /without timeout/ });
  });
  it('refuses an unknown option', () => {
    const n = lineOf('add ports 10.0.0.1,udp:53');
    throwsAt(() => validateRestore(mutate('add ports 10.0.0.1,udp:53', (l) => `${l} colour blue`), new Map()),
      InvalidArgumentError, { line: n, column: 27, argument: 'colour' });
    throwsAt(() => validateRestore('create s hash:net netmask 24\n', new Map()), InvalidArgumentError, { column: 19, argument: 'netmask' });
  });
  it('names line 5000 of a 10k-line text', () => {
    const text = ['create big hash:ip'];
    for (let i = 1; text.length < 10_000; i++) text.push(`add big 10.1.${(i >> 8) & 255}.${i & 255}`);
    text[4999] = 'add big 10.1.300.1';
    throwsAt(() => validateRestore(text.join('\n') + '\n', new Map(), { op: 'ipset.restore' }), InvalidArgumentError,
      { line: 5000, column: 9, message: /^ipset\.restore: line 5000: invalid IPv4 address '10\.1\.300\.1'/ });
  });
  it('checks lines against the sets known before the text', () => {
    const sets = new Map([['v4', known('hash:ip')], ['tm', known('hash:ip', { timeout: true, comment: true })], ['v6', known('hash:net', { family: 'inet6' })]]);
    validateRestore('add v4 10.0.0.1\nadd tm 10.0.0.1 timeout 5 comment "x y"\nadd v6 2001:db8::/32\n', sets);
    throwsAt(() => validateRestore('add v4 10.0.0.1 comment x\n', sets), InvalidArgumentError, { column: 17, message: /without comment/ });
    throwsAt(() => validateRestore('add tm 10.0.0.1 packets 1\n', sets), InvalidArgumentError, { message: /without counters/ });
    throwsAt(() => validateRestore('add v6 10.0.0.0/8\n', sets), InvalidArgumentError, { column: 8 });
    throwsAt(() => validateRestore('add nope 10.0.0.1\n', sets), NotFoundError, { line: 1, column: 5, argument: 'nope' });
    throwsAt(() => validateRestore('\n\ndel nope 10.0.0.1\n', sets), NotFoundError, { line: 3 });
    throwsAt(() => validateRestore('flush nope\n', sets), NotFoundError);
    throwsAt(() => validateRestore('create v4 hash:ip\n', sets), ExistsError, { line: 1, column: 8 });
    validateRestore('create v4 hash:ip\n', sets, { exist: true });
    validateRestore('create -exist v4 hash:ip\nadd v4 10.0.0.1\n', sets);
    throwsAt(() => validateRestore('create v4 hash:net\n', sets, { exist: true }), ExistsError, { message: /hash:ip/ });
    throwsAt(() => validateRestore('create tm hash:ip\n', sets, { exist: true }), ExistsError);
  });
  it('takes test lines as `ipset restore` does (checked like add/del, refused where the tool refuses)', () => {
    const sets = new Map([['v4', known('hash:ip')], ['tm', known('hash:ip', { timeout: true })]]);
    // What ipset v7.17's restore ran or refused, in a throwaway namespace.
    validateRestore('test v4 10.0.0.1\n-T v4 10.0.0.2\ncreate n hash:net,port\ntest n 10.0.0.0/24,tcp:80\n', sets);
    throwsAt(() => validateRestore('test v4\n', sets), InvalidArgumentError, { line: 1 });
    throwsAt(() => validateRestore('add v4 10.0.0.9\ntest nope 1.2.3.4\n', sets), NotFoundError, { line: 2, column: 6, argument: 'nope' });
    throwsAt(() => validateRestore('test tm 1.2.3.4 timeout 5\n', sets), InvalidArgumentError, { column: 17, argument: 'timeout' });
    throwsAt(() => validateRestore('test v4 1.2.3.4,x\n', sets), InvalidArgumentError, { line: 1 });
    throwsAt(() => validateRestore('test v4 10.1.300.1\n', sets), InvalidArgumentError, { column: 9 });
    // A set only tested is not changed by the text; one added to after a test is.
    assert.deepEqual(validateRestore('test v4 10.0.0.1\n', sets).touched, []);
    assert.deepEqual(validateRestore('test v4 10.0.0.1\nadd v4 10.0.0.1\n', sets).touched, ['v4']);
  });
  it('follows creates, renames, swaps and destroys within the text', () => {
    const sets = new Map([['a', known('hash:ip')], ['t', known('hash:ip', { timeout: true })]]);
    validateRestore('rename a b\nadd b 10.0.0.1\n', sets);
    throwsAt(() => validateRestore('rename a b\nadd a 10.0.0.1\n', sets), NotFoundError, { line: 2 });
    throwsAt(() => validateRestore('destroy a\nadd a 10.0.0.1\n', sets), NotFoundError, { line: 2 });
    throwsAt(() => validateRestore('destroy\nadd t 10.0.0.1\n', sets), NotFoundError, { line: 2 });
    validateRestore('destroy\ncreate a hash:net\nadd a 10.0.0.0/8\n', sets);
    validateRestore('swap a t\nadd a 10.0.0.1 timeout 5\n', sets);
    throwsAt(() => validateRestore('swap a t\nadd t 10.0.0.1 timeout 5\n', sets), InvalidArgumentError, { line: 2 });
    throwsAt(() => validateRestore('create n hash:net\nswap a n\n', sets), InvalidArgumentError, { line: 2, message: /cannot be swapped/ });
    validateRestore('create m bitmap:ip range 10.0.0.0/24\nswap a m\n', sets);  // same kernel features
    throwsAt(() => validateRestore('rename a t\n', sets), ExistsError);
    const plan = validateRestore('create n hash:net\nadd a 10.0.0.1\nrename n m\ndestroy t\n', sets);
    assert.deepEqual(plan.created, ['m']);
    assert.deepEqual(plan.destroyed, ['t']);
    assert.deepEqual(plan.touched.sort(), ['a', 'm', 'n', 't']);
    assert.equal(plan.lines, 4);
  });
  it('checks list:set members and the references they hold', () => {
    const sets = new Map([['a', known('hash:ip')], ['b', known('hash:ip')]]);
    validateRestore('create l list:set\nadd l a\nadd l b before a\ndel l b\n', sets);
    throwsAt(() => validateRestore('create l list:set\nadd l c\n', sets), NotFoundError, { line: 2, column: 7 });
    throwsAt(() => validateRestore('create l list:set\nadd l l\n', sets), InvalidArgumentError, { line: 2 });
    throwsAt(() => validateRestore('create l list:set\nadd l a before b\n', sets), InvalidArgumentError, { line: 2, column: 16 });
    throwsAt(() => validateRestore('create l list:set\nadd l a\ndestroy a\n', sets), InUseError, { line: 3 });
    throwsAt(() => validateRestore('create l list:set\nadd l a\nrename a z\n', sets), InUseError, { line: 3 });
    throwsAt(() => validateRestore('create l list:set\nadd l a\ndestroy\n', sets), InUseError, { line: 3 });
    validateRestore('create l list:set\nadd l a\nflush l\ndestroy a\n', sets);
  });
  it('takes what restore takes around the commands', () => {
    const sets = new Map([['a', known('hash:ip')]]);
    validateRestore('# comment\n\n   \nadd a 10.0.0.1\nCOMMIT\nadd -exist a 10.0.0.2\n-! add a 10.0.0.3\na a 10.0.0.4\n-A a 10.0.0.5\n--add a 10.0.0.6 -q\nCOMMIT\n', sets);
    validateRestore('add a 10.0.0.1\r\nCOMMIT\r\n', sets);
    throwsAt(() => validateRestore('add a 10.0.0.1\nCOMMIT', sets), InvalidArgumentError, { line: 2 });  // libipset needs COMMIT\n
    throwsAt(() => validateRestore('COMMIT \n', sets), InvalidArgumentError, { line: 1 });
    throwsAt(() => validateRestore('list a\n', sets), InvalidArgumentError, { message: /not allowed/ });
    throwsAt(() => validateRestore('foo a\n', sets), InvalidArgumentError, { column: 1, argument: 'foo' });
    throwsAt(() => validateRestore('add a\n', sets), InvalidArgumentError);
    throwsAt(() => validateRestore('flush a b\n', sets), InvalidArgumentError, { argument: 'b' });
    throwsAt(() => validateRestore(`add a 10.0.0.1 comment "${'x'.repeat(1020)}"\n`, sets), InvalidArgumentError, { message: /1022 bytes/ });
    throwsAt(() => validateRestore('add a 10.0.0.1 -f x\n', sets), InvalidArgumentError);
  });
  it('validates 1M add lines', () => {
    const parts = ['create big hash:ip maxelem 2000000'];
    for (let i = 0; i < 1_000_000; i++) parts.push(`add big 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const text = parts.join('\n') + '\n';
    const plan = validateRestore(text, new Map());
    assert.equal(plan.commands, 1_000_001);
  });
});

// ---------------------------------------------------------------------------------------------

describe('formatEntry and formatCreate', () => {
  it('writes entries the way ipset save prints them', () => {
    assert.equal(formatEntry('hash:ip,port', { ip: '10.0.0.1', port: 80 }), '10.0.0.1,tcp:80');
    assert.equal(formatEntry('hash:ip,port', { ip: '10.0.0.1', proto: 'UDP', port: 'domain' }), '10.0.0.1,udp:53');
    assert.equal(formatEntry('hash:ip,port', { ip: '10.0.0.1', proto: 'icmp', port: 'ping' }), '10.0.0.1,icmp:echo-request');
    assert.equal(formatEntry('hash:ip,port', { ip: '2001:db8::1', proto: 'icmpv6', port: '135/0' }), '2001:db8::1,ipv6-icmp:neighbour-solicitation');
    assert.equal(formatEntry('hash:ip,port', { ip: '10.0.0.1', proto: 'gre' }), '10.0.0.1,gre:0');
    assert.equal(formatEntry('hash:net,port', { ip: '10.0.0.0/24', proto: 'tcp', port: '8000-8002' }), '10.0.0.0/24,tcp:8000-8002');
    assert.equal(formatEntry('hash:ip,mark', { ip: '10.0.0.1', mark: 16 }), '10.0.0.1,0x00000010');
    assert.equal(formatEntry('hash:ip,mac', { ip: '10.0.0.1', mac: '0:1:2:a:b:c' }), '10.0.0.1,00:01:02:0A:0B:0C');
    assert.equal(formatEntry('hash:net,iface', { ip: '10.2.0.0/16', iface: 'br0', physdev: true }), '10.2.0.0/16,physdev:br0');
    assert.equal(formatEntry('bitmap:port', { port: 1025 }), '1025');
    assert.equal(formatEntry('list:set', { set: 'b', before: 'c' }), 'b before c');
    assert.equal(
      formatEntry('hash:net', { ip: '10.0.0.0/8', skbqueue: 3, comment: 'a b', bytes: 2n, packets: 1, nomatch: true, timeout: 30, skbmark: 16, skbprio: '1:2' }),
      '10.0.0.0/8 timeout 30 nomatch packets 1 bytes 2 comment "a b" skbmark 0x10 skbprio 1:2 skbqueue 3');
    assert.equal(formatEntry('hash:ip', '10.0.0.1 timeout 30'), '10.0.0.1 timeout 30');
  });
  it('refuses fields the type does not have, and bad values', () => {
    throwsAt(() => formatEntry('hash:ip', { ip: '10.0.0.1', mac: '00:11:22:33:44:55' }), InvalidArgumentError, { argument: 'mac' });
    throwsAt(() => formatEntry('hash:ip', { ip: '10.0.0.1', nomatch: true }), InvalidArgumentError, { argument: 'nomatch' });
    throwsAt(() => formatEntry('hash:ip,port', { ip: '10.0.0.1' }), InvalidArgumentError, { argument: 'port' });
    throwsAt(() => formatEntry('hash:ip,port', { ip: '10.0.0.1', port: 65536 }), InvalidArgumentError, { message: /65536/ });
    throwsAt(() => formatEntry('hash:ip,port', { ip: '10.0.0.1', proto: 'icmpv6', port: 'ping' }), InvalidArgumentError, { argument: 'proto' });
    throwsAt(() => formatEntry('hash:ip', { ip: '10.0.0.1', comment: 'say "hi"' }), InvalidArgumentError, { argument: 'comment' });
    throwsAt(() => formatEntry('hash:ip', { ip: '10.0.0.1', timeout: 2147484 }), InvalidArgumentError, { argument: 'timeout' });
    throwsAt(() => formatEntry('hash:ip', { ip: '10.0.0.300' }), InvalidArgumentError, { argument: '10.0.0.300' });
    throwsAt(() => formatEntry('hash:ip', 'not-an-address.example'), InvalidArgumentError);
    throwsAt(() => formatEntry('hash:ip', '10.0.0.1 timeout'), InvalidArgumentError, { argument: 'timeout' });
  });
  it('writes create lines in save order and refuses options the type lacks', () => {
    assert.equal(formatCreate('s', 'hash:ip', { initval: 0x1234abcd, counters: true, family: 'inet6', netmask: 64, timeout: 5, comment: false }),
      'create s hash:ip family inet6 netmask 64 timeout 5 counters initval 0x1234abcd');
    assert.equal(formatCreate('s', 'hash:ip,mark', { markmask: 0xffff }), 'create s hash:ip,mark markmask 0x0000ffff');
    assert.equal(formatCreate('l', 'list:set', { size: 8 }), 'create l list:set size 8');
    assert.equal(formatCreate('b', 'bitmap:port', { range: '1024-2048', comment: true }), 'create b bitmap:port range 1024-2048 comment');
    throwsAt(() => formatCreate('s', 'hash:net', { netmask: 24 }), InvalidArgumentError, { argument: 'netmask' });
    throwsAt(() => formatCreate('s', 'hash:ip', { markmask: 1 }), InvalidArgumentError, { argument: 'markmask' });
    throwsAt(() => formatCreate('s', 'hash:ip', { size: 8 }), InvalidArgumentError, { argument: 'size' });
    throwsAt(() => formatCreate('s', 'list:set', { family: 'inet' }), InvalidArgumentError, { argument: 'family' });
    throwsAt(() => formatCreate('s', 'hash:mac', { family: 'inet' }), InvalidArgumentError, { argument: 'family' });
    throwsAt(() => formatCreate('s', 'bitmap:ip', { hashsize: 64, range: '10.0.0.0/24' }), InvalidArgumentError, { argument: 'hashsize' });
    throwsAt(() => formatCreate('s', 'bitmap:ip', {}), InvalidArgumentError, { argument: 'range' });
    throwsAt(() => formatCreate('s', 'bitmap:ip', { range: '10.0.0.0/8' }), InvalidArgumentError, { argument: 'range' });
    throwsAt(() => formatCreate('s', 'hash:ip', { bucketsize: 256 }), InvalidArgumentError, { argument: 'bucketsize' });
    throwsAt(() => formatCreate('s', 'hash:ip', { netmask: 33 }), InvalidArgumentError, { argument: 'netmask' });
    throwsAt(() => formatCreate('s', 'hash:foo' as SetType, {}), InvalidArgumentError, { message: /hash:foo/ });
    throwsAt(() => formatCreate('x'.repeat(32), 'hash:ip', {}), InvalidArgumentError);
    throwsAt(() => formatCreate('a b', 'hash:ip', {}), InvalidArgumentError);
  });
});

// ---------------------------------------------------------------------------------------------
// Against the real tool, in a network namespace of our own (the host's sets are never touched).

function toolSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace';
  if (spawnSync('ipset', ['version']).status !== 0) return 'the ipset tool is not installed';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 (ip) is not installed';
  return undefined;
}

class Netns {
  readonly name = `nlkit-fx-${process.pid}`;
  ok = false;
  constructor() {
    this.ok = spawnSync('ip', ['netns', 'add', this.name]).status === 0;
  }
  restore(text: string): { ok: boolean; err: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.name, 'ipset', 'restore'], { input: text, encoding: 'utf8' });
    return { ok: r.status === 0, err: r.stderr.trim() };
  }
  save(): string {
    return spawnSync('ip', ['netns', 'exec', this.name, 'ipset', 'save'], { encoding: 'utf8' }).stdout;
  }
  reset(): void {
    spawnSync('ip', ['netns', 'exec', this.name, 'ipset', 'flush']);
    spawnSync('ip', ['netns', 'exec', this.name, 'ipset', 'destroy']);
  }
  close(): void {
    if (!this.ok) return;
    this.reset();
    spawnSync('ip', ['netns', 'del', this.name]);
    this.ok = false;
  }
}

describe('against the real ipset tool', () => {
  const skip = toolSkipReason();
  let ns: Netns | undefined;
  const supported = new Set<string>();
  before(() => {
    if (skip) return;
    ns = new Netns();
    if (!ns.ok) return;
    for (const type of ['bitmap:ip', 'bitmap:ip,mac', 'bitmap:port', 'hash:ip', 'hash:mac', 'hash:ip,mac', 'hash:net', 'hash:net,net',
      'hash:ip,port', 'hash:net,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'hash:ip,mark', 'hash:net,port,net', 'hash:net,iface', 'list:set']) {
      const range = type === 'bitmap:port' ? ' range 1-2' : type.startsWith('bitmap:') ? ' range 10.0.0.0/30' : '';
      if (ns.restore(`create probe ${type}${range}\n`).ok) supported.add(type);
      ns.reset();
    }
  });
  after(() => ns?.close());
  const unavailable = () => skip ?? (ns?.ok ? undefined : 'could not create a network namespace');

  const SETUP = [
    'create v4 hash:ip', 'create v6 hash:ip family inet6', 'create ext hash:ip timeout 0 counters comment skbinfo',
    'create pt hash:ip,port', 'create pt6 hash:ip,port family inet6', 'create nt hash:net', 'create ifc hash:net,iface',
    'create bm bitmap:ip range 10.0.0.0/24', 'create bp bitmap:port range 1000-2000', 'create lst list:set',
  ].join('\n') + '\n';
  const LINES = [
    // taken
    'add v4 10.0.0.1', 'add v4 10.0.0.0/24', 'add v4 10.0.0.9-10.0.0.1', 'add v6 2001:db8::1', 'add v6 ::ffff:1.2.3.4',
    'add ext 10.0.0.1 timeout 30 packets 1 bytes 2 comment "a b" skbmark 0x1/0xff skbprio 1:2 skbqueue 3',
    'add ext 10.0.0.1 timeout 0x10', 'add pt 10.0.0.1,udp:53', 'add pt 10.0.0.1,icmp:ping', 'add pt 10.0.0.1,icmp:8/0',
    'add pt 10.0.0.1,gre:0', 'add pt 10.0.0.1,http', 'add pt 10.0.0.0/30,tcp:80-82', 'add pt6 ::1,icmpv6:ping',
    'add nt 10.0.0.0/8 nomatch', 'add ifc 0.0.0.0/0,eth0', 'add ifc 10.0.0.0/8,physdev:br0 wildcard', 'add bm 10.0.0.7',
    'add bp 1500', 'add bp udp:1501', 'add lst v4', 'add -exist v4 10.0.0.2', '-! add v4 10.0.0.3', 'a v4 10.0.0.4',
    'create n6 hash:net,port family inet6 hashsize 64 maxelem 10 timeout 5 counters', 'create bm2 bitmap:ip range 10.0.0.0/16 netmask 24',
    'create -exist v4 hash:ip', 'flush v4', 'destroy v6', 'rename v4 v4new', 'swap v4 bm', 'COMMIT',
    'add v4 10.1', 'add v4 127.1', 'add v4 010.0.0.1', 'add ifc 0/0,eth0', 'add nt 10/8', '-N o ipmap --from 2.0.0.1 --to 2.1.0.0',
    '-N o ipmap --network 2.0.0.0/16', '-N o macipmap --network 2.0.0.0/16', '-N o portmap --from 1 --to 1024',
    'create o bitmap:port from http to 1024', 'create o bitmap:ip range 0.0.0.0/0 netmask 16 timeout 5',
    'create o bitmap:ip range 0.0.0.0-255.255.255.255 netmask 16',
    // refused
    'add v4 10.0.0.300', 'add v4 2001:db8::1', 'add v6 10.0.0.1', 'add v4 10.0.0.0/0', 'add nt 0.0.0.0/0',
    'add nt 0.0.0.0-255.255.255.255', 'add v4 0.0.0.0', 'add v4 10.0.0.1 timeout 5', 'add ext 10.0.0.1 timeout 2147484',
    'add pt 10.0.0.1,65536', 'add pt 10.0.0.1,udp:ssh', 'add pt 10.0.0.1,gre:1', 'add pt 10.0.0.1,icmp:8',
    'add pt 10.0.0.1,icmpv6:ping', 'add ifc 10.0.0.0/8,abcdefghijklmnop', 'add bm 10.0.1.1', 'add bp 80', 'add lst lst',
    'add lst nosuch', 'add nosuch 10.0.0.1', 'create v4 hash:ip', 'create x hash:foo', `create ${'x'.repeat(32)} hash:ip`,
    'create x hash:net netmask 24', 'create x bitmap:ip', 'create x bitmap:ip range 10.0.0.0/8', 'add v4 10.0.0.1 bogus',
    `add ext 10.0.0.1 comment "${'x'.repeat(256)}"`, 'del v4 10.0.0.1 timeout 5', 'add v6 ::1-::2', 'add ext 10.0.0.1 skbmark 16',
    'rename v4 v6', 'swap v4 v6', 'flush nosuch', 'COMMIT ', 'foo', 'add v4', 'create x hash:ip timeout 5 timeout 6',
    'create x hash:ip bitmask 255.255.0.0 netmask 16', 'add v4 0x0a.0.0.1', 'add v4 10.256.1', 'add v4 08.1.1.1', 'add v4 1.2.3.4.5',
    '-N o ipmap --from 2.0.0.1', '-N o ipmap --network 2.0.0.1', 'create o bitmap:ip range 2.0.0.0/24 from 2.0.0.1 to 2.0.0.9',
    '-N o ipmap --from 1.0.0.0 --to 2.0.0.0', 'create o bitmap:ip range 0.0.0.0/0 netmask 32', 'create o hash:ip from 1.0.0.0 to 2.0.0.0',
  ];

  it('accepts exactly the lines the tool accepts', (t) => {
    const why = unavailable();
    if (why) return t.skip(why);
    const mismatches: string[] = [];
    for (const line of LINES) {
      ns!.reset();
      const setup = ns!.restore(SETUP);
      assert.ok(setup.ok, setup.err);
      const tool = ns!.restore(line + '\n');
      let ours = true;
      let why2 = '';
      try {
        validateRestore(SETUP + line + '\n', new Map());
      } catch (e) {
        ours = false;
        why2 = (e as Error).message;
      }
      if (tool.ok !== ours) mismatches.push(`${JSON.stringify(line)}: tool ${tool.ok ? 'accepts' : `refuses (${tool.err})`}, nlkit ${ours ? 'accepts' : `refuses (${why2})`}`);
    }
    assert.deepEqual(mismatches, []);
  });

  it('is stricter than the tool only where it means to be', (t) => {
    const why = unavailable();
    if (why) return t.skip(why);
    // The tool resolves host names (and their [escaped] forms); nlkit stores only addresses it was given.
    for (const line of ['add v4 localhost', 'add v4 [10.0.0.1]']) {
      ns!.reset();
      assert.ok(ns!.restore(SETUP).ok);
      assert.ok(ns!.restore(line + '\n').ok, `the tool takes ${line}`);
      assert.throws(() => validateRestore(SETUP + line + '\n', new Map()), InvalidArgumentError);
    }
  });

  interface Case { type: SetType; tool: string; opts: CreateOptions; entries: [string, EntryObject][] }
  const CASES: Case[] = [
    { type: 'hash:ip', tool: 'family inet hashsize 2048 maxelem 1000 timeout 600 counters comment', opts: { family: 'inet', hashsize: 2048, maxelem: 1000, timeout: 600, counters: true, comment: true },
      entries: [['10.0.0.1 timeout 300 packets 5 bytes 500 comment "web one"', { ip: '10.0.0.1', timeout: 300, packets: 5, bytes: 500n, comment: 'web one' }],
        ['192.168.7.0/30', { ip: '192.168.7.0/30' }], ['172.16.0.1-172.16.0.3 timeout 0', { ip: '172.16.0.1-172.16.0.3', timeout: 0 }]] },
    { type: 'hash:ip', tool: 'family inet6 netmask 64', opts: { family: 'inet6', netmask: 64 }, entries: [['2001:db8:1::1', { ip: '2001:db8:1::1' }]] },
    { type: 'hash:ip', tool: 'skbinfo forceadd bucketsize 4', opts: { skbinfo: true, forceadd: true, bucketsize: 4 },
      entries: [['10.1.1.1 skbmark 0x10/0xff skbprio 1:10 skbqueue 3', { ip: '10.1.1.1', skbmark: '0x10/0xff', skbprio: '1:10', skbqueue: 3 }]] },
    { type: 'hash:net', tool: '', opts: {}, entries: [['10.1.0.0/16', { ip: '10.1.0.0/16' }], ['10.1.2.0/24 nomatch', { ip: '10.1.2.0/24', nomatch: true }]] },
    { type: 'hash:ip,port', tool: 'timeout 100', opts: { timeout: 100 },
      entries: [['10.0.0.1,udp:53', { ip: '10.0.0.1', proto: 'udp', port: 53 }], ['10.0.0.2,80', { ip: '10.0.0.2', port: 80 }],
        ['10.0.0.3,sctp:9000', { ip: '10.0.0.3', proto: 'sctp', port: 9000 }], ['10.0.0.4,icmp:ping', { ip: '10.0.0.4', proto: 'icmp', port: 'echo-request' }],
        ['10.0.0.5,gre:0', { ip: '10.0.0.5', proto: 'gre' }], ['10.0.0.6,http', { ip: '10.0.0.6', port: 'http' }]] },
    { type: 'hash:ip,port', tool: 'family inet6', opts: { family: 'inet6' }, entries: [['2001:db8::1,icmpv6:ping', { ip: '2001:db8::1', proto: 'icmpv6', port: 'ping' }]] },
    { type: 'hash:net,port', tool: '', opts: {}, entries: [['10.0.0.0/24,tcp:8000-8002', { ip: '10.0.0.0/24', proto: 'tcp', port: '8000-8002' }]] },
    { type: 'hash:ip,port,ip', tool: '', opts: {}, entries: [['10.0.0.1,tcp:443,10.0.0.9', { ip: '10.0.0.1', proto: 'tcp', port: 443, ip2: '10.0.0.9' }]] },
    { type: 'hash:ip,port,net', tool: 'family inet6', opts: { family: 'inet6' }, entries: [['2001:db8::1,udp:53,2001:db8:ff::/48', { ip: '2001:db8::1', proto: 'udp', port: 53, ip2: '2001:db8:ff::/48' }]] },
    { type: 'hash:net,iface', tool: '', opts: {}, entries: [['10.0.0.0/8,eth0', { ip: '10.0.0.0/8', iface: 'eth0' }], ['10.2.0.0/16,physdev:br0', { ip: '10.2.0.0/16', iface: 'br0', physdev: true }]] },
    { type: 'hash:net,net', tool: '', opts: {}, entries: [['10.0.0.0/8,192.168.0.0/16', { ip: '10.0.0.0/8', ip2: '192.168.0.0/16' }]] },
    { type: 'hash:ip,mark', tool: 'markmask 0xffff', opts: { markmask: 0xffff }, entries: [['10.0.0.1,0x10', { ip: '10.0.0.1', mark: 0x10 }]] },
    { type: 'hash:mac', tool: '', opts: {}, entries: [['00:11:22:33:44:55', { mac: '00:11:22:33:44:55' }]] },
    { type: 'bitmap:ip', tool: 'range 10.0.0.0/24 netmask 30 timeout 50', opts: { range: '10.0.0.0/24', netmask: 30, timeout: 50 },
      entries: [['10.0.0.5', { ip: '10.0.0.5' }], ['10.0.0.16-10.0.0.31 timeout 20', { ip: '10.0.0.16-10.0.0.31', timeout: 20 }]] },
    { type: 'bitmap:ip,mac', tool: 'range 10.0.0.0-10.0.0.255 counters', opts: { range: '10.0.0.0-10.0.0.255', counters: true },
      entries: [['10.0.0.1,00:11:22:33:44:55', { ip: '10.0.0.1', mac: '0:11:22:33:44:55' }], ['10.0.0.2', { ip: '10.0.0.2' }]] },
    { type: 'bitmap:port', tool: 'range 1024-2048 comment', opts: { range: '1024-2048', comment: true },
      entries: [['1025', { port: 1025 }], ['1030-1032 comment "three"', { port: '1030-1032', comment: 'three' }]] },
  ];
  /** Save output with member lines sorted and ticking timeouts bucketed. */
  const normalize = (save: string) => save.split('\n').filter(Boolean)
    .map((l) => l.replace(/ timeout (\d+)/, (_, n: string) => (l.startsWith('add ') ? ` timeout ~${Math.round(Number(n) / 10)}` : ` timeout ${n}`))).sort();
  for (const c of CASES) {
    it(`formatCreate/formatEntry restore like the hand-written text: ${c.type} ${c.tool}`.trim(), (t) => {
      const why = unavailable() ?? (supported.has(c.type) ? undefined : `the running kernel has no set type ${c.type}`);
      if (why) return t.skip(why);
      const init = c.type.startsWith('hash:') ? 0x1234abcd : undefined;
      const hand = [`create s ${c.type} ${c.tool}${init ? ` initval 0x${init.toString(16)}` : ''}`, ...c.entries.map(([s]) => `add s ${s}`)].join('\n') + '\n';
      const ours = [formatCreate('s', c.type, { ...c.opts, ...(init ? { initval: init } : {}) }), ...c.entries.map(([, o]) => `add s ${formatEntry(c.type, o)}`)].join('\n') + '\n';
      validateRestore(ours, new Map());
      ns!.reset();
      const a = ns!.restore(hand);
      assert.ok(a.ok, a.err);
      const theirs = normalize(ns!.save());
      ns!.reset();
      const b = ns!.restore(ours);
      assert.ok(b.ok, `${b.err}\n${ours}`);
      assert.deepEqual(normalize(ns!.save()), theirs);
    });
  }
  it('list:set entries with before/after restore like the hand-written text', (t) => {
    const why = unavailable();
    if (why) return t.skip(why);
    const head = 'create a hash:ip initval 0x1\ncreate b hash:net initval 0x2\ncreate c hash:ip initval 0x3\ncreate l list:set size 8\n';
    const hand = head + 'add l a\nadd l c\nadd l b before c\n';
    const ours = head + [{ set: 'a' }, { set: 'c' }, { set: 'b', before: 'c' }].map((e) => `add l ${formatEntry('list:set', e)}\n`).join('');
    validateRestore(ours, new Map());
    ns!.reset();
    assert.ok(ns!.restore(hand).ok);
    const theirs = ns!.save();
    ns!.reset();
    assert.ok(ns!.restore(ours).ok);
    assert.equal(ns!.save(), theirs);
    assert.deepEqual(parseSave(theirs).find((s) => s.name === 'l')!.members.map((m) => m.elem), ['a', 'b', 'c']);
  });
});
