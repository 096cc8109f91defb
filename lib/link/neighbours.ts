// h.neighbours: the neighbour (ARP / NDP) tables of the handle's namespace, in `ip neigh`'s
// terms: add/replace/delete/list/flush, permanent and proxy entries. Input is checked whole
// before anything is sent; the worker resolves the link's name in its namespace.
import { constants } from 'node:os';
import { NotFoundError } from '../core/errors.js';
import { badArgument } from '../core/args.js';
import { NETLINK_ROUTE } from '../netlink/headers.js';
import { dump, kernelError, send } from '../netlink/transport.js';
import { binding, type RawWorker } from '../core/native.js';
import { AF_INET, AF_INET6, SUBSYSTEM, checkLinkName, formatIp, parseIPv4, parseIPv6 } from './addr.js';
import { parseMac } from './link-wire.js';
import {
  RTM_NEWNEIGH, NTF_EXT_LEARNED, NTF_PROXY, NTF_ROUTER, NUD_NOARP, NUD_PERMANENT, NUD_STATES, dumpNeighs, neighMessage, parseNeigh,
  stateNames, type NeighCommand, type NeighRecord, type NeighSpec,
} from './neigh-wire.js';
import { invalid, type RunOn } from './routes.js';
import { RtObjects, checkThen, type ManyKind } from './many.js';
import { RtWriter, Rtm, dumpLinks, eachMessage, parseLink } from './wire.js';

/**
 * A neighbour entry as `ip -j neigh show` prints it (`ip -j neigh show proxy` for proxy
 * entries): ip's `"router": null` / `"proxy": null` markers are `true` here.
 */
export interface Neighbour {
  dst: string;
  dev: string;
  lladdr?: string;
  router?: true;
  proxy?: true;
  /** NUD states, upper case as ip prints them: ['PERMANENT'], ['REACHABLE'], ['STALE'], ... (absent for proxy entries). */
  state?: string[];
}

/** An entry to add, replace or delete: `ip neigh add [proxy] DST lladdr MAC dev DEV [nud STATE] [router]`. */
export interface NeighbourInput {
  dst: string;
  dev: string;
  lladdr?: string;
  /** 'permanent' (default, as ip), 'noarp', 'reachable', 'stale', 'delay', 'probe', 'incomplete', 'failed'. */
  state?: string;
  /** A proxy ARP/NDP entry (no lladdr). */
  proxy?: boolean;
  router?: boolean;
}

const ENOENT = constants.errno.ENOENT;
const KEYS = new Set(['dst', 'dev', 'lladdr', 'state', 'proxy', 'router']);
const STATES = new Map(NUD_STATES.map(([bit, n]) => [n.toLowerCase(), bit]));

interface Checked {
  dev: string;
  spec: NeighSpec;
}

/** Neighbour entries for addMany: no objects made per entry on the way to the wire. */
const MANY: ManyKind<Checked> = {
  devs: (c) => [c.dev],
  what: (c) => `neighbour ${formatIp(c.spec.family === AF_INET ? 'inet' : 'inet6', c.spec.dst)} dev ${c.dev}`,
  write: (w, c, index, undo) => {
    c.spec.ifindex = index(c.dev);
    neighMessage(w, undo ? 'delete' : 'add', c.spec);
  },
};

function check(op: string, cmd: NeighCommand, input: unknown): Checked {
  const ctx = { op, subsystem: SUBSYSTEM };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw badArgument(ctx, 'neighbour', input, "an object like { dst: '10.0.0.2', lladdr: '02:00:00:00:00:01', dev: 'eth0' }");
  }
  const n = input as Record<string, unknown>;
  for (const k of Object.keys(n)) if (!KEYS.has(k)) throw invalid(op, `unknown neighbour field "${k}"`, k);
  const dev = checkLinkName(n.dev, op);
  const b4 = typeof n.dst === 'string' ? parseIPv4(n.dst) : undefined;
  const b6 = typeof n.dst === 'string' && !b4 ? parseIPv6(n.dst) : undefined;
  if (!b4 && !b6) throw badArgument(ctx, 'dst', n.dst, 'an IPv4 or IPv6 address');
  if (n.proxy !== undefined && typeof n.proxy !== 'boolean') throw badArgument(ctx, 'proxy', n.proxy, 'true or false');
  if (n.router !== undefined && typeof n.router !== 'boolean') throw badArgument(ctx, 'router', n.router, 'true or false');
  let lladdr: Uint8Array | undefined;
  if (n.lladdr !== undefined) {
    if (n.proxy) throw invalid(op, 'a proxy entry has no lladdr', n.lladdr);
    lladdr = parseMac(n.lladdr);
    if (!lladdr) throw badArgument(ctx, 'lladdr', n.lladdr, "a MAC address like '02:00:00:00:00:01'");
  }
  let state = NUD_PERMANENT;
  if (n.state !== undefined) {
    const s = typeof n.state === 'string' ? STATES.get(n.state.toLowerCase()) : undefined;
    if (s === undefined) throw badArgument(ctx, 'state', n.state, `one of ${[...STATES.keys()].join(', ')}`);
    if (n.proxy) throw invalid(op, 'a proxy entry has no state', n.state);
    state = s;
  }
  if (cmd !== 'delete' && !n.proxy && !lladdr && state !== NUD_NOARP && state !== 0x01 && state !== 0x20) {
    throw invalid(op, `a ${n.state ?? 'permanent'} entry needs lladdr`, input);
  }
  const flags = (n.proxy ? NTF_PROXY : 0) | (n.router ? NTF_ROUTER : 0);
  return { dev, spec: { family: b4 ? AF_INET : AF_INET6, ifindex: 0, dst: (b4 ?? b6)!, state, flags, ...(lladdr ? { lladdr } : {}) } };
}

/**
 * h.neighbours: `ip neigh add/replace/del/show/flush` in the handle's namespace. add() makes a
 * permanent entry unless `state` says otherwise (an entry that is not NOARP or proxy needs
 * `lladdr`); replace() and delete() find the entry by `dst` on `dev` (the proxy entry with
 * `proxy: true`).
 * @example
 * await h.neighbours.add({ dst: '10.0.0.2', lladdr: '02:00:00:00:00:02', dev: 'eth0' });
 * await h.neighbours.add({ dst: '10.0.0.9', dev: 'eth0', proxy: true });
 * console.log(await h.neighbours.list());
 */
export class Neighbours extends RtObjects<NeighbourInput, Pick<NeighbourInput, 'dst' | 'dev' | 'proxy'>, ReturnType<typeof check>> {
  /** @internal made by LinkHandle */
  constructor(run: RunOn) {
    super(run, 'neighbours', MANY);
  }

  protected checkEntry(op: string, x: unknown): ReturnType<typeof check> {
    return check(op, 'add', x);
  }

  /**
   * Entries as `ip -j neigh show` lists them (it leaves out NOARP and state-less entries; `all`
   * keeps them), or with `proxy` the proxy entries as `ip -j neigh show proxy`. `dev` keeps one link's.
   * @example const perm = (await h.neighbours.list({ dev: 'eth0' })).filter((n) => n.state?.includes('PERMANENT'));
   */
  list(opts: { dev?: string; proxy?: boolean; all?: boolean } = {}): Promise<Neighbour[]> {
    const op = 'link.neighbours.list';
    return checkThen(() => checkListOpts(op, opts), () => this.run(op, async (w) => {
      const { names, records } = await read(op, w, opts.proxy === true);
      if (opts.dev !== undefined && ![...names.values()].includes(opts.dev)) {
        throw new NotFoundError(`${op}: link ${opts.dev} does not exist`, { op, subsystem: SUBSYSTEM, code: 'ENODEV' });
      }
      return records.filter((r) => (opts.all || opts.proxy || shownByIp(r)) && (opts.dev === undefined || names.get(r.ifindex) === opts.dev))
        .map((r) => toNeighbour(r, names));
    }));
  }

  /**
   * Removes the learned entries (not permanent, not NOARP: what `ip neigh flush` removes) of
   * one link, or of every link, and resolves how many were removed.
   * @example const n = await h.neighbours.flush({ dev: 'eth0' });
   */
  flush(opts: { dev?: string; family?: 4 | 6 } = {}): Promise<number> {
    const op = 'link.neighbours.flush';
    return checkThen(() => checkListOpts(op, opts), () => this.run(op, async (w) => {
      const { names, records } = await read(op, w, false);
      let index: number | undefined;
      if (opts.dev !== undefined) {
        index = [...names].find(([, n]) => n === opts.dev)?.[0];
        if (index === undefined) throw new NotFoundError(`${op}: link ${opts.dev} does not exist`, { op, subsystem: SUBSYSTEM, code: 'ENODEV' });
      }
      const fam = opts.family === 4 ? 'inet' : opts.family === 6 ? 'inet6' : undefined;
      const gone = records.filter((r) => (index === undefined || r.ifindex === index) && (!fam || r.family === fam) &&
        r.state !== 0 && !(r.state & (NUD_PERMANENT | NUD_NOARP)));
      if (gone.length === 0) return 0;
      const wr = new RtWriter(64 + gone.length * 48);
      for (const r of gone) {
        const b = r.family === 'inet' ? parseIPv4(r.dst)! : parseIPv6(r.dst)!;
        neighMessage(wr, 'delete', { family: r.family === 'inet' ? AF_INET : AF_INET6, ifindex: r.ifindex, dst: b, state: 0, flags: 0 });
      }
      // An entry that went away by itself meanwhile is not a failure of the flush.
      const res = await send(w, NETLINK_ROUTE, wr.batch(), { tolerate: [ENOENT] });
      let n = 0;
      for (let i = 0; i < gone.length; i++) {
        const e = res.errnos[i]!;
        if (e === 0) n++;
        else if (e !== ENOENT) throw kernelError(op, SUBSYSTEM, e, { what: `neighbour ${gone[i]!.dst}`, detail: res.messages[i] });
      }
      return n;
    }));
  }

  protected change(op: string, cmd: NeighCommand, input: unknown): Promise<void> {
    return checkThen(() => check(op, cmd, input), (c) => this.run(op, async (w) => {
      // The worker writes the link's index (ndm_ifindex sits where ifa_index does): no link dump per entry.
      const m = new RtWriter(64);
      neighMessage(m, cmd, { ...c.spec, ifindex: 0 });
      const req = m.batch();
      const res = await binding().linkSend(w, req.bytes, req.ends, { ifname: c.dev });
      const e = res.errnos[0]!;
      if (e) throw kernelError(op, SUBSYSTEM, e, { what: `neighbour ${(input as NeighbourInput).dst} dev ${c.dev}`, detail: res.messages[0] });
    }));
  }
}

function checkListOpts(op: string, opts: unknown): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw badArgument({ op, subsystem: SUBSYSTEM }, 'options', opts, 'an object');
  const o = opts as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['dev', 'proxy', 'all', 'family'].includes(k)) throw invalid(op, `unknown option "${k}"`, k);
  }
  if (o.dev !== undefined) checkLinkName(o.dev, op);
  for (const k of ['proxy', 'all']) if (o[k] !== undefined && typeof o[k] !== 'boolean') throw badArgument({ op, subsystem: SUBSYSTEM }, k, o[k], 'true or false');
  if (o.family !== undefined && o.family !== 4 && o.family !== 6) throw badArgument({ op, subsystem: SUBSYSTEM }, 'family', o.family, '4 or 6');
}

/** One crossing: the links (for names) and the neighbour dump. */
async function read(op: string, w: RawWorker, proxy: boolean): Promise<{ names: Map<number, string>; records: NeighRecord[] }> {
  const wr = new RtWriter(128);
  dumpLinks(wr);
  dumpNeighs(wr, proxy);
  const r = await dump(w, NETLINK_ROUTE, wr.batch());
  for (let i = 0; i < r.errnos.length; i++) if (r.errnos[i]) throw kernelError(op, SUBSYSTEM, r.errnos[i]!, { detail: r.messages[i] });
  const names = new Map<number, string>();
  eachMessage(r.data, 0, r.sections[0]!, (type, at, len) => {
    if (type === Rtm.NewLink) { const l = parseLink(r.data, at, len); names.set(l.index, l.name); }
  });
  const records: NeighRecord[] = [];
  eachMessage(r.data, r.sections[0]!, r.sections[1]!, (type, at, len) => {
    if (type !== RTM_NEWNEIGH) return;
    const n = parseNeigh(r.data, at, len);
    if (n) records.push(n);
  });
  return { names, records };
}

/** iproute2's default filter for `ip neigh show`: every state but NOARP; state-less entries only when proxy or externally learned. */
const shownByIp = (r: NeighRecord): boolean =>
  (r.state & (0xff & ~NUD_NOARP)) !== 0 || (r.flags & (NTF_PROXY | NTF_EXT_LEARNED)) !== 0;

export function toNeighbour(r: NeighRecord, names: Map<number, string>): Neighbour {
  const n: Neighbour = { dst: r.dst, dev: names.get(r.ifindex) ?? `if${r.ifindex}` };
  if (r.lladdr !== undefined) n.lladdr = r.lladdr;
  if (r.flags & NTF_ROUTER) n.router = true;
  if (r.flags & NTF_PROXY) n.proxy = true;
  if (r.state) n.state = stateNames(r.state);
  return n;
}
