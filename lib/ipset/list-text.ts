// Reads what `ipset list` and `ipset save` print (session.c list_create()/list_adt(): the
// header options and each member's extensions follow the type's create/add argument order).
import { InvalidArgumentError } from '../core/errors.js';
import type { Member, SetHeader, SetInfo, SetType } from './types.js';

/** A member as listed, with the hash:net,iface `wildcard` flag (not in Member yet). */
export interface ListedMember extends Member {
  wildcard?: boolean;
}

/** One set of `ipset save` output. */
export interface SavedSet {
  name: string;
  type: SetType;
  header: SetHeader;
  members: ListedMember[];
}

const NUMERIC = new Set(['hashsize', 'maxelem', 'netmask', 'timeout', 'bucketsize', 'size', 'initval', 'markmask', 'probes', 'resize']);
const TEXT = new Set(['family', 'range', 'bitmask']);
const FLAGS = new Set(['counters', 'comment', 'skbinfo', 'forceadd']);

/** The options of a `Header:` line (or of a saved create line) as typed values. */
export function parseHeader(text: string): SetHeader {
  const h: SetHeader = {};
  const f = text.split(' ').filter(Boolean);
  for (let i = 0; i < f.length; i++) {
    const k = f[i]!;
    if (FLAGS.has(k)) h[k] = true;
    else if (NUMERIC.has(k) && i + 1 < f.length) h[k] = Number(f[++i]);
    else if (TEXT.has(k) && i + 1 < f.length) h[k] = f[++i];
    // Unknown options are kept verbatim; a following word that looks like a value is theirs.
    else if (i + 1 < f.length && /^[0-9]|[.:/]/.test(f[i + 1]!) && !FLAGS.has(f[i + 1]!)) h[k] = f[++i];
    else h[k] = true;
  }
  return h;
}

/** A 64-bit counter as ipset prints it; anything else is not ipset's output. */
function counter(key: string, v: string): bigint {
  if (!/^[0-9]{1,20}$/.test(v)) throw new InvalidArgumentError(`${key} ${JSON.stringify(v)} is not a counter`, { subsystem: 'ipset', argument: v });
  return BigInt(v);
}

/** One member line (without the `add NAME ` of save output). */
export function parseMember(line: string): ListedMember {
  let sp = line.indexOf(' ');
  if (sp < 0) return { elem: line };
  const m: ListedMember = { elem: line.slice(0, sp) };
  const n = line.length;
  while (sp < n) {
    const a = sp + 1;
    let b = line.indexOf(' ', a);
    if (b < 0) b = n;
    const key = line.slice(a, b);
    if (key === 'nomatch' || key === 'wildcard') {
      m[key] = true;
      sp = b;
      continue;
    }
    let vb: number;
    if (key === 'comment' && line.charCodeAt(b + 1) === 34) {
      // Comments cannot hold a double quote, so the next one closes it.
      const close = line.indexOf('"', b + 2);
      vb = close < 0 ? n : close + 1;
      m.comment = line.slice(b + 2, close < 0 ? n : close);
    } else {
      vb = line.indexOf(' ', b + 1);
      if (vb < 0) vb = n;
      const v = line.slice(b + 1, vb);
      switch (key) {
        case 'timeout': m.timeout = Number(v); break;
        case 'packets': m.packets = counter(key, v); break;
        case 'bytes': m.bytes = counter(key, v); break;
        case 'skbmark': m.skbmark = v; break;
        case 'skbprio': m.skbprio = v; break;
        case 'skbqueue': m.skbqueue = Number(v); break;
        case 'comment': m.comment = v; break;
        default: break;
      }
    }
    sp = vb;
  }
  return m;
}

/** Parses the plain output of `ipset list` (also with -t: no members then). */
export function parseList(text: string): SetInfo[] {
  const sets: SetInfo[] = [];
  let cur: SetInfo | undefined;
  let inMembers = false;
  eachLine(text, (line) => {
    if (inMembers) {
      if (line.length > 0) cur!.members!.push(parseMember(line));
      else inMembers = false;
      return;
    }
    const colon = line.indexOf(': ');
    const key = colon < 0 ? line.replace(/:$/, '') : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 2);
    switch (key) {
      case 'Name':
        cur = { name: value, type: '' as SetType, revision: 0, header: {}, sizeInMemory: 0, references: 0, numEntries: -1 };
        sets.push(cur);
        break;
      case 'Type': if (cur) cur.type = value as SetType; break;
      case 'Revision': if (cur) cur.revision = Number(value); break;
      case 'Header': if (cur) cur.header = parseHeader(value); break;
      case 'Size in memory': if (cur) cur.sizeInMemory = Number(value); break;
      case 'References': if (cur) cur.references = Number(value); break;
      case 'Number of entries': if (cur) cur.numEntries = Number(value); break;
      case 'Members':
        if (cur) {
          cur.members = [];
          inMembers = true;
        }
        break;
      default: break;
    }
  });
  // Kernels before 4.x print no "Number of entries".
  for (const s of sets) if (s.numEntries < 0) s.numEntries = s.members?.length ?? 0;
  return sets;
}

/** Parses `ipset save` output into its sets, each with the members added to it. */
export function parseSave(text: string): SavedSet[] {
  const sets = new Map<string, SavedSet>();
  eachLine(text, (line) => {
    const s1 = line.indexOf(' ');
    const s2 = line.indexOf(' ', s1 + 1);
    if (s1 < 0 || s2 < 0) return;
    const name = line.slice(s1 + 1, s2);
    if (line.startsWith('create ')) {
      const s3 = line.indexOf(' ', s2 + 1);
      const type = line.slice(s2 + 1, s3 < 0 ? line.length : s3) as SetType;
      sets.set(name, { name, type, header: parseHeader(s3 < 0 ? '' : line.slice(s3 + 1)), members: [] });
    } else if (line.startsWith('add ')) {
      sets.get(name)?.members.push(parseMember(line.slice(s2 + 1)));
    }
  });
  return [...sets.values()];
}

/** Calls fn with each line of text, without its newline (no empty last line after a final one). */
function eachLine(text: string, fn: (line: string) => void): void {
  const n = text.length;
  let pos = 0;
  while (pos < n) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    fn(text.slice(pos, end));
    pos = end + 1;
  }
}
