// Run inside a namespace (ip netns exec): the module-level link functions on the default
// handle, in the process's own namespace; prints what they read back as JSON and exits.
import { link } from '../../lib/index.js';

const ac = new AbortController();
const seen = (async () => {
  for await (const e of link.events({ groups: ['address'], signal: ac.signal })) {
    if (e.group === 'address' && e.address.address === '10.9.0.1/24') return e.address.link;
  }
  return undefined;
})();
await new Promise((r) => setTimeout(r, 200)); // the subscription opens when iteration starts
await link.add([{ name: 'd0', kind: 'veth', mac: '02:00:00:00:0d:00', peer: { name: 'd1', mac: '02:00:00:00:0d:01' } }]);
await link.update('d0', { mtu: 1400, up: true });
await link.update('d1', { up: true });
await link.addresses.add('d0', ['10.9.0.1/24']);
await link.routes.add([{ dst: '10.8.0.0/24', gateway: '10.9.0.2' }]);
await link.routes.replace({ dst: '10.7.0.0/24', dev: 'd0' });
await link.rules.add({ priority: 100, fwmark: 1, table: 100 });
await link.neighbours.add([{ dst: '10.9.0.2', lladdr: '02:00:00:00:0d:02', dev: 'd0' }]);
await link.sysctls.set('net.ipv4.ip_forward', 1);
const event = await seen;
ac.abort();
const out = {
  link: await link.get('d0'),
  route: await link.routes.get('10.8.0.5'),
  rules: (await link.rules.list(4)).map((r) => r.priority),
  neighbours: await link.neighbours.list({ dev: 'd0' }),
  forward: await link.sysctls.get('net.ipv4.ip_forward'),
  event,
};
await link.routes.delete({ dst: '10.7.0.0/24' });
await link.rules.delete({ priority: 100, fwmark: 1, table: 100 });
await link.neighbours.delete({ dst: '10.9.0.2', dev: 'd0' });
process.stdout.write(JSON.stringify(out));
