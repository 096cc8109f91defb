// Desired-state sync of one set's members: both sides are brought to the form the kernel
// stores and `ipset save` prints, so only real differences become add/del messages.
//
// The kernel stores single elements: a range or network given to a type that holds addresses
// is stored address by address (masked by the set's netmask), a range given to a type that
// holds networks is stored as the networks ip_set_range_to_cidr() cuts it into, a port range
// port by port. libipset prints addresses with inet_ntop, networks without /32 (/128), ports as
// numbers after getprotobynumber()'s protocol name, ICMP types by libipset's names, MACs in
// upper case and marks as 0x%08x. The kernel tests check this against `ipset save`.
import { InvalidArgumentError, NlkitError } from '../core/errors.js';
import type { SyncResult } from '../core/sync.js';
import type { ProgressCallback } from '../core/progress.js';
import { badArgument, checkArray, checkOptions } from '../core/args.js';
import { formatIPv6 } from '../ipvs/addr.js';
import * as grammar from './grammar.js';
import { icmpName, protoName } from './netdb.js';
import { formatEntry } from './syntax.js';
import type { CreateOptions, Entry, Family, Member, SetType } from './types.js';

const {
  ADT_ADD, Fault, MAX_ARGS, P_BMPORT, P_IFACE, P_IP, P_IP_PLAIN, P_MAC, P_MARK, P_NET, P_PORT, P_SET,
  X_BYTES, X_COMMENT, X_NOMATCH, X_PACKETS, X_SKBMARK, X_SKBPRIO, X_SKBQUEUE, X_TIMEOUT, X_WILDCARD,
  checkAdtOptions, checkElement, splitArgs, typeSpec,
} = grammar;
const { ParseState } = grammar;
type ParseState = grammar.ParseState;

export interface IpsetSyncOptions {
  /** Create the set with this type and options when it does not exist (otherwise NotFoundError). */
  create?: { type: SetType; options?: CreateOptions };
  /** Stops the call before the set is created or a batch sent (AbortedError, nothing changed). */
  signal?: AbortSignal;
  /**
   * `{ done, total }` in members changed (deletes, then adds and updates) while the batches
   * run, and once at the end (see ProgressCallback). sync does not undo: on a refusal the
   * final `done` is what the kernel took.
   */
  onProgress?: ProgressCallback;
}

/** What ipset.sync() changed, in members: the shape every sync() returns, and `created`. */
export interface IpsetSyncResult extends SyncResult {
  /** Members the set lacked. */
  added: number;
  /** Members the list lacks. */
  removed: number;
  /**
   * Members in both whose extensions differ (comment, skbmark/skbprio/skbqueue, nomatch,
   * packets/bytes when given, a timeout that changes between permanent and expiring): added
   * again with -exist. A member's remaining timeout is not refreshed.
   */
  updated: number;
  unchanged: number;
  /** True when the set was created by this call. */
  created: boolean;
}

/**
 * The set a plan is for: its type, and what of its header changes how members are stored
 * (family, default 'inet'; netmask of hash:ip / hash:ip,port / bitmap:ip; markmask of hash:ip,mark).
 */
export type IpsetSyncTarget = SetType | { type: SetType; family?: Family; netmask?: number | string; markmask?: number };

export interface IpsetSyncPlan {
  /** Elements to delete (canonical element text, no extensions). */
  del: string[];
  /** Entries to add: canonical element text plus the desired extensions, as ipset's syntax. */
  add: string[];
  /** Entries to add again with -exist, their extensions changed. */
  update: string[];
  unchanged: number;
}

/** At most this many members after ranges are expanded: beyond it the list is refused. */
export const MAX_EXPANDED = 1 << 22;

const OP = 'ipset.sync';

/** One desired member, canonical. */
interface Want {
  elem: string;
  /** The extension options as ipset's syntax (leading space), for add. */
  opts: string;
  ext: Ext;
  index: number;
}

/** Extensions as compared: undefined = not given (the kernel's value stands). */
interface Ext {
  comment: string;
  skbmark: string;
  skbprio: string;
  skbqueue: number;
  nomatch: boolean;
  timeout?: number;
  packets?: bigint;
  bytes?: bigint;
}

/**
 * What to delete, add and re-add to turn `current` (members as listed) into `desired`. Both
 * sides are canonicalized the way the kernel stores elements (a hash:net member 10.0.0.1/24 is
 * 10.0.0.0/24; IPv6 text compressed; ranges expanded where the type stores single elements;
 * port and protocol names as `ipset save` prints them). Entries naming one member are merged
 * when their extensions agree; otherwise InvalidArgumentError (with `index`), as for a bad
 * entry. Pure: no kernel. The order of a list:set is not synced (only its membership).
 */
export function planIpsetSync(current: readonly Member[], desired: readonly Entry[], set: IpsetSyncTarget): IpsetSyncPlan {
  const ctx = { op: 'ipset.planIpsetSync', subsystem: 'ipset' as const };
  checkArray(ctx, 'current', current as Member[]);
  if (typeof set !== 'string' && checkOptions(ctx, 'set', set) === undefined) throw badArgument(ctx, 'set', set, 'a set type or { type, family? }');
  const want = canonicalEntries(desired, set);
  const plan: IpsetSyncPlan = { del: [], add: [], update: [], unchanged: 0 };
  const seen = new Set<string>();
  for (const m of current) {
    const key = memberKey(m.elem, (m as { wildcard?: boolean }).wildcard === true);
    const w = want.get(key);
    if (!w) {
      plan.del.push(m.elem);
      continue;
    }
    seen.add(key);
    if (extChanged(m, w.ext)) plan.update.push(w.elem + w.opts);
    else plan.unchanged++;
  }
  for (const [key, w] of want) if (!seen.has(key)) plan.add.push(w.elem + w.opts);
  return plan;
}

const memberKey = (e: string, wildcard: boolean) => (wildcard ? `${e} wildcard` : e);

function extChanged(m: Member, x: Ext): boolean {
  if ((m.comment ?? '') !== x.comment) return true;
  if ((m.skbmark ?? '') !== x.skbmark || (m.skbprio ?? '') !== x.skbprio || (m.skbqueue ?? 0) !== x.skbqueue) return true;
  if ((m.nomatch === true) !== x.nomatch) return true;
  if (x.timeout !== undefined && m.timeout !== undefined && (x.timeout === 0) !== (m.timeout === 0)) return true;
  if (x.packets !== undefined && m.packets !== undefined && x.packets !== m.packets) return true;
  if (x.bytes !== undefined && m.bytes !== undefined && x.bytes !== m.bytes) return true;
  return false;
}

/** The desired entries by member key (element, plus ' wildcard' for hash:net,iface wildcards). */
export function canonicalEntries(desired: readonly Entry[], set: IpsetSyncTarget, op = OP): Map<string, Want> {
  if (!Array.isArray(desired)) throw new InvalidArgumentError(`${op}: expects an array of entries`, { op, subsystem: 'ipset' });
  const t = typeof set === 'string' ? { type: set } : set;
  const spec = typeSpec(t.type);
  if (!spec) throw new InvalidArgumentError(`${op}: unknown set type ${JSON.stringify(t.type)}`, { op, subsystem: 'ipset', argument: String(t.type) });
  const family: Family = t.family ?? 'inet';
  const ctx: Ctx = {
    type: spec.name, v6: family === 'inet6',
    netmask: netmaskOf(t.netmask, family === 'inet6' ? 128 : 32),
    markmask: (t as { markmask?: number }).markmask ?? 0xffffffff,
  };
  const rules = { noZeroCidr: spec.noZeroCidr, nonZero: spec.nonZero, ...(ctx.netmask < (ctx.v6 ? 128 : 32) ? { netmask: ctx.netmask } : {}) };
  const out = new Map<string, Want>();
  // One parse state for the whole list: its arrays are reused entry after entry.
  const st = new ParseState();
  const { args, elem, setRef, adt, ts, te, tc } = st;
  let total = 0;
  for (let i = 0; i < desired.length; i++) {
    const entry = desired[i]!;
    let elems: string[];
    let opts: string;
    let ext: Ext;
    let wildcard = false;
    try {
      const src = typeof entry === 'string' ? entry : formatEntry(spec.name, entry);
      splitArgs(st, src, 0, src.length, ts, te, tc);
      const n = args.n;
      if (n === 0) grammar.fail(0, src.length, 'empty entry');
      if (/[\r\n]/.test(src)) grammar.fail(0, src.length, 'an entry may not contain line breaks');
      const s = args.src;
      checkElement(st, spec, family, s, ts[0]!, te[0]!, rules);
      checkAdtOptions(st, spec, ADT_ADD, s, ts, te, 1, n);
      if (elem.unresolved) grammar.fail(elem.portPos, elem.portEnd, `port '${s.slice(elem.portPos, elem.portEnd)}' names a service that cannot be looked up`);
      elems = expand(st, spec.parts, ctx, s);
      ({ opts, ext } = extensions(st, s));
      // list:set: where to put a new member (its order is not otherwise synced).
      if (spec.name === 'list:set' && setRef.ref >= 0) opts = ` ${setRef.before ? 'before' : 'after'} ${s.slice(setRef.ref, setRef.refEnd)}${opts}`;
      wildcard = (adt.given & X_WILDCARD) !== 0;
    } catch (e) {
      throw entryError(st, op, e, i, entry);
    }
    total += elems.length;
    if (total > MAX_EXPANDED) {
      throw Object.assign(new InvalidArgumentError(`${op}: entry ${i}: the entries expand to more than ${MAX_EXPANDED} members`, {
        op, subsystem: 'ipset', argument: typeof entry === 'string' ? entry : JSON.stringify(entry),
      }), { entry: i, index: i });
    }
    for (const e of elems) {
      const key = memberKey(e, wildcard);
      const prev = out.get(key);
      if (prev) {
        if (prev.opts === opts) continue;
        throw Object.assign(new InvalidArgumentError(
          `${op}: entries ${prev.index} and ${i} both name member ${e} with different options ('${prev.opts.trim()}' and '${opts.trim()}')`,
          { op, subsystem: 'ipset', argument: e }), { entry: i, index: i });
      }
      out.set(key, { elem: e, opts, ext, index: i });
    }
  }
  return out;
}

function entryError(st: ParseState, op: string, e: unknown, i: number, entry: Entry): unknown {
  let err = e;
  if (e instanceof Fault) {
    err = new InvalidArgumentError(`${e.msg}`, { op, subsystem: 'ipset', argument: st.args.src.slice(e.pos, e.end) });
  }
  if (!(err instanceof NlkitError)) return err;
  err.message = `${op}: entry ${i} (${typeof entry === 'string' ? entry : JSON.stringify(entry)}): ${err.message.replace(/^[\w.]+: /, '')}`;
  err.op = op;
  return Object.assign(err, { entry: i, index: i });
}

function netmaskOf(m: number | string | undefined, max: number): number {
  if (m === undefined) return max;
  if (typeof m === 'number') return m;
  if (/^\d+$/.test(m)) return Number(m);
  // A dotted IPv4 mask (bitmap:ip takes one).
  const n = m.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
  return 32 - Math.log2(2 ** 32 - n);
}

interface Ctx {
  type: SetType;
  v6: boolean;
  netmask: number;
  markmask: number;
}

/** Every element the last parsed one stands for, in `ipset save` text. */
function expand(st: ParseState, parts: readonly number[], ctx: Ctx, src: string): string[] {
  if (ctx.type === 'list:set') return [src.slice(st.setRef.name, st.setRef.nameEnd)];
  let out: string[] = [''];
  let addr = 0;
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k]!;
    let texts: string[];
    switch (p) {
      case P_IP: case P_IP_PLAIN: case P_NET: {
        const first = addr++ === 0;
        if (!first && st.elem.addrs < 2) {
          texts = [];
          break;
        }
        const v6 = st.elem.v6;
        const { ip, to, cidr, ip6: words } = st.elem.ips[first ? 0 : 1];
        // The set's netmask applies to the first address of the types that have one.
        const mask = first && (ctx.type === 'hash:ip' || ctx.type === 'bitmap:ip' || ctx.type === 'hash:ip,port') ? ctx.netmask : (v6 ? 128 : 32);
        texts = p === P_NET ? nets(v6, ip, to, cidr, words) : hosts(st, v6, ip, to, cidr, words, mask);
        break;
      }
      case P_PORT: texts = ports(st.elem.proto, st.elem.port, st.elem.portTo, ctx.v6 || st.elem.v6); break;
      case P_BMPORT: texts = ports(-1, st.elem.port, st.elem.portTo, false); break;
      case P_MAC:
        if (!st.elem.mac) {
          texts = [];
          break;
        }
        texts = [Array.from(st.mac, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':')];
        break;
      case P_MARK: texts = [`0x${((st.elem.mark & ctx.markmask) >>> 0).toString(16).padStart(8, '0')}`]; break;
      case P_IFACE: texts = [`${st.elem.physdev ? 'physdev:' : ''}${src.slice(st.elem.iface, st.elem.ifaceEnd)}`]; break;
      case P_SET: texts = [src.slice(st.setRef.name, st.setRef.nameEnd)]; break;
      default: texts = [];
    }
    if (texts.length === 0) continue;  // an optional last part left out (bitmap:ip,mac)
    if (texts.length === 1) {
      const t = texts[0]!;
      out = out.map((o) => (o === '' ? t : `${o},${t}`));
    } else {
      if (out.length * texts.length > MAX_EXPANDED) throw grammar.fail(st.elem.ips[0].pos, st.elem.ips[0].end, `element expands to more than ${MAX_EXPANDED} members`);
      const next: string[] = [];
      for (const o of out) for (const t of texts) next.push(o === '' ? t : `${o},${t}`);
      out = next;
    }
  }
  return out;
}

const v4 = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** IPv4 [from, to] of an address as written: a range, a network or one address. */
function span(ip: number, to: number, cidr: number): [number, number] {
  if (to >= 0) return ip <= to ? [ip, to] : [to, ip];
  if (cidr >= 0 && cidr < 32) {
    const size = 2 ** (32 - cidr);
    const from = ip - (ip % size);
    return [from, from + size - 1];
  }
  return [ip, ip];
}

function v6Text(words: Uint16Array, prefix: number): string {
  const b = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    let w = words[i]!;
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    w &= bits === 16 ? 0xffff : bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
    b[i * 2] = w >> 8;
    b[i * 2 + 1] = w & 0xff;
  }
  return formatIPv6(b, 0);
}

/** Addresses, one by one (masked by the set's netmask). */
function hosts(st: ParseState, v6: boolean, ip: number, to: number, cidr: number, words: Uint16Array, netmask: number): string[] {
  if (v6) return [v6Text(words, netmask)];
  const [from, end] = span(ip, to, cidr);
  const step = 2 ** (32 - netmask);
  const first = from - (from % step);
  if ((end - first) / step + 1 > MAX_EXPANDED) grammar.fail(st.elem.ips[0].pos, st.elem.ips[0].end, `range expands to more than ${MAX_EXPANDED} members`);
  const out: string[] = [];
  for (let a = first; a <= end; a += step) out.push(v4(a));
  return out;
}

/** Networks: as given (masked), or the CIDR blocks a range is cut into. */
function nets(v6: boolean, ip: number, to: number, cidr: number, words: Uint16Array): string[] {
  if (v6) {
    const c = cidr < 0 ? 128 : cidr;
    const t = v6Text(words, c);
    return [c === 128 ? t : `${t}/${c}`];
  }
  if (to < 0) {
    const c = cidr < 0 ? 32 : cidr;
    const [from] = span(ip, -1, c);
    return [c === 32 ? v4(from) : `${v4(from)}/${c}`];
  }
  const [from, end] = span(ip, to, -1);
  const out: string[] = [];
  for (let a = from; a <= end;) {
    let c = 0;
    while (c < 32 && (a % 2 ** (32 - c) !== 0 || a + 2 ** (32 - c) - 1 > end)) c++;
    out.push(c === 32 ? v4(a) : `${v4(a)}/${c}`);
    a += 2 ** (32 - c);
  }
  return out;
}

const PORTED = new Set([6, 17, 132, 136]);

/** proto:port texts, port by port; bitmap:port (proto -1) prints the bare port. */
function ports(proto: number, port: number, portTo: number, v6: boolean): string[] {
  if (proto === 1 || proto === 58) return [`${protoName(proto)}:${icmpName(port, proto === 58)}`];
  if (proto >= 0 && !PORTED.has(proto)) return [`${protoName(proto)}:0`];
  const prefix = proto < 0 ? '' : `${protoName(proto)}:`;
  const [lo, hi] = portTo < 0 ? [port, port] : port <= portTo ? [port, portTo] : [portTo, port];
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(prefix + p);
  return out;
}

/** The extension options of the last parsed entry: as text for add, and as compared. */
function extensions(st: ParseState, src: string): { opts: string; ext: Ext } {
  const g = st.adt.given;
  const ext: Ext = { comment: '', skbmark: '', skbprio: '', skbqueue: 0, nomatch: (g & X_NOMATCH) !== 0 };
  let opts = '';
  if (g & X_TIMEOUT) {
    ext.timeout = st.adt.timeout;
    opts += ` timeout ${st.adt.timeout}`;
  }
  if (g & X_NOMATCH) opts += ' nomatch';
  if (g & X_WILDCARD) opts += ' wildcard';
  if (g & X_PACKETS) {
    ext.packets = st.adt.packets;
    opts += ` packets ${st.adt.packets}`;
  }
  if (g & X_BYTES) {
    ext.bytes = st.adt.bytes;
    opts += ` bytes ${st.adt.bytes}`;
  }
  if (g & X_COMMENT) {
    ext.comment = src.slice(st.adt.comment, st.adt.commentEnd);
    if (ext.comment !== '') opts += ` comment "${ext.comment}"`;
  }
  if (g & X_SKBMARK) {
    const mark = st.adt.skbmark >>> 0, mask = st.adt.skbmask >>> 0;
    ext.skbmark = mask === 0xffffffff ? `0x${mark.toString(16)}` : `0x${mark.toString(16)}/0x${mask.toString(16)}`;
    if (mark === 0 && mask === 0) ext.skbmark = '';
    opts += ` skbmark 0x${mark.toString(16)}/0x${mask.toString(16)}`;
  }
  if (g & X_SKBPRIO) {
    const p = st.adt.skbprio >>> 0;
    if (p !== 0) ext.skbprio = `${(p >>> 16).toString(16)}:${(p & 0xffff).toString(16)}`;
    opts += ` skbprio ${(p >>> 16).toString(16)}:${(p & 0xffff).toString(16)}`;
  }
  if (g & X_SKBQUEUE) {
    ext.skbqueue = st.adt.skbqueue;
    opts += ` skbqueue ${st.adt.skbqueue}`;
  }
  return { opts, ext };
}
