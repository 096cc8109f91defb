// The proxy's input: services and their endpoints, as a JSON file the agent watches. A
// controller (or a person) rewrites the file; each accepted version becomes one transaction.
//
// {
//   "clusterCIDR": "10.244.0.0/16",          // traffic from outside it is masqueraded
//   "services": [
//     { "name": "default/web:http", "protocol": "tcp", "address": "10.96.0.10", "port": 80,
//       "scheduler": "wrr",                   // ipvs mode; default 'rr' (all weights equal) or 'wrr'
//       "endpoints": [{ "address": "10.244.1.2", "port": 8080, "weight": 1 }] }
//   ]
// }
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../../lib/errors.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface Endpoint {
  address: string;
  port: number;
  /** Share of new connections relative to the others (default 1); 0 takes none. */
  weight: number;
}

export interface ServiceSpec {
  /** Like kube-proxy's service port name ('namespace/name:port'): names the chains and comments. */
  name: string;
  protocol: Protocol;
  address: string;
  port: number;
  /** IPVS scheduler (ipvs mode only). */
  scheduler: string;
  endpoints: Endpoint[];
}

export interface ProxyConfig {
  /** Connections from outside this range are masqueraded; absent: none are (unless masqueradeAll). */
  clusterCIDR?: string;
  masqueradeAll: boolean;
  services: ServiceSpec[];
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
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

  port(v: unknown, where: string): number {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) this.fail(where, `expected a port 1-65535, got ${JSON.stringify(v)}`);
    return v as number;
  }

  cidr(v: unknown, where: string): string {
    const m = typeof v === 'string' ? /^([^/]+)\/(\d{1,2})$/.exec(v) : null;
    if (!m || !IPV4.test(m[1]!) || Number(m[2]) > 32) this.fail(where, `expected an IPv4 CIDR like 10.244.0.0/16, got ${JSON.stringify(v)}`);
    return v as string;
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
    c.keys(s, at, ['name', 'protocol', 'address', 'port', 'scheduler', 'endpoints']);
    if (typeof s.name !== 'string' || !NAME.test(s.name)) c.fail(`${at}.name`, `expected a name of letters, digits and ._/:- (like "default/web:http"), got ${JSON.stringify(s.name)}`);
    if (names.has(s.name)) c.fail(`${at}.name`, `"${s.name}" is used twice`);
    names.add(s.name);
    const protocol = s.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') c.fail(`${at}.protocol`, `expected tcp, udp or sctp, got ${JSON.stringify(protocol)}`);
    const address = c.ipv4(s.address, `${at}.address`);
    const port = c.port(s.port, `${at}.port`);
    const key = `${protocol} ${address}:${port}`;
    if (keys.has(key)) c.fail(at, `${key} is already another service's address`);
    keys.add(key);
    if (!Array.isArray(s.endpoints)) c.fail(`${at}.endpoints`, 'expected an array');
    const seen = new Set<string>();
    const endpoints = s.endpoints.map((e: unknown, j: number): Endpoint => {
      const eat = `${at}.endpoints[${j}]`;
      if (!isObject(e)) c.fail(eat, 'expected an object');
      c.keys(e, eat, ['address', 'port', 'weight']);
      const ep: Endpoint = { address: c.ipv4(e.address, `${eat}.address`), port: c.port(e.port, `${eat}.port`), weight: 1 };
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
    config.services.push({ name: s.name, protocol, address, port, scheduler, endpoints });
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
