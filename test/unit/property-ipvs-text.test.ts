// Property tests of the ipvsadm rule text reader and writer (no kernel): generated services
// written with formatIpvsadm read back with parseIpvsadm to what they were; mutated and
// random texts give services or InvalidArgumentError with the line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { InvalidArgumentError } from '../../lib/core/errors.js';
import { formatIpvsadm, parseIpvsadm } from '../../lib/ipvs/ipvsadm-text.js';
import { garbage, mutated, params, typed } from '../helpers/fuzz.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/ipvs/${name}`, import.meta.url), 'utf8');
const FIXTURES = ['save.txt', 'input.rules'].map(fixture);

const byte = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(fc.integer({ min: 1, max: 223 }), byte, byte, byte).map((p) => p.join('.'));
// Canonical (RFC 5952) text, as the reader writes addresses back.
const v6 = fc.integer({ min: 1, max: 0xffff }).map((n) => `2001:db8::${n.toString(16)}`);
const port = fc.integer({ min: 1, max: 65535 });
const dotted = fc.integer({ min: 0, max: 32 }).map((p) => {
  const m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join('.');
});
const ORDER = ['sh-fallback', 'mh-fallback', 'flag-1', 'sh-port', 'mh-port', 'flag-2', 'flag-3'];

const destination = (family: 'inet' | 'inet6') => fc.record({
  address: family === 'inet6' ? v6 : v4,
  port: fc.integer({ min: 0, max: 65535 }),
  weight: fc.integer({ min: 0, max: 65535 }),
  forward: fc.constantFrom('masq', 'route', 'tunnel'),
  upperThreshold: fc.integer({ min: 0, max: 100000 }),
  lowerThreshold: fc.integer({ min: 0, max: 100000 }),
  tunnel: fc.oneof(
    fc.record({ type: fc.constant('ipip'), checksum: fc.constant('none') }),
    fc.record({ type: fc.constant('gre'), checksum: fc.constantFrom('none', 'csum') }),
    fc.record({ type: fc.constant('gue'), port, checksum: fc.constantFrom('none', 'csum', 'remcsum') }),
  ),
}).map((d) => {
  const { tunnel, ...rest } = d;
  return {
    ...rest, family, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0,
    ...(d.forward === 'tunnel' ? { tunnel: { ...tunnel } } : {}),
  };
});

const service = fc.constantFrom<'inet' | 'inet6'>('inet', 'inet6').chain((family) => fc.record({
  key: fc.oneof(
    fc.record({ protocol: fc.constantFrom('tcp', 'udp', 'sctp'), address: family === 'inet6' ? v6 : v4, port, family: fc.constant(family) }),
    fc.record({ fwmark: fc.integer({ min: 1, max: 0xffffffff }), family: fc.constant(family) }),
  ),
  scheduler: fc.constantFrom('rr', 'wrr', 'lc', 'wlc', 'sh', 'mh', 'sed'),
  persistence: fc.option(fc.record({
    timeout: fc.integer({ min: 1, max: 2678400 }),
    netmask: family === 'inet6' ? fc.integer({ min: 1, max: 128 }) : dotted,
    engine: fc.option(fc.constant('sip'), { nil: undefined }),
  }), { nil: undefined }),
  onePacket: fc.boolean(),
  schedFlags: fc.subarray(ORDER),
  destinations: fc.array(destination(family), { maxLength: 4 }),
})).map((s) => {
  const flags = [...(s.persistence ? ['persistent'] : []), 'hashed', ...(s.onePacket ? ['one-packet'] : []), ...s.schedFlags];
  const persistence = s.persistence && { timeout: s.persistence.timeout, netmask: s.persistence.netmask, ...(s.persistence.engine ? { engine: s.persistence.engine } : {}) };
  return { ...s.key, scheduler: s.scheduler, flags, ...(persistence ? { persistence } : {}), destinations: s.destinations };
});

const keyOf = (s: Record<string, unknown>) => ('fwmark' in s ? `f ${s.fwmark} ${s.family}` : `${s.protocol} ${s.address} ${s.port}`);

const inRange = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

function checkOutcome(text: string) {
  const r = typed(() => parseIpvsadm(text), text, [InvalidArgumentError]);
  if (!r.ok) {
    const e = r.error as InvalidArgumentError;
    assert.ok(Number.isInteger(e.line) && e.line! >= 1 && e.line! <= text.split('\n').length, `line ${e.line}`);
    return;
  }
  // What it reads is what ipvsadm could have printed: numbers in their ranges, never NaN.
  for (const s of r.value) {
    if (s.fwmark !== undefined) assert.ok(inRange(s.fwmark, 0xffffffff), `fwmark ${s.fwmark} in ${JSON.stringify(text)}`);
    else assert.ok(inRange(s.port, 65535), `port ${s.port} in ${JSON.stringify(text)}`);
    if (s.persistence) assert.ok(inRange(s.persistence.timeout, 0xffffffff), `timeout ${s.persistence.timeout}`);
    for (const d of s.destinations) {
      for (const [k, max] of [['port', 65535], ['weight', 0x7fffffff], ['upperThreshold', 0xffffffff], ['lowerThreshold', 0xffffffff]] as const) {
        assert.ok(inRange(d[k], max), `${k} ${d[k]} in ${JSON.stringify(text)}`);
      }
    }
  }
}

// Found by this test: a bad host:port such as `-A -t 10.0.0.1:80x -s rr` threw a plain Error,
// and numbers were read unchecked (`-f x` gave fwmark NaN, `:99999999` port 99999999).

describe('ipvsadm text: properties', () => {
  it('services written by formatIpvsadm read back to what they were', () => {
    fc.assert(fc.property(fc.uniqueArray(service, { selector: keyOf, maxLength: 5 }), (services) => {
      const text = formatIpvsadm(services as unknown as Parameters<typeof formatIpvsadm>[0]);
      assert.deepEqual(parseIpvsadm(text), services);
    }), params(400));
  });

  it('mutated texts give services or InvalidArgumentError with the line', () => {
    const written = fc.uniqueArray(service, { selector: keyOf, maxLength: 3 })
      .map((s) => formatIpvsadm(s as unknown as Parameters<typeof formatIpvsadm>[0]));
    fc.assert(fc.property(fc.oneof(mutated(fc.constantFrom(...FIXTURES)), mutated(written), garbage), checkOutcome), params(600));
  });
});
