// Conntrack clean-up after a change, as kube-proxy does it (pkg/proxy/conntrack/cleanup.go):
// UDP has no connection to break, so a client that keeps sending keeps its conntrack entry, and
// with it the NAT to the endpoint it first got, until the entry times out; every packet goes to
// the removed endpoint. So for UDP services, entries whose reply comes from a removed endpoint,
// and entries to a removed service's address and port, are deleted. TCP needs none of this: the
// removed endpoint's side answers with a reset (or the connection drains, which we want).
import { conntrack } from '../../lib/index.js';
import type { Filter } from '../../lib/conntrack/index.js';
import type { ProxyConfig, ServiceSpec } from './config.js';

/** The filters that select the flows `after` no longer serves, with words for the log. */
export function staleFlowFilters(before: ProxyConfig, after: ProxyConfig): { filter: Filter; what: string }[] {
  const out: { filter: Filter; what: string }[] = [];
  const now = new Map(after.services.map((s) => [s.name, s]));
  const vip = (s: ServiceSpec) => `${s.address}:${s.port}`;
  for (const o of before.services) {
    if (o.protocol !== 'udp') continue;
    const s = now.get(o.name);
    const service = { protocol: 'udp' as const, original: { dst: o.address, dport: o.port } };
    if (!s || s.protocol !== o.protocol || s.address !== o.address || s.port !== o.port) {
      out.push({ filter: service, what: `service ${o.name} ${vip(o)} removed` });
      continue;
    }
    const kept = new Set(s.endpoints.filter((e) => e.weight > 0).map((e) => `${e.address}:${e.port}`));
    for (const e of o.endpoints) {
      if (e.weight === 0 || kept.has(`${e.address}:${e.port}`)) continue;
      out.push({ filter: { ...service, reply: { src: e.address, sport: e.port } }, what: `endpoint ${e.address}:${e.port} of ${o.name} removed` });
    }
  }
  return out;
}

/** Deletes the stale flows in `netns`; how many, and one log line per filter that found some. */
export async function deleteStaleFlows(before: ProxyConfig, after: ProxyConfig, netns?: string): Promise<{ deleted: number; lines: string[] }> {
  const filters = staleFlowFilters(before, after);
  if (!filters.length) return { deleted: 0, lines: [] };
  const h = conntrack.open({ netns });
  try {
    let deleted = 0;
    const lines: string[] = [];
    for (const { filter, what } of filters) {
      const n = await h.delete(filter);
      deleted += n;
      lines.push(`${what}: deleted ${n} flow${n === 1 ? '' : 's'}`);
    }
    return { deleted, lines };
  } finally {
    await h.close();
  }
}
