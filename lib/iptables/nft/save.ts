// save() on the nf_tables backend: two dump crossings (the generation, the family's tables and
// chains; then each chain's rules, the generation again), decoding in TypeScript (decode.ts), one print
// crossing (the native printer of legacy tables, with libxtables' save functions).
import { ConcurrentModificationError, NotFoundError } from '../../core/errors.js';
import { splitMessages } from '../../nft/attrs.js';
import { FAMILY, MSG, NLM_F_DUMP, NLM_F_REQUEST, RULE } from '../../nft/consts.js';
import { decodeGeneration } from '../../nft/requests.js';
import { NftWriter } from '../../nft/wire.js';
import { binding, type RawTableSnapshot, type RawWorker } from '../../core/native.js';
import { NETLINK_NETFILTER } from '../../netlink/headers.js';
import { forEachMessage } from '../../netlink/reader.js';
import { dump, kernelError, type MessageBatch } from '../../netlink/transport.js';
import { problemError } from '../errors.js';
import { BUILTIN_TABLES, chainsOfDump, decodeTables, groupDumpBytes, incompatibleLine, rawTableOf, type DecodedTable, type Family } from './decode.js';

type Native = <T>(fn: (w: RawWorker) => Promise<T>) => Promise<T>;

const ENOENT = 2;

/** Runs of the dump when the ruleset changed between its first and last message. */
const ATTEMPTS = 5;

/** A dump request batch from the messages `write` adds. */
function requests(write: (w: NftWriter) => void): MessageBatch {
  const w = new NftWriter(0);
  write(w);
  const bytes = w.bytesWritten();
  const ends: number[] = [];
  forEachMessage(bytes, 0, bytes.length, (_t, at, len) => ends.push(at + len));
  return { bytes, ends: Uint32Array.from(ends) };
}

/**
 * The first round of one save: GETGEN, GETTABLE and GETCHAIN of `family`.
 * @example const req = chainRequests(4);
 */
export function chainRequests(family: Family): MessageBatch {
  const f = family === 6 ? FAMILY.ip6 : FAMILY.ip;
  return requests((w) => {
    w.begin(MSG.GETGEN, NLM_F_REQUEST, 0);
    w.end();
    for (const t of [MSG.GETTABLE, MSG.GETCHAIN]) {
      w.begin(t, NLM_F_REQUEST | NLM_F_DUMP, f);
      w.end();
    }
  });
}

/**
 * The second round: one GETRULE dump per chain, then GETGEN (equal to the first round's: one
 * view). Per chain, as iptables-nft-save asks too: the kernel resumes a dump of a whole table
 * by skipping every rule it already sent, so one dump of 160k rules costs it seconds of system
 * time per refill (22 s at 20k services against the tool's 2.2 s); a chain's dump starts at
 * that chain.
 * @example const req = ruleRequests(4, [['nat', 'PREROUTING']]);
 */
export function ruleRequests(family: Family, chains: Array<[string, string]>): MessageBatch {
  const f = family === 6 ? FAMILY.ip6 : FAMILY.ip;
  return requests((w) => {
    for (const [table, chain] of chains) {
      w.begin(MSG.GETRULE, NLM_F_REQUEST | NLM_F_DUMP, f);
      w.str(RULE.TABLE, table);
      w.str(RULE.CHAIN, chain);
      w.end();
    }
    w.begin(MSG.GETGEN, NLM_F_REQUEST, 0);
    w.end();
  });
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
  const first = chainRequests(family);
  const failed = (r: { errnos: Int32Array; messages: Record<number, string> }) => {
    const bad = r.errnos.findIndex((e) => e !== 0);
    if (bad >= 0) {
      throw kernelError(op, 'iptables', r.errnos[bad]!, { what: 'cannot read the nf_tables ruleset', ...(r.messages[bad] ? { detail: r.messages[bad] } : {}) });
    }
  };
  for (let attempt = 1; ; attempt++) {
    const a = await native((w) => dump(w, NETLINK_NETFILTER, first));
    failed(a);
    const chains = chainsOfDump(a.data, a.sections[1]!, a.sections[2]!, family, table);
    const r = await native((w) => dump(w, NETLINK_NETFILTER, ruleRequests(family, chains)));
    // a chain deleted between the rounds: the generation moved, read again
    const gone = r.errnos.some((e) => e === ENOENT);
    if (!gone) failed(r);
    const n = r.sections.length;
    const gen = (d: Buffer, from: number, to: number) => decodeGeneration(splitMessages(d.subarray(from, to)));
    const generation = gen(a.data, 0, a.sections[0]!);
    if (!gone && generation === gen(r.data, n > 1 ? r.sections[n - 2]! : 0, r.sections[n - 1]!)) {
      const grouped = groupDumpBytes(a.data, a.sections[0]!, a.sections[2]!, family, [[r.data, 0, n > 1 ? r.sections[n - 2]! : 0]]);
      // the handles only when asked for (a save never does): 160k BigInts otherwise
      let handles: NftRead['handles'] | undefined;
      return {
        generation, tables: decodeTables(grouped, family, table),
        get handles() { return handles ??= new Map(grouped.map((t) => [t.name, new Map(t.chains.map((c) => [c.name, c.rules.map((x) => x.handle)]))])); },
      };
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
