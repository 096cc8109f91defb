// One line per operation, in the words of the system tools, for plans and error messages.
import type { Entry } from '../ipset/types.js';
import type { ServiceKey } from '../ipvs/types.js';
import type { QueuedIpset, QueuedIpvs } from './queue.js';

const entryText = (e: Entry | undefined): string => (typeof e === 'string' ? e : JSON.stringify(e));
const count = (n: number) => `(${n} ${n === 1 ? 'entry' : 'entries'})`;

function entries(list: Entry[]): string {
  return list.length === 1 ? entryText(list[0]) : count(list.length);
}

export function describeIpset(o: QueuedIpset): string {
  switch (o.op) {
    case 'ipset.create': return `ipset create ${o.name} ${o.type}${o.exist ? ' -exist' : ''}`;
    case 'ipset.destroy': return `ipset destroy${o.name !== undefined ? ` ${o.name}` : ''}`;
    case 'ipset.flush': return `ipset flush${o.name !== undefined ? ` ${o.name}` : ''}`;
    case 'ipset.add': return `ipset add ${o.name} ${entries(o.entries)}${o.exist ? ' -exist' : ''}`;
    case 'ipset.del': return `ipset del ${o.name} ${entries(o.entries)}${o.exist ? ' -exist' : ''}`;
    case 'ipset.rename': return `ipset rename ${o.from} ${o.to}`;
    case 'ipset.swap': return `ipset swap ${o.a} ${o.b}`;
    case 'ipset.restore': return `ipset restore (${o.text.split('\n').filter((l) => l.trim()).length} lines)${o.exist ? ' -exist' : ''}`;
    case 'ipset.replace': return `ipset replace ${o.name} ${count(o.entries.length)}`;
    case 'ipset.sync': return `ipset sync ${o.name} ${count(o.entries.length)}`;
  }
}

export function serviceText(k: ServiceKey | undefined): string {
  if (typeof k !== 'object' || k === null) return String(k);
  if ('fwmark' in k && k.fwmark !== undefined) return `fwmark ${k.fwmark}${k.family === 'inet6' ? ' (inet6)' : ''}`;
  const p = k as { protocol?: unknown; address?: unknown; port?: unknown };
  const addr = typeof p.address === 'string' && p.address.includes(':') && !p.address.startsWith('[') ? `[${p.address}]` : String(p.address);
  return `${String(p.protocol)} ${addr}:${String(p.port)}`;
}

export function describeIpvs(o: QueuedIpvs): string {
  switch (o.op) {
    case 'ipvs.addService': return `ipvsadm -A ${serviceText(o.service)}`;
    case 'ipvs.updateService': return `ipvsadm -E ${serviceText(o.service)}`;
    case 'ipvs.deleteService': return `ipvsadm -D ${serviceText(o.service)}`;
    case 'ipvs.addDestination': return `ipvsadm -a ${serviceText(o.service)} -r ${String(o.destination?.address)}${o.destination?.port !== undefined ? `:${o.destination.port}` : ''}`;
    case 'ipvs.updateDestination': return `ipvsadm -e ${serviceText(o.service)} -r ${String(o.destination?.address)}${o.destination?.port !== undefined ? `:${o.destination.port}` : ''}`;
    case 'ipvs.deleteDestination': return `ipvsadm -d ${serviceText(o.service)} -r ${String(o.destination?.address)}${o.destination?.port !== undefined ? `:${o.destination.port}` : ''}`;
    case 'ipvs.flush': return 'ipvsadm -C';
    case 'ipvs.sync': return `ipvs sync (${o.services.length} services)`;
  }
}

export function describeIptables(family: 4 | 6, table: string, noflush: boolean): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}-restore -T ${table}${noflush ? ' --noflush' : ''}`;
}
