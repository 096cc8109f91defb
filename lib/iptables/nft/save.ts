// save() on the nf_tables backend: two dump crossings (the generation, the family's tables and
// chains; then each chain's rules, the generation again), decoding in TypeScript (decode.ts), one print
// crossing (the native printer of legacy tables, with libxtables' save functions). save streams
// the rules (streamTables: decoded while the kernel goes on dumping); readNft reads them whole
// (a --noflush restore's start, and save's reference when a table needs the general decoder's say).
import { ConcurrentModificationError, NotFoundError } from '../../core/errors.js';
import { splitMessages } from '../../nft/attrs.js';
import { FAMILY, MSG, NFNL_SUBSYS_NFTABLES, NLM_F_DUMP, NLM_F_REQUEST, RULE } from '../../nft/consts.js';
import { decodeGeneration } from '../../nft/requests.js';
import { NftWriter } from '../../nft/wire.js';
import { binding, type RawTableSnapshot, type RawWorker } from '../../core/native.js';
import { NETLINK_NETFILTER } from '../../netlink/headers.js';
import { attrIndex, forEachMessage, str, strIsAscii } from '../../netlink/reader.js';
import { dump, dumpStream, kernelError, type MessageBatch } from '../../netlink/transport.js';
import { problemError } from '../errors.js';
import { blobOrder, BUILTIN_TABLES, chainsOfDump, decodeTables, groupDumpBytes, incompatibleLine, rawTableOf, TableBlob, type DecodedTable, type Family } from './decode.js';

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
  for (let attempt = 1; ; attempt++) {
    const a = await native((w) => dump(w, NETLINK_NETFILTER, first));
    failed(op, a);
    const chains = chainsOfDump(a.data, a.sections[1]!, a.sections[2]!, family, table);
    const r = await native((w) => dump(w, NETLINK_NETFILTER, ruleRequests(family, chains)));
    // a chain deleted between the rounds: the generation moved, read again
    const gone = r.errnos.some((e) => e === ENOENT);
    if (!gone) failed(op, r);
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
  const tables = await streamTables(native, op, family, opts.table) ?? (await readNft(native, op, family, opts.table)).tables;
  return printTables(native, op, family, opts.counters ?? false, tables);
}

/** A decoded table, or one whose blob is still in the parts TableBlob wrote it in. */
export type PrintableTable = DecodedTable | { name: string; incompatible: false; raw: ReturnType<TableBlob['finishParts']> };

const NEWRULE = (NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWRULE, NEWGEN = (NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWGEN;

/**
 * save()'s read: the family's tables and chains (one crossing), then their rules streamed
 * (dumpStream, in borrowed chunks) and written into each table's blob (TableBlob) as every chunk
 * arrives, while the worker goes on dumping: the kernel's dump and the decoding overlap, and no
 * rule or dump is kept. The chains are asked for in the blobs' own order, so the rules come in
 * the order they are written. The generation is read before and after (GETGEN), as readNft does;
 * a moved one, a chain gone (ENOENT) or an interrupted dump read again. Undefined when a table
 * cannot be decoded this way (anything the tool would print as incompatible or not at all):
 * readNft and decodeTables, the reference, then read it again and give the answer.
 * @example const tables = await streamTables(native, 'iptables.save', 4, 'nat') ?? (await readNft(native, 'iptables.save', 4, 'nat')).tables;
 */
export async function streamTables(native: Native, op: string, family: Family, table?: string): Promise<PrintableTable[] | undefined> {
  const first = chainRequests(family);
  for (let attempt = 1; ; attempt++) {
    const a = await native((w) => dump(w, NETLINK_NETFILTER, first));
    failed(op, a);
    const generation = decodeGeneration(splitMessages(a.data.subarray(0, a.sections[0]!)));
    const all = groupDumpBytes(a.data, a.sections[0]!, a.sections[2]!, family);
    const tables = table === undefined ? all : [all.find((t) => t.name === table) ?? { name: table, chains: [] }];
    // The rules are asked for first, the blobs made while the first chunks come (the chunks wait
    // for this synchronous code: native() submits the job before it returns its promise).
    const orders = tables.map((t) => blobOrder(t));
    const asked: Array<[string, string]> = [];
    tables.forEach((t, i) => {
      for (const c of orders[i]!.base) asked.push([t.name, c.name]);
      for (const c of orders[i]!.users) asked.push([t.name, c.name]);
    });
    const sink = new RuleSink(family);
    const streamed = native((w) => dumpStream(w, NETLINK_NETFILTER, ruleRequests(family, asked), (d) => sink.chunk(d), { borrow: true }));
    try {
      sink.bind(tables.map((t, i) => new TableBlob(t, family, op, {}, undefined, orders[i])));
    } catch {
      sink.broken = true;  // (the dump runs to its end all the same)
    }
    const r = await streamed;
    // a chain deleted between the rounds: the generation moved, read again
    const gone = r.errnos.some((e) => e === ENOENT);
    if (!gone) failed(op, r);
    if (!gone && !r.interrupted && sink.generation === generation) {
      if (sink.broken) return undefined;
      try {
        return sink.blobs.map((b) => ({ name: b.table.name, incompatible: false as const, raw: b.finishParts() }));
      } catch {
        return undefined;
      }
    }
    if (attempt >= ATTEMPTS) {
      throw new ConcurrentModificationError(`${op}: the nf_tables ruleset kept changing while it was read (${ATTEMPTS} attempts)`, { op, subsystem: 'iptables' });
    }
  }
}

/**
 * The rule dump's chunks written into the blobs (streamTables): each rule into the blob and block
 * of its chain, found after the last rule's (chains with no rules in between are passed over).
 */
class RuleSink {
  /** The generation GETGEN answered after the rules (-1: not yet). */
  generation = -1;
  /** A rule could not be written (the reference path reads the tables again and says why). */
  broken = false;
  /** The blobs (bind()), and the blocks with a chain: the chains dumped, in order. */
  blobs: TableBlob[] = [];
  private readonly asked: Array<{ blob: TableBlob; block: number; table: string; name: string; ascii: boolean }> = [];
  private cur = 0;
  private readonly nfproto: number;
  private readonly at = new Int32Array(16);
  private readonly len = new Int32Array(16);

  constructor(family: Family) {
    this.nfproto = family === 6 ? FAMILY.ip6 : FAMILY.ip;
  }

  /** The blobs the rules go to: their blocks with a chain are the chains dumped, in that order. */
  bind(blobs: TableBlob[]): void {
    this.blobs = blobs;
    for (const blob of blobs) {
      const { blocks } = blob, table = blob.table.name;
      for (let block = 0; block < blocks.length; block++) {
        const name = blocks[block]!.name;
        let ascii = true;
        for (let i = 0; i < name.length && ascii; i++) ascii = name.charCodeAt(i) < 0x80;
        if (blocks[block]!.chain) this.asked.push({ blob, block, table, name, ascii });
      }
    }
  }

  /** One chunk of whole messages (valid only during the call: borrowed). */
  chunk(d: Buffer): void {
    let m = 0;
    while (m + 20 <= d.length) {
      const n = d.readUInt32LE(m);
      if (n < 16 || m + n > d.length) break;
      const type = d[m + 4]! | (d[m + 5]! << 8);
      if (type === NEWRULE && !this.broken && n >= 20 && d[m + 16] === this.nfproto) {
        try {
          this.rule(d, m, n);
        } catch {
          this.broken = true;
        }
      } else if (type === NEWGEN) {
        this.generation = decodeGeneration(splitMessages(d.subarray(m, m + n)));
      }
      m += (n + 3) & ~3;
    }
  }

  private rule(d: Buffer, m: number, n: number): void {
    const { at, len, asked } = this;
    attrIndex(d, m + 20, m + n, 15, at, len);
    const t = at[RULE.TABLE]!, c = at[RULE.CHAIN]!;
    if (t === 0 || c === 0) throw new Error('a rule without its table or chain');
    const tl = len[RULE.TABLE]!, cl = len[RULE.CHAIN]!;
    let k = this.cur;
    for (; k < asked.length; k++) {
      const x = asked[k]!;
      if (x.ascii ? strIsAscii(d, c, cl, x.name) && strIsAscii(d, t, tl, x.table) : str(d, c, cl) === x.name && str(d, t, tl) === x.table) break;
    }
    if (k === asked.length) throw new Error('a rule of a chain not asked for');
    this.cur = k;
    const x = asked[k]!;
    x.blob.seek(x.block);
    const ex = at[RULE.EXPRESSIONS]!, h = at[RULE.HANDLE]!;
    x.blob.bytesRule(d, ex, ex === 0 ? 0 : ex + len[RULE.EXPRESSIONS]!, h !== 0 && len[RULE.HANDLE]! >= 8 ? h : 0, at[RULE.USERDATA]!, len[RULE.USERDATA]!);
  }
}

/** Throws the first refusal of a dump's requests. */
function failed(op: string, r: { errnos: Int32Array; messages: Record<number, string> }): void {
  const bad = r.errnos.findIndex((e) => e !== 0);
  if (bad >= 0) {
    throw kernelError(op, 'iptables', r.errnos[bad]!, { what: 'cannot read the nf_tables ruleset', ...(r.messages[bad] ? { detail: r.messages[bad] } : {}) });
  }
}

/**
 * Decoded tables as iptables-nft-save prints them: printable ones by the native printer in one
 * crossing, incompatible ones as the tool's comment line.
 * @example const text = await printTables((fn) => fn(worker), 'iptables.save', 4, false, decodeTables(msgs, 4));
 */
export async function printTables(native: Native, op: string, family: Family, counters: boolean, tables: PrintableTable[]): Promise<string> {
  const printable = tables.flatMap((t) => (t.incompatible ? [] : [t.raw]));
  const texts: string[] = [];
  if (printable.length) {
    const r = await native((w) => binding().iptablesPrintRaw(w, { family, counters, tables: printable }));
    texts.push(...r.texts);
  }
  let next = 0;
  return tables.map((t) => (t.incompatible ? incompatibleLine(t.name) : texts[next++]!)).join('');
}
