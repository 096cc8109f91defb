// Reading `ipvsadm -S -n` output captured from the real tool (test/fixtures/ipvs/, see
// capture.sh there) and writing `ipvsadm -R` input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatIpvsadm, parseIpvsadm } from '../../lib/ipvs/ipvsadm-text.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/ipvs/${name}`, import.meta.url), 'utf8');
const base = { upperThreshold: 0, lowerThreshold: 0, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0 };

describe('ipvsadm -S -n text', () => {
  const saved = parseIpvsadm(fixture('save.txt'));
  const find = (pred: (s: (typeof saved)[number]) => boolean) => {
    const s = saved.find(pred);
    assert.ok(s);
    return s;
  };

  it('reads every service and real server of the captured save', () => {
    const input = fixture('input.rules').split('\n');
    assert.equal(saved.length, input.filter((l) => l.startsWith('-A ')).length);
    assert.equal(saved.reduce((n, s) => n + s.destinations.length, 0), input.filter((l) => l.startsWith('-a ')).length);
  });

  it('protocol services with persistence, netmask, engine and flags', () => {
    assert.deepEqual(find((s) => s.address === '10.0.0.3'), {
      protocol: 'tcp', address: '10.0.0.3', port: 0, family: 'inet', scheduler: 'lc',
      persistence: { timeout: 60, netmask: '255.255.255.0' }, flags: ['persistent', 'hashed'],
      destinations: [{ address: '10.1.0.5', port: 0, family: 'inet', weight: 2, forward: 'route', ...base }],
    });
    const sip = find((s) => s.address === '10.0.0.5');
    assert.deepEqual([sip.protocol, sip.scheduler, sip.persistence, sip.flags],
      ['udp', 'sh', { timeout: 120, netmask: '255.255.255.255', engine: 'sip' }, ['persistent', 'hashed', 'sh-fallback', 'sh-port']]);
    assert.deepEqual(find((s) => s.address === '10.0.0.4').flags, ['hashed', 'one-packet']);
    assert.deepEqual(find((s) => s.address === '10.0.0.14').flags, ['hashed', 'flag-1', 'flag-3']);
    const v6 = find((s) => s.address === '2001:db8::2');
    assert.deepEqual([v6.family, v6.persistence], ['inet6', { timeout: 600, netmask: 64 }]);
    assert.deepEqual(find((s) => s.address === '2001:db8::3').flags, ['persistent', 'hashed', 'mh-port']);
    assert.equal(find((s) => s.address === '10.0.0.6').protocol, 'sctp');
  });

  it('firewall marks, including the ones ipvsadm prints as negative numbers', () => {
    assert.deepEqual(find((s) => s.fwmark === 4294967294), { fwmark: 4294967294, family: 'inet', scheduler: 'rr', flags: ['hashed'], destinations: [] });
    const f3 = find((s) => s.fwmark === 3);
    assert.equal(f3.family, 'inet6');
    assert.deepEqual(f3.destinations, [{ address: '2001:db8:1::1', port: 0, family: 'inet6', weight: 1, forward: 'route', ...base }]);
  });

  it('tunnels: type, port and checksum', () => {
    const t = find((s) => s.address === '10.0.0.4').destinations.map((d) => [d.address, d.tunnel]);
    assert.deepEqual(t, [
      ['10.1.0.6', { type: 'ipip', checksum: 'none' }],
      ['10.1.0.7', { type: 'gue', checksum: 'none', port: 6080 }],
      ['10.1.0.8', { type: 'gue', checksum: 'csum', port: 6081 }],
      ['10.1.0.9', { type: 'gue', checksum: 'remcsum', port: 6082 }],
      ['10.1.0.10', { type: 'gre', checksum: 'csum' }],
      ['10.1.0.11', { type: 'gre', checksum: 'none' }],
    ]);
    // A real server of the other family, through a tunnel.
    assert.deepEqual(find((s) => s.address === '10.0.0.15').destinations.map((d) => [d.address, d.family, d.forward]), [['2001:db8:1::5', 'inet6', 'tunnel']]);
  });

  it('formatting and reading back gives the same objects', () => {
    const text = formatIpvsadm(saved as unknown as Parameters<typeof formatIpvsadm>[0]);
    assert.deepEqual(parseIpvsadm(text), saved);
    // ... and the same lines the tool saved, but for ipvsadm's signed firewall marks.
    const norm = (t: string) => t.split('\n').filter(Boolean).map((l) => l.replace(' -M 255.255.255.255', '').replace(/ -M 128\b/, '')).sort();
    assert.deepEqual(norm(text), norm(fixture('save.txt').replace('-f -2 ', '-f 4294967294 ')));
  });

  it('refuses what it does not understand, naming the line', () => {
    assert.throws(() => parseIpvsadm('-A -t 10.0.0.1:80 -s rr\n-X -t 10.0.0.1:80\n'), /line 2: unsupported command -X/);
    assert.throws(() => parseIpvsadm('-A -t 10.0.0.1:80 --frob\n'), /line 1: unknown option --frob/);
    assert.throws(() => parseIpvsadm('-a -t 10.0.0.1:80 -r 10.0.0.2\n'), /real server for unknown service/);
  });
});
