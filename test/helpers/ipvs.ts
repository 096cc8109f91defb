// IPVS kernel tests: why they cannot run here, and the tool calls they batch (each process
// start costs about half a second under emulation, so a test makes few of them).
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { spawnSync } from 'node:child_process';
import { kernelSkipReason, Netns } from './netns.js';
import { ipvs } from '../../lib/index.js';
import type { Destination, Service } from '../../lib/ipvs/types.js';

let checked: string | undefined | null = null;

/**
 * Why IPVS kernel tests cannot run in this process, or undefined when they can: they need
 * root, iproute2, ipvsadm and a kernel with IPVS (loaded with `modprobe ip_vs` where there
 * are modules to load). On a host without IPVS they run inside the VM instead:
 * `bash scripts/vm/run.sh node --import tsx --test test/kernel/ipvs-*.test.ts`.
 */
export function ipvsSkipReason(): string | undefined {
  if (checked !== null) return checked;
  checked = kernelSkipReason('ipvsadm');
  if (!checked && !existsSync('/proc/net/ip_vs')) {
    if (existsSync(`/lib/modules/${release()}`)) spawnSync('modprobe', ['-q', 'ip_vs'], { stdio: 'ignore' });
    if (!existsSync('/proc/net/ip_vs')) {
      checked = `the running kernel (${release()}) has no IPVS (/proc/net/ip_vs is absent); ` +
        'run these tests in the VM: bash scripts/vm/run.sh node --import tsx --test test/kernel/ipvs-*.test.ts';
    }
  }
  return checked;
}

/** Where the tests ran, for the test output. */
export const whereRan = (): string =>
  process.env.NLKIT_IN_VM === '1' ? `inside the VM (kernel ${release()})` : `directly in a network namespace (kernel ${release()})`;

/** The schedulers the running kernel can load, probed once with nlkit in a throwaway namespace. */
export async function availableSchedulers(): Promise<string[]> {
  const ns = new Netns('sched');
  const h = ipvs.open({ netns: ns.path });
  try {
    const r = await h.apply(ipvs.SCHEDULERS.map((s, i) => ({
      op: 'addService' as const, service: { protocol: 'tcp' as const, address: '10.255.0.1', port: i + 1, scheduler: s },
    })));
    return ipvs.SCHEDULERS.filter((_, i) => r[i]!.ok);
  } finally {
    await h.close();
    ns.remove();
  }
}

/** A listing in a stable order (services by key, real servers by address), without statistics. */
export function canonical(list: Service[]): Service[] {
  const key = (s: Service) => (s.fwmark !== undefined ? `f${String(s.fwmark).padStart(10, '0')}${s.family}` : `${s.protocol} ${s.address} ${s.port}`);
  const dkey = (d: Destination) => `${d.address} ${d.port}`;
  return [...list].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)).map((s) => ({
    ...s,
    ...(s.destinations ? { destinations: [...s.destinations].sort((a, b) => (dkey(a) < dkey(b) ? -1 : 1)) } : {}),
  }));
}

/** `ipvsadm -S -n` lines, sorted: the tool's own order depends on hash order for equal keys. */
export const saveLines = (ns: Netns): string[] => ns.run('ipvsadm', ['-S', '-n']).split('\n').filter(Boolean).sort();
