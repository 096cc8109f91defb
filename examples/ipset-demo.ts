// `npx tsx examples/ipset-demo.ts`: builds an ipset in a throwaway network namespace with
// nlkit, shows what the system's own `ipset list` sees there, and removes the namespace.
import { execFileSync } from 'node:child_process';
import { ipset } from '../lib/index.js';

const ns = `nlkit-demo-${process.pid}`;
execFileSync('ip', ['netns', 'add', ns]);
try {
  const h = ipset.open({ netns: ns });
  await h.create('demo-backends', 'hash:ip,port', { timeout: 3600, comment: true, counters: true });
  await h.add('demo-backends', [
    { ip: '10.96.0.10', proto: 'udp', port: 53, comment: 'kube-dns' },
    { ip: '10.96.0.1', port: 443, comment: 'kubernetes' },
    { ip: '10.96.12.7', port: 8080, timeout: 60 },
  ]);
  await h.create('demo-nets', 'hash:net');
  await h.replace('demo-nets', ['10.0.0.0/8', '172.16.0.0/12', { ip: '10.9.0.0/16', nomatch: true }]);
  console.log(`nlkit built two sets in namespace ${ns}; the ipset tool lists them as:\n`);
  process.stdout.write(execFileSync('ip', ['netns', 'exec', ns, 'ipset', 'list'], { encoding: 'utf8' }));
  await h.close();
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
}
