// restore() of an IptablesHandle whose backend is nf_tables: the text is compiled by the same
// libxtables front end as on legacy (native, from empty tables, without the kernel), the
// compiled tables are encoded as iptables-nft 1.8.9 encodes them (encode.ts), and all of them
// are committed in one nfnetlink batch (restore.ts).
import { InvalidArgumentError, throwIfAborted } from '../../core/errors.js';
import { binding, type IptablesCacheRef, type IptablesTableRequest, type RawTableSnapshot, type RawWorker } from '../../core/native.js';
import { problemError, restoreFailure } from '../errors.js';
import { planRestore, words, type PlannedTable } from '../restore-text.js';
import type { Family, RestoreOptions, RestoreResult } from '../types.js';
import { EncodeError } from './encode.js';
import { restoreMessages, restoreNft, type CompiledNftTable, type NftRefusal } from './restore.js';
import { commitNoflush } from './noflush.js';
import type { NftEncoding } from './version.js';
import type { NftModelSlot } from './model.js';
import { BUILTIN_TABLES } from './tables.js';

export interface NftRestoreContext {
  op: string;
  family: Family;
  cache: IptablesCacheRef | null;
  native<T>(fn: (w: RawWorker) => Promise<T>): Promise<T>;
  /** The host's iptables-nft version's form (version.ts); default 1.8.9's. */
  encoding?: NftEncoding;
  /** The handle's model of its tables, for --noflush commits (model.ts). */
  model?: NftModelSlot;
}

/**
 * A flushing restore on nf_tables. Bad input fails at the line iptables-nft-restore names and
 * changes nothing; a table the kernel refuses leaves every table of the text as it was (one
 * batch). No xtables lock is taken (iptables-nft takes none): `wait` only gets checked.
 * `dryRun`: everything but the commit (a transaction's check), the kernel unchanged.
 * @example await restoreWithNft(ctx, '*filter\n:INPUT DROP [0:0]\nCOMMIT\n', planRestore(text), {});
 */
export async function restoreWithNft(ctx: NftRestoreContext, input: string, opts: RestoreOptions, dryRun = false): Promise<RestoreResult> {
  const { op, family } = ctx;
  const text = nftDialect(input);
  const plan = planRestore(text, opts.table !== undefined ? { table: opts.table } : {});
  // A table iptables-nft does not know fails at its `*table` line, as the tool's does; what
  // comes before it is checked first.
  let error = plan.error;
  let planned = plan.tables;
  const unknown = planned.findIndex((t) => !BUILTIN_TABLES[t.name]);
  if (unknown >= 0) {
    error = { line: planned[unknown]!.line, message: `table name '${planned[unknown]!.name}' invalid` };
    planned = planned.slice(0, unknown);
  }
  if (opts.noflush) return restoreNoflush(ctx, text, planned, error, opts, dryRun);
  const tables = requests(planned, true);
  if (!tables.length && !error) return { committed: [], warnings: [], stats: emptyStats() };
  const r = tables.length ? await compileNft(ctx, text, planned, tables, opts) : undefined;
  if (error) throw problemError(op, { kind: 'parse', message: error.message, errno: 22, line: error.line }, text);
  // Each `*table` block replaces the table (DELTABLE, NEWTABLE): what a table holds is its last
  // block, and the kernel lists tables in the order of their last blocks.
  const lastAt = (name: string) => planned.map((t) => t.name).lastIndexOf(name);
  const compiled: CompiledNftTable[] = (r!.tables ?? [])
    .map((raw) => ({ name: raw.table, body: planned[lastAt(raw.table)]!.body, raw }))
    .sort((x, y) => lastAt(x.name) - lastAt(y.name));
  throwIfAborted(opts.signal, op, 'iptables');
  let refusal;
  try {
    if (dryRun) {
      restoreMessages(family, compiled, new Set(), 0, ctx.encoding);  // what the encoder refuses, without the kernel
      return { committed: [], warnings: r!.warnings, stats: { ...r!.stats, attempts: 0 } };
    }
    refusal = await restoreNft(ctx, family, compiled);
  } catch (e) {
    if (e instanceof EncodeError) throw new InvalidArgumentError(`${op}: ${e.message}`, { op, subsystem: 'iptables' });
    throw e;
  }
  if (refusal) throw refusalError(op, text, planned, refusal);
  const stats = { ...r!.stats, attempts: 1 };
  return { committed: compiled.map((c) => c.name), warnings: r!.warnings, stats };
}

/** The native restore's requests for the planned tables (bases: --noflush's starting tables). */
function requests(planned: PlannedTable[], flush: boolean, bases?: Map<string, RawTableSnapshot>): IptablesTableRequest[] {
  return planned.map((t) => ({
    name: t.name, flush, body: t.body, line: t.line, firstLine: t.firstLine, commitLine: t.commitLine, chains: t.chains,
    ...(bases?.has(t.name) ? { base: bases.get(t.name)! } : {}),
  }));
}

/** Compiles the tables without the kernel (from `base` or empty tables); bad input throws at its line. */
function compileNft(ctx: NftRestoreContext, text: string, planned: PlannedTable[], tables: IptablesTableRequest[], opts: RestoreOptions) {
  return ctx.native((w) => binding().iptablesRestore(w, ctx.cache, { family: ctx.family, counters: opts.counters ?? false, tables, compileOnly: true })
    .catch(restoreFailure(ctx.op, text, (p) => {
      // iptables-nft takes a target it cannot load for a chain, and finds it missing at COMMIT
      const line = p.line;
      if (line === undefined || !/^(Couldn't load target|goto '.*' is not a chain)/.test(p.message)) return p;
      const t = planned.find((q) => q.firstLine <= line && line < q.commitLine);
      return t ? { ...p, line: t.commitLine, message: `${p.message} (a chain of that name does not exist either)` } : p;
    })));
}

/**
 * --noflush on nf_tables: the text applied onto the tables as they are, and only the changes
 * sent, in one batch (noflush.ts). Bad input fails at its line with nothing applied.
 */
async function restoreNoflush(ctx: NftRestoreContext, text: string, planned: PlannedTable[], error: { line: number; message: string } | undefined, opts: RestoreOptions, dryRun: boolean): Promise<RestoreResult> {
  const { op } = ctx;
  if (!planned.length) {
    if (error) throw problemError(op, { kind: 'parse', message: error.message, errno: 22, line: error.line }, text);
    return { committed: [], warnings: [], stats: emptyStats() };
  }
  let warnings: RestoreResult['warnings'] = [];
  let stats = emptyStats();
  const out = await commitNoflush(ctx, op, ctx.family, planned, opts.counters ?? false, dryRun, async (bases) => {
    const r = await compileNft(ctx, text, planned, requests(planned, false, bases), opts);
    if (error) throw problemError(op, { kind: 'parse', message: error.message, errno: 22, line: error.line }, text);
    throwIfAborted(opts.signal, op, 'iptables');
    warnings = r.warnings;
    stats = { ...r.stats };
    return r.tables ?? [];
  }).catch((e) => {
    if (e instanceof EncodeError) throw new InvalidArgumentError(`${op}: ${e.message}`, { op, subsystem: 'iptables' });
    throw e;
  });
  if (out.refusal) throw refusalError(op, text, planned, out.refusal);
  const committed = dryRun ? [] : [...new Set(planned.map((t) => t.name))];
  return { committed, warnings, stats: { ...stats, attempts: out.attempts } };
}

/** A batch the kernel refused, at the text's line for the refused message when it has one. */
function refusalError(op: string, text: string, planned: PlannedTable[], refusal: NftRefusal) {
  const t = refusal.about?.table;
  const lastAt = (name: string) => planned.map((x) => x.name).lastIndexOf(name);
  const at = t !== undefined ? planned[lastAt(t)] : undefined;
  const line = at && refusal.about?.chain !== undefined && refusal.about.rule !== undefined ? ruleLine(at, refusal.about.chain, refusal.about.rule) : at?.commitLine;
  const what = refusal.about ? `${refusal.about.what}: ` : '';
  return problemError(op, {
    kind: 'commit', errno: refusal.errno,
    message: `the kernel refused the batch at ${what}${refusal.message ?? `errno ${refusal.errno}`}; nothing was applied`,
    ...(t !== undefined ? { table: t } : {}), ...(line !== undefined ? { line } : {}),
  }, text);
}

/** A `:CHAIN POLICY` line with a policy, read where the line starts; a `*table` line. */
const POLICY_LINE = /:(\S+)[ \t]+(?!-[ \t\n])\S/y;
const TABLE_LINE = /\*(\S+)/y;

/**
 * Whether some `:CHAIN` line of the text gives a policy to a chain its table does not have
 * built in: what nftDialect must rewrite. One indexOf walk over the `:` lines (a kube-proxy
 * text of 20k services is 24 MB, and every built-in chain's line has a policy).
 */
function userPolicies(text: string): boolean {
  const at = (p: number): boolean => {
    POLICY_LINE.lastIndex = p;
    const m = POLICY_LINE.exec(text);
    if (!m) return false;
    // the table is the last `*table` line before this one
    const t = text.lastIndexOf('\n*', p);
    TABLE_LINE.lastIndex = t < 0 ? 0 : t + 1;
    const table = TABLE_LINE.exec(text)?.[1];
    return !(table !== undefined && BUILTIN_TABLES[table]?.some((c) => c.name === m[1]));
  };
  if (text.startsWith(':') && at(0)) return true;
  for (let nl = text.indexOf('\n:'); nl >= 0; nl = text.indexOf('\n:', nl + 1)) if (at(nl + 1)) return true;
  return false;
}

/**
 * What iptables-nft-restore reads differently from the legacy tool, made legacy-shaped for the
 * shared compiler (line numbers kept): a last line without its newline is read all the same,
 * and a user chain's policy is ignored, whatever it says (nft_chain_restore).
 * @example nftDialect('*filter\n:X ACCEPT [0:0]\nCOMMIT'); // '*filter\n:X - [0:0]\nCOMMIT\n'
 */
export function nftDialect(text: string): string {
  const out = text.length && !text.endsWith('\n') ? `${text}\n` : text;
  if (!userPolicies(out)) return out;
  const lines = out.split('\n');
  for (const t of planRestore(out).tables) {
    const builtins = new Set((BUILTIN_TABLES[t.name] ?? []).map((c) => c.name));
    for (let n = t.firstLine; n < t.commitLine; n++) {
      const l = lines[n - 1]!;
      if (l[0] !== ':') continue;
      const w = words(l.slice(1));
      if (w.length >= 2 && !builtins.has(w[0]!) && w[1] !== '-') lines[n - 1] = l.replace(/^(:\S+[ \t]+)\S+/, '$1-');
    }
  }
  return lines.join('\n');
}

/**
 * The line of rule `rule` (1-based) of `chain`, when the table's rules all come from `-A`
 * lines one rule each (a kube-proxy text): iptables-nft names the refused rule's line; else
 * the COMMIT line.
 */
function ruleLine(t: PlannedTable, chain: string, rule: number): number {
  const lines = t.body.split('\n');
  let seen = 0;
  for (const [i, l] of lines.entries()) {
    if (l[0] !== '-' && l[0] !== '[') continue;
    const w = words(l.replace(/^\[[^\]]*\]/, ''));
    if (w[0] !== '-A' && w[0] !== '--append') return t.commitLine;
    if (w.some((x) => /^(-s|-d|--source|--destination|--src|--dst)$/.test(x)) && /,/.test(l)) return t.commitLine;
    if (w[1] === chain && ++seen === rule) return t.firstLine + i;
  }
  return t.commitLine;
}

function emptyStats() {
  return { lockMs: 0, readMs: 0, compileMs: 0, compileCpuMs: 0, parseMs: 0, serializeMs: 0, replaceMs: 0, countersMs: 0, lines: 0, compiled: 0, fast: 0, cached: 0, attempts: 0 };
}
