// The example service proxy's pure parts: config checks, the rules of both modes and the
// statistics of the demo, against hand-written expectations. Chain names and probabilities are
// the ones kube-proxy's own tests and real `iptables-save` output show.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/core/errors.js';
import { parseConfig } from '../../examples/service-proxy/config.js';
import { comment, endpointChain, readNat, serviceChain } from '../../examples/service-proxy/chains.js';
import { iptablesModeRules, iptablesModeUpdate, probability, renderIptables } from '../../examples/service-proxy/iptables-mode.js';
import { ipvsModeRules, ipvsPlan, ipvsPlanChanges } from '../../examples/service-proxy/ipvs-mode.js';
import { describeChanges } from '../../examples/service-proxy/diff.js';
import { nftModeCommands, renderNft } from '../../examples/service-proxy/nftables-mode.js';
import { chiSquareSurvival, fit, lnGamma } from '../../examples/demo/stats.js';

const empty = readNat('');

/**
 * The jumps from OUTPUT and POSTROUTING and the masquerade rules kube-proxy writes in both its
 * iptables and ipvs modes (pkg/proxy/iptables and ipvs proxier.go), as iptables-save prints them.
 */
const OUTPUT_AND_MASQ = `-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000`;

describe('service-proxy config', () => {
  it('fills defaults: tcp, weight 1, rr when the weights are equal and wrr otherwise', () => {
    const c = parseConfig({
      clusterCIDR: '10.244.0.0/16',
      services: [
        { name: 'a/b:http', address: '10.96.0.1', port: 80, endpoints: [{ address: '10.244.1.2', port: 8080 }] },
        { name: 'a/c:dns', protocol: 'udp', address: '10.96.0.2', port: 53, endpoints: [{ address: '10.244.1.2', port: 53, weight: 3 }, { address: '10.244.2.2', port: 53 }] },
      ],
    });
    assert.deepEqual(c, {
      clusterCIDR: '10.244.0.0/16',
      masqueradeAll: false,
      services: [
        { name: 'a/b:http', protocol: 'tcp', family: 4, address: '10.96.0.1', port: 80, scheduler: 'rr', endpoints: [{ address: '10.244.1.2', port: 8080, weight: 1 }] },
        { name: 'a/c:dns', protocol: 'udp', family: 4, address: '10.96.0.2', port: 53, scheduler: 'wrr', endpoints: [
          { address: '10.244.1.2', port: 53, weight: 3 }, { address: '10.244.2.2', port: 53, weight: 1 }] },
      ],
    });
  });

  it('names the field at fault', () => {
    const bad = (doc: unknown, where: string, re: RegExp) => assert.throws(() => parseConfig(doc, 'f.json'),
      (e: unknown) => e instanceof InvalidArgumentError && e.argument === where && re.test(e.message) && e.message.startsWith('f.json: '));
    const svc = { name: 'x', address: '10.96.0.1', port: 80, endpoints: [] };
    bad([], '(top)', /services/);
    bad({ services: [svc], extra: 1 }, '(top).extra', /unknown field/);
    bad({ services: [{ ...svc, address: '10.96.0.256' }] }, 'services[0].address', /IPv4/);
    bad({ services: [{ ...svc, port: 0 }] }, 'services[0].port', /1-65535/);
    bad({ services: [svc, { ...svc, port: 81 }] }, 'services[1].name', /twice/);
    bad({ services: [svc, { ...svc, name: 'y' }] }, 'services[1]', /tcp 10\.96\.0\.1:80 is already/);
    bad({ services: [{ ...svc, name: 'has space' }] }, 'services[0].name', /letters/);
    bad({ services: [{ ...svc, endpoints: [{ address: '10.0.0.1', port: 1, weight: -1 }] }] }, 'services[0].endpoints[0].weight', /0-65535/);
    bad({ services: [{ ...svc, endpoints: [{ address: '10.0.0.1', port: 1 }, { address: '10.0.0.1', port: 1 }] }] }, 'services[0].endpoints[1]', /twice/);
    bad({ clusterCIDR: '10.0.0.0/33', services: [] }, 'clusterCIDR', /CIDR/);
    bad({ services: [{ ...svc, scheduler: 'W RR' }] }, 'services[0].scheduler', /scheduler/);
  });
});

describe('service-proxy iptables mode', () => {
  it('names chains as kube-proxy does', () => {
    assert.equal(serviceChain('ns1/svc1:p80', 'tcp'), 'KUBE-SVC-XPGD46QRK7WJZT7O');
    assert.equal(serviceChain('ns2/svc2:p80', 'tcp'), 'KUBE-SVC-GNZBNJ2PO5MGZ6GT');
    assert.equal(endpointChain('ns1/svc1:p80', 'tcp', '10.180.0.1:80'), 'KUBE-SEP-SXIVWICOYRO3J4NJ');
  });

  it('writes probabilities as iptables-save prints them back', () => {
    assert.equal(probability(1, 2), '0.50000000000');
    assert.equal(probability(1, 3), '0.33333333349');
    assert.equal(probability(1, 4), '0.25000000000');
    assert.equal(probability(1, 5), '0.20000000019');
    assert.equal(probability(3, 6), '0.50000000000');
    assert.equal(probability(1, 1), '1.00000000000');
  });

  it('quotes comments as iptables-save does', () => {
    assert.equal(comment('ns1_svc-1'), 'ns1_svc-1');
    assert.equal(comment('ns1/svc1:p80'), '"ns1/svc1:p80"');
    assert.equal(comment('a "b"'), '"a \\"b\\""');
  });

  it('builds the chains of a weighted service, skipping weight 0, and adds the jumps once', () => {
    const config = parseConfig({
      clusterCIDR: '10.244.0.0/16',
      services: [{ name: 'ns1/svc1:p80', address: '10.96.0.10', port: 80, endpoints: [
        { address: '10.244.1.2', port: 8080, weight: 1 },
        { address: '10.244.2.2', port: 8080, weight: 0 },
        { address: '10.244.3.2', port: 8080, weight: 2 },
      ] }],
    });
    const svc = 'KUBE-SVC-XPGD46QRK7WJZT7O';
    const sep1 = endpointChain('ns1/svc1:p80', 'tcp', '10.244.1.2:8080');
    const sep3 = endpointChain('ns1/svc1:p80', 'tcp', '10.244.3.2:8080');
    const expected = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:${svc} - [0:0]
:${sep1} - [0:0]
:${sep3} - [0:0]
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
${OUTPUT_AND_MASQ}
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j ${svc}
-A ${svc} ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A ${svc} -m comment --comment "ns1/svc1:p80" -m statistic --mode random --probability 0.33333333349 -j ${sep1}
-A ${svc} -m comment --comment "ns1/svc1:p80" -j ${sep3}
-A ${sep1} -s 10.244.1.2/32 -m comment --comment "ns1/svc1:p80" -j KUBE-MARK-MASQ
-A ${sep1} -p tcp -m comment --comment "ns1/svc1:p80" -m tcp -j DNAT --to-destination 10.244.1.2:8080
-A ${sep3} -s 10.244.3.2/32 -m comment --comment "ns1/svc1:p80" -j KUBE-MARK-MASQ
-A ${sep3} -p tcp -m comment --comment "ns1/svc1:p80" -m tcp -j DNAT --to-destination 10.244.3.2:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
`;
    assert.equal(iptablesModeRules(config, empty), expected);

    // Next time round: the jumps are there (as iptables-save prints them), and the endpoint
    // that went away leaves a stale chain to delete.
    const stale = endpointChain('ns1/svc1:p80', 'tcp', '10.244.9.2:8080');
    const current = readNat(`# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
-A INPUT -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:${stale} - [0:0]
:OTHER-CHAIN - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
`);
    const again = iptablesModeRules(config, current);
    assert.equal(again, expected
      .replace(/^-I .*\n/gm, '')
      .replace(`:${sep3} - [0:0]\n`, `:${sep3} - [0:0]\n:${stale} - [0:0]\n`)
      .replace('COMMIT\n', `-X ${stale}\nCOMMIT\n`));
  });

  it('masquerades everything with masqueradeAll, nothing without a cluster range, and writes no chain for a service with no endpoints', () => {
    const services = [
      { name: 'x', protocol: 'udp', address: '10.96.0.53', port: 53, endpoints: [{ address: '10.244.1.2', port: 53 }] },
      { name: 'y', address: '10.96.0.54', port: 80, endpoints: [{ address: '10.244.1.2', port: 80, weight: 0 }] },
    ];
    const all = iptablesModeRules(parseConfig({ masqueradeAll: true, services }), empty);
    const svc = serviceChain('x', 'udp');
    assert.match(all, new RegExp(`^-A ${svc} -d 10\\.96\\.0\\.53/32 -p udp -m comment --comment "x cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ$`, 'm'));
    assert.match(all, new RegExp(`^-A ${svc} -m comment --comment x -j KUBE-SEP-`, 'm'));
    const none = iptablesModeRules(parseConfig({ services }), empty);
    assert.doesNotMatch(none, new RegExp(`^-A ${svc} .*KUBE-MARK-MASQ`, 'm'));
    for (const text of [all, none]) {
      assert.doesNotMatch(text, /10\.96\.0\.54/);
      assert.doesNotMatch(text, new RegExp(serviceChain('y', 'tcp')));
    }
  });
});

describe('service-proxy iptables mode, partial sync', () => {
  const svc = (i: number, ep = `10.244.${i}.2`) => ({ name: `a/s${i}:http`, address: `10.96.0.${i}`, port: 80, endpoints: [{ address: ep, port: 8080 }, { address: '10.244.9.9', port: 8080 }] });
  const before = parseConfig({ clusterCIDR: '10.244.0.0/16', services: [svc(1), svc(2), svc(3)] });
  const rendered = renderIptables(before);
  /** The chains a restore text declares, and those it deletes. */
  const declared = (text: string) => text.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]).sort();
  const deleted = (text: string) => text.split('\n').filter((l) => l.startsWith('-X ')).map((l) => l.slice(3)).sort();

  it('sends nothing when nothing changed, and keeps unchanged services\' rules', () => {
    const again = renderIptables(parseConfig({ clusterCIDR: '10.244.0.0/16', services: [svc(1), svc(2), svc(3)] }), 4, rendered);
    assert.equal(iptablesModeUpdate(rendered, again), undefined);
    assert.equal(again.services.get('a/s1:http'), rendered.services.get('a/s1:http'));
  });

  it('names only the service chain and the endpoint chains of one moved endpoint', () => {
    const after = parseConfig({ clusterCIDR: '10.244.0.0/16', services: [svc(1), svc(2, '10.244.7.7'), svc(3)] });
    const next = renderIptables(after, 4, rendered);
    assert.deepEqual(next, renderIptables(after));
    const text = iptablesModeUpdate(rendered, next)!;
    const oldSep = endpointChain('a/s2:http', 'tcp', '10.244.2.2:8080'), newSep = endpointChain('a/s2:http', 'tcp', '10.244.7.7:8080');
    assert.deepEqual(declared(text), [serviceChain('a/s2:http', 'tcp'), oldSep, newSep].sort());
    assert.deepEqual(deleted(text), [oldSep]);
    // Every rule of the refilled chains, as the full sync writes them.
    const full = iptablesModeRules(after, empty).split('\n');
    const lines = text.split('\n').filter((l) => l.startsWith('-A '));
    assert.deepEqual(lines, full.filter((l) => l.startsWith(`-A ${serviceChain('a/s2:http', 'tcp')} `) || l.startsWith(`-A ${newSep} `)));
  });

  it('rewrites KUBE-SERVICES and deletes every chain of a removed service; a new service brings its chains', () => {
    const after = parseConfig({ clusterCIDR: '10.244.0.0/16', services: [svc(1), svc(2), svc(4)] });
    const text = iptablesModeUpdate(rendered, renderIptables(after, 4, rendered))!;
    const chains3 = [serviceChain('a/s3:http', 'tcp'), endpointChain('a/s3:http', 'tcp', '10.244.3.2:8080'), endpointChain('a/s3:http', 'tcp', '10.244.9.9:8080')];
    const chains4 = [serviceChain('a/s4:http', 'tcp'), endpointChain('a/s4:http', 'tcp', '10.244.4.2:8080'), endpointChain('a/s4:http', 'tcp', '10.244.9.9:8080')];
    assert.deepEqual(declared(text), ['KUBE-SERVICES', ...chains3, ...chains4].sort());
    assert.deepEqual(deleted(text), chains3.sort());
    const services = text.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '));
    assert.deepEqual(services, iptablesModeRules(after, empty).split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES ')));
  });

  it('renders every service again when the masquerade settings change', () => {
    const after = parseConfig({ masqueradeAll: true, services: [svc(1), svc(2), svc(3)] });
    const next = renderIptables(after, 4, rendered);
    assert.notEqual(next.services.get('a/s1:http'), rendered.services.get('a/s1:http'));
    assert.ok(declared(iptablesModeUpdate(rendered, next)!).includes(serviceChain('a/s1:http', 'tcp')));
  });
});

describe('service-proxy IPv6 services and NodePorts', () => {
  const config = parseConfig({
    clusterCIDR: '10.244.0.0/16,FD00:244:0::/48',
    services: [
      { name: 'ns/web:http', address: '10.96.0.10', port: 80, nodePort: 30080, endpoints: [{ address: '10.244.1.2', port: 8080 }] },
      { name: 'ns/web6:http', address: 'FD00:96:0::10', port: 80, nodePort: 30080, endpoints: [{ address: 'fd00:244:1:0::2', port: 8080 }] },
    ],
  });

  it('reads IPv6 addresses and ranges in canonical text, one range per family, node ports per family and protocol', () => {
    assert.equal(config.clusterCIDR, '10.244.0.0/16,fd00:244::/48');
    assert.deepEqual(config.services.map((s) => [s.family, s.address, s.nodePort, s.endpoints[0]!.address]),
      [[4, '10.96.0.10', 30080, '10.244.1.2'], [6, 'fd00:96::10', 30080, 'fd00:244:1::2']]);
    const bad = (doc: unknown, where: string, re: RegExp) => assert.throws(() => parseConfig(doc),
      (e: unknown) => e instanceof InvalidArgumentError && e.argument === where && re.test(e.message), JSON.stringify(doc));
    const svc = (o: object) => ({ services: [{ name: 'x', address: 'fd00::1', port: 80, endpoints: [], ...o }] });
    bad(svc({ endpoints: [{ address: '10.244.1.2', port: 80 }] }), 'services[0].endpoints[0].address', /IPv6/);
    bad(svc({ address: 'fd00::1::2' }), 'services[0].address', /IPv4 or IPv6/);
    bad(svc({ nodePort: 0 }), 'services[0].nodePort', /port/);
    bad({ services: [...svc({ nodePort: 30001 }).services, { name: 'y', address: 'fd00::2', port: 80, nodePort: 30001, endpoints: [] }] }, 'services[1].nodePort', /already/);
    bad({ clusterCIDR: '10.0.0.0/8,10.1.0.0/16', services: [] }, 'clusterCIDR', /one of each/);
    bad({ clusterCIDR: 'fd00::/129', services: [] }, 'clusterCIDR', /CIDR/);
    // The same node port in the other family is another one.
    assert.equal(parseConfig({ services: [...svc({ nodePort: 30001 }).services, { name: 'y', address: '10.0.0.2', port: 80, nodePort: 30001, endpoints: [] }] }).services.length, 2);
  });

  it('writes each family\'s nat table with its own services, /128 hosts, bracketed DNAT targets and kube-proxy\'s NodePort chains', () => {
    const v6 = iptablesModeRules(config, empty, 6);
    const svc = serviceChain('ns/web6:http', 'tcp'), ext = svc.replace('KUBE-SVC-', 'KUBE-EXT-');
    const sep = endpointChain('ns/web6:http', 'tcp', '[fd00:244:1::2]:8080');
    for (const line of [
      `-A KUBE-SERVICES -d fd00:96::10/128 -p tcp -m comment --comment "ns/web6:http cluster IP" -m tcp --dport 80 -j ${svc}`,
      `-A ${svc} ! -s fd00:244::/48 -d fd00:96::10/128 -p tcp -m comment --comment "ns/web6:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`,
      `-A KUBE-NODEPORTS -p tcp -m comment --comment "ns/web6:http" -m tcp --dport 30080 -j ${ext}`,
      `-A ${ext} -m comment --comment "masquerade traffic for ns/web6:http external destinations" -j KUBE-MARK-MASQ`,
      `-A ${ext} -j ${svc}`,
      `-A ${sep} -s fd00:244:1::2/128 -m comment --comment "ns/web6:http" -j KUBE-MARK-MASQ`,
      `-A ${sep} -p tcp -m comment --comment "ns/web6:http" -m tcp -j DNAT --to-destination [fd00:244:1::2]:8080`,
    ]) assert.ok(v6.split('\n').includes(line), line);
    assert.doesNotMatch(v6, /10\.96\.0\.10|10\.244/);
    const rules = v6.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '));
    assert.match(rules.at(-1)!, /-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS$/);
    const v4 = iptablesModeRules(config, empty, 4);
    assert.doesNotMatch(v4, /fd00/);
    assert.match(v4, /-A KUBE-NODEPORTS -p tcp -m comment --comment "ns\/web:http" -m tcp --dport 30080 -j KUBE-EXT-/);
  });
});

describe('service-proxy ipvs mode', () => {
  const config = parseConfig({
    clusterCIDR: '10.244.0.0/16',
    services: [
      { name: 'a', address: '10.96.0.10', port: 80, scheduler: 'wrr', endpoints: [{ address: '10.244.1.2', port: 8080, weight: 2 }, { address: '10.244.2.2', port: 8080, weight: 0 }] },
      { name: 'b', protocol: 'udp', address: '10.96.0.10', port: 53, endpoints: [] },
    ],
  });

  it('plans services with every endpoint (weight 0 kept), set members and one address per VIP', () => {
    assert.deepEqual(ipvsPlan(config), {
      services: [
        { protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'wrr', destinations: [
          { address: '10.244.1.2', port: 8080, weight: 2, forward: 'masq' }, { address: '10.244.2.2', port: 8080, weight: 0, forward: 'masq' }] },
        { protocol: 'udp', address: '10.96.0.10', port: 53, scheduler: 'rr', destinations: [] },
      ],
      clusterIPs: ['10.96.0.10,tcp:80', '10.96.0.10,udp:53'],
      addresses: ['10.96.0.10/32'],
    });
  });

  it('writes the constant nat rules', () => {
    assert.equal(ipvsModeRules(config, readNat('*nat\n-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\nCOMMIT\n')), `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
${OUTPUT_AND_MASQ}
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
COMMIT
`);
  });
});

describe('service-proxy ipvs mode, partial sync', () => {
  const svc = (i: number, eps: [string, number][], scheduler?: string) => ({
    name: `a/s${i}:http`, address: `10.96.0.${i}`, port: 80, ...(scheduler ? { scheduler } : {}), endpoints: eps.map(([address, weight]) => ({ address, port: 8080, weight })),
  });
  const before = ipvsPlan(parseConfig({ services: [svc(1, [['10.244.1.1', 1], ['10.244.1.2', 1]]), svc(2, [['10.244.2.1', 1]]), svc(3, [['10.244.3.1', 1]])] }));

  it('is empty when nothing changed', () => {
    assert.equal(ipvsPlanChanges(before, before)!.empty, true);
  });

  it('names one real server added and one deleted for a moved endpoint, a weight as an update, and services and members that come and go', () => {
    const after = ipvsPlan(parseConfig({ services: [svc(1, [['10.244.1.9', 1], ['10.244.1.2', 3]]), svc(2, [['10.244.2.1', 1]], 'wrr'), svc(4, [['10.244.4.1', 1]])] }));
    const ch = ipvsPlanChanges(before, after)!;
    assert.equal(ch.empty, false);
    assert.deepEqual(ch.services.add.map((s) => s.address), ['10.96.0.4']);
    // Service 1's weights are unequal now: wrr by default, as the full sync would set it.
    assert.deepEqual(ch.services.update.map((s) => `${s.address} ${s.scheduler}`), ['10.96.0.1 wrr', '10.96.0.2 wrr']);
    assert.deepEqual(ch.services.delete.map((s) => s.address), ['10.96.0.3']);
    assert.deepEqual(ch.destinations.map((c) => ({ svc: c.service.address, add: c.add.map((d) => d.address), update: c.update.map((d) => `${d.address}*${d.weight}`), delete: c.delete.map((d) => d.address) })),
      [{ svc: '10.96.0.1', add: ['10.244.1.9'], update: ['10.244.1.2*3'], delete: ['10.244.1.1'] }]);
    assert.deepEqual(ch.sets, [{ name: 'KUBE-CLUSTER-IP', add: ['10.96.0.4,tcp:80'], delete: ['10.96.0.3,tcp:80'] }]);
    assert.deepEqual(ch.addresses, { add: ['10.96.0.4/32'], delete: ['10.96.0.3/32'] });
  });

  it('leaves a change that makes or removes a set to the full sync', () => {
    const withV6 = ipvsPlan(parseConfig({ services: [svc(1, [['10.244.1.1', 1]]), { name: 'v6', address: 'fd00::1', port: 80, endpoints: [] }] }));
    assert.equal(ipvsPlanChanges(before, withV6), undefined);
  });
});

describe('service-proxy ipvs mode, IPv6 services and NodePorts', () => {
  const config = parseConfig({
    clusterCIDR: '10.244.0.0/16,fd00:244::/48',
    services: [
      { name: 'a', address: '10.96.0.10', port: 80, nodePort: 30080, endpoints: [{ address: '10.244.1.2', port: 8080 }] },
      { name: 'b', protocol: 'udp', address: 'fd00:96::10', port: 53, nodePort: 30053, endpoints: [{ address: 'fd00:244:1::2', port: 53 }] },
    ],
  });

  it('plans an IPVS service per node address of the family at the node port, KUBE-6- sets and /128 addresses', () => {
    const plan = ipvsPlan(config, ['192.168.77.1', 'fd00:77::1', '10.0.0.5']);
    assert.deepEqual(plan.services.map((s) => `${s.protocol} ${s.address} ${s.port} -> ${s.destinations.map((d) => d.address).join(' ')}`), [
      'tcp 10.96.0.10 80 -> 10.244.1.2', 'tcp 192.168.77.1 30080 -> 10.244.1.2', 'tcp 10.0.0.5 30080 -> 10.244.1.2',
      'udp fd00:96::10 53 -> fd00:244:1::2', 'udp fd00:77::1 30053 -> fd00:244:1::2',
    ]);
    assert.deepEqual([plan.clusterIPs, plan.clusterIPs6, plan.addresses, plan.nodePorts], [
      ['10.96.0.10,tcp:80'], ['fd00:96::10,udp:53'], ['10.96.0.10/32', 'fd00:96::10/128'],
      { 'KUBE-NODE-PORT-TCP': ['30080'], 'KUBE-6-NODE-PORT-UDP': ['30053'] },
    ]);
  });

  it('writes each family\'s nat rules with its own set names and range, and the node port masquerade chain', () => {
    const sets = Object.keys(ipvsPlan(config).nodePorts!);
    const v6 = ipvsModeRules(config, empty, 6, sets).split('\n');
    for (const line of [
      '-A KUBE-SERVICES ! -s fd00:244::/48 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
      '-A KUBE-SERVICES -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j ACCEPT',
      '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
      '-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port for masquerade purpose" -m set --match-set KUBE-6-NODE-PORT-UDP dst -j KUBE-MARK-MASQ',
      ':KUBE-NODE-PORT - [0:0]',
    ]) assert.ok(v6.includes(line), line);
    assert.ok(!v6.some((l) => l.includes('NODE-PORT-TCP') || l.includes('10.244')), v6.join('\n'));
    const v4 = ipvsModeRules(config, empty, 4, sets);
    assert.match(v4, /-m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ/);
    assert.doesNotMatch(v4, /UDP|fd00/);
  });
});

describe('service-proxy nftables mode, rendering a change', () => {
  const svc = (i: number, ep = `10.244.${i}.2`) => ({ name: `a/s${i}:http`, address: `10.96.0.${i}`, port: 80, endpoints: [{ address: ep, port: 8080 }, { address: '10.244.9.9', port: 8080, weight: 2 }] });
  const before = parseConfig({ clusterCIDR: '10.244.0.0/16', services: [svc(1), svc(2), svc(3)] });
  const rendered = renderNft(before);

  it('keeps unchanged services\' renderings and renders the changed one as from scratch, giving the same batch', () => {
    const after = parseConfig({ clusterCIDR: '10.244.0.0/16', services: [svc(1), svc(2, '10.244.7.7'), svc(4)] });
    const reused = renderNft(after, { config: before, rendered });
    assert.deepEqual(reused, renderNft(after));
    assert.equal(reused.get('a/s1:http'), rendered.get('a/s1:http'));
    assert.notEqual(reused.get('a/s2:http'), rendered.get('a/s2:http'));
    const batch = nftModeCommands(rendered, reused);
    assert.deepEqual(batch, nftModeCommands(rendered, renderNft(after)));
    // Only services 2 (changed), 3 (removed) and 4 (new) are in the batch.
    const text = JSON.stringify(batch);
    assert.doesNotMatch(text, /a\/s1\//);
    for (const n of ['a/s2/', 'a/s3/', 'a/s4/']) assert.ok(text.includes(n), n);
  });

  it('renders every service again when the masquerade settings change', () => {
    const after = parseConfig({ clusterCIDR: '10.240.0.0/12', services: [svc(1), svc(2), svc(3)] });
    const reused = renderNft(after, { config: before, rendered });
    assert.deepEqual(reused, renderNft(after));
    assert.notEqual(reused.get('a/s1:http'), rendered.get('a/s1:http'));
    assert.notDeepEqual(reused.get('a/s1:http'), rendered.get('a/s1:http'));
  });
});

describe('service-proxy change log', () => {
  it('says what was added, changed and removed', () => {
    const a = parseConfig({ services: [
      { name: 'web', address: '10.96.0.10', port: 80, endpoints: [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 80 }] },
      { name: 'old', protocol: 'udp', address: '10.96.0.11', port: 53, endpoints: [] },
    ] });
    const b = parseConfig({ clusterCIDR: '10.0.0.0/8', services: [
      { name: 'web', address: '10.96.0.10', port: 8080, endpoints: [{ address: '10.0.0.1', port: 80, weight: 4 }, { address: '10.0.0.3', port: 80, weight: 2 }] },
      { name: 'new', address: '10.96.0.12', port: 443, endpoints: [] },
    ] });
    assert.deepEqual(describeChanges(a, b), [
      'masquerade: from outside 10.0.0.0/8',
      '~ web: address tcp/10.96.0.10:80 -> tcp/10.96.0.10:8080, scheduler rr -> wrr, 10.0.0.1:80 weight 1 -> 4, +10.0.0.3:80*2, -10.0.0.2:80',
      '+ new tcp/10.96.0.12:443 rr -> (no endpoints)',
      '- old udp/10.96.0.11:53',
    ]);
    assert.deepEqual(describeChanges(a, b, false).slice(1, 3), [
      '~ web: address tcp/10.96.0.10:80 -> tcp/10.96.0.10:8080, 10.0.0.1:80 weight 1 -> 4, +10.0.0.3:80*2, -10.0.0.2:80',
      '+ new tcp/10.96.0.12:443 -> (no endpoints)',
    ]);
    assert.deepEqual(describeChanges(b, b), []);
  });
});

describe('demo statistics', () => {
  const close = (a: number, b: number, rel = 1e-9) => assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${a} != ${b}`);

  it('ln Γ at known points', () => {
    assert.ok(Math.abs(lnGamma(1)) < 1e-12);
    close(lnGamma(5), Math.log(24));
    close(lnGamma(0.5), Math.log(Math.sqrt(Math.PI)));
    close(lnGamma(10.5), Math.log(1133278.3889487855));
  });

  it('chi-square tails: closed forms for 1 and 2 degrees of freedom, tables for more', () => {
    // 2 dof: exp(-x/2) exactly.
    for (const x of [0.1, 1, 5, 20, 60]) close(chiSquareSurvival(x, 2), Math.exp(-x / 2));
    // 1 dof: erfc(sqrt(x/2)); 3.841458820694124 is the 5% critical value, 10.827566170662733 the 0.1%.
    close(chiSquareSurvival(3.841458820694124, 1), 0.05, 1e-8);
    close(chiSquareSurvival(10.827566170662733, 1), 0.001, 1e-8);
    // 3 dof, 0.1%: 16.26623619623813; 4 dof, 1%: 13.276704135987622.
    close(chiSquareSurvival(16.26623619623813, 3), 0.001, 1e-8);
    close(chiSquareSurvival(13.276704135987622, 4), 0.01, 1e-8);
    assert.equal(chiSquareSurvival(0, 3), 1);
  });

  it('fits counts to weights and reports answers from weight 0', () => {
    const good = fit({ a: 100, b: 200 }, { a: 1, b: 2 });
    assert.equal(good.statistic, 0);
    assert.equal(good.pValue, 1);
    assert.equal(good.dof, 1);
    const bad = fit({ a: 150, b: 150, c: 3 }, { a: 1, b: 2, c: 0 });
    // Expected 101 and 202 of 303: (49²/101 + 52²/202).
    close(bad.statistic, 49 ** 2 / 101 + 52 ** 2 / 202);
    assert.ok(bad.pValue < 1e-6);
    assert.deepEqual(bad.unexpected, { c: 3 });
    assert.deepEqual(fit({ z: 1 }, { a: 1 }).unexpected, { z: 1 });
  });
});
