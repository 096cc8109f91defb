// `nlkit doctor`: what this host and a namespace support and lack for nlkit, each missing piece
// with the command that fixes it. It only reads: it creates, loads and changes nothing.
import { readFileSync } from 'node:fs';
import { ipset, iptables, ipvs } from '../index.js';
import { binding } from '../core/native.js';
import { SET_TYPES } from '../ipset/types.js';
import { SCHEDULERS } from '../ipvs/validate.js';
import { lockHolder, moduleState, parseCapEff, which, type ModuleState } from './probes.js';

export interface Finding {
  /** What was checked: 'capabilities', 'addon', 'ipvs', 'ipvs-scheduler', 'ipset', 'ipset-type', 'iptables', ... */
  area: string;
  name: string;
  /** ok: present; missing: nlkit needs it for this area; info: a fact (backend in use, lock holder). */
  status: 'ok' | 'missing' | 'info';
  detail: string;
  /** The command that fixes a missing piece. */
  fix?: string;
}

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;
const KERNEL_MODULES_FIX = 'install this kernel\'s modules (Debian: apt-get install linux-image-$(uname -r); ' +
  'Ubuntu: apt-get install linux-modules-extra-$(uname -r)), then modprobe ';
const TOOLS: Record<string, string> = {
  ipset: 'apt-get install ipset', ipvsadm: 'apt-get install ipvsadm', 'iptables-legacy': 'apt-get install iptables',
  'iptables-nft': 'apt-get install iptables', nft: 'apt-get install nftables', conntrack: 'apt-get install conntrack',
};

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A finding for a kernel module that a feature needs. */
function moduleFinding(area: string, name: string, module: string): Finding {
  const state: ModuleState = moduleState(module);
  if (state === 'loaded' || state === 'available') return { area, name, status: 'ok', detail: `${module}: ${state}` };
  if (state === 'unknown') {
    return { area, name, status: 'info', detail: `${module}: not loaded; this kernel has no module information (built in, or not there)` };
  }
  return { area, name, status: 'missing', detail: `${module}: not in this kernel`, fix: KERNEL_MODULES_FIX + module };
}

/**
 * Checks the host and the namespace `netns` (default: the caller's).
 * @example for (const f of await diagnose({ netns: 'node' })) if (f.status === 'missing') console.log(f.detail, f.fix);
 */
export async function diagnose(opts: { netns?: string } = {}): Promise<Finding[]> {
  const out: Finding[] = [];
  const netns = opts.netns;

  const caps = parseCapEff(readFileSync('/proc/self/status', 'utf8'));
  const setcap = 'run as root, or: sudo setcap cap_net_admin,cap_sys_admin+ep "$(readlink -f "$(command -v node)")"';
  out.push((caps >> CAP_NET_ADMIN) & 1n
    ? { area: 'capabilities', name: 'CAP_NET_ADMIN', status: 'ok', detail: 'held' }
    : { area: 'capabilities', name: 'CAP_NET_ADMIN', status: 'missing', detail: 'not held: every change is refused', fix: setcap });
  out.push((caps >> CAP_SYS_ADMIN) & 1n
    ? { area: 'capabilities', name: 'CAP_SYS_ADMIN', status: 'ok', detail: 'held' }
    : { area: 'capabilities', name: 'CAP_SYS_ADMIN', status: netns ? 'missing' : 'info', detail: 'not held: other namespaces cannot be entered', fix: setcap });

  try {
    binding();
    out.push({ area: 'addon', name: 'nlkit.node', status: 'ok', detail: 'loads' });
  } catch (e) {
    out.push({ area: 'addon', name: 'nlkit.node', status: 'missing', detail: message(e), fix: 'npm rebuild nlkit' });
    return out;  // nothing below can be probed without it
  }

  const v = ipvs.open({ netns });
  try {
    const info = await v.getInfo();
    out.push({ area: 'ipvs', name: 'IPVS', status: 'ok', detail: `version ${info.version}, connection table ${info.connectionTableSize}` });
  } catch (e) {
    out.push({ area: 'ipvs', name: 'IPVS', status: 'missing', detail: message(e), fix: 'modprobe ip_vs (if it is not there: ' + KERNEL_MODULES_FIX + 'ip_vs)' });
  } finally {
    await v.close().catch(() => undefined);
  }
  for (const s of SCHEDULERS) out.push(moduleFinding('ipvs-scheduler', s, `ip_vs_${s}`));

  const s = ipset.open({ netns });
  try {
    const sets = await s.list();
    out.push({ area: 'ipset', name: 'ipset', status: 'ok', detail: `${sets.length} sets` });
  } catch (e) {
    out.push({ area: 'ipset', name: 'ipset', status: 'missing', detail: message(e), fix: 'modprobe ip_set' });
  } finally {
    await s.close().catch(() => undefined);
  }
  for (const t of SET_TYPES) out.push(moduleFinding('ipset-type', t, `ip_set_${t.replace(':', '_').replace(/,/g, '')}`));

  for (const family of [4, 6] as const) {
    try {
      const b = await iptables.backend({ netns, family });
      out.push({
        area: 'iptables', name: `IPv${family}`, status: 'info',
        detail: `in use: ${b.inUse} (legacy ${b.legacy.rules} rules, nft ${b.nft.rules} rules); nlkit writes to ${b.hostBackend}; ` +
          `${family === 4 ? 'iptables' : 'ip6tables'} on PATH is ${b.tool}${b.toolPath ? ` (${b.toolPath})` : ''}`,
      });
    } catch (e) {
      out.push({ area: 'iptables', name: `IPv${family}`, status: 'missing', detail: message(e), fix: `modprobe ${family === 4 ? 'ip_tables' : 'ip6_tables'}` });
    }
  }
  out.push(moduleFinding('nf_tables', 'nf_tables', 'nf_tables'));
  out.push(moduleFinding('conntrack', 'nf_conntrack', 'nf_conntrack'));
  out.push(moduleFinding('conntrack', 'nf_conntrack_netlink', 'nf_conntrack_netlink'));

  const lock = process.env.XTABLES_LOCKFILE || '/run/xtables.lock';
  const holder = lockHolder(lock);
  let comm = '';
  try { comm = holder ? readFileSync(`/proc/${holder}/comm`, 'utf8').trim() : ''; } catch { /* it has ended */ }
  out.push(holder
    ? { area: 'xtables-lock', name: lock, status: 'info', detail: `held by pid ${holder}${comm ? ` (${comm})` : ''}`, fix: `wait for it, or see what it does: ps -o pid,args -p ${holder}` }
    : { area: 'xtables-lock', name: lock, status: 'info', detail: 'free' });

  for (const [tool, fix] of Object.entries(TOOLS)) {
    const at = which(tool);
    out.push(at ? { area: 'tools', name: tool, status: 'ok', detail: at } : { area: 'tools', name: tool, status: 'info', detail: 'not installed (only the tests and your own checks use it)', fix });
  }
  return out;
}
