// Child process of the write audit in test/kernel/privileges.test.ts, run under strace: a
// sequence of nlkit operations between two marker opens (of paths that do not exist), so
// that the parent looks only at what nlkit itself opened, renamed, unlinked or created.
import { openSync } from 'node:fs';
import { ipset, iptables, link } from '../../lib/index.js';

const [netns, marker] = [process.argv[2]!, process.argv[3]!];
const mark = (what: string) => {
  try {
    openSync(`${marker}-${what}`, 'r');
  } catch { /* the marker does not exist: the failed open is the mark */ }
};

mark('begin');
const s = ipset.open({ netns });
const t4 = iptables.open({ netns, backend: 'legacy' });
const t6 = iptables.open({ netns, backend: 'legacy', family: 6 });
const l = link.open({ netns });
await s.create('audit', 'hash:ip,port', { timeout: 600, comment: true });
await s.add('audit', ['10.0.0.1,tcp:80', { ip: '10.0.0.2', proto: 'udp', port: 53, comment: 'x' }]);
await s.test('audit', '10.0.0.1,tcp:80');
await s.restore('create audit2 hash:net\nadd audit2 10.1.0.0/16\n');
await s.replace('audit2', ['10.2.0.0/16']);
await s.save();
await s.list();
await t4.restore('*filter\n:AUD - [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "audit" -j AUD\n-A AUD -m set --match-set audit dst,dst -j RETURN\nCOMMIT\n*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.9:80\nCOMMIT\n', { wait: 5_000 });
await t4.restore('*filter\n-A AUD -j ACCEPT\nCOMMIT\n', { noflush: true, wait: 5_000 });
await t4.save({ counters: true });
await t6.restore('*filter\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p ipv6-icmp -j ACCEPT\nCOMMIT\n', { wait: 5_000 });
await t6.save();
await t4.withLock(async () => undefined, { wait: 5_000 });
await l.setUp('lo', true);
await l.addAddresses('lo', ['10.9.9.9/32']);
await l.list();
await l.listAddresses('lo');
for (const h of [s, t4, t6, l]) await h.close();
mark('end');
console.log('done');
