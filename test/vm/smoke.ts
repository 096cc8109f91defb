// Smoke test of the VM recipe itself, run by hand: scripts/vm/run.sh node --import tsx test/vm/smoke.ts
// Inside the guest: IPVS through the host's ipvsadm, a set type the host kernel lacks, on-demand
// module loading, and the host-built addon, each in a fresh network namespace.
import assert from 'node:assert/strict';
import { open } from '../../lib/ipset/index.js';
import { Netns } from '../helpers/netns.js';
import { inVm } from '../helpers/vm.js';

if (!inVm()) {
  console.error('smoke.ts runs inside the VM: scripts/vm/run.sh node --import tsx test/vm/smoke.ts');
  process.exit(2);
}
const t0 = performance.now();
const ns = new Netns('smoke');
try {
  ns.run('ipvsadm', ['-A', '-t', '10.0.0.1:80', '-s', 'rr']);
  assert.match(ns.run('ipvsadm', ['-S', '-n']), /^-A -t 10\.0\.0\.1:80 -s rr\b/m);
  console.log('ok ipvs service added and saved by ipvsadm');

  // ip_vs_pe_sip is not preloaded: the kernel loads it on demand through guest.sh's modprobe.
  ns.run('ipvsadm', ['-A', '-u', '10.0.0.1:5060', '-s', 'rr', '--pe', 'sip']);
  assert.match(ns.run('ipvsadm', ['-S', '-n']), /^-A -u 10\.0\.0\.1:5060 -s rr .*--pe sip/m);
  console.log('ok ip_vs_pe_sip loaded on demand');

  ns.run('ipset', ['create', 'nn', 'hash:net,net']);
  ns.run('ipset', ['add', 'nn', '10.0.0.0/24,10.1.0.0/16']);
  const h = open({ netns: ns.path });
  try {
    const set = await h.list('nn');
    assert.equal(set.numEntries, 1);
  } finally {
    await h.close();
  }
  console.log('ok hash:net,net created by ipset and listed by the nlkit addon');
} finally {
  ns.remove();
}
console.log(`smoke passed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
