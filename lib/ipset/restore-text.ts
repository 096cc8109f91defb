// Checks a whole `ipset restore` text before any of it is applied: libipset applies a restore
// line by line and stops at the first error, leaving everything before it in place. The same
// pass can hand each checked line to a RestoreSink (encode.ts compiles the text that way).
import { ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError } from '../core/errors.js';
import * as grammar from './grammar.js';
import type { CreateInfo, ElementRules, TypeSpec } from './grammar.js';
import type { Family, SetType } from './types.js';

/** What is known of a set that exists before the text runs (from `ipset list -t`). */
export interface KnownSet {
  type: SetType;
  family: Family;
  timeout: boolean;
  counters: boolean;
  comment: boolean;
  skbinfo: boolean;
}

export interface RestoreOptions {
  /** Like `ipset -exist restore`. */
  exist?: boolean;
  /** Operation name put in front of messages and on errors. */
  op?: string;
}

export interface RestorePlan {
  /** Sets the text creates, changes, renames, swaps, flushes or destroys (names as written). */
  touched: string[];
  /** Sets the text creates that still exist at its end, under their final names. */
  created: string[];
  /** Sets that existed before the text and are gone at its end. */
  destroyed: string[];
  /** Lines in the text. */
  lines: number;
  /** Lines that are commands (not blank, comment or COMMIT). */
  commands: number;
}

/**
 * What checkRestore reports, line by line, to whoever turns the text into work (encode.ts).
 * A line is reported once it passed every check.
 */
export interface RestoreSink {
  /**
   * A command libipset still runs (create, destroy, flush, rename, swap): text[start, end) is the
   * line with its newline. `exist`: -exist is on for this line (given to the run or on a line up
   * to here; libipset keeps it for the rest of the text). `test`: the line is a test, which ends
   * the restore when the element is in the set (`ipset restore` exits with success there) and
   * fails it at this line when it is not.
   */
  text(line: number, start: number, end: number, exist: boolean, test?: boolean): void;
  /**
   * An add (isAdd) or del line: `ps` (its elem, adt and setRef) holds what it parsed, over
   * ps.args.src. `name` is the set's name as written, `spec`/`family` what the set is.
   */
  adt(ps: ParseState, isAdd: boolean, name: string, spec: TypeSpec, family: Family, line: number, exist: boolean): void;
}

interface SetState {
  spec: TypeSpec;
  family: Family;
  ext: number;
  /** Everything the create line said, for sets created in this text. */
  info?: CreateInfo;
  rules: ElementRules;
  /** Created by this text (rather than known before it). */
  born: boolean;
  /** The name it had before the text, for known sets. */
  origin?: string;
  /** Member names of a list:set created in this text (unknown for sets known before it). */
  members?: Set<string>;
}

// Local names: module bindings can cost a getter call each under some loaders (tsx), in a
// loop that runs once per line.
const {
  ADT_TEST, Fault, MAX_ARGS, MAX_LINE_BYTES, X_COMMENT, X_COUNTERS, X_SKBINFO, X_TIMEOUT, byteLength,
  checkAdtOptions, checkCreateOptions, checkElement, checkSetName, splitArgs, typeSpec,
} = grammar;
const { ParseState } = grammar;
type ParseState = grammar.ParseState;

/** The extensions (X_TIMEOUT, X_COUNTERS, X_COMMENT, X_SKBINFO by bit) and the options that need them. */
export const EXT_NAMES = ['timeout', 'counters', 'comment', 'skbinfo'];
export const EXT_OPTIONS = ['timeout', 'packets/bytes', 'comment', 'skbmark/skbprio/skbqueue'];

const C_CREATE = 1, C_ADD = 2, C_DEL = 3, C_DESTROY = 4, C_FLUSH = 5, C_RENAME = 6, C_SWAP = 7, C_TEST = 8;

/** libipset's commands and aliases, in its matching order; any prefix of a name matches. */
const COMMANDS: [number, string, string[]][] = [
  [C_CREATE, 'create', ['create', 'new', '-N']],
  [C_ADD, 'add', ['add', '-A']],
  [C_DEL, 'del', ['del', '-D']],
  [C_TEST, 'test', ['test', '-T']],
  [C_DESTROY, 'destroy', ['destroy', 'x', '-X']],
  [0, 'list', ['list', '-L']],
  [0, 'save', ['save', '-S']],
  [0, 'restore', ['restore', '-R']],
  [C_FLUSH, 'flush', ['flush', '-F']],
  [C_RENAME, 'rename', ['rename', 'e', '-E']],
  [C_SWAP, 'swap', ['swap', 'w', '-W']],
  [0, 'help', ['help', '-h', '-H']],
  [0, 'version', ['version', '-v', '-V']],
  [0, 'quit', ['quit']],
];

/** ipset_match_cmd(): the command a word names, as [code, name], or undefined. */
function matchCommand(word: string): [number, string] | undefined {
  const w = word.startsWith('--') ? word.slice(2) : word;
  if (w.length === 0 || word === '-') return undefined;
  for (const [code, name, aliases] of COMMANDS) if (aliases.some((n) => n.startsWith(w))) return [code, name];
  return undefined;
}

/** The environment option a word names (ipset_match_envopt: one extra leading dash allowed). */
function envOption(word: string): string | undefined {
  const w = word.startsWith('--') ? word.slice(1) : word;
  switch (w) {
    case '-!': case '-exist': return 'exist';
    case '-q': case '-quiet': case '-s': case '-sorted': case '-r': case '-resolve':
    case '-n': case '-name': case '-t': case '-terse': return 'flag';
    case '-o': case '-output': return 'output';
    case '-f': case '-file': return 'file';
    default: return undefined;
  }
}

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

/**
 * Checks `ipset restore` text against the sets `known` to exist before it runs, following the
 * sets the text itself creates, destroys, renames and swaps. Throws, for the first bad line,
 * InvalidArgumentError (syntax, options the set type or set does not take), NotFoundError (a
 * set that does not exist) or ExistsError (creating a set that exists), each with `line` and
 * `column` (1-based).
 */
export function validateRestore(text: string, known: ReadonlyMap<string, KnownSet>, opts: RestoreOptions = {}): RestorePlan {
  return checkRestore(text, known, opts);
}

/** validateRestore, telling `sink` about each line that passed. */
export function checkRestore(text: string, known: ReadonlyMap<string, KnownSet>, opts: RestoreOptions = {}, sink?: RestoreSink): RestorePlan {
  const op = opts.op;
  let exist = opts.exist === true;
  const live = new Map<string, SetState | null>();
  let knownGone = false;
  const touched = new Set<string>();
  // The kernel counts references per name (a swap leaves them in place): list:set members
  // added in this text cannot be destroyed or renamed.
  const refs = new Map<string, number>();
  const ref = (name: string, d: number) => refs.set(name, (refs.get(name) ?? 0) + d);
  const release = (st: SetState | undefined) => {
    if (!st?.members) return;
    for (const m of st.members) ref(m, -1);
    st.members.clear();
  };
  const inUse = (i: number, name: string, what: string) => {
    if ((refs.get(name) ?? 0) > 0) throw at(InUseError, i, `set '${name}' cannot be ${what}: a list:set of this text holds it`);
  };
  // This parse's state (grammar.ts keeps none): every line reuses its arrays.
  const ps = new ParseState();
  const { args, ts, te, tc, extensionAt, setRef } = ps;
  let lineNo = 0;
  let commands = 0;
  let lineStart = 0;
  // Consecutive lines mostly add to one set: remember it.
  let lastName = '';
  let lastState: SetState | undefined;

  const lookup = (name: string): SetState | undefined => {
    const s = live.get(name);
    if (s !== undefined) return s ?? undefined;
    if (knownGone) return undefined;
    const k = known.get(name);
    if (!k) return undefined;
    const st = fromKnown(k, name, op);
    live.set(name, st);
    return st;
  };
  const existing = (): string[] => {
    const names = new Set<string>();
    if (!knownGone) for (const n of known.keys()) if (!live.has(n)) names.add(n);
    for (const [n, s] of live) if (s) names.add(n);
    return [...names];
  };

  /** An error at [a,b) of args.src (or of the text itself when inText). */
  const error = (Cls: typeof NlkitError, a: number, b: number, msg: string, inText = false): NlkitError => {
    let col = a - lineStart + 1;
    let argument = (inText ? text : args.src).slice(a, b);
    if (!inText && args.src !== text) {
      let k = 0;
      while (k < args.n - 1 && ts[k + 1]! <= a) k++;
      col = tc[k]! - lineStart + 1 + Math.max(0, a - ts[k]!);
      argument = args.src.slice(a, b);
    }
    const message = `${op ? `${op}: ` : ''}line ${lineNo}: ${msg}`;
    const e = new Cls(message, { op: op ?? '', subsystem: 'ipset' });
    // NotFoundError and ExistsError carry the position too, as errors from libipset do.
    return Object.assign(e, { line: lineNo, column: col, argument });
  };
  const word = (i: number) => args.src.slice(ts[i]!, te[i]!);
  const at = (Cls: typeof NlkitError, i: number, msg: string) => error(Cls, ts[i]!, te[i]!, msg);

  const len = text.length;
  // libipset reads C strings: a NUL would end the line early and run a different command.
  const nulAt = text.indexOf('\0');
  let pos = 0;
  while (pos < len) {
    let end = text.indexOf('\n', pos);
    const newline = end >= 0;
    if (!newline) end = len;
    lineNo++;
    lineStart = pos;
    pos = end + 1;
    if (nulAt !== -1 && nulAt < end) {
      throw error(InvalidArgumentError, nulAt, nulAt + 1, 'a NUL character: libipset would end the line there and run what is before it', true);
    }
    if (end - lineStart > MAX_LINE_BYTES / 3 && byteLength(text, lineStart, end) > MAX_LINE_BYTES) {
      throw error(InvalidArgumentError, lineStart, end, `line is longer than libipset's ${MAX_LINE_BYTES} bytes`, true);
    }
    let a = lineStart;
    while (a < end && isSpace(text.charCodeAt(a))) a++;
    if (a === end || text.charCodeAt(a) === 35) continue;
    if (text.startsWith('COMMIT', a) && (a + 6 === end || (a + 7 === end && text.charCodeAt(a + 6) === 13))) {
      if (!newline) throw error(InvalidArgumentError, a, end, 'COMMIT on the last line needs a newline after it', true);
      continue;
    }
    commands++;
    try {
      splitArgs(ps, text, a, end, ts, te, tc);
    } catch (f) {
      if (f instanceof Fault) throw error(InvalidArgumentError, f.pos, f.end, f.msg, true);
      throw f;
    }
    let n = args.n;
    // build_argv() fails on any character after its 30th argument, even a blank.
    if (n === MAX_ARGS && args.end < end) {
      throw error(InvalidArgumentError, ts[n - 1]!, end, `more than ${MAX_ARGS} arguments on one line`);
    }
    try {
      // Environment options may stand anywhere on the line; libipset takes them out first.
      for (let i = 0; i < n; i++) {
        if (args.src.charCodeAt(ts[i]!) !== 45) continue;
        const env = envOption(word(i));
        if (env === undefined) continue;
        let drop = 1;
        if (env === 'exist') exist = true;
        else if (env === 'file') throw at(InvalidArgumentError, i, `option ${word(i)} is not supported in a restore text`);
        else if (env === 'output') {
          const v = i + 1 < n ? word(i + 1) : '';
          if (v !== 'plain' && v !== 'save' && v !== 'xml') throw at(InvalidArgumentError, i, `option ${word(i)} needs plain, save or xml`);
          drop = 2;
        }
        for (let k = i + drop; k < n; k++) {
          ts[k - drop] = ts[k]!; te[k - drop] = te[k]!; tc[k - drop] = tc[k]!;
        }
        n -= drop;
        args.n = n;
        i--;
      }
      if (n === 0) throw error(InvalidArgumentError, a, end, 'no command', true);

      let cmd: number;
      let cmdName: string;
      if (te[0]! - ts[0]! === 3 && args.src.startsWith('add', ts[0]!)) {
        cmd = C_ADD;
        cmdName = 'add';
      } else if (te[0]! - ts[0]! === 3 && args.src.startsWith('del', ts[0]!)) {
        cmd = C_DEL;
        cmdName = 'del';
      } else {
        const m = matchCommand(word(0));
        if (!m) throw at(InvalidArgumentError, 0, `unknown command '${word(0)}'`);
        if (m[0] === 0) throw at(InvalidArgumentError, 0, `command '${m[1]}' is not allowed in a restore text`);
        [cmd, cmdName] = m;
        lastState = undefined;
        lastName = '';
      }
      const needs = cmd === C_DESTROY || cmd === C_FLUSH ? 0 : 2;
      if (n - 1 < needs) {
        throw error(InvalidArgumentError, ts[0]!, te[n - 1]!, `command '${cmdName}' needs ${n === 1 ? 'arguments' : 'a second argument'}`);
      }
      const most = cmd === C_DESTROY || cmd === C_FLUSH ? 2 : cmd === C_RENAME || cmd === C_SWAP ? 3 : n;
      if (n > most) throw at(InvalidArgumentError, most, `unknown argument '${word(most)}'`);

      if (cmd === C_ADD || cmd === C_DEL || cmd === C_TEST) {
        let st: SetState | undefined;
        const na = ts[1]!;
        const nb = te[1]!;
        if (lastState && nb - na === lastName.length && args.src.startsWith(lastName, na)) {
          st = lastState;
        } else {
          checkSetName(args.src, na, nb);
          const name = args.src.slice(na, nb);
          st = lookup(name);
          if (!st) throw at(NotFoundError, 1, `set '${name}' does not exist`);
          lastName = name;
          lastState = st;
          // A test changes nothing: a set only tested need not be saved for a rollback.
          if (cmd !== C_TEST) touched.add(name);
        }
        checkElement(ps, st.spec, st.family, args.src, ts[2]!, te[2]!, st.rules);
        const ext = checkAdtOptions(ps, st.spec, cmd === C_TEST ? ADT_TEST : cmd === C_ADD, args.src, ts, te, 3, n);
        const missing = ext & ~st.ext;
        if (missing) {
          const bit = missing & X_TIMEOUT ? 0 : missing & X_COUNTERS ? 1 : missing & X_COMMENT ? 2 : 3;
          throw at(InvalidArgumentError, extensionAt[bit]!, `${EXT_OPTIONS[bit]} cannot be used: set '${lastName}' was created without ${EXT_NAMES[bit]} support`);
        }
        if (st.spec.name === 'list:set') {
          const member = checkMember(cmd === C_ADD);
          if (cmd === C_TEST) {
            // Whether the member (before/after the other) is in the list is the kernel's answer.
            lastState = undefined;
            lastName = '';
            sink?.text(lineNo, lineStart, Math.min(pos, len), exist, true);
            continue;
          }
          if (st.members && setRef.ref >= 0 && !st.members.has(args.src.slice(setRef.ref, setRef.refEnd))) {
            throw error(InvalidArgumentError, setRef.ref, setRef.refEnd, `set '${args.src.slice(setRef.ref, setRef.refEnd)}' named by before/after is not in list '${lastName}'`);
          }
          if (st.members && st.members.has(member) !== (cmd === C_ADD)) {
            if (cmd === C_ADD) st.members.add(member);
            else st.members.delete(member);
            ref(member, cmd === C_ADD ? 1 : -1);
          }
        }
        // libipset runs a test line itself: its answer decides whether the restore goes on.
        if (cmd === C_TEST) {
          // The set was not marked touched: the next line looks it up again.
          lastState = undefined;
          lastName = '';
          sink?.text(lineNo, lineStart, Math.min(pos, len), exist, true);
        } else if (sink) sink.adt(ps, cmd === C_ADD, lastName, st.spec, st.family, lineNo, exist);
        continue;
      }
      // Whatever is wrong with the rest of the line throws before anything runs.
      if (sink) sink.text(lineNo, lineStart, Math.min(pos, len), exist);

      if (cmd === C_CREATE) {
        checkSetName(args.src, ts[1]!, te[1]!);
        const name = word(1);
        const tname = word(2);
        if (tname.length > 31) throw at(InvalidArgumentError, 2, `type name '${tname}' is longer than 31 characters`);
        const spec = typeSpec(tname);
        if (!spec) throw at(InvalidArgumentError, 2, `unknown set type '${tname}'`);
        const info = checkCreateOptions(ps, spec, args.src, ts, te, 3, n);
        const st = fromCreate(spec, info);
        const old = lookup(name);
        if (old) {
          if (!exist) throw at(ExistsError, 1, `set '${name}' already exists`);
          const why = incompatible(old, st);
          if (why) throw at(ExistsError, 1, `set '${name}' already exists ${why} (-exist only tolerates an identical set)`);
          continue;
        }
        live.set(name, st);
        touched.add(name);
        continue;
      }

      const name = n > 1 ? word(1) : undefined;
      if (name !== undefined) checkSetName(args.src, ts[1]!, te[1]!);
      if (cmd === C_DESTROY || cmd === C_FLUSH) {
        if (name === undefined) {
          if (cmd === C_DESTROY) for (const r of refs.keys()) inUse(0, r, 'destroyed');
          for (const s of existing()) {
            touched.add(s);
            release(lookup(s));
            if (cmd === C_DESTROY) live.set(s, null);
          }
          if (cmd === C_DESTROY) knownGone = true;
        } else {
          const st = lookup(name);
          if (!st) throw at(NotFoundError, 1, `set '${name}' does not exist`);
          if (cmd === C_DESTROY) inUse(1, name, 'destroyed');
          touched.add(name);
          release(st);
          if (cmd === C_DESTROY) live.set(name, null);
        }
        continue;
      }

      // rename, swap
      checkSetName(args.src, ts[2]!, te[2]!);
      const other = word(2);
      const from = lookup(name!);
      const to = lookup(other);
      if (!from) throw at(NotFoundError, 1, `set '${name}' does not exist`);
      if (cmd === C_RENAME) {
        inUse(1, name!, 'renamed');
        if (to) throw at(ExistsError, 2, `set '${other}' already exists: cannot rename '${name}' to it`);
        live.set(name!, null);
        live.set(other, from);
      } else {
        if (!to) throw at(NotFoundError, 2, `set '${other}' does not exist`);
        const sameFamily = from.spec.families === 'none' || to.spec.families === 'none' || from.family === to.family;
        if (from.spec.features !== to.spec.features || !sameFamily) {
          throw at(InvalidArgumentError, 2, `sets '${name}' (${from.spec.name} ${from.family}) and '${other}' (${to.spec.name} ${to.family}) cannot be swapped: their types do not match`);
        }
        live.set(name!, to);
        live.set(other, from);
      }
      touched.add(name!);
      touched.add(other);
    } catch (f) {
      if (f instanceof Fault) throw error(InvalidArgumentError, f.pos, f.end, f.msg);
      throw f;
    }
  }

  /** The list:set member of the current line, checked to exist. */
  function checkMember(isAdd: boolean): string {
    const member = args.src.slice(setRef.name, setRef.nameEnd);
    const m = lookup(member);
    if (!m) throw error(NotFoundError, setRef.name, setRef.nameEnd, `set '${member}' to be ${isAdd ? 'added to' : 'deleted from'} '${lastName}' does not exist`);
    if (m.spec.name === 'list:set') throw error(InvalidArgumentError, setRef.name, setRef.nameEnd, `'${member}' is a list:set: a list:set cannot hold list:set sets`);
    if (setRef.ref >= 0) {
      const ref = args.src.slice(setRef.ref, setRef.refEnd);
      if (!lookup(ref)) throw error(NotFoundError, setRef.ref, setRef.refEnd, `set '${ref}' named by before/after does not exist`);
    }
    return member;
  }

  const created: string[] = [];
  const alive = new Set<string>();
  for (const [name, s] of live) {
    if (s?.born) created.push(name);
    if (s?.origin !== undefined) alive.add(s.origin);
  }
  const destroyed = [...known.keys()].filter((k) => (knownGone || live.has(k)) && !alive.has(k));
  return { touched: [...touched], created, destroyed, lines: lineNo, commands };
}

function extBits(k: { timeout: boolean; counters: boolean; comment: boolean; skbinfo: boolean }): number {
  return (k.timeout ? X_TIMEOUT : 0) | (k.counters ? X_COUNTERS : 0) | (k.comment ? X_COMMENT : 0) | (k.skbinfo ? X_SKBINFO : 0);
}

function fromKnown(k: KnownSet, name: string, op: string | undefined): SetState {
  const spec = typeSpec(k.type);
  if (!spec) throw new InvalidArgumentError(`${op ? `${op}: ` : ''}set '${name}' has unknown type '${k.type}'`, { op: op ?? '', subsystem: 'ipset', argument: k.type });
  return {
    spec, family: k.family, ext: extBits(k), born: false, origin: name,
    rules: { noZeroCidr: spec.noZeroCidr, nonZero: spec.nonZero },
  };
}

function fromCreate(spec: TypeSpec, info: CreateInfo): SetState {
  const rules: ElementRules = { noZeroCidr: spec.noZeroCidr, nonZero: spec.nonZero };
  if (info.netmask !== undefined) rules.netmask = info.netmask;
  if (info.from !== undefined && info.to !== undefined) {
    rules.from = info.from;
    rules.to = info.to;
  }
  const st: SetState = { spec, family: spec.families === 'both' ? info.family : 'inet', ext: info.ext, info, rules, born: true };
  if (spec.name === 'list:set') st.members = new Set();
  return st;
}

/** Why `ipset -exist create` would still refuse to recreate `old` as `now` (the kernel's same_set()). */
function incompatible(old: SetState, now: SetState): string {
  if (old.spec.name !== now.spec.name) return `with type ${old.spec.name}`;
  if (old.ext !== now.ext) return 'with other extensions (timeout, counters, comment, skbinfo)';
  const a = old.info;
  const b = now.info!;
  if (!a) return '';
  const same = (x: unknown, y: unknown) => x === y;
  if (!same(a.maxelem ?? 65536, b.maxelem ?? 65536)) return 'with another maxelem';
  if (!same(a.timeout, b.timeout)) return 'with another timeout';
  if (!same(a.netmask, b.netmask) || !same(a.bitmask, b.bitmask)) return 'with another netmask';
  if (!same(a.markmask, b.markmask)) return 'with another markmask';
  if (!same(a.size, b.size) || !same(a.from, b.from) || !same(a.to, b.to)) return 'with another size or range';
  return '';
}
