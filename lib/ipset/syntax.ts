// ipset's text syntax: splitting command lines, checking elements, and writing entries and
// create lines the way `ipset save` prints them. The grammar itself is in grammar.ts; whole
// restore texts are checked by restore-text.ts, list output read by list-text.ts.
import { InvalidArgumentError } from '../core/errors.js';
import { describeValue } from '../core/args.js';
import {
  Fault, MAX_COMMENT, MAX_TIMEOUT, P_BMPORT, P_IFACE, P_IP, P_IP_PLAIN, P_MAC, P_MARK, P_NET,
  P_PORT, P_SET, ParseState, TYPES, byteLength, cNumber, checkAdtOptions, checkCreateOptions, checkElement,
  icmpTypeCode, protoNumber, splitArgs, type TypeSpec,
} from './grammar.js';
import { icmpName, protoName, servicePort } from './netdb.js';
import type { CreateOptions, Entry, EntryObject, Family, SetType } from './types.js';

export { validateRestore, type KnownSet, type RestoreOptions, type RestorePlan } from './restore-text.js';
export { parseList, parseSave, parseHeader, parseMember, type ListedMember, type SavedSet } from './list-text.js';

const invalid = (message: string, argument: string, column?: number) =>
  new InvalidArgumentError(message, { subsystem: 'ipset', argument, ...(column === undefined ? {} : { column }) });

function faultError(f: unknown, src: string, column = (pos: number) => pos + 1): unknown {
  if (!(f instanceof Fault)) return f;
  return invalid(f.msg, src.slice(f.pos, f.end), column(f.pos));
}

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

/** Splits one command line into its arguments as libipset's build_argv() does, with 1-based columns. */
export function tokenize(line: string): { text: string; column: number }[] {
  let a = 0;
  while (a < line.length && isSpace(line.charCodeAt(a))) a++;
  const st = new ParseState();
  const { args, ts, te, tc } = st;
  try {
    splitArgs(st, line, a, line.length, ts, te, tc);
  } catch (f) {
    throw faultError(f, line);
  }
  const out: { text: string; column: number }[] = [];
  for (let i = 0; i < args.n; i++) out.push({ text: args.src.slice(ts[i]!, te[i]!), column: tc[i]! + 1 });
  return out;
}

function specOf(type: SetType): TypeSpec {
  const s = TYPES.get(type);
  if (!s) throw invalid(`unknown set type '${type}'`, String(type));
  return s;
}

/**
 * Throws InvalidArgumentError for an element libipset (or the kernel) would refuse for a set of
 * this type and family; `column` is the 1-based offset of the offending part within `elem`.
 */
export function validateElement(type: SetType, family: Family, elem: string): void {
  const s = specOf(type);
  if (s.families === 'inet' && family !== 'inet') throw invalid(`set type ${type} is IPv4 only`, family);
  try {
    checkElement(new ParseState(), s, family, elem, 0, elem.length, { noZeroCidr: s.noZeroCidr, nonZero: s.nonZero });
  } catch (f) {
    throw faultError(f, elem);
  }
}

/** The family an element's addresses are written in (an IPv6 address has colons before any comma). */
function familyOf(s: TypeSpec, elem: string): Family {
  if (s.families === 'none') return 'inet';
  const comma = elem.indexOf(',');
  const first = comma < 0 ? elem : elem.slice(0, comma);
  return first.includes(':') ? 'inet6' : 'inet';
}

/** Checks ELEMENT [OPTIONS...] as written after `add NAME`. */
function checkEntryText(s: TypeSpec, text: string): void {
  const st = new ParseState();
  const { args, ts, te, tc } = st;
  try {
    splitArgs(st, text, 0, text.length, ts, te, tc);
    if (args.n === 0) throw new Fault(0, 0, 'empty entry');
    checkElement(st, s, familyOf(s, args.src.slice(ts[0]!, te[0]!)), args.src, ts[0]!, te[0]!, { noZeroCidr: s.noZeroCidr, nonZero: s.nonZero });
    checkAdtOptions(st, s, true, args.src, ts, te, 1, args.n);
  } catch (f) {
    if (!(f instanceof Fault)) throw f;
    let k = 0;
    while (k < args.n - 1 && ts[k + 1]! <= f.pos) k++;
    throw invalid(f.msg, args.src.slice(f.pos, f.end), tc[k]! + 1 + Math.max(0, f.pos - ts[k]!));
  }
}

const PART_FIELD: Record<number, keyof EntryObject> = {
  [P_IP]: 'ip', [P_IP_PLAIN]: 'ip', [P_NET]: 'ip', [P_PORT]: 'port', [P_BMPORT]: 'port', [P_MAC]: 'mac',
  [P_MARK]: 'mark', [P_IFACE]: 'iface', [P_SET]: 'set',
};
const ELEMENT_FIELDS = new Set(['ip', 'port', 'proto', 'ip2', 'mac', 'mark', 'iface', 'physdev', 'set', 'before', 'after']);
const EXTENSION_FIELDS = new Set(['timeout', 'packets', 'bytes', 'comment', 'skbmark', 'skbprio', 'skbqueue', 'nomatch']);

/**
 * One entry as the text after `add NAME`: a string is ipset's own syntax (element, then options)
 * and is checked and returned as it is; an object is written the way `ipset save` prints it.
 */
export function formatEntry(type: SetType, entry: Entry): string {
  const s = specOf(type);
  if (typeof entry === 'string') {
    // A line break would start a command of its own in the restore text.
    if (/[\r\n]/.test(entry)) throw invalid('an entry may not contain line breaks', entry);
    checkEntryText(s, entry);
    return entry;
  }
  if (entry === null || typeof entry !== 'object') throw invalid(`an entry is a string or an object, not ${entry === null ? 'null' : typeof entry}`, String(entry));
  const e = entry as EntryObject & Record<string, unknown>;
  const names = fieldsOf(s);
  const fields = new Set<string>(names);
  if (s.parts.includes(P_PORT) || s.parts.includes(P_BMPORT)) fields.add('proto');
  if (s.parts.includes(P_IFACE)) fields.add('physdev');
  if (s.name === 'list:set') fields.add('before').add('after');
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined) continue;
    if (ELEMENT_FIELDS.has(k) ? !fields.has(k) : !EXTENSION_FIELDS.has(k)) {
      throw invalid(ELEMENT_FIELDS.has(k) || EXTENSION_FIELDS.has(k)
        ? `field '${k}' does not belong in a ${type} entry (it takes ${[...fields].join(', ')})`
        : `unknown entry field '${k}'`, k);
    }
  }
  if (e.nomatch !== undefined && !s.nomatch) throw invalid(`field 'nomatch' does not belong in a ${type} entry`, 'nomatch');

  const family: Family = s.families !== 'none' && typeof e.ip === 'string' && e.ip.includes(':') ? 'inet6' : 'inet';
  const parts: string[] = [];
  for (let i = 0; i < s.parts.length; i++) {
    const p = s.parts[i]!;
    const field = names[i]!;
    let v = e[field];
    // A protocol without ports (gre, esp, ...) takes the pseudo port 0.
    if (v === undefined && p === P_PORT && typeof e.proto === 'string' && ![6, 17, 132, 136, 1, 58].includes(protoNumber(e.proto, 0, e.proto.length))) v = 0;
    if (v === undefined) {
      if (s.lastOptional && i === s.parts.length - 1) break;
      throw invalid(`a ${type} entry needs '${field}'`, field);
    }
    parts.push(formatPart(p, field, v, e, family));
  }
  let out = parts.join(',');
  if (e.before !== undefined && e.after !== undefined) throw invalid(`give 'before' or 'after', not both`, 'after');
  if (e.before !== undefined) out += ` before ${text(e.before, 'before')}`;
  if (e.after !== undefined) out += ` after ${text(e.after, 'after')}`;

  if (e.timeout !== undefined) out += ` timeout ${integer(e.timeout, 'timeout', MAX_TIMEOUT)}`;
  if (e.nomatch) out += ' nomatch';
  if (e.packets !== undefined) out += ` packets ${counter(e.packets, 'packets')}`;
  if (e.bytes !== undefined) out += ` bytes ${counter(e.bytes, 'bytes')}`;
  if (e.comment !== undefined && e.comment !== '') {
    const c = text(e.comment, 'comment');
    if (/["\r\n]/.test(c)) throw invalid(`comment may not contain double quotes or line breaks`, 'comment');
    if (byteLength(c, 0, c.length) > MAX_COMMENT) throw invalid(`comment is longer than ${MAX_COMMENT} characters`, 'comment');
    out += ` comment "${c}"`;
  }
  if (e.skbmark !== undefined) {
    out += ` skbmark ${typeof e.skbmark === 'number' ? `0x${integer(e.skbmark, 'skbmark', 0xffffffff).toString(16)}` : hexes(text(e.skbmark, 'skbmark'), /^0x([0-9a-f]{1,8})(?:\/0x([0-9a-f]{1,8}))?$/i, '0x', '/0x')}`;
  }
  if (e.skbprio !== undefined) out += ` skbprio ${hexes(text(e.skbprio, 'skbprio'), /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i, '', ':')}`;
  if (e.skbqueue !== undefined) out += ` skbqueue ${integer(e.skbqueue, 'skbqueue', 65535)}`;
  checkEntryText(s, out);
  return out;
}

/** Hex numbers as `ipset save` prints them (lower case, no leading zeros); anything else as given, for the checks to refuse. */
function hexes(v: string, re: RegExp, prefix: string, sep: string): string {
  const m = re.exec(v);
  if (!m) return v;
  const h = (x: string) => parseInt(x, 16).toString(16);
  // A full mask is how save prints a mark without one.
  const second = m[2] === undefined || (sep === '/0x' && parseInt(m[2], 16) === 0xffffffff) ? '' : `${sep}${h(m[2])}`;
  return `${prefix}${h(m[1]!)}${second}`;
}

function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.includes('\0') || (field !== 'comment' && /[\s"]/.test(v))) {
    throw invalid(`'${field}' must be a non-empty string without NUL${field === 'comment' ? '' : ', blanks or quotes'}`, field);
  }
  return v;
}

function integer(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw invalid(`'${field}' must be an integer from 0 to ${max}, not ${String(v)}`, field);
  }
  return v;
}

function counter(v: unknown, field: string): string {
  const ok = typeof v === 'bigint' ? v >= 0n && v <= 18446744073709551614n : typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!ok) throw invalid(`'${field}' must be an integer from 0 to 18446744073709551614, not ${String(v)}`, field);
  return String(v);
}

/** The entry fields of a type's element parts: the first address is `ip`, a second one `ip2`. */
function fieldsOf(s: TypeSpec): string[] {
  let addresses = 0;
  return s.parts.map((p) => (p === P_IP || p === P_IP_PLAIN || p === P_NET ? (addresses++ ? 'ip2' : 'ip') : PART_FIELD[p]!));
}

function formatPart(p: number, field: string, v: unknown, e: EntryObject, family: Family): string {
  switch (p) {
    case P_PORT:
    case P_BMPORT:
      return formatPort(p, v, e.proto, family);
    case P_MARK:
      return `0x${integer(v, 'mark', 0xffffffff).toString(16).padStart(8, '0')}`;
    case P_MAC: {
      const m = text(v, 'mac');
      return /^([0-9a-f]{1,2}:){5}[0-9a-f]{1,2}$/i.test(m) ? m.split(':').map((x) => x.padStart(2, '0').toUpperCase()).join(':') : m;
    }
    case P_IFACE: {
      if (e.physdev !== undefined && typeof e.physdev !== 'boolean') throw invalid(`'physdev' must be a boolean`, 'physdev');
      return (e.physdev ? 'physdev:' : '') + text(v, 'iface');
    }
    default:
      return text(v, field);
  }
}

/** [proto:]port as `ipset save` prints it: protocol by name, services and ICMP types resolved. */
function formatPort(p: number, v: unknown, proto: string | undefined, family: Family): string {
  const raw = typeof v === 'number' ? String(integer(v, 'port', 65535)) : text(v, 'port');
  const colon = raw.indexOf(':');
  if (proto === undefined && colon > 0) return formatPort(p, raw.slice(colon + 1), raw.slice(0, colon), family);
  if (proto === undefined) return p === P_BMPORT ? portRange(raw, 'tcp') : `tcp:${portRange(raw, 'tcp')}`;
  const num = protoNumber(text(proto, 'proto'), 0, proto.length);
  if (num <= 0) throw invalid(`unknown protocol '${proto}'`, 'proto');
  const name = protoName(num);
  if (p === P_BMPORT) {
    if (num !== 6 && num !== 17) throw invalid(`bitmap:port takes tcp or udp ports, not '${proto}'`, 'proto');
    return portRange(raw, name);
  }
  if (num === 1 || num === 58) {
    if ((num === 1) !== (family === 'inet')) throw invalid(`protocol ${proto} does not go with family ${family}`, 'proto');
    try {
      return `${name}:${icmpName(icmpTypeCode(raw, 0, raw.length, num === 58), num === 58)}`;
    } catch (f) {
      throw faultError(f, raw);
    }
  }
  if (num === 6 || num === 17 || num === 132 || num === 136) return `${name}:${portRange(raw, name)}`;
  if (raw !== '0') throw invalid(`protocol ${proto} has no ports: port must be 0`, 'port');
  return `${name}:0`;
}

/** A port or range with service names turned into numbers where /etc/services knows them. */
function portRange(raw: string, proto: string): string {
  const one = (x: string) => {
    const n = cNumber(x, 0, x.length);
    if (n >= 0) return n <= 65535 ? String(n) : x;
    const port = servicePort(x, proto);
    return port >= 0 ? String(port) : x;
  };
  const dash = raw.indexOf('-', 1);
  if (servicePort(raw, proto) >= 0) return one(raw);
  return dash > 0 && dash < raw.length - 1 ? `${one(raw.slice(0, dash))}-${one(raw.slice(dash + 1))}` : one(raw);
}

// Create lines ----------------------------------------------------------------------------------

const ENV_WORDS = /^--?(!|exist|q|quiet|s|sorted|r|resolve|n|name|t|terse|o|output|f|file)$/;
const FLAG_OPTIONS = new Set(['counters', 'comment', 'skbinfo', 'forceadd']);
const HEX_OPTIONS = new Set(['initval', 'markmask']);

/** Throws InvalidArgumentError unless `name` is a set name libipset takes and reads back as written. */
export function validateSetName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || byteLength(name, 0, name.length) > 31 || /[\s"\0]/.test(name)) {
    throw invalid(`invalid set name ${typeof name === 'string' ? JSON.stringify(name) : describeValue(name)} (1 to 31 bytes, no blanks, quotes or NUL)`, String(name));
  }
  // libipset would take these for its own options wherever they stand on a line.
  if (ENV_WORDS.test(name)) throw invalid(`set name '${name}' reads as an ipset option`, name);
}

/** `create NAME TYPE OPTIONS`, options in the order `ipset save` prints them. */
export function formatCreate(name: string, type: SetType, opts: CreateOptions = {}): string {
  validateSetName(name);
  const s = specOf(type);
  const o = opts as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === false) continue;
    if (!s.create.includes(k)) {
      const known = [...TYPES.values()].some((t) => t.create.includes(k));
      throw invalid(known ? `option '${k}' is not allowed with set type ${type}` : `unknown create option '${k}'`, k);
    }
  }
  if (s.bitmap && o.range === undefined) throw invalid(`set type ${type} needs option 'range'`, 'range');
  const words: string[] = [];
  const owner: string[] = [];
  for (const k of s.create) {
    const v = o[k];
    if (v === undefined || v === false) continue;
    let w: string;
    if (FLAG_OPTIONS.has(k)) {
      if (v !== true) throw invalid(`option '${k}' is a flag: true or false, not ${String(v)}`, k);
      words.push(k);
      owner.push(k);
      continue;
    }
    if (k === 'family' || k === 'range') w = text(v, k);
    else if (k === 'netmask' && typeof v === 'string') {
      if (!/^\d+$/.test(v)) throw invalid(`netmask must be a prefix length (libipset takes no dotted masks), not '${v}'`, k);
      w = v;
    } else {
      w = String(integer(v, k, 0xffffffff));
      if (HEX_OPTIONS.has(k)) w = `0x${(v as number).toString(16).padStart(8, '0')}`;
    }
    words.push(k, w);
    owner.push(k, k);
  }
  const line = words.join(' ');
  const st = new ParseState();
  const { ts, te } = st;
  let at = 0;
  for (let i = 0; i < words.length; i++) {
    ts[i] = at;
    te[i] = at + words[i]!.length;
    at = te[i]! + 1;
  }
  try {
    checkCreateOptions(st, s, line, ts, te, 0, words.length);
  } catch (f) {
    if (!(f instanceof Fault)) throw f;
    let k = 0;
    while (k < words.length - 1 && ts[k + 1]! <= f.pos) k++;
    const opt = owner[k] ?? type;
    throw invalid(`${f.msg} (option '${opt}')`, opt);
  }
  return `create ${name} ${type}${line ? ` ${line}` : ''}`;
}
