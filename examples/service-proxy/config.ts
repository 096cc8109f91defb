// The proxy's input: services and their endpoints, as a JSON file the agent watches. A
// controller (or a person) rewrites the file; each accepted version becomes one transaction.
//
// {
//   "clusterCIDR": "10.244.0.0/16",          // traffic from outside it is masqueraded; dual-stack:
//                                            // "10.244.0.0/16,fd00:10:244::/56" (kube-proxy's --cluster-cidr)
//   "services": [
//     { "name": "default/web:http", "protocol": "tcp", "address": "10.96.0.10", "port": 80,
//       "nodePort": 30080,                    // optional: also served on every local address of the node
//       "scheduler": "wrr",                   // ipvs mode; default 'rr' (all weights equal) or 'wrr'
//       "endpoints": [{ "address": "10.244.1.2", "port": 8080, "weight": 1 }] }
//   ]
// }
// A service's address is IPv4 or IPv6 (kube-proxy's single-stack services of either family);
// its endpoints are of the same family. Addresses are kept in canonical text.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../../lib/core/errors.js';
import { formatIPv6, parseIPv4, parseIPv6 } from '../../lib/core/address.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface Endpoint {
  address: string;
  port: number;
  /** Share of new connections relative to the others (default 1); 0 takes none. */
  weight: number;
}

export type Family = 4 | 6;

export interface ServiceSpec {
  /** Like kube-proxy's service port name ('namespace/name:port'): names the chains and comments. */
  name: string;
  protocol: Protocol;
  /** The address's family (its endpoints share it). */
  family: Family;
  address: string;
  port: number;
  /** Served on every local address of the node too (kube-proxy's NodePort), masqueraded. */
  nodePort?: number;
  /** IPVS scheduler (ipvs mode only). */
  scheduler: string;
  endpoints: Endpoint[];
}

export interface ProxyConfig {
  /**
   * Connections from outside this range are masqueraded; absent: none are (unless masqueradeAll).
   * One range per family, comma-separated (see clusterCIDRFor).
   */
  clusterCIDR?: string;
  masqueradeAll: boolean;
  services: ServiceSpec[];
}

/**
 * Whether two services are the same in everything the modes write (a field-by-field compare:
 * cheaper than JSON.stringify over 10k services of 25 endpoints, and run on every change).
 * @example sameService(before.services[0]!, after.services[0]!) // false once an endpoint moved
 */
export function sameService(a: ServiceSpec, b: ServiceSpec): boolean {
  if (a === b) return true;
  if (a.name !== b.name || a.protocol !== b.protocol || a.family !== b.family || a.address !== b.address || a.port !== b.port
    || a.nodePort !== b.nodePort || a.scheduler !== b.scheduler || a.endpoints.length !== b.endpoints.length) return false;
  return a.endpoints.every((e, i) => {
    const f = b.endpoints[i]!;
    return e.address === f.address && e.port === f.port && e.weight === f.weight;
  });
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** 4 or 6 for an address in text, undefined for anything else. */
export const familyOf = (address: string): Family | undefined => (IPV4.test(address) ? 4 : parseIPv6(address) ? 6 : undefined);

/** The cluster range of one family from config.clusterCIDR ('10.244.0.0/16,fd00:10:244::/56'). */
export const clusterCIDRFor = (config: ProxyConfig, family: Family): string | undefined =>
  config.clusterCIDR?.split(',').find((c) => familyOf(c.split('/')[0]!) === family);
// iptables comments hold at most 255 bytes and are quoted by us; IPVS and ipset know nothing of names.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._/:-]{0,200}$/;
const SCHEDULER = /^[a-z]{1,15}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

class Checker {
  constructor(private readonly source: string) {}

  fail(where: string, what: string): never {
    throw new InvalidArgumentError(`${this.source}: ${where}: ${what}`, { argument: where, op: 'service-proxy.config' });
  }

  keys(o: Record<string, unknown>, where: string, allowed: string[]): void {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.fail(`${where}.${k}`, `unknown field (known: ${allowed.join(', ')})`);
  }

  ipv4(v: unknown, where: string): string {
    if (typeof v !== 'string' || !IPV4.test(v)) this.fail(where, `expected an IPv4 address, got ${JSON.stringify(v)}`);
    return v;
  }

  /** An IPv4 or IPv6 address (of `family` when given), in canonical text. */
  ip(v: unknown, where: string, family?: Family): { address: string; family: Family } {
    const f = typeof v === 'string' ? familyOf(v) : undefined;
    if (!f || (family && f !== family)) {
      this.fail(where, `expected an ${family ? `IPv${family}` : 'IPv4 or IPv6'} address${family ? ' like the service\'s' : ''}, got ${JSON.stringify(v)}`);
    }
    return { address: f === 4 ? (v as string) : formatIPv6(parseIPv6(v as string)!), family: f };
  }

  port(v: unknown, where: string): number {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) this.fail(where, `expected a port 1-65535, got ${JSON.stringify(v)}`);
    return v as number;
  }

  /** One IPv4 and/or one IPv6 range, comma-separated; IPv6 prefixes in canonical text. */
  cidr(v: unknown, where: string): string {
    const bad = () => this.fail(where, `expected an IPv4 CIDR like 10.244.0.0/16, an IPv6 one like fd00:10:244::/56, or one of each separated by a comma, got ${JSON.stringify(v)}`);
    if (typeof v !== 'string') return bad();
    const seen = new Set<Family>();
    return v.split(',').map((part) => {
      const m = /^([^/]+)\/(\d{1,3})$/.exec(part);
      const f = m ? familyOf(m[1]!) : undefined;
      if (!m || !f || seen.has(f) || Number(m[2]) > (f === 4 ? 32 : 128) || (f === 4 && !parseIPv4(m[1]!))) return bad();
      seen.add(f);
      return f === 4 ? part : `${formatIPv6(parseIPv6(m[1]!)!)}/${Number(m[2])}`;
    }).join(',');
  }
}

/** Checks a parsed JSON document; throws InvalidArgumentError naming the field at fault. */
export function parseConfig(doc: unknown, source = 'config'): ProxyConfig {
  const c: Checker = new Checker(source); // annotated, so its never-returning fail() narrows
  if (!isObject(doc)) c.fail('(top)', 'expected an object with a "services" array');
  c.keys(doc, '(top)', ['clusterCIDR', 'masqueradeAll', 'services']);
  const config: ProxyConfig = { masqueradeAll: false, services: [] };
  if (doc.clusterCIDR !== undefined) config.clusterCIDR = c.cidr(doc.clusterCIDR, 'clusterCIDR');
  if (doc.masqueradeAll !== undefined) {
    if (typeof doc.masqueradeAll !== 'boolean') c.fail('masqueradeAll', 'expected true or false');
    config.masqueradeAll = doc.masqueradeAll;
  }
  if (!Array.isArray(doc.services)) c.fail('services', 'expected an array');
  const names = new Set<string>();
  const keys = new Set<string>();
  doc.services.forEach((s: unknown, i: number) => {
    const at = `services[${i}]`;
    if (!isObject(s)) c.fail(at, 'expected an object');
    c.keys(s, at, ['name', 'protocol', 'address', 'port', 'nodePort', 'scheduler', 'endpoints']);
    if (typeof s.name !== 'string' || !NAME.test(s.name)) c.fail(`${at}.name`, `expected a name of letters, digits and ._/:- (like "default/web:http"), got ${JSON.stringify(s.name)}`);
    if (names.has(s.name)) c.fail(`${at}.name`, `"${s.name}" is used twice`);
    names.add(s.name);
    const protocol = s.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') c.fail(`${at}.protocol`, `expected tcp, udp or sctp, got ${JSON.stringify(protocol)}`);
    const { address, family } = c.ip(s.address, `${at}.address`);
    const port = c.port(s.port, `${at}.port`);
    const key = `${protocol} ${family === 6 ? `[${address}]` : address}:${port}`;
    if (keys.has(key)) c.fail(at, `${key} is already another service's address`);
    keys.add(key);
    let nodePort: number | undefined;
    if (s.nodePort !== undefined) {
      nodePort = c.port(s.nodePort, `${at}.nodePort`);
      // Node ports are per family and protocol: one service each on the node's addresses.
      const np = `${protocol} node port ${nodePort} (IPv${family})`;
      if (keys.has(np)) c.fail(`${at}.nodePort`, `${np} is already another service's`);
      keys.add(np);
    }
    if (!Array.isArray(s.endpoints)) c.fail(`${at}.endpoints`, 'expected an array');
    const seen = new Set<string>();
    const endpoints = s.endpoints.map((e: unknown, j: number): Endpoint => {
      const eat = `${at}.endpoints[${j}]`;
      if (!isObject(e)) c.fail(eat, 'expected an object');
      c.keys(e, eat, ['address', 'port', 'weight']);
      const ep: Endpoint = { address: c.ip(e.address, `${eat}.address`, family).address, port: c.port(e.port, `${eat}.port`), weight: 1 };
      if (e.weight !== undefined) {
        // IPVS's limit; the iptables mode turns weights into probabilities.
        if (!Number.isInteger(e.weight) || (e.weight as number) < 0 || (e.weight as number) > 65535) c.fail(`${eat}.weight`, `expected an integer 0-65535, got ${JSON.stringify(e.weight)}`);
        ep.weight = e.weight as number;
      }
      if (seen.has(`${ep.address}:${ep.port}`)) c.fail(eat, `${ep.address}:${ep.port} is listed twice`);
      seen.add(`${ep.address}:${ep.port}`);
      return ep;
    });
    const equal = endpoints.every((e) => e.weight === endpoints[0]!.weight);
    let scheduler = equal ? 'rr' : 'wrr';
    if (s.scheduler !== undefined) {
      if (typeof s.scheduler !== 'string' || !SCHEDULER.test(s.scheduler)) c.fail(`${at}.scheduler`, `expected an IPVS scheduler name like rr or wrr, got ${JSON.stringify(s.scheduler)}`);
      scheduler = s.scheduler;
    }
    config.services.push({ name: s.name, protocol, family, address, port, ...(nodePort !== undefined ? { nodePort } : {}), scheduler, endpoints });
  });
  return config;
}

/** Reads and checks the file; a syntax error names the file and the position JSON.parse saw. */
export async function loadConfig(path: string): Promise<{ config: ProxyConfig; text: string }> {
  const text = await readFile(path, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`${path}: not JSON: ${(e as Error).message}`, { op: 'service-proxy.config', cause: e });
  }
  return { config: parseConfig(doc, path), text };
}
