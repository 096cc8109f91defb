// What link tests share: which link kinds the running kernel makes (probed with `ip` in a
// throwaway namespace), and `ip -j link show` in nlkit's Link shape.
import type { Link } from '../../lib/link/types.js';
import { kernelSkipReason, Netns } from './netns.js';

/**
 * Which of `kinds` the running kernel can make: each is added with `ip link add` in one
 * throwaway namespace (veth with a peer, vlan and macvlan on a veth parent, tunnels with
 * endpoints) and removed.
 * @example const kinds = probeLinkKinds(['veth', 'bridge']); if (!kinds.has('bridge')) ...
 */
export function probeLinkKinds(kinds: string[]): Set<string> {
  const have = new Set<string>();
  if (kernelSkipReason()) return have;
  const ns = new Netns('lkprobe');
  try {
    ns.run('ip', ['link', 'add', 'q0', 'type', 'veth', 'peer', 'name', 'q1']);
    for (const k of kinds) {
      const args = k === 'veth' ? ['link', 'add', 'x0', 'type', 'veth', 'peer', 'name', 'x1']
        : k === 'vlan' ? ['link', 'add', 'link', 'q0', 'name', 'x0', 'type', 'vlan', 'id', '2']
          : k === 'macvlan' ? ['link', 'add', 'link', 'q0', 'name', 'x0', 'type', 'macvlan']
            // Endpoints: one with none would be the namespace's fallback tunnel (tunl0, gre0, sit0) again: EEXIST.
            : ['ipip', 'gre', 'sit'].includes(k) ? ['link', 'add', 'x0', 'type', k, 'local', '10.255.0.1', 'remote', '10.255.0.2']
              : ['link', 'add', 'x0', 'type', k];
      if (ns.try('ip', args).status === 0) {
        have.add(k);
        ns.run('ip', ['link', 'del', 'x0']);
      }
    }
  } finally {
    ns.remove();
  }
  return have;
}

/** A link as `ip -j [-s] -d link show` prints it (the fields nlkit reads). */
export interface IpLink {
  ifindex: number; ifname: string; flags: string[]; mtu: number; operstate: string; address?: string; master?: string;
  link?: string | null; link_index?: number; link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: Record<string, unknown> };
  stats64?: Link['stats'];
}

/**
 * `ip -j -d link show` (with `-s` when `stats`) in the namespace, in nlkit's Link shape: what
 * h.list() must equal.
 * @example assert.deepEqual(await h.list(), linksOfIp(ns, true));
 */
export function linksOfIp(ns: Netns, stats = false): Link[] {
  return (JSON.parse(ns.run('ip', ['-j', ...(stats ? ['-s'] : []), '-d', 'link', 'show'])) as IpLink[]).map((l) => ({
    name: l.ifname,
    index: l.ifindex,
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
    up: l.flags.includes('UP'),
    mtu: l.mtu,
    ...(l.address !== undefined ? { mac: l.address } : {}),
    flags: l.flags,
    operstate: l.operstate,
    ...(l.master !== undefined ? { master: l.master } : {}),
    ...('link' in l ? { link: l.link } : {}),
    ...(l.link_index !== undefined ? { linkIndex: l.link_index } : {}),
    ...(l.link_netnsid !== undefined ? { linkNetnsid: l.link_netnsid } : {}),
    ...(l.stats64 ? { stats: l.stats64 } : {}),
  }));
}
