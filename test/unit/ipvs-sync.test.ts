// The IPVS sync planner without a kernel: listings as listServices() returns them (hand
// written), desired lists, and the operations planned between them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planIpvsSync, type DesiredService } from '../../lib/ipvs/sync.js';
import type { Destination, Service } from '../../lib/ipvs/types.js';
import { throwsInvalid } from '../helpers/throws.js';

/** A real server as the kernel lists it. */
const listed = (address: string, port: number, over: Partial<Destination> = {}): Destination => ({
  address, port, family: address.includes(':') ? 'inet6' : 'inet', weight: 1, forward: 'masq', upperThreshold: 0, lowerThreshold: 0,
  activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, ...over,
});

/** A service as the kernel lists it: wlc, hashed, no persistence unless given. */
const svc = (address: string, port: number, dests: Destination[], over: Partial<Service> = {}): Service => ({
  protocol: 'tcp', address, port, family: address.includes(':') ? 'inet6' : 'inet', scheduler: 'wlc', flags: ['hashed'],
  destinations: dests, ...over,
} as Service);

const current = (): Service[] => [
  svc('10.0.0.1', 80, [listed('10.1.0.1', 8080), listed('10.1.0.2', 8080, { weight: 3 })]),
  svc('10.0.0.2', 443, [listed('10.1.0.3', 8443)], { scheduler: 'rr', flags: ['persistent', 'hashed'], persistence: { timeout: 300, netmask: '255.255.255.255' } }),
  { fwmark: 7, family: 'inet', scheduler: 'sh', flags: ['hashed', 'sh-port'], destinations: [listed('10.1.0.9', 0, { forward: 'route' })] } as Service,
];

/** The same state written as input, with defaults left out. */
const desired = (): DesiredService[] => [
  { protocol: 'tcp', address: '10.0.0.1', port: 80, destinations: [{ address: '10.1.0.1', port: 8080 }, { address: '10.1.0.2', port: 8080, weight: 3 }] },
  { protocol: 'tcp', address: '10.0.0.2', port: 443, scheduler: 'rr', persistence: { timeout: 300 }, destinations: [{ address: '10.1.0.3', port: 8443 }] },
  { fwmark: 7, scheduler: 'sh', flags: ['sh-port'], destinations: [{ address: '10.1.0.9', forward: 'route' }] },
];

const bad = (fn: () => unknown, re: RegExp, index?: number) => throwsInvalid(fn, re, index === undefined ? {} : { index });

describe('planIpvsSync', () => {
  it('nothing changed: no operations, everything counted unchanged', () => {
    const p = planIpvsSync(current(), desired());
    assert.deepEqual(p.operations, []);
    assert.equal(p.ops, 0);
    assert.equal(p.unchanged, 3);
    assert.deepEqual(p.services, { added: 0, updated: 0, deleted: 0, unchanged: 3, kept: 0 });
    assert.deepEqual(p.destinations, { added: 0, updated: 0, deleted: 0, unchanged: 4 });
  });

  it('counts services in the shape every sync() returns (added, updated, removed, unchanged)', () => {
    const d = desired();
    d[0]!.destinations[1]!.weight = 5;  // changed only in its real servers: updated
    d.splice(2, 1);                     // fwmark 7: removed
    d.push({ protocol: 'udp', address: '10.0.0.5', port: 53, destinations: [] });  // added
    const p = planIpvsSync(current(), d);
    assert.deepEqual([p.added, p.updated, p.removed, p.unchanged], [1, 1, 1, 1]);
    assert.deepEqual(p.services, { added: 1, updated: 0, deleted: 1, unchanged: 2, kept: 0 });
  });

  it('a listing synced onto itself changes nothing (listed objects are valid input)', () => {
    const cur = current();
    assert.equal(planIpvsSync(cur, cur as DesiredService[]).ops, 0);
  });

  it('one real server weight changed: one complete update', () => {
    const d = desired();
    d[0]!.destinations[1]!.weight = 5;
    const p = planIpvsSync(current(), d);
    assert.deepEqual(p.operations, [{
      op: 'updateDestination', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 },
      destination: { address: '10.1.0.2', port: 8080, weight: 5, forward: 'masq', upperThreshold: 0, lowerThreshold: 0 },
    }]);
    assert.equal(p.destinations.updated, 1);
    assert.equal(p.destinations.unchanged, 3);
    assert.equal(p.unchanged, 2);
  });

  it('a real server whose port changed is a delete and an add (the add first)', () => {
    const d = desired();
    d[0]!.destinations[0]!.port = 9090;
    const p = planIpvsSync(current(), d);
    assert.deepEqual(p.operations.map((o) => o.op), ['addDestination', 'deleteDestination']);
    assert.deepEqual((p.operations[0] as { destination: unknown }).destination,
      { address: '10.1.0.1', port: 9090, weight: 1, forward: 'masq', upperThreshold: 0, lowerThreshold: 0 });
    assert.deepEqual((p.operations[1] as { destination: unknown }).destination, { address: '10.1.0.1', port: 8080 });
  });

  it('a service whose key changed is deleted and the new one added with its real servers', () => {
    const d = desired();
    (d[0] as { port: number }).port = 81;
    const p = planIpvsSync(current(), d);
    assert.deepEqual(p.operations.map((o) => o.op), ['deleteService', 'addService', 'addDestination', 'addDestination']);
    assert.deepEqual(p.operations[0], { op: 'deleteService', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 } });
    assert.deepEqual(p.operations[1], {
      op: 'addService', service: { protocol: 'tcp', address: '10.0.0.1', port: 81, scheduler: 'wlc', flags: [], persistence: null },
    });
    assert.deepEqual(p.services, { added: 1, updated: 0, deleted: 1, unchanged: 2, kept: 0 });
    assert.equal(p.destinations.added, 2);
  });

  it('changed attributes are one complete update of the service, real servers untouched', () => {
    const d = desired();
    d[1]!.persistence = { timeout: 600, netmask: 24 };
    const p = planIpvsSync(current(), d);
    assert.deepEqual(p.operations, [{
      op: 'updateService',
      service: { protocol: 'tcp', address: '10.0.0.2', port: 443, scheduler: 'rr', flags: [], persistence: { timeout: 600, netmask: '255.255.255.0' } },
    }]);
    // Persistence removed, scheduler flag removed.
    const d2 = desired();
    delete d2[1]!.persistence;
    d2[2]!.flags = [];
    assert.deepEqual(planIpvsSync(current(), d2).operations, [
      { op: 'updateService', service: { protocol: 'tcp', address: '10.0.0.2', port: 443, scheduler: 'rr', flags: [], persistence: null } },
      { op: 'updateService', service: { fwmark: 7, family: 'inet', scheduler: 'sh', flags: [], persistence: null } },
    ]);
  });

  // Every field the kernel keeps for a service or a real server, changed alone, must give one
  // update carrying the new value: a comparison that skips any one field would leave it unsynced.
  it('each service field changed alone is one updateService with the new value', () => {
    const base = (): DesiredService => ({
      protocol: 'udp', address: '10.0.0.2', port: 443, scheduler: 'sh', flags: ['sh-port'],
      persistence: { timeout: 300, netmask: '255.255.255.0', engine: 'sip' }, destinations: [],
    });
    const cur = [svc('10.0.0.2', 443, [], {
      protocol: 'udp', scheduler: 'sh', flags: ['persistent', 'hashed', 'sh-port'], persistence: { timeout: 300, netmask: '255.255.255.0', engine: 'sip' },
    })];
    assert.equal(planIpvsSync(cur, [base()]).ops, 0);
    const key = { protocol: 'udp', address: '10.0.0.2', port: 443 };
    const cases: Array<[string, (d: DesiredService) => void, object]> = [
      ['scheduler', (d) => { d.scheduler = 'rr'; d.flags = ['flag-2']; }, { scheduler: 'rr', flags: ['flag-2'] }],
      ['a scheduler flag added', (d) => { d.flags = ['sh-port', 'sh-fallback']; }, { flags: ['sh-fallback', 'sh-port'] }],
      ['a scheduler flag removed', (d) => { d.flags = []; }, { flags: [] }],
      ['one-packet', (d) => { d.flags = ['sh-port', 'one-packet']; }, { flags: ['one-packet', 'sh-port'] }],
      ['persistence timeout', (d) => { d.persistence!.timeout = 301; }, { persistence: { timeout: 301, netmask: '255.255.255.0', engine: 'sip' } }],
      ['persistence netmask', (d) => { d.persistence!.netmask = 16; }, { persistence: { timeout: 300, netmask: '255.255.0.0', engine: 'sip' } }],
      ['persistence netmask to the default', (d) => { delete d.persistence!.netmask; }, { persistence: { timeout: 300, netmask: '255.255.255.255', engine: 'sip' } }],
      ['persistence engine removed', (d) => { delete d.persistence!.engine; }, { persistence: { timeout: 300, netmask: '255.255.255.0' } }],
      ['persistence removed', (d) => { d.persistence = null; }, { persistence: null }],
    ];
    for (const [what, change, expect] of cases) {
      const d = base();
      change(d);
      const p = planIpvsSync(cur, [d]);
      assert.deepEqual(p.operations, [{
        op: 'updateService', service: { ...key, scheduler: 'sh', flags: ['sh-port'], persistence: base().persistence, ...expect },
      }], what);
      assert.deepEqual([p.services.updated, p.unchanged], [1, 0], what);
    }
    // IPv6: the netmask is a prefix length.
    const cur6 = [svc('2001:db8::1', 80, [], { flags: ['persistent', 'hashed'], persistence: { timeout: 60, netmask: 64 } })];
    const want6 = (netmask: number): DesiredService => ({ protocol: 'tcp', address: '2001:db8::1', port: 80, persistence: { timeout: 60, netmask }, destinations: [] });
    assert.equal(planIpvsSync(cur6, [want6(64)]).ops, 0);
    assert.deepEqual(planIpvsSync(cur6, [want6(48)]).operations, [{
      op: 'updateService', service: { protocol: 'tcp', address: '2001:db8::1', port: 80, scheduler: 'wlc', flags: [], persistence: { timeout: 60, netmask: 48 } },
    }]);
  });

  it('each real server field changed alone is one updateDestination with the new value', () => {
    const tun = { type: 'gue' as const, port: 6080, checksum: 'csum' as const };
    const cur = [svc('10.0.0.1', 80, [
      listed('10.1.0.1', 80, { weight: 2, upperThreshold: 100, lowerThreshold: 10 }),
      listed('10.1.0.2', 80, { forward: 'tunnel', tunnel: tun }),
    ])];
    const base = (): DesiredService => ({
      protocol: 'tcp', address: '10.0.0.1', port: 80, destinations: [
        { address: '10.1.0.1', weight: 2, upperThreshold: 100, lowerThreshold: 10 },
        { address: '10.1.0.2', forward: 'tunnel', tunnel: { ...tun } },
      ],
    });
    assert.equal(planIpvsSync(cur, [base()]).ops, 0);
    const d1 = { address: '10.1.0.1', port: 80, weight: 2, forward: 'masq', upperThreshold: 100, lowerThreshold: 10 };
    const d2 = { address: '10.1.0.2', port: 80, weight: 1, forward: 'tunnel', upperThreshold: 0, lowerThreshold: 0, tunnel: { ...tun } };
    const cases: Array<[string, (d: DesiredService) => void, object]> = [
      ['weight', (d) => { d.destinations[0]!.weight = 3; }, { ...d1, weight: 3 }],
      ['weight 0', (d) => { d.destinations[0]!.weight = 0; }, { ...d1, weight: 0 }],
      ['forward route', (d) => { d.destinations[0]!.forward = 'route'; }, { ...d1, forward: 'route' }],
      ['forward tunnel', (d) => { d.destinations[0]!.forward = 'tunnel'; }, { ...d1, forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'none' } }],
      ['forward bypass', (d) => { d.destinations[0]!.forward = 'bypass'; }, { ...d1, forward: 'bypass' }],
      ['upperThreshold', (d) => { d.destinations[0]!.upperThreshold = 101; }, { ...d1, upperThreshold: 101 }],
      ['lowerThreshold', (d) => { d.destinations[0]!.lowerThreshold = 11; }, { ...d1, lowerThreshold: 11 }],
      ['tunnel type', (d) => { d.destinations[1]!.tunnel = { type: 'gre', checksum: 'csum' }; }, { ...d2, tunnel: { type: 'gre', checksum: 'csum' } }],
      ['tunnel port', (d) => { d.destinations[1]!.tunnel!.port = 6081; }, { ...d2, tunnel: { ...tun, port: 6081 } }],
      ['tunnel checksum', (d) => { d.destinations[1]!.tunnel!.checksum = 'remcsum'; }, { ...d2, tunnel: { ...tun, checksum: 'remcsum' } }],
      ['forward away from tunnel', (d) => { d.destinations[1]!.forward = 'masq'; delete d.destinations[1]!.tunnel; }, { ...d2, forward: 'masq', tunnel: undefined }],
    ];
    for (const [what, change, expect] of cases) {
      const d = base();
      change(d);
      const p = planIpvsSync(cur, [d]);
      const want = JSON.parse(JSON.stringify(expect));
      assert.deepEqual(p.operations, [{ op: 'updateDestination', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 }, destination: want }], what);
      assert.deepEqual([p.destinations.updated, p.destinations.unchanged], [1, 1], what);
    }
  });

  it('prune: services the list lacks are deleted, or kept with prune false', () => {
    const d = desired().slice(1);
    assert.deepEqual(planIpvsSync(current(), d).operations, [{ op: 'deleteService', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 } }]);
    const kept = planIpvsSync(current(), d, { prune: false });
    assert.equal(kept.ops, 0);
    assert.equal(kept.services.kept, 1);
    // A function chooses which of them go.
    const some = planIpvsSync(current(), [], { prune: (s) => s.fwmark !== undefined || s.port === 443 });
    assert.deepEqual(some.operations, [
      { op: 'deleteService', service: { protocol: 'tcp', address: '10.0.0.2', port: 443 } },
      { op: 'deleteService', service: { fwmark: 7, family: 'inet' } },
    ]);
    assert.deepEqual([some.services.deleted, some.services.kept], [2, 1]);
    const all = planIpvsSync(current(), []);
    assert.deepEqual(all.operations.map((o) => o.op), ['deleteService', 'deleteService', 'deleteService']);
    assert.deepEqual(all.operations[2], { op: 'deleteService', service: { fwmark: 7, family: 'inet' } });
    // Real servers of deleted services go with them: not counted.
    assert.equal(all.destinations.deleted, 0);
  });

  it('order: service deletes, adds, updates, then each service’s real servers (add, update, delete)', () => {
    const d = desired();
    d.shift();                                                     // delete 10.0.0.1:80
    d.push({ protocol: 'udp', address: '10.0.0.3', port: 53, destinations: [{ address: '10.1.0.5' }] });  // add
    d[0]!.scheduler = 'wrr';                                       // update 10.0.0.2:443
    d[0]!.destinations = [{ address: '10.1.0.4', port: 8443 }];   // add one, delete one
    d[1]!.destinations[0]!.weight = 0;                             // update fwmark 7's real server
    const p = planIpvsSync(current(), d);
    assert.deepEqual(p.operations.map((o) => o.op), [
      'deleteService', 'addService', 'updateService',
      'addDestination', 'deleteDestination', 'updateDestination', 'addDestination',
    ]);
    // The new service's real server takes the service's port.
    assert.deepEqual((p.operations[6] as { destination: { port: number } }).destination.port, 53);
  });

  it('canonical forms: IPv6 text, netmask forms, defaults the kernel reports', () => {
    const cur: Service[] = [
      svc('2001:db8::1', 80, [listed('2001:db8::a', 80, { forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } })],
        { flags: ['persistent', 'hashed'], persistence: { timeout: 300, netmask: 64 } }),
      svc('10.0.0.9', 0, [listed('10.1.0.1', 0, { forward: 'local' })],
        { flags: ['persistent', 'hashed'], persistence: { timeout: 60, netmask: '255.255.0.0' } }),
      svc('10.0.0.10', 80, [listed('10.1.0.1', 80, { forward: 'tunnel', tunnel: { type: 'ipip', checksum: 'none' } })]),
    ];
    const want: DesiredService[] = [
      {
        protocol: 'tcp', address: '[2001:DB8:0:0::1]', port: 80, scheduler: 'wlc', flags: ['persistent'], persistence: { timeout: 300, netmask: '/64' },
        destinations: [{ address: '2001:db8:0::a', weight: 1, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } }],
      },
      { protocol: 'tcp', address: '10.0.0.9', port: 0, persistence: { timeout: 60, netmask: 16 }, destinations: [{ address: '10.1.0.1', port: 0 }] },
      { protocol: 'tcp', address: '10.0.0.10', port: 80, destinations: [{ address: '10.1.0.1', forward: 'tunnel' }] },
    ];
    assert.deepEqual(planIpvsSync(cur, want).operations, []);
    // A different tunnel checksum or gue port is a change.
    want[0]!.destinations[0]!.tunnel = { type: 'gue', port: 6081, checksum: 'csum' };
    assert.deepEqual(planIpvsSync(cur, want).operations, [{
      op: 'updateDestination', service: { protocol: 'tcp', address: '2001:db8::1', port: 80 },
      destination: { address: '2001:db8::a', port: 80, weight: 1, forward: 'tunnel', upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'gue', checksum: 'csum', port: 6081 } },
    }]);
  });

  it('long real server lists (matched through a map) diff the same way', () => {
    const many = (n: number, w: (i: number) => number) => Array.from({ length: n }, (_, i) => listed(`10.2.${i >> 8}.${i & 255}`, 80, { weight: w(i) }));
    for (const n of [20, 40]) {
      const cur = [svc('10.0.0.1', 80, many(n, () => 1))];
      const want: DesiredService[] = [{
        protocol: 'tcp', address: '10.0.0.1', port: 80,
        destinations: [...many(n, (i) => (i === 3 ? 9 : 1)).slice(1), listed('10.3.0.1', 80)],
      }];
      const p = planIpvsSync(cur, want);
      assert.deepEqual(p.operations.map((o) => o.op), ['addDestination', 'updateDestination', 'deleteDestination'], String(n));
      assert.deepEqual(p.destinations, { added: 1, updated: 1, deleted: 1, unchanged: n - 2 });
      assert.deepEqual((p.operations[2] as { destination: unknown }).destination, { address: '10.2.0.0', port: 80 });
      const dup = [{ ...want[0]!, destinations: [...want[0]!.destinations, { address: '10.2.0.5', port: 80 }] }];
      bad(() => planIpvsSync(cur, dup), /real server 10\.2\.0\.5:80 is listed twice \(real servers 4 and \d+\)/, 0);
    }
  });

  it('fwmark services by family are different services', () => {
    const cur: Service[] = [{ fwmark: 1, family: 'inet', scheduler: 'wlc', flags: ['hashed'], destinations: [] } as Service];
    const p = planIpvsSync(cur, [{ fwmark: 1, family: 'inet6', destinations: [] }]);
    assert.deepEqual(p.operations.map((o) => o.op), ['deleteService', 'addService']);
    assert.deepEqual(planIpvsSync(cur, [{ fwmark: 1, destinations: [] }]).ops, 0);
  });

  it('rejects the whole list before planning: index and key named', () => {
    const d = desired();
    d.push({ ...d[0]!, address: '10.0.0.1' });
    bad(() => planIpvsSync([], d), /tcp 10\.0\.0\.1:80 is listed twice \(services 0 and 3\)/, 3);
    const d2 = desired();
    d2[1]!.destinations.push({ address: '10.1.0.3', port: 8443, weight: 2 });
    bad(() => planIpvsSync([], d2), /service 1 \(tcp 10\.0\.0\.2:443\).*real server 10\.1\.0\.3:8443 is listed twice \(real servers 0 and 1\)/, 1);
    const d3 = desired();
    d3[2]!.destinations[0]!.weight = -1;
    bad(() => planIpvsSync([], d3), /service 2 \(fwmark 7\): real server 0: invalid weight -1/, 2);
    const d4 = desired();
    // @ts-expect-error not a scheduler: the runtime check is under test
    d4[1]!.scheduler = 'Bad!';
    bad(() => planIpvsSync([], d4), /service 1: invalid scheduler name/, 1);
    bad(() => planIpvsSync([], [{ protocol: 'tcp', address: '10.0.0.1', port: 80 } as DesiredService]), /destinations must be an array/, 0);
    bad(() => planIpvsSync([], {} as DesiredService[]), /expects an array of services/);
  });
});
