// Base chains per family as nft 1.0.6 knows them (src/rule.c: hooknum2str, std_prios,
// bridge_std_prios, std_prio_family_hook_compat, prio2str): the hook numbers, which named
// priorities a family and hook accept, and how a priority is printed.
import type { Family } from './types.js';

/** Hook numbers by family and name (NF_INET_*, NF_ARP_*, NF_BR_*, NF_NETDEV_*). */
const INET_HOOKS = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 };
export const FAMILY_HOOKS: Record<Family, Record<string, number | undefined>> = {
  ip: INET_HOOKS, ip6: INET_HOOKS, inet: INET_HOOKS, bridge: INET_HOOKS,
  arp: { input: 0, output: 1, forward: 2 },
  netdev: { ingress: 0, egress: 1 },
};

/** The hook's number in a family, or undefined. */
export const hookNumber = (family: Family, hook: string): number | undefined =>
  Object.hasOwn(FAMILY_HOOKS[family], hook) ? FAMILY_HOOKS[family][hook] : undefined;

/** The hook's name from its number in a family, or undefined. */
export const hookName = (family: Family, num: number | undefined): string | undefined =>
  Object.entries(FAMILY_HOOKS[family]).find(([, v]) => v === num)?.[0];

const STD_PRIOS: Array<[string, number]> = [['raw', -300], ['mangle', -150], ['dstnat', -100], ['filter', 0], ['security', 50], ['srcnat', 100]];
const BRIDGE_PRIOS: Array<[string, number]> = [['dstnat', -300], ['filter', -200], ['out', 100], ['srcnat', 300]];

/** std_prio_family_hook_compat as nft 1.0.6 has it (dstnat only at prerouting, srcnat only at postrouting). */
function compatible(name: string, family: Family, hook: string): boolean {
  if (family === 'bridge') {
    return name === 'filter' || (name === 'dstnat' && hook === 'prerouting') || (name === 'out' && hook === 'output') || (name === 'srcnat' && hook === 'postrouting');
  }
  const ipLike = family === 'ip' || family === 'ip6' || family === 'inet';
  if (name === 'filter') return true;
  if (name === 'raw' || name === 'mangle' || name === 'security') return ipLike;
  if (name === 'dstnat') return ipLike && hook === 'prerouting';
  if (name === 'srcnat') return ipLike && hook === 'postrouting';
  return false;
}

/** The named priorities of a family (for messages). */
export const priorityNames = (family: Family): string[] => (family === 'bridge' ? BRIDGE_PRIOS : STD_PRIOS).map(([n]) => n);

/**
 * A named priority's value for a family and hook (std_prio_lookup), or undefined where nft says
 * "invalid priority expression value in this context".
 * @example namedPriority('bridge', 'forward', 'filter') // -200
 */
export function namedPriority(family: Family, hook: string, name: string): number | undefined {
  const p = (family === 'bridge' ? BRIDGE_PRIOS : STD_PRIOS).find(([n]) => n === name);
  return p && compatible(p[0], family, hook) ? p[1] : undefined;
}

/**
 * prio2str: a standard priority name (± up to 10) where nft 1.0.6 prints one, else the number.
 * @example priorityText('ip', 'prerouting', -95) // 'dstnat + 5'
 */
export function priorityText(family: Family, hook: string, prio: number): string {
  for (const [name, std] of family === 'bridge' ? BRIDGE_PRIOS : STD_PRIOS) {
    if (Math.abs(prio - std) > 10) continue;
    if (!compatible(name, family, hook)) break;
    const off = prio - std;
    return off > 0 ? `${name} + ${off}` : off < 0 ? `${name} - ${-off}` : name;
  }
  return String(prio);
}
