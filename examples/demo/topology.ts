// The demo's little network, all in throwaway namespaces: a "node" namespace where the proxy's
// rules live and which routes between the others, a client namespace outside the cluster
// range, and one namespace per backend, each tied to the node by a veth pair:
//
//   client 192.168.77.2 ── 192.168.77.1  node  10.244.I.1 ── 10.244.I.2:8080 backend-I
//          fd00:77::2   ──   fd00:77::1        fd00:244:I::1 ── [fd00:244:I::2]:8080
//
// Every namespace, link, address, route and sysctl is made with nlkit (no `ip` or `sysctl`
// process); stop() removes the namespaces and ends the processes started in them (which run
// under nsenter). close() is stop()'s synchronous fallback for an exiting process.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { link } from '../../lib/index.js';

export const CLUSTER_CIDR = '10.244.0.0/16';
export const CLUSTER_CIDR6 = 'fd00:244::/48';
export const BACKEND_PORT = 8080;
const CLIENT_ADDR = '192.168.77.2';
const CLIENT_GW = '192.168.77.1';
const CLIENT_ADDR6 = 'fd00:77::2';
/** The node's addresses on the client's link: where the client reaches NodePorts. */
export const NODE_ADDR = CLIENT_GW;
export const NODE_ADDR6 = 'fd00:77::1';

const here = fileURLToPath(new URL('.', import.meta.url));

export interface Backend {
  name: string;
  netns: string;
  address: string;
  /** The backend's IPv6 address (it listens on both). */
  address6: string;
  port: number;
}

/** A process started in a namespace, read line by line. */
export class NsProcess {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private readonly queued: string[] = [];
  private ended = false;
  private stderr = '';

  constructor(netns: string, args: string[]) {
    this.child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => { this.stderr += d; });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => { const w = this.waiting.shift(); if (w) w(l); else this.queued.push(l); });
    this.lines.on('close', () => { this.ended = true; for (const w of this.waiting.splice(0)) w(undefined); });
  }

  /** The next line it prints; throws with its stderr when it ends first. */
  async line(): Promise<string> {
    const l = this.queued.shift() ?? (this.ended ? undefined : await new Promise<string | undefined>((r) => this.waiting.push(r)));
    if (l === undefined) throw new Error(`${this.child.spawnargs.join(' ')} ended: ${this.stderr.trim()}`);
    return l;
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  stop(): void {
    this.child.stdin.end();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

export interface Counts {
  /** Answers by backend name. */
  answers: Record<string, number>;
  /** Answers by the source address the backend saw. */
  sources: Record<string, number>;
  /** Failed requests by error code. */
  errors: Record<string, number>;
}

const ip = (args: string[], input?: string) => execFileSync('ip', args, { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });

export class Topology {
  readonly node: string;
  readonly client: string;
  readonly backends: Backend[];
  private readonly made: string[] = [];
  private readonly procs: NsProcess[] = [];
  private clientProc?: NsProcess;

  /** Names are `${prefix}-node`, `${prefix}-client`, `${prefix}-b1`...; keep them short and unique. */
  constructor(readonly prefix: string, backendCount: number) {
    this.node = `${prefix}-node`;
    this.client = `${prefix}-client`;
    this.backends = Array.from({ length: backendCount }, (_, i) => ({
      name: `backend-${i + 1}`, netns: `${prefix}-b${i + 1}`, address: `10.244.${i + 1}.2`, address6: `fd00:244:${i + 1}::2`, port: BACKEND_PORT,
    }));
  }

  /** Creates the namespaces, links, addresses and routes with nlkit, and starts the backends. */
  async start(): Promise<void> {
    for (const ns of [this.node, this.client, ...this.backends.map((b) => b.netns)]) {
      await link.namespaces.add(ns);
      this.made.push(ns);
    }
    // IPv6 addresses without duplicate address detection (usable at once): every namespace's
    // default before its links exist.
    for (const ns of this.made) {
      const h = link.open({ netns: ns });
      try {
        await h.sysctls.set('net.ipv6.conf.default.accept_dad', 0);
        await h.sysctls.set('net.ipv6.conf.all.accept_dad', 0);
      } finally {
        await h.close();
      }
    }
    const up = async (netns: string, dev: string, addrs: string[], gateways: string[] = []) => {
      const h = link.open({ netns });
      try {
        await h.update('lo', { up: true });
        await h.addresses.add(dev, addrs);
        await h.update(dev, { up: true });
        for (const gateway of gateways) await h.routes.add({ dst: gateway.includes(':') ? '::/0' : 'default', gateway });
      } finally {
        await h.close();
      }
    };
    const node = link.open({ netns: this.node });
    try {
      await node.add({ name: 'c0', kind: 'veth', peer: { name: 'eth0', netns: this.client } });
      for (let i = 0; i < this.backends.length; i++) await node.add({ name: `b${i + 1}`, kind: 'veth', peer: { name: 'eth0', netns: this.backends[i]!.netns } });
      // The node routes between its veths, like a Kubernetes node between pods and the world.
      await node.sysctls.set('net.ipv4.ip_forward', 1);
      await node.sysctls.set('net.ipv6.conf.all.forwarding', 1);
    } finally {
      await node.close();
    }
    await up(this.node, 'c0', [`${CLIENT_GW}/24`, `${NODE_ADDR6}/64`]);
    for (let i = 0; i < this.backends.length; i++) await up(this.node, `b${i + 1}`, [`10.244.${i + 1}.1/24`, `fd00:244:${i + 1}::1/64`]);
    await up(this.client, 'eth0', [`${CLIENT_ADDR}/24`, `${CLIENT_ADDR6}/64`], [CLIENT_GW, NODE_ADDR6]);
    for (let i = 0; i < this.backends.length; i++) {
      const b = this.backends[i]!;
      await up(b.netns, 'eth0', [`${b.address}/24`, `${b.address6}/64`], [`10.244.${i + 1}.1`, `fd00:244:${i + 1}::1`]);
    }
    const servers = this.backends.map((b) => this.spawn(b.netns, [process.execPath, `${here}backend.mjs`, b.name, String(b.port)]));
    for (const s of servers) if ((await s.line()) !== 'ready') throw new Error('a backend did not start');
  }

  /** Starts a process inside one of our namespaces; close() ends it. */
  spawn(netns: string, args: string[]): NsProcess {
    const p = new NsProcess(netns, args);
    this.procs.push(p);
    return p;
  }

  /** Opens `count` new connections from the client namespace to address:port; who answered. */
  async traffic(address: string, port: number, count: number): Promise<Counts> {
    if (!this.clientProc) {
      this.clientProc = this.spawn(this.client, [process.execPath, `${here}client.mjs`]);
      if ((await this.clientProc.line()) !== 'ready') throw new Error('the client did not start');
    }
    this.clientProc.send(`${count} ${address} ${port}`);
    return JSON.parse(await this.clientProc.line()) as Counts;
  }

  /** Ends every process we started and removes every namespace we made, with nlkit. Safe to call twice. */
  async stop(): Promise<void> {
    for (const p of this.procs.splice(0)) p.stop();
    const failed: string[] = [];
    for (const ns of this.made.splice(0).reverse()) {
      // A veth goes with either end's namespace. One failure does not keep the others.
      try {
        if (existsSync(`/run/netns/${ns}`)) await link.namespaces.delete(ns);
      } catch (e) {
        failed.push(`${ns}: ${(e as Error).message}`);
      }
    }
    if (failed.length) throw new Error(`could not remove namespaces: ${failed.join('; ')}`);
  }

  /** stop() for a process that is exiting (no await there): the same, synchronously, with `ip netns del`. Safe to call twice. */
  close(): void {
    for (const p of this.procs.splice(0)) p.stop();
    const failed: string[] = [];
    for (const ns of this.made.splice(0).reverse()) {
      // A veth goes with either end's namespace. One failure does not keep the others.
      try {
        if (existsSync(`/run/netns/${ns}`)) ip(['netns', 'del', ns]);
      } catch (e) {
        failed.push(`${ns}: ${(e as Error).message}`);
      }
    }
    if (failed.length) throw new Error(`could not remove namespaces: ${failed.join('; ')}`);
  }
}
