// Differential against ipvsadm, in a real kernel with IPVS (a throwaway namespace; on hosts
// without IPVS inside the VM: see test/helpers/ipvs.ts). For every scheduler × protocol
// (tcp, udp, sctp, fwmark) × forwarding (masq, route, tunnel) × persistence × family:
//  - ipvsadm -R of the rules, then nlkit lists them with every field as meant;
//  - nlkit writes the same services (apply() and single calls), and `ipvsadm -S -n` reads
//    back exactly what it read after its own -R.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ipvs } from '../../lib/index.js';
import type { DestinationInput, Service, ServiceFlag, ServiceInput } from '../../lib/ipvs/types.js';
import { formatIpvsadm, parseIpvsadm } from '../../lib/ipvs/ipvsadm-text.js';
import { parseAddress } from '../../lib/ipvs/addr.js';
import { Netns, withHandle } from '../helpers/netns.js';
import { availableSchedulers, canonical, ipvsSkipReason, saveLines, whereRan } from '../helpers/ipvs.js';

const skip = ipvsSkipReason();
type Case = ServiceInput & { destinations: DestinationInput[] };

function cases(schedulers: string[]): Case[] {
  const out: Case[] = [];
  let i = 0;
  for (const scheduler of schedulers) for (const kind of ['tcp', 'udp', 'sctp', 'fwmark'] as const)
    for (const forward of ['masq', 'route', 'tunnel'] as const) for (const persistent of [false, true]) for (const v6 of [false, true]) {
      i++;
      const addr = v6 ? `2001:db8:${i.toString(16)}::1` : `10.${100 + (i >> 8)}.${i & 255}.1`;
      const real = (n: number, six = v6) => (six ? `2001:db8:ffff:${i.toString(16)}::${n}` : `10.${200 + (i >> 8)}.${i & 255}.${n}`);
      let port = 80 + (i % 7);
      if (persistent && kind === 'tcp' && i % 3 === 0) port = 0;  // an all-ports persistent service
      const s = (kind === 'fwmark'
        ? { fwmark: 100 + i, family: v6 ? 'inet6' : 'inet' }
        : { protocol: kind, address: addr, port }) as Case;
      s.scheduler = scheduler as ipvs.Scheduler;  // the kernel's own list (availableSchedulers)
      const flags: ServiceFlag[] = [];
      if (scheduler === 'sh' || scheduler === 'mh') {
        if (i & 1) flags.push(`${scheduler}-fallback` as ServiceFlag);
        if (i & 2) flags.push(`${scheduler}-port` as ServiceFlag);
      } else if (scheduler === 'rr' && i % 5 === 0) flags.push('flag-2');
      if ((kind === 'udp' && i % 3 === 0) || (kind === 'fwmark' && i % 5 === 0)) flags.push('one-packet');
      s.flags = flags;
      if (persistent) {
        const netmask = v6 ? [64, 48, undefined][i % 3] : ['255.255.255.0', '255.255.0.0', undefined][i % 3];
        s.persistence = { timeout: 60 + (i % 5), ...(netmask !== undefined ? { netmask } : {}), ...(kind === 'udp' && i % 4 === 1 ? { engine: 'sip' } : {}) };
      }
      const svcPort = kind === 'fwmark' ? 0 : port;
      const d: DestinationInput[] = [];
      if (forward === 'masq') {
        d.push({ address: real(1), port: kind === 'fwmark' || port === 0 ? 8080 : port + 8000, forward, weight: i % 4, upperThreshold: 100, lowerThreshold: 10 });
        d.push({ address: real(2), port: 9000, forward, weight: i % 2 ? 65535 : 1 });
      } else if (forward === 'route') {
        // ipvsadm gives direct-routing and tunnel real servers the service's port.
        d.push({ address: real(1), port: svcPort, forward, weight: 2 });
        d.push({ address: real(2), port: svcPort, forward, weight: 0, upperThreshold: 7 });
      } else {
        const type = (['ipip', 'gue', 'gre'] as const)[i % 3];
        const checksum = type === 'gue' ? (['none', 'csum', 'remcsum'] as const)[(i >> 1) % 3] : type === 'gre' && i & 1 ? 'csum' : 'none';
        d.push({ address: real(1), port: svcPort, forward, weight: 3, tunnel: { type, checksum, ...(type === 'gue' ? { port: 6080 + (i % 3) } : {}) } });
        d.push({ address: real(2, !v6), port: svcPort, forward, weight: 1, tunnel: { type: 'ipip' } });  // the other family
      }
      s.destinations = d;
      out.push(s);
    }
  return out;
}

const FLAG_ORDER: ServiceFlag[] = ['persistent', 'hashed', 'one-packet', 'sh-fallback', 'mh-fallback', 'flag-1', 'sh-port', 'mh-port', 'flag-2', 'flag-3'];

/** What the kernel must report for a case, written out independently of nlkit's encoder. */
function expected(c: Case): Service {
  const v6 = 'fwmark' in c && c.fwmark !== undefined ? c.family === 'inet6' : (c as { address: string }).address.includes(':');
  const key = 'fwmark' in c && c.fwmark !== undefined
    ? { fwmark: c.fwmark, family: v6 ? 'inet6' : 'inet' }
    : { protocol: (c as { protocol: string }).protocol, address: parseAddress((c as { address: string }).address)!.text, port: (c as { port: number }).port, family: v6 ? 'inet6' : 'inet' };
  const flags = ['hashed', ...(c.flags as ServiceFlag[])];
  const s = { ...key, scheduler: c.scheduler } as Service;
  if (c.persistence) {
    flags.push('persistent');
    s.persistence = { timeout: c.persistence.timeout, netmask: c.persistence.netmask ?? (v6 ? 128 : '255.255.255.255'), ...(c.persistence.engine ? { engine: c.persistence.engine } : {}) };
  }
  s.flags = FLAG_ORDER.filter((f) => flags.includes(f));
  s.destinations = c.destinations.map((d) => {
    const a = parseAddress(d.address)!;
    return {
      address: a.text, port: d.port!, family: a.family === 10 ? 'inet6' : 'inet', weight: d.weight ?? 1, forward: d.forward!,
      upperThreshold: d.upperThreshold ?? 0, lowerThreshold: d.lowerThreshold ?? 0,
      ...(d.forward === 'tunnel' ? { tunnel: { type: d.tunnel!.type!, checksum: d.tunnel!.checksum ?? 'none', ...(d.tunnel!.port !== undefined ? { port: d.tunnel!.port } : {}) } } : {}),
      activeConnections: 0, inactiveConnections: 0, persistentConnections: 0,
    };
  });
  return s;
}

const withoutThresholds = (list: Service[]) => list.map((s) => ({
  ...s, destinations: s.destinations!.map((d) => ({ ...d, upperThreshold: 0, lowerThreshold: 0 })),
}));

describe('ipvs differential against ipvsadm', { skip }, () => {
  const made: Netns[] = [];
  const ns = () => {
    const n = new Netns('ipvsdiff');
    made.push(n);
    return n;
  };
  let all: Case[] = [];
  let toolSave: string[] = [];
  let want: Service[] = [];

  before(async () => {
    all = cases(await availableSchedulers());
    want = canonical(all.map(expected));
  });
  after(() => {
    for (const n of made) n.remove();
  });

  it('runs in a kernel with IPVS', async (t) => {
    t.diagnostic(`IPVS kernel tests ran ${whereRan()}`);
    const info = await ipvs.open().getInfo().catch(() => undefined);
    t.diagnostic(`schedulers: ${[...new Set(all.map((c) => c.scheduler))].join(' ')}; ${all.length} services; IPVS ${info?.version ?? '?'}`);
    assert.ok(all.length >= 4 * 3 * 2 * 2 * 10, 'at least ten schedulers');
  });

  it('nlkit lists what `ipvsadm -R` made, every field right', async () => {
    const n = ns();
    n.run('ipvsadm', ['-R'], formatIpvsadm(all));
    toolSave = saveLines(n);
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      const got = canonical(await h.listServices());
      assert.equal(got.length, want.length);
      for (let i = 0; i < want.length; i++) assert.deepEqual(got[i], want[i], `service ${i}`);
      // ... and nlkit's reading of ipvsadm's own text agrees (ipvsadm does not save thresholds).
      const parsed = canonical(parseIpvsadm(toolSave.join('\n')));
      assert.deepEqual(parsed, withoutThresholds(want));
    });
  });

  it('`ipvsadm -S -n` reads what nlkit apply() wrote exactly as after its own -R', async () => {
    const n = ns();
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      const ops: ipvs.ApplyOp[] = [];
      for (const c of all) {
        const { destinations, ...service } = c;
        ops.push({ op: 'addService', service });
        for (const d of destinations) ops.push({ op: 'addDestination', service, destination: d });
      }
      const r = await h.apply(ops);
      const failed = r.map((x, i) => (x.ok ? undefined : `${i}: ${x.error.message}`)).filter(Boolean);
      assert.deepEqual(failed, []);
      assert.deepEqual(saveLines(n), toolSave);
      assert.deepEqual(canonical(await h.listServices()), want);
    });
  });

  it('the same through single calls, pipelined', async () => {
    const n = ns();
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      const calls: Promise<void>[] = [];
      for (const c of all) {
        const { destinations, ...service } = c;
        calls.push(h.addService(service));
        for (const d of destinations) calls.push(h.addDestination(service, d));
      }
      await Promise.all(calls);
      assert.deepEqual(saveLines(n), toolSave);
      for (const s of want.slice(0, 40)) {
        const key = s.fwmark !== undefined ? { fwmark: s.fwmark, family: s.family } : { protocol: s.protocol!, address: s.address!, port: s.port! };
        assert.deepEqual(canonical([await h.getService(key)])[0], s);
        assert.deepEqual([...await h.listDestinations(key)].sort((a, b) => (a.address < b.address ? -1 : 1)), s.destinations);
      }
    });
  });
});
