// IPVS input checks and the wire format, without a kernel.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/core/errors.js';
import { maskToPrefix, parseAddress } from '../../lib/ipvs/addr.js';
import { normDest, normDaemon, normKey, normService, normTimeouts } from '../../lib/ipvs/validate.js';
import { flagNames, mergeDest, mergeService, toService, toDest } from '../../lib/ipvs/records.js';
import { CmdAttr, Cmd, GenlWriter, forEachNest, parseDest, parseService } from '../../lib/ipvs/wire.js';
import { IpvsHandle } from '../../lib/ipvs/handle.js';
import type { ServiceInput } from '../../lib/ipvs/types.js';
import { INET_NTOP_CASES } from '../fixtures/inet-ntop.js';
import { existsSync } from 'node:fs';
import { UnsupportedError } from '../../lib/core/errors.js';

const op = 'ipvs.test';
const bad = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message));

describe('ipvs addresses', () => {
  it('parses and prints IPv4 and IPv6 as inet_ntop does', () => {
    // ipvsadm takes an IPv6 address in brackets (with a port); IPv4 is printed as given.
    for (const [input, text] of [...INET_NTOP_CASES, ['10.0.0.1', '10.0.0.1'], ['[2001:db8::1]', '2001:db8::1']]) assert.equal(parseAddress(input)?.text, text, input);
    for (const b of ['10.0.0', '10.0.0.256', '010.0.0.1', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', 'host', '', '12345::1']) {
      assert.equal(parseAddress(b), undefined, b);
    }
    assert.equal(maskToPrefix(0xffffff00), 24);
    assert.equal(maskToPrefix(0xffffffff), 32);
    assert.equal(maskToPrefix(0xff00ff00), undefined);
  });
});

describe('ipvs service validation', () => {
  it('keys', () => {
    assert.equal(normKey(op, { protocol: 'tcp', address: '10.0.0.1', port: 80 }).text, 'tcp 10.0.0.1:80');
    assert.equal(normKey(op, { protocol: 'sctp', address: '[2001:db8::1]', port: 9 }).text, 'sctp [2001:db8::1]:9');
    assert.equal(normKey(op, { fwmark: 5, family: 'inet6' }).text, 'fwmark 5 (inet6)');
    bad(() => normKey(op, { protocol: 'icmp' as 'tcp', address: '10.0.0.1', port: 80 }), /invalid protocol "icmp"/);
    bad(() => normKey(op, { protocol: 'tcp', address: '10.0.0.300', port: 80 }), /invalid address "10.0.0.300"/);
    bad(() => normKey(op, { protocol: 'tcp', address: '10.0.0.1', port: 65536 }), /invalid port 65536/);
    bad(() => normKey(op, { protocol: 'tcp', address: '10.0.0.1', port: 1.5 }), /invalid port/);
    bad(() => normKey(op, { fwmark: 0 }), /invalid fwmark 0/);
    bad(() => normKey(op, { fwmark: 2 ** 32 }), /invalid fwmark/);
    bad(() => normKey(op, { fwmark: 1, family: 'inet5' as 'inet' }), /invalid family/);
  });

  it('port 0 only for persistent or firewall-mark services', () => {
    bad(() => normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 0 }), /port 0 is only for a persistent or firewall-mark service/);
    assert.equal(normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 0, persistence: { timeout: 10 } }).port, 0);
    assert.equal(normService(op, { fwmark: 3 }).fwmark, 3);
  });

  it('schedulers, flags and persistence become the kernel bits', () => {
    const s = normService(op, { protocol: 'udp', address: '10.0.0.1', port: 53, scheduler: 'sh', flags: ['sh-fallback', 'sh-port', 'one-packet', 'hashed'] });
    assert.equal(s.sched, 'sh');
    assert.equal(s.flags, 0x4 | 0x8 | 0x10);
    assert.equal(normService(op, { fwmark: 1, scheduler: 'mh', flags: { 'mh-port': true, 'mh-fallback': false } }).flags, 0x10);
    assert.equal(normService(op, { fwmark: 1, scheduler: 'rr', flags: ['flag-3'] }).flags, 0x20);
    assert.equal(normService(op, { fwmark: 1 }).sched, 'wlc');
    bad(() => normService(op, { fwmark: 1, scheduler: 'rr', flags: ['sh-port'] }), /flag sh-port needs scheduler sh, not rr/);
    bad(() => normService(op, { fwmark: 1, scheduler: 'sh', flags: ['flag-1'] }), /scheduler sh names its flags/);
    bad(() => normService(op, { fwmark: 1, flags: ['sticky' as 'hashed'] }), /unknown service flag "sticky"/);
    bad(() => normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 80, flags: ['one-packet'] }), /one-packet scheduling is only for udp/);
    assert.equal(normService(op, { fwmark: 9, flags: ['one-packet'] }).flags, 0x4);
    // @ts-expect-error not a scheduler: the runtime check is under test
    bad(() => normService(op, { fwmark: 1, scheduler: 'Round Robin' }), /invalid scheduler name/);
    const p = normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 80, persistence: { timeout: 60, netmask: '255.255.255.0', engine: 'sip' } });
    assert.deepEqual([p.flags, p.timeout, p.netmask, p.pe], [0x1, 60, 0xffffff00, 'sip']);
    assert.equal(normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 80, persistence: { timeout: 60, netmask: 16 } }).netmask, 0xffff0000);
    assert.equal(normService(op, { protocol: 'tcp', address: '2001:db8::1', port: 80, persistence: { timeout: 60, netmask: 64 } }).netmask, 64);
    assert.equal(normService(op, { protocol: 'tcp', address: '2001:db8::1', port: 80, persistence: { timeout: 60 } }).netmask, 128);
    assert.equal(normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 80, flags: ['persistent'] }).timeout, 300);
    bad(() => normService(op, { protocol: 'tcp', address: '2001:db8::1', port: 80, persistence: { timeout: 60, netmask: 129 } }), /IPv6 persistence netmask 129/);
    bad(() => normService(op, { protocol: 'tcp', address: '2001:db8::1', port: 80, persistence: { timeout: 60, netmask: '255.0.0.0' } }), /prefix length/);
    bad(() => normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 80, persistence: { timeout: 0 } }), /persistence timeout 0/);
    bad(() => normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 80, persistence: { timeout: 86400 * 31 + 1 } }), /persistence timeout/);
    bad(() => normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 80, persistence: { timeout: 5, netmask: '255.255.0' } }), /netmask/);
  });
});

describe('ipvs real server validation', () => {
  const svc = normKey(op, { protocol: 'tcp', address: '10.0.0.1', port: 80 });
  it('defaults and ranges', () => {
    const d = normDest(op, svc, { address: '10.1.0.1' });
    assert.deepEqual([d.port, d.weight, d.fwd, d.uThresh, d.lThresh, d.text], [80, 1, 0, 0, 0, '10.1.0.1:80']);
    assert.equal(normDest(op, svc, { address: '10.1.0.1', forward: 'route', weight: 0 }).fwd, 3);
    assert.equal(normDest(op, svc, { address: '10.1.0.1', forward: 'bypass' }).fwd, 4);
    assert.equal(normDest(op, svc, { address: '2001:db8::1', port: 8080, forward: 'tunnel' }).text, '[2001:db8::1]:8080');
    assert.equal(normDest(op, svc, { address: '10.1.0.1', weight: 2 ** 31 - 1 }).weight, 2 ** 31 - 1);
    bad(() => normDest(op, svc, { address: '10.1.0.1', weight: -1 }), /invalid weight -1/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', weight: 2 ** 31 }), /invalid weight/);
    bad(() => normDest(op, svc, { address: 'x' }), /invalid real server address "x"/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', port: -1 }), /invalid real server port/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', forward: 'nat' as 'masq' }), /invalid forwarding method "nat"/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', forward: 'local' as 'masq' }), /invalid forwarding method "local"/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', upperThreshold: 5, lowerThreshold: 6 }), /lower threshold 6 is above upper threshold 5/);
  });

  it('tunnels', () => {
    const t = normDest(op, svc, { address: '10.1.0.1', forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' } });
    assert.deepEqual([t.fwd, t.tunType, t.tunPort, t.tunFlags], [2, 1, 6080, 2]);
    assert.equal(normDest(op, svc, { address: '10.1.0.1', forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } }).tunFlags, 1);
    bad(() => normDest(op, svc, { address: '10.1.0.1', forward: 'masq', tunnel: { type: 'gre' } }), /tunnel options need forward 'tunnel'/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', forward: 'tunnel', tunnel: { type: 'gue' } }), /a gue tunnel needs a port/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', forward: 'tunnel', tunnel: { type: 'ipip', port: 5 } }), /only for gue/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', forward: 'tunnel', tunnel: { type: 'gre', checksum: 'remcsum' } }), /remcsum is only for gue/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', forward: 'tunnel', tunnel: { type: 'vxlan' as 'gre' } }), /invalid tunnel type/);
    bad(() => normDest(op, svc, { address: '10.1.0.1', forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'csum' } }), /ipip tunnels have no checksum/);
  });

  it('daemons and timeouts', () => {
    assert.deepEqual(normDaemon(op, { state: 'backup', interface: 'eth0', syncId: 3, group: '224.0.0.90', port: 9000, ttl: 2, maxLength: 1400 }),
      { state: 2, ifn: 'eth0', syncId: 3, group4: new Uint8Array([224, 0, 0, 90]), port: 9000, ttl: 2, maxLen: 1400 });
    bad(() => normDaemon(op, { state: 'primary' as 'master', interface: 'eth0' }), /invalid daemon state/);
    bad(() => normDaemon(op, { state: 'master', interface: 'a very long interface name' }), /invalid interface name/);
    bad(() => normDaemon(op, { state: 'master', interface: 'eth0', syncId: 256 }), /invalid sync id/);
    // the kernel copies the name as a C string: 'eth0\0x' would start the daemon on eth0
    bad(() => normDaemon(op, { state: 'master', interface: 'eth0\0x' }), /invalid interface name/);
    assert.deepEqual(normTimeouts(op, { tcp: 900 }), { tcp: 900, tcpFin: 0, udp: 0 });
    bad(() => normTimeouts(op, { udp: -1 }), /invalid udp timeout/);
  });
});

describe('ipvs wire format', () => {
  it('a service and a real server read back as written', () => {
    const w = new GenlWriter(64);
    const s = normService(op, { protocol: 'udp', address: '2001:db8::5', port: 5060, scheduler: 'mh', flags: ['mh-port'], persistence: { timeout: 30, netmask: 48, engine: 'sip' } });
    w.begin(Cmd.NewService);
    w.service(s);
    w.end();
    const key = normKey(op, { protocol: 'tcp', address: '10.0.0.1', port: 80 });
    const d = normDest(op, key, { address: '2001:db8::9', port: 81, forward: 'tunnel', weight: 7, upperThreshold: 9, lowerThreshold: 2, tunnel: { type: 'gue', port: 7777, checksum: 'csum' } });
    w.begin(Cmd.NewDest);
    w.close(w.serviceKey(key));
    w.dest(d);
    w.end();
    const { bytes, ends } = w.batch();
    assert.equal(ends.length, 2);
    assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true), ends[0]);
    assert.equal(bytes[16], Cmd.NewService);
    assert.equal(bytes[17], 1);
    const b = Buffer.from(bytes);
    const svcs: ReturnType<typeof toService>[] = [];
    forEachNest(b, 0, ends[0]!, CmdAttr.Service, (a, e) => svcs.push(toService(b, parseService(b, a, e), true)));
    assert.deepEqual(svcs, [{
      protocol: 'udp', address: '2001:db8::5', port: 5060, family: 'inet6', scheduler: 'mh',
      persistence: { timeout: 30, netmask: 48, engine: 'sip' }, flags: ['persistent', 'mh-port'],
      stats: { connections: 0n, packetsIn: 0n, packetsOut: 0n, bytesIn: 0n, bytesOut: 0n, connectionRate: 0n, packetRateIn: 0n, packetRateOut: 0n, byteRateIn: 0n, byteRateOut: 0n },
    }]);
    const dests: ReturnType<typeof toDest>[] = [];
    forEachNest(b, ends[0]!, ends[1]!, CmdAttr.Dest, (a, e) => dests.push(toDest(b, parseDest(b, a, e, 2), false)));
    assert.deepEqual(dests, [{
      address: '2001:db8::9', port: 81, family: 'inet6', weight: 7, forward: 'tunnel', upperThreshold: 9, lowerThreshold: 2,
      tunnel: { type: 'gue', checksum: 'csum', port: 7777 }, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0,
    }]);
  });

  it('IPv4 netmasks travel in network order', () => {
    const w = new GenlWriter(64);
    w.begin(Cmd.NewService);
    w.service(normService(op, { protocol: 'tcp', address: '10.0.0.1', port: 80, persistence: { timeout: 5, netmask: '255.255.255.0' } }));
    w.end();
    const b = Buffer.from(w.batch().bytes);
    assert.notEqual(b.indexOf(Buffer.from([255, 255, 255, 0])), -1);
  });

  it('flag names by scheduler, merges', () => {
    assert.deepEqual(flagNames('sh', 0x1f), ['persistent', 'hashed', 'one-packet', 'sh-fallback', 'sh-port']);
    assert.deepEqual(flagNames('rr', 0x38), ['flag-1', 'flag-2', 'flag-3']);
    assert.deepEqual(mergeDest({ address: 'a', weight: 3, forward: 'tunnel', tunnel: { type: 'gre' } }, { address: 'a', forward: 'masq' }),
      { address: 'a', weight: 3, forward: 'masq' });
    assert.deepEqual(mergeService({ fwmark: 1, scheduler: 'sh', flags: ['sh-port', 'one-packet'], persistence: null }, { fwmark: 1, scheduler: 'rr' }),
      { fwmark: 1, scheduler: 'rr', flags: ['one-packet'], persistence: null });
  });
});

describe('ipvs handle input errors (no kernel)', () => {
  it('rejects bad input with typed errors before any native call', async () => {
    let h: IpvsHandle;
    try {
      h = new IpvsHandle();
    } catch {
      return;  // no native build here: nothing more to check
    }
    try {
      await assert.rejects(h.addService({ protocol: 'tcp', address: 'nope', port: 80 }), InvalidArgumentError);
      await assert.rejects(h.addDestination({ fwmark: 1 }, { address: '10.0.0.1', weight: 1.5 }), /invalid weight 1.5/);
      await assert.rejects(h.apply([{ op: 'flush' }, { op: 'addService', service: { protocol: 'tcp', address: '10.0.0.1', port: 0 } }]),
        (e: unknown) => e instanceof InvalidArgumentError && (e as InvalidArgumentError & { index?: number }).index === 1 && /operation 1 \(addService\)/.test(e.message));
      await assert.rejects(h.apply([{ op: 'frobnicate' } as never]), /unknown operation "frobnicate"/);
      const err = await h.addService({ protocol: 'tcp', address: 'x', port: 1 }).catch((e: Error) => e);
      assert.match(String((err as Error).stack), /ipvs-validate\.test\.ts/);  // the caller's stack
    } finally {
      await h.close();
    }
  });
});

describe('ipvs on a kernel without IPVS', { skip: existsSync('/proc/net/ip_vs') ? 'this kernel has IPVS' : undefined }, () => {
  it('says which kernel module is missing', async () => {
    let h: IpvsHandle;
    try {
      h = new IpvsHandle();
    } catch {
      return;  // no native build here
    }
    try {
      await assert.rejects(h.getInfo(), (e: unknown) => e instanceof UnsupportedError && /kernel module ip_vs\b/.test(e.message) && e.op === 'ipvs.getInfo');
      await assert.rejects(h.addService({ fwmark: 1 }), UnsupportedError);
    } finally {
      await h.close();
    }
  });
});

// A partial updateService is merged with the listed service (records.ts) before it is sent.
describe('mergeService: what a partial update keeps', () => {
  const cur = {
    protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'sh', flags: ['sh-fallback', 'sh-port'],
    persistence: { timeout: 600, netmask: '255.255.255.0' },
  } as ServiceInput;
  const flags = (s: ServiceInput) => [...(s.flags as string[])].sort();
  it('named booleans change only the flags they name; persistence stays', () => {
    const m = mergeService(cur, { protocol: 'tcp', address: '10.0.0.1', port: 80, flags: { 'sh-port': false } });
    assert.deepEqual(flags(m), ['sh-fallback']);
    assert.deepEqual(m.persistence, cur.persistence);
    assert.equal(m.scheduler, 'sh');
    assert.deepEqual(flags(mergeService(cur, { ...cur, flags: { 'one-packet': true } } as ServiceInput)), ['one-packet', 'sh-fallback', 'sh-port']);
  });
  it('persistent: false ends persistence, other flags stay; an array is the whole list', () => {
    const m = mergeService(cur, { protocol: 'tcp', address: '10.0.0.1', port: 80, flags: { persistent: false } });
    assert.equal(m.persistence, null);
    assert.deepEqual(flags(m), ['sh-fallback', 'sh-port']);
    const a = mergeService(cur, { protocol: 'tcp', address: '10.0.0.1', port: 80, flags: ['sh-port'] });
    assert.deepEqual([flags(a), a.persistence], [['sh-port'], cur.persistence]);
  });
  it('another scheduler drops the old one\'s private flags, keeps one-packet, then applies the named ones', () => {
    const u = { ...cur, protocol: 'udp', flags: ['one-packet', 'sh-port'] } as ServiceInput;
    assert.deepEqual(flags(mergeService(u, { protocol: 'udp', address: '10.0.0.1', port: 80, scheduler: 'mh' })), ['one-packet']);
    assert.deepEqual(flags(mergeService(u, { protocol: 'udp', address: '10.0.0.1', port: 80, scheduler: 'mh', flags: { 'mh-port': true } })), ['mh-port', 'one-packet']);
  });
});
