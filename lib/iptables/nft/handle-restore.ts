// restore() of an IptablesHandle whose backend is nf_tables: the text is compiled by the same
// libxtables front end as on legacy (native, from empty tables, without the kernel), the
// compiled tables are encoded as iptables-nft 1.8.9 encodes them (encode.ts), and all of them
// are committed in one nfnetlink batch (restore.ts).
import { InvalidArgumentError, UnsupportedError } from '../../errors.js';
import { binding, type IptablesCacheRef, type IptablesTableRequest, type RawWorker } from '../../native.js';
import { problemError } from '../errors.js';
import type { RestorePlan } from '../restore-text.js';
import type { Family, RestoreOptions, RestoreResult } from '../types.js';
import { EncodeError } from './encode.js';
import { restoreNft, type CompiledNftTable } from './restore.js';
import { BUILTIN_TABLES } from './tables.js';

export interface NftRestoreContext {
  op: string;
  family: Family;
  cache: IptablesCacheRef;
  native<T>(fn: (w: RawWorker) => Promise<T>): Promise<T>;
}

/**
 * A flushing restore on nf_tables. Bad input fails at the line iptables-nft-restore names and
 * changes nothing; a table the kernel refuses leaves every table of the text as it was (one
 * batch). No xtables lock is taken (iptables-nft takes none): `wait` only gets checked.
 * @example await restoreWithNft(ctx, '*filter\n:INPUT DROP [0:0]\nCOMMIT\n', planRestore(text), {});
 */
export async function restoreWithNft(ctx: NftRestoreContext, text: string, plan: RestorePlan, opts: RestoreOptions): Promise<RestoreResult> {
  const { op, family } = ctx;
  if (opts.noflush) {
    throw new UnsupportedError(`${op}: noflush is not implemented on the nf_tables backend yet`, { op, subsystem: 'iptables', code: 'EOPNOTSUPP' });
  }
  // A table iptables-nft does not know fails at its `*table` line, as the tool's does; what
  // comes before it is checked first.
  let error = plan.error;
  let planned = plan.tables;
  const unknown = planned.findIndex((t) => !BUILTIN_TABLES[t.name]);
  if (unknown >= 0) {
    error = { line: planned[unknown]!.line, message: `table name '${planned[unknown]!.name}' invalid` };
    planned = planned.slice(0, unknown);
  }
  const tables: IptablesTableRequest[] = planned.map((t) => ({
    name: t.name, flush: true, body: t.body, line: t.line, firstLine: t.firstLine, commitLine: t.commitLine, chains: t.chains,
  }));
  if (!tables.length && !error) return { committed: [], warnings: [], stats: emptyStats() };
  const r = tables.length
    ? await ctx.native((w) => binding().iptablesRestore(w, ctx.cache, { family, counters: opts.counters ?? false, tables, compileOnly: true }))
    : undefined;
  if (r?.error) throw problemError(op, r.error, text);
  if (error) throw problemError(op, { kind: 'parse', message: error.message, errno: 22, line: error.line }, text);
  // Each `*table` block replaces the table (DELTABLE, NEWTABLE): what a table holds is its last
  // block, and the kernel lists tables in the order of their last blocks.
  const lastAt = (name: string) => planned.map((t) => t.name).lastIndexOf(name);
  const compiled: CompiledNftTable[] = (r!.tables ?? [])
    .map((raw) => ({ name: raw.table, body: planned[lastAt(raw.table)]!.body, raw }))
    .sort((x, y) => lastAt(x.name) - lastAt(y.name));
  let refusal;
  try {
    refusal = await restoreNft(ctx, family, compiled);
  } catch (e) {
    if (e instanceof EncodeError) throw new InvalidArgumentError(`${op}: ${e.message}`, { op, subsystem: 'iptables' });
    throw e;
  }
  if (refusal) {
    const t = refusal.about?.table;
    const at = t !== undefined ? [...planned].reverse().find((p) => p.name === t) : undefined;
    const what = refusal.about ? `${refusal.about.what}: ` : '';
    throw problemError(op, {
      kind: 'commit', errno: refusal.errno,
      message: `the kernel refused the batch at ${what}${refusal.message ?? `errno ${refusal.errno}`}; nothing was applied`,
      ...(t !== undefined ? { table: t } : {}), ...(at ? { line: at.commitLine } : {}),
    }, text);
  }
  const stats = { ...r!.stats, attempts: 1 };
  return { committed: compiled.map((c) => c.name), warnings: r!.warnings, stats };
}

function emptyStats() {
  return { lockMs: 0, readMs: 0, compileMs: 0, compileCpuMs: 0, parseMs: 0, serializeMs: 0, replaceMs: 0, countersMs: 0, lines: 0, compiled: 0, fast: 0, cached: 0, attempts: 0 };
}
