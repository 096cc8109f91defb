// A flushing iptables restore on the nf_tables backend, as iptables-nft-restore 1.8.9 does it
// (xtables-restore.c, nft-cmd.c, nft.c nft_table_flush / nft_chain_set / nft_chain_restore /
// nft_rule_append): per table, DELTABLE when it exists (the flush), NEWTABLE (unless the text
// names no chain of it), the chains in the
// order the text names them (a built-in chain is created with policy ACCEPT, then updated with
// its policy and counters; a user chain with NLM_F_EXCL), then one NEWRULE (append) per rule.
// Unlike the tool, which sends one batch per COMMIT, every table of the text goes in ONE
// nfnetlink batch that carries the generation id the table list was read at: the kernel applies
// all of it or nothing, and a batch refused with ERESTART (the ruleset changed meanwhile) is
// rebuilt from a fresh read and sent again, as the tool does.
import { NftWriter } from '../../nft/wire.js';
import { CHAIN, FAMILY, HOOK, MSG, NFNL_SUBSYS_NFTABLES, TABLE, VERDICT } from '../../nft/consts.js';
import { attrMap, splitMessages, str } from '../../nft/attrs.js';
import { decodeGeneration, generationRequest, rulesetRequests } from '../../nft/requests.js';
import { NETLINK_NETFILTER, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST } from '../../netlink/headers.js';
import { batch, dump, ERESTART, type BatchResult, type MessageBatch } from '../../netlink/transport.js';
import type { RawWorker } from '../../core/native.js';
import type { Family } from '../types.js';
import { indexEntries, type RawTableLike } from './entries.js';
import { RuleEncoder } from './encode.js';
import { BUILTIN_TABLES, type BuiltinChain } from './tables.js';
import { NATIVE_ENCODING, type NftEncoding } from './version.js';
import type { NftModelSlot } from './model.js';

const NFTA_CHAIN_COUNTERS = 8, NFTA_COUNTER_BYTES = 1, NFTA_COUNTER_PACKETS = 2;
const ATTEMPTS = 5;

/** One table of the text, compiled: its body (for the chain order) and the entries blob. */
export interface CompiledNftTable {
  name: string;
  body: string;
  raw: RawTableLike;
}

/** What each message of a batch is, for errors: the table, and the chain or rule. */
export interface BatchMessage { table: string; what: string; chain?: string; rule?: number }

/**
 * A writer that remembers where each message ends (lib/netlink's MessageBatch) and what each
 * is; a rule message keeps only its chain's shared record and its number (aboutAt builds the
 * rest), so 160k rules make no 160k objects.
 * @example const w = new Messages(0); w.begin(MSG.NEWTABLE, NLM_F_REQUEST, 2); w.done({ table: 'nat', what: 'table nat' });
 */
export class Messages extends NftWriter {
  readonly ends: number[] = [];
  private readonly about: Array<BatchMessage | undefined> = [];
  private readonly ruleNo: number[] = [];
  done(m: BatchMessage): void {
    this.end();
    this.ends.push(this.pos);
    this.about.push(m);
    this.ruleNo.push(0);
  }
  /** After a rule message of `chain` (a record shared by its rules: { table, what: '', chain }). */
  ruleDone(chain: BatchMessage, n: number): void {
    this.ends.push(this.pos);
    this.about.push(chain);
    this.ruleNo.push(n);
  }
  aboutAt(i: number): BatchMessage | undefined {
    const m = this.about[i], n = this.ruleNo[i];
    return m && n ? { table: m.table, what: `rule ${n} of chain ${m.chain!}`, chain: m.chain!, rule: n } : m;
  }
  /** Where the messages start: after BATCH_BEGIN when the writer was framed (framed()). */
  private first = 0;
  batch(): MessageBatch {
    if (this.first) throw new Error('a framed batch: use sealed()');
    return { bytes: this.bytesWritten(), ends: Uint32Array.from(this.ends) };
  }
  /**
   * Starts the writer with BATCH_BEGIN (carrying `genid`): sealed() then ends it with BATCH_END
   * and hands the buffer to the kernel as it is, not copied between delimiters (~30 MB at 20k services).
   */
  framed(genid: number): this {
    this.batchBegin(genid);
    this.first = this.pos;
    return this;
  }
  /** The framed batch, BATCH_END added: for transport.batch's `framed` (refusal indices count from the first message). */
  sealed(): MessageBatch {
    this.batchEnd();
    const ends = new Uint32Array(this.ends.length + 2);
    ends[0] = this.first;
    ends.set(this.ends, 1);
    ends[ends.length - 1] = this.pos;
    return { bytes: this.bytesWritten(), ends };
  }
}

/** A `:CHAIN` line's name, read where the line starts (sticky: no scan past it). */
const CHAIN_NAME = /:(\S+)/y;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Where the first rule line of `chain` (`-A chain`, `-I chain`, counters first or not) starts, or -1. */
function firstRuleOf(body: string, chain: string): number {
  return body.search(new RegExp(`(?<![^\\n])(?:\\[\\d+:\\d+\\][^\\S\\n]+)?(?:-[AI]|--append|--insert)[^\\S\\n]+${escape(chain)}(?=\\s|$)`));
}

/**
 * The names of a body's `:CHAIN` lines, in order.
 * @example namedChains(':X - [0:0]\n:Y - [0:0]\n'); // ['X', 'Y']
 */
export function namedChains(body: string): string[] {
  const out: string[] = [];
  const read = (at: number) => {
    CHAIN_NAME.lastIndex = at;
    const m = CHAIN_NAME.exec(body);
    if (m) out.push(m[1]!);
  };
  // lines are what follows a \n: indexOf finds the `:` lines faster than a regex scan of the text
  if (body.startsWith(':')) read(0);
  for (let nl = body.indexOf('\n:'); nl >= 0; nl = body.indexOf('\n:', nl + 1)) read(nl + 1);
  return out;
}

/**
 * The order iptables-nft-restore creates a table's chains in (which is the order the kernel
 * keeps and `nft list` prints): `:CHAIN` lines as they come, then built-in chains first named
 * by a rule. Chains of the compiled table the text does not name (`-N`) come last.
 * @example chainOrder(':X - [0:0]\n-A INPUT -j X\n', readEntries(4, raw)).map((c) => c.name); // ['X', 'INPUT']
 */
export function chainOrder<C extends { name: string; hook?: number; rules: ArrayLike<unknown> }>(body: string, chains: C[], named = namedChains(body)): C[] {
  const byName = new Map(chains.map((c) => [c.name, c]));
  const out: C[] = [];
  const seen = new Set<string>();
  const take = (name: string, builtinOnly: boolean) => {
    const c = byName.get(name);
    if (!c || seen.has(name) || (builtinOnly && c.hook === undefined)) return;
    seen.add(name);
    out.push(c);
  };
  for (const n of named) take(n, false);
  // built-in chains no `:` line named, by their first rule line (a search per chain, not a pass per line)
  const firstRules = chains.filter((c) => c.hook !== undefined && !seen.has(c.name))
    .map((c) => ({ name: c.name, at: firstRuleOf(body, c.name) })).filter((x) => x.at >= 0).sort((a, b) => a.at - b.at);
  for (const x of firstRules) take(x.name, true);
  // built-in chains with rules the text reached some other way, user chains made by -N
  for (const c of chains) if (c.hook !== undefined ? c.rules.length > 0 : true) take(c.name, false);
  return out;
}

/**
 * The messages of one flushing restore of `tables` (exists: the tables the kernel has now).
 * `genid`: framed, BATCH_BEGIN carrying it first (send msgs.sealed()).
 * @example const msgs = restoreMessages(4, [{ name: 'filter', body, raw }], new Set(['filter'])); msgs.batch();
 */
export function restoreMessages(family: Family, tables: CompiledNftTable[], exists: Set<string>, seq = 0, enc: NftEncoding = NATIVE_ENCODING, genid?: number): Messages {
  const w = new Messages(seq);
  // the batch is about 1.2x the compiled blobs (kube-proxy's nat table): one allocation, no regrowth copies
  w.ensure(Math.ceil(tables.reduce((n, t) => n + t.raw.entries.byteLength, 0) * 1.25) + 4096);
  if (genid !== undefined) w.framed(genid);
  const fam = family === 4 ? FAMILY.ip : FAMILY.ip6;
  const declared = new Set<string>();
  const rules = new RuleEncoder(w, family, enc);
  for (const t of tables) {
    const builtins = BUILTIN_TABLES[t.name];
    if (!builtins) throw new Error(`table ${t.name} is not one iptables-nft knows`);
    const index = indexEntries(family, t.raw);
    const named = namedChains(t.body);
    const chains = chainOrder(t.body, index.chains, named);
    if (exists.has(t.name) || declared.has(t.name)) {
      w.begin(MSG.DELTABLE, NLM_F_REQUEST, fam);
      w.str(TABLE.NAME, t.name);
      w.done({ table: t.name, what: `table ${t.name} (flush)` });
    }
    declared.add(t.name);
    // the tool creates the table for its first chain: a block that names none leaves no table
    if (!chains.length) continue;
    w.begin(MSG.NEWTABLE, NLM_F_REQUEST | NLM_F_CREATE, fam);
    w.str(TABLE.NAME, t.name);
    w.done({ table: t.name, what: `table ${t.name}` });
    for (const c of chains) {
      const b = builtins.find((x) => x.name === c.name);
      if (!b) {
        w.begin(MSG.NEWCHAIN, NLM_F_REQUEST | NLM_F_EXCL, fam);
        w.str(CHAIN.TABLE, t.name);
        w.str(CHAIN.NAME, c.name);
        w.done({ table: t.name, what: `chain ${c.name}` });
        continue;
      }
      const builtin = (policy: number, counters?: [bigint, bigint]) => {
        writeBuiltinChain(w, fam, t.name, b, policy, counters);
        w.done({ table: t.name, what: `chain ${c.name}` });
      };
      // nft_chain_builtin_add (policy ACCEPT), then nft_chain_set for a `:CHAIN` line
      builtin(VERDICT.accept);
      if (named.includes(c.name)) builtin(c.policy === 'DROP' ? VERDICT.drop : VERDICT.accept, [c.packets, c.bytes]);
    }
    for (const c of chains) {
      const about: BatchMessage = { table: t.name, what: '', chain: c.name };
      c.rules.forEach((at, i) => {
        rules.rule(t.name, c.name, index.entry(at));
        w.ruleDone(about, i + 1);
      });
    }
  }
  return w;
}

/**
 * NFT_MSG_NEWCHAIN of a built-in chain as nft_chain_builtin_alloc builds it: hook, priority,
 * policy, counters when given, type (the caller ends the message).
 * @example writeBuiltinChain(w, FAMILY.ip, 'filter', BUILTIN_TABLES.filter[0], VERDICT.drop, [0n, 0n]);
 */
export function writeBuiltinChain(w: NftWriter, fam: number, table: string, b: BuiltinChain, policy: number, counters?: [bigint, bigint]): void {
  w.begin(MSG.NEWCHAIN, NLM_F_REQUEST | NLM_F_CREATE, fam);
  w.str(CHAIN.TABLE, table);
  w.str(CHAIN.NAME, b.name);
  w.within(CHAIN.HOOK, () => { w.be32(HOOK.HOOKNUM, b.hook); w.be32(HOOK.PRIORITY, b.prio >>> 0); });
  w.be32(CHAIN.POLICY, policy);
  if (counters) w.within(NFTA_CHAIN_COUNTERS, () => { w.be64(NFTA_COUNTER_PACKETS, counters[0]); w.be64(NFTA_COUNTER_BYTES, counters[1]); });
  w.str(CHAIN.TYPE, b.type);
}

export interface NftRestoreIo {
  native<T>(fn: (w: RawWorker) => Promise<T>): Promise<T>;
  /** The host's iptables-nft version's form (version.ts); default 1.8.9's. */
  encoding?: NftEncoding;
  /** The handle's model of its tables (model.ts): --noflush commits reuse it while the generation holds. */
  model?: NftModelSlot;
}

/** The refusal of a batch, with what the refused message was. */
export interface NftRefusal { errno: number; message?: string; index: number; about?: BatchMessage; result: BatchResult }

/**
 * Sends the restore of `tables` as one batch; resolves undefined when the kernel committed it,
 * else the refusal. ERESTART (the generation moved since the read) is retried from a fresh read.
 * @example const refused = await restoreNft({ native: (fn) => handle.native(op, fn) }, 4, compiled);
 */
export async function restoreNft(io: NftRestoreIo, family: Family, tables: CompiledNftTable[]): Promise<NftRefusal | undefined> {
  for (let attempt = 1; ; attempt++) {
    const { genid, exists } = await readTables(io, family);
    const msgs = restoreMessages(family, tables, exists, 0, io.encoding, genid);
    const r = await io.native((w) => batch(w, NFNL_SUBSYS_NFTABLES, msgs.sealed(), { framed: true }));
    const first = r.errors[0];
    if (!first) return undefined;
    if (first.index < 0 && first.errno === ERESTART && attempt < ATTEMPTS) continue;
    return { errno: first.errno, index: first.index, result: r, ...(first.message ? { message: first.message } : {}), ...(msgs.aboutAt(first.index) ? { about: msgs.aboutAt(first.index) } : {}) };
  }
}

/** The ruleset generation and the family's table names, read in one dump run. */
async function readTables(io: NftRestoreIo, family: Family): Promise<{ genid: number; exists: Set<string> }> {
  const req = Buffer.concat([generationRequest(), rulesetRequests(family === 4 ? 'ip' : 'ip6', 1, [MSG.GETTABLE])]);
  const ends: number[] = [];
  for (let p = 0; p < req.length; p += (req.readUInt32LE(p) + 3) & ~3) ends.push(p + ((req.readUInt32LE(p) + 3) & ~3));
  const r = await io.native((w) => dump(w, NETLINK_NETFILTER, { bytes: req, ends: Uint32Array.from(ends) }));
  const msgs = splitMessages(r.data);
  const exists = new Set<string>();
  for (const m of msgs) {
    if (m.type === ((NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWTABLE)) {
      const n = str(attrMap(m.body).get(TABLE.NAME));
      if (n !== undefined) exists.add(n);
    }
  }
  return { genid: decodeGeneration(msgs), exists };
}
