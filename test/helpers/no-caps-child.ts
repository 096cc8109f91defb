// Child process of test/kernel/privileges.test.ts, started without CAP_NET_ADMIN (but with
// CAP_SYS_ADMIN, to enter the namespace): calls every ipset, iptables, link and IPVS operation
// on the namespace and prints, as one JSON line, what each gave: 'ok' or the error's class.
// Anything that is not an NlkitError exits 1.
import { readFileSync } from 'node:fs';
import { ipset, iptables, ipvs, link } from '../../lib/index.js';
import { NlkitError } from '../../lib/core/errors.js';

const netns = process.argv[2]!;
const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
const CAP_NET_ADMIN = 12n;

const s = ipset.open({ netns });
const t = iptables.open({ netns, backend: 'legacy' });
const l = link.open({ netns });
const v = ipvs.open({ netns });
const svc = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const dst = { address: '10.0.0.2', port: 80 };

// The sets, chains and links named here exist (made by the parent with full privileges).
const ops: [string, () => Promise<unknown>][] = [
  ['ipset.create', () => s.create('new', 'hash:ip')],
  ['ipset.destroy', () => s.destroy('a')],
  ['ipset.flush', () => s.flush('a')],
  ['ipset.rename', () => s.rename('a', 'c')],
  ['ipset.swap', () => s.swap('a', 'b')],
  ['ipset.add', () => s.add('a', '10.0.0.9')],
  ['ipset.del', () => s.del('a', '10.0.0.1')],
  ['ipset.test', () => s.test('a', '10.0.0.1')],
  ['ipset.list', () => s.list()],
  ['ipset.names', () => s.names()],
  ['ipset.save', () => s.save()],
  ['ipset.restore', () => s.restore('create r hash:ip\n')],
  ['ipset.replace', () => s.replace('a', ['10.0.0.5'])],
  ['iptables.restore', () => t.restore('*filter\n-A INPUT -j ACCEPT\nCOMMIT\n', { wait: 5_000 })],
  ['iptables.restore noflush', () => t.restore('*filter\n-A INPUT -j ACCEPT\nCOMMIT\n', { noflush: true, wait: 5_000 })],
  ['iptables.save', () => t.save()],
  ['link.addDummy', () => l.addDummy('d0')],
  ['link.delete', () => l.delete('lo')],
  ['link.setUp', () => l.setUp('lo', false)],
  ['link.addAddresses', () => l.addAddresses('lo', ['10.9.9.9/32'])],
  ['link.delAddresses', () => l.delAddresses('lo', ['127.0.0.1/8'])],
  ['link.syncAddresses', () => l.syncAddresses('lo', ['10.9.9.8/32'])],
  ['link.get', () => l.get('lo')],
  ['link.list', () => l.list()],
  ['link.listAddresses', () => l.listAddresses('lo')],
  ['ipvs.addService', () => v.addService({ ...svc, scheduler: 'rr' })],
  ['ipvs.updateService', () => v.updateService({ ...svc, scheduler: 'wrr' })],
  ['ipvs.deleteService', () => v.deleteService(svc)],
  ['ipvs.getService', () => v.getService(svc)],
  ['ipvs.listServices', () => v.listServices()],
  ['ipvs.addDestination', () => v.addDestination(svc, dst)],
  ['ipvs.updateDestination', () => v.updateDestination(svc, { ...dst, weight: 3 })],
  ['ipvs.deleteDestination', () => v.deleteDestination(svc, dst)],
  ['ipvs.listDestinations', () => v.listDestinations(svc)],
  ['ipvs.getInfo', () => v.getInfo()],
  ['ipvs.getTimeouts', () => v.getTimeouts()],
  ['ipvs.setTimeouts', () => v.setTimeouts({ tcp: 100 })],
  ['ipvs.zero', () => v.zero()],
  ['ipvs.flush', () => v.flush()],
  ['ipvs.listDaemons', () => v.listDaemons()],
  // apply() reports per operation: its one result's error is what counts.
  ['ipvs.apply', async () => {
    const [r] = await v.apply([{ op: 'addService', service: { ...svc, scheduler: 'rr' } }] as never);
    if (r && !r.ok) throw r.error;
  }],
];

const out: Record<string, string> = { capNetAdmin: String((capEff >> CAP_NET_ADMIN) & 1n) };
/** The `op` each error names: its own operation, not one that failed before it. */
const errorOps: Record<string, string> = {};
for (const [name, op] of ops) {
  try {
    await op();
    out[name] = 'ok';
  } catch (e) {
    if (!(e instanceof NlkitError)) {
      console.error(`${name} rejected with ${e instanceof Error ? e.stack : JSON.stringify(e)}`);
      process.exit(1);
    }
    out[name] = e.constructor.name;
    errorOps[name] = e.op;
  }
}
for (const h of [s, t, l, v]) await h.close();
console.log(JSON.stringify({ ...out, errorOps: JSON.stringify(errorOps) }));
