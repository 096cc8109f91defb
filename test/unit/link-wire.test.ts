// The link subsystem without a kernel: address and name checks, address text as glibc's
// inet_ntop prints it, requests byte for byte as iproute2 sends them, reply parsing, and the
// errno-to-error table.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import {
  ExistsError, InvalidArgumentError, NlkitError, NotFoundError, PermissionError, UnsupportedError,
} from '../../lib/core/errors.js';
import { checkLinkName, formatIPv6, isIPv6LinkLocal, parseIPv6, parsePrefix } from '../../lib/link/addr.js';
import { kernelError, linkFailure } from '../../lib/link/errors.js';
import { INET_NTOP_CASES } from '../fixtures/inet-ntop.js';
import { _internal } from '../../lib/link/handle.js';
import {
  NLM_F_REQUEST, NLM_F_CREATE, NLM_F_EXCL, Rtm, RtWriter, addrMessage, eachMessage, newLink, parseAddr, parseLink,
} from '../../lib/link/wire.js';

const E = constants.errno;
const op = 'link.test';
const invalid = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof InvalidArgumentError && e.code === 'EINVAL' && re.test(e.message));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unspaced = (s: string) => s.replace(/\s+/g, '');

describe('link addresses', () => {
  it('print as glibc inet_ntop (and so iproute2) prints them', () => {
    for (const [input, text] of INET_NTOP_CASES) assert.equal(formatIPv6(parseIPv6(input)!), text, input);
  });

  it('parse ADDRESS[/PREFIXLEN]; a bare address is a host address', () => {
    assert.deepEqual(
      ['10.96.0.1', '10.96.0.1/32', '10.1.0.1/24', '0.0.0.0/0', '2001:DB8::1', 'fd00::1/64', '::/0'].map((a) => parsePrefix(a, op).text),
      ['10.96.0.1/32', '10.96.0.1/32', '10.1.0.1/24', '0.0.0.0/0', '2001:db8::1/128', 'fd00::1/64', '::/0']);
    const p = parsePrefix('2001:db8::1/64', op);
    assert.deepEqual([p.family, p.prefixlen, p.ip, hex(p.bytes)], ['inet6', 64, '2001:db8::1', '20010db8000000000000000000000001']);
    assert.deepEqual([...parsePrefix('10.96.0.1/32', op).bytes], [10, 96, 0, 1]);
    for (const [bad, why] of [
      ['10.0.0.256', /not an IPv4 or IPv6 address/], ['010.0.0.1', /not an IPv4/], ['10.0.0', /not an IPv4/], [' 10.0.0.1', /not an IPv4/],
      ['10.0.0.1/33', /from 0 to 32/], ['10.0.0.1/', /from 0 to 32/], ['10.0.0.1/032', /from 0 to 32/], ['10.0.0.1/-1', /from 0 to 32/],
      ['10.0.0.1/24/1', /from 0 to 32/], ['2001:db8::1/129', /from 0 to 128/], ['fe80::1%eth0', /not an IPv4/], ['1::2::3', /not an/],
      ['1:2:3:4:5:6:7:8:9', /not an/], ['12345::', /not an/], ['host.example', /not an/], ['', /not an/],
    ] as const) invalid(() => parsePrefix(bad, op), why);
    invalid(() => parsePrefix(7, op), /invalid address 7: expected a string/);
    assert.equal(isIPv6LinkLocal(parsePrefix('fe80::1/64', op)), true);
    assert.equal(isIPv6LinkLocal(parsePrefix('febf::1/64', op)), true);
    assert.equal(isIPv6LinkLocal(parsePrefix('fec0::1/64', op)), false);
  });

  it('link names as the kernel takes them', () => {
    for (const ok of ['kube-ipvs0', 'a', 'x'.repeat(15), 'eth0.100', 'br-1_2']) assert.equal(checkLinkName(ok, op), ok);
    for (const bad of ['', 'x'.repeat(16), 'kube-ipvs0-extra', 'a/b', 'a:b', 'a b', '.', '..', 'tab\t', 'é'.repeat(8)]) {
      invalid(() => checkLinkName(bad, op), /invalid link name/);
    }
    invalid(() => checkLinkName(undefined, op), /invalid link name undefined/);
  });

  it('lists: duplicates refused or dropped; one prefix per IPv6 address', () => {
    const { parseList, checkOnePrefixPerIPv6 } = _internal;
    assert.deepEqual(parseList(['10.0.0.1', '10.0.0.1/32', '10.0.0.1/24'], op, 'dedupe').map((p) => p.text), ['10.0.0.1/32', '10.0.0.1/24']);
    invalid(() => parseList(['10.0.0.1', '10.0.0.1/32'], op, 'refuse'), /addresses\[1\]: 10\.0\.0\.1\/32 is listed twice/);
    invalid(() => parseList(['10.0.0.1', 'nope'], op, 'refuse'), /^link\.test: addresses\[1\]: invalid address "nope"/);
    invalid(() => parseList('10.0.0.1', op, 'refuse'), /must be an array/);
    checkOnePrefixPerIPv6(parseList(['10.0.0.1/32', '10.0.0.1/24', '2001:db8::1/64', '2001:db8::2/64'], op, 'refuse'), op);
    invalid(() => checkOnePrefixPerIPv6(parseList(['2001:db8::1/64', '2001:db8:0::1/128'], op, 'refuse'), op), /one prefix length only/);
  });
});

describe('link requests are what iproute2 6.1 sends', () => {
  // Captured with `strace -xx` from iproute2 6.1; sequence number and link index zeroed (the
  // native side writes both, and adds NLM_F_ACK to every request as ip does).
  const withAck = (b: Uint8Array): string => {
    const c = Buffer.from(b);
    c.writeUInt16LE(c.readUInt16LE(6) | 0x4, 6);
    return c.toString('hex');
  };
  const add = (a: string, type: Rtm.NewAddr | Rtm.DelAddr = Rtm.NewAddr) => {
    const w = new RtWriter(16);  // grows as it goes
    addrMessage(w, type, parsePrefix(a, op), type === Rtm.NewAddr ? NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL : NLM_F_REQUEST);
    return withAck(w.batch().bytes);
  };

  it('ip addr add|del ADDR dev NAME', () => {
    assert.equal(add('10.96.0.1/32'), unspaced(`28000000 1400 0506 00000000 00000000 02200000 00000000
      08000200 0a600001 08000100 0a600001`));
    assert.equal(add('127.0.0.5/8'), unspaced(`28000000 1400 0506 00000000 00000000 020800fe 00000000
      08000200 7f000005 08000100 7f000005`));
    assert.equal(add('2001:db8::1/64'), unspaced(`40000000 1400 0506 00000000 00000000 0a400000 00000000
      14000200 20010db8000000000000000000000001 14000100 20010db8000000000000000000000001`));
    assert.equal(add('10.96.0.1/32', Rtm.DelAddr), unspaced(`28000000 1500 0500 00000000 00000000 02200000 00000000
      08000200 0a600001 08000100 0a600001`));
  });

  it('ip link add NAME [up mtu N] type KIND', () => {
    let w = new RtWriter();
    newLink(w, 'x1', 'ifb', { up: false });
    assert.equal(withAck(w.batch().bytes), unspaced(`34000000 1000 0506 00000000 00000000 00000000 00000000 00000000 00000000
      07000300 78310000 0c001200 07000100 69666200`));
    w = new RtWriter();
    newLink(w, 'x1', 'ifb', { up: true, mtu: 1400 });
    assert.equal(withAck(w.batch().bytes), unspaced(`3c000000 1000 0506 00000000 00000000 00000000 00000000 01000000 01000000
      08000400 78050000 07000300 78310000 0c001200 07000100 69666200`));
  });

  it('many requests in one buffer, each ending where the next begins', () => {
    const w = new RtWriter(8);
    for (let i = 0; i < 1000; i++) addrMessage(w, Rtm.NewAddr, parsePrefix(`10.0.${i >> 8}.${i & 255}`, op), NLM_F_REQUEST);
    const { bytes, ends } = w.batch();
    assert.equal(ends.length, 1000);
    assert.equal(ends[999], bytes.length);
    const seen: number[] = [];
    eachMessage(Buffer.from(bytes), 0, bytes.length, (type, at, len) => {
      assert.equal(type, Rtm.NewAddr);
      seen.push(at + len);
    });
    assert.deepEqual(seen, [...ends]);
  });
});

describe('link replies', () => {
  it('RTM_NEWLINK: name, index, kind, up, mtu, mac', () => {
    const w = new RtWriter();
    w.begin(Rtm.NewLink, 0);
    w.ifinfo(7, 0x1 | 0x2 | 0x80 | 0x10000, 0);
    w.u32(4, 1500);  // IFLA_MTU before the name: the kernel's order is not the record's
    w.str(3, 'kube-ipvs0');
    w.raw(1, Uint8Array.of(0x02, 0x42, 0xac, 0x11, 0x00, 0x0f));
    const nest = w.nest(18);
    w.str(1, 'dummy');
    w.endNest(nest);
    w.end();
    w.begin(Rtm.NewLink, 0);
    w.ifinfo(1, 0x8, 0);
    w.str(3, 'lo');
    w.u32(4, 65536);
    w.end();
    const { bytes } = w.batch();
    const links: unknown[] = [];
    eachMessage(Buffer.from(bytes), 0, bytes.length, (_, at, len) => links.push(parseLink(Buffer.from(bytes), at, len)));
    assert.deepEqual(links, [
      { name: 'kube-ipvs0', index: 7, kind: 'dummy', up: true, mtu: 1500, mac: '02:42:ac:11:00:0f' },
      { name: 'lo', index: 1, up: false, mtu: 65536 },
    ]);
    assert.deepEqual(Object.keys(links[0]!), ['name', 'index', 'kind', 'up', 'mtu', 'mac']);
  });

  it('RTM_NEWADDR: IPv4 with peer, label and lifetimes; IPv6 with IFA_FLAGS', () => {
    const w = new RtWriter();
    w.begin(Rtm.NewAddr, 0);
    w.ifaddr(2, 32, 0, 0);
    w.raw(1, Uint8Array.of(10, 9, 0, 2));  // IFA_ADDRESS: the peer
    w.raw(2, Uint8Array.of(10, 9, 0, 1));  // IFA_LOCAL
    w.str(3, 'x0:web');
    const ci = Buffer.alloc(16);
    ci.writeUInt32LE(50, 0);
    ci.writeUInt32LE(100, 4);
    w.raw(6, ci);
    w.end();
    w.begin(Rtm.NewAddr, 0);
    w.ifaddr(10, 64, 253, 0x80);
    w.raw(1, parsePrefix('fe80::1', op).bytes);
    w.u32(8, 0x80 | 0x200);
    w.end();
    const buf = Buffer.from(w.batch().bytes);
    buf.writeUInt32LE(2, 16 + 4);
    const recs: unknown[] = [];
    eachMessage(buf, 0, buf.length, (_, at, len) => recs.push(_internal.toAddress(parseAddr(buf, at, len)!, 'x0')));
    assert.deepEqual(recs, [
      { link: 'x0', index: 2, family: 'inet', address: '10.9.0.1/32', scope: 'global', flags: [], label: 'x0:web', peer: '10.9.0.2', validLft: 100, preferredLft: 50 },
      { link: 'x0', index: 0, family: 'inet6', address: 'fe80::1/64', scope: 'link', flags: ['permanent', 'noprefixroute'] },
    ]);
  });

  it('IPv4 secondaries belong to the primary of their subnet', () => {
    const rec = (a: string, flags = 0x80) => {
      const p = parsePrefix(a, op);
      return { family: p.family, index: 2, prefixlen: p.prefixlen, scope: 0, flags, local: p.bytes };
    };
    const { isPrimaryOf } = _internal;
    assert.equal(isPrimaryOf(rec('10.1.0.1/24'), rec('10.1.0.9/24', 0x81)), true);
    assert.equal(isPrimaryOf(rec('10.1.0.1/24'), rec('10.1.1.9/24', 0x81)), false);
    assert.equal(isPrimaryOf(rec('10.1.0.1/23'), rec('10.1.1.9/23', 0x81)), true);
    assert.equal(isPrimaryOf(rec('10.1.0.1/24'), rec('10.1.0.9/25', 0x81)), false);
    assert.equal(isPrimaryOf(rec('10.1.0.1/24', 0x81), rec('10.1.0.9/24', 0x81)), false);
  });
});

describe('link errors', () => {
  it('errno in the context of the request', () => {
    const cases: [number, object, Function, string, RegExp][] = [
      [E.EEXIST, { link: 'kube-ipvs0' }, ExistsError, 'EEXIST', /^link\.test: link kube-ipvs0 already exists$/],
      [E.EEXIST, { link: 'x0', address: '10.0.0.1/32', adding: true }, ExistsError, 'EEXIST', /address 10\.0\.0\.1\/32 already exists on link x0/],
      [E.ENODEV, { link: 'x0' }, NotFoundError, 'ENODEV', /link x0 does not exist/],
      [E.EADDRNOTAVAIL, { link: 'x0', address: '10.0.0.1/32' }, NotFoundError, 'EADDRNOTAVAIL', /address 10\.0\.0\.1\/32 is not on link x0/],
      [E.EADDRNOTAVAIL, { link: 'x0', address: 'ff02::1/128', adding: true }, InvalidArgumentError, 'EADDRNOTAVAIL', /cannot assign address ff02::1\/128 to link x0/],
      [E.EOPNOTSUPP, { link: 'kube-ipvs0', kind: 'dummy' }, UnsupportedError, 'EOPNOTSUPP', /no dummy links \(kernel module dummy, CONFIG_DUMMY; load it with `modprobe dummy`\)/],
      [E.EINVAL, { link: 'x0', address: '10.0.0.1/32', detail: 'bad thing' }, InvalidArgumentError, 'EINVAL', /refused address 10\.0\.0\.1\/32 on link x0 \(EINVAL\): bad thing$/],
      [E.EPERM, { link: 'x0' }, PermissionError, 'EPERM', /permission denied/],
      [E.ENOBUFS, { link: 'x0' }, NlkitError, 'ENOBUFS', /refused link x0 \(ENOBUFS\)/],
    ];
    for (const [errno, ctx, Cls, code, re] of cases) {
      const e = kernelError(op, errno, ctx);
      assert.ok(e instanceof Cls, `${code}: ${e.name}`);
      assert.equal(e.code, code);
      assert.equal(e.errno, errno);
      assert.equal(e.op, op);
      assert.equal(e.subsystem, 'link');
      assert.match(e.message, re);
    }
    assert.equal((kernelError(op, E.EINVAL, { link: 'x0', address: '10.0.0.1/32' }) as InvalidArgumentError).argument, '10.0.0.1/32');
    assert.equal(kernelError(op, E.EINVAL, { detail: 'why' }).detail, 'why');
  });

  it('native failures', () => {
    const nolink = linkFailure(op, { nativeFailure: true, errno: E.ENODEV, kind: 'nolink', message: 'link x9 does not exist' });
    assert.ok(nolink instanceof NotFoundError);
    assert.equal(nolink.code, 'ENODEV');
    assert.ok(linkFailure(op, { nativeFailure: true, errno: E.EPERM, message: 'cannot open a rtnetlink socket' }) instanceof PermissionError);
  });
});

describe('the rtnetlink writer growing its buffer', () => {
  it('writes every attribute into the grown buffer (a u32 used to land in the old one)', () => {
    const build = (size: number) => {
      const w = new RtWriter(size);
      newLink(w, 'x1', 'ifb', { up: true, mtu: 1400 });
      addrMessage(w, Rtm.NewAddr, parsePrefix('2001:db8::1/64', 'x'), NLM_F_REQUEST, { flags: 0x300 });
      return Buffer.from(w.batch().bytes);
    };
    const roomy = build(1 << 16);
    for (const size of [8, 33, 36, 40, 60, 100]) assert.deepEqual(build(size), roomy, `starting from ${size} bytes`);
  });
});
