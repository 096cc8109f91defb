// Checks a whole plan before the kernel is touched (it only reads: set headers, the tables an
// iptables text is compiled against).
//
// ipset: every ipset operation is written as a line of `ipset restore` text, in apply order,
// and the text is checked as one against the sets the kernel has: syntax, entries against the
// type their set will have then, sets that do not exist, sets created twice, swaps of
// incompatible sets.
// IPVS: every field, as the IPVS handle checks it.
// iptables: each table is compiled by the native restore in dry-run mode. libxt_set looks a
// set up by name in the kernel when a rule is compiled, so a table whose rules match a set this
// transaction creates is compiled once the ipset phase has created it (checkDeferred); if it
// fails then, the sets are rolled back with everything else.
import { InvalidArgumentError, NlkitError, NotFoundError } from '../errors.js';
import { formatCreate, formatEntry, parseList, validateRestore, type KnownSet } from '../ipset/syntax.js';
import type { Entry, SetInfo, SetType } from '../ipset/types.js';
import { normDest, normDestKey, normKey, normService } from '../ipvs/validate.js';
import { planIpvsSync, type DesiredService } from '../ipvs/sync.js';
import type { TxHandles } from './handles.js';
import type { PlannedIpsetOp, PlannedIptablesOp, PlannedIpvsOp, PlannedOp } from './types.js';

const OP = 'transaction';

export interface Checked {
  /** Sets the ipset operations work on (including every set, for a destroy or flush without a name). */
  setsTouched: string[];
  /** iptables operations to compile after the ipset phase (their rules match sets created by it). */
  deferred: PlannedIptablesOp[];
}

/** Puts the operation (and entry) at fault in front of an error's message. */
const blamed = new WeakSet<Error>();

export function blame<E extends Error>(e: E, o: PlannedOp, entry?: number): E {
  if (e instanceof NlkitError && !blamed.has(e)) {
    blamed.add(e);
    let msg = e.message.replace(/^(transaction|ipset|iptables|ip6tables|ipvs)(\.\w+)?: /, '');
    if (entry !== undefined) msg = msg.replace(/^line \d+: /, '');
    e.message = `${OP}: ${o.summary} (#${o.index})${entry !== undefined ? `: entry ${entry}` : ''}: ${msg}`;
    Object.assign(e, { index: o.index, ...(entry !== undefined ? { entry } : {}) });
    if (!e.op) e.op = o.op;
  }
  return e;
}

export async function validate(plan: PlannedOp[], handles: TxHandles): Promise<Checked> {
  for (const o of plan) if (o.subsystem === 'ipvs') checkIpvs(o);
  const setOps = plan.filter((o): o is PlannedIpsetOp => o.subsystem === 'ipset');
  const known = setOps.length ? await knownSets(handles) : new Map<string, KnownSet>();
  const { touched, created } = setOps.length ? checkIpset(setOps, known) : { touched: [], created: new Set<string>() };

  const deferred: PlannedIptablesOp[] = [];
  const seen = new Set<string>();
  for (const o of plan) {
    if (o.subsystem !== 'iptables') continue;
    const key = `${o.family}/${o.table}`;
    // A second change to one table is compiled against the first when it applies, not now.
    if (seen.has(key)) continue;
    seen.add(key);
    // Compiled now, a rule matching a set the transaction has yet to create would fail.
    if (matchedSets(o.text).some((s) => created.has(s) && !known.has(s))) {
      deferred.push(o);
      continue;
    }
    await checkTable(o, handles);
  }
  return { setsTouched: touched, deferred };
}

export async function checkTable(o: PlannedIptablesOp, handles: TxHandles): Promise<void> {
  try {
    await handles.iptables(o.family).check(o.text, { table: o.table, noflush: o.noflush, counters: o.counters });
  } catch (e) {
    throw blame(e as Error, o);
  }
}

/** Set names the rules of an iptables text match or target (set match, SET target). */
export function matchedSets(text: string): string[] {
  const out: string[] = [];
  const re = /--(?:match-set|add-set|del-set|map-set)\s+("?)([^\s"]+)\1/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[2]!);
  return out;
}

async function knownSets(handles: TxHandles): Promise<Map<string, KnownSet>> {
  const sets = await handles.ipset().list(undefined, { members: false });
  return new Map(sets.map((s) => [s.name, knownOf(s)]));
}

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

/** The ipset operations as one restore text, checked as one. */
function checkIpset(ops: PlannedIpsetOp[], known: Map<string, KnownSet>): { touched: string[]; created: Set<string> } {
  const types = new Map<string, SetType>([...known].map(([n, k]) => [n, k.type]));
  const lines: string[] = [];
  const spans: Span[] = [];
  const created = new Set<string>();
  const adds = (o: PlannedIpsetOp, cmd: 'add' | 'del', name: string, entries: Entry[], exist: boolean, span: Span) => {
    const type = types.get(name);
    span.entryLine = lines.length + 1;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
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
    const plan = validateRestore(lines.join('\n') + '\n', known, { op: OP });
    const touched = new Set(plan.touched);
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

function checkIpvs(o: PlannedIpvsOp): void {
  try {
    switch (o.op) {
      case 'ipvs.addService':
      case 'ipvs.updateService':
        normService(o.op, o.service);
        break;
      case 'ipvs.deleteService':
        normKey(o.op, o.service);
        break;
      case 'ipvs.addDestination':
      case 'ipvs.updateDestination':
        normDest(o.op, normKey(o.op, o.service), o.destination);
        break;
      case 'ipvs.deleteDestination':
        normDestKey(o.op, normKey(o.op, o.service), o.destination);
        break;
      case 'ipvs.flush':
        break;
      case 'ipvs.sync':
        // The planner checks the whole wanted list (fields, duplicates) without the kernel.
        planIpvsSync([], o.services as DesiredService[], { ...o.options, prune: false });
        break;
    }
  } catch (e) {
    if (e instanceof NlkitError) throw blame(e, o);
    throw new InvalidArgumentError(`${OP}: ${o.summary} (#${o.index}): ${(e as Error).message}`, { op: o.op, subsystem: 'ipvs', cause: e });
  }
}
