// The check of a transaction's ipset operations before anything runs: they are written as one
// `ipset restore` text, in apply order, and that text is checked as one against the sets the
// kernel has (syntax, entries against the type their set will have then, sets that do not
// exist, sets created twice, swaps of incompatible sets). An error names the operation (and
// entry) of the queue it came from.
import { NlkitError, NotFoundError } from '../core/errors.js';
import { blame } from '../transaction/participant.js';
import type { PlannedIpsetOp } from './tx-types.js';
import { formatCreate, formatEntry, validateRestore, type KnownSet } from './syntax.js';
import type { Entry, SetInfo, SetType } from './types.js';

const OP = 'transaction';

/** What validation needs to know of an existing set. */
export function knownOf(s: SetInfo): KnownSet {
  const h = s.header;
  return {
    type: s.type, family: h.family ?? 'inet', timeout: h.timeout !== undefined,
    counters: h.counters === true, comment: h.comment === true, skbinfo: h.skbinfo === true,
  };
}

interface Span {
  o: PlannedIpsetOp;
  /** First line of the operation in the text. */
  line: number;
  /** Line of its first entry (add, del, replace, sync). */
  entryLine?: number;
}

/**
 * The ipset operations as one restore text, checked as one: the sets they touch, and those they create.
 *
 * @example
 *   const { touched, created } = checkIpset(ops, new Map()); // throws the first bad operation's error
 */
export function checkIpset(ops: PlannedIpsetOp[], known: Map<string, KnownSet>): { touched: string[]; created: Set<string> } {
  const types = new Map<string, SetType>([...known].map(([n, k]) => [n, k.type]));
  const lines: string[] = [];
  const spans: Span[] = [];
  const created = new Set<string>();
  const adds = (o: PlannedIpsetOp, cmd: 'add' | 'del', name: string, list: Entry[], exist: boolean, span: Span) => {
    const type = types.get(name);
    span.entryLine = lines.length + 1;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      let text: string;
      try {
        // A string is checked by validateRestore below; here only that it stays one line.
        if (typeof e === 'string' && !/[\r\n]/.test(e)) text = e;
        else if (type !== undefined) text = formatEntry(type, e);
        else throw new NotFoundError(`set '${name}' does not exist`, { op: o.op, subsystem: 'ipset' });
      } catch (err) {
        throw blame(err as Error, o, i);
      }
      lines.push(`${cmd} ${name} ${text}${exist ? ' -exist' : ''}`);
    }
  };
  for (const o of ops) {
    const span: Span = { o, line: lines.length + 1 };
    spans.push(span);
    try {
      switch (o.op) {
        case 'ipset.create':
          lines.push(formatCreate(o.name, o.type, o.options) + (o.exist ? ' -exist' : ''));
          if (!types.has(o.name)) created.add(o.name);
          types.set(o.name, o.type);
          break;
        case 'ipset.destroy':
          lines.push(o.name === undefined ? 'destroy' : `destroy ${o.name}`);
          if (o.name === undefined) types.clear();
          else types.delete(o.name);
          break;
        case 'ipset.flush':
          lines.push(o.name === undefined ? 'flush' : `flush ${o.name}`);
          break;
        case 'ipset.add':
        case 'ipset.del':
          adds(o, o.op === 'ipset.add' ? 'add' : 'del', o.name, o.entries, o.exist, span);
          break;
        case 'ipset.rename': {
          lines.push(`rename ${o.from} ${o.to}`);
          const t = types.get(o.from);
          types.delete(o.from);
          if (t !== undefined) types.set(o.to, t);
          if (created.delete(o.from) || !known.has(o.to)) created.add(o.to);
          break;
        }
        case 'ipset.swap': {
          lines.push(`swap ${o.a} ${o.b}`);
          const a = types.get(o.a), b = types.get(o.b);
          if (a !== undefined && b !== undefined) {
            types.set(o.a, b);
            types.set(o.b, a);
          }
          break;
        }
        case 'ipset.restore': {
          const own = o.text.replace(/\n$/, '').split('\n');
          // -exist on the first command line holds for the rest of the text, as in libipset.
          const first = own.findIndex((l) => l.trim() !== '' && !l.trimStart().startsWith('#') && l.trim() !== 'COMMIT');
          if (o.exist && first >= 0) own[first] += ' -exist';
          lines.push(...own);
          followRestore(o.text, types, created, known);
          break;
        }
        case 'ipset.replace':
          lines.push(`flush ${o.name}`);
          adds(o, 'add', o.name, o.entries, false, span);
          break;
        case 'ipset.sync': {
          const c = o.options.create;
          if (c && !types.has(o.name)) {
            lines.push(formatCreate(o.name, c.type, c.options ?? {}));
            types.set(o.name, c.type);
            created.add(o.name);
          }
          lines.push(`flush ${o.name}`);
          adds(o, 'add', o.name, o.entries, false, span);
          break;
        }
      }
    } catch (e) {
      throw blame(e as Error, o);
    }
  }
  try {
    const checked = validateRestore(lines.join('\n') + '\n', known, { op: OP });
    const touched = new Set(checked.touched);
    for (const o of ops) {
      if (o.op === 'ipset.add' || o.op === 'ipset.del') touched.add(o.name);
    }
    return { touched: [...touched], created };
  } catch (e) {
    const line = (e as { line?: number }).line;
    if (!(e instanceof NlkitError) || line === undefined) throw e;
    let span = spans[0]!;
    for (const s of spans) if (s.line <= line) span = s;
    const o = span.o;
    if (span.entryLine !== undefined && line >= span.entryLine) {
      delete (e as { line?: number }).line;
      delete (e as { column?: number }).column;
      throw blame(e, o, line - span.entryLine);
    }
    if (o.op === 'ipset.restore') (e as { line?: number }).line = line - span.line + 1;
    else {
      delete (e as { line?: number }).line;
      delete (e as { column?: number }).column;
    }
    e.message = e.message.replace(/^transaction: line \d+: /, o.op === 'ipset.restore' ? `line ${line - span.line + 1}: ` : '');
    throw blame(e, o);
  }
}

/** Follows the sets a restore text creates, renames, swaps and destroys, for the lines after it. */
function followRestore(text: string, types: Map<string, SetType>, created: Set<string>, known: Map<string, KnownSet>): void {
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/).filter((x) => x && !/^-(exist|!|q|quiet)$/.test(x));
    const [cmd, a, b] = w;
    if (cmd === 'create' || cmd === '-N' || cmd === 'n') {
      if (a && b) {
        if (!types.has(a)) created.add(a);
        types.set(a, b as SetType);
      }
    } else if (cmd === 'destroy' || cmd === '-X' || cmd === 'x') {
      if (a) types.delete(a);
      else types.clear();
    } else if ((cmd === 'rename' || cmd === '-E' || cmd === 'e') && a && b) {
      const t = types.get(a);
      types.delete(a);
      if (t) types.set(b, t);
      if (created.delete(a) || !known.has(b)) created.add(b);
    } else if ((cmd === 'swap' || cmd === '-W' || cmd === 'w') && a && b) {
      const ta = types.get(a), tb = types.get(b);
      if (ta && tb) {
        types.set(a, tb);
        types.set(b, ta);
      }
    }
  }
}
