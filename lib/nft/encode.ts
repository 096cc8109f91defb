// apply()'s commands -> one nfnetlink batch, message for message what nft 1.0.6 sends for the
// same commands (`nft -j -f`; table, chain and set comments as `nft -f` writes them).
// Pure: no kernel access. Sets that the batch does not create are described by the caller.
import { tableFlags } from './table-flags.js';
import { planPositions, type RulePlace } from './positions.js';
import { NotFoundError, type NlkitError } from '../core/errors.js';
import {
  DATA, ELEM, ELEMENT_OPTION_KEYS, VERDICT, FAMILY, MSG, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, SET_FLAGS,
} from './consts.js';
import { FAMILY_HOOKS, hookNumber, namedPriority, priorityNames } from './chains.js';
import { FastRules } from './compile-fast.js';
import { elementKey, RuleCompiler, single, soleKey, type AnonymousMapSpec, type RuleContext } from './compile.js';
import { concatLen, concatTypeId, typeByName, TYPES, type DataType } from './datatypes.js';
import { parseIPv4 } from '../core/address.js';
import { invalid, unsupported, withIndex } from './errors.js';
import type { KExpr, Verdict } from './ir.js';
import type { Family } from './types.js';
import { COMMENT_MAX, CONCAT_KEY_TYPEOF, UD_COMMENT, UD_SET, UdataBuilder, VERDICT_DATA_TYPEOF } from './udata.js';
import { typeofKey, VERDICT_TYPEOF } from './typeof.js';
import { OBJECT_KINDS, writeObject } from './objects.js';
import { NftWriter, type ElementSpec } from './wire.js';
import { concatIntervalOf, INTERVAL_OPEN_UDATA, intervalChange, intervalElements, intervalOf } from './intervals.js';
import { intervalMapElements, intervalSpec } from './map-intervals.js';


/** A set as the encoder needs to know it. */
export interface SetInfo {
  keyTypes: DataType[]; map: boolean; id?: number; interval?: boolean; data?: DataType[];
  /** An interval set's ranges (later add/delete element commands are checked and merged against them) and whether it merges. */
  ranges?: Array<[Buffer, Buffer]>; autoMerge?: boolean;
  /** Where this batch's NEWSET has the set's flags (a set statement adds NFT_SET_EVAL there). */
  flagsAt?: number;
}

export interface EncodeOptions {
  /** Sequence number of BEGIN; the messages follow it. */
  seq?: number;
  /** The ruleset generation the batch is valid for (the kernel refuses it after a change). */
  generation?: number;
  /** Sets and maps that exist in the kernel (for elements and rules that use them). */
  existingSet?(family: Family, table: string, name: string): SetInfo | undefined;
  /** The handle of the index-th rule of a chain in the kernel (rules given by `index`); undefined: no such rule. */
  ruleAt?(family: Family, table: string, chain: string, index: number): number | undefined;
  /** The index of an interface in the target namespace (`meta iif "lo"`); undefined: it does not exist. */
  ifindex?(name: string): number | undefined;
  /** Anonymous maps named `__map<id>` instead of nft's `__map%d` (the kernel's choice): sync() decodes its own batch and needs them apart. */
  numberAnonymous?: boolean;
  /**
   * Encoding as the text is parsed (restore-stream.ts): a set's bytes may sit in another writer,
   * so what would patch them afterwards (a rule making a declared set dynamic) throws instead and
   * the caller encodes the whole text again the two-pass way.
   */
  streaming?: boolean;
  /** Rule positions planned for the whole batch (positions.ts): by command index. */
  positions?: Map<number, RulePlace>;
  /** A buffer to write the batch into if it is large enough (wire.ts SpareBuffer): the caller's, used by nothing else until the batch is sent. */
  buffer?: Buffer;
}

export interface EncodedBatch {
  /** BEGIN, the messages, END: one sendmsg. */
  buf: Buffer;
  seq: number;
  /** For each message (BEGIN is 0), the index of the command that made it; -1 for BEGIN/END. */
  commandOf: number[];
  /** The generation BEGIN carries (EncodeOptions.generation), if any. */
  generation?: number;
  /** The sets and maps the batch creates, by `family\0table\0name` (without their in-batch id: what a later batch needs to know of them). */
  sets: Map<string, SetInfo>;
}

const NAME_MAX = 255;

const CHAIN_TYPES = ['filter', 'nat', 'route'];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function name(o: Record<string, unknown>, key: string, where: string): string {
  return nameOf(o[key], key, where);
}

/** name() of a value read by the caller (rules and chains read theirs at sites that see one shape). */
function nameOf(v: unknown, key: string, where: string): string {
  if (typeof v !== 'string' || v === '') throw invalid(`${where}.${key}`, `must be a non-empty string, got ${JSON.stringify(v)}`);
  // At most 3 UTF-8 bytes per UTF-16 unit: short names need no byte count.
  if (v.length * 3 > NAME_MAX && Buffer.byteLength(v) > NAME_MAX) throw invalid(`${where}.${key}`, `is ${Buffer.byteLength(v)} bytes long; the kernel allows ${NAME_MAX}`);
  return v;
}

function family(o: Record<string, unknown>, where: string): Family {
  return familyOf(o.family, where);
}

function familyOf(v: unknown, where: string): Family {
  const f = v ?? 'ip';
  if (f === 'ip' || f === 'ip6' || f === 'inet') return f;
  if (typeof f !== 'string' || !Object.hasOwn(FAMILY, f)) throw invalid(`${where}.family`, `unknown family ${JSON.stringify(f)} (${Object.keys(FAMILY).join(', ')})`);
  return f as Family;
}

function comment(o: Record<string, unknown>, where: string): Buffer | undefined {
  return commentOf(o.comment, where);
}

function commentOf(c: unknown, where: string): Buffer | undefined {
  if (c === undefined) return undefined;
  if (typeof c !== 'string') throw invalid(`${where}.comment`, 'must be a string');
  const n = Buffer.byteLength(c);
  if (n > COMMENT_MAX) throw invalid(`${where}.comment`, `is longer than ${COMMENT_MAX} bytes`);
  // UdataBuilder's record (type, length, text, NUL) in one allocation: a map of services has one per element.
  const b = Buffer.allocUnsafe(n + 3);
  b[0] = UD_COMMENT; b[1] = n + 1; b.write(c, 2); b[n + 2] = 0;
  return b;
}

/** A duration in seconds, as nft's JSON has it (nlkit's text parser gives milliseconds as fractions), in ms. */
function durationMs(v: unknown, where: string): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v) || !Number.isSafeInteger(Math.round(v * 1000))) throw invalid(where, `must be a number of seconds, got ${JSON.stringify(v)}`);
  return BigInt(Math.round(v * 1000));
}

function only(o: Record<string, unknown>, keys: ReadonlySet<string>, where: string, what: string): void {
  // for-in, not Object.keys: no array per command.
  for (const k in o) if (!keys.has(k)) throw unsupported(`${where}.${k}`, `${what} property "${k}"`);
}

// The properties each object takes (sets made once, not an array literal per command).
const TABLE_KEYS = new Set(['family', 'name', 'handle', 'comment', 'flags']);
const SET_KEYS = new Set(['family', 'table', 'name', 'handle', 'type', 'map', 'comment', 'elem', 'flags', 'timeout', 'stmt', 'size', 'policy', 'gc-interval', 'auto-merge']);
const ELEMENT_KEYS = new Set(['family', 'table', 'name', 'elem']);
const COUNTER_KEYS = new Set(['packets', 'bytes']);
const VERBS = new Set(['add', 'create', 'insert', 'replace', 'delete', 'flush']);
/** Object kinds that stand alone as a command (as `nft -j list` prints them): add. */
const BARE = new Set(['table', 'chain', 'rule', 'set', 'map', 'element', ...OBJECT_KINDS]);

/** A rule's handle (replace, delete): a positive integer. */
function ruleHandle(handle: unknown, where: string): number {
  if (typeof handle !== 'number' || !Number.isSafeInteger(handle) || handle < 1) throw invalid(`${where}.handle`, 'must be a rule handle (a positive integer)');
  return handle;
}

/** The commands of apply()'s argument: an array, or `{ nftables: [...] }` (metainfo skipped). */
export function commandList(input: unknown): Array<{ cmd: unknown; index: number; where: string }> {
  const list = isObj(input) && 'nftables' in input ? input.nftables : input;
  const prefix = isObj(input) ? 'nftables' : 'commands';
  if (!Array.isArray(list)) throw invalid('commands', 'must be an array of commands or { nftables: [...] }');
  return list.map((cmd, index) => ({ cmd, index, where: `${prefix}[${index}]` }))
    .filter(({ cmd }) => !(isObj(cmd) && 'metainfo' in cmd));
}

/** An add/create of a named set or map (or a bare set/map object, which means add). */
function isNamedSetAdd(cmd: unknown): boolean {
  if (!isObj(cmd)) return false;
  // A command has one key (encodeOne refuses others): no need to list them. Property reads
  // first: `in` on the many shapes of commands is slower than a load.
  const body = cmd.add ?? cmd.create;
  if (body !== undefined) return isObj(body) && ('set' in body || 'map' in body);
  return 'set' in cmd || 'map' in cmd;
}

/** Encodes commands into one batch; throws (with `index`) on the first command that cannot be. */
export function encodeCommands(input: unknown, opts: EncodeOptions = {}): EncodedBatch {
  const list = isObj(input) && 'nftables' in input ? input.nftables : input;
  const prefix = isObj(input) ? 'nftables' : 'commands';
  if (!Array.isArray(list)) throw invalid('commands', 'must be an array of commands or { nftables: [...] }');
  // The named sets are counted when a rule makes the first anonymous one (most batches have none).
  const named = () => {
    let n = 0;
    for (let i = 0; i < list.length; i++) if (isNamedSetAdd(list[i])) n++;
    return n;
  };
  // `index` in a chain the batch changed before: planned over the whole list (positions.ts).
  const positions = planPositions(list, opts.ruleAt, (i) => `${prefix}[${i}]`);
  // Room for the usual command up front: growing a 50 MB batch by doubling copies it again and again.
  const enc = commandEncoder(positions ? { ...opts, positions } : opts, Math.max(4096, list.length * 320), named);
  for (let index = 0; index < list.length; index++) {
    const cmd: unknown = list[index];
    if (isObj(cmd) && 'metainfo' in cmd) continue;
    enc.add(cmd, index, prefix, true);
  }
  return enc.finish();
}

/**
 * What commands are encoded with as their position (`where`): the real one (`commands[12]`) is
 * put into an error's text only when one is thrown. The paths below it (`.add.rule.expr[0]...`)
 * are built from this one character, not from a string per command (a 20k-service batch has
 * 200k commands: their position strings cost ~13% of its encoding).
 */
const HERE = '\u0000';

const joinPath = (base: string, part: string | number): string => (typeof part === 'number' ? `${base}[${part}]` : `${base}.${part}`);

/** e with HERE in its texts replaced by where (e is thrown by a command encoded at HERE). */
function placed(e: unknown, where: string): unknown {
  if (typeof e !== 'object' || e === null) return e;
  const o = e as Record<string, unknown>;
  for (const k of ['message', 'stack', 'argument', 'detail']) {
    const v = o[k];
    if (typeof v === 'string' && v.includes(HERE)) o[k] = v.replaceAll(HERE, where);
  }
  return e;
}

/** Where a command encoder writes: the writer and, for each message, the index of its command. */
export interface EncoderTarget { w: NftWriter; of: number[] }

/** encodeCommands() one command at a time (restore()'s stream: restore-stream.ts). */
export interface CommandEncoder {
  /** The batch's own writer (BEGIN first; END at finish()). */
  readonly main: EncoderTarget;
  /** Commands from now on go to `t` (the caller moves its messages into main). */
  into(t: EncoderTarget): void;
  /**
   * Encodes one command; throws (with `index`) when it cannot be. `where` names it in errors:
   * `commands[3]`, or with `indexed`, a prefix the index is appended to (`commands` -> `commands[3]`).
   */
  add(cmd: unknown, index: number, where: string, indexed?: boolean): void;
  finish(): EncodedBatch;
}

/**
 * An encoder taking commands one by one. nft numbers the named sets of a batch first (as it
 * reads them), then the anonymous ones its rules make: `namedSets` is how many named sets the
 * batch creates (or a function that counts them, called when the first anonymous set is made);
 * without it (a stream), anonymous sets are numbered from the named sets added before the first
 * of them, and finish() throws if another named set came later (those bytes would differ from
 * nft's: the caller encodes the whole list instead).
 * @example const enc = commandEncoder({}, 4096); enc.add({ add: { table: { family: 'ip', name: 't' } } }, 0, 'commands[0]'); const batch = enc.finish();
 */
export function commandEncoder(opts: EncodeOptions, size: number, namedSets?: number | (() => number)): CommandEncoder {
  const seq = opts.seq ?? 0;
  const main: EncoderTarget = { w: new NftWriter(seq, size, opts.buffer), of: [-1] };
  let w = main.w, commandOf = main.of;
  const sets = new Map<string, SetInfo>();
  let setId = 0;
  const countNamed = typeof namedSets === 'function' ? namedSets : undefined;
  let named = 0, anonBase = typeof namedSets === 'number' ? namedSets : undefined, anonId = anonBase ?? 0;
  const key = (f: Family, t: string, n: string) => `${f}\0${t}\0${n}`;
  const findSet = (f: Family, t: string, n: string): SetInfo | undefined => sets.get(key(f, t, n)) ?? opts.existingSet?.(f, t, n);
  const contexts = new Map<string, RuleContext>();
  let lastCtx: RuleContext | undefined, lastTable = '';
  // Interval sets of the kernel whose ranges this batch changes (intervalUpdate).
  const updated = new Map<string, SetInfo>();
  // Chains whose rules this batch adds, inserts or replaces (a later index would count them: refused).
  // By family, table, then chain name: the names are the commands' own strings, so a rule costs
  // two lookups and no key string (a joined key per rule cost ~8% of a 20k-service encode).
  // Kept as a list of family, table, chain until a rule with an index asks (most batches have
  // none: no lookups), then in the maps from there on.
  let touched: Map<Family, Map<string, Set<string>>> | undefined;
  const touchedLog: string[] = [];
  let touchedF: Family | undefined, touchedT = '', touchedC = '';
  // The command being encoded (its planned position, opts.positions).
  let current = -1;
  const touch = (f: Family, t: string, c: string) => {
    // Rules of a chain come one after another: the same chain as the last rule's is there.
    if (c === touchedC && t === touchedT && f === touchedF) return;
    touchedF = f; touchedT = t; touchedC = c;
    if (touched) touchIn(touched, f, t, c);
    else touchedLog.push(f, t, c);
  };
  const wasTouched = (f: Family, t: string, c: string): boolean => {
    if (!touched) {
      touched = new Map();
      for (let i = 0; i < touchedLog.length; i += 3) touchIn(touched, touchedLog[i] as Family, touchedLog[i + 1]!, touchedLog[i + 2]!);
      touchedLog.length = 0;
    }
    return touched.get(f)?.get(t)?.has(c) === true;
  };
  const touchIn = (touched: Map<Family, Map<string, Set<string>>>, f: Family, t: string, c: string) => {
    let byTable = touched.get(f);
    if (!byTable) touched.set(f, byTable = new Map());
    let chains = byTable.get(t);
    if (!chains) byTable.set(t, chains = new Set());
    chains.add(c);
  };

  // The last top-level command's verb and kind and their paths (encodeOne).
  let lastVerb = '', lastW0 = '', lastKind = '', lastWk = '';
  // Rules of the common shapes, compiled without a RuleCompiler per rule.
  const fast = new FastRules();
  // HERE's paths (`\0.add`, `\0.add.rule`) by their parts: made once, not per command.
  const paths = new Map<string, Map<string | number, string>>([[HERE, new Map()]]);

  w.batchBegin(opts.generation);
  return {
    main,
    into(t) { w = t.w; commandOf = t.of; },
    add(cmd, index, where, indexed) {
      current = index;
      if (isNamedSetAdd(cmd)) named++;
      const before = w.count;
      try {
        encodeOne(cmd, HERE);
      } catch (e) {
        throw withIndex(placed(e, indexed ? `${where}[${index}]` : where) as NlkitError, index);
      }
      for (let i = before; i < w.count; i++) commandOf.push(index);
    },
    finish() {
      if (anonBase !== undefined && anonBase !== named) throw new Error(`nft encode: anonymous sets numbered from ${anonBase}, but the batch has ${named} named sets`);
      w = main.w; commandOf = main.of;
      w.batchEnd();
      commandOf.push(-1);
      const made = new Map<string, SetInfo>();
      for (const [k, v] of sets) made.set(k, { keyTypes: v.keyTypes, map: v.map, ...(v.data ? { data: v.data } : {}) });
      return { buf: w.bytesWritten(), seq, commandOf, sets: made, ...(opts.generation !== undefined ? { generation: opts.generation } : {}) };
    },
  };

  /** The next anonymous set's id (see commandEncoder). */
  function nextAnonId(): number {
    if (anonBase === undefined) anonId = anonBase = countNamed ? countNamed() : named;
    return ++anonId;
  }

  function path(base: string, part: string | number): string {
    const m = paths.get(base);
    if (m === undefined) return joinPath(base, part);
    let p = m.get(part);
    if (p === undefined) {
      p = joinPath(base, part);
      m.set(part, p);
      paths.set(p, new Map());
    }
    return p;
  }

  function encodeOne(cmd: unknown, where: string): void {
    // soleKey, not single: no pair per command.
    let verb = soleKey(cmd, where), body = (cmd as Record<string, unknown>)[verb];
    // Consecutive commands mostly share verb and kind: their paths are the last command's.
    let w0 = where === HERE && verb === lastVerb ? lastW0 : path(where, verb);
    if (BARE.has(verb)) {
      // A bare object, as `nft -j list` prints it, means add.
      body = { [verb]: body };
      verb = 'add';
      w0 = where;
    }
    if (!VERBS.has(verb)) {
      throw unsupported(where, `command "${verb}"`);
    }
    const kind = soleKey(body, w0), obj = (body as Record<string, unknown>)[kind];
    const wk = w0 === lastW0 && kind === lastKind ? lastWk : path(w0, kind);
    if (where === HERE && w0 !== where) { lastVerb = verb; lastW0 = w0; lastKind = kind; lastWk = wk; }
    if (verb === 'flush' && kind === 'ruleset') {
      const f = isObj(obj) ? family(obj, wk) : undefined;
      w.simple(MSG.DELTABLE, f === undefined ? 0 : FAMILY[f], []);
      return;
    }
    if (!isObj(obj)) throw invalid(wk, 'must be an object');
    if ((verb === 'insert' || verb === 'replace') && kind !== 'rule') throw invalid(w0, `${verb} applies to rules only`);
    switch (kind) {
      case 'table': return table(verb, obj, wk);
      case 'chain': return chain(verb, obj, wk);
      case 'rule': return rule(verb, obj, wk);
      case 'set': case 'map': return set(verb, kind, obj, wk);
      case 'element': return element(verb, obj, wk);
      default:
        if (OBJECT_KINDS.includes(kind) && verb !== 'flush') return writeObject(w, verb, kind, obj, wk, { family, name });
        throw unsupported(wk, `object "${kind}"`);
    }
  }

  function table(verb: string, o: Record<string, unknown>, where: string): void {
    const f = family(o, where), n = name(o, 'name', where);
    if (verb === 'delete') return void w.simple(MSG.DELTABLE, FAMILY[f], [[1, n]]);
    if (verb === 'flush') return void w.simple(MSG.DELRULE, FAMILY[f], [[1, n]]);
    only(o, TABLE_KEYS, where, 'table');
    w.table(NLM_F_REQUEST | (verb === 'create' ? NLM_F_EXCL : 0), FAMILY[f], n, comment(o, where), tableFlags(o.flags, `${where}.flags`));
  }

  function chain(verb: string, o: Record<string, unknown>, where: string): void {
    // The properties in one for-in pass, as in rule().
    let family: unknown, table: unknown, name: unknown, type: unknown, hookName: unknown, prio: unknown, policy: unknown, comment: unknown, dev: unknown, other: string | undefined;
    for (const k in o) {
      const v = o[k];
      switch (k) {
        case 'family': family = v; break;
        case 'table': table = v; break;
        case 'name': name = v; break;
        case 'handle': break;
        case 'type': type = v; break;
        case 'hook': hookName = v; break;
        case 'prio': prio = v; break;
        case 'policy': policy = v; break;
        case 'comment': comment = v; break;
        case 'dev': dev = v; break;
        default: other ??= k;
      }
    }
    const f = familyOf(family, where), t = nameOf(table, 'table', where), n = nameOf(name, 'name', where);
    if (verb === 'delete') return void w.simple(MSG.DELCHAIN, FAMILY[f], [[1, t], [3, n]]);
    if (verb === 'flush') return void w.simple(MSG.DELRULE, FAMILY[f], [[1, t], [2, n]]);
    if (other !== undefined) throw unsupported(`${where}.${other}`, `chain property "${other}"`);
    const c: Parameters<NftWriter['chain']>[2] = { table: t, name: n, udata: commentOf(comment, where) };
    const base = type !== undefined || hookName !== undefined || prio !== undefined;
    if (base) {
      if (typeof type !== 'string' || !CHAIN_TYPES.includes(type)) throw invalid(`${where}.type`, `unknown chain type ${JSON.stringify(type)} (filter, nat, route)`);
      const hook = typeof hookName === 'string' ? hookNumber(f, hookName) : undefined;
      if (hook === undefined) throw invalid(`${where}.hook`, `unknown hook ${JSON.stringify(hookName)} in a ${f} table (${Object.keys(FAMILY_HOOKS[f]).join(', ')})`);
      c.type = type as string;
      c.hook = hook;
      c.prio = priority(prio, f, hookName as string, `${where}.prio`);
      if (f === 'netdev') {
        // `devices = { a, b }`: a list; nft sends a list of one as the single device.
        const devs = Array.isArray(dev) ? dev : [dev];
        if (!devs.length || devs.some((d) => typeof d !== 'string' || d === '' || Buffer.byteLength(d) > 15)) throw invalid(`${where}.dev`, `a netdev base chain needs a device name or a list of them (1 to 15 bytes each), got ${JSON.stringify(dev)}`);
        c.dev = devs.length === 1 ? devs[0] as string : devs as string[];
      } else if (dev !== undefined) throw unsupported(`${where}.dev`, `a device on a ${f} chain`);
    } else if (policy !== undefined) throw invalid(`${where}.policy`, 'only base chains (type, hook, prio) have a policy');
    else if (dev !== undefined) throw invalid(`${where}.dev`, 'only base chains (type, hook, prio) have a device');
    if (policy !== undefined) {
      if (policy !== 'accept' && policy !== 'drop') throw invalid(`${where}.policy`, `must be "accept" or "drop", got ${JSON.stringify(policy)}`);
      c.policy = policy === 'accept' ? 1 : 0;
    }
    w.chain(NLM_F_REQUEST | NLM_F_CREATE | (verb === 'create' ? NLM_F_EXCL : 0), FAMILY[f], c);
  }

  function priority(v: unknown, f: Family, hook: string, where: string): number {
    if (typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) return v;
    const m = typeof v === 'string' ? /^\s*([a-z]+)\s*(?:([+-])\s*(\d+))?\s*$/.exec(v) : null;
    const named = m ? namedPriority(f, hook, m[1]!) : undefined;
    if (m && named !== undefined) return named + (m[2] === '-' ? -Number(m[3]) : m[2] ? Number(m[3]) : 0);
    if (m && priorityNames(f).includes(m[1]!)) throw invalid(where, `"${m[1]}" is not a valid priority for the ${hook} hook of a ${f} table`);
    throw invalid(where, `must be an integer or a named priority (${priorityNames(f).join(', ')}), got ${JSON.stringify(v)}`);
  }

  function rule(verb: string, o: Record<string, unknown>, where: string): void {
    // The properties in one for-in pass (what only() walks anyway): a rule object built by spreading
    // (`{ ...base, chain, expr }`) has a hidden class of its own, and each property read by name
    // would miss V8's caches; for-in reads them by index. The checks run in their order as before.
    let family: unknown, table: unknown, chain: unknown, handle: unknown, index: unknown, expr: unknown, comment: unknown, other: string | undefined;
    for (const k in o) {
      const v = o[k];
      switch (k) {
        case 'family': family = v; break;
        case 'table': table = v; break;
        case 'chain': chain = v; break;
        case 'handle': handle = v; break;
        case 'index': index = v; break;
        case 'expr': expr = v; break;
        case 'comment': comment = v; break;
        default: other ??= k;
      }
    }
    const f = familyOf(family, where), t = nameOf(table, 'table', where), c = nameOf(chain, 'chain', where);
    if (verb === 'delete') { touch(f, t, c); return void w.simple(MSG.DELRULE, FAMILY[f], [[1, t], [2, c]], [3, ruleHandle(handle, where)]); }
    if (verb === 'flush') throw invalid(where, 'rules cannot be flushed (flush the chain)');
    if (other !== undefined) throw unsupported(`${where}.${other}`, `rule property "${other}"`);
    // Positions (firewalld's rule ordering): add after / insert before a rule given by handle or by index in the kernel's chain.
    let position: number | undefined;
    const planned = opts.positions?.get(current);
    if (verb === 'add' || verb === 'insert' || verb === 'create') {
      if (handle !== undefined && index !== undefined) throw invalid(where, 'give a handle or an index, not both');
      if (handle !== undefined) position = ruleHandle(handle, where);
      else if (index !== undefined && planned && (planned.position !== undefined || planned.positionId !== undefined)) position = planned.position;
      else if (index !== undefined) {
        if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw invalid(`${where}.index`, 'must be a rule index (a non-negative integer)');
        if (!opts.ruleAt) throw unsupported(`${where}.index`, 'rule indexes without the kernel\'s chain (apply or restore resolve them)');
        if (wasTouched(f, t, c)) throw unsupported(`${where}.index`, 'a rule index in a chain this batch already changed');
        position = opts.ruleAt(f, t, c, index);
        if (position === undefined) throw new NotFoundError(`${where}.index: chain ${f} ${t} ${c} has no rule at index ${index}`, { subsystem: 'nft', op: 'nft.apply' });
      }
    } else if (index !== undefined) throw invalid(`${where}.index`, `only add and insert take an index`);
    touch(f, t, c);
    if (!Array.isArray(expr)) throw invalid(`${where}.expr`, 'must be an array of statements');
    // The common statements of ip, ip6 and inet tables without a RuleCompiler (compile-fast.ts); the rest, and
    // anything it would refuse, through RuleCompiler.
    let exprs: readonly KExpr[], count = fast.compile(expr, f);
    if (count >= 0) exprs = fast.out;
    else {
      const rc = new RuleCompiler(ruleContext(f, t));
      rc.statements(expr, path(where, 'expr'));
      exprs = rc.out;
      count = exprs.length;
    }
    const flags = verb === 'replace' ? NLM_F_REQUEST | NLM_F_REPLACE
      : verb === 'insert' ? NLM_F_REQUEST | NLM_F_CREATE : NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND;
    w.rule(flags, FAMILY[f], t, c, exprs, count, verb === 'replace' ? ruleHandle(handle, where) : undefined, position, commentOf(comment, where), planned?.id, planned?.positionId);
  }

  /** The compiler's view of table t: one per table and family, not closures per rule. */
  function ruleContext(f: Family, t: string): RuleContext {
    // Consecutive rules are nearly always in the same table.
    if (lastCtx && lastCtx.family === f && lastTable === t) return lastCtx;
    const k = key(f, t, '');
    let ctx = contexts.get(k);
    if (!ctx) {
      ctx = {
        family: f,
        set: (n) => findSet(f, t, n),
        anonymousMap: (keyType, elements) => anonymousMap(f, t, keyType, elements),
        anonymousSet: (keyTypes, keys, k) => anonymousSet(f, t, keyTypes, keys, k),
        anonymousMapOf: (m) => anonymousMapOf(f, t, m),
        path,
        dynamic: (n) => {
          // As nft: a set this batch declares becomes dynamic when a rule writes to it.
          const at = sets.get(key(f, t, n))?.flagsAt;
          if (at !== undefined && opts.streaming) throw new Error(`nft encode: set ${n} made dynamic after it was written`);
          if (at !== undefined) w.buf.writeUInt32BE(w.buf.readUInt32BE(at) | SET_FLAGS.EVAL, at);
        },
        ...(opts.ifindex ? { ifindex: opts.ifindex } : {}),
      };
      contexts.set(k, ctx);
    }
    lastCtx = ctx; lastTable = t;
    return ctx;
  }

  function anonymousMap(f: Family, t: string, keyType: DataType, elements: Array<[Buffer, Verdict]>): { name: string; id: number } {
    const id = nextAnonId();
    const udata = new UdataBuilder().u32(UD_SET.KEYBYTEORDER, keyType.byteorder).u32(UD_SET.DATABYTEORDER, 0)
      .raw(UD_SET.DATA_TYPEOF, VERDICT_DATA_TYPEOF).u32(UD_SET.DATA_INTERVAL, 0).build();
    const n = opts.numberAnonymous ? `__map${id}` : '__map%d';
    w.set(NLM_F_REQUEST | NLM_F_CREATE, FAMILY[f], {
      table: t, name: n, flags: SET_FLAGS.ANONYMOUS | SET_FLAGS.CONSTANT | SET_FLAGS.MAP, keyType: keyType.id,
      keyLen: keyType.len, verdictMap: true, id, size: elements.length, udata,
    });
    writeElements(MSG.NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE, f, t, n, id, elements.map(([k, verdict]) => ({ key: k, verdict })));
    return { name: n, id };
  }

  /** An anonymous verdict or data map on any key, with the user data nft writes for it. */
  function anonymousMapOf(f: Family, t: string, m: AnonymousMapSpec): { name: string; id: number } {
    const id = nextAnonId();
    const data = m.data;
    const ud = new UdataBuilder().u32(UD_SET.KEYBYTEORDER, m.byteorder).u32(UD_SET.DATABYTEORDER, data && data.length === 1 ? data[0]!.byteorder : 0);
    if (m.typeof) ud.raw(UD_SET.KEY_TYPEOF, m.typeof);
    if (!data) ud.raw(UD_SET.DATA_TYPEOF, VERDICT_DATA_TYPEOF);
    ud.u32(UD_SET.DATA_INTERVAL, 0);
    const n = opts.numberAnonymous ? `__map${id}` : '__map%d';
    const concat = m.keyTypes.length > 1;
    const keyLen = concat ? concatLen(m.keyTypes) : m.keyTypes[0]!.len;
    // Interval maps (prefixes or ranges in the keys): map-intervals.ts.
    const iv = m.ranges ? intervalMapElements(m.ranges, concat, 'map', true) : undefined;
    w.set(NLM_F_REQUEST | NLM_F_CREATE, FAMILY[f], {
      table: t, name: n, keyType: concatTypeId(m.keyTypes),
      flags: SET_FLAGS.ANONYMOUS | SET_FLAGS.CONSTANT | SET_FLAGS.MAP | (iv ? SET_FLAGS.INTERVAL : 0) | (iv && concat ? SET_FLAGS.CONCAT : 0),
      keyLen, verdictMap: !data, id, size: iv ? iv.size : m.elements.length, udata: ud.build(),
      ...(data ? { dataType: concatTypeId(data), dataLen: data.length > 1 ? concatLen(data) : data[0]!.len } : {}),
      ...(iv && concat ? { concat: m.keyTypes.map((x) => x.len) } : {}),
    });
    writeElements(MSG.NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE, f, t, n, id, iv ? iv.elems : m.elements.map(([key, v]) => (Buffer.isBuffer(v) ? { key, data: v } : { key, verdict: v })));
    return { name: n, id };
  }

  function anonymousSet(f: Family, t: string, types: DataType[], keys: Buffer[] | Array<[Buffer, Buffer]>, k: { byteorder: number; typeof?: Buffer; concat?: boolean }): { name: string; id: number } {
    const id = nextAnonId();
    if (k.concat) {
      // Concatenated intervals: one element per [start, end] (NFTA_SET_ELEM_KEY, _KEY_END), nft's merge flag, each field's length.
      const ud = new UdataBuilder().u32(UD_SET.KEYBYTEORDER, k.byteorder).u32(UD_SET.MERGE_ELEMENTS, 1).raw(UD_SET.KEY_TYPEOF, k.typeof!);
      const n = opts.numberAnonymous ? `__set${id}` : '__set%d';
      const ranges = keys as Array<[Buffer, Buffer]>;
      w.set(NLM_F_REQUEST | NLM_F_CREATE, FAMILY[f], {
        table: t, name: n, flags: SET_FLAGS.ANONYMOUS | SET_FLAGS.CONSTANT | SET_FLAGS.INTERVAL | SET_FLAGS.CONCAT, keyType: concatTypeId(types),
        keyLen: concatLen(types), verdictMap: false, id, size: ranges.length, udata: ud.build(), concat: types.map((x) => x.len),
      });
      writeElements(MSG.NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE, f, t, n, id, ranges.map(([key, keyEnd]) => ({ key, keyEnd })));
      return { name: n, id };
    }
    // Prefixes or ranges make it an interval set, which nft marks for automatic merging.
    const interval = keys.length > 0 && Array.isArray(keys[0]);
    const ud = new UdataBuilder().u32(UD_SET.KEYBYTEORDER, k.byteorder);
    if (interval) ud.u32(UD_SET.MERGE_ELEMENTS, 1);
    // (Sets of dscp or ecn values carry no typeof record.)
    if (k.typeof) ud.raw(UD_SET.KEY_TYPEOF, k.typeof);
    const n = opts.numberAnonymous ? `__set${id}` : '__set%d';
    // nft's size counts an open interval's missing end element too.
    const elems = interval
      ? intervalElements(keys as Array<[Buffer, Buffer]>, 'set', true).map(intervalSpec)
      : (keys as Buffer[]).map((key) => ({ key }));
    w.set(NLM_F_REQUEST | NLM_F_CREATE, FAMILY[f], {
      table: t, name: n, flags: SET_FLAGS.ANONYMOUS | SET_FLAGS.CONSTANT | (interval ? SET_FLAGS.INTERVAL : 0), keyType: concatTypeId(types),
      keyLen: types.length > 1 ? concatLen(types) : types[0]!.len, verdictMap: false, id, size: elems.length + elems.filter((e) => (e as ElementSpec).udata === INTERVAL_OPEN_UDATA).length, udata: ud.build(),
    });
    writeElements(MSG.NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE, f, t, n, id, elems);
    return { name: n, id };
  }

  function writeElements(type: number, flags: number, f: Family, t: string, s: string, id: number | undefined, elems: ElementSpec[]): void {
    w.elements(type, flags, FAMILY[f], t, s, id, elems);
  }

  function setTypes(v: unknown, where: string): DataType[] {
    const names = Array.isArray(v) ? v : [v];
    if (names.length === 0) throw invalid(where, 'needs a type');
    return names.map((x, i) => {
      const t = typeof x === 'string' && x !== 'integer' ? typeByName(x) : undefined;
      if (!t) {
        if (typeof x === 'string') throw unsupported(Array.isArray(v) ? `${where}[${i}]` : where, `set key type "${x}"`);
        throw invalid(Array.isArray(v) ? `${where}[${i}]` : where, `must be a type name, got ${JSON.stringify(x)}`);
      }
      return t;
    });
  }

  function set(verb: string, kind: 'set' | 'map', o: Record<string, unknown>, where: string): void {
    const f = family(o, where), t = name(o, 'table', where), n = name(o, 'name', where);
    if (verb === 'delete') {
      sets.delete(key(f, t, n));
      return void w.simple(MSG.DELSET, FAMILY[f], [[1, t], [2, n]]);
    }
    if (verb === 'flush') return void w.simple(MSG.DELSETELEM, FAMILY[f], [[2, n], [1, t]]);
    only(o, SET_KEYS, where, kind);
    const setFlags = setFlagBits(o.flags, `${where}.flags`);
    const timeoutMs = durationMs(o.timeout, `${where}.timeout`);
    if (timeoutMs !== undefined && !(setFlags & SET_FLAGS.TIMEOUT)) throw invalid(`${where}.timeout`, 'needs the timeout flag');
    const counter = setStatements(o.stmt, `${where}.stmt`);
    if (setFlags & SET_FLAGS.TIMEOUT && setFlags & SET_FLAGS.CONSTANT) throw invalid(`${where}.flags`, 'a constant set cannot have timeouts');
    const typed = isObj(o.type) && 'typeof' in o.type ? typeofKey(o.type.typeof) : undefined;
    if (typed && Object.keys(o.type as object).length !== 1) throw invalid(`${where}.type`, 'must be a type name, a list of them or { typeof: expression }');
    const types = typed?.types ?? setTypes(o.type, `${where}.type`);
    const isMap = kind === 'map';
    if (isMap && o.map === undefined) throw invalid(`${where}.map`, 'a map needs a data type ("verdict", a type name, a list of them or { typeof })');
    if (!isMap && o.map !== undefined) throw invalid(`${where}.map`, 'a set has no data type (use a map)');
    // Data maps: `type a : b . c` (JSON "b . c" as nft lists it, or a list) or `typeof x : y`.
    const dataTyped = isMap && isObj(o.map) && 'typeof' in o.map ? typeofKey(o.map.typeof) : undefined;
    if (dataTyped && Object.keys(o.map as object).length !== 1) throw invalid(`${where}.map`, 'must be a type name, a list of them or { typeof: expression }');
    if (dataTyped && !typed) throw unsupported(`${where}.map`, 'a typeof data type with a key declared by type');
    const data = !isMap || o.map === 'verdict' ? undefined
      : dataTyped?.types ?? setTypes(typeof o.map === 'string' ? o.map.split(' . ') : o.map, `${where}.map`);
    if (typed && isMap && !dataTyped && data) throw unsupported(`${where}.map`, 'a data type declared by type with a typeof key');
    const tuning = setTuning(o, setFlags | (isMap ? SET_FLAGS.MAP : 0), where);
    const id = ++setId;
    const ud = new UdataBuilder().u32(UD_SET.KEYBYTEORDER, types.length > 1 ? 0 : types[0]!.byteorder);
    if (isMap) ud.u32(UD_SET.DATABYTEORDER, data && data.length === 1 ? data[0]!.byteorder : 0);
    if (tuning.autoMerge) ud.u32(UD_SET.MERGE_ELEMENTS, 1);
    if (typed) ud.raw(UD_SET.KEY_TYPEOF, typed.udata);
    else if (types.length > 1) ud.raw(UD_SET.KEY_TYPEOF, CONCAT_KEY_TYPEOF);
    if (dataTyped) ud.raw(UD_SET.DATA_TYPEOF, dataTyped.udata);
    else if (data && data.length > 1) ud.raw(UD_SET.DATA_TYPEOF, CONCAT_KEY_TYPEOF);
    else if (typed && isMap && !data) ud.raw(UD_SET.DATA_TYPEOF, VERDICT_TYPEOF);
    if (isMap) ud.u32(UD_SET.DATA_INTERVAL, 0);
    if (o.comment !== undefined) {
      if (typeof o.comment !== 'string' || Buffer.byteLength(o.comment) > COMMENT_MAX) throw invalid(`${where}.comment`, `must be a string of at most ${COMMENT_MAX} bytes`);
      ud.strz(UD_SET.COMMENT, o.comment);
    }
    // An interval set keyed by a concatenation is the kernel's pipapo set: NFT_SET_CONCAT and each field's length.
    const concatInterval = (setFlags & SET_FLAGS.INTERVAL) !== 0 && types.length > 1;
    const flagsAt = w.set(NLM_F_REQUEST | NLM_F_CREATE | (verb === 'create' ? NLM_F_EXCL : 0), FAMILY[f], {
      ...(concatInterval ? { concat: types.map((x) => x.len) } : {}),
      table: t, name: n, flags: (isMap ? SET_FLAGS.MAP : 0) | (concatInterval ? SET_FLAGS.CONCAT : 0) | setFlags, keyType: concatTypeId(types),
      keyLen: types.length > 1 ? concatLen(types) : types[0]!.len, verdictMap: isMap && !data, id, udata: ud.build(),
      ...(data ? { dataType: concatTypeId(data), dataLen: data.length > 1 ? concatLen(data) : data[0]!.len } : {}),
      // nft sizes a constant set by its initial elements.
      ...(setFlags & SET_FLAGS.CONSTANT && Array.isArray(o.elem) ? { size: o.elem.length } : {}),
      ...(tuning.size !== undefined ? { size: tuning.size } : {}),
      ...(tuning.policy !== undefined ? { policy: tuning.policy } : {}),
      ...(tuning.gcIntervalMs !== undefined ? { gcIntervalMs: tuning.gcIntervalMs } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(counter ? { counter } : {}),
    });
    const interval = (setFlags & SET_FLAGS.INTERVAL) !== 0;
    const info: SetInfo = { keyTypes: types, map: isMap, id, interval, flagsAt, ...(data ? { data } : {}), ...(interval ? { ranges: [], autoMerge: tuning.autoMerge === true } : {}) };
    sets.set(key(f, t, n), info);
    if (o.elem !== undefined && concatInterval) concatIntervalElements('add', f, t, n, info, o.elem, `${where}.elem`);
    else if (o.elem !== undefined && interval) intervalElementsOf(f, t, n, info, o.elem, `${where}.elem`);
    else if (o.elem !== undefined) elementsOf(verb, f, t, n, info, o.elem, `${where}.elem`);
  }

  /** A set's size, policy, gc-interval (seconds) and auto-merge, as nft sends them (policy performance: nothing). */
  function setTuning(o: Record<string, unknown>, flags: number, where: string): { size?: number; policy?: number; gcIntervalMs?: number; autoMerge?: boolean } {
    const out: { size?: number; policy?: number; gcIntervalMs?: number; autoMerge?: boolean } = {};
    if (o.size !== undefined) {
      if (typeof o.size !== 'number' || !Number.isInteger(o.size) || o.size < 1 || o.size > 0xffffffff) throw invalid(`${where}.size`, `must be an integer from 1 to 4294967295, got ${JSON.stringify(o.size)}`);
      out.size = o.size;
    }
    if (o.policy !== undefined && o.policy !== 'performance') {
      if (o.policy !== 'memory') throw invalid(`${where}.policy`, `must be "performance" or "memory", got ${JSON.stringify(o.policy)}`);
      out.policy = 1;
    }
    const gc = durationMs(o['gc-interval'], `${where}.gc-interval`);
    if (gc !== undefined) {
      if (gc > 0xffffffffn) throw invalid(`${where}.gc-interval`, 'is longer than 2^32 ms');
      out.gcIntervalMs = Number(gc);
    }
    if (o['auto-merge'] !== undefined) {
      if (typeof o['auto-merge'] !== 'boolean') throw invalid(`${where}.auto-merge`, 'must be true or false');
      if (o['auto-merge'] && !(flags & SET_FLAGS.INTERVAL)) throw invalid(`${where}.auto-merge`, 'only interval sets merge (flags interval)');
      // nft's grammar has no auto-merge for maps (their intervals carry values).
      if (o['auto-merge'] && flags & SET_FLAGS.MAP) throw invalid(`${where}.auto-merge`, 'maps do not merge (only interval sets)');
      if (o['auto-merge']) out.autoMerge = true;
    }
    return out;
  }

  /** A set's `stmt` list: only `[{ counter: null }]` (a counter on every element). */
  function setStatements(v: unknown, where: string): boolean {
    if (v === undefined) return false;
    if (!Array.isArray(v)) throw invalid(where, 'must be an array of statements');
    if (v.length !== 1 || !isObj(v[0]) || Object.keys(v[0]).join() !== 'counter' || (v[0].counter !== null && !(isObj(v[0].counter) && Object.keys(v[0].counter).length === 0))) {
      throw unsupported(where, `set statements ${JSON.stringify(v)} (only [{ "counter": null }])`);
    }
    return true;
  }

  /** A set's `flags` (constant, dynamic, timeout; a name or a list) as NFT_SET_* bits. */
  function setFlagBits(v: unknown, where: string): number {
    if (v === undefined) return 0;
    const names = Array.isArray(v) ? v : [v];
    let bits = 0;
    names.forEach((n, i) => {
      const at = Array.isArray(v) ? `${where}[${i}]` : where;
      if (n === 'eval') throw unsupported(at, `set flag "${n}"`);
      const b = n === 'constant' ? SET_FLAGS.CONSTANT : n === 'dynamic' ? SET_FLAGS.EVAL : n === 'timeout' ? SET_FLAGS.TIMEOUT : n === 'interval' ? SET_FLAGS.INTERVAL : undefined;
      if (b === undefined) throw invalid(at, `unknown set flag ${JSON.stringify(n)} (constant, dynamic, timeout, interval)`);
      bits |= b;
    });
    return bits;
  }

  function element(verb: string, o: Record<string, unknown>, where: string): void {
    const f = family(o, where), t = name(o, 'table', where), n = name(o, 'name', where);
    only(o, ELEMENT_KEYS, where, 'element');
    const info = findSet(f, t, n);
    if (!info) {
      throw new NotFoundError(`${where}: no set or map ${f} ${t} ${n} (neither created earlier in the batch nor in the kernel)`, { subsystem: 'nft', op: 'nft.apply' });
    }
    elementsOf(verb, f, t, n, info, o.elem, `${where}.elem`);
  }

  /** An element's timeout, expires (seconds), comment and counter, as nft sends them. */
  function elementOptions(eo: Record<string, unknown>, where: string): Omit<ElementSpec, 'key'> {
    const out: Omit<ElementSpec, 'key'> = {};
    const timeoutMs = durationMs(eo.timeout, `${where}.timeout`), expirationMs = durationMs(eo.expires, `${where}.expires`);
    if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
    if (expirationMs !== undefined) out.expirationMs = expirationMs;
    const udata = comment(eo, where);
    if (udata) out.udata = udata;
    if (eo.counter !== undefined) {
      const c = eo.counter;
      if (c !== null && !isObj(c)) throw invalid(`${where}.counter`, 'must be null or { packets, bytes }');
      const n = (key: string): bigint | undefined => {
        const x = c?.[key];
        if (x === undefined || x === 0) return undefined;
        if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw invalid(`${where}.counter.${key}`, 'must be a non-negative integer');
        return BigInt(x);
      };
      if (c) only(c, COUNTER_KEYS, `${where}.counter`, 'counter');
      out.counter = {};
      const bytes = n('bytes'), packets = n('packets');
      if (bytes !== undefined) out.counter.bytes = bytes;
      if (packets !== undefined) out.counter.packets = packets;
    }
    return out;
  }

  /** A new interval set's elements (intervals.ts), sent as nft sends a set declaration's. */
  function intervalElementsOf(f: Family, t: string, n: string, info: SetInfo, list: unknown, where: string): void {
    if (info.keyTypes.length !== 1) throw unsupported(where, 'interval maps keyed by concatenations');
    if (!Array.isArray(list) || list.length === 0) throw invalid(where, 'must be a non-empty array of elements');
    const options = new Map<string, Omit<ElementSpec, 'key'>>();
    // Interval maps: an interval's value goes on its start element too, as nft sends it.
    const verdicts = info.map && !info.data ? new RuleCompiler({ family: f, set: () => undefined, anonymousMap: () => { throw new Error('unreachable'); } }) : undefined;
    const ranges = list.map((e, i) => intervalEntry(e, info, options, false, verdicts, `${where}[${i}]`));
    const elems = withOptions(intervalElements(ranges, where).map(intervalSpec), options, where, info.map);
    info.ranges?.push(...ranges);
    writeElements(MSG.NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE, f, t, n, info.id, elems);
  }

  /**
   * Elements of a concatenated interval set (intervals.ts, concatIntervalOf): one start and end
   * key each, element options as in other sets. Overlaps are the kernel's to refuse (EEXIST).
   */
  function concatIntervalElements(verb: string, f: Family, t: string, n: string, info: SetInfo, list: unknown, where: string): void {
    if (verb !== 'add' && verb !== 'create' && verb !== 'delete') throw unsupported(where, `${verb} element on an interval set (add, create, delete)`);
    if (!Array.isArray(list) || list.length === 0) throw invalid(where, 'must be a non-empty array of elements');
    const del = verb === 'delete';
    // Interval maps: the value on the element, as nft sends it (a delete names only the key).
    const verdicts = info.map && !info.data ? new RuleCompiler({ family: f, set: () => undefined, anonymousMap: () => { throw new Error('unreachable'); } }) : undefined;
    const elems = list.map((e0, i): ElementSpec => {
      let e: unknown = e0, value: Pick<ElementSpec, 'data' | 'verdict'> = {};
      if (info.map) {
        if (!Array.isArray(e0) || (del ? e0.length < 1 || e0.length > 2 : e0.length !== 2)) {
          if (!del || Array.isArray(e0)) throw invalid(`${where}[${i}]`, `a map element is [key, ${info.data ? 'value' : 'verdict'}]`);
        } else {
          e = e0[0];
          if (!del && info.data) value = { data: elementKey(e0[1], info.data, `${where}[${i}][1]`) };
          else if (!del) { const [vk, vb] = single(e0[1], `${where}[${i}][1]`); value = { verdict: verdicts!.verdictOf(vk, vb, `${where}[${i}][1]`) }; }
        }
      }
      let k: unknown = e, opts: Omit<ElementSpec, 'key'> | undefined;
      if (isObj(e) && 'elem' in e) {
        const eo = e.elem, we = `${where}[${i}].elem`;
        if (!isObj(eo)) throw invalid(we, 'must be { val, timeout?, expires?, comment?, counter? }');
        only(eo, ELEMENT_OPTION_KEYS, we, 'element');
        if (!del) opts = elementOptions(eo, we);
        k = eo.val;
      }
      const [lo, hi] = concatIntervalOf(k, info.keyTypes, `${where}[${i}]`);
      return { ...opts, key: lo, keyEnd: hi, ...value };
    });
    const created = sets.get(key(f, t, n));
    const flags = del ? NLM_F_REQUEST : NLM_F_REQUEST | NLM_F_CREATE | (verb === 'create' ? NLM_F_EXCL : 0);
    writeElements(del ? MSG.DELSETELEM : MSG.NEWSETELEM, flags, f, t, n, del ? undefined : created?.id, elems);
  }

  /** add/delete element on an interval set declared earlier (in this batch or in the kernel): intervals.ts's intervalChange. */
  function intervalUpdate(verb: string, f: Family, t: string, n: string, info: SetInfo, list: unknown, where: string): void {
    if (!info.ranges) throw unsupported(where, 'adding or deleting elements of an interval set whose elements nlkit has not read');
    if (info.keyTypes.length !== 1) throw unsupported(where, 'concatenated intervals without NFT_SET_CONCAT');
    if (verb !== 'add' && verb !== 'delete') throw unsupported(where, `${verb} element on an interval set (add, delete)`);
    if (!Array.isArray(list) || list.length === 0) throw invalid(where, 'must be a non-empty array of elements');
    const options = new Map<string, Omit<ElementSpec, 'key'>>();
    // Interval maps: the value on the start element; nft checks overlaps as in sets (maps do not merge).
    const verdicts = info.map && !info.data && verb === 'add' ? new RuleCompiler({ family: f, set: () => undefined, anonymousMap: () => { throw new Error('unreachable'); } }) : undefined;
    const ranges = list.map((e, i) => intervalEntry(e, info, options, verb === 'delete', verdicts, `${where}[${i}]`));
    if (options.size && info.autoMerge) throw unsupported(where, 'element options in an interval set that merges (auto-merge)');
    // A kernel set's ranges are copied once per encoding: the caller's stay as read (a retried encoding starts from them).
    const created = sets.get(key(f, t, n));
    let mine = created ?? updated.get(key(f, t, n));
    if (!mine) updated.set(key(f, t, n), mine = { ...info, ranges: [...info.ranges] });
    const { del, add } = intervalChange(verb, ranges, mine.ranges!, info.autoMerge === true, where);
    if (del.length) writeElements(MSG.DELSETELEM, NLM_F_REQUEST, f, t, n, undefined, del.map(intervalSpec));
    if (add.length) writeElements(MSG.NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE, f, t, n, created?.id, withOptions(add.map(intervalSpec), options, where, info.map));
  }

  /**
   * One element of an interval set or map: a set's as intervalWithOptions reads it; a map's
   * `[key, value]` with the value kept with the options (a delete takes `[key]`, `[key, value]`
   * or the key: nft sends only the key).
   */
  function intervalEntry(e: unknown, info: SetInfo, options: Map<string, Omit<ElementSpec, 'key'>>, del: boolean, verdicts: RuleCompiler | undefined, where: string): [Buffer, Buffer] {
    if (!info.map || (del && !Array.isArray(e))) return intervalWithOptions(e, info, options, del, where);
    if (!Array.isArray(e) || (del ? e.length < 1 || e.length > 2 : e.length !== 2)) throw invalid(where, `a map element is [key, ${info.data ? 'value' : 'verdict'}]`);
    const r = intervalWithOptions(e[0], info, options, del, `${where}[0]`);
    if (del) return r;
    const k = r[0].toString('hex'), o = options.get(k) ?? {};
    if (info.data) o.data = elementKey(e[1], info.data, `${where}[1]`);
    else { const [vk, vb] = single(e[1], `${where}[1]`); o.verdict = verdicts!.verdictOf(vk, vb, `${where}[1]`); }
    options.set(k, o);
    return r;
  }

  /** One interval element (a value, prefix, range or `{ elem: { val, ...options } }`); its options (not for delete) kept by start key. */
  function intervalWithOptions(e: unknown, info: SetInfo, options: Map<string, Omit<ElementSpec, 'key'>>, del: boolean, where: string): [Buffer, Buffer] {
    let v = e;
    let o: Omit<ElementSpec, 'key'> | undefined;
    if (isObj(e) && 'elem' in e) {
      const eo = e.elem;
      if (!isObj(eo)) throw invalid(`${where}.elem`, 'must be { val, timeout?, expires?, comment?, counter? }');
      only(eo, ELEMENT_OPTION_KEYS, `${where}.elem`, 'element');
      if (!del) o = elementOptions(eo, `${where}.elem`);
      v = eo.val;
    }
    const r = intervalOf(v, info.keyTypes[0]!, where);
    if (o && Object.keys(o).length) options.set(r[0].toString('hex'), o);
    return r;
  }

  /** nft puts an interval's options on its start element (its end element has none). */
  function withOptions(elems: ElementSpec[], options: Map<string, Omit<ElementSpec, 'key'>>, where: string, map = false): ElementSpec[] {
    if (!options.size) return elems;
    return elems.map((e) => {
      const o = e.flags ? undefined : options.get(e.key.toString('hex'));
      if (!o) return e;
      if (e.udata && (!map || o.udata || o.timeoutMs !== undefined || o.expirationMs !== undefined || o.counter)) throw unsupported(where, 'element options on an interval open to the top of the key space');
      return { ...e, ...o };
    });
  }

  /**
   * Elements straight into the batch (no ElementSpec, key Buffer or closure per element): a
   * million-element list is encoded at the cost of its bytes. `where` strings are made only for
   * an error.
   */
  function elementsOf(verb: string, f: Family, t: string, n: string, info: SetInfo, list: unknown, where: string): void {
    if (verb === 'flush') throw invalid(where, 'elements cannot be flushed (flush the set)');
    if (info.interval && info.keyTypes.length > 1) return concatIntervalElements(verb, f, t, n, info, list, where);
    // nft checks later elements against the interval set's ranges and, with auto-merge, merges them.
    if (info.interval) return intervalUpdate(verb, f, t, n, info, list, where);
    if (!Array.isArray(list) || list.length === 0) throw invalid(where, 'must be a non-empty array of elements');
    const del = verb === 'delete';
    const isMap = info.map && !del;
    // Verdicts need no context: one compiler for the whole list.
    const verdicts = isMap && !info.data ? new RuleCompiler({ family: f, set: () => undefined, anonymousMap: () => { throw new Error('unreachable'); } }) : undefined;
    const flags = del ? NLM_F_REQUEST : NLM_F_REQUEST | NLM_F_CREATE | (verb === 'create' ? NLM_F_EXCL : 0);
    // Elements of a set created in this batch name it by id too, as nft does.
    const created = sets.get(key(f, t, n));
    const types = info.keyTypes, keyLen = types.length > 1 ? concatLen(types) : types[0]!.len;
    w.elementsBegin(del ? MSG.DELSETELEM : MSG.NEWSETELEM, flags, FAMILY[f], t, n, del ? undefined : created?.id);
    for (let i = 0; i < list.length; i++) {
      const e: unknown = list[i];
      let k: unknown = e, data: unknown;
      if (isMap) {
        if (!Array.isArray(e) || e.length !== 2) throw invalid(`${where}[${i}]`, `a map element is [key, ${info.data ? 'value' : 'verdict'}]`);
        k = e[0]; data = e[1];
      } else if (Array.isArray(e)) {
        if (!info.map) throw invalid(`${where}[${i}]`, 'a set element has no data');
        k = e[0];
      }
      let opts: Omit<ElementSpec, 'key'> | undefined;
      if (typeof k === 'object' && k !== null && 'elem' in k) {
        const eo = (k as { elem: unknown }).elem, we = `${where}[${i}]`;
        if (!isObj(eo)) throw invalid(`${we}.elem`, 'must be { val, timeout?, expires?, comment?, counter? }');
        only(eo, ELEMENT_OPTION_KEYS, `${we}.elem`, 'element');
        if (!del) opts = elementOptions(eo, `${we}.elem`);
        k = eo.val;
      }
      let verdict: Verdict | undefined, value: Buffer | undefined, code = -1, chain: string | undefined;
      if (isMap && info.data) value = elementKey(data, info.data, `${where}[${i}][1]`);
      else if (isMap) {
        // The usual verdicts read in place (no pair, Verdict or position string per element); the rest, and errors, through verdictOf.
        const vk = soleVerdict(data);
        if (vk !== undefined) {
          const vb = (data as Record<string, unknown>)[vk];
          if (vk === 'jump' || vk === 'goto') {
            const target = isObj(vb) ? vb.target : undefined;
            if (typeof target === 'string' && target !== '' && target.length * 3 <= 255) { code = VERDICT[vk]; chain = target; }
          } else code = VERDICT[vk];
        }
        if (code < 0) {
          const [vk2, vb2] = single(data, `${where}[${i}][1]`);
          verdict = verdicts!.verdictOf(vk2, vb2, `${where}[${i}][1]`);
        }
      }
      const at = w.elementBegin();
      // libnftnl's order: flags, timeout, expiration, key, data, user data, expression.
      if (opts?.timeoutMs !== undefined) w.be64(ELEM.TIMEOUT, opts.timeoutMs);
      if (opts?.expirationMs !== undefined) w.be64(ELEM.EXPIRATION, opts.expirationMs);
      const kn = w.nest(ELEM.KEY);
      if (!writeKey(w, k, types, keyLen)) {
        // elementKey names what does not parse, and where (or takes what the fast path did not).
        const kb = elementKey(k, types, `${where}[${i}]`);
        w.pos = kn + 4;
        w.bytes(DATA.VALUE, kb);
      }
      w.endNest(kn);
      if (code >= 0) w.dataVerdictOf(ELEM.DATA, code, chain);
      else if (verdict) w.dataVerdict(ELEM.DATA, verdict);
      else if (value) w.dataValue(ELEM.DATA, value);
      if (opts?.udata) w.bytes(ELEM.USERDATA, opts.udata);
      if (opts?.counter) w.counterExpr(ELEM.EXPR, opts.counter);
      w.elementEnd(at);
    }
    w.elementsEnd();
  }
}

/** The verdict a `{ accept: null }`-style or `{ jump|goto: ... }` object names (one own key of those); else undefined. */
function soleVerdict(v: unknown): 'accept' | 'drop' | 'return' | 'continue' | 'jump' | 'goto' | undefined {
  if (!isObj(v)) return undefined;
  let only: string | undefined, n = 0;
  for (const k in v) { if (n++) return undefined; only = k; }
  if (n !== 1 || !Object.hasOwn(v, only!)) return undefined;
  return only === 'goto' || only === 'jump' || only === 'accept' || only === 'drop' || only === 'return' || only === 'continue' ? only : undefined;
}

/**
 * A set key's NFTA_DATA_VALUE written in place (v: a value, or `{ concat: [...] }` for
 * concatenated keys); false when v does not parse (nothing usable is written then).
 */
function writeKey(w: NftWriter, v: unknown, types: DataType[], len: number): boolean {
  const p = w.valueAttr(DATA.VALUE, len), b = w.buf;
  if (types.length === 1) return writeValue(types[0]!, v, b, p);
  if (typeof v !== 'object' || v === null || !Array.isArray((v as { concat?: unknown }).concat)) return false;
  const parts = (v as { concat: unknown[] }).concat;
  if (parts.length !== types.length) return false;
  let at = p;
  for (let i = 0; i < types.length; i++) {
    const t = types[i]!;
    if (!writeValue(t, parts[i], b, at)) return false;
    // Components are padded to 4 bytes with zeros.
    for (let z = at + t.len, e = at + ((t.len + 3) & ~3); z < e; z++) b[z] = 0;
    at += (t.len + 3) & ~3;
  }
  return true;
}

/** One value of type t at b[at]: the common types without a Buffer, the rest through t.parse. */
function writeValue(t: DataType, v: unknown, b: Buffer, at: number): boolean {
  if (t === TYPES.ipv4_addr) return typeof v === 'string' && parseIPv4(v, b, at) !== undefined;
  if (t === TYPES.inet_proto && (v === 'tcp' || v === 'udp')) {
    b[at] = v === 'tcp' ? 6 : 17;
    return true;
  }
  if (t === TYPES.inet_service && typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) return false;
    b[at] = v >>> 8; b[at + 1] = v & 0xff;
    return true;
  }
  const x = t.parse(v);
  if (!x) return false;
  b.set(x, at);
  return true;
}
