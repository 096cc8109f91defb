// h.add / h.update / h.get / h.list for links of every kind: input checked whole before
// anything is sent (bad input of any JS type is an InvalidArgumentError and changes nothing),
// link names resolved from one dump, namespaces passed to the kernel as open namespace files.
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import { InvalidArgumentError, NlkitError, NotFoundError } from '../core/errors.js';
import { addMany, type ManyKind } from './many.js';
import { badArgument } from '../core/args.js';
import { resolveNetns } from '../core/netns.js';
import { NETLINK_ROUTE } from '../netlink/headers.js';
import { dump, send } from '../netlink/transport.js';
import type { RawWorker } from '../core/native.js';
import { SUBSYSTEM, checkLinkName, parseIPv4, parseIPv6 } from './addr.js';
import { kernelError } from './errors.js';
import {
  MACVLAN_MODES, addLinkMessage, dumpLinksWithStats, flagNames, operstateName, parseLinkFull, parseMac, setLinkMessage,
  type LinkChange, type LinkRecordFull, type LinkSpec,
} from './link-wire.js';
import { RtWriter, Rtm, delLink, eachMessage } from './wire.js';
import type { AddLinkInput, Link, LinkKind, UpdateLinkInput } from './types.js';

const KINDS: readonly LinkKind[] = ['dummy', 'ifb', 'veth', 'bridge', 'vlan', 'macvlan', 'vxlan', 'ipip', 'gre', 'sit'];
const COMMON = ['name', 'kind', 'mac', 'mtu', 'up', 'master'];
/** The fields each kind takes beyond the common ones. */
const KIND_KEYS: Record<LinkKind, string[]> = {
  dummy: [], ifb: [], bridge: [],
  veth: ['peer'],
  vlan: ['link', 'id'],
  macvlan: ['link', 'mode'],
  vxlan: ['id', 'local', 'remote', 'port', 'link', 'ttl'],
  ipip: ['local', 'remote', 'link', 'ttl'],
  gre: ['local', 'remote', 'link', 'ttl'],
  sit: ['local', 'remote', 'link', 'ttl'],
};
const PEER_KEYS = new Set(['name', 'mac', 'netns']);
const UPDATE_KEYS = new Set(['up', 'mtu', 'mac', 'master', 'netns', 'name']);

const ctxOf = (op: string) => ({ op, subsystem: SUBSYSTEM });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(op: string, what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw badArgument(ctxOf(op), what, v, `an integer from ${min} to ${max}`);
  }
  return v;
}

function mac(op: string, what: string, v: unknown): Uint8Array {
  const b = parseMac(v);
  if (!b) throw badArgument(ctxOf(op), what, v, "a MAC address like '02:00:00:00:00:01'");
  return b;
}

function bool(op: string, what: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw badArgument(ctxOf(op), what, v, 'true or false');
  return v;
}

function ip(op: string, what: string, v: unknown, v4only: boolean): Uint8Array {
  const b = typeof v === 'string' ? parseIPv4(v) ?? (v4only ? undefined : parseIPv6(v)) : undefined;
  if (!b) throw badArgument(ctxOf(op), what, v, v4only ? 'an IPv4 address' : 'an IPv4 or IPv6 address');
  return b;
}

/** A checked `h.add` request: what to send once the names it mentions are resolved. */
export interface CheckedAdd {
  spec: Omit<LinkSpec, 'master' | 'link' | 'peer'>;
  master?: string;
  link?: string;
  peer?: { name: string; mac?: Uint8Array; netnsPath?: string };
}

/** Checks an `h.add` request whole; throws InvalidArgumentError naming the field. */
export function checkAdd(input: unknown, op: string): CheckedAdd {
  if (!isObject(input)) throw badArgument(ctxOf(op), 'link', input, "an object like { name: 'br0', kind: 'bridge' }");
  const kind = input.kind;
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    throw badArgument(ctxOf(op), 'kind', kind, `one of ${KINDS.join(', ')}`);
  }
  const k = kind as LinkKind;
  const allowed = new Set([...COMMON, ...KIND_KEYS[k]]);
  for (const key of Object.keys(input)) {
    if (!allowed.has(key)) {
      throw new InvalidArgumentError(`${op}: "${key}" is not an option of ${k} links (they take ${[...allowed].join(', ')})`,
        { op, subsystem: SUBSYSTEM, argument: key });
    }
  }
  const name = checkLinkName(input.name, op);
  const spec: CheckedAdd['spec'] = { name, kind: k, up: input.up === undefined ? false : bool(op, 'up', input.up) };
  if (input.mtu !== undefined) spec.mtu = int(op, 'mtu', input.mtu, 0, 0x7fffffff);
  if (input.mac !== undefined) spec.mac = mac(op, 'mac', input.mac);
  const out: CheckedAdd = { spec };
  if (input.master !== undefined) out.master = checkLinkName(input.master, op);
  if (input.link !== undefined) out.link = checkLinkName(input.link, op);
  if ((k === 'vlan' || k === 'macvlan') && out.link === undefined) {
    throw new InvalidArgumentError(`${op}: a ${k} link needs link: the name of the link it sits on`, { op, subsystem: SUBSYSTEM, argument: 'link' });
  }
  if (k === 'vlan') {
    if (input.id === undefined) throw new InvalidArgumentError(`${op}: a vlan link needs id (1 to 4094)`, { op, subsystem: SUBSYSTEM, argument: 'id' });
    spec.id = int(op, 'id', input.id, 0, 4094);
  }
  if (k === 'vxlan') {
    if (input.id === undefined) throw new InvalidArgumentError(`${op}: a vxlan link needs id (its VNI, 0 to 16777215)`, { op, subsystem: SUBSYSTEM, argument: 'id' });
    spec.id = int(op, 'id', input.id, 0, 0xffffff);
    if (input.port !== undefined) spec.port = int(op, 'port', input.port, 0, 65535);
  }
  if (k === 'macvlan' && input.mode !== undefined) {
    const m = typeof input.mode === 'string' ? MACVLAN_MODES[input.mode] : undefined;
    if (m === undefined) throw badArgument(ctxOf(op), 'mode', input.mode, `one of ${Object.keys(MACVLAN_MODES).join(', ')}`);
    spec.mode = m;
  }
  const v4only = k !== 'vxlan';
  if (input.local !== undefined) spec.local = ip(op, 'local', input.local, v4only);
  if (input.remote !== undefined) spec.remote = ip(op, 'remote', input.remote, v4only);
  if (spec.local && spec.remote && spec.local.length !== spec.remote.length) {
    throw new InvalidArgumentError(`${op}: local and remote must be of one family`, { op, subsystem: SUBSYSTEM, argument: 'remote' });
  }
  if (input.ttl !== undefined) spec.ttl = int(op, 'ttl', input.ttl, 0, 255);
  if (input.peer !== undefined) {
    const p = input.peer;
    if (!isObject(p)) throw badArgument(ctxOf(op), 'peer', p, "an object like { name: 'veth1', netns: 'other' }");
    for (const key of Object.keys(p)) {
      if (!PEER_KEYS.has(key)) throw new InvalidArgumentError(`${op}: unknown peer field "${key}"`, { op, subsystem: SUBSYSTEM, argument: `peer.${key}` });
    }
    const peerName = checkLinkName(p.name, op);
    if (peerName === name && p.netns === undefined) {
      throw new InvalidArgumentError(`${op}: the peer cannot have the link's own name in the same namespace`, { op, subsystem: SUBSYSTEM, argument: 'peer.name' });
    }
    out.peer = { name: peerName };
    if (p.mac !== undefined) out.peer.mac = mac(op, 'peer.mac', p.mac);
    if (p.netns !== undefined) out.peer.netnsPath = resolveNetns(p.netns, op)!;
  }
  return out;
}

export interface CheckedUpdate {
  change: Omit<LinkChange, 'index' | 'master' | 'nsFd'>;
  /** null: take the link out of its bridge (`nomaster`). */
  master?: string | null;
  netnsPath?: string;
}

/** Checks an `h.update` request whole. */
export function checkUpdate(name: unknown, input: unknown, op: string): CheckedUpdate {
  checkLinkName(name, op);
  if (!isObject(input)) throw badArgument(ctxOf(op), 'changes', input, 'an object like { up: true, mtu: 1400 }');
  for (const key of Object.keys(input)) {
    if (!UPDATE_KEYS.has(key)) {
      throw new InvalidArgumentError(`${op}: unknown field "${key}" (a link's ${[...UPDATE_KEYS].join(', ')} can change)`, { op, subsystem: SUBSYSTEM, argument: key });
    }
  }
  const out: CheckedUpdate = { change: {} };
  if (input.up !== undefined) out.change.up = bool(op, 'up', input.up);
  if (input.mtu !== undefined) out.change.mtu = int(op, 'mtu', input.mtu, 0, 0x7fffffff);
  if (input.mac !== undefined) out.change.mac = mac(op, 'mac', input.mac);
  if (input.name !== undefined) out.change.name = checkLinkName(input.name, op);
  if (input.master !== undefined) out.master = input.master === null ? null : checkLinkName(input.master, op);
  if (input.netns !== undefined) out.netnsPath = resolveNetns(input.netns, op)!;
  return out;
}

/** A namespace file open for as long as one request needs it (IFLA_NET_NS_FD). */
async function openNetns(path: string | undefined): Promise<FileHandle | undefined> {
  if (path === undefined) return undefined;
  // Node opens with O_CLOEXEC. O_NONBLOCK: resolveNetns already refused what is not a plain file, but it may have been swapped since.
  return openFile(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
}

/** Every link of the worker's namespace, raw, in index order. */
async function dumpAll(op: string, w: RawWorker): Promise<LinkRecordFull[]> {
  const wr = new RtWriter(64);
  dumpLinksWithStats(wr);
  const r = await dump(w, NETLINK_ROUTE, wr.batch());
  if (r.errnos[0]) throw kernelError(op, r.errnos[0], { ...(r.messages[0] ? { detail: r.messages[0] } : {}) });
  const out: LinkRecordFull[] = [];
  eachMessage(r.data, 0, r.sections[0]!, (type, at, len) => {
    if (type === Rtm.NewLink) out.push(parseLinkFull(r.data, at, len));
  });
  return out.sort((a, b) => a.index - b.index);
}

function indexOf(op: string, links: LinkRecordFull[], name: string, role: string): number {
  const l = links.find((x) => x.name === name);
  if (!l) throw new NotFoundError(`${op}: ${role} ${name} does not exist`, { op, subsystem: SUBSYSTEM, code: 'ENODEV' });
  return l.index;
}

/** Creates one link: resolves master/link names, opens the peer's namespace, sends one RTM_NEWLINK. */
export async function addLink(op: string, w: RawWorker, c: CheckedAdd): Promise<void> {
  const links = c.master !== undefined || c.link !== undefined ? await dumpAll(op, w) : [];
  const spec: LinkSpec = { ...c.spec };
  if (c.master !== undefined) spec.master = indexOf(op, links, c.master, 'master');
  if (c.link !== undefined) spec.link = indexOf(op, links, c.link, 'link');
  const ns = await openNetns(c.peer?.netnsPath);
  try {
    if (c.peer) spec.peer = { name: c.peer.name, ...(c.peer.mac ? { mac: c.peer.mac } : {}), ...(ns ? { nsFd: ns.fd } : {}) };
    const wr = new RtWriter(256);
    addLinkMessage(wr, spec);
    const r = await send(w, NETLINK_ROUTE, wr.batch());
    const e = r.errnos[0]!;
    if (e) throw kernelError(op, e, { link: spec.name, kind: spec.kind, ...(r.messages[0] ? { detail: r.messages[0] } : {}) });
  } finally {
    await ns?.close();
  }
}

/** Links for addMany: those that name no other link and no other namespace. */
const MANY: ManyKind<CheckedAdd> = {
  devs: () => [],
  what: (c) => `link ${c.spec.name}`,
  write: (w, c, _index, undo) => {
    if (undo) delLink(w, c.spec.name);
    else addLinkMessage(w, { ...c.spec, ...(c.peer ? { peer: { name: c.peer.name, ...(c.peer.mac ? { mac: c.peer.mac } : {}) } } : {}) });
  },
};

/**
 * Creates many links in order. When none names another link (master, link) or namespace (a
 * peer's), the requests go pipelined in one job; otherwise one after the other, each resolving
 * the names the ones before it made. On a refusal the links this call made are deleted again.
 */
export async function addLinks(op: string, w: RawWorker, list: CheckedAdd[]): Promise<void> {
  if (list.every((c) => c.master === undefined && c.link === undefined && c.peer?.netnsPath === undefined)) return addMany(op, w, list, MANY);
  for (let i = 0; i < list.length; i++) {
    try {
      await addLink(op, w, list[i]!);
    } catch (e) {
      const wr = new RtWriter(64 * i + 64);
      for (let j = i - 1; j >= 0; j--) delLink(wr, list[j]!.spec.name);
      if (i > 0) await send(w, NETLINK_ROUTE, wr.batch()).catch(() => undefined);
      if (e instanceof NlkitError) Object.assign(e, { index: i });
      throw e;
    }
  }
}

/** Changes one link in one RTM_NEWLINK, as `ip link set` does. */
export async function updateLink(op: string, w: RawWorker, name: string, c: CheckedUpdate): Promise<void> {
  const links = await dumpAll(op, w);
  const change: LinkChange = { ...c.change, index: indexOf(op, links, name, 'link') };
  if (c.master !== undefined) change.master = c.master === null ? 0 : indexOf(op, links, c.master, 'master');
  const ns = await openNetns(c.netnsPath);
  try {
    if (ns) change.nsFd = ns.fd;
    const wr = new RtWriter(128);
    setLinkMessage(wr, change);
    const r = await send(w, NETLINK_ROUTE, wr.batch());
    const e = r.errnos[0]!;
    if (e) throw kernelError(op, e, { link: name, ...(r.messages[0] ? { detail: r.messages[0] } : {}) });
  } finally {
    await ns?.close();
  }
}

/** Links as `ip -j -s -d link show` reports them, under nlkit's names (see Link). */
export async function listLinks(op: string, w: RawWorker): Promise<Link[]> {
  const raw = await dumpAll(op, w);
  const byIndex = new Map(raw.map((l) => [l.index, l]));
  return raw.map((l) => toLink(l, byIndex));
}

export function toLink(l: LinkRecordFull, byIndex: Map<number, LinkRecordFull>): Link {
  let parentDown = false;
  const out: Link = {
    name: l.name, index: l.index, ...(l.kind !== undefined ? { kind: l.kind } : {}), up: l.up, mtu: l.mtu, flags: [], operstate: '',
  };
  if (l.mac !== undefined) out.mac = l.mac;
  if (l.link !== undefined) {
    if (l.link === 0) out.link = null;
    else if (l.linkNetnsid !== undefined) {
      out.linkIndex = l.link;
      out.linkNetnsid = l.linkNetnsid;
    } else {
      const p = byIndex.get(l.link);
      out.link = p?.name ?? `if${l.link}`;
      parentDown = !p?.up;
    }
  }
  out.flags = flagNames(l.flags, parentDown);
  out.operstate = operstateName(l.operstate);
  if (l.master !== undefined) out.master = byIndex.get(l.master)?.name ?? `if${l.master}`;
  if (l.stats) out.stats = l.stats;
  return out;
}
