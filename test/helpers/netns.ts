// Kernel tests run only inside network namespaces they create and remove; they say why
// when they cannot run (like vishvananda/netlink's setUpNetlinkTest).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

let counter = 0;

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(tool?: string): string | undefined {
  if (process.getuid?.() !== 0) return 'kernel tests need root (CAP_NET_ADMIN) to create network namespaces';
  if (spawnSync('ip', ['-V']).status !== 0) return "iproute2's `ip` is not installed";
  if (tool && spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `the system tool \`${tool}\` is not installed`;
  return undefined;
}

export class Netns {
  readonly name: string;
  readonly path: string;
  constructor(tag = 't') {
    this.name = `nlkit-${tag}-${process.pid}-${counter++}`;
    execFileSync('ip', ['netns', 'add', this.name]);
    this.path = `/run/netns/${this.name}`;
    execFileSync('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
  }

  /** Runs a command inside the namespace; throws with its stderr when it fails. */
  run(cmd: string, args: string[], input?: string): string {
    const r = spawnSync('ip', ['netns', 'exec', this.name, cmd, ...args], {
      input, encoding: 'utf8', maxBuffer: 1 << 30,
    });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  /** Like run(), but returns the exit status and output instead of throwing. */
  try(cmd: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.name, cmd, ...args], { input, encoding: 'utf8', maxBuffer: 1 << 30 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * Waits until every IPv6 address of the namespace has its local route: the kernel inserts it
   * from its DAD work queue, after the address is listed, even with `nodad`. A dump taken
   * before that differs from one taken after (seen under load): call this before a "before"
   * dump and before comparing two namespaces' route tables.
   */
  settleIpv6(timeoutMs = 10_000): void {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const addrs = (JSON.parse(this.run('ip', ['-j', '-6', 'addr', 'show'])) as Array<{ addr_info?: Array<{ local?: string; tentative?: boolean }> }>)
        .flatMap((l) => l.addr_info ?? []).filter((a) => a.local !== undefined && a.tentative !== true).map((a) => a.local!);
      const local = new Set((JSON.parse(this.run('ip', ['-j', '-6', 'route', 'show', 'table', 'local'])) as Array<{ dst: string }>).map((r) => r.dst));
      const missing = addrs.filter((a) => !local.has(a));
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`IPv6 addresses without their local route after ${timeoutMs} ms: ${missing.join(' ')}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }

  remove(): void {
    if (existsSync(this.path)) execFileSync('ip', ['netns', 'del', this.name]);
  }
}

/** Creates namespaces for one test and removes them whatever happens. */
export async function withNetns<T>(count: number, fn: (...ns: Netns[]) => Promise<T>): Promise<T> {
  const made: Netns[] = [];
  try {
    for (let i = 0; i < count; i++) made.push(new Netns());
    return await fn(...made);
  } finally {
    for (const n of made) n.remove();
  }
}

let setTypes: Map<string, boolean> | undefined;

/** Which ipset types the running kernel has, probed once with the ipset tool in a throwaway namespace. */
export function kernelHasSetType(type: string): boolean {
  if (!setTypes) {
    setTypes = new Map();
    const ns = new Netns('probe');
    try {
      const probes: Record<string, string> = { 'bitmap:ip': 'range 10.0.0.0/30', 'bitmap:ip,mac': 'range 10.0.0.0/30', 'bitmap:port': 'range 1-2' };
      for (const t of ['bitmap:ip', 'bitmap:ip,mac', 'bitmap:port', 'hash:ip', 'hash:mac', 'hash:ip,mac', 'hash:net', 'hash:net,net',
        'hash:ip,port', 'hash:net,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'hash:ip,mark', 'hash:net,port,net', 'hash:net,iface', 'list:set']) {
        const ok = ns.try('ipset', ['create', 'probe', t, ...(probes[t]?.split(' ') ?? [])]).status === 0;
        setTypes.set(t, ok);
        if (ok) ns.run('ipset', ['destroy', 'probe']);
      }
    } finally {
      ns.remove();
    }
  }
  return setTypes.get(type) ?? false;
}

export const setTypeModule = (type: string) => `ip_set_${type.replace(':', '_').replace(/,/g, '')}`;

/**
 * Runs `body` with a handle and closes the handle whatever `body` does: the try/finally around
 * every kernel test's handle.
 * @example
 * await withHandle(ipset.open({ netns: ns.path }), async (h) => { await h.add('s', ['10.0.0.1']); });
 */
export async function withHandle<H extends { close(): unknown }, T>(h: H, body: (h: H) => Promise<T>): Promise<T> {
  try {
    return await body(h);
  } finally {
    await h.close();
  }
}
