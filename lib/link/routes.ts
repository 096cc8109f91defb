// h.routes: routes of the handle's namespace over rtnetlink, in `ip route`'s terms. Input is
// checked here (nothing is sent for bad input); link names are resolved from one link dump.
import { constants } from 'node:os';
import { InvalidArgumentError, NotFoundError } from '../core/errors.js';
import { codeName } from './errors.js';
import { NETLINK_ROUTE } from '../netlink/headers.js';
import { dump, kernelError, send } from '../netlink/transport.js';
import type { RawWorker } from '../core/native.js';
import { SUBSYSTEM, checkLinkName, parseIPv4, parseIPv6, parsePrefix, type Family } from './addr.js';
import {
  PROTOCOLS, RTN, SCOPES, TABLES, dumpRoutes, parseRoute, routeMessage, type Route, type RouteCommand, type RouteSpec,
} from './route-wire.js';
import { RtWriter, Rtm, collect, dumpLinks, eachMessage, parseLink } from './wire.js';
import { RtObjects, checkThen, linkIndex, type ManyKind } from './many.js';

export type { Route } from './route-wire.js';

/** A route to add, replace, delete or look up: `ip -j route` field names; `src` is `ip route add ... src`. */
export interface RouteInput {
  /** 'default', an address (a host route) or a prefix. */
  dst: string;
  /** 4 or 6; needed only when nothing else says ('default' without a gateway). */
  family?: 4 | 6;
  gateway?: string;
  dev?: string;
  /** 'main' (default), 'local', 'default' or a number (1 to 2^32-1). */
  table?: string | number;
  metric?: number;
  type?: 'unicast' | 'local' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw';
  protocol?: string | number;
  scope?: string | number;
  src?: string;
  prefsrc?: string;
  onlink?: boolean;
  nexthops?: { gateway?: string; dev?: string; weight?: number; onlink?: boolean }[];
}

/** Runs one queued operation on the handle's worker (LinkHandle's run). */
export type RunOn = <T>(op: string, fn: (w: RawWorker) => Promise<T>) => Promise<T>;

const E = constants.errno;
const UNROUTABLE = new Set([E.ENETUNREACH, E.EHOSTUNREACH, E.EACCES, E.EINVAL]);
const KEYS = new Set(['dst', 'family', 'gateway', 'dev', 'table', 'metric', 'type', 'protocol', 'scope', 'src', 'prefsrc', 'onlink', 'nexthops']);
const NH_KEYS = new Set(['gateway', 'dev', 'weight', 'onlink']);
const ADD_TYPES = new Set(['unicast', 'local', 'blackhole', 'unreachable', 'prohibit', 'throw']);

/**
 * h.routes: `ip route add/replace/del/get/show` in the handle's namespace. replace() finds the
 * route by destination, table, metric (and, IPv4, tos); delete() matches what it is given (the
 * fields left out match anything).
 * @example
 * await h.routes.add({ dst: '10.2.0.0/16', gateway: '10.1.0.2' });
 * await h.routes.add({ dst: 'default', nexthops: [{ gateway: '10.1.0.2', weight: 2 }, { gateway: '10.1.0.3' }] });
 */
export class Routes extends RtObjects<RouteInput, RouteInput, Checked & { dst: string }> {
  /** @internal made by LinkHandle */
  constructor(run: RunOn) {
    super(run, 'routes', MANY);
  }

  protected checkEntry(op: string, x: unknown): Checked & { dst: string } {
    return { ...checkRoute(x, op, 'add'), dst: String((x as RouteInput).dst) };
  }

  /**
   * The route the kernel would use for an address, as `ip route get ADDR` resolves it (without
   * ip's `uid` and `cache`). NotFoundError when there is none, or it is unreachable, prohibit or blackhole.
   * @example const r = await h.routes.get('10.2.3.4'); // { dst: '10.2.3.4', gateway: '10.1.0.2', dev: 'v0', ... }
   */
  get(dst: string): Promise<Route> {
    const op = 'link.routes.get';
    let spec: RouteSpec;
    try {
      const p = parsePrefix(dst, op);
      if (p.prefixlen !== (p.family === 'inet' ? 32 : 128)) throw invalid(op, `get takes an address, not a prefix: ${dst}`, dst);
      spec = { family: p.family, dst: p.bytes, dstLen: p.prefixlen, table: 0, type: 0, onlink: false };
    } catch (e) {
      return Promise.reject(e);
    }
    return this.run(op, async (w) => {
      const wr = new RtWriter(128);
      dumpLinks(wr);
      routeMessage(wr, 'get', spec);
      const r = await dump(w, NETLINK_ROUTE, wr.batch());
      const e = r.errnos[1]!;
      if (UNROUTABLE.has(e)) {
        // The kernel's answers for no route, an unreachable/prohibit/blackhole route: not the caller's fault.
        throw new NotFoundError(`${op}: no route to ${dst}: ${codeName(e)}${r.messages[1] ? `: ${r.messages[1]}` : ''}`,
          { op, subsystem: SUBSYSTEM, errno: e, code: codeName(e) });
      }
      if (e) throw kernelError(op, SUBSYSTEM, e, { what: `route to ${dst}`, detail: r.messages[1] });
      const names = linkNames(r.data, 0, r.sections[0]!);
      let found: Route | undefined;
      eachMessage(r.data, r.sections[0]!, r.sections[1]!, (type, at, len) => {
        if (type === Rtm.NewRoute) found ??= parseRoute(r.data, at, len, names, true);
      });
      if (!found) throw new NotFoundError(`${op}: no route to ${dst}`, { op, subsystem: SUBSYSTEM });
      return found;
    });
  }

  /**
   * Every route of every table, IPv4 then IPv6, as `ip -j route show table all` prints them
   * (and `ip -j -6 route show table all` for the IPv6 part).
   * @example const main = (await h.routes.list()).filter((r) => r.table === undefined);
   */
  list(): Promise<Route[]> {
    const op = 'link.routes.list';
    return this.run(op, async (w) => {
      const wr = new RtWriter(128);
      dumpLinks(wr);
      dumpRoutes(wr);
      const r = await dump(w, NETLINK_ROUTE, wr.batch());
      for (let i = 0; i < r.errnos.length; i++) if (r.errnos[i]) throw kernelError(op, SUBSYSTEM, r.errnos[i]!, { detail: r.messages[i] });
      const names = linkNames(r.data, 0, r.sections[0]!);
      return collect(r.data, r.sections[0]!, r.sections[1]!, Rtm.NewRoute, (b, at, len) => parseRoute(b, at, len, names));
    });
  }

  protected change(op: string, cmd: RouteCommand, route: RouteInput): Promise<void> {
    return checkThen(() => checkRoute(route, op, cmd), (input) => this.run(op, async (w) => {
      let index = new Map<string, number>();
      if (input.devs.length) {
        index = await linkIndex(w);
        for (const d of input.devs) {
          if (!index.has(d)) throw new NotFoundError(`${op}: link ${d} does not exist`, { op, subsystem: SUBSYSTEM, code: 'ENODEV' });
        }
      }
      const spec = input.resolve((name) => index.get(name)!);
      const wr = new RtWriter(256);
      routeMessage(wr, cmd, spec);
      const r = await send(w, NETLINK_ROUTE, wr.batch());
      const e = r.errnos[0]!;
      if (e !== 0) {
        // ip says ESRCH ("No such process") for a route to delete that is not there.
        throw kernelError(op, SUBSYSTEM, e, { what: `route ${route.dst}`, ...(r.messages[0] ? { detail: r.messages[0] } : {}) });
      }
    }));
  }
}

interface Checked {
  devs: string[];
  resolve(index: (name: string) => number): RouteSpec;
}

/** Routes for addMany. */
const MANY: ManyKind<Checked & { dst: string }> = {
  devs: (c) => c.devs,
  what: (c) => `route ${c.dst}`,
  write: (w, c, index, undo) => routeMessage(w, undo ? 'delete' : 'add', c.resolve(index)),
};

export function invalid(op: string, why: string, arg: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`${op}: ${why}`, { op, subsystem: SUBSYSTEM, argument: typeof arg === 'string' ? arg : JSON.stringify(arg) ?? String(arg) });
}

function address(op: string, what: string, v: unknown, family: Family | undefined): { family: Family; bytes: Uint8Array } {
  if (typeof v !== 'string') throw invalid(op, `${what} must be an address string, got ${v === null ? 'null' : typeof v}`, v);
  const b4 = parseIPv4(v), b6 = b4 ? undefined : parseIPv6(v);
  if (!b4 && !b6) throw invalid(op, `${what} ${JSON.stringify(v)} is not an IPv4 or IPv6 address`, v);
  const f: Family = b4 ? 'inet' : 'inet6';
  if (family && f !== family) throw invalid(op, `${what} ${v} is not of the route's family (${family === 'inet' ? 'IPv4' : 'IPv6'})`, v);
  return { family: f, bytes: (b4 ?? b6)! };
}

export function u32(op: string, what: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0xffffffff) throw invalid(op, `${what} must be an integer from ${min} to 4294967295`, v);
  return v;
}

export function named(op: string, what: string, v: unknown, names: Record<string, number>, max: number): number {
  if (typeof v === 'string' && v in names) return names[v]!;
  if (typeof v === 'string' && /^\d+$/.test(v)) v = Number(v);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v;
  throw invalid(op, `${what} must be one of ${Object.keys(names).join(', ')} or a number up to ${max}`, v);
}

/**
 * The fields of a route or rule request: an object with none but `keys`; throws
 * InvalidArgumentError naming what is wrong.
 * @example const r = requestFields(op, rule, 'rule', '{ priority: 100, table: 100 }', KEYS);
 */
export function requestFields(op: string, v: unknown, what: string, example: string, keys: ReadonlySet<string>): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(op, `the ${what} must be an object like ${example}`, v);
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!keys.has(k)) throw invalid(op, `unknown ${what} field "${k}"`, k);
  return r;
}

/**
 * A request's `family` (4 or 6) as a Family, or undefined when it gives none.
 * @example let family = requestFamily(op, r);
 */
export function requestFamily(op: string, r: Record<string, unknown>): Family | undefined {
  if (r.family === undefined) return undefined;
  if (r.family !== 4 && r.family !== 6) throw invalid(op, 'family must be 4 or 6', r.family);
  return r.family === 4 ? 'inet' : 'inet6';
}

/** Checks a route request whole; throws InvalidArgumentError naming the field. */
export function checkRoute(route: unknown, op: string, cmd: RouteCommand): Checked {
  const r = requestFields(op, route, 'route', '{ dst: "10.0.0.0/24", gateway: "10.1.0.1" }', KEYS);
  let family = requestFamily(op, r);
  let dst: Uint8Array | undefined, dstLen = 0;
  if (r.dst !== 'default') {
    if (typeof r.dst !== 'string') throw invalid(op, 'dst must be "default", an address or a prefix', r.dst);
    const p = parsePrefix(r.dst, op);
    if (family && p.family !== family) throw invalid(op, `dst ${r.dst} is not of family ${r.family}`, r.dst);
    family = p.family;
    dst = p.bytes;
    dstLen = p.prefixlen;
  }
  const gw = r.gateway !== undefined ? address(op, 'gateway', r.gateway, family) : undefined;
  family ??= gw?.family;
  const srcKey = r.prefsrc !== undefined ? 'prefsrc' : 'src';
  if (r.prefsrc !== undefined && r.src !== undefined) throw invalid(op, 'give src or prefsrc, not both', r.src);
  const ps = r[srcKey] !== undefined ? address(op, srcKey, r[srcKey], family) : undefined;
  family ??= ps?.family;
  const devs: string[] = [];
  if (r.dev !== undefined) devs.push(checkLinkName(r.dev, op));
  let nexthops: { gateway?: Uint8Array; dev?: string; weight: number; onlink: boolean }[] | undefined;
  if (r.nexthops !== undefined) {
    if (!Array.isArray(r.nexthops) || r.nexthops.length === 0) throw invalid(op, 'nexthops must be a non-empty array', r.nexthops);
    if (gw || r.dev !== undefined) throw invalid(op, 'a route has a gateway/dev or nexthops, not both', r.nexthops);
    nexthops = r.nexthops.map((nh: unknown, i) => {
      if (typeof nh !== 'object' || nh === null || Array.isArray(nh)) throw invalid(op, `nexthops[${i}] must be an object`, nh);
      const o = nh as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!NH_KEYS.has(k)) throw invalid(op, `unknown field "${k}" in nexthops[${i}]`, k);
      const g = o.gateway !== undefined ? address(op, `nexthops[${i}].gateway`, o.gateway, family) : undefined;
      family ??= g?.family;
      if (o.dev !== undefined) devs.push(checkLinkName(o.dev, op));
      if (o.gateway === undefined && o.dev === undefined) throw invalid(op, `nexthops[${i}] needs a gateway or a dev`, nh);
      const weight = o.weight === undefined ? 1 : u32(op, `nexthops[${i}].weight`, o.weight, 1);
      if (weight > 256) throw invalid(op, `nexthops[${i}].weight must be from 1 to 256`, o.weight);
      if (o.onlink !== undefined && typeof o.onlink !== 'boolean') throw invalid(op, `nexthops[${i}].onlink must be true or false`, o.onlink);
      return { ...(g ? { gateway: g.bytes } : {}), ...(o.dev !== undefined ? { dev: o.dev as string } : {}), weight, onlink: o.onlink === true };
    });
  }
  if (!family) {
    if (cmd !== 'delete' && r.family === undefined) throw invalid(op, 'a default route without a gateway needs family: 4 or 6', route);
    family = 'inet';
  }
  let type: number = cmd === 'delete' ? RTN.unspec : RTN.unicast;
  if (r.type !== undefined) {
    if (typeof r.type !== 'string' || !ADD_TYPES.has(r.type)) throw invalid(op, `type must be one of ${[...ADD_TYPES].join(', ')}`, r.type);
    type = RTN[r.type as keyof typeof RTN];
  }
  // As iproute2: local routes go to the local table unless told otherwise.
  const table = r.table === undefined ? (type === RTN.local ? TABLES.local! : TABLES.main!) : named(op, 'table', r.table, TABLES, 0xffffffff);
  if (table === 0) throw invalid(op, 'table 0 is not a table', r.table);
  const metric = r.metric === undefined ? undefined : u32(op, 'metric', r.metric);
  const protocol = r.protocol === undefined ? undefined : named(op, 'protocol', r.protocol, PROTOCOLS, 255);
  const scope = r.scope === undefined ? undefined : named(op, 'scope', r.scope, SCOPES, 255);
  if (r.onlink !== undefined && typeof r.onlink !== 'boolean') throw invalid(op, 'onlink must be true or false', r.onlink);
  const f = family;
  return {
    devs,
    resolve: (index) => ({
      family: f, dstLen, table, type, onlink: r.onlink === true,
      ...(dst ? { dst } : {}),
      ...(gw ? { gateway: gw.bytes } : {}),
      ...(r.dev !== undefined ? { oif: index(r.dev as string) } : {}),
      ...(metric !== undefined ? { metric } : {}),
      ...(protocol !== undefined ? { protocol } : {}),
      ...(scope !== undefined ? { scope } : {}),
      ...(ps ? { prefsrc: ps.bytes } : {}),
      ...(nexthops ? { nexthops: nexthops.map((nh) => ({ ...nh, ...(nh.dev !== undefined ? { oif: index(nh.dev) } : {}) })) } : {}),
    }),
  };
}

function linkNames(data: Buffer, from: number, to: number): (index: number) => string {
  const m = new Map<number, string>();
  eachMessage(data, from, to, (type, at, len) => {
    if (type === Rtm.NewLink) { const l = parseLink(data, at, len); m.set(l.index, l.name); }
  });
  return (i) => m.get(i) ?? `if${i}`;
}
