// ipvsadm's rule text: `ipvsadm -S -n` output read into nlkit's objects, and nlkit's objects
// written as `ipvsadm -R` input. ipvsadm does not save thresholds; it prints a firewall mark
// above 2^31 as a negative number, which is read back as the mark it is.
import { InvalidArgumentError } from '../core/errors.js';
import { checkArray, checkString } from '../core/args.js';
import { parseAddress } from './addr.js';
import type { Destination, DestinationInput, Forward, Service, ServiceFlag, ServiceInput, TunnelType } from './types.js';

const PROTO_OPTS: Record<string, 'tcp' | 'udp' | 'sctp'> = {
  '-t': 'tcp', '--tcp-service': 'tcp', '-u': 'udp', '--udp-service': 'udp', '--sctp-service': 'sctp',
};
const FWD_OPTS: Record<string, Forward> = { '-m': 'masq', '--masquerading': 'masq', '-g': 'route', '--gatewaying': 'route', '-i': 'tunnel', '--ipip': 'tunnel' };

type Fail = (why: string) => InvalidArgumentError;

/** An integer in [min, max], as ipvsadm itself would have printed it. */
function int(v: string, min: number, max: number, what: string, fail: Fail): number {
  const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw fail(`${what} ${v} is not an integer in ${min}..${max}`);
  return n;
}

function splitHostPort(s: string, fail: Fail): { address: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  if (!m) throw fail(`bad address ${s}`);
  return { address: parseAddress(m[1])?.text ?? m[1]!, port: m[2] === undefined ? 0 : int(m[2], 0, 65535, 'port', fail) };
}

type Svc = Service & { destinations: Destination[] };

/** Reads `ipvsadm -S -n` (or -R input in the same form) into services with their real servers. */
export function parseIpvsadm(text: string): Svc[] {
  checkString({ op: 'ipvs.parseIpvsadm', subsystem: 'ipvs' }, 'text', text);
  const out: Svc[] = [];
  const byKey = new Map<string, Svc>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (!line || line.startsWith('#')) continue;
    const t = line.split(/\s+/);
    const fail: Fail = (why: string) => new InvalidArgumentError(`ipvsadm text line ${n + 1}: ${why}`, { line: n + 1, subsystem: 'ipvs', op: 'ipvs.parseIpvsadm' });
    const cmd = t[0];
    let key: string | undefined, base: Record<string, unknown> = {};
    let inet6 = false;
    let sched = 'wlc', persistent: number | undefined, mask: string | undefined, pe: string | undefined, onePacket = false;
    let flags: string[] = [];
    let real: string | undefined, fwd: Forward = 'route', weight = 1, ut = 0, lt = 0;
    let tunType: TunnelType | undefined, tunPort: number | undefined, csum: 'none' | 'csum' | 'remcsum' | undefined;
    for (let i = 1; i < t.length; i++) {
      const o = t[i]!;
      const arg = () => {
        const v = t[++i];
        if (v === undefined) throw fail(`${o} needs a value`);
        return v;
      };
      if (o in PROTO_OPTS) {
        const hp = splitHostPort(arg(), fail);
        base = { protocol: PROTO_OPTS[o], ...hp };
      } else if (o === '-f' || o === '--fwmark-service') {
        const v = int(arg(), -(2 ** 31), 2 ** 32 - 1, 'firewall mark', fail);
        base = { fwmark: v < 0 ? v + 2 ** 32 : v };
      } else if (o === '-6' || o === '--ipv6') inet6 = true;
      else if (o === '-s' || o === '--scheduler') sched = arg();
      else if (o === '-p' || o === '--persistent') {
        persistent = 300;
        if (t[i + 1] !== undefined && /^\d+$/.test(t[i + 1]!)) persistent = int(t[++i]!, 0, 2 ** 32 - 1, 'persistence timeout', fail);
      } else if (o === '-M' || o === '--netmask') mask = arg();
      else if (o === '--pe') pe = arg();
      else if (o === '-o' || o === '--ops') onePacket = true;
      else if (o === '-b' || o === '--sched-flags') flags = arg().split(',');
      else if (o === '-r' || o === '--real-server') real = arg();
      else if (o in FWD_OPTS) fwd = FWD_OPTS[o]!;
      else if (o === '-w' || o === '--weight') weight = int(arg(), 0, 2 ** 31 - 1, 'weight', fail);
      else if (o === '-x' || o === '--u-threshold') ut = int(arg(), 0, 2 ** 32 - 1, 'upper threshold', fail);
      else if (o === '-y' || o === '--l-threshold') lt = int(arg(), 0, 2 ** 32 - 1, 'lower threshold', fail);
      else if (o === '--tun-type') tunType = arg() as TunnelType;
      else if (o === '--tun-port') tunPort = int(arg(), 0, 65535, 'tunnel port', fail);
      else if (o === '--tun-nocsum') csum = 'none';
      else if (o === '--tun-csum') csum = 'csum';
      else if (o === '--tun-remcsum') csum = 'remcsum';
      else throw fail(`unknown option ${o}`);
    }
    if ('fwmark' in base) {
      base.family = inet6 ? 'inet6' : 'inet';
      key = `f ${base.fwmark} ${base.family}`;
    } else if ('protocol' in base) {
      base.family = (base.address as string).includes(':') ? 'inet6' : 'inet';
      key = `${base.protocol} ${base.address} ${base.port}`;
    } else throw fail('no service given');
    if (cmd === '-A' || cmd === '--add-service') {
      const s = { ...base, scheduler: sched, flags: [] as ServiceFlag[], destinations: [] } as unknown as Svc;
      const fl: ServiceFlag[] = [];
      if (persistent !== undefined) {
        fl.push('persistent');
        s.persistence = { timeout: persistent, netmask: base.family === 'inet6' ? int(mask ?? '128', 0, 128, 'netmask', fail) : mask ?? '255.255.255.255' };
        if (pe) s.persistence.engine = pe;
      }
      fl.push('hashed');
      if (onePacket) fl.push('one-packet');
      const order = ['sh-fallback', 'mh-fallback', 'flag-1', 'sh-port', 'mh-port', 'flag-2', 'flag-3'];
      fl.push(...(flags.sort((a, b) => order.indexOf(a) - order.indexOf(b)) as ServiceFlag[]));
      s.flags = fl;
      out.push(s);
      byKey.set(key, s);
    } else if (cmd === '-a' || cmd === '--add-server') {
      const s = byKey.get(key);
      if (!s) throw fail(`real server for unknown service ${key}`);
      if (!real) throw fail('-a needs -r');
      const hp = splitHostPort(real, fail);
      const d: Destination = {
        address: hp.address, port: hp.port, family: hp.address.includes(':') ? 'inet6' : 'inet', weight, forward: fwd,
        upperThreshold: ut, lowerThreshold: lt, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0,
      };
      if (fwd === 'tunnel') {
        const type = tunType ?? 'ipip';
        d.tunnel = { type, checksum: csum ?? 'none' };
        if (type === 'gue') d.tunnel.port = tunPort ?? 0;
      }
      s.destinations.push(d);
    } else throw fail(`unsupported command ${cmd}`);
  }
  return out;
}

const FWD_FLAG: Record<string, string> = { masq: '-m', route: '-g', tunnel: '-i' };

function serviceArg(s: ServiceInput): string {
  if ('fwmark' in s && s.fwmark !== undefined) return `-f ${s.fwmark}${s.family === 'inet6' ? ' -6' : ''}`;
  const p = s as { protocol: string; address: string; port: number };
  const opt = p.protocol === 'tcp' ? '-t' : p.protocol === 'udp' ? '-u' : '--sctp-service';
  const addr = p.address.includes(':') ? `[${p.address.replace(/^\[|\]$/g, '')}]` : p.address;
  return `${opt} ${addr}:${p.port}`;
}

/** Writes services and their real servers as `ipvsadm -R` input (bypass cannot be written). */
export function formatIpvsadm(services: (ServiceInput & { destinations?: DestinationInput[] })[]): string {
  checkArray({ op: 'ipvs.formatIpvsadm', subsystem: 'ipvs' }, 'services', services);
  const lines: string[] = [];
  for (const s of services) {
    const svc = serviceArg(s);
    let line = `-A ${svc} -s ${s.scheduler ?? 'wlc'}`;
    const p = s.persistence;
    const flags = Array.isArray(s.flags) ? s.flags : Object.entries(s.flags ?? {}).filter(([, v]) => v).map(([k]) => k);
    if (p) {
      line += ` -p ${p.timeout}`;
      if (p.netmask !== undefined) line += ` -M ${p.netmask}`;
      if (p.engine) line += ` --pe ${p.engine}`;
    } else if (flags.includes('persistent')) line += ' -p';
    if (flags.includes('one-packet')) line += ' -o';
    const sf = flags.filter((f) => /^(sh|mh|flag)-/.test(f));
    if (sf.length) line += ` -b ${sf.join(',')}`;
    lines.push(line);
    for (const d of s.destinations ?? []) {
      const fwd = d.forward ?? 'masq';
      if (!FWD_FLAG[fwd]) throw new InvalidArgumentError(`ipvsadm cannot write forwarding method ${fwd}`, { subsystem: 'ipvs' });
      const addr = d.address.includes(':') ? `[${d.address.replace(/^\[|\]$/g, '')}]` : d.address;
      const port = d.port ?? ('port' in s ? s.port : 0);
      let dl = `-a ${svc} -r ${addr}:${port} ${FWD_FLAG[fwd]} -w ${d.weight ?? 1}`;
      if (d.upperThreshold) dl += ` -x ${d.upperThreshold}`;
      if (d.lowerThreshold) dl += ` -y ${d.lowerThreshold}`;
      if (fwd === 'tunnel' && d.tunnel) {
        const type = d.tunnel.type ?? 'ipip';
        dl += ` --tun-type ${type}`;
        if (d.tunnel.port !== undefined) dl += ` --tun-port ${d.tunnel.port}`;
        if (d.tunnel.checksum === 'csum') dl += ' --tun-csum';
        else if (d.tunnel.checksum === 'remcsum') dl += ' --tun-remcsum';
        else if (d.tunnel.checksum === 'none' && type !== 'ipip') dl += ' --tun-nocsum';
      }
      lines.push(dl);
    }
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}
