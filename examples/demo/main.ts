// `npm run demo`: the example service proxy (examples/service-proxy/) with real traffic, in
// throwaway namespaces on this machine. Three backend namespaces serve HTTP, a client
// namespace opens a few hundred new connections to a service address, and the share each
// backend got is printed; then the proxy's config file changes and the traffic moves.
// The iptables and nftables modes run here; the ipvs mode runs here when the kernel has IPVS,
// otherwise in the project's real-kernel VM (scripts/vm/run.sh). Namespaces go away on exit
// and on Ctrl-C.
//
//   npm run demo [-- --mode iptables|ipvs|nftables|both|all] [--requests N]   (both: iptables and ipvs; all, the default: the three)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ServiceProxy, type ApplyReport, type Mode } from '../service-proxy/proxy.js';
import { watchConfig } from '../service-proxy/watch.js';
import { TABLE } from '../service-proxy/nftables-mode.js';
import { hostHasIpvs, inVm, vmSkipReason } from '../../test/helpers/vm.js';
import { CLUSTER_CIDR, Topology, type Counts } from './topology.js';
import { fit } from './stats.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'all' },
    requests: { type: 'string' },
  },
});
const modes: Mode[] = values.mode === 'all' ? ['iptables', 'nftables', 'ipvs'] : values.mode === 'both' ? ['iptables', 'ipvs'] : [values.mode as Mode];
if (!modes.every((m) => m === 'iptables' || m === 'ipvs' || m === 'nftables')) {
  console.error(`--mode: expected iptables, ipvs, nftables, both or all, got ${values.mode}`);
  process.exit(2);
}
// The VM is one emulated CPU: fewer connections there.
const requests = Number(values.requests ?? (inVm() ? 120 : 300));
const repo = fileURLToPath(new URL('../..', import.meta.url));
const VIP = '10.96.0.10';
const PORT = 80;

const say = (line = '') => console.log(line);
const bar = (share: number, width = 30) => '█'.repeat(Math.round(share * width)).padEnd(width, '·');

function printShares(counts: Counts, weights: Record<string, number>, backends: string[]): void {
  const total = Object.values(counts.answers).reduce((a, b) => a + b, 0);
  const weightSum = Object.values(weights).reduce((a, b) => a + b, 0);
  for (const name of backends) {
    const n = counts.answers[name] ?? 0;
    const configured = (weights[name] ?? 0) / weightSum;
    say(`    ${name}  ${bar(n / total)}  ${String(n).padStart(4)}  ${(100 * n / total).toFixed(1).padStart(5)}%   (configured ${(100 * configured).toFixed(1)}%)`);
  }
  const f = fit(counts.answers, weights);
  const errors = Object.entries(counts.errors).map(([k, v]) => `${v} ${k}`).join(', ');
  say(`    ${total} answers${errors ? `, failed: ${errors}` : ''}; chi-square ${f.statistic.toFixed(2)} on ${f.dof} dof, p = ${f.pValue.toPrecision(2)}; ` +
    `seen from ${Object.keys(counts.sources).join(', ')}${Object.keys(counts.sources).every((s) => s.startsWith('10.244.')) ? ' (masqueraded by the node)' : ''}`);
}

async function runMode(mode: Mode, topo: Topology): Promise<void> {
  say(`\n=== ${mode} mode ===`);
  say(`node ${topo.node} routes between client ${topo.client} (192.168.77.2, outside ${CLUSTER_CIDR}) and`);
  say(`${topo.backends.map((b) => `${b.name} ${b.address}:${b.port}`).join(', ')}; service ${VIP}:${PORT}`);
  await topo.start();

  const dir = mkdtempSync(join(tmpdir(), 'nlkit-demo-'));
  const file = join(dir, 'services.json');
  const proxy = new ServiceProxy({ mode, netns: topo.node, log: (l) => say(`  proxy: ${l}`), wait: 10_000 });
  const waiters: ((r: ApplyReport | Error) => void)[] = [];
  const write = (weights: Record<string, number>, extra: object[] = []) => {
    const config = {
      clusterCIDR: CLUSTER_CIDR,
      services: [
        { name: 'default/web:http', address: VIP, port: PORT, endpoints: topo.backends.filter((b) => b.name in weights).map((b) => ({ address: b.address, port: b.port, weight: weights[b.name] })) },
        ...extra,
      ],
    };
    const done = new Promise<ApplyReport | Error>((r) => waiters.push(r));
    writeFileSync(`${file}.tmp`, JSON.stringify(config, null, 2));
    renameSync(`${file}.tmp`, file);
    say(`\n  wrote ${file}: ${Object.entries(weights).map(([k, w]) => `${k} weight ${w}`).join(', ')}${extra.length ? ` and ${extra.length} more service(s)` : ''}`);
    return done;
  };
  const step = async (weights: Record<string, number>) => {
    say(`  client: ${requests} new connections to ${VIP}:${PORT}`);
    printShares(await topo.traffic(VIP, PORT, requests), weights, topo.backends.map((b) => b.name));
  };

  let watcher;
  try {
    const first = { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 };
    const applied = write(first);
    watcher = watchConfig(file, proxy, { onApplied: (r) => waiters.shift()?.(r), onError: (e) => waiters.shift()?.(e) });
    if ((await applied) instanceof Error) throw await applied;
    if (mode === 'nftables') {
      say(`\n  nft list table ip ${TABLE} (in ${topo.node}):`);
      const listed = spawnSync('nsenter', [`--net=/run/netns/${topo.node}`, '--', 'nft', 'list', 'table', 'ip', TABLE], { encoding: 'utf8' });
      say(listed.stdout.replace(/^/gm, '    ').trimEnd());
    }
    await step(first);

    const second = { 'backend-1': 3, 'backend-2': 1 };
    const r = await write(second);
    if (r instanceof Error) throw r;
    await step(second);

    if (mode === 'ipvs') {
      // A change the kernel refuses halfway (no such IPVS scheduler): the transaction puts back
      // what it had done, and the traffic goes on as before.
      const refused = await write({ 'backend-1': 1, 'backend-3': 1 }, [
        { name: 'default/other:http', address: '10.96.0.11', port: 80, scheduler: 'nosuchsched', endpoints: [{ address: topo.backends[0]!.address, port: 8080 }] },
      ]);
      say(`  -> ${refused instanceof Error ? `refused (${refused.constructor.name}); the proxy keeps the last config` : 'applied?!'}`);
      await step(second);
    }
  } finally {
    watcher?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The ipvs mode inside the VM: this same program, its output streamed here. */
function ipvsInVm(): void {
  const why = vmSkipReason();
  if (why) {
    say(`\n=== ipvs mode: skipped: the kernel has no IPVS and the VM cannot run here (${why}) ===`);
    return;
  }
  say('\n=== ipvs mode: this kernel has no IPVS; running it in Debian\'s stock kernel under qemu (scripts/vm/run.sh, about a minute) ===');
  const r = spawnSync('bash', ['scripts/vm/run.sh', process.execPath, '--import', 'tsx', 'examples/demo/main.ts', '--mode', 'ipvs', '--requests', String(values.requests ?? 120)],
    { cwd: repo, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`the ipvs mode in the VM failed (exit status ${r.status})`);
}

let topo: Topology | undefined;
// Ctrl-C and kill: remove the namespaces and end the backends before going.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    topo?.close();
    say(`\n${signal}: namespaces removed`);
    process.exit(130);
  });
}
process.once('exit', () => topo?.close());

if (process.getuid?.() !== 0) {
  console.error('the demo needs root: it creates network namespaces and programs their kernel state');
  process.exit(1);
}
let ranHere = false;
try {
  for (const mode of modes) {
    if (mode === 'ipvs' && !inVm() && !hostHasIpvs()) {
      ipvsInVm();
      continue;
    }
    topo = new Topology(`nlkit-demo${process.pid % 100000}`, 3);
    ranHere = true;
    try {
      await runMode(mode, topo);
    } finally {
      await topo.stop();
      topo = undefined;
    }
  }
  if (ranHere) say('\nAll namespaces removed.');
} catch (e) {
  console.error(`demo failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
}
