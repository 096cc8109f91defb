// list() objects -> nft's own text, byte for byte what `nft list ruleset` / `nft list table`
// (nft 1.0.6) prints: src/rule.c (table_print, set_print_declaration, chain_print_declaration,
// prio2str, rule_print), expression.c (set_expr_print, calculate_delimiter), statement.c and
// datatype.c (mark as 0x%08x, interface names quoted). Pure functions; a construct this printer
// does not know is refused (UnsupportedError), never printed differently.
import { UnsupportedError } from '../core/errors.js';
import { priorityText } from './chains.js';
import { ELEMENT_OPTION_KEYS } from './consts.js';
import { EXT_EXPR_PRINTERS, EXT_PRINTERS } from './ext-table.js';
import { OBJECT_KINDS, objectText } from './objects.js';
import { typeofKey } from './typeof.js';
import { isRawTypeof, rawHex, rawText } from './expr-raw.js';
import { tableFlagsText } from './table-flags.js';
import { timeText } from './duration.js';
import type { Family, ListObject, Statement } from './types.js';

export interface PrintOptions {
  /** Adds `# handle N` as `nft -a list` does. */
  handles?: boolean;
}

const refuse = (what: string): never => {
  throw new UnsupportedError(`${what} cannot be printed by nlkit`, { subsystem: 'nft', op: 'nft.save', detail: what });
};

/** How a value of some type prints: marks in hex, interface names quoted, the rest as JSON has it. */
type Kind = 'mark' | 'string' | 'plain' | 'hex';
const kindOfType = (t: string): Kind => (t === 'mark' ? 'mark' : t === 'ifname' || t === 'string' ? 'string' : 'plain');

const hex8 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
const quote = (s: string): string => `"${s}"`;

/** The value kinds an expression's values have (one per part of a concatenation). */
function kindsOf(e: unknown): Kind[] {
  if (!e || typeof e !== 'object') return ['plain'];
  const o = e as Record<string, unknown>;
  if ('concat' in o) return (o.concat as unknown[]).flatMap(kindsOf);
  if ('meta' in o) {
    const key = (o.meta as { key: string }).key;
    // Interface names and device group names are quoted (a group's number is not).
    return [key === 'mark' ? 'mark' : key === 'iifname' || key === 'oifname' || key === 'iif' || key === 'oif' || key === 'iifgroup' || key === 'oifgroup' ? 'string' : 'plain'];
  }
  if ('ct' in o) return [(o.ct as { key: string }).key === 'mark' ? 'mark' : 'plain'];
  // A raw payload's values are nft's xinteger: hex.
  if ('payload' in o && isRawTypeof(o)) return ['hex'];
  if ('typeof' in o) return kindsOf(o.typeof);
  for (const op of ['&', '|', '^', '<<', '>>']) if (op in o) return kindsOf((o[op] as unknown[])[0]);
  return ['plain'];
}

/** A value of the given kinds: scalars, flag lists, prefixes, ranges, concatenations. */
function value(v: unknown, kinds: Kind[]): string {
  if (typeof v === 'boolean') return v ? 'exists' : 'missing';
  if (typeof v === 'number') return kinds[0] === 'mark' ? hex8(v) : kinds[0] === 'hex' ? rawHex(v) : String(v);
  if (typeof v === 'string') return v.startsWith('@') ? v : kinds[0] === 'string' ? quote(v) : v;
  if (Array.isArray(v)) return v.map((x) => value(x, kinds)).join(',');
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('concat' in o) return (o.concat as unknown[]).map((x, i) => value(x, [kinds[i] ?? 'plain'])).join(' . ');
    if ('prefix' in o) { const p = o.prefix as { addr: unknown; len: number }; return `${value(p.addr, kinds)}/${p.len}`; }
    if ('range' in o) { const [a, b] = o.range as unknown[]; return `${value(a, kinds)}-${value(b, kinds)}`; }
    if ('set' in o) return `{ ${(o.set as unknown[]).map((x) => element(x, kinds, false)).join(', ')} }`;
  }
  return refuse(`the value ${JSON.stringify(v)}`);
}

/** One set element: `key [comment "c"]` or, in a map, `key [comment "c"] : verdict`. */
function element(el: unknown, kinds: Kind[], _named: boolean, dataKinds?: Kind[]): string {
  const key = (k: unknown): string => {
    if (k && typeof k === 'object' && 'elem' in k) {
      // set_elem_expr_print: the value, its statements, timeout, expires, comment.
      const e = (k as { elem: Record<string, unknown> }).elem;
      for (const f of Object.keys(e)) if (!ELEMENT_OPTION_KEYS.has(f)) refuse(`a set element with ${f}`);
      let out = value(e.val, kinds);
      if (e.counter !== undefined) {
        const c = (e.counter ?? {}) as Record<string, unknown>;
        out += ` counter packets ${String(c.packets ?? 0)} bytes ${String(c.bytes ?? 0)}`;
      }
      if (e.timeout) out += ` timeout ${timeText(Math.round(Number(e.timeout) * 1000))}`;
      if (e.expires) out += ` expires ${timeText(Math.round(Number(e.expires) * 1000))}`;
      if (e.comment !== undefined) out += ` comment ${quote(String(e.comment))}`;
      return out;
    }
    return value(k, kinds);
  };
  if (Array.isArray(el) && el.length === 2) return `${key(el[0])} : ${isVerdict(el[1]) ? verdict(el[1] as Statement) : value(el[1], dataKinds ?? ['plain'])}`;
  return key(el);
}

const VERDICTS = ['accept', 'drop', 'continue', 'return', 'jump', 'goto'];
const isVerdict = (v: unknown): boolean => !!v && typeof v === 'object' && !Array.isArray(v) && VERDICTS.includes(Object.keys(v)[0]!);

/** `key map @m` / `key map { k : v, ... }`; dataKinds: how the values print (marks in hex in `meta mark set`). */
function mapText(body: Record<string, unknown>, dataKinds: Kind[]): string {
  const data = body.data;
  const m = typeof data === 'string' ? data
    : `{ ${((data as { set: unknown[] }).set).map((x) => element(x, kindsOf(body.key), false, dataKinds)).join(', ')} }`;
  return `${expr(body.key)} map ${m}`;
}

/** An expression (the left side of a match, a key, a statement's argument). */
export function expr(e: unknown, family?: Family): string {
  if (!e || typeof e !== 'object') return refuse(`the expression ${JSON.stringify(e)}`);
  const o = e as Record<string, unknown>;
  const [[name, body]] = Object.entries(o) as [[string, Record<string, unknown>]];
  switch (name) {
    case 'payload': {
      if (typeof body.protocol !== 'string') return 'base' in body ? rawText(body) : refuse(`the payload ${JSON.stringify(body)}`);
      return `${body.protocol} ${String(body.field)}`;
    }
    case 'meta': {
      const key = String(body.key);
      // meta_key_is_unqualified: these print without "meta".
      return ['iif', 'oif', 'iifname', 'oifname', 'iifgroup', 'oifgroup'].includes(key) ? key : `meta ${key}`;
    }
    case 'ct': {
      if (body.family !== undefined) return refuse('ct with a family');
      if (body.dir === undefined) return `ct ${String(body.key)}`;
      // ct_expr_print: an address key without a family shows the table's (ip or ip6).
      const key = String(body.key);
      const fam = (key === 'saddr' || key === 'daddr') && (family === 'ip' || family === 'ip6') ? `${family} ` : '';
      return `ct ${String(body.dir)} ${fam}${key}`;
    }
    case 'fib': {
      const flags = Array.isArray(body.flags) ? body.flags : [body.flags];
      return `fib ${flags.join(' . ')} ${String(body.result)}`;
    }
    case 'numgen': {
      const off = Number(body.offset ?? 0);
      return `numgen ${String(body.mode)} mod ${String(body.mod)}${off ? ` offset ${off}` : ''}`;
    }
    case 'concat':
      return (o.concat as unknown[]).map((x) => expr(x)).join(' . ');
    case 'map':
      return mapText(body, ['plain']);
    case '&': case '|': case '^': case '<<': case '>>': {
      const [l, r] = o[name] as unknown[];
      return `${expr(l)} ${name} ${value(r, kindsOf(l))}`;
    }
    default:
      return EXT_EXPR_PRINTERS[name] ? EXT_EXPR_PRINTERS[name](body, expr) : refuse(`the expression "${name}"`);
  }
}

/** A verdict statement. */
function verdict(s: Statement): string {
  const [[name, body]] = Object.entries(s) as [[string, { target?: string } | null]];
  if (name === 'jump' || name === 'goto') return `${name} ${body!.target!}`;
  if (['accept', 'drop', 'continue', 'return'].includes(name) && body === null) return name;
  return refuse(`the verdict ${JSON.stringify(s)}`);
}

/** One statement of a rule, as rule_print shows it. */
export function statement(s: Statement, family?: Family): string {
  const [[name, body]] = Object.entries(s) as [[string, Record<string, unknown> | null]];
  switch (name) {
    case 'match': {
      const b = body!;
      const left = expr(b.left, family);
      const right = value(b.right, kindsOf(b.left));
      // `==` and flag tests (`in`) print without an operator, except after a binary
      // operation (relational_expr_print, must_print_eq_op).
      const binop = ['&', '|', '^', '<<', '>>'].some((k) => k in (b.left as object));
      // tcp flags under a mask: `tcp flags [!= ]syn / syn,ack` (binop_expr_print's flag form).
      const masked = (b.left as { '&'?: unknown[] })['&'];
      const inner = masked?.[0] as { payload?: { protocol?: string; field?: string } } | undefined;
      if (inner?.payload?.protocol === 'tcp' && inner.payload.field === 'flags' && (b.op === '==' || b.op === '!=')) {
        return `${expr(inner)} ${b.op === '!=' ? '!= ' : ''}${value(b.right, ['plain'])} / ${value(masked![1], ['plain'])}`;
      }
      // A bit mask type compared for equality keeps `==` (bare means `in` there).
      const lp = (b.left as { payload?: { protocol?: string; field?: string } }).payload;
      const flagEq = lp?.protocol === 'tcp' && lp.field === 'flags' && !(b.right && typeof b.right === 'object' && 'set' in b.right) && !(typeof b.right === 'string' && b.right.startsWith('@'));
      return (b.op === '==' && !binop && !flagEq) || b.op === 'in' ? `${left} ${right}` : `${left} ${String(b.op)} ${right}`;
    }
    case 'vmap': {
      const b = body!;
      const data = b.data;
      const map = typeof data === 'string' ? data
        : `{ ${((data as { set: unknown[] }).set).map((x) => element(x, kindsOf(b.key), false)).join(', ')} }`;
      return `${expr(b.key)} vmap ${map}`;
    }
    case 'counter':
      if (typeof body === 'string') return `counter name "${body}"`;
      return `counter packets ${String(body!.packets)} bytes ${String(body!.bytes)}`;
    case 'mangle': {
      const b = body!;
      const v = b.value;
      const rhs = v && typeof v === 'object' ? ('map' in v ? mapText((v as { map: Record<string, unknown> }).map, kindsOf(b.key)) : expr(v)) : value(v, kindsOf(b.key));
      return `${expr(b.key)} set ${rhs}`;
    }
    case 'reject': {
      const b = body ?? {};
      if (b.type === 'tcp reset') return 'reject with tcp reset';
      if (b.expr === undefined || b.expr === 'port-unreachable') return 'reject';
      return `reject with ${String(b.type)} ${String(b.expr)}`;
    }
    default:
      return EXT_PRINTERS[name] ? EXT_PRINTERS[name](body, expr) : verdict(s);
  }
}

// calculate_delimiter (expression.c): named sets break lines after so many elements of some
// types, after every element of the others.
const PER_LINE: Record<string, number> = {
  nf_proto: 5, integer: 5, arp_op: 5, inet_proto: 5, inet_service: 5, tcp_flag: 5, dccp_pkttype: 5, mark: 5, iface_index: 5, classid: 5, uid: 5, gid: 5, ct_dir: 5,
  ipv4_addr: 2, ct_state: 2, ct_status: 2, pkt_type: 2,
};

export { timeText };

function setText(kind: 'set' | 'map', s: Record<string, unknown>, o: PrintOptions): string {
  const typed = s.type && typeof s.type === 'object' && !Array.isArray(s.type) ? (s.type as { typeof: unknown }).typeof : undefined;
  const types = typed !== undefined ? typeofKey(typed).types.map((t) => t.name) : ([] as string[]).concat(s.type as string | string[]);
  let out = `\t${kind} ${String(s.name)} {${o.handles ? ` # handle ${String(s.handle)}` : ''}\n`;
  const key = typed !== undefined ? `typeof ${expr(typed)}` : `type ${types.join(' . ')}`;
  // A data map's type: `: ipv4_addr . inet_service` (JSON: a string or a list), `: meta mark` (typeof).
  const dataTypeof = s.map && typeof s.map === 'object' && !Array.isArray(s.map) ? (s.map as { typeof: unknown }).typeof : undefined;
  const dataNames = dataTypeof !== undefined ? typeofKey(dataTypeof).types.map((t) => t.name) : s.map === 'verdict' || s.map === undefined ? [] : ([] as string[]).concat(s.map as string | string[]).flatMap((x) => x.split(' . '));
  const dataText = dataTypeof !== undefined ? expr(dataTypeof) : s.map === 'verdict' ? 'verdict' : dataNames.join(' . ');
  out += `\t\t${key}${kind === 'map' ? ` : ${dataText}` : ''}\n`;
  for (const f of Object.keys(s)) {
    if (!['family', 'name', 'table', 'type', 'handle', 'map', 'comment', 'elem', 'flags', 'timeout', 'stmt', 'policy', 'size', 'gc-interval', 'auto-merge'].includes(f)) refuse(`a set with ${f}`);
  }
  // set_print_declaration's order: policy, size, flags, counter, auto-merge, timeout, gc-interval, comment.
  if (s.policy !== undefined && s.policy !== 'performance') out += `\t\tpolicy ${String(s.policy)}\n`;
  if (s.size !== undefined) out += `\t\tsize ${String(s.size)}\n`;
  const flags = ([] as string[]).concat((s.flags as string | string[] | undefined) ?? []);
  for (const f of flags) if (!['constant', 'interval', 'dynamic', 'timeout'].includes(f)) refuse(`set flag ${f}`);
  // A timeout flag alone is implied by the set's timeout (nft 1.0.6 prints no flags line then).
  if (flags.some((f) => f !== 'timeout') || (flags.length && s.timeout === undefined)) out += `\t\tflags ${flags.join(',')}\n`;
  if (s.stmt !== undefined) {
    const st = s.stmt as unknown[];
    if (!Array.isArray(st) || st.length !== 1 || JSON.stringify(st[0]) !== '{"counter":null}') refuse(`set statements ${JSON.stringify(st)}`);
    out += '\t\tcounter\n';
  }
  if (s['auto-merge'] === true) out += '\t\tauto-merge\n';
  if (s.timeout !== undefined) out += `\t\ttimeout ${timeText(Math.round(Number(s.timeout) * 1000))}\n`;
  if (s['gc-interval'] !== undefined) out += `\t\tgc-interval ${timeText(Math.round(Number(s['gc-interval']) * 1000))}\n`;
  if (s.comment !== undefined) out += `\t\tcomment ${quote(String(s.comment))}\n`;
  const elems = (s.elem as unknown[] | undefined) ?? [];
  if (elems.length) {
    const kinds: Kind[] = typed !== undefined && isRawTypeof(typed) ? ['hex'] : types.map(kindOfType);
    const perLine = types.length === 1 ? PER_LINE[types[0]!] : undefined;
    out += '\t\telements = { ';
    let count = 0;
    elems.forEach((el, i) => {
      if (i > 0) {
        if (perLine !== undefined && count < perLine) out += ', ';
        else { out += ',\n\t\t\t     '; count = 0; }
      }
      out += element(el, kinds, true, dataTypeof !== undefined ? kindsOf(dataTypeof) : dataNames.map(kindOfType));
      count++;
    });
    out += ' }\n';
  }
  return `${out}\t}\n`;
}

function chainText(c: Record<string, unknown>, rules: Array<Record<string, unknown>>, o: PrintOptions): string {
  let out = `\tchain ${String(c.name)} {${o.handles ? ` # handle ${String(c.handle)}` : ''}`;
  if (c.comment !== undefined) out += `\n\t\tcomment ${quote(String(c.comment))}`;
  out += '\n';
  if (c.hook !== undefined) {
    const dev = Array.isArray(c.dev) ? ` devices = { ${c.dev.join(', ')} }` : c.dev !== undefined ? ` device ${quote(String(c.dev))}` : '';
    out += `\t\ttype ${String(c.type)} hook ${String(c.hook)}${dev} priority ${priorityText(c.family as Family, String(c.hook), Number(c.prio))}; policy ${String(c.policy)};\n`;
  }
  for (const r of rules) {
    out += `\t\t${(r.expr as Statement[]).map((s) => statement(s, c.family as Family)).join(' ')}`;
    if (r.comment !== undefined) out += ` comment ${quote(String(r.comment))}`;
    if (o.handles) out += ` # handle ${String(r.handle)}`;
    out += '\n';
  }
  return `${out}\t}\n`;
}

/**
 * nft's text of list() objects: what `nft list ruleset` prints for them (tables in order,
 * each with its sets and maps, then its chains with their rules).
 * @example printRuleset(await h.list({ family: 'ip', table: 'nat' })) // 'table ip nat {\n...}\n'
 */
export function printRuleset(objects: ListObject[], o: PrintOptions = {}): string {
  let out = '';
  // Every object filed under its table once: looking them up per table and per chain would be
  // quadratic (60k chains and 140k rules at 20k kube-proxy services).
  type Obj = Record<string, unknown>;
  const byTable = new Map<string, { objs: Array<[string, Obj]>; sets: Array<['set' | 'map', Obj]>; chains: Obj[]; rules: Map<unknown, Obj[]> }>();
  const tables: Obj[] = [];
  const tkey = (v: Obj) => `${String(v.family)}\0${String(v.table)}`;
  const of = (k: string) => {
    let e = byTable.get(k);
    if (!e) byTable.set(k, e = { objs: [], sets: [], chains: [], rules: new Map() });
    return e;
  };
  for (const x of objects) {
    const r = x as unknown as Record<string, Obj | undefined>;
    if (r.table) { tables.push(r.table); of(`${String(r.table.family)}\0${String(r.table.name)}`); }
    else if (r.set) of(tkey(r.set)).sets.push(['set', r.set]);
    else if (r.map) of(tkey(r.map)).sets.push(['map', r.map]);
    else if (r.chain) of(tkey(r.chain)).chains.push(r.chain);
    else if (r.rule) {
      const rules = of(tkey(r.rule)).rules;
      const l = rules.get(r.rule.chain);
      if (l) l.push(r.rule); else rules.set(r.rule.chain, [r.rule]);
    } else {
      const k = Object.keys(r)[0]!;
      if (OBJECT_KINDS.includes(k)) of(tkey(r[k]!)).objs.push([k, r[k]!]);
    }
  }
  for (const t of tables) {
    const mine = byTable.get(`${String(t.family)}\0${String(t.name)}`)!;
    // rule.c table_print_declaration: ` #`, the handle, the owner's program; then the flags.
    const owned = t.flags !== undefined && tableFlagsText(t.flags).split(',').includes('owner');
    out += `table ${String(t.family)} ${String(t.name)} {${o.handles || owned ? ' #' : ''}${o.handles ? ` handle ${String(t.handle)}` : ''}${owned ? ` progname ${String(t.progname ?? 'unknown')}` : ''}\n`;
    if (t.flags !== undefined) out += `\tflags ${tableFlagsText(t.flags)}\n`;
    if (t.comment !== undefined) out += `\tcomment ${quote(String(t.comment))}\n`;
    const parts = mine.objs.map(([k, v]) => objectText(k, v, o.handles === true));
    for (const [k, v] of mine.sets) parts.push(setText(k, v, o));
    for (const c of mine.chains) parts.push(chainText(c, mine.rules.get(c.name) ?? [], o));
    // table_print_flags leaves a blank line before the table's first object.
    out += `${t.flags !== undefined && parts.length ? '\n' : ''}${parts.join('\n')}}\n`;
  }
  return out;
}
