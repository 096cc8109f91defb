// save() on the nf_tables backend: one dump crossing (the generation, the family's tables,
// chains and rules, the generation again), decoding in TypeScript (decode.ts), one print
// crossing (the native printer of legacy tables, with libxtables' save functions).
import { ConcurrentModificationError, NotFoundError } from '../../errors.js';
import { splitMessages } from '../../nft/attrs.js';
import { FAMILY, MSG, NLM_F_DUMP, NLM_F_REQUEST, RULE } from '../../nft/consts.js';
import { decodeGeneration } from '../../nft/requests.js';
import { NftWriter } from '../../nft/wire.js';
import { binding, type RawTableSnapshot, type RawWorker } from '../../native.js';
import { NETLINK_NETFILTER } from '../../netlink/headers.js';
import { forEachMessage } from '../../netlink/reader.js';
import { dump, kernelError, type MessageBatch } from '../../netlink/transport.js';
import { BUILTIN_TABLES, decodeTables, groupDumpBytes, incompatibleLine, rawTableOf, type DecodedTable, type Family } from './decode.js';

type Native = <T>(fn: (w: RawWorker) => Promise<T>) => Promise<T>;

/** Runs of the dump when the ruleset changed between its first and last message. */
const ATTEMPTS = 5;

/**
 * The dump requests of one save: GETGEN, GETTABLE, GETCHAIN and GETRULE of `family` (rules of
 * `table` only when given), GETGEN. Equal generations around them make the replies one view.
 * @example const req = saveRequests(4, 'nat');
 */
export function saveRequests(family: Family, table?: string): MessageBatch {
  const w = new NftWriter(0);
  const f = family === 6 ? FAMILY.ip6 : FAMILY.ip;
  w.begin(MSG.GETGEN, NLM_F_REQUEST, 0);
  w.end();
  for (const t of [MSG.GETTABLE, MSG.GETCHAIN, MSG.GETRULE]) {
    w.begin(t, NLM_F_REQUEST | NLM_F_DUMP, f);
    if (t === MSG.GETRULE && table !== undefined) w.str(RULE.TABLE, table);
    w.end();
  }
  w.begin(MSG.GETGEN, NLM_F_REQUEST, 0);
  w.end();
  const bytes = w.bytesWritten();
  const ends: number[] = [];
  forEachMessage(bytes, 0, bytes.length, (_t, at, len) => ends.push(at + len));
  return { bytes, ends: Uint32Array.from(ends) };
}

/** The family's iptables tables as one consistent read, with the generation it was read at. */
export interface NftRead {
  /** The ruleset's generation id: a batch sent with it is refused (ERESTART) if anything changed since. */
  generation: number;
  tables: DecodedTable[];
  /** nf_tables rule handles by table and chain, in rule order (entry i of a chain is handles[i]). */
  handles: Map<string, Map<string, bigint[]>>;
}

/**
 * The family's iptables tables as nf_tables holds them, decoded (a consistent view: the dump
 * is run again when the generation moved during it).
 * @example const { generation, tables } = await readNft(native, 'iptables.save', 4);
 */
export async function readNft(native: Native, op: string, family: Family, table?: string): Promise<NftRead> {
  const req = saveRequests(family, table);
  for (let attempt = 1; ; attempt++) {
    const r = await native((w) => dump(w, NETLINK_NETFILTER, req));
    const bad = r.errnos.findIndex((e) => e !== 0);
    if (bad >= 0) {
      throw kernelError(op, 'iptables', r.errnos[bad]!, { what: 'cannot read the nf_tables ruleset', ...(r.messages[bad] ? { detail: r.messages[bad] } : {}) });
    }
    const n = r.sections.length;
    const gen = (i: number) => decodeGeneration(splitMessages(r.data.subarray(i === 0 ? 0 : r.sections[i - 1]!, r.sections[i]!)));
    const generation = gen(0);
    if (generation === gen(n - 1)) {
      const grouped = groupDumpBytes(r.data, r.sections[0]!, r.sections[n - 2]!, family);
      const handles = new Map(grouped.map((t) => [t.name, new Map(t.chains.map((c) => [c.name, c.rules.map((x) => x.handle)]))]));
      return { generation, tables: decodeTables(grouped, family, table), handles };
    }
    if (attempt >= ATTEMPTS) {
      throw new ConcurrentModificationError(`${op}: the nf_tables ruleset kept changing while it was read (${ATTEMPTS} attempts)`, { op, subsystem: 'iptables' });
    }
  }
}

/**
 * One table as it is now on nf_tables, in the legacy blob layout the native restore starts a
 * --noflush restore from (Table::Load): the built-in chains iptables would create when missing,
 * counters included. Refuses (UnsupportedError) a table iptables-nft-save could not print.
 * @example const { generation, raw, handles } = await loadNftTable(native, 'iptables.restore', 4, 'nat');
 */
export async function loadNftTable(native: Native, op: string, family: Family, table: string): Promise<{ generation: number; raw: RawTableSnapshot; handles: Map<string, bigint[]> }> {
  if (!BUILTIN_TABLES.some((t) => t.name === table)) {
    throw new NotFoundError(`${op}: Table \`${table}' does not exist`, { op, subsystem: 'iptables', code: 'ENOENT' });
  }
  const r = await readNft(native, op, family, table);
  return { generation: r.generation, raw: rawTableOf(r.tables[0]!, op), handles: r.handles.get(table) ?? new Map() };
}

/**
 * What `iptables-nft-save` (`ip6tables-nft-save`) 1.8.9 prints, without its timestamp lines.
 * Tables the tool calls incompatible print as its one comment line; rules it cannot print right
 * are refused with UnsupportedError (see decode.ts).
 * @example const text = await saveNft(native, 'iptables.save', 4, { counters: true });
 */
export async function saveNft(native: Native, op: string, family: Family, opts: { table?: string; counters?: boolean }): Promise<string> {
  if (opts.table !== undefined && !BUILTIN_TABLES.some((t) => t.name === opts.table)) {
    throw new NotFoundError(`${op}: Table \`${opts.table}' does not exist`, { op, subsystem: 'iptables', code: 'ENOENT' });
  }
  return printTables(native, op, family, opts.counters ?? false, (await readNft(native, op, family, opts.table)).tables);
}

/**
 * Decoded tables as iptables-nft-save prints them: printable ones by the native printer in one
 * crossing, incompatible ones as the tool's comment line.
 * @example const text = await printTables((fn) => fn(worker), 'iptables.save', 4, false, decodeTables(msgs, 4));
 */
export async function printTables(native: Native, op: string, family: Family, counters: boolean, tables: DecodedTable[]): Promise<string> {
  const printable = tables.flatMap((t) => (t.incompatible ? [] : [t.raw]));
  const texts: string[] = [];
  if (printable.length) {
    const r = await native((w) => binding().iptablesPrintRaw(w, { family, counters, tables: printable }));
    texts.push(...r.texts);
  }
  let next = 0;
  return tables.map((t) => (t.incompatible ? incompatibleLine(t.name) : texts[next++]!)).join('');
}
