// End-to-end tests of the example service proxy: the demo's namespaces and backends, the
// proxy following a config file, and the system tools' view of the node namespace.
import assert from 'node:assert/strict';
import { type TestContext, after, afterEach, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology, CLUSTER_CIDR, CLUSTER_CIDR6, NODE_ADDR, NODE_ADDR6, type Counts } from '../../examples/demo/topology.js';
import { fit } from '../../examples/demo/stats.js';
import { ServiceProxy, type ApplyReport, type Mode, type ProxyOptions } from '../../examples/service-proxy/proxy.js';
import { watchConfig, type ConfigWatcher } from '../../examples/service-proxy/watch.js';

export const VIP = '10.96.0.10';
export const VIP6 = 'fd00:96::10';
export const VIP_PORT = 80;
export const NODE_PORT = 30080;
export const UDP_VIP = '10.96.0.53';
export const UDP_PORT = 53;
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

/**
 * A dual-stack config: the IPv4 web service and an IPv6 twin (VIP6) over the backends' IPv6
 * addresses, both also on NODE_PORT of the node's addresses, one cluster range per family.
 */
export function dualStackConfig(topo: Topology, weights: Record<string, number>) {
  const endpoints = (v6: boolean) => topo.backends.filter((b) => b.name in weights)
    .map((b) => ({ address: v6 ? b.address6 : b.address, port: b.port, weight: weights[b.name] }));
  return {
    clusterCIDR: `${CLUSTER_CIDR},${CLUSTER_CIDR6}`,
    services: [
      { name: 'default/web:http', protocol: 'tcp', address: VIP, port: VIP_PORT, nodePort: NODE_PORT, endpoints: endpoints(false) },
      { name: 'default/web6:http', protocol: 'tcp', address: VIP6, port: VIP_PORT, nodePort: NODE_PORT, endpoints: endpoints(true) },
    ],
  };
}

/**
 * Traffic from the client to the IPv6 service and to NODE_PORT on the node's IPv4 and IPv6
 * addresses (dualStackConfig): each spread by `weights` and masqueraded; the node's address at
 * a port that is no NodePort answers nothing.
 */
export async function assertDualStackTraffic(bench: ProxyBench, weights: Record<string, number>, requests: number): Promise<void> {
  for (const [what, address, port] of [['IPv6 service', VIP6, VIP_PORT], ['IPv4 NodePort', NODE_ADDR, NODE_PORT], ['IPv6 NodePort', NODE_ADDR6, NODE_PORT]] as const) {
    const counts = await bench.topo.traffic(address, port, requests);
    assertShares(counts, weights, `${what} [${address}]:${port}`);
    assertMasqueraded(counts, bench.topo);
  }
  const other = await bench.topo.traffic(NODE_ADDR6, NODE_PORT + 1, 2);
  assert.deepEqual(other.answers, {}, JSON.stringify(other));
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
    this.proxy = new ServiceProxy({ mode, netns: this.topo.node, log: (l) => this.log.push(l), wait: 30_000, ...opts });
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

/**
 * The hooks every proxy e2e describe() needs: a bench built before its tests and closed after
 * them, with the proxy's log passed on as each test's diagnostics. Call inside describe(); the
 * bench exists once before() ran, hence the accessor.
 * @example
 * describe('ipvs mode', () => {
 *   const bench = useProxyBench('ipvs', 3);
 *   it('starts', async () => { await bench().start(serviceConfig(bench().topo, { 'backend-1': 1 })); });
 * });
 */
export function useProxyBench(mode: Mode, backends: number): () => ProxyBench {
  let bench: ProxyBench | undefined;
  before(() => {
    bench = new ProxyBench(mode, backends);
  });
  after(() => bench?.close());
  afterEach((t) => {
    for (const line of bench?.log.splice(0) ?? []) (t as TestContext).diagnostic(line);
  });
  return () => bench!;
}

/**
 * The first step of every mode's run: new connections spread by `weights` and reach the backends
 * masqueraded (they come from outside the cluster range).
 * @example
 * await assertSpreadMasqueraded(bench, { 'backend-1': 1, 'backend-2': 2 }, 300);
 */
export async function assertSpreadMasqueraded(bench: ProxyBench, weights: Record<string, number>, requests: number): Promise<void> {
  const counts = await bench.traffic(requests);
  assertShares(counts, weights, 'weights 1:2:3');
  assertMasqueraded(counts, bench.topo);
}

/**
 * The removal step every mode runs after the first: backend-2's endpoint goes, backend-3's takes
 * weight 0. Writes it (with `extra` services) and checks the change the proxy reports.
 * @example
 * const { report } = await writeRemoval(bench);
 */
export async function writeRemoval(bench: ProxyBench, extra: object[] = []): Promise<{ report: ApplyReport; config: object }> {
  const config = serviceConfig(bench.topo, { 'backend-1': 1, 'backend-3': 0 }, extra);
  const report = await bench.write(config);
  assert.deepEqual(report.changes, ['~ default/web:http: 10.244.3.2:8080 weight 3 -> 0, -10.244.2.2:8080']);
  return { report, config };
}

/**
 * After writeRemoval(): every new connection reaches backend-1 (the removed endpoint and the one
 * of weight 0 take none).
 * @example
 * await assertOnlyBackend1(bench, 150);
 */
export async function assertOnlyBackend1(bench: ProxyBench, requests: number): Promise<void> {
  const counts = await bench.traffic(requests);
  assert.deepEqual(counts.answers, { 'backend-1': requests }, JSON.stringify(counts));
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
  const nodeSide = new Set(topo.backends.flatMap((b) => [b.address.replace(/\.2$/, '.1'), b.address6.replace(/::2$/, '::1')]));
  for (const from of Object.keys(counts.sources)) {
    assert.ok(nodeSide.has(from), `a backend saw a connection from ${from}, not from the node (not masqueraded): ${JSON.stringify(counts.sources)}`);
  }
}

/**
 * A client in the client namespace sending a UDP datagram to UDP_VIP every 20 ms from one
 * source port (one conntrack entry); each answer a line "<ms since epoch> <backend> <source>".
 */
function udpClient(bench: ProxyBench) {
  const script = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m) => process.stdout.write(Date.now() + ' ' + m + '\\n'));
s.bind(40053, () => setInterval(() => s.send('ping', ${UDP_PORT}, '${UDP_VIP}'), 20));
process.stdin.on('end', () => process.exit(0)).resume();`;
  const proc = bench.topo.spawn(bench.topo.client, [process.execPath, '-e', script]);
  let pending: Promise<string> | undefined;
  return {
    /** The next answer, or undefined when none comes within `ms`. */
    async next(ms = 3000): Promise<{ at: number; backend: string } | undefined> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms); });
      pending ??= proc.line();  // a line not taken before a timeout is the next one's
      try {
        const line = await Promise.race([pending, timeout]);
        if (line === undefined) return undefined;
        pending = undefined;
        const [at, backend] = line.split(' ');
        return { at: Number(at), backend: backend! };
      } finally {
        clearTimeout(timer);
      }
    },
    stop: () => proc.stop(),
  };
}

/**
 * Serves a UDP service (UDP_VIP:UDP_PORT) from backend-1, lets a client that keeps sending
 * settle on it, then moves the service to backend `to` (null: removes the service); the
 * answers the client got in the second after the change applied, and the change's report.
 */
export async function moveUdpEndpoint(bench: ProxyBench, tcp: Record<string, number>, to: string | null = 'backend-2') {
  const udpService = (backend: string) => ({
    name: 'default/dns:udp', protocol: 'udp', address: UDP_VIP, port: UDP_PORT,
    endpoints: bench.topo.backends.filter((b) => b.name === backend).map((b) => ({ address: b.address, port: b.port })),
  });
  await bench.write(serviceConfig(bench.topo, tcp, [udpService('backend-1')]));
  const client = udpClient(bench);
  try {
    for (let i = 0; i < 5; i++) assert.equal((await client.next())?.backend, 'backend-1', 'the UDP client got no answer from backend-1');
    const report = await bench.write(serviceConfig(bench.topo, tcp, to ? [udpService(to)] : []));
    const applied = Date.now();
    const answers: { at: number; backend: string }[] = [];
    for (let left = 1000; left > 0; left = applied + 1000 - Date.now()) {
      const a = await client.next(left);
      if (!a) break;
      if (a.at < applied) continue;  // sent before the change was in
      if (a.at > applied + 1000) break;
      answers.push(a);
    }
    return { report, answers };
  } finally {
    client.stop();
  }
}

/**
 * After moveUdpEndpoint to backend-2: only backend-2 answered, and the proxy logged its clean-up
 * of the stale flows: `deleted` of them (null: any number, for IPVS, which drops the
 * conntrack entries of its own expired connections first).
 */
export function assertMovedToLiveBackend(bench: ProxyBench, moved: Awaited<ReturnType<typeof moveUdpEndpoint>>, deleted: number | null = 1): void {
  const { report, answers } = moved;
  assert.ok(answers.length > 0, 'no answers in the second after the change');
  assert.deepEqual([...new Set(answers.map((a) => a.backend))], ['backend-2'], JSON.stringify(answers));
  if (deleted !== null) assert.equal(report.conntrackDeleted, deleted, JSON.stringify(report));
  const line = new RegExp(`conntrack: endpoint 10\\.244\\.1\\.2:8080 of default/dns:udp removed: deleted ${deleted ?? '\\d+'} flows?$`);
  assert.ok(bench.log.some((l) => line.test(l)), bench.log.join('\n'));
}
