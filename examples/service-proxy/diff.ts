// What changed between two versions of the config, in words for the log.
import { type ProxyConfig, type ServiceSpec, sameService } from './config.js';

const key = (s: ServiceSpec) => `${s.protocol}/${s.address}:${s.port}`;

/** `schedulers`: whether scheduler names matter (the ipvs mode) or not (iptables). */
export function describeChanges(before: ProxyConfig | undefined, after: ProxyConfig, schedulers = true): string[] {
  const out: string[] = [];
  if ((before?.clusterCIDR ?? '') !== (after.clusterCIDR ?? '') || (before?.masqueradeAll ?? false) !== after.masqueradeAll) {
    out.push(`masquerade: ${after.masqueradeAll ? 'all' : after.clusterCIDR ? `from outside ${after.clusterCIDR}` : 'none'}`);
  }
  const old = new Map((before?.services ?? []).map((s) => [s.name, s]));
  for (const s of after.services) {
    const o = old.get(s.name);
    old.delete(s.name);
    // Most services are unchanged: one cheap compare instead of two maps of their endpoints.
    if (o && sameService(o, s)) continue;
    const eps = (list: ServiceSpec['endpoints']) => new Map(list.map((e) => [`${e.address}:${e.port}`, e.weight]));
    if (!o) {
      out.push(`+ ${s.name} ${key(s)}${schedulers ? ` ${s.scheduler}` : ''} -> ${s.endpoints.map((e) => `${e.address}:${e.port}*${e.weight}`).join(' ') || '(no endpoints)'}`);
      continue;
    }
    const parts: string[] = [];
    if (key(o) !== key(s)) parts.push(`address ${key(o)} -> ${key(s)}`);
    if (schedulers && o.scheduler !== s.scheduler) parts.push(`scheduler ${o.scheduler} -> ${s.scheduler}`);
    const a = eps(o.endpoints);
    const b = eps(s.endpoints);
    for (const [ep, w] of b) {
      if (!a.has(ep)) parts.push(`+${ep}*${w}`);
      else if (a.get(ep) !== w) parts.push(`${ep} weight ${a.get(ep)} -> ${w}`);
    }
    for (const ep of a.keys()) if (!b.has(ep)) parts.push(`-${ep}`);
    if (parts.length) out.push(`~ ${s.name}: ${parts.join(', ')}`);
  }
  for (const s of old.values()) out.push(`- ${s.name} ${key(s)}`);
  return out;
}
