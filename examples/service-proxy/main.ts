// A small kube-proxy: serves the services of a JSON file (see config.ts and
// services.example.json) and follows its changes.
//
//   npx tsx examples/service-proxy/main.ts --config services.json [--mode iptables|ipvs|nftables] [--netns NAME] [--full-sync-period MS]
//   npx tsx examples/service-proxy/main.ts --mode ipvs [--netns NAME] --cleanup
//
// Runs until SIGINT/SIGTERM and leaves the rules in place (as kube-proxy does); --cleanup
// removes what it made and exits.
import { parseArgs } from 'node:util';
import { ServiceProxy, type Mode } from './proxy.js';
import { watchConfig } from './watch.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', short: 'c' },
    mode: { type: 'string', short: 'm', default: 'iptables' },
    netns: { type: 'string', short: 'n' },
    cleanup: { type: 'boolean', default: false },
    // Milliseconds between full resyncs (default: kube-proxy's for the mode; 0: none).
    'full-sync-period': { type: 'string' },
  },
});
if (!values.config && !values.cleanup) {
  console.error('usage: main.ts --config FILE [--mode iptables|ipvs|nftables] [--netns NAME] [--full-sync-period MS] [--cleanup]');
  process.exit(2);
}
if (values.mode !== 'iptables' && values.mode !== 'ipvs' && values.mode !== 'nftables') {
  console.error(`--mode: expected iptables, ipvs or nftables, got ${values.mode}`);
  process.exit(2);
}

const period = values['full-sync-period'] === undefined ? undefined : Number(values['full-sync-period']);
if (period !== undefined && !(Number.isInteger(period) && period >= 0)) {
  console.error(`--full-sync-period: expected milliseconds (an integer >= 0), got ${values['full-sync-period']}`);
  process.exit(2);
}
const proxy = new ServiceProxy({ mode: values.mode as Mode, netns: values.netns, wait: 5_000, ...(period !== undefined ? { fullSyncPeriod: period } : {}) });
if (values.cleanup) {
  await proxy.cleanup();
} else {
  const watcher = watchConfig(values.config!, proxy);
  await watcher.ready;
  console.log(`[${proxy.mode}] watching ${values.config}${values.netns ? ` for namespace ${values.netns}` : ''}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { watcher.close(); proxy.close(); });
}
