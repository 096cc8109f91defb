// ipset's add/del/test messages built in TypeScript, byte for byte what libipset 7.17 sends: the
// element and option checks are grammar.ts's (those of validateRestore), and the attributes come
// from the values those checks parsed, in libipset's order.
//
// libipset parses an element into its data blob (lib/parse.c, lib/data.c) and addattr_adt()
// (lib/session.c) writes every attribute set there, looping over the attribute types in
// increasing order: IP, IP_TO, CIDR, PORT, PORT_TO, TIMEOUT, PROTO, CADT_FLAGS, MARK, ETHER, NAME,
// NAMEREF, IP2, CIDR2, IP2_TO, IFACE, BYTES, PACKETS, COMMENT, SKBMARK, SKBPRIO, SKBQUEUE. Values
// go as written: an address with a prefix is sent unmasked with its CIDR, a range as FROM and TO
// in the order given (the kernel masks and orders them). U8 attributes carry no byte-order flag,
// U16/U32/U64 ones and the address inside the IP nests carry NLA_F_NET_BYTEORDER. For add and
// del, libipset then appends IPSET_ATTR_LINENO to the DATA nest (adtBatch does too).
// test/fixtures/ipset/wire/captured.tsv holds what libipset really sent, for the unit test.
import { InvalidArgumentError, NlkitError, NotFoundError } from '../core/errors.js';
import { putBe16 as writeBe16, putBe32 as writeBe32, putNestedBe32, putU8 as writeU8 } from '../netlink/attr-writer.js';
import { NLA_F_NESTED, NLA_F_NET_BYTEORDER } from '../netlink/headers.js';
import * as grammar from './grammar.js';
import type { ElementRules, TypeSpec } from './grammar.js';
import { EXT_NAMES, EXT_OPTIONS, checkRestore, type KnownSet, type RestoreOptions, type RestorePlan, type RestoreSink } from './restore-text.js';
import { formatEntry } from './syntax.js';
import type { Entry, Family, SetType } from './types.js';
import {
  Adt, Attr, Cmd, IPADDR_IPV4, FLAG_BEFORE, FLAG_IFACE_WILDCARD, FLAG_NOMATCH, FLAG_PHYSDEV, MAX_MESSAGE, NlWriter, adtBatch, cmdFlags, type Batch,
} from './wire.js';

// Local names: module bindings can cost a getter call each under some loaders (tsx).
const {
  ADT_ADD, ADT_DEL, ADT_TEST, Fault, P_BMPORT, P_IFACE, P_MAC, P_MARK, P_PORT, X_BYTES, X_COMMENT,
  X_NOMATCH, X_PACKETS, X_SKBMARK, X_SKBPRIO, X_SKBQUEUE, X_TIMEOUT, X_WILDCARD, X_COUNTERS, X_SKBINFO,
  checkAdtOptions, checkElement, parseIPv4, splitArgs, typeSpec,
} = grammar;
type ParseState = grammar.ParseState;


// Attribute numbers as plain numbers, read once (an imported const enum costs a getter per use
// under loaders that do not inline it).
const A_IP: number = Adt.Ip, A_IP_TO: number = Adt.IpTo, A_CIDR: number = Adt.Cidr, A_PORT: number = Adt.Port;
const A_PORT_TO: number = Adt.PortTo, A_TIMEOUT: number = Adt.Timeout, A_PROTO: number = Adt.Proto;
const A_CADT_FLAGS: number = Adt.CadtFlags, A_MARK: number = Adt.Mark, A_ETHER: number = Adt.Ether;
const A_NAME: number = Adt.Name, A_NAMEREF: number = Adt.NameRef, A_IP2: number = Adt.Ip2, A_CIDR2: number = Adt.Cidr2;
const A_IP2_TO: number = Adt.Ip2To, A_IFACE: number = Adt.Iface, A_BYTES: number = Adt.Bytes, A_PACKETS: number = Adt.Packets;
const A_COMMENT: number = Adt.Comment, A_SKBMARK: number = Adt.SkbMark, A_SKBPRIO: number = Adt.SkbPrio;
const A_SKBQUEUE: number = Adt.SkbQueue, A_LINENO: number = Adt.Lineno, A_DATA: number = Attr.Data;
const F_BEFORE = FLAG_BEFORE, F_PHYSDEV = FLAG_PHYSDEV, F_NOMATCH = FLAG_NOMATCH, MAX_MSG = MAX_MESSAGE;
const NESTED = NLA_F_NESTED, NET_BYTEORDER = NLA_F_NET_BYTEORDER;

const putU8 = writeU8;
/** NET_BYTEORDER values: the kernel refuses them without the flag (ip_set_attr_netorder). */
const putBe16 = (w: NlWriter, type: number, v: number): void => writeBe16(w, type | NET_BYTEORDER, v);
const putBe32 = (w: NlWriter, type: number, v: number): void => writeBe32(w, type | NET_BYTEORDER, v);
const putIpv4 = (w: NlWriter, type: number, addr: number): void => putNestedBe32(w, type, IPADDR_IPV4, addr);

export interface EncodeOptions {
  /** The command the entry is for: add (default), del or test (what libipset allows differs). */
  cmd?: 'add' | 'del' | 'test';
  /** The set's name, for messages. */
  name?: string;
  /** Operation name put in front of messages. */
  op?: string;
  /**
   * Every set there is: list:set members and before/after references are checked to exist (and
   * not to be list:set sets), as validateRestore does. Without it the kernel checks them.
   */
  sets?: ReadonlyMap<string, KnownSet>;
  /**
   * The entry is a member as `ipset save` printed it: its comment may hold a line break, which
   * the kernel keeps but no restore text can carry (only a rollback puts such a member back).
   */
  saved?: boolean;
}

/** What encoding needs of a type, beyond its spec. */
interface Shape {
  spec: TypeSpec;
  port: boolean;
  mark: boolean;
  mac: boolean;
  iface: boolean;
  list: boolean;
  /** test: FROM-TO allowed on the first address (its TEST `full` has IP_TO). */
  testRange: boolean;
  /** test: IP/CIDR allowed on the first address (its TEST `full` has CIDR or IP_TO). */
  testCidr: boolean;
  /**
   * The element is one address that may be a bare IPv4 address (hash:ip, hash:net, bitmap:ip):
   * such an entry needs only checkAddress's own first test, done by encodeEntry itself.
   */
  bareIpv4: boolean;
}

const shapes = new Map<TypeSpec, Shape>();

function shapeOf(spec: TypeSpec): Shape {
  let sh = shapes.get(spec);
  if (!sh) {
    const n = spec.name;
    sh = {
      spec,
      port: spec.parts.includes(P_PORT) || spec.parts.includes(P_BMPORT),
      mark: spec.parts.includes(P_MARK),
      mac: spec.parts.includes(P_MAC),
      iface: spec.parts.includes(P_IFACE),
      list: n === 'list:set',
      testRange: n === 'hash:ip' || n === 'hash:ip,mark',
      testCidr: !(n === 'bitmap:ip' || n === 'hash:ip,port' || n === 'hash:ip,port,ip' || n === 'hash:ip,port,net'),
      bareIpv4: spec.parts.length === 1 && (n === 'hash:ip' || n === 'hash:net' || n === 'bitmap:ip'),
    };
    shapes.set(spec, sh);
  }
  return sh;
}

// ---------------------------------------------------------------------------------------------
// The attributes

/**
 * Writes the data attributes of the element and options `ps` holds from the last parse (elem,
 * adt, setRef over src), in addattr_adt()'s order.
 */
function writeData(ps: ParseState, w: NlWriter, sh: Shape, src: string): void {
  const { elem, adt, setRef } = ps;
  const given = adt.given;
  const v6 = elem.v6;
  if (elem.addrs > 0) {
    const ip = elem.ips[0];
    if (v6) w.ipv6(A_IP, ip.ip6);
    else putIpv4(w, A_IP, ip.ip);
    if (ip.to >= 0) putIpv4(w, A_IP_TO, ip.to);
    if (ip.cidr >= 0) putU8(w, A_CIDR, ip.cidr);
  }
  if (sh.port) {
    putBe16(w, A_PORT, elem.port);
    if (elem.portTo >= 0) putBe16(w, A_PORT_TO, elem.portTo);
  }
  if (given === 0 && !sh.iface && !sh.list) {
    // The common case: no options, no flags.
    if (sh.port && elem.proto >= 0) putU8(w, A_PROTO, elem.proto);
    if (sh.mark) putBe32(w, A_MARK, elem.mark);
    if (sh.mac && elem.mac) w.bytes(A_ETHER, ps.mac);
    if (elem.addrs > 1) writeIp2(ps, w, v6);
    return;
  }
  if (given & X_TIMEOUT) putBe32(w, A_TIMEOUT, adt.timeout);
  if (sh.port && elem.proto >= 0) putU8(w, A_PROTO, elem.proto);
  let flags = 0;
  if (sh.list && setRef.ref >= 0 && setRef.before) flags |= F_BEFORE;
  if (sh.iface && elem.physdev) flags |= F_PHYSDEV;
  if (given & X_NOMATCH) flags |= F_NOMATCH;
  if (given & X_WILDCARD) flags |= FLAG_IFACE_WILDCARD;
  if (flags !== 0) putBe32(w, A_CADT_FLAGS, flags);
  if (sh.mark) putBe32(w, A_MARK, elem.mark);
  if (sh.mac && elem.mac) w.bytes(A_ETHER, ps.mac);
  if (sh.list) {
    w.str(A_NAME, src.slice(setRef.name, setRef.nameEnd));
    if (setRef.ref >= 0) w.str(A_NAMEREF, src.slice(setRef.ref, setRef.refEnd));
  }
  if (elem.addrs > 1) writeIp2(ps, w, v6);
  if (sh.iface) w.str(A_IFACE, src.slice(elem.iface, elem.ifaceEnd));
  if (given & X_BYTES) w.be64(A_BYTES, adt.bytes);
  if (given & X_PACKETS) w.be64(A_PACKETS, adt.packets);
  if (given & X_COMMENT) w.str(A_COMMENT, src.slice(adt.comment, adt.commentEnd));
  if (given & X_SKBMARK) w.be64(A_SKBMARK, (BigInt(adt.skbmark) << 32n) | BigInt(adt.skbmask));
  if (given & X_SKBPRIO) putBe32(w, A_SKBPRIO, adt.skbprio);
  if (given & X_SKBQUEUE) putBe16(w, A_SKBQUEUE, adt.skbqueue);
}

function writeIp2(ps: ParseState, w: NlWriter, v6: boolean): void {
  const ip2 = ps.elem.ips[1];
  if (v6) w.ipv6(A_IP2, ip2.ip6);
  else putIpv4(w, A_IP2, ip2.ip);
  if (ip2.cidr >= 0) putU8(w, A_CIDR2, ip2.cidr);
  if (ip2.to >= 0) putIpv4(w, A_IP2_TO, ip2.to);
}

/**
 * What grammar accepts but cannot be encoded, and what libipset refuses in test: throws a Fault.
 */
function checkEncodable(ps: ParseState, sh: Shape, src: string, test: boolean): void {
  const elem = ps.elem;
  if (sh.port && elem.unresolved) {
    grammar.fail(elem.portPos, elem.portEnd, `port '${src.slice(elem.portPos, elem.portEnd)}' names a service that cannot be looked up (/etc/services is not readable)`);
  }
  if (!test) return;
  // libipset's TEST `full` flags: no FROM-TO (but for hash:ip and hash:ip,mark), no port range.
  const t = sh.spec.name;
  if (elem.addrs > 0) {
    const [ip, ip2] = elem.ips;
    const what = `'${src.slice(ip.pos, ip.end)}'`;
    if (ip.to >= 0 && !sh.testRange) grammar.fail(ip.pos, ip.end, `IP range ${what} is not allowed in test with set type ${t}`);
    if (ip.cidr >= 0 && !sh.testCidr) grammar.fail(ip.pos, ip.end, `network ${what} is not allowed in test with set type ${t}`);
    if (elem.addrs > 1 && ip2.to >= 0) {
      grammar.fail(ip2.pos, ip2.end, `IP range '${src.slice(ip2.pos, ip2.end)}' is not allowed in test with set type ${t}`);
    }
  }
  if (sh.port && elem.portTo >= 0) {
    grammar.fail(elem.portPos, elem.portEnd, `port range '${src.slice(elem.portPos, elem.portEnd)}' is not allowed in test with set type ${t}`);
  }
}

// ---------------------------------------------------------------------------------------------
// One entry

/**
 * One encoding's parse state, and the last KnownSet it saw with what that set takes: a million
 * entries of one set look it up once. Made per call (adtEntries, testMessage), never shared.
 * It holds a plain ParseState rather than extending it: the checkers and writeData then see one
 * hidden class whether a restore text or an add(array) parsed, and stay monomorphic. As a
 * subclass, the first add of a type after a restore deoptimized them ("wrong map") and had
 * TurboFan compile them again for two classes, ~10 ms of compiler threads in the first 10k add.
 */
export class EncodeState {
  readonly ps = new grammar.ParseState();
  cached: KnownSet | undefined;
  cType = '';
  cFamily: Family = 'inet';
  cExt = 0;
  cShape: Shape | undefined;
  cRules: ElementRules = { noZeroCidr: true, nonZero: false };
  /** Some entry encoded so far names a range or CIDR: the kernel may change many members for it. */
  ranges = false;
  /** Keeps EncodeState's hidden class across GCs, as ParseState's #shape does ParseState's. */
  static readonly #shape: object = Object.freeze(new EncodeState());
}

function prepare(es: EncodeState, known: KnownSet, op: string | undefined): Shape {
  if (known === es.cached && es.cShape && known.type === es.cType && known.family === es.cFamily &&
      es.cExt === extBits(known)) return es.cShape;
  const spec = typeSpec(known.type);
  if (!spec) {
    throw new InvalidArgumentError(`${op ? `${op}: ` : ''}set has unknown type '${known.type}'`, { op: op ?? '', subsystem: 'ipset', argument: String(known.type) });
  }
  es.cached = known;
  es.cType = known.type;
  es.cFamily = known.family;
  es.cExt = extBits(known);
  es.cShape = shapeOf(spec);
  es.cRules = { noZeroCidr: spec.noZeroCidr, nonZero: spec.nonZero };
  return es.cShape;
}

function extBits(k: KnownSet): number {
  return (k.timeout ? X_TIMEOUT : 0) | (k.counters ? X_COUNTERS : 0) | (k.comment ? X_COMMENT : 0) | (k.skbinfo ? X_SKBINFO : 0);
}

/** An error at [a,b) of args.src (or of src, the entry as given), with its 1-based column in src. */
function entryError(ps: ParseState, Cls: typeof InvalidArgumentError | typeof NotFoundError, src: string, a: number, b: number, msg: string, op: string | undefined): NlkitError {
  const { args, ts, tc } = ps;
  let column = a + 1;
  if (args.src !== src) {
    let k = 0;
    while (k < args.n - 1 && ts[k + 1]! <= a) k++;
    column = tc[k]! + 1 + Math.max(0, a - ts[k]!);
  }
  const e = new Cls(`${op ? `${op}: ` : ''}${msg}`, { op: op ?? '', subsystem: 'ipset' });
  return Object.assign(e, { column, argument: args.src.slice(a, b) });
}

/**
 * Checks one entry of a set exactly as validateRestore checks an add (or del) line for it, and
 * writes the data attributes libipset sends inside IPSET_ATTR_DATA for it: the element and its
 * options, without the LINENO that adtBatch adds. A string entry is ipset's syntax (element,
 * then options, e.g. `10.0.0.1,tcp:80 timeout 30 comment "x"`); an object goes through
 * formatEntry. Throws InvalidArgumentError (or NotFoundError for a list:set member, with
 * opts.sets) with `argument` and the 1-based `column` in the entry, writing nothing.
 */
const NO_OPTIONS: EncodeOptions = {};

export function encodeEntry(w: NlWriter, known: KnownSet, entry: Entry, opts: EncodeOptions = NO_OPTIONS, es = new EncodeState()): void {
  const op = opts.op;
  const sh = prepare(es, known, op);
  const spec = sh.spec;
  if (sh.bareIpv4 && typeof entry === 'string' && es.cFamily === 'inet') {
    // Most entries are a plain address: what checkAddress checks of one (and nothing else
    // applies: no options, and a set known before has no bounds to check), then the address.
    const ip = parseIPv4(entry, 0, entry.length);
    if (ip > 0 || (ip === 0 && !es.cRules.nonZero)) {
      putIpv4(w, A_IP, ip);
      return;
    }
  }
  const src = typeof entry === 'string' ? entry : objectText(spec.name, entry, op);
  const mode = opts.cmd === undefined || opts.cmd === 'add' ? ADT_ADD : opts.cmd === 'del' ? ADT_DEL : ADT_TEST;
  const ps = es.ps;
  const { args, ts, te, tc } = ps;
  try {
    splitArgs(ps, src, 0, src.length, ts, te, tc);
    const n = args.n;
    if (n === 0) grammar.fail(0, src.length, 'empty entry');
    // A line break would end the command in a restore text: refused as formatEntry does.
    if (!opts.saved && (n !== 1 || ts[0] !== 0 || te[0] !== src.length) && /[\r\n]/.test(src)) {
      grammar.fail(0, src.length, 'an entry may not contain line breaks');
    }
    const s = args.src;
    checkElement(ps, spec, es.cFamily, s, ts[0]!, te[0]!, es.cRules);
    const ext = checkAdtOptions(ps, spec, mode, s, ts, te, 1, n);
    const missing = ext & ~es.cExt;
    if (missing) {
      const bit = missing & X_TIMEOUT ? 0 : missing & X_COUNTERS ? 1 : missing & X_COMMENT ? 2 : 3;
      const i = ps.extensionAt[bit]!;
      grammar.fail(ts[i]!, te[i]!, `${EXT_OPTIONS[bit]} cannot be used: ${opts.name === undefined ? 'the set' : `set '${opts.name}'`} was created without ${EXT_NAMES[bit]} support`);
    }
    checkEncodable(ps, sh, s, mode === ADT_TEST);
  } catch (f) {
    if (f instanceof Fault) throw entryError(ps, InvalidArgumentError, src, f.pos, f.end, f.msg, op);
    throw f;
  }
  if (sh.list && opts.sets) checkMembers(ps, opts, mode, src);
  writeData(ps, w, sh, args.src);
  // Read off the parse rather than a second scan of every entry's text (adt's undo plan).
  const { elem } = ps;
  if (!es.ranges && ((elem.addrs > 0 && (elem.ips[0].to >= 0 || elem.ips[0].cidr >= 0)) || (sh.port && elem.portTo >= 0) ||
      (elem.addrs > 1 && (elem.ips[1].to >= 0 || elem.ips[1].cidr >= 0)))) es.ranges = true;
}

/** validateRestore's checks of a list:set member and its before/after reference. */
function checkMembers(ps: ParseState, opts: EncodeOptions, mode: number, src: string): void {
  const sets = opts.sets!;
  const s = ps.args.src;
  const lastSetRef = ps.setRef;
  const member = s.slice(lastSetRef.name, lastSetRef.nameEnd);
  const m = sets.get(member);
  const list = opts.name === undefined ? 'the list' : `'${opts.name}'`;
  if (!m) {
    const how = mode === ADT_ADD ? 'added to' : mode === ADT_DEL ? 'deleted from' : 'tested in';
    throw entryError(ps, NotFoundError, src, lastSetRef.name, lastSetRef.nameEnd, `set '${member}' to be ${how} ${list} does not exist`, opts.op);
  }
  if (m.type === 'list:set') {
    throw entryError(ps, InvalidArgumentError, src, lastSetRef.name, lastSetRef.nameEnd, `'${member}' is a list:set: a list:set cannot hold list:set sets`, opts.op);
  }
  if (lastSetRef.ref >= 0) {
    const ref = s.slice(lastSetRef.ref, lastSetRef.refEnd);
    if (!sets.has(ref)) throw entryError(ps, NotFoundError, src, lastSetRef.ref, lastSetRef.refEnd, `set '${ref}' named by before/after does not exist`, opts.op);
  }
}

function objectText(type: SetType, entry: Entry, op: string | undefined): string {
  try {
    return formatEntry(type, entry);
  } catch (e) {
    if (op && e instanceof InvalidArgumentError) {
      e.message = `${op}: ${e.message}`;
      e.op = op;
    }
    throw e;
  }
}

/**
 * Add or del of many entries of one set: adtBatch's messages, each entry checked and encoded by
 * encodeEntry. An entry's error says which (0-based `entry`, and "entry N:" in the message).
 */
export function adtEntries(cmd: Cmd.Add | Cmd.Del, name: string, known: KnownSet, entries: readonly Entry[],
  opts: { exist?: boolean; op?: string; sets?: ReadonlyMap<string, KnownSet>; saved?: boolean } = {}): Batch {
  const eo: EncodeOptions = { cmd: cmd === Cmd.Add ? 'add' : 'del', name, ...(opts.sets ? { sets: opts.sets } : {}), ...(opts.saved ? { saved: true } : {}) };
  const es = new EncodeState();
  const { bytes, ends, entriesBefore } = adtBatch(cmd, name, opts.exist === true, entries.length, (w, i) => {
    try {
      encodeEntry(w, known, entries[i]!, eo, es);
    } catch (e) {
      throw entryContext(e, i, opts.op);
    }
  });
  return { bytes, ends, entriesBefore, ranges: es.ranges };
}

function entryContext(e: unknown, i: number, op: string | undefined): unknown {
  if (!(e instanceof NlkitError)) return e;
  const x = e;
  x.message = `${op ? `${op}: ` : ''}entry ${i}: ${x.message}`;
  if (op) x.op = op;
  x.entry = i;
  return x;
}

/**
 * The IPSET_CMD_TEST message of one entry, as libipset sends it: SETNAME and one DATA nest, no
 * lineno. libipset takes fewer forms in test than in add: no FROM-TO ranges (but for hash:ip and
 * hash:ip,mark), no port ranges, no IP/CIDR in the first part of bitmap:ip and hash:ip,port*;
 * options only `nomatch` (types with nomatch) and before/after (list:set).
 */
export function testMessage(name: string, known: KnownSet, entry: Entry, opts: Omit<EncodeOptions, 'cmd' | 'name'> = {}): Batch {
  const w = new NlWriter(512);
  writeTest(w, name, known, entry, { ...opts, cmd: 'test', name }, new EncodeState());
  return { bytes: w.buf.subarray(0, w.pos), ends: Uint32Array.of(w.pos) };
}

/**
 * testMessage for many entries: one IPSET_CMD_TEST message each (the kernel's test takes one
 * DATA nest, no ADT list), all in one batch. Every entry is checked before anything is sent;
 * a bad one throws with its 0-based `entry` ("entry N:" in the message).
 * @example const b = testMessages('allowed', known, ['10.0.0.1', '10.0.0.2'], { op: 'ipset.test' });
 */
export function testMessages(name: string, known: KnownSet, entries: readonly Entry[],
  opts: { op?: string; sets?: ReadonlyMap<string, KnownSet> } = {}): Batch {
  const w = new NlWriter(Math.min(1 << 26, 256 + entries.length * 64));
  const eo: EncodeOptions = { cmd: 'test', name, ...(opts.op ? { op: opts.op } : {}), ...(opts.sets ? { sets: opts.sets } : {}) };
  const es = new EncodeState();
  const ends = new Uint32Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    try {
      writeTest(w, name, known, entries[i]!, eo, es);
    } catch (e) {
      throw entryContext(e, i, opts.op);
    }
    ends[i] = w.pos;
  }
  return { bytes: w.buf.subarray(0, w.pos), ends };
}

function writeTest(w: NlWriter, name: string, known: KnownSet, entry: Entry, eo: EncodeOptions, es: EncodeState): void {
  const at = w.message(Cmd.Test, cmdFlags(Cmd.Test, false));
  w.str(Attr.Setname, name);
  const data = w.nest(Attr.Data);
  encodeEntry(w, known, entry, eo, es);
  w.end(data);
  w.finish(at);
}

// ---------------------------------------------------------------------------------------------
// Restore texts

export type RestoreStep =
  /**
   * Lines libipset still runs (create, destroy, flush, rename, swap), as a slice of the text:
   * line k (1-based) of `text` is line firstLine + k - 1 of the whole. `exist`: -exist is on when
   * the step starts (libipset sees a later -exist on its own line).
   */
  | {
    kind: 'text'; text: string; firstLine: number; exist: boolean;
    /**
     * The step's last line is a test: when it passes, the restore ends there with success
     * (`ipset restore` exits on libipset's "is in set" warning); the steps after it do not run.
     */
    endsOnPass?: boolean;
  }
  /**
   * Consecutive add (or del) lines of one set, encoded as adtBatch does: the LINENO of each
   * entry is its 1-based index in the step, and lines[index - 1] its line in the text.
   */
  | { kind: 'adt'; cmd: Cmd.Add | Cmd.Del; set: string; type: SetType; exist: boolean; lines: number[]; batch: Batch };

/** compileRestore, with validateRestore's plan of the text. */
export interface CompiledRestore {
  steps: RestoreStep[];
  plan: RestorePlan;
}

/**
 * Checks `ipset restore` text as validateRestore does (same errors, with line and column), and
 * cuts it into the steps that apply it, in order: add/del lines as netlink batches, the rest as
 * text for libipset. A step's `exist` is for all its lines: steps are split where -exist turns
 * on (libipset keeps a line's -exist for the rest of the text, and so does this).
 */
export function compileRestore(text: string, known: ReadonlyMap<string, KnownSet>, opts: RestoreOptions = {}): RestoreStep[] {
  return compileRestorePlan(text, known, opts).steps;
}

export function compileRestorePlan(text: string, known: ReadonlyMap<string, KnownSet>, opts: RestoreOptions = {}): CompiledRestore {
  const c = new Compiler(text);
  const plan = checkRestore(text, known, opts, c);
  return { steps: c.finish(), plan };
}

interface OpenAdt {
  step: Extract<RestoreStep, { kind: 'adt' }>;
  isAdd: boolean;
  shape: Shape;
  flags: number;
  start: number;
  ends: number[];
  /** Entries in the first k messages (for onProgress). */
  before: number[];
  msg: number;
  adt: number;
  inMessage: number;
}

class Compiler implements RestoreSink {
  private readonly steps: RestoreStep[] = [];
  private readonly w: NlWriter;
  private readonly adts: OpenAdt[] = [];
  private cur: OpenAdt | undefined;
  private tStart = -1;
  private tEnd = 0;
  private tLine = 0;
  private tExist = false;
  /** Keeps Compiler's hidden class across GCs (one compiler per restore): see ParseState's #shape. */
  static readonly #shape: object = Object.freeze(new Compiler('', 0));

  constructor(private readonly src: string, size = Math.min(1 << 28, Math.max(1 << 16, src.length * 2))) {
    this.w = new NlWriter(size);
  }

  text(line: number, start: number, end: number, exist: boolean, test = false): void {
    if (this.cur) this.closeAdt();
    if (this.tStart < 0) {
      this.tStart = start;
      this.tLine = line;
      this.tExist = exist;
    }
    this.tEnd = end;
    if (test) this.closeText(true);
  }

  adt(ps: ParseState, isAdd: boolean, name: string, spec: TypeSpec, _family: Family, line: number, exist: boolean): void {
    const sh = shapeOf(spec);
    checkEncodable(ps, sh, ps.args.src, false);
    if (this.tStart >= 0) this.closeText();
    let cur = this.cur;
    if (!cur || cur.isAdd !== isAdd || cur.step.set !== name || cur.step.exist !== exist || cur.shape !== sh) {
      if (cur) this.closeAdt();
      cur = this.openAdt(isAdd, name, sh, exist);
    }
    // adtBatch's loop, one entry at a time.
    const w = this.w;
    const lines = cur.step.lines;
    const lineno = lines.length + 1;
    for (;;) {
      // w.nest(Attr.Data), writeData, w.u32(Adt.Lineno, lineno), w.end(): by hand.
      if (w.pos + 4 > w.buf.length) w.ensure(4);
      const start = w.pos;
      w.buf[start + 2] = A_DATA;
      w.buf[start + 3] = NESTED >> 8;
      w.pos = start + 4;
      writeData(ps, w, sh, ps.args.src);
      if (w.pos + 8 > w.buf.length) w.ensure(8);
      const b = w.buf;
      const p = w.pos;
      b[p] = 8; b[p + 1] = 0; b[p + 2] = A_LINENO; b[p + 3] = 0;
      b[p + 4] = lineno; b[p + 5] = lineno >>> 8; b[p + 6] = lineno >>> 16; b[p + 7] = lineno >>> 24;
      w.pos = p + 8;
      const len = w.pos - start;
      b[start] = len;
      b[start + 1] = len >>> 8;
      if (w.pos - cur.msg > MAX_MSG && cur.inMessage > 0) {
        w.pos = start;
        this.closeMessage(cur);
        this.openMessage(cur);
        continue;
      }
      cur.inMessage++;
      break;
    }
    lines.push(line);
  }

  finish(): RestoreStep[] {
    if (this.tStart >= 0) this.closeText();
    if (this.cur) this.closeAdt();
    // The writer may have grown while later steps were written: cut the batches out at the end.
    const buf = this.w.buf;
    for (const a of this.adts) {
      const end = a.ends[a.ends.length - 1]!;
      a.step.batch = { bytes: buf.subarray(a.start, end), ends: Uint32Array.from(a.ends, (e) => e - a.start), entriesBefore: Uint32Array.from(a.before) };
    }
    return this.steps;
  }

  private closeText(endsOnPass = false): void {
    this.steps.push({
      kind: 'text', text: this.src.slice(this.tStart, this.tEnd), firstLine: this.tLine, exist: this.tExist,
      ...(endsOnPass ? { endsOnPass } : {}),
    });
    this.tStart = -1;
  }

  private openAdt(isAdd: boolean, name: string, sh: Shape, exist: boolean): OpenAdt {
    const cmd = isAdd ? Cmd.Add : Cmd.Del;
    const step: OpenAdt['step'] = {
      kind: 'adt', cmd, set: name, type: sh.spec.name, exist, lines: [], batch: { bytes: new Uint8Array(0), ends: new Uint32Array(0) },
    };
    const cur: OpenAdt = { step, isAdd, shape: sh, flags: cmdFlags(cmd, exist), start: this.w.pos, ends: [], before: [0], msg: 0, adt: 0, inMessage: 0 };
    this.steps.push(step);
    this.adts.push(cur);
    this.cur = cur;
    this.openMessage(cur);
    return cur;
  }

  private openMessage(cur: OpenAdt): void {
    const w = this.w;
    cur.msg = w.message(cur.step.cmd, cur.flags);
    w.str(Attr.Setname, cur.step.set);
    w.u32(Attr.Lineno, 0);
    cur.adt = w.nest(Attr.Adt);
    cur.inMessage = 0;
  }

  private closeMessage(cur: OpenAdt): void {
    this.w.end(cur.adt);
    this.w.finish(cur.msg);
    cur.ends.push(this.w.pos);
    cur.before.push(cur.before[cur.before.length - 1]! + cur.inMessage);
  }

  private closeAdt(): void {
    this.closeMessage(this.cur!);
    this.cur = undefined;
  }
}
