// How link joins a transaction (lib/transaction/participant.ts): tx.link queues link, address,
// route and rule changes in the transaction's namespace. Additions and link changes run first
// of all, in queue order (phase 'link': IPVS services and iptables rules name these addresses;
// an address can go on a link added before it), deletions last ('link-release'), unless a later
// change names the same link, address, route or rule. Undo makes the touched links'
// addresses, and the routes and rules of the touched families, equal to the snapshot again
// (whole `ip -j addr/route/rule` records compared): rules, then links (added ones deleted,
// moved ones brought back, renamed, mtu, mac, master and up/down set back, by ifindex), then
// addresses (the kernel removes and restores the routes an address brings), then routes.
// Limits: an address put back gets its prefix only (flags such as noprefixroute, labels and
// lifetimes are the kernel's defaults), and is listed after the link's other addresses; a
// link deleted early (a later change names it) and then undone is made again from its
// snapshot (kind, mtu, mac, master, up; a veth with its peer) under a new ifindex, which is
// why deletions wait for the last phase; a change another program makes to the same records
// while the transaction runs is undone too.
import { ExistsError, InvalidArgumentError, NlkitError, NotFoundError } from '../core/errors.js';
import { resolveNetns } from '../core/netns.js';
import { blame, HandleRun, participant, undoInRounds, type Enqueue, type ParticipantRun, type PlannedBase, type TxContext, type UndoLog } from '../transaction/participant.js';
import { releases } from '../transaction/order.js';
import { checkLinkName, parsePrefix } from './addr.js';
import { checkAdd, checkUpdate } from './links.js';
import { LinkHandle } from './handle.js';
import { checkRoute, type Route, type RouteInput } from './routes.js';
import { checkRule, type Rule, type RuleInput } from './rules.js';
import type { Address, AddLinkInput, Link, UpdateLinkInput } from './types.js';

/** tx.link.addresses: `ip addr add/del` of many addresses on one link. */
export interface TxLinkAddresses {
  /** Adds addresses ('10.96.0.1/32', 'fd00::1/128') to a link; one already there fails the transaction. */
  add(dev: string, addresses: string | string[]): this;
  /** Removes addresses from a link; one that is not there fails the transaction. */
  delete(dev: string, addresses: string | string[]): this;
}

/** tx.link.routes: `ip route add/del` (fields as h.routes takes them). */
export interface TxLinkRoutes {
  add(route: RouteInput): this;
  delete(route: RouteInput): this;
}

/** tx.link.rules: `ip rule add/del` (fields as h.rules takes them). */
export interface TxLinkRules {
  add(rule: RuleInput): this;
  delete(rule: RuleInput): this;
}

/** Host set-up changes of a transaction (rtnetlink), in its namespace. */
export interface TxLink {
  /** Creates a link, as h.add (a veth's peer may go to another namespace); undone by deleting it. */
  add(link: AddLinkInput): this;
  /** Changes a link, as h.update (up, mtu, mac, master, name, netns); undone by setting each back. */
  update(name: string, changes: UpdateLinkInput): this;
  /** Deletes a link, as h.delete; runs in the last phase unless a later change names the link. */
  delete(name: string): this;
  readonly addresses: TxLinkAddresses;
  readonly routes: TxLinkRoutes;
  readonly rules: TxLinkRules;
}

type LinkVariant =
  | { op: 'link.add'; link: AddLinkInput }
  | { op: 'link.update'; name: string; changes: UpdateLinkInput }
  | { op: 'link.delete'; name: string }
  | { op: 'link.addresses.add' | 'link.addresses.delete'; dev: string; addresses: string[] }
  | { op: 'link.routes.add' | 'link.routes.delete'; route: RouteInput }
  | { op: 'link.rules.add' | 'link.rules.delete'; rule: RuleInput };

export type PlannedLinkOp = Omit<PlannedBase, 'subsystem' | 'phase'> & { subsystem: 'link'; phase: 'link' | 'link-release' } & LinkVariant;

export type QueuedLink = LinkVariant & { index: number };

const OP = 'transaction';

function bad(message: string, argument?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`${OP}: ${message}`, { op: OP, subsystem: 'link', argument: typeof argument === 'string' ? argument : JSON.stringify(argument) ?? String(argument) });
}

const copyObject = <T>(what: string, v: T): T => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} must be an object`, v);
  const o = { ...v } as Record<string, unknown>;
  if (Array.isArray(o.nexthops)) o.nexthops = o.nexthops.map((n: unknown) => (typeof n === 'object' && n !== null ? { ...n } : n));
  return o as T;
};

function api(enqueue: Enqueue<LinkVariant>): TxLink {
  const addrs = (op: 'link.addresses.add' | 'link.addresses.delete', dev: string, list: string | string[]) => {
    const copy = typeof list === 'string' ? [list] : Array.isArray(list) ? [...list] : undefined;
    if (!copy) throw bad(`tx.${op}: addresses must be a string or an array of strings`, list);
    enqueue({ op, dev, addresses: copy });
  };
  return {
    add(link) {
      const copy = copyObject('tx.link.add: the link', link);
      if (typeof copy.peer === 'object' && copy.peer !== null) copy.peer = { ...copy.peer };
      enqueue({ op: 'link.add', link: copy });
      return this;
    },
    update(name, changes) { enqueue({ op: 'link.update', name, changes: copyObject('tx.link.update: the changes', changes) }); return this; },
    delete(name) { enqueue({ op: 'link.delete', name }); return this; },
    addresses: {
      add(dev, list) { addrs('link.addresses.add', dev, list); return this; },
      delete(dev, list) { addrs('link.addresses.delete', dev, list); return this; },
    },
    routes: {
      add(route) { enqueue({ op: 'link.routes.add', route: copyObject('tx.link.routes.add: the route', route) }); return this; },
      delete(route) { enqueue({ op: 'link.routes.delete', route: copyObject('tx.link.routes.delete: the route', route) }); return this; },
    },
    rules: {
      add(rule) { enqueue({ op: 'link.rules.add', rule: copyObject('tx.link.rules.add: the rule', rule) }); return this; },
      delete(rule) { enqueue({ op: 'link.rules.delete', rule: copyObject('tx.link.rules.delete: the rule', rule) }); return this; },
    },
  };
}

// ---- describe and order ----

const words = (o: Record<string, unknown>, skip: string[]) =>
  Object.entries(o).filter(([k, v]) => v !== undefined && !skip.includes(k)).map(([k, v]) => ` ${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('');

function describe(o: LinkVariant): string {
  switch (o.op) {
    case 'link.add': {
      const { name, kind, peer, ...rest } = o.link as unknown as Record<string, unknown>;
      const p = peer as { name?: unknown; netns?: unknown } | undefined;
      return `ip link add ${String(name)}${words(rest, [])} type ${String(kind)}${p ? ` peer name ${String(p.name)}${p.netns !== undefined ? ` netns ${String(p.netns)}` : ''}` : ''}`;
    }
    case 'link.update':
      return `ip link set ${String(o.name)}${words(o.changes as unknown as Record<string, unknown>, [])}`;
    case 'link.delete':
      return `ip link del ${String(o.name)}`;
    case 'link.addresses.add':
    case 'link.addresses.delete': {
      const what = o.addresses.length === 1 ? String(o.addresses[0]) : `(${o.addresses.length} addresses)`;
      return `ip addr ${o.op === 'link.addresses.add' ? 'add' : 'del'} ${what} dev ${String(o.dev)}`;
    }
    case 'link.routes.add':
    case 'link.routes.delete':
      return `ip route ${o.op === 'link.routes.add' ? 'add' : 'del'} ${String(o.route.dst)}${words(o.route as unknown as Record<string, unknown>, ['dst'])}`;
    case 'link.rules.add':
    case 'link.rules.delete':
      return `ip rule ${o.op === 'link.rules.add' ? 'add' : 'del'}${words(o.rule as unknown as Record<string, unknown>, [])}`;
  }
}

/** What an operation names, for the order: a later change of the same thing keeps a deletion early. */
function keys(o: LinkVariant): string[] {
  if (o.op === 'link.add') return [`link ${String(o.link.name)}`, ...(o.link.peer ? [`link ${String(o.link.peer.name)}`] : [])];
  if (o.op === 'link.update') return [`link ${String(o.name)}`, ...(o.changes.name !== undefined ? [`link ${String(o.changes.name)}`] : [])];
  if (o.op === 'link.delete') return [`link ${String(o.name)}`];
  // A link deleted and made again keeps its deletion early through the add's name; addresses name only themselves.
  if ('addresses' in o) return o.addresses.map((a) => `addr ${String(o.dev)} ${String(a)}`);
  if ('route' in o) return [`route ${String(o.route.dst)} ${String(o.route.table ?? 'main')}`];
  return [`rule ${String(o.rule.priority)}`];
}

function plan(items: QueuedLink[]): PlannedLinkOp[] {
  const late = releases(items, (o) => o.op.endsWith('.delete'), keys);
  return items.map((o) => ({ ...o, subsystem: 'link', phase: late.has(o.index) ? 'link-release' : 'link', summary: describe(o) }) as PlannedLinkOp);
}

// ---- records back to requests ----

const ADD_TYPES = new Set(['local', 'blackhole', 'unreachable', 'prohibit', 'throw']);
const RULE_ACTIONS = new Set(['blackhole', 'unreachable', 'prohibit']);
const tableOf = (t: string | undefined): string | number => (t === undefined ? 'main' : /^\d+$/.test(t) ? Number(t) : t);

/** IPv6 routes carry a router preference, IPv4 routes never. */
const routeFamily = (r: Route): 4 | 6 => (r.pref !== undefined || r.dst.includes(':') || (r.gateway ?? '').includes(':') ? 6 : 4);

/** Whether `h.routes.add` can make this record again (the kernel makes broadcast, multicast, anycast routes itself). */
const addable = (r: Route) => r.type === undefined || ADD_TYPES.has(r.type);

/** The request that makes (or deletes) exactly this `ip -j route` record. */
export function routeRequest(r: Route): RouteInput {
  return {
    dst: r.dst, family: routeFamily(r),
    ...(r.type !== undefined ? { type: r.type as RouteInput['type'] } : {}),
    ...(r.gateway !== undefined ? { gateway: r.gateway } : {}),
    ...(r.dev !== undefined ? { dev: r.dev } : {}),
    table: tableOf(r.table),
    ...(r.metric !== undefined ? { metric: r.metric } : {}),
    protocol: r.protocol ?? 'boot',
    scope: r.scope ?? 'global',
    ...(r.prefsrc !== undefined ? { prefsrc: r.prefsrc } : {}),
    ...(r.flags.includes('onlink') ? { onlink: true } : {}),
    ...(r.nexthops ? {
      nexthops: r.nexthops.map((n) => ({
        ...(n.gateway !== undefined ? { gateway: n.gateway } : {}), ...(n.dev !== undefined ? { dev: n.dev } : {}),
        weight: n.weight, ...(n.flags.includes('onlink') ? { onlink: true } : {}),
      })),
    } : {}),
  };
}

/** The request that makes (or deletes) exactly this `ip -j rule` record. */
export function ruleRequest(r: Rule, family: 4 | 6): RuleInput {
  const prefix = (a: string | undefined, len: number | undefined) => (a === undefined || a === 'all' ? undefined : len !== undefined ? `${a}/${len}` : a);
  const src = prefix(r.src, r.srclen), dst = prefix(r.dst, r.dstlen);
  return {
    family, priority: r.priority,
    ...(r.not === null ? { not: true } : {}),
    ...(src !== undefined ? { src } : {}), ...(dst !== undefined ? { dst } : {}),
    ...(r.fwmark !== undefined ? { fwmark: Number(r.fwmark) } : {}),
    ...(r.fwmask !== undefined ? { fwmask: Number(r.fwmask) } : {}),
    ...(r.iif !== undefined ? { iif: r.iif } : {}), ...(r.oif !== undefined ? { oif: r.oif } : {}),
    ...(r.action !== undefined && RULE_ACTIONS.has(r.action) ? { action: r.action as RuleInput['action'] } : { table: tableOf(r.table) }),
  };
}

const key = (x: unknown) => JSON.stringify(x);

// ---- the run ----

/** Where a link the transaction moved to another namespace went: undone from there. */
interface Moved { index: number; name: string; netnsPath: string }

/** The namespace a handle opened with `base` is in, as a path the kernel can move a link back to. */
const homeOf = (base: { netns?: string }): string => resolveNetns(base.netns ?? `/proc/${process.pid}/ns/net`, OP)!;

class LinkRun extends HandleRun<LinkHandle> implements ParticipantRun<PlannedLinkOp> {
  /** Addresses of the touched links (that exist before the transaction), by link. */
  readonly #addrs = new Map<string, Address[]>();
  /** Routes of the touched families. */
  #routes: Route[] | undefined;
  readonly #routeFamilies = new Set<4 | 6>();
  /** Rules of the touched families, by family. */
  readonly #rules = new Map<4 | 6, Rule[]>();
  /** Every link, when a link itself is added, changed or deleted. */
  #links: Link[] | undefined;
  readonly #moved: Moved[] = [];

  constructor(ctx: TxContext) {
    super(ctx, (base) => new LinkHandle(base));
  }

  /**
   * Every request checked as the handle checks it; the links each names exist when it runs
   * (the namespace's links, with those the transaction adds, renames, moves away and deletes
   * before it, in apply order).
   */
  async validate(ops: PlannedLinkOp[]): Promise<void> {
    const touchesLinks = ops.some((o) => o.op === 'link.add' || o.op === 'link.update' || o.op === 'link.delete');
    const needsNames = touchesLinks || ops.some((o) => 'addresses' in o || 'route' in o);
    const names = needsNames ? new Set((await this.h.list()).map((l) => l.name)) : new Set<string>();
    const existing = new Set(names);
    const need = (d: string, o: PlannedLinkOp, role = 'link') => {
      if (!names.has(d)) throw blame(new NotFoundError(`${role} ${d} does not exist`, { op: o.op, subsystem: 'link', code: 'ENODEV' }), o);
    };
    for (const o of ops) {
      try {
        if (o.op === 'link.add') {
          const c = checkAdd(o.link, o.op);
          if (names.has(o.link.name)) throw new ExistsError(`link ${o.link.name} already exists`, { op: o.op, subsystem: 'link', code: 'EEXIST' });
          if (c.master !== undefined) need(c.master, o, 'master');
          if (c.link !== undefined) need(c.link, o);
          names.add(o.link.name);
          if (c.peer && c.peer.netnsPath === undefined) names.add(c.peer.name);
        } else if (o.op === 'link.update') {
          const c = checkUpdate(o.name, o.changes, o.op);
          need(o.name, o);
          if (typeof c.master === 'string') need(c.master, o, 'master');
          if (c.netnsPath !== undefined || c.change.name !== undefined) names.delete(o.name);
          if (c.netnsPath === undefined && c.change.name !== undefined) names.add(c.change.name);
          // Down, a rename or a move takes the link's addresses and routes with it: both families are put back.
          if (existing.has(o.name)) this.#addrs.set(o.name, []);
          this.#routeFamilies.add(4).add(6);
        } else if (o.op === 'link.delete') {
          need(checkLinkName(o.name, o.op), o);
          names.delete(o.name);
          if (existing.has(o.name)) this.#addrs.set(o.name, []);
          this.#routeFamilies.add(4).add(6);
        } else if ('addresses' in o) {
          checkLinkName(o.dev, o.op);
          need(o.dev, o);
          if (existing.has(o.dev)) this.#addrs.set(o.dev, []);
          for (let i = 0; i < o.addresses.length; i++) {
            try {
              this.#routeFamilies.add(parsePrefix(o.addresses[i], o.op).family === 'inet' ? 4 : 6);
            } catch (e) {
              throw blame(e as Error, o, i);
            }
          }
        } else if ('route' in o) {
          const c = checkRoute(o.route, o.op, o.op === 'link.routes.add' ? 'add' : 'delete');
          for (const d of c.devs) need(d, o);
          this.#routeFamilies.add(c.resolve(() => 0).family === 'inet' ? 4 : 6);
        } else {
          const spec = checkRule(o.rule, o.op);
          this.#rules.set(spec.family === 'inet' ? 4 : 6, []);
        }
      } catch (e) {
        throw blame(e as Error, o);
      }
    }
    if (touchesLinks) this.#links = [];
  }

  async snapshot(): Promise<void> {
    if (this.#links) this.#links = await this.h.list();
    for (const dev of this.#addrs.keys()) this.#addrs.set(dev, await this.h.listAddresses(dev));
    if (this.#routeFamilies.size) this.#routes = (await this.h.routes.list()).filter((r) => this.#routeFamilies.has(routeFamily(r)));
    for (const f of this.#rules.keys()) this.#rules.set(f, await this.h.rules.list(f));
  }

  async apply(o: PlannedLinkOp): Promise<void> {
    const h = this.h;
    switch (o.op) {
      case 'link.add': return h.add(o.link);
      case 'link.update': {
        if (o.changes.netns === undefined) return h.update(o.name, o.changes);
        const { index } = await h.get(o.name);
        const moved = { index, name: o.changes.name ?? o.name, netnsPath: resolveNetns(o.changes.netns, o.op)! };
        await h.update(o.name, o.changes);
        this.#moved.push(moved);
        return;
      }
      case 'link.delete': return h.delete(o.name);
      case 'link.addresses.add': return h.addAddresses(o.dev, o.addresses);
      case 'link.addresses.delete': return h.delAddresses(o.dev, o.addresses);
      case 'link.routes.add': return h.routes.add(o.route);
      case 'link.routes.delete': return h.routes.delete(o.route);
      case 'link.rules.add': return h.rules.add(o.rule);
      case 'link.rules.delete': return h.rules.delete(o.rule);
    }
  }

  /** Rules, links, addresses, then routes: each set of records back to the snapshot's. */
  async restore(_started: PlannedLinkOp[], _failedLast: boolean, log: UndoLog): Promise<void> {
    const h = this.h;
    for (const [family, saved] of this.#rules) {
      let now: Rule[] = [];
      if (!(await log.step(`ip -${family} rule show`, async () => (now = await h.rules.list(family)), true))) continue;
      const want = new Set(saved.map(key)), have = new Set(now.map(key));
      for (const r of now) if (!want.has(key(r))) await log.step(`ip rule del priority ${r.priority}`, () => h.rules.delete(ruleRequest(r, family)));
      for (const r of saved) if (!have.has(key(r))) await log.step(`ip rule add priority ${r.priority}`, () => h.rules.add(ruleRequest(r, family)));
    }
    if (this.#links) await this.#restoreLinks(this.#links, log);
    for (const [dev, saved] of this.#addrs) {
      let now: Address[] = [];
      if (!(await log.step(`ip addr show dev ${dev}`, async () => (now = await h.listAddresses(dev)), true))) continue;
      const want = new Map(saved.map((a) => [a.address, a])), have = new Map(now.map((a) => [a.address, a]));
      const extra = now.filter((a) => !want.has(a.address)).map((a) => a.address);
      const missing = saved.filter((a) => !have.has(a.address)).map((a) => a.address);
      if (extra.length) await log.step(`ip addr del ${extra.join(' ')} dev ${dev}`, () => h.delAddresses(dev, extra, { missingOk: true }));
      if (missing.length) await log.step(`ip addr add ${missing.join(' ')} dev ${dev}`, () => h.addAddresses(dev, missing, { exist: true }));
    }
    if (this.#routes) await this.#restoreRoutes(this.#routes, log);
  }

  /**
   * Links back to the snapshot, matched by ifindex: moved ones come back first, added ones
   * are deleted (a veth's peer goes with it), deleted ones are made again, then each one's
   * name, mtu, mac, master and up/down are set back (down while it is renamed: the kernel
   * refuses to rename a link that is up).
   */
  async #restoreLinks(saved: Link[], log: UndoLog): Promise<void> {
    const h = this.h;
    for (const m of [...this.#moved].reverse()) {
      const was = saved.find((l) => l.index === m.index);
      if (!was) continue;
      await log.step(`ip -n ${m.netnsPath} link set ${m.name} netns (back)`, async () => {
        const there = new LinkHandle({ netns: m.netnsPath });
        try {
          await there.update(m.name, { netns: homeOf(this.ctx.base), ...(m.name !== was.name ? { name: was.name } : {}), up: false });
        } finally {
          await there.close();
        }
      });
    }
    let now: Link[] = [];
    if (!(await log.step('ip link show', async () => (now = await h.list()), true))) return;
    const before = new Map(saved.map((l) => [l.index, l]));
    for (const l of now) {
      if (before.has(l.index)) continue;
      await log.step(`ip link del ${l.name}`, () => h.delete(l.name, { exist: true }));
    }
    if (!(await log.step('ip link show', async () => (now = await h.list()), true))) return;
    const byIndex = new Map(now.map((l) => [l.index, l]));
    for (const was of saved) {
      if (byIndex.has(was.index) || now.some((l) => l.name === was.name)) continue;
      const peer = was.kind === 'veth' && typeof was.link === 'string' ? saved.find((l) => l.name === was.link) : undefined;
      if (peer && !byIndex.has(peer.index) && peer.index < was.index) continue; // made with its peer
      await log.step(`ip link add ${was.name} type ${was.kind ?? '?'}`, async () => {
        if (!was.kind || !['dummy', 'ifb', 'bridge', 'veth'].includes(was.kind)) throw new InvalidArgumentError(`link ${was.name} (${was.kind ?? 'no kind'}) cannot be made again here`, { op: OP, subsystem: 'link' });
        await h.add({
          name: was.name, kind: was.kind as AddLinkInput['kind'], mtu: was.mtu, ...(was.mac ? { mac: was.mac } : {}),
          ...(peer && !byIndex.has(peer.index) ? { peer: { name: peer.name, ...(peer.mac ? { mac: peer.mac } : {}) } } : {}),
        });
      });
    }
    if (!(await log.step('ip link show', async () => (now = await h.list()), true))) return;
    const current = (l: Link) => now.find((x) => x.index === l.index) ?? now.find((x) => x.name === l.name);
    for (const was of saved) {
      const l = current(was);
      if (!l) continue;
      if (l.name !== was.name) {
        // Down first, in its own request: the kernel renames before it changes flags, and refuses to rename a link that is up.
        if (l.up) await log.step(`ip link set ${l.name} down`, () => h.update(l.name, { up: false }));
        await log.step(`ip link set ${l.name} name ${was.name}`, () => h.update(l.name, { name: was.name }));
      }
      const changes: UpdateLinkInput = {};
      if (l.mtu !== was.mtu) changes.mtu = was.mtu;
      if (was.mac !== undefined && l.mac !== was.mac) changes.mac = was.mac;
      if ((l.master ?? null) !== (was.master ?? null)) changes.master = was.master ?? null;
      if (Object.keys(changes).length) await log.step(`ip link set ${was.name}${words(changes as Record<string, unknown>, [])}`, () => h.update(was.name, changes));
    }
    if (!(await log.step('ip link show', async () => (now = await h.list()), true))) return;
    for (const was of saved) {
      const l = current(was);
      if (l && l.up !== was.up) await log.step(`ip link set ${was.name} ${was.up ? 'up' : 'down'}`, () => h.update(was.name, { up: was.up }));
    }
  }

  async #restoreRoutes(saved: Route[], log: UndoLog): Promise<void> {
    const h = this.h;
    let now: Route[] = [];
    if (!(await log.step('ip route show table all', async () => (now = (await h.routes.list()).filter((r) => this.#routeFamilies.has(routeFamily(r)))), true))) return;
    const want = new Set(saved.map(key)), have = new Set(now.map(key));
    for (const r of now) {
      if (want.has(key(r)) || !addable(r)) continue;
      // Deleting one route can take others with it: a route already gone is not an error here.
      await log.step(`ip route del ${r.dst}${r.table ? ` table ${r.table}` : ''}`, () => h.routes.delete(routeRequest(r)).catch((e: unknown) => {
        if (!(e instanceof NlkitError && (e.code === 'ESRCH' || e instanceof NotFoundError))) throw e;
      }));
    }
    // A route through a gateway needs the route to that gateway first: what fails is tried again.
    await undoInRounds(log, saved.filter((r) => !have.has(key(r)) && addable(r)), (r) => `ip route add ${r.dst}${r.table ? ` table ${r.table}` : ''}`,
      (r) => h.routes.add(routeRequest(r)));
  }
}

/**
 * The link participant of transaction(): addresses, routes and rules, before everything that
 * names them and removed after.
 *
 * @example
 *   await transaction((tx) => {
 *     tx.link.addresses.add('kube-ipvs0', ['10.96.0.10/32']);
 *     tx.ipvs.addService({ protocol: 'tcp', address: '10.96.0.10', port: 80 });
 *   });
 */
export const linkParticipant = participant<'link', TxLink, QueuedLink, PlannedLinkOp>('link', LinkRun, { releases: true, api, plan });
