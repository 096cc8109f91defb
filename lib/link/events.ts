// h.events: rtnetlink notifications (links, addresses, routes, neighbours) of the handle's
// namespace as an async iterable of the same records list() returns. With `list: true` the
// objects already there come first: the subscription is opened before the dump (so nothing
// that changes in between is missed) and an event that the listing already shows is dropped
// (the race vishvananda/netlink #318 describes: list-then-subscribe misses changes,
// subscribe-then-list repeats them).
import { NlkitError } from '../core/errors.js';
import { NETLINK_ROUTE, NLMSG_HDRLEN } from '../netlink/headers.js';
import { dump, kernelError, subscribe, type Subscription } from '../netlink/transport.js';
import type { RawWorker } from '../core/native.js';
import { badArgument } from '../core/args.js';
import { SUBSYSTEM } from './addr.js';
import { dumpLinksWithStats, parseLinkFull, type LinkRecordFull } from './link-wire.js';
import { toLink } from './links.js';
import { dumpNeighs, parseNeigh, RTM_DELNEIGH, RTM_NEWNEIGH } from './neigh-wire.js';
import { toNeighbour, type Neighbour } from './neighbours.js';
import { dumpRoutes, parseRoute, type Route } from './route-wire.js';
import { RtWriter, Rtm, dumpAddrs, eachMessage, parseAddr, type AddrRecord } from './wire.js';
import type { Address, Link } from './types.js';

export type EventGroup = 'link' | 'address' | 'route' | 'neighbour';

/**
 * One change, carrying the record as list() reports it (`h.list()`, `h.listAddresses()`,
 * `h.routes.list()`, `h.neighbours.list()`: `ip -j` field names for routes and neighbours).
 * `deleted`: the kernel removed it (RTM_DEL*); `existing`: it was there when a `list: true`
 * subscription started.
 */
export type LinkEvent =
  | { group: 'link'; deleted: boolean; existing?: true; link: Link }
  | { group: 'address'; deleted: boolean; existing?: true; address: Address }
  | { group: 'route'; deleted: boolean; existing?: true; route: Route }
  | { group: 'neighbour'; deleted: boolean; existing?: true; neighbour: Neighbour };

export interface EventsOptions {
  /** Default: all four. */
  groups?: EventGroup[];
  /** Aborting it ends the iteration. */
  signal?: AbortSignal;
  /** First the objects already there (as events with `existing: true`), then the changes, none missed or repeated. */
  list?: boolean;
}

const RTNLGRP_LINK = 1, RTNLGRP_NEIGH = 3, RTNLGRP_IPV4_IFADDR = 5, RTNLGRP_IPV4_ROUTE = 7, RTNLGRP_IPV6_IFADDR = 9, RTNLGRP_IPV6_ROUTE = 11;
const GROUPS: Record<EventGroup, number[]> = {
  link: [RTNLGRP_LINK], address: [RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR], route: [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE], neighbour: [RTNLGRP_NEIGH],
};
const ALL: EventGroup[] = ['link', 'address', 'route', 'neighbour'];

/** Checks the options; throws InvalidArgumentError. */
export function checkEventsOptions(op: string, opts: unknown): { groups: Set<EventGroup>; signal?: AbortSignal; list: boolean } {
  const ctx = { op, subsystem: SUBSYSTEM };
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw badArgument(ctx, 'options', opts, 'an object');
  const o = opts as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['groups', 'signal', 'list'].includes(k)) throw badArgument(ctx, k, o[k], 'not given (unknown option)');
  let groups = ALL;
  if (o.groups !== undefined) {
    if (!Array.isArray(o.groups) || o.groups.length === 0 || !o.groups.every((g) => (ALL as unknown[]).includes(g))) {
      throw badArgument(ctx, 'groups', o.groups, `a non-empty array of ${ALL.join(', ')}`);
    }
    groups = o.groups as EventGroup[];
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw badArgument(ctx, 'signal', o.signal, 'an AbortSignal');
  if (o.list !== undefined && typeof o.list !== 'boolean') throw badArgument(ctx, 'list', o.list, 'true or false');
  return { groups: new Set(groups), ...(o.signal ? { signal: o.signal as AbortSignal } : {}), list: o.list === true };
}

type ToAddress = (r: AddrRecord, link: string) => Address;

/** What identifies an object across events (a NEW for a key already shown with equal content repeats it). */
function keyOf(e: LinkEvent, af: number): string {
  switch (e.group) {
    case 'link': return `l ${e.link.index}`;
    case 'address': return `a ${e.address.index} ${e.address.address}`;
    case 'route': return `r ${af} ${e.route.table ?? 'main'} ${e.route.type ?? ''} ${e.route.dst} ${e.route.metric ?? ''}`;
    case 'neighbour': return `n ${e.neighbour.dev} ${e.neighbour.dst} ${e.neighbour.proxy ? 'p' : ''}`;
  }
}

const content = (e: LinkEvent): string => JSON.stringify(e.group === 'link' ? e.link : e.group === 'address' ? e.address : e.group === 'route' ? e.route : e.neighbour);

/**
 * Opens the subscription on `w` (the handle's worker), reads the links (and with `list` the
 * objects already there), and resolves the iterator; `onClose` learns the subscription so the
 * handle can close it with itself.
 */
export async function watch(op: string, w: RawWorker, o: { groups: Set<EventGroup>; signal?: AbortSignal; list: boolean },
  toAddress: ToAddress, onClose: (s: Subscription) => void): Promise<AsyncIterableIterator<LinkEvent>> {
  const queue: LinkEvent[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const links = new Map<number, LinkRecordFull>();
  const name = (i: number) => links.get(i)?.name ?? `if${i}`;
  // With `list`, the state shown so far (key → content): an event that does not change it is a repeat.
  const shown = o.list ? new Map<string, string>() : undefined;

  const push = (e: LinkEvent, af: number) => {
    if (shown) {
      const k = keyOf(e, af);
      if (e.deleted) {
        if (!shown.has(k)) return;
        shown.delete(k);
      } else {
        const c = content(e);
        if (shown.get(k) === c) return;
        shown.set(k, c);
      }
    }
    queue.push(e);
  };

  /** One message: keeps link names current (for every group), pushes the events of the groups asked for. */
  const onMessage = (data: Buffer, type: number, at: number, len: number, existing: boolean) => {
    const af = data[at + NLMSG_HDRLEN]!;
    const ex = existing ? { existing: true as const } : {};
    if (type === Rtm.NewLink || type === Rtm.DelLink) {
      const rec = parseLinkFull(data, at, len);
      const deleted = type === Rtm.DelLink;
      links.set(rec.index, rec);
      if (o.groups.has('link')) {
        const { stats: _, ...l } = toLink(rec, links);
        push({ group: 'link', deleted, ...ex, link: l }, af);
      }
      if (deleted) links.delete(rec.index);
    } else if ((type === Rtm.NewAddr || type === Rtm.DelAddr) && o.groups.has('address')) {
      const a = parseAddr(data, at, len);
      if (a) push({ group: 'address', deleted: type === Rtm.DelAddr, ...ex, address: toAddress(a, name(a.index)) }, af);
    } else if ((type === Rtm.NewRoute || type === Rtm.DelRoute) && o.groups.has('route')) {
      const r = parseRoute(data, at, len, name);
      if (r) push({ group: 'route', deleted: type === Rtm.DelRoute, ...ex, route: r }, af);
    } else if ((type === RTM_NEWNEIGH || type === RTM_DELNEIGH) && o.groups.has('neighbour')) {
      const n = parseNeigh(data, at, len);
      if (n) push({ group: 'neighbour', deleted: type === RTM_DELNEIGH, ...ex, neighbour: toNeighbour(n, new Map([[n.ifindex, name(n.ifindex)]])) }, af);
    }
  };

  const groups = [...new Set([RTNLGRP_LINK, ...[...o.groups].flatMap((g) => GROUPS[g])])];
  // Until the dump is in, notifications wait here (with `list` they come after the listing).
  let held: Buffer[] | undefined = [];
  const sub = await subscribe(w, NETLINK_ROUTE, groups, (data, overrun) => {
    if (overrun) {
      failure = new NlkitError(`${op}: the kernel dropped events (the socket's buffer was full): what was read may be stale`,
        { op, subsystem: SUBSYSTEM, code: 'ENOBUFS' });
    }
    if (held) held.push(Buffer.from(data));
    else eachMessage(data, 0, data.length, (type, at, len) => onMessage(data, type, at, len, false));
    wake?.();
  }, o.signal ? { signal: o.signal } : {});
  onClose(sub);
  try {
    // Link names for the events of every group (and the listing, with `list`): one dump.
    const wr = new RtWriter(128);
    dumpLinksWithStats(wr);
    if (o.list && o.groups.has('address')) dumpAddrs(wr);
    if (o.list && o.groups.has('route')) dumpRoutes(wr);
    if (o.list && o.groups.has('neighbour')) { dumpNeighs(wr, false); dumpNeighs(wr, true); }
    const r = await dump(w, NETLINK_ROUTE, wr.batch());
    for (let i = 0; i < r.errnos.length; i++) if (r.errnos[i]) throw kernelError(op, SUBSYSTEM, r.errnos[i]!, { detail: r.messages[i] });
    let from = 0;
    for (const to of r.sections) {
      eachMessage(r.data, from, to, (type, at, len) => {
        if (o.list) onMessage(r.data, type, at, len, true);
        else if (type === Rtm.NewLink) { const l = parseLinkFull(r.data, at, len); links.set(l.index, l); }
      });
      from = to;
    }
  } catch (e) {
    sub.close();
    throw e;
  }
  const pending = held;
  held = undefined;
  for (const data of pending) eachMessage(data, 0, data.length, (type, at, len) => onMessage(data, type, at, len, false));

  // An abort closes the subscription (subscribe's signal): wake a waiting next() to end.
  o.signal?.addEventListener('abort', () => wake?.(), { once: true });
  const done = (): IteratorResult<LinkEvent> => ({ value: undefined, done: true });
  const it: AsyncIterableIterator<LinkEvent> = {
    async next() {
      for (;;) {
        // An abort ends the iteration at once, events still queued or not.
        if (o.signal?.aborted) { sub.close(); queue.length = 0; return done(); }
        if (queue.length) return { value: queue.shift()!, done: false };
        if (failure) { sub.close(); const f = failure; failure = undefined; throw f; }
        if (sub.closed) return done();
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = undefined;
      }
    },
    async return() {
      sub.close();
      queue.length = 0;
      return done();
    },
    [Symbol.asyncIterator]() { return it; },
  };
  return it;
}
