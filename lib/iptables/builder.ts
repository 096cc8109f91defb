// A structured builder for one table: chains and rules as objects (or as iptables argument
// strings), turned into exactly the iptables-restore text a person would write for them:
//
//   const nat = iptables.table('nat', { noflush: true });
//   nat.chain('KUBE-SERVICES').append({ protocol: 'tcp', destination: '10.96.0.10/32',
//     comment: 'default/web:http cluster IP', matches: [{ module: 'tcp', dport: 80 }], jump: 'KUBE-SVC-WEB' });
//   nat.chain('KUBE-SVC-WEB')
//     .append({ matches: [{ module: 'statistic', mode: 'random', probability: 0.5 }], jump: 'KUBE-SEP-A' })
//     .append({ jump: 'KUBE-SEP-B' });
//   await nat.commit({ wait: 5_000 });
//
// Names and values are checked here (InvalidArgumentError naming the call and the value);
// what only libxtables knows (an unknown option, a bad address) fails at commit, and the
// error then says which builder call made the line.
import { InvalidArgumentError, NlkitError } from '../core/errors.js';
import { checkOptions } from '../core/args.js';
import { CHAIN_MAX, quoteArg, tokenize } from './restore-text.js';
import type { Match } from './matches.js';
import type { ProtocolName } from '../core/protocols.js';
import type { RestoreOptions, RestoreResult } from './types.js';

/** A value, or `{ not: value }` for `! --option value`. */
export type Negatable<T> = T | { not: T };

/**
 * An option's value: a string or number is one word; `true` is a flag (`--random-fully`),
 * `false`/undefined leaves the option out; an array is a comma-separated list
 * (`dports: [80, 443]` -> `--dports 80,443`), except for the options that take several words
 * (`'match-set': ['KUBE-CLUSTER-IP', 'dst,dst']`, `'tcp-flags': [['SYN', 'ACK'], 'SYN']`).
 */
export type OptionValue = string | number | boolean | readonly (string | number | readonly (string | number)[])[];

/** Options of a match or target: iptables' own names (`'to-destination'`) or camelCase (`toDestination`). A `'!'` in front of a name negates it. */
export type Options = { [option: string]: Negatable<OptionValue> | undefined };

export type { Match, MatchModule, UntypedModule } from './matches.js';

export interface RuleSpec {
  /** `-p` */
  protocol?: Negatable<ProtocolName | 'all' | number>;
  /** `-s`: an address, a network, or several (iptables makes one rule of each). */
  source?: Negatable<string | readonly string[]>;
  /** `-d` */
  destination?: Negatable<string | readonly string[]>;
  /** `-i` */
  inInterface?: Negatable<string>;
  /** `-o` */
  outInterface?: Negatable<string>;
  /** `-f` (IPv4): `true`, or `{ not: true }` for `! -f`. */
  fragment?: Negatable<boolean>;
  /** Shorthand for `-m comment --comment ...`, placed before the other matches as kube-proxy does. */
  comment?: string;
  /** `-m module ...`, in this order. */
  matches?: readonly Match[];
  /** `-j`: a chain or a target extension. */
  jump?: string;
  /** `-g`: continue in this chain; its RETURN returns past this rule's chain. */
  goto?: string;
  /** The target's options (`{ 'to-destination': '10.1.0.1:80' }`). */
  target?: Options;
}

/** A rule: an object, or the words iptables takes after `-A CHAIN` as one string. */
export type Rule = string | RuleSpec;

export type Policy = 'ACCEPT' | 'DROP';

export interface TableBuilderOptions {
  /** Like iptables-restore --noflush: chains not declared in the builder keep their rules. */
  noflush?: boolean;
}

export interface ChainOptions {
  /** Policy of a built-in chain (user-defined chains have none). */
  policy?: Policy;
}

/** Which builder call made a line of the text. */
export interface BuilderOrigin {
  chain: string;
  call: 'chain' | 'append' | 'insert';
  /** The chain's rule calls so far, 1-based (0 for the chain's declaration). */
  index: number;
}

/** Restores the text of a builder (a handle's restore). */
export type TableCommitter = (text: string, opts: RestoreOptions) => Promise<RestoreResult>;

/** Built-in chains of the tables iptables knows, in the kernel's hook order. */
const BUILTIN: Record<string, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** Options whose value is several words rather than one comma-separated list. */
const MULTI_WORD = new Set(['match-set', 'tcp-flags', 'add-set', 'del-set', 'map-set', 'chunk-types']);

const VERDICTS = new Set(['ACCEPT', 'DROP', 'QUEUE', 'RETURN']);
const RULE_KEYS = new Set(['protocol', 'source', 'destination', 'inInterface', 'outInterface', 'fragment', 'comment', 'matches', 'jump', 'goto', 'target']);
/** Words that start a command, not a rule: a string rule must not carry its own. */
const COMMANDS = new Set(['-A', '--append', '-I', '--insert', '-D', '--delete', '-R', '--replace', '-N', '--new-chain', '-X',
  '--delete-chain', '-F', '--flush', '-P', '--policy', '-Z', '--zero', '-E', '--rename-chain', '-L', '--list', '-S', '--list-rules', '-C', '--check']);

const utf8Length = (s: string) => Buffer.byteLength(s, 'utf8');
const isNot = (v: unknown): v is { not: unknown } =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && 'not' in v;

class Where {
  constructor(readonly op: string) {}
  fail(what: string, argument?: unknown): never {
    throw new InvalidArgumentError(`${this.op}: ${what}`, {
      op: this.op, subsystem: 'iptables', ...(argument !== undefined ? { argument: typeof argument === 'string' ? argument : safeJson(argument) } : {}),
    });
  }
}

function safeJson(v: unknown): string {
  if (typeof v === 'number') return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A chain or target name as iptables takes it: one word, at most 28 bytes, not an option. */
function checkName(w: Where, kind: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) w.fail(`${kind} must be a non-empty string`, name);
  if (/[\s"'\\\0]/.test(name)) w.fail(`${kind} ${JSON.stringify(name)} contains whitespace, a quote or a backslash`, name);
  if (name[0] === '-' || name[0] === '!') w.fail(`${kind} ${JSON.stringify(name)} must not start with '${name[0]}'`, name);
  if (utf8Length(name) > CHAIN_MAX) w.fail(`${kind} ${JSON.stringify(name)} is longer than ${CHAIN_MAX} bytes`, name);
  return name;
}

function checkString(w: Where, what: string, v: string): string {
  if (/[\n\r\0]/.test(v)) w.fail(`${what} must not contain a newline or NUL`, v);
  return v;
}

function word(w: Where, what: string, v: unknown): string {
  if (typeof v === 'string') return checkString(w, what, v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) w.fail(`${what} must be a finite number`, v);
    return String(v);
  }
  return w.fail(`${what} must be a string or a number`, v);
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `--option value` words for one match's or target's options. */
function optionWords(w: Where, where: string, opts: Options, skip?: string): string[] {
  const out: string[] = [];
  for (const [rawKey, rawValue] of Object.entries(opts)) {
    if (rawKey === skip) continue;
    let negate = false;
    let key = rawKey;
    if (key.startsWith('!')) {
      negate = true;
      key = key.slice(1);
    }
    const what = `${where}.${rawKey}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(key)) w.fail(`${what}: not an option name`, rawKey);
    key = kebab(key);
    let v: unknown = rawValue;
    if (isNot(v)) {
      if (negate) w.fail(`${what}: negated twice ('!' and { not })`, rawValue);
      negate = true;
      v = v.not;
    }
    if (v === undefined || v === false) continue;
    const neg = negate ? ['!'] : [];
    if (v === true) {
      out.push(...neg, `--${key}`);
    } else if (Array.isArray(v)) {
      if (v.length === 0) w.fail(`${what}: an empty list`, v);
      if (MULTI_WORD.has(key)) {
        out.push(...neg, `--${key}`, ...v.map((x, i) => Array.isArray(x)
          ? x.map((y, j) => word(w, `${what}[${i}][${j}]`, y)).join(',')
          : word(w, `${what}[${i}]`, x)));
      } else {
        out.push(...neg, `--${key}`, v.map((x, i) => word(w, `${what}[${i}]`, x)).join(','));
      }
    } else {
      out.push(...neg, `--${key}`, word(w, what, v));
    }
  }
  return out;
}

/**
 * The argument words of a rule (what follows `-A CHAIN`).
 * @example iptables.ruleWords({ protocol: 'tcp', jump: 'ACCEPT' }); // ['-p', 'tcp', '-j', 'ACCEPT']
 */
export function ruleWords(rule: Rule, op = 'iptables.rule'): string[] {
  const w = new Where(op);
  if (typeof rule === 'string') {
    checkString(w, 'a rule', rule);
    const args = tokenize(rule, false).args;
    if (args.length && COMMANDS.has(args[0]!)) w.fail(`a rule holds what follows \`-A CHAIN\`; it must not start with ${args[0]}`, rule);
    return args;
  }
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) w.fail('a rule must be a string or an object', rule);
  for (const k of Object.keys(rule)) if (!RULE_KEYS.has(k)) w.fail(`unknown rule field ${JSON.stringify(k)} (known: ${[...RULE_KEYS].join(', ')})`, k);
  const out: string[] = [];
  const basic = (flag: string, field: keyof RuleSpec, list: boolean) => {
    let v: unknown = rule[field];
    if (v === undefined) return;
    let neg = false;
    if (isNot(v)) {
      neg = true;
      v = v.not;
    }
    const text = list && Array.isArray(v)
      ? (v.length ? v.map((x, i) => word(w, `${field}[${i}]`, x)).join(',') : w.fail(`${field}: an empty list`, v))
      : word(w, field, v);
    if (text === '') w.fail(`${field} must not be empty`, v);
    out.push(...(neg ? ['!'] : []), flag, text);
  };
  basic('-p', 'protocol', false);
  basic('-s', 'source', true);
  basic('-d', 'destination', true);
  basic('-i', 'inInterface', false);
  basic('-o', 'outInterface', false);
  if (rule.fragment !== undefined) {
    const f = rule.fragment;
    if (f === true) out.push('-f');
    else if (isNot(f) && f.not === true) out.push('!', '-f');
    else if (f !== false) w.fail('fragment must be true, false or { not: true }', f);
  }
  if (rule.comment !== undefined) {
    if (typeof rule.comment !== 'string') w.fail('comment must be a string', rule.comment);
    out.push('-m', 'comment', '--comment', checkString(w, 'comment', rule.comment));
  }
  if (rule.matches !== undefined) {
    if (!Array.isArray(rule.matches)) w.fail('matches must be an array', rule.matches);
    rule.matches.forEach((m, i) => {
      const where = `matches[${i}]`;
      if (typeof m !== 'object' || m === null || Array.isArray(m)) w.fail(`${where} must be an object with a module`, m);
      const mod = m.module;
      if (typeof mod !== 'string' || !/^[A-Za-z0-9_.+-]+$/.test(mod) || utf8Length(mod) > CHAIN_MAX) {
        w.fail(`${where}.module must be an extension name`, mod);
      }
      out.push('-m', mod, ...optionWords(w, where, m, 'module'));
    });
  }
  if (rule.jump !== undefined && rule.goto !== undefined) w.fail('a rule has either jump or goto, not both', rule);
  if (rule.jump !== undefined) {
    out.push('-j', checkName(w, 'jump', rule.jump));
    if (rule.target !== undefined) {
      if (typeof rule.target !== 'object' || rule.target === null || Array.isArray(rule.target)) w.fail('target must be an object of options', rule.target);
      out.push(...optionWords(w, 'target', rule.target));
    }
  } else if (rule.target !== undefined) {
    w.fail(rule.goto !== undefined ? 'goto takes no target options' : 'target options need a jump', rule.target);
  }
  if (rule.goto !== undefined) out.push('-g', checkName(w, 'goto', rule.goto));
  return out;
}

/**
 * The text of a rule's words on a restore line.
 * @example iptables.ruleText({ comment: 'web', jump: 'ACCEPT' }); // '-m comment --comment web -j ACCEPT'
 */
export const ruleText = (rule: Rule, op?: string): string => ruleWords(rule, op).map(quoteArg).join(' ');

interface Command {
  chain: ChainBuilder;
  line: string;
  origin: BuilderOrigin;
  rule: Rule;
}

/**
 * One table's chains and rules; `text()` is its iptables-restore text.
 * @example
 * const t = iptables.table('filter', { noflush: true });
 * t.chain('KUBE-FW').append({ protocol: 'tcp', jump: 'ACCEPT' });
 * await t.commit();
 */
export class TableBuilder {
  readonly name: string;
  readonly noflush: boolean;
  readonly #chains = new Map<string, ChainBuilder>();
  readonly #commands: Command[] = [];
  readonly #commit: TableCommitter | undefined;

  constructor(name: string, opts: TableBuilderOptions = {}, commit?: TableCommitter) {
    const w = new Where('iptables.table');
    checkOptions({ op: 'iptables.table', subsystem: 'iptables' }, 'options', opts);
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name) || name.length > 31) {
      w.fail('the table name must be one word of at most 31 letters, digits, _ . or -', name);
    }
    if (opts.noflush !== undefined && typeof opts.noflush !== 'boolean') w.fail('noflush must be a boolean', opts.noflush);
    this.name = name;
    this.noflush = opts.noflush ?? false;
    this.#commit = commit;
  }

  /** Built-in chains of this table (empty for a table iptables does not know). */
  get builtinChains(): readonly string[] {
    return BUILTIN[this.name] ?? [];
  }

  /**
   * Declares a chain and returns it for rules. User-defined chains are created (with
   * noflush: flushed when they exist, like `:CHAIN - [0:0]`); a built-in chain gets its policy
   * set when one is given and is otherwise left as it is. Asking again for a chain returns
   * the same builder.
   * @example t.chain('INPUT', { policy: 'DROP' }).append({ inInterface: 'lo', jump: 'ACCEPT' });
   */
  chain(name: string, opts: ChainOptions = {}): ChainBuilder {
    const w = new Where(`iptables.table(${this.name}).chain`);
    checkOptions({ op: w.op, subsystem: 'iptables' }, 'options', opts);
    checkName(w, 'the chain name', name);
    const builtin = this.builtinChains.includes(name);
    const policy = opts.policy;
    if (policy !== undefined) {
      if (policy !== 'ACCEPT' && policy !== 'DROP') w.fail(`policy must be ACCEPT or DROP`, policy);
      if (!builtin && BUILTIN[this.name]) w.fail(`${name} is not a built-in chain of ${this.name}: only built-in chains have a policy`, name);
    }
    if (!builtin && VERDICTS.has(name)) w.fail(`${name} is a verdict, not a chain name`, name);
    let c = this.#chains.get(name);
    if (!c) {
      c = new ChainBuilder(this, name, builtin, (chain, call, rule, line) => this.#add(chain, call, rule, line));
      this.#chains.set(name, c);
    }
    if (policy !== undefined) {
      if (c.policy !== undefined && c.policy !== policy) w.fail(`${name} already has policy ${c.policy}`, policy);
      c.policy = policy;
    }
    return c;
  }

  #add(chain: ChainBuilder, call: 'append' | 'insert', rule: Rule, line: string): void {
    this.#commands.push({ chain, line, rule, origin: { chain: chain.name, call, index: ++chain.calls } });
  }

  /** The declared chains, in declaration order. */
  get chains(): ChainBuilder[] {
    return [...this.#chains.values()];
  }

  /**
   * The iptables-restore text of the table; `origins()` maps its lines back to builder calls.
   * @example console.log(t.text());
   */
  text(): string {
    return this.#render().text;
  }

  /**
   * For each line of `text()` (1-based), the call that made it.
   * @example const origin = t.origins()[3];
   */
  origins(): (BuilderOrigin | undefined)[] {
    return this.#render().origins;
  }

  #render(): { text: string; origins: (BuilderOrigin | undefined)[] } {
    const lines = [`*${this.name}`];
    const origins: (BuilderOrigin | undefined)[] = [undefined, undefined];
    for (const c of this.#chains.values()) {
      if (c.builtin && c.policy === undefined) continue;
      lines.push(`:${c.name} ${c.builtin ? c.policy : c.policy ?? '-'} [0:0]`);
      origins.push({ chain: c.name, call: 'chain', index: 0 });
    }
    for (const cmd of this.#commands) {
      lines.push(cmd.line);
      origins.push(cmd.origin);
    }
    lines.push('COMMIT');
    origins.push(undefined);
    return { text: `${lines.join('\n')}\n`, origins };
  }

  /**
   * Restores the table through the handle it was made from (`iptables.table()` or
   * `handle.table()`), as one atomic replace. An error from a line of the text says which
   * builder call made it (`builderCall` on the error). `signal` as in restore(): an aborted one
   * rejects with an AbortedError before the table is committed.
   * @example const { stats } = await t.commit({ wait: 5_000 });
   */
  async commit(opts: RestoreOptions = {}): Promise<RestoreResult> {
    if (!this.#commit) {
      throw new NlkitError(`iptables.table(${this.name}).commit: this builder is not bound to a handle (use iptables.table() or handle.table())`, {
        op: 'iptables.commit', subsystem: 'iptables', code: 'EINVAL',
      });
    }
    const { text, origins } = this.#render();
    const { table: _ignored, ...rest } = opts;
    try {
      return await this.#commit(text, { noflush: this.noflush, ...rest });
    } catch (e) {
      const line = (e as { line?: number }).line;
      const origin = line !== undefined ? origins[line] : undefined;
      if (e instanceof Error && origin) {
        const call = origin.call === 'chain' ? `chain(${origin.chain})` : `chain(${origin.chain}).${origin.call} #${origin.index}`;
        e.message = `${e.message} [from ${call}]`;
        (e as Error & { builderCall?: BuilderOrigin }).builderCall = origin;
        if (e.stack) e.stack = `${e.name}: ${e.message}\n${e.stack.split('\n').slice(1).join('\n')}`;
      }
      throw e;
    }
  }
}

/**
 * One chain of a TableBuilder: its rules, and the way back to the table.
 * @example iptables.table('nat').chain('KUBE-SERVICES').append('-d 10.96.0.10/32 -p tcp --dport 80 -j KUBE-SVC-X');
 */
export class ChainBuilder {
  policy: Policy | undefined;
  /** How many append/insert calls the chain has had (numbers them in BuilderOrigin). */
  calls = 0;

  /** @internal made by TableBuilder.chain() */
  constructor(
    readonly table: TableBuilder,
    readonly name: string,
    /** A built-in chain of the table. */
    readonly builtin: boolean,
    private readonly add: (c: ChainBuilder, call: 'append' | 'insert', rule: Rule, line: string) => void,
  ) {}

  /**
   * `-A`: appends rules, in order.
   * @example c.append({ protocol: 'tcp', matches: [{ module: 'tcp', dport: 80 }], jump: 'ACCEPT' }, '-j DROP');
   */
  append(...rules: Rule[]): this {
    const op = `iptables.table(${this.table.name}).chain(${this.name}).append`;
    if (rules.length === 0) new Where(op).fail('no rule given');
    for (const r of rules) {
      const t = ruleText(r, op);
      this.add(this, 'append', r, t ? `-A ${this.name} ${t}` : `-A ${this.name}`);
    }
    return this;
  }

  /**
   * `-I`: inserts a rule at `position` (1-based, default 1: first).
   * @example c.insert({ source: '10.0.0.0/8', jump: 'ACCEPT' }, 1);
   */
  insert(rule: Rule, position?: number): this {
    const op = `iptables.table(${this.table.name}).chain(${this.name}).insert`;
    if (position !== undefined && !(Number.isInteger(position) && position >= 1 && position <= 0x7fffffff)) {
      new Where(op).fail('position must be an integer >= 1', position);
    }
    const t = ruleText(rule, op);
    this.add(this, 'insert', rule, [`-I ${this.name}`, ...(position !== undefined ? [String(position)] : []), ...(t ? [t] : [])].join(' '));
    return this;
  }

  /**
   * Another chain of the same table.
   * @example t.chain('A').append('-j B').chain('B').append('-j ACCEPT');
   */
  chain(name: string, opts?: ChainOptions): ChainBuilder {
    return this.table.chain(name, opts);
  }

  /**
   * The iptables-restore text of this chain's table.
   * @example console.log(c.text());
   */
  text(): string {
    return this.table.text();
  }

  /**
   * Commits this chain's table (TableBuilder.commit()).
   * @example await iptables.table('filter').chain('INPUT').append('-p tcp --dport 22 -j ACCEPT').commit();
   */
  commit(opts?: RestoreOptions): Promise<RestoreResult> {
    return this.table.commit(opts);
  }
}
