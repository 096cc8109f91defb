// ipset's netlink messages built in TypeScript (lib/ipset/encode.ts), compared byte for byte with
// what libipset 7.17 sent for the same command: test/fixtures/ipset/wire/captured.tsv, recorded by
// test/fixtures/ipset/wire/capture.sh with strace (`ipset add/del/test` of each line of cases.txt,
// on the sets of sets.txt). Then compileRestore: its batches, its steps, and its errors, which
// must be validateRestore's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ExistsError, InUseError, InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import {
  adtEntries, compileRestore, compileRestorePlan, encodeEntry, testMessage, type RestoreStep,
} from '../../lib/ipset/encode.js';
import { validateRestore, type KnownSet } from '../../lib/ipset/syntax.js';
import { Cmd, NlWriter, adtBatch } from '../../lib/ipset/wire.js';
import { ParseState, checkElement, typeSpec, type ElementRules } from '../../lib/ipset/grammar.js';
import type { Entry, EntryObject, SetType } from '../../lib/ipset/types.js';
import { throwsAt } from '../helpers/throws.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/ipset/wire/${name}`, import.meta.url), 'utf8');

const known = (type: SetType, ext: Partial<KnownSet> = {}): KnownSet =>
  ({ type, family: 'inet', timeout: false, counters: false, comment: false, skbinfo: false, ...ext });

/** The sets capture.sh created, from their create lines. */
const SETS = new Map<string, KnownSet>();
for (const line of fixture('sets.txt').split('\n')) {
  if (!line.startsWith('create ')) continue;
  const [, name, type, ...opts] = line.split(' ');
  SETS.set(name!, known(type as SetType, {
    family: line.includes('family inet6') ? 'inet6' : 'inet',
    timeout: opts.includes('timeout'), counters: opts.includes('counters'), comment: opts.includes('comment'), skbinfo: opts.includes('skbinfo'),
  }));
}

interface Case { line: string; cmd: 'add' | 'del' | 'test'; set: string; entry: string; method: string; data: Buffer; message: Buffer }
const CASES: Case[] = fixture('captured.tsv').split('\n').filter(Boolean).map((row) => {
  const [line, method, data, message] = row.split('\t') as [string, string, string, string];
  const m = /^(add|del|test) (\S+) (.*)$/.exec(line)!;
  return { line, cmd: m[1] as Case['cmd'], set: m[2]!, entry: m[3]!, method, data: Buffer.from(data, 'hex'), message: Buffer.from(message, 'hex') };
});
const caseOf = (line: string): Case => {
  const c = CASES.find((x) => x.line === line);
  assert.ok(c, `captured: ${line}`);
  return c;
};

/** Netlink attributes of buf[from, to): [type without flags, flags, payload, whole attribute]. */
function attrs(buf: Uint8Array, from = 0, to = buf.length): [number, number, Buffer, Buffer][] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: [number, number, Buffer, Buffer][] = [];
  for (let at = from; at + 4 <= to;) {
    const len = b.readUInt16LE(at);
    const type = b.readUInt16LE(at + 2);
    assert.ok(len >= 4 && at + len <= to, `attribute at ${at} fits`);
    out.push([type & 0x3fff, type & 0xc000, b.subarray(at + 4, at + len), b.subarray(at, at + ((len + 3) & ~3))]);
    at += (len + 3) & ~3;
  }
  return out;
}

/** libipset's DATA nest of add/del minus the LINENO it ends with (0 outside restore mode). */
function withoutLineno(data: Buffer): Buffer {
  const list = attrs(data);
  const last = list[list.length - 1]!;
  assert.equal(last[0], 9, 'libipset ends the DATA nest with IPSET_ATTR_LINENO');
  assert.equal(last[2].readUInt32BE(0), 0);
  return data.subarray(0, data.length - last[3].length);
}

function encoded(set: string, entry: Entry, cmd: 'add' | 'del' | 'test' = 'add', sets: ReadonlyMap<string, KnownSet> | undefined = SETS): Buffer {
  const w = new NlWriter(64);
  encodeEntry(w, SETS.get(set)!, entry, { cmd, name: set, ...(sets ? { sets } : {}) });
  return Buffer.from(w.buf.subarray(0, w.pos));
}


function caught(f: () => unknown): (Error & { line?: number; column?: number; argument?: string }) | undefined {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

describe('the captured fixtures', () => {
  it('cover every set type, add, del and test', () => {
    const types = new Set(CASES.map((c) => SETS.get(c.set)!.type));
    assert.equal(types.size, 16);
    for (const cmd of ['add', 'del', 'test']) assert.ok(CASES.some((c) => c.cmd === cmd));
    assert.ok(CASES.length > 200);
  });
});

describe('encodeEntry: the DATA nest libipset sends', () => {
  for (const c of CASES) {
    if (c.cmd === 'test') continue;
    it(`${c.line}${c.method === 'kernel' ? '' : ` (${c.method})`}`, () => {
      assert.equal(encoded(c.set, c.entry, c.cmd).toString('hex'), withoutLineno(c.data).toString('hex'));
    });
  }
});

describe('testMessage: the whole IPSET_CMD_TEST message libipset sends', () => {
  for (const c of CASES) {
    if (c.cmd !== 'test') continue;
    it(`${c.line}${c.method === 'kernel' ? '' : ` (${c.method})`}`, () => {
      const b = testMessage(c.set, SETS.get(c.set)!, c.entry, { sets: SETS });
      assert.deepEqual([...b.ends], [b.bytes.length]);
      // Sequence number and port id are the native side's; both zero here and in the fixture.
      assert.equal(Buffer.from(b.bytes).toString('hex'), c.message.toString('hex'));
      assert.ok(!attrs(c.data).some(([t]) => t === 9), 'no lineno in test');
    });
  }
  it('refuses what libipset does not take in test', () => {
    const t = (set: string, entry: string) => () => testMessage(set, SETS.get(set)!, entry);
    throwsAt(t('net4', '10.0.0.0-10.0.0.5'), InvalidArgumentError, { argument: '10.0.0.0-10.0.0.5', column: 1, message: /not allowed in test/ });
    throwsAt(t('bmip', '10.0.1.0/24'), InvalidArgumentError, { message: /network '10\.0\.1\.0\/24' is not allowed in test/ });
    throwsAt(t('ipport4', '10.0.0.1,tcp:80-81'), InvalidArgumentError, { argument: 'tcp:80-81', column: 10 });
    throwsAt(t('ipport4', '10.0.0.0/24,tcp:80'), InvalidArgumentError, { message: /network/ });
    throwsAt(t('bmport', '80-81'), InvalidArgumentError, { message: /port range/ });
    throwsAt(t('ipportnet4', '10.0.0.1,tcp:80,10.1.0.0-10.1.0.9'), InvalidArgumentError, { column: 17 });
    throwsAt(t('ip4', '10.0.0.1 timeout 5'), InvalidArgumentError, { argument: 'timeout', message: /not allowed in test/ });
    throwsAt(t('plain4', '10.0.0.1 nomatch'), InvalidArgumentError, { argument: 'nomatch' });
    testMessage('plain4', SETS.get('plain4')!, '10.0.0.0-10.0.0.5');  // hash:ip tests a range (its first address)
    testMessage('ipmark4', SETS.get('ipmark4')!, '10.0.0.0/30,1');
    testMessage('net4', SETS.get('net4')!, '10.0.0.0/8 nomatch');
  });
});

describe('encodeEntry of entry objects', () => {
  const objects: [string, EntryObject, string][] = [
    ['ip4', { ip: '10.0.0.1', timeout: 30 }, 'add ip4 10.0.0.1 timeout 30'],
    ['ip4', { ip: '10.0.0.9', timeout: 30, packets: 0, bytes: 0n, comment: 'all of them', skbmark: '0xffffffff/0xffffffff', skbprio: 'ffff:ffff', skbqueue: 65535 },
      'add ip4 10.0.0.9 timeout 0x1e packets 0 bytes 0 comment "all of them" skbmark 0xffffffff/0xffffffff skbprio ffff:ffff skbqueue 65535'],
    ['ip4', { ip: '10.0.0.5', skbmark: '0x10/0xff' }, 'add ip4 10.0.0.5 skbmark 0x10/0xff'],
    ['ipport4', { ip: '10.0.0.1', proto: 'udp', port: 53 }, 'add ipport4 10.0.0.1,udp:53'],
    ['ipport4', { ip: '10.0.0.1', port: 80 }, 'add ipport4 10.0.0.1,80'],
    ['ipport4', { ip: '10.0.0.1', proto: 'icmp', port: 'ping' }, 'add ipport4 10.0.0.1,icmp:ping'],
    ['ipport4', { ip: '10.0.0.1', proto: 'gre' }, 'add ipport4 10.0.0.1,gre:0'],
    ['ipport6', { ip: '2001:db8::1', proto: 'icmpv6', port: 'neighbour-solicitation' }, 'add ipport6 2001:db8::1,icmpv6:neighbour-solicitation'],
    ['net4', { ip: '10.3.0.0/24', nomatch: true }, 'add net4 10.3.0.0/24 nomatch'],
    ['netiface4', { ip: '10.1.0.0/16', iface: 'br0', physdev: true }, 'add netiface4 10.1.0.0/16,physdev:br0'],
    ['lst', { set: 'm2', before: 'm1' }, 'add lst m2 before m1'],
    ['ipmark4', { ip: '10.0.0.1', mark: 16 }, 'add ipmark4 10.0.0.1,0x10'],
    ['bmipmac', { ip: '10.0.0.1', mac: '00:11:22:33:44:55' }, 'add bmipmac 10.0.0.1,00:11:22:33:44:55'],
    ['ipportnet4', { ip: '10.0.0.1', proto: 'tcp', port: 80, ip2: '10.1.0.0/16' }, 'add ipportnet4 10.0.0.1,tcp:80,10.1.0.0/16'],
    ['mac', { mac: '0:1:2:3:4:5', timeout: 5, comment: 'm' }, 'add mac 0:1:2:3:4:5 timeout 5 comment m'],
  ];
  for (const [set, obj, line] of objects) {
    it(`${JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))} as ${line}`, () => {
      assert.equal(encoded(set, obj).toString('hex'), withoutLineno(caseOf(line).data).toString('hex'));
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('encodeEntry refuses what validateRestore refuses, the same way', () => {
  const bad: [string, string, ('add' | 'del')?][] = [
    ['plain4', '10.0.0.300'], ['plain4', '2001:db8::1'], ['plain4', 'host.example'], ['plain4', '10.256.1'], ['plain4', '0.0.0.0'],
    ['plain4', '10.0.0.0/0'], ['plain4', '10.0.0.1 timeout 5'], ['plain4', '10.0.0.1 colour blue'], ['plain4', '10.0.0.1 nomatch'],
    ['plain4', '10.0.0.1,80'], ['plain4', ''], ['plain4', '   '], ['plain4', '10.0.0.1 comment a"b c"d'],
    ['ip4', '10.0.0.1 timeout'], ['ip4', '10.0.0.1 timeout "1 2"'], ['ip4', '10.0.0.1 timeout 2147484'],
    ['ip4', '10.0.0.1 timeout 1 timeout 2'], ['ip4', '10.0.0.1 skbmark 16'], ['ip4', '10.0.0.1 skbprio 1'],
    ['ip4', '10.0.0.1 packets -1'], ['ip4', '10.0.0.1 bytes 18446744073709551615'], ['ip4', `10.0.0.1 comment ${'x'.repeat(256)}`],
    ['ip4', '10.0.0.1 skbqueue 65536'], ['ip4', '10.0.0.1 "comment" "a b" skbqueue x'],
    ['ip6', '10.0.0.1'], ['ip6', '2001:db8::/64'], ['ip6', '2001:db8::1-2001:db8::2'], ['ip6', '::'],
    ['net4', '10.0.0.0/33'], ['net4', '0.0.0.0-255.255.255.255'], ['net4', '10.0.0.0/8 wildcard'],
    ['ipport4', '10.0.0.1'], ['ipport4', '10.0.0.1,65536'], ['ipport4', '10.0.0.1,tcp:70000'], ['ipport4', '10.0.0.1,udp:ssh'],
    ['ipport4', '10.0.0.1,icmpv6:ping'], ['ipport4', '10.0.0.1,icmp:8'], ['ipport4', '10.0.0.1,gre:1'], ['ipport4', '10.0.0.1,ip:0'],
    ['ipport4', '10.0.0.1,nosuchproto:1'], ['ipport4', '10.0.0.1,,80'], ['ipport4', '10.0.0.1,80,90'],
    ['ipportip4', '10.0.0.1,80,10.0.0.0/24'], ['ipmark4', '10.0.0.1,0x100000000'], ['netiface4', '10.0.0.0/8,abcdefghijklmnop'],
    ['mac', '00:11:22:33:44:55:66'], ['mac', '00:11:22:33:44:'], ['mac', '00:11:22:33:44:55:'], ['mac', '1:2:3:4:5:6:'], ['mac', '0x1:2:3:4:5:6'],
    ['bmport', 'sctp:80'], ['bmipmac', '10.0.0.1,00:11:22:33:44:5g'],
    ['lst', 'nope'], ['lst', 'lst'], ['lst', 'm1 before nope'], ['lst', 'm1 before m2 after m3'], ['lst', 'm1,before,m2 after m3'],
    ['lst', 'm1,sideways,m2'], ['lst', 'x'.repeat(32)], ['lst', 'nope', 'del'],
    ['plain4', '10.0.0.1 timeout 5', 'del'], ['net4', '10.0.0.0/8 nomatch', 'del'], ['ip4', '10.0.0.1 comment x', 'del'],
  ];
  for (const [set, entry, cmd = 'add'] of bad) {
    it(`${cmd} ${set} ${entry.length > 40 ? `${entry.slice(0, 40)}...` : entry}`, () => {
      const prefix = `${cmd} ${set} `;
      const want = caught(() => validateRestore(`${prefix}${entry}\n`, SETS, { op: 'ipset.restore' }));
      const got = caught(() => encodeEntry(new NlWriter(64), SETS.get(set)!, entry, { cmd, name: set, sets: SETS, op: 'ipset.add' }));
      assert.ok(got, 'encodeEntry refuses it');
      if (entry.trim() === '') {
        // validateRestore sees an add line without an element; encodeEntry an empty entry.
        assert.ok(want instanceof InvalidArgumentError && got instanceof InvalidArgumentError);
        return;
      }
      assert.ok(want, 'validateRestore refuses it');
      assert.equal(got.constructor, want.constructor);
      assert.equal(got.message, want.message.replace(/^ipset\.restore: line 1: /, 'ipset.add: '));
      assert.equal(got.argument, want.argument);
      assert.equal(got.column, want.column! - prefix.length);
      assert.equal((got as { line?: number }).line, undefined);
    });
  }
  it('refuses line breaks as formatEntry does', () => {
    throwsAt(() => encodeEntry(new NlWriter(64), SETS.get('plain4')!, '10.0.0.1\nadd x 10.0.0.2'), InvalidArgumentError, { message: /line breaks/ });
    throwsAt(() => encodeEntry(new NlWriter(64), SETS.get('plain4')!, '10.0.0.1\n'), InvalidArgumentError, { message: /line breaks/ });
  });
  it('writes nothing for a refused entry', () => {
    const w = new NlWriter(64);
    assert.throws(() => encodeEntry(w, SETS.get('ip4')!, '10.0.0.1 timeout 1 comment'));
    assert.equal(w.pos, 0);
  });
  it('leaves list:set members to the kernel without a map of the sets', () => {
    const w = new NlWriter(64);
    encodeEntry(w, SETS.get('lst')!, 'nope');
    assert.ok(w.pos > 0);
  });
  it('refuses an unknown set type', () => {
    throwsAt(() => encodeEntry(new NlWriter(64), known('hash:foo' as SetType), '1'), InvalidArgumentError, { argument: 'hash:foo' });
  });
});

describe('plain hash:ip,port entries (checkElement takes them without the part checkers)', () => {
  const entries = ['10.0.0.1,tcp:80', '10.0.0.1,udp:53', '1.2.3.4,tcp:0', '255.255.255.255,udp:65535', '10.0.0.1,tcp:65536',
    '10.0.0.1,tcp:080', '10.0.0.1,tcp:0x50', '10.0.0.1,tcp:', '10.0.0.1,tcp:8x', '10.0.0.1,tcp:123456', '0.0.0.0,tcp:80',
    '0.1.2.3,tcp:80', '010.0.0.1,tcp:80', '10.1,tcp:80', '10.0.0.1,TCP:80', '10.0.0.1,sctp:80', '10.0.0.1,80', '10.0.0.1,tcp:80-81',
    '10.0.0.1,tcp:80,1', '10.0.0.1,tcp:80 ', ' 10.0.0.1,tcp:80', '10.0.0.1,tcp:ssh', '10.0.0.1,udp:domain', '10.0.0.0/30,tcp:80',
    '10.0.0.256,tcp:80', ',tcp:80', '10.0.0.1,', '10.0.0.1,tcpx80', '10.0.0.1,icmp:ping', '2001:db8::1,tcp:80'];
  it('checkElement leaves what the part checkers leave, and refuses what they refuse', () => {
    const spec = typeSpec('hash:ip,port')!;
    // The same spec under another name does not take the shortcut: the part checkers' answer.
    const ref = { ...spec, name: 'hash:ip,port,' as SetType };
    const state = (st: ParseState) => JSON.stringify({ elem: st.elem, ports: st.ports, addr: st.addr, range: st.range },
      (_k, v: unknown) => (v instanceof Uint16Array ? [...v] : v));
    for (const rules of [{ noZeroCidr: true, nonZero: true }, { noZeroCidr: true, nonZero: true, netmask: 8 }] as ElementRules[]) {
      for (const family of ['inet', 'inet6'] as const) {
        for (const entry of entries) {
          const a = new ParseState(), b = new ParseState();
          const what = `${family} ${JSON.stringify(rules)} '${entry}'`;
          const want = caught(() => checkElement(b, ref, family, entry, 0, entry.length, rules));
          const got = caught(() => checkElement(a, spec, family, entry, 0, entry.length, rules));
          assert.equal(got === undefined, want === undefined, what);
          if (!want) assert.equal(state(a), state(b), what);
        }
      }
    }
  });
  it('encodeEntry accepts and refuses what validateRestore does, and writes what compileRestore writes', () => {
    const good: string[] = [];
    for (const set of ['ipport4', 'ipport6']) {
      for (const cmd of ['add', 'del'] as const) {
        for (const entry of [...entries, '10.0.0.1,tcp:80 timeout 5']) {
          const what = `${cmd} ${set} ${entry}`;
          const want = caught(() => validateRestore(`${what}\n`, SETS));
          const got = caught(() => encodeEntry(new NlWriter(64), SETS.get(set)!, entry, { cmd, name: set, sets: SETS }));
          if (!want) {
            assert.equal(got, undefined, what);
            good.push(what);
            continue;
          }
          assert.ok(got, what);
          assert.equal(got.message, want.message.replace(/^line 1: /, ''), what);
          assert.equal(got.argument, want.argument, what);
        }
      }
    }
    assert.ok(good.length > 20);
    const data = adtSteps(compileRestore(good.join('\n') + '\n', SETS)).flatMap((s) => entriesOf(s.batch).map(([d]) => d));
    good.forEach((line, i) => {
      const [, cmd, set, entry] = /^(\w+) (\S+) (.*)$/.exec(line)!;
      assert.equal(encoded(set!, entry!, cmd as 'add' | 'del').toString('hex'), data[i]!.toString('hex'), line);
    });
  });
});

describe('encodeEntry and validateRestore agree on random entries', () => {
  it('accept the same entries, refuse the rest with the same error, and compile to the same bytes', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const pick = <T>(a: readonly T[]): T => a[rnd(a.length)]!;
    const atoms = ['10.0.0.1', '0.0.0.0', '10.0.0.0/8', '10.0.0.0/0', '10.0.0.1-10.0.0.5', '1.2.3', '256.1.1.1', '2001:db8::1', '::',
      '2001:db8::/64', '2001:db8::1/128', 'tcp:80', '80', 'udp:53-54', 'icmp:ping', 'icmpv6:ping', 'gre:0', 'ssh', 'eth0',
      'physdev:br0', '00:11:22:33:44:55', '1:2:3:4:5:6:', '0x10', 'm1', 'm2', 'nope', 'lst', '', 'a b', '"x"'];
    const options = ['timeout 5', 'timeout', 'nomatch', 'wildcard', 'packets 1', 'bytes 2', 'comment x', 'comment "a b"',
      'skbmark 0x1', 'skbprio 1:2', 'skbqueue 3', 'before m1', 'after m2', 'colour'];
    const names = [...SETS.keys()];
    const good: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const set = pick(names);
      const parts = Array.from({ length: 1 + rnd(3) }, () => pick(atoms));
      const entry = [parts.join(','), ...Array.from({ length: rnd(3) }, () => pick(options))].join(' ');
      const cmd = rnd(4) === 0 ? 'del' : 'add';
      const want = caught(() => validateRestore(`${cmd} ${set} ${entry}\n`, SETS));
      const got = caught(() => encodeEntry(new NlWriter(64), SETS.get(set)!, entry, { cmd, name: set, sets: SETS }));
      const what = `${cmd} ${set} ${entry}`;
      if (!want) {
        assert.equal(got, undefined, what);
        good.push(what);
        continue;
      }
      assert.ok(got, what);
      assert.equal(got.constructor, want.constructor, what);
      assert.equal(got.message, want.message.replace(/^line 1: /, ''), what);
      assert.equal(got.argument, want.argument, what);
      assert.equal(got.column, want.column! - cmd.length - set.length - 2, what);
    }
    assert.ok(good.length > 50);
    const entries = adtSteps(compileRestore(good.join('\n') + '\n', SETS)).flatMap((s) => entriesOf(s.batch).map(([d]) => d));
    assert.equal(entries.length, good.length);
    good.forEach((line, i) => {
      const [, cmd, set, entry] = /^(\w+) (\S+) (.*)$/.exec(line)!;
      assert.equal(entries[i]!.toString('hex'), encoded(set!, entry!, cmd as 'add' | 'del').toString('hex'), line);
    });
  });
});

describe('adtEntries', () => {
  it('is adtBatch over encodeEntry', () => {
    const entries = ['10.0.0.1', { ip: '10.0.0.2' }, '10.0.0.0/30'];
    const b = adtEntries(Cmd.Add, 'plain4', SETS.get('plain4')!, entries, { exist: true });
    const ref = adtBatch(Cmd.Add, 'plain4', true, 3, (w, i) => encodeEntry(w, SETS.get('plain4')!, entries[i]!));
    assert.deepEqual(Buffer.from(b.bytes), Buffer.from(ref.bytes));
    assert.deepEqual([...b.ends], [...ref.ends]);
  });
  it('names the entry at fault', () => {
    throwsAt(() => adtEntries(Cmd.Del, 'plain4', SETS.get('plain4')!, ['10.0.0.1', '10.0.0.1', '10.0.0.300'], { op: 'ipset.del' }),
      InvalidArgumentError, { argument: '10.0.0.300', column: 1, message: /^ipset\.del: entry 2: invalid IPv4 address/ });
    const e = caught(() => adtEntries(Cmd.Add, 'plain4', SETS.get('plain4')!, ['10.0.0.1', { ip: 'x' }], { op: 'ipset.add' }));
    assert.equal((e as { entry?: number }).entry, 1);
  });
  it('says whether some entry is a range or CIDR (what adt reads before a refusal to undo it)', () => {
    const ranges = (type: SetType, entries: Entry[]) => adtEntries(Cmd.Add, 's', known(type), entries).ranges;
    assert.equal(ranges('hash:ip,port', ['10.0.0.1,tcp:80', '10.0.0.2,icmp:echo-request', { ip: '10.0.0.3', proto: 'udp', port: 53 }]), false);
    assert.equal(ranges('hash:ip,port', ['10.0.0.1,tcp:80', '10.0.0.2,tcp:80-90']), true);
    assert.equal(ranges('hash:ip,port', ['10.0.0.0/30,tcp:80']), true);
    assert.equal(ranges('hash:ip,port', ['10.0.0.1-10.0.0.3,tcp:80']), true);
    assert.equal(ranges('hash:ip', ['10.0.0.1', '10.0.0.2']), false);
    assert.equal(ranges('hash:ip', ['10.0.0.1', { ip: '10.0.0.0/30' }]), true);
    assert.equal(ranges('hash:net,net', ['10.0.0.0/24,10.1.0.0']), true);
  });
});

// ---------------------------------------------------------------------------------------------

/** The messages of a batch, each as [nlmsg type, flags, top-level attributes]. */
function messages(b: { bytes: Uint8Array; ends: Uint32Array }) {
  const buf = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
  const out: { type: number; flags: number; attrs: ReturnType<typeof attrs> }[] = [];
  let at = 0;
  for (const end of b.ends) {
    assert.equal(buf.readUInt32LE(at), end - at, 'nlmsg_len');
    out.push({ type: buf.readUInt16LE(at + 4), flags: buf.readUInt16LE(at + 6), attrs: attrs(buf, at + 20, end) });
    at = end;
  }
  assert.equal(at, buf.length);
  return out;
}

/** The DATA nests of an adt batch, in order: [payload without lineno, lineno]. */
function entriesOf(b: { bytes: Uint8Array; ends: Uint32Array }): [Buffer, number][] {
  const out: [Buffer, number][] = [];
  for (const m of messages(b)) {
    const adt = m.attrs.find(([t]) => t === 8)!;
    for (const [t, f, data] of attrs(adt[2])) {
      assert.equal(t, 7);
      assert.equal(f, 0x8000);
      const list = attrs(data);
      const [lt, lf, lv, whole] = list[list.length - 1]!;
      assert.equal(lt, 9);
      assert.equal(lf, 0);
      out.push([data.subarray(0, data.length - whole.length), lv.readUInt32LE(0)]);
    }
  }
  return out;
}

const adtSteps = (steps: RestoreStep[]) => steps.filter((s): s is Extract<RestoreStep, { kind: 'adt' }> => s.kind === 'adt');

describe('compileRestore: batches', () => {
  it('encodes every captured add and del line as libipset does', () => {
    const rows = CASES.filter((c) => c.cmd !== 'test');
    const steps = compileRestore(rows.map((c) => c.line).join('\n') + '\n', SETS);
    const got: [Buffer, number, number][] = [];
    for (const s of adtSteps(steps)) {
      const list = entriesOf(s.batch);
      assert.equal(list.length, s.lines.length);
      list.forEach(([data, lineno], i) => {
        assert.equal(lineno, i + 1, 'lineno is the index in the step');
        got.push([data, s.lines[i]!, s.cmd]);
      });
    }
    assert.equal(steps.length, adtSteps(steps).length);
    assert.equal(got.length, rows.length);
    got.forEach(([data, line, cmd], i) => {
      assert.equal(line, i + 1);
      assert.equal(cmd, rows[i]!.cmd === 'add' ? Cmd.Add : Cmd.Del);
      assert.equal(data.toString('hex'), withoutLineno(rows[i]!.data).toString('hex'), rows[i]!.line);
    });
  });
  it('frames exactly as adtBatch, message splits included', () => {
    const entries: string[] = [];
    for (let i = 0; i < 6000; i++) entries.push(`10.${i >> 8}.${i & 255}.1 timeout ${i} comment "entry number ${i}"`);
    const steps = compileRestore(entries.map((e) => `add ip4 ${e}`).join('\n') + '\n', SETS);
    assert.equal(steps.length, 1);
    const step = adtSteps(steps)[0]!;
    const ref = adtBatch(Cmd.Add, 'ip4', false, entries.length, (w, i) => encodeEntry(w, SETS.get('ip4')!, entries[i]!));
    assert.ok(ref.ends.length > 3, 'several messages');
    assert.deepEqual([...step.batch.ends], [...ref.ends]);
    assert.ok(Buffer.from(step.batch.bytes).equals(Buffer.from(ref.bytes)));
    assert.deepEqual(step.lines, entries.map((_e, i) => i + 1));
    for (const m of messages(step.batch)) {
      assert.equal(m.type, (6 << 8) | Cmd.Add);
      assert.equal(m.flags, 0x205);  // REQUEST | ACK | EXCL
    }
  });
});

describe('compileRestore: steps', () => {
  const text = [
    '# header',                 // 1
    'create a hash:ip',         // 2
    'create b hash:net',        // 3
    '',                         // 4
    'add a 10.0.0.1',           // 5
    'add a 10.0.0.2',           // 6
    '# between',                // 7
    'add a 10.0.0.3',           // 8
    'add b 10.0.0.0/8',         // 9
    'del b 10.0.0.0/8',         // 10
    'del b 10.1.0.0/16',        // 11
    'add -exist b 10.2.0.0/16', // 12
    'add b 10.3.0.0/16',        // 13
    'flush a',                  // 14
    'COMMIT',                   // 15
    'rename a c',               // 16
    'add c 10.0.0.9',           // 17
    'COMMIT',                   // 18
  ].join('\n') + '\n';

  it('cuts the text into text and adt steps, in order', () => {
    const steps = compileRestore(text, new Map());
    assert.deepEqual(steps.map((s) => (s.kind === 'text' ? ['text', s.firstLine, s.exist, s.text]
      : [s.cmd === Cmd.Add ? 'add' : 'del', s.set, s.type, s.exist, s.lines])), [
      ['text', 2, false, 'create a hash:ip\ncreate b hash:net\n'],
      ['add', 'a', 'hash:ip', false, [5, 6, 8]],
      ['add', 'b', 'hash:net', false, [9]],
      ['del', 'b', 'hash:net', false, [10, 11]],
      ['add', 'b', 'hash:net', true, [12, 13]],
      ['text', 14, true, 'flush a\nCOMMIT\nrename a c\n'],
      ['add', 'c', 'hash:ip', true, [17]],
    ]);
  });
  it('maps each entry back to its line, and keeps -exist from its line on', () => {
    const steps = compileRestore(text, new Map());
    for (const s of adtSteps(steps)) {
      const ms = messages(s.batch);
      for (const m of ms) {
        assert.equal(m.type, (6 << 8) | s.cmd);
        assert.equal(m.flags, s.exist ? 0x005 : 0x205);
        assert.deepEqual(m.attrs.map(([t]) => t), [1, 2, 9, 8]);  // PROTOCOL, SETNAME, LINENO, ADT
        assert.equal(m.attrs[1]![2].toString('latin1'), `${s.set}\0`);
      }
      assert.deepEqual(entriesOf(s.batch).map(([, n]) => n), s.lines.map((_l, i) => i + 1));
    }
    const lines = text.split('\n');
    const first = adtSteps(steps)[0]!;
    assert.equal(lines[first.lines[2]! - 1], 'add a 10.0.0.3');
  });
  it('gives every step -exist when the run has it', () => {
    for (const s of compileRestore(text, new Map(), { exist: true })) assert.equal(s.exist, true);
  });
  it('recovers the line numbers of text steps', () => {
    const steps = compileRestore('create a hash:ip\nadd a 1.2.3.4\n\n# x\ncreate b hash:ip\n\ndestroy b\r\nadd a 1.2.3.5', new Map());
    const t = steps.filter((s) => s.kind === 'text') as Extract<RestoreStep, { kind: 'text' }>[];
    assert.deepEqual(t.map((s) => [s.firstLine, s.text]), [[1, 'create a hash:ip\n'], [5, 'create b hash:ip\n\ndestroy b\r\n']]);
    const last = adtSteps(steps)[1]!;
    assert.deepEqual(last.lines, [8]);
  });
  it('returns the plan validateRestore returns', () => {
    const sets = new Map([['a', known('hash:ip')], ['t', known('hash:ip', { timeout: true })]]);
    const t2 = 'create n hash:net\nadd a 10.0.0.1\nrename n m\ndestroy t\n';
    assert.deepEqual(compileRestorePlan(t2, sets).plan, validateRestore(t2, sets));
    assert.deepEqual(compileRestorePlan(text, new Map()).plan, validateRestore(text, new Map()));
  });
  it('starts a new step for another set, command or -exist, not for blank lines', () => {
    const steps = compileRestore('create a hash:ip\ncreate b hash:ip\nadd a 1.1.1.1\nadd b 1.1.1.1\nadd a 1.1.1.2\n\n\nadd a 1.1.1.3\n-! add a 1.1.1.4\n', new Map());
    assert.deepEqual(adtSteps(steps).map((s) => [s.set, s.exist, s.lines]), [
      ['a', false, [3]], ['b', false, [4]], ['a', false, [5, 8]], ['a', true, [9]],
    ]);
  });
  it('encodes list:set lines of lists created in the text', () => {
    const sets = new Map([['x', known('hash:ip')], ['y', known('hash:ip')]]);
    const steps = compileRestore('create l list:set\nadd l x\nadd l y before x\ndel l y\n', sets);
    const [add, del] = adtSteps(steps);
    assert.equal(add!.type, 'list:set');
    const [e1, e2] = entriesOf(add!.batch);
    assert.equal(e1![0].toString('hex'), encoded('lst', 'x', 'add', sets).toString('hex'));
    assert.equal(e2![0].toString('hex'), encoded('lst', 'y before x', 'add', sets).toString('hex'));
    assert.equal(entriesOf(del!.batch)[0]![0].toString('hex'), encoded('lst', 'y', 'del', sets).toString('hex'));
  });
  it('handles an empty text and a text of comments', () => {
    assert.deepEqual(compileRestore('', new Map()), []);
    assert.deepEqual(compileRestore('# only\n\nCOMMIT\n', new Map()), []);
  });
});

// ---------------------------------------------------------------------------------------------
// validateRestore's cases (test/unit/ipset-syntax.test.ts): compileRestore must refuse each the same way.

describe('compileRestore refuses what validateRestore refuses, the same way', () => {
  const input = readFileSync(new URL('../fixtures/ipset/input.restore', import.meta.url), 'utf8');
  const save = readFileSync(new URL('../fixtures/ipset/save.txt', import.meta.url), 'utf8');
  const lines = save.split('\n');
  const mutate = (prefix: string, f: (l: string) => string) => {
    const i = lines.findIndex((l) => l.startsWith(prefix));
    assert.ok(i >= 0, prefix);
    return lines.map((l, k) => (k === i ? f(l) : l)).join('\n');
  };
  const sets = new Map([['v4', known('hash:ip')], ['tm', known('hash:ip', { timeout: true, comment: true })], ['v6', known('hash:net', { family: 'inet6' })]]);
  const sets2 = new Map([['a', known('hash:ip')], ['t', known('hash:ip', { timeout: true })]]);
  const sets3 = new Map([['a', known('hash:ip')], ['b', known('hash:ip')]]);
  const big = ['create big hash:ip'];
  for (let i = 1; big.length < 10_000; i++) big.push(`add big 10.1.${(i >> 8) & 255}.${i & 255}`);
  big[4999] = 'add big 10.1.300.1';
  const cases: [string, string, ReadonlyMap<string, KnownSet>, boolean?][] = [
    ['unknown type', mutate('create nets hash:net', (l) => l.replace('hash:net', 'hash:nett')), new Map()],
    ['32-character name', `create ${'x'.repeat(32)} hash:ip\n`, new Map()],
    ['malformed address', mutate('add nets 10.1.0.0/16', (l) => l.replace('10.1.0.0/16', '10.1.0.300/16')), new Map()],
    ['IPv6 in inet', mutate('add nets 192.168.0.1', (l) => l.replace('192.168.0.1', '2001:db8::1')), new Map()],
    ['port 65536', mutate('add ports 10.0.0.2,tcp:80', (l) => l.replace('tcp:80', 'tcp:65536')), new Map()],
    ['timeout without timeout', mutate('add nets 192.168.0.1', (l) => `${l} timeout 5`), new Map()],
    ['unknown option', mutate('add ports 10.0.0.1,udp:53', (l) => `${l} colour blue`), new Map()],
    ['netmask of hash:net', 'create s hash:net netmask 24\n', new Map()],
    ['line 5000 of 10k', big.join('\n') + '\n', new Map()],
    ['comment on v4', 'add v4 10.0.0.1 comment x\n', sets],
    ['packets on tm', 'add tm 10.0.0.1 packets 1\n', sets],
    ['v4 in v6', 'add v6 10.0.0.0/8\n', sets],
    ['no such set', 'add nope 10.0.0.1\n', sets],
    ['no such set, line 3', '\n\ndel nope 10.0.0.1\n', sets],
    ['flush no such set', 'flush nope\n', sets],
    ['create existing', 'create v4 hash:ip\n', sets],
    ['create other type -exist', 'create v4 hash:net\n', sets, true],
    ['create other ext -exist', 'create tm hash:ip\n', sets, true],
    ['add after rename', 'rename a b\nadd a 10.0.0.1\n', sets2],
    ['add after destroy', 'destroy a\nadd a 10.0.0.1\n', sets2],
    ['add after destroy all', 'destroy\nadd t 10.0.0.1\n', sets2],
    ['timeout after swap', 'swap a t\nadd t 10.0.0.1 timeout 5\n', sets2],
    ['swap types', 'create n hash:net\nswap a n\n', sets2],
    ['rename onto', 'rename a t\n', sets2],
    ['list member missing', 'create l list:set\nadd l c\n', sets3],
    ['list in list', 'create l list:set\nadd l l\n', sets3],
    ['before a non-member', 'create l list:set\nadd l a before b\n', sets3],
    ['destroy a member', 'create l list:set\nadd l a\ndestroy a\n', sets3],
    ['rename a member', 'create l list:set\nadd l a\nrename a z\n', sets3],
    ['destroy all, members held', 'create l list:set\nadd l a\ndestroy\n', sets3],
    ['COMMIT at the end', 'add a 10.0.0.1\nCOMMIT', sets3],
    ['COMMIT and blank', 'COMMIT \n', sets3],
    ['list in restore', 'list a\n', sets3],
    ['unknown command', 'foo a\n', sets3],
    ['add without element', 'add a\n', sets3],
    ['flush two', 'flush a b\n', sets3],
    ['long line', `add a 10.0.0.1 comment "${'x'.repeat(1020)}"\n`, sets3],
    ['-f', 'add a 10.0.0.1 -f x\n', sets3],
    ['unclosed quote', 'add a 10.0.0.1 comment "x\n', sets3],
    ['31 arguments', `add a 10.0.0.1 ${Array(29).fill('x').join(' ')}\n`, sets3],
    ['bad line after good adds', 'create z hash:ip\nadd z 1.1.1.1\nadd z 1.1.1.2\nadd z 1.1.1.x\n', sets3],
  ];
  for (const [what, text, sets0, exist] of cases) {
    it(what, () => {
      const opts = { op: 'ipset.restore', ...(exist ? { exist } : {}) };
      const want = caught(() => validateRestore(text, sets0, opts));
      const got = caught(() => compileRestore(text, sets0, opts));
      assert.ok(want, 'validateRestore refuses it');
      assert.ok(got, 'compileRestore refuses it');
      assert.equal(got.constructor, want.constructor);
      assert.ok([InvalidArgumentError, NotFoundError, ExistsError, InUseError].includes(got.constructor as typeof NotFoundError));
      assert.equal(got.message, want.message);
      assert.equal(got.line, want.line);
      assert.equal(got.column, want.column);
      assert.equal(got.argument, want.argument);
    });
  }
  it('takes what validateRestore takes (input.restore, and the texts of the syntax tests)', () => {
    for (const [text, sets0, exist] of [
      [input, new Map()], [save, new Map()], ['add v4 10.0.0.1\nadd tm 10.0.0.1 timeout 5 comment "x y"\nadd v6 2001:db8::/32\n', sets],
      ['create v4 hash:ip\n', sets, true], ['create -exist v4 hash:ip\nadd v4 10.0.0.1\n', sets],
      ['rename a b\nadd b 10.0.0.1\n', sets2], ['destroy\ncreate a hash:net\nadd a 10.0.0.0/8\n', sets2],
      ['swap a t\nadd a 10.0.0.1 timeout 5\n', sets2], ['create m bitmap:ip range 10.0.0.0/24\nswap a m\n', sets2],
      ['create l list:set\nadd l a\nadd l b before a\ndel l b\n', sets3], ['create l list:set\nadd l a\nflush l\ndestroy a\n', sets3],
      ['# comment\n\n   \nadd a 10.0.0.1\nCOMMIT\nadd -exist a 10.0.0.2\n-! add a 10.0.0.3\na a 10.0.0.4\n-A a 10.0.0.5\n--add a 10.0.0.6 -q\nCOMMIT\n', sets3],
      ['add a 10.0.0.1\r\nCOMMIT\r\n', sets3],
    ] as [string, ReadonlyMap<string, KnownSet>, boolean?][]) {
      const opts = exist ? { exist } : {};
      const { steps, plan } = compileRestorePlan(text, sets0, opts);
      assert.deepEqual(plan, validateRestore(text, sets0, opts));
      // Every command line is in exactly one step.
      const covered = steps.reduce((n, s) => n + (s.kind === 'adt' ? s.lines.length : 0), 0);
      assert.ok(covered <= plan.commands);
    }
  });
  it('compiles save.txt into steps that cover its command lines', () => {
    const { steps, plan } = compileRestorePlan(save, new Map());
    let n = 0;
    for (const s of steps) {
      if (s.kind === 'adt') {
        n += s.lines.length;
        for (const l of s.lines) assert.match(lines[l - 1]!, /^(add|del) /);
      } else {
        const own = s.text.split('\n');
        own.forEach((l, k) => {
          if (l === '') return;
          assert.equal(l.replace(/\r$/, ''), lines[s.firstLine + k - 1]!.replace(/\r$/, ''));
          if (!/^\s*(#|$|COMMIT)/.test(l)) n++;
        });
      }
    }
    assert.equal(n, plan.commands);
  });
});
