// End-to-end tests of the example service proxy: the demo's namespaces and backends, the
// proxy following a config file, and the system tools' view of the node namespace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology, CLUSTER_CIDR, type Counts } from '../../examples/demo/topology.js';
import { fit } from '../../examples/demo/stats.js';
import { ServiceProxy, type ApplyReport, type Mode, type ProxyOptions } from '../../examples/service-proxy/proxy.js';
import { watchConfig, type ConfigWatcher } from '../../examples/service-proxy/watch.js';

export const VIP = '10.96.0.10';
export const VIP_PORT = 80;
/** A p-value below this fails the distribution check: by chance once in a million runs. */
export const P_FAIL = 1e-6;

let counter = 0;

/** Runs a system tool in the namespace; throws with its stderr when it fails. */
export function inNetns(netns: string, cmd: string, args: string[]): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, cmd, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${netns} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Everything the proxy may touch in the node namespace, as the system tools print it: IPVS
 * (when there is IPVS), ipsets, every legacy iptables table, and the IPv4 addresses of its links.
 */
export function dumpState(netns: string, withIpvs: boolean): string {
  const parts = [
    withIpvs ? `## ipvsadm -Sn\n${inNetns(netns, 'ipvsadm', ['-Sn'])}` : '',
    `## ipset save\n${inNetns(netns, 'ipset', ['save'])}`,
    // Without the "# Generated/Completed on <time>" lines.
    `## iptables-legacy-save\n${inNetns(netns, 'iptables-legacy-save', []).replace(/^#.*\n/gm, '')}`,
    // IPv4 only: the links' IPv6 link-local addresses change flags by themselves (DAD).
    `## ip -4 -o addr\n${inNetns(netns, 'ip', ['-4', '-o', 'addr', 'show'])}`,
  ];
  return parts.join('\n');
}

/** A service config as the tests write it: one service on VIP:VIP_PORT over the given backends. */
export function serviceConfig(topo: Topology, weights: Record<string, number>, extra: object[] = [], scheduler?: string) {
  return {
    clusterCIDR: CLUSTER_CIDR,
    services: [
      {
        name: 'default/web:http', protocol: 'tcp', address: VIP, port: VIP_PORT, ...(scheduler ? { scheduler } : {}),
        endpoints: topo.backends.filter((b) => b.name in weights).map((b) => ({ address: b.address, port: b.port, weight: weights[b.name] })),
      },
      ...extra,
    ],
  };
}

/** The demo's network plus a proxy in its node namespace that follows a config file. */
export class ProxyBench {
  readonly topo: Topology;
  readonly proxy: ServiceProxy;
  readonly log: string[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'nlkit-e2e-'));
  readonly file = join(this.dir, 'services.json');
  private watcher?: ConfigWatcher;
  private waiters: { resolve: (r: ApplyReport) => void; reject: (e: Error) => void }[] = [];

  /** `opts`: more proxy options (the nftables test turns the conntrack clean-up off). */
  constructor(mode: Mode, backends: number, opts: Partial<ProxyOptions> = {}) {
    // Namespace names stay short: `ip netns` has no limit, but they show up in every failure.
    this.topo = new Topology(`nlkit-e2e${process.pid % 100000}-${counter++}`, backends);
    this.proxy = new ServiceProxy({ mode, netns: this.topo.node, log: (l) => this.log.push(l), wait: 30, ...opts });
  }

  async start(config: object): Promise<ApplyReport> {
    await this.topo.start();
    return this.write(config, () => {
      this.watcher = watchConfig(this.file, this.proxy, {
        onApplied: (r) => this.waiters.shift()?.resolve(r),
        onError: (e) => this.waiters.shift()?.reject(e),
      });
    });
  }

  /** Writes a new version of the file (atomically, by rename) and waits for the proxy's verdict. */
  write(config: object | string, after?: () => void): Promise<ApplyReport> {
    const done = new Promise<ApplyReport>((resolve, reject) => this.waiters.push({ resolve, reject }));
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, typeof config === 'string' ? config : `${JSON.stringify(config, null, 2)}\n`);
    renameSync(tmp, this.file);
    after?.();
    return done;
  }

  traffic(count: number): Promise<Counts> {
    return this.topo.traffic(VIP, VIP_PORT, count);
  }

  close(): void {
    this.watcher?.close();
    this.topo.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The answers fit the weights (chi-square, P_FAIL), nothing failed, weight 0 answered nothing. */
export function assertShares(counts: Counts, weights: Record<string, number>, what: string): void {
  const total = Object.values(counts.answers).reduce((a, b) => a + b, 0);
  assert.deepEqual(counts.errors, {}, `${what}: requests failed: ${JSON.stringify(counts)}`);
  const f = fit(counts.answers, weights);
  assert.deepEqual(f.unexpected, {}, `${what}: answers from backends of weight 0 or not configured: ${JSON.stringify(counts.answers)}`);
  assert.ok(f.pValue >= P_FAIL,
    `${what}: ${JSON.stringify(counts.answers)} of ${total} do not fit weights ${JSON.stringify(weights)} ` +
    `(chi-square ${f.statistic.toFixed(2)}, ${f.dof} dof, p = ${f.pValue.toExponential(2)} < ${P_FAIL})`);
}

/** The backends saw the node's address on their link, not the client's: the connection was masqueraded. */
export function assertMasqueraded(counts: Counts, topo: Topology): void {
  const nodeSide = new Set(topo.backends.map((b) => b.address.replace(/\.2$/, '.1')));
  for (const from of Object.keys(counts.sources)) {
    assert.ok(nodeSide.has(from), `a backend saw a connection from ${from}, not from the node (not masqueraded): ${JSON.stringify(counts.sources)}`);
  }
}
