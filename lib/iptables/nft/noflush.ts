// A --noflush restore on nf_tables: read the tables the text names (decoded, with each rule's
// handle, at one generation), compile the text onto them (the native restore, started from
// those tables instead of the kernel's legacy ones), and send only what changed (partial.ts) in
// one batch carrying that generation. A batch refused with ERESTART (someone changed the
// ruleset in between) is recomputed from a fresh read, as iptables-nft-restore does.
import { batch, ERESTART } from '../../netlink/transport.js';
import { genDump } from './gen-dump.js';
import { FAMILY, MSG, NFNL_SUBSYS_NFTABLES, NLM_F_DUMP, NLM_F_REQUEST, RULE } from '../../nft/consts.js';
import type { RawTableSnapshot } from '../../core/native.js';
import type { Family } from '../types.js';
import { decodeTables, groupDumpBytes, groupRulesOnto, rawTableOf, type NftTable } from './decode.js';
import { applySent, modelOf, nextGeneration, ruleTargets, slice, textTargets, widen } from './model.js';
import { NftWriter } from '../../nft/wire.js';
import type { RawWorker } from '../../core/native.js';
import { LAYOUT, readEntries } from './entries.js';

const IP6T_F_PROTO = 0x01;
import { partialMessages, touchedChains, type PartialTable } from './partial.js';
import { Messages, type NftRefusal, type NftRestoreIo } from './restore.js';
import type { NftRead } from './save.js';

const ENOENT = 2;

const ATTEMPTS = 5;

/** One table of a noflush restore: its name and all its text's lines. */
export interface NoflushTable { name: string; body: string }

/** What a noflush commit did: the tables it changed, and how many messages it sent. */
export interface NoflushOutcome { refusal?: NftRefusal; messages: number; attempts: number }

/** More named chains than this: the table's rules are read in one request rather than chain by chain. */
const CHAIN_REQUESTS = 256;

/** GETRULE dumps of the chains `only` names (every rule of a table whose set is undefined or large). */
function ruleRequests(w: NftWriter, f: number, only: Map<string, Set<string> | undefined>): void {
  for (const [table, chains] of only) {
    for (const chain of chains && chains.size <= CHAIN_REQUESTS ? chains : [undefined]) {
      w.begin(MSG.GETRULE, NLM_F_REQUEST | NLM_F_DUMP, f);
      w.str(RULE.TABLE, table);
      if (chain !== undefined) w.str(RULE.CHAIN, chain);
      w.end();
    }
  }
}

/**
 * The tables a noflush text names, as nf_tables holds them, at one generation: the chains
 * (policies, counters) but only the rules of the chains the text names (`only`; all rules when
 * undefined), as iptables-nft-restore fetches rules for the chains its commands touch. Chains
 * whose rules were not read come out empty: the text does not change them, and the partial
 * commit does not look at them. With a `model` (model.ts) still at the ruleset's generation,
 * one crossing reads only those rules and the chains come from the model; else the family's
 * tables and chains are dumped too and the model is made again from them. Where the text names
 * its chains, the tables come out sliced: the base chains, the chains it names, and those it or
 * the touched chains' rules jump to (what the compiler needs to resolve the text).
 * @example const read = await readTouched(io, 'iptables.restore', 4, new Map([['nat', new Set(['KUBE-SVC-X'])]]), new Map([['nat', body]]));
 */
export async function readTouched(io: NftRestoreIo, op: string, family: Family, only: Map<string, Set<string> | undefined>,
  bodies: Map<string, string> = new Map()): Promise<NftRead> {
  const f = family === 6 ? FAMILY.ip6 : FAMILY.ip;
  const native = <T>(fn: (w: RawWorker) => Promise<T>) => io.native(fn);
  const slot = io.model;
  const narrow = [...only.values()].every((c) => c !== undefined && c.size <= CHAIN_REQUESTS);
  let grouped: NftTable[] | undefined;
  let generation = 0;
  let model = slot?.current;
  if (model && narrow) {
    // a chain the text names that does not exist yet answers ENOENT: it has no rules to read
    const r = await genDump(native, op, (w) => ruleRequests(w, f, only), [ENOENT]);
    if (r.generation === model.generation) {
      generation = r.generation;
      const m = model;
      const seeds = [...only].flatMap(([t, chains]) => slice(m, t, (n) => chains!.has(n)) ?? []);
      grouped = groupRulesOnto(seeds, r.data, r.from, r.to, family);
    }
  }
  if (!grouped) {
    if (slot) slot.current = undefined;
    const r = await genDump(native, op, (w) => {
      w.begin(MSG.GETTABLE, NLM_F_REQUEST | NLM_F_DUMP, f);
      w.end();
      // every chain of the family: a chain dump is not filtered by table (unlike a rule dump, which
      // takes table and chain)
      w.begin(MSG.GETCHAIN, NLM_F_REQUEST | NLM_F_DUMP, f);
      w.end();
      ruleRequests(w, f, only);
    }, [ENOENT]);
    generation = r.generation;
    const all = groupDumpBytes(r.data, r.from, r.to, family);
    model = modelOf(r.generation, all);
    if (slot) slot.current = model;
    grouped = all.filter((t) => only.has(t.name)).map((t) => {
      const chains = only.get(t.name);
      return chains ? { name: t.name, chains: t.chains.filter((c) => c.hook !== undefined || chains.has(c.name)) } : t;
    });
  }
  for (const t of grouped) {
    const chains = only.get(t.name);
    if (!chains || !model) continue;
    const touched = t.chains.filter((c) => chains.has(c.name));
    widen(model, t, [...textTargets(bodies.get(t.name) ?? ''), ...ruleTargets(touched)]);
  }
  const handles = new Map(grouped.map((t) => [t.name, new Map(t.chains.map((c) => [c.name, c.rules.map((x) => x.handle)]))]));
  return { generation, tables: decodeTables(grouped, family), handles };
}

/**
 * ip6tables sets IP6T_F_PROTO beside the protocol of a rule with `-p` (xshared.c); the tool's
 * decoder leaves it out (its rule comparison ignores flags), but the native restore compares
 * whole entries for `-D rule`: the decoded IPv6 rules get the flag back.
 * @example const raw = protoFlagged(6, rawTableOf(decoded, op));
 */
export function protoFlagged(family: Family, raw: RawTableSnapshot): RawTableSnapshot {
  if (family !== 6) return raw;
  const L = LAYOUT[6];
  const b = Buffer.from(raw.entries);
  for (let off = 0; off + L.size <= b.length;) {
    const next = b.readUInt16LE(off + L.nextOffset);
    if (next === 0) break;
    if (b.readUInt16LE(off + L.proto) !== 0) b[off + L.flags]! |= IP6T_F_PROTO;
    off += next;
  }
  return { ...raw, entries: b };
}

/**
 * Reads, compiles onto what was read (`compile`, which throws for bad input) and commits the
 * changes in one batch; retried from a fresh read when the ruleset moved meanwhile. `dryRun`:
 * stops before the batch (a transaction's check).
 * @example await commitNoflush(io, 'iptables.restore', 4, [{ name: 'nat', body }], false, false, (bases) => compileOnto(bases));
 */
export async function commitNoflush(io: NftRestoreIo, op: string, family: Family, tables: NoflushTable[], counters: boolean, dryRun: boolean,
  compile: (bases: Map<string, RawTableSnapshot>) => Promise<RawTableSnapshot[]>): Promise<NoflushOutcome> {
  const names = [...new Set(tables.map((t) => t.name))];
  for (let attempt = 1; ; attempt++) {
    const only = new Map(names.map((n) => [n, touchedChains(tables.filter((t) => t.name === n).map((t) => t.body).join(''))]));
    const bodies = new Map(names.map((n) => [n, tables.filter((t) => t.name === n).map((t) => t.body).join('')]));
    const read = await readTouched(io, op, family, only, bodies);
    const bases = new Map(names.map((n) => [n, protoFlagged(family, rawTableOf(read.tables.find((t) => t.name === n) ?? decodeTables([], family, n)[0]!, op))]));
    const compiled = await compile(bases);
    const parts: PartialTable[] = compiled.map((raw) => {
      const handles = read.handles.get(raw.table) ?? new Map<string, bigint[]>();
      const body = tables.filter((t) => t.name === raw.table).map((t) => t.body).join('');
      const touched = only.get(raw.table);
      return {
        name: raw.table, body,
        exists: read.handles.has(raw.table),
        old: readEntries(family, bases.get(raw.table)!, touched).filter((c) => handles.has(c.name)),
        handles,
        next: readEntries(family, raw, touched),
        counters,
      };
    });
    const msgs = partialMessages(new Messages(0), family, parts, io.encoding);
    if (!msgs.messages || dryRun) return { messages: msgs.messages, attempts: dryRun ? 0 : attempt };
    // the model is taken out while the batch is in flight: if it fails in any way, the next
    // commit reads the tables again
    const model = io.model?.current;
    if (io.model) io.model.current = undefined;
    const sent = msgs.batch();
    const r = await io.native((w) => batch(w, NFNL_SUBSYS_NFTABLES, sent, { genid: read.generation }));
    const first = r.errors[0];
    if (!first) {
      if (io.model && model?.generation === read.generation) io.model.current = applySent(model, sent.bytes, family, nextGeneration(read.generation));
      return { messages: msgs.messages, attempts: attempt };
    }
    if (first.index < 0 && first.errno === ERESTART && attempt < ATTEMPTS) continue;
    const about = msgs.aboutAt(first.index);
    return {
      messages: msgs.messages, attempts: attempt,
      refusal: { errno: first.errno, index: first.index, result: r, ...(first.message ? { message: first.message } : {}), ...(about ? { about } : {}) },
    };
  }
}
