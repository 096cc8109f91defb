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
import { strIsAscii } from '../../netlink/reader.js';
import { batch, dump, ERESTART, type BatchResult, type MessageBatch } from '../../netlink/transport.js';
import type { RawWorker } from '../../core/native.js';
import type { Family } from '../types.js';
import { chainName, HOOK_NAMES, indexBlob, LAYOUT, type BlobChains, type RawTableLike } from './entries.js';
import { putName, RuleEncoder } from './encode.js';
import { BUILTIN_TABLES, type BuiltinChain } from './tables.js';
import { NATIVE_ENCODING, type NftEncoding } from './version.js';
import type { NftModelSlot } from './model.js';

const NFTA_CHAIN_COUNTERS = 8, NFTA_COUNTER_BYTES = 1, NFTA_COUNTER_PACKETS = 2;
const ATTEMPTS = 5;
/** xt_error_target's errorname: a user chain's name in a compiled blob. */
const ERROR_NAME_MAX = 30;

/** One table of the text, compiled: its body (for the chain order) and the entries blob. */
export interface CompiledNftTable {
  name: string;
  body: string;
  raw: RawTableLike;
}

/** What each message of a batch is, for errors: the table, and the chain or rule. */
export interface BatchMessage { table: string; what: string; chain?: string; rule?: number }

/** A table's chains by index (Messages.chainMessage): their names made only for an error. */
export interface ChainNames { table: string; chain?: undefined; name(i: number): string }

/**
 * A writer that remembers where each message ends (lib/netlink's MessageBatch) and what each
 * is; a rule message keeps only its chain's shared record and its number (aboutAt builds the
 * rest), so 160k rules make no 160k objects. The bookkeeping is typed arrays grown by doubling
 * (four 220k-element JS arrays grown a push at a time were a tenth of encoding 20k services).
 * @example const w = new Messages(0); w.begin(MSG.NEWTABLE, NLM_F_REQUEST, 2); w.done({ table: 'nat', what: 'table nat' });
 */
export class Messages extends NftWriter {
  private endAt = new Uint32Array(64);
  private ruleNo = new Int32Array(64);
  /** A message of chain i of a ChainNames record (restoreMessages: no record or string per chain), else -1. */
  private chainOf = new Int32Array(64);
  /** Each message's record, as an index into `records` (a chain's messages share one). */
  private recordOf = new Int32Array(64);
  private readonly records: Array<BatchMessage | ChainNames> = [];
  private n = 0;

  /** The messages written so far. */
  get messages(): number { return this.n; }

  /** Room for `more` messages' bookkeeping without growing (restoreMessages knows about how many). */
  reserve(more: number): void {
    const want = this.n + more;
    if (want <= this.endAt.length) return;
    const grow = <T extends Uint32Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(Math.max(want, a.length * 2));
      b.set(a.subarray(0, this.n));
      return b;
    };
    this.endAt = grow(this.endAt);
    this.ruleNo = grow(this.ruleNo);
    this.chainOf = grow(this.chainOf);
    this.recordOf = grow(this.recordOf);
  }

  private note(m: BatchMessage | ChainNames, rule: number, chain: number): void {
    const k = this.n;
    if (k === this.endAt.length) this.reserve(1);
    const r = this.records;
    if (r.length === 0 || r[r.length - 1] !== m) r.push(m);
    this.endAt[k] = this.pos;
    this.ruleNo[k] = rule;
    this.chainOf[k] = chain;
    this.recordOf[k] = r.length - 1;
    this.n = k + 1;
  }

  done(m: BatchMessage): void {
    this.end();
    this.note(m, 0, -1);
  }
  /** After a rule message of `chain` (a record shared by its rules: { table, what: '', chain }). */
  ruleDone(chain: BatchMessage, n: number): void {
    this.note(chain, n, -1);
  }
  /**
   * After a message of chain `i` of `names` (the chain's own message when `n` is 0, else its
   * rule n): what it is is made from the index only if asked (aboutAt).
   */
  chainMessage(names: ChainNames, i: number, n: number): void {
    if (!n) this.end();
    this.note(names, n, i);
  }
  aboutAt(i: number): BatchMessage | undefined {
    if (!(i >= 0 && i < this.n)) return undefined;
    const m = this.records[this.recordOf[i]!]!, n = this.ruleNo[i]!, c = this.chainOf[i]!;
    const chain = c >= 0 ? (m as ChainNames).name(c) : m.chain;
    if (n) return { table: m.table, what: `rule ${n} of chain ${chain!}`, chain: chain!, rule: n };
    return c >= 0 ? { table: m.table, what: `chain ${chain!}` } : m as BatchMessage;
  }
  /** Where the messages start: after BATCH_BEGIN when the writer was framed (framed()). */
  private first = 0;
  batch(): MessageBatch {
    if (this.first) throw new Error('a framed batch: use sealed()');
    return { bytes: this.bytesWritten(), ends: this.endAt.slice(0, this.n) };
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
    const n = this.n;
    const ends = new Uint32Array(n + 2);
    ends[0] = this.first;
    ends.set(this.endAt.subarray(0, n), 1);
    ends[n + 1] = this.pos;
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
    // the name runs to the first blank (ASCII scanned by hand; anything else by the regex's \S)
    let e = at + 1;
    for (let c = body.charCodeAt(e); c > 0x20 && c < 0x7f; c = body.charCodeAt(++e));
    const c = body.charCodeAt(e);
    if (c > 0x7e) {
      CHAIN_NAME.lastIndex = at;
      const m = CHAIN_NAME.exec(body);
      if (m) out.push(m[1]!);
    } else if (e > at + 1) out.push(body.slice(at + 1, e));
  };
  // lines are what follows a \n: indexOf finds the `:` lines faster than a regex scan of the text
  if (body.startsWith(':')) read(0);
  for (let nl = body.indexOf('\n:'); nl >= 0; nl = body.indexOf('\n:', nl + 1)) read(nl + 1);
  return out;
}

/**
 * The order iptables-nft-restore creates a table's chains in (which is the order the kernel
 * keeps and `nft list` prints), as indices into the blob's chains: `:CHAIN` lines as they come,
 * then built-in chains first named by a rule. Chains of the compiled table the text does not
 * name (`-N`) come last: built-in ones in hook order, then user chains by name.
 * @example chainOrder(':X - [0:0]\n-A INPUT -j X\n', indexBlob(4, raw)).map((i) => chainName(ix, i)); // ['X', 'INPUT']
 */
export function chainOrder(body: string, ix: BlobChains, named = namedChains(body)): number[] {
  const out: number[] = [];
  const n = ix.count, b = ix.blob.b;
  const taken = new Uint8Array(n);
  const take = (i: number) => {
    if (i < 0 || taken[i]) return;
    taken[i] = 1;
    out.push(i);
  };
  const builtinNamed = (name: string) => {
    for (let i = 0; i < n && ix.hook[i]! >= 0; i++) if (HOOK_NAMES[ix.hook[i]!] === name) return i;
    return -1;
  };
  // The compiler lays user chains out in the order the text made them (compile_job.h), so the
  // names usually match the chains one after the other: compared with the blob's bytes, no
  // string made and none hashed (60k of each for kube-proxy at 20k services). A Map only on a miss.
  let byName: Map<string, number> | undefined;
  const indexOf = (name: string) => {
    if (!byName) {
      byName = new Map();
      for (let i = n - 1; i >= 0; i--) byName.set(chainName(ix, i), i);
    }
    return byName.get(name) ?? -1;
  };
  let next = 0;
  while (next < n && ix.hook[next]! >= 0) next++;
  for (let j = 0; j < named.length; j++) {
    const name = named[j]!, h = builtinNamed(name);
    if (h >= 0) take(h);
    else if (next < n && strIsAscii(b, ix.nameOf[next]!, ERROR_NAME_MAX, name)) take(next++);
    else take(indexOf(name));
  }
  // built-in chains no `:` line named, by their first rule line (a search per chain, not a pass per line)
  const firstRules: Array<{ i: number; at: number }> = [];
  for (let i = 0; i < n && ix.hook[i]! >= 0; i++) {
    if (taken[i]) continue;
    const at = firstRuleOf(body, chainName(ix, i));
    if (at >= 0) firstRules.push({ i, at });
  }
  firstRules.sort((x, y) => x.at - y.at);
  for (const x of firstRules) take(x.i);
  // built-in chains with rules the text reached some other way, user chains made by -N
  for (let i = 0; i < n && ix.hook[i]! >= 0; i++) if (ix.ruleStart[i + 1]! > ix.ruleStart[i]!) take(i);
  const rest: Array<{ i: number; name: string }> = [];
  for (let i = 0; i < n; i++) if (ix.hook[i]! < 0 && !taken[i]) rest.push({ i, name: chainName(ix, i) });
  rest.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  for (const r of rest) take(r.i);
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
    const ix = indexBlob(family, t.raw);
    // a message per rule, one or two per chain, two for the table
    w.reserve(ix.rules.length + 2 * ix.count + 2);
    const named = namedChains(t.body);
    const order = chainOrder(t.body, ix, named);
    if (exists.has(t.name) || declared.has(t.name)) {
      w.begin(MSG.DELTABLE, NLM_F_REQUEST, fam);
      w.str(TABLE.NAME, t.name);
      w.done({ table: t.name, what: `table ${t.name} (flush)` });
    }
    declared.add(t.name);
    // the tool creates the table for its first chain: a block that names none leaves no table
    if (!order.length) continue;
    w.begin(MSG.NEWTABLE, NLM_F_REQUEST | NLM_F_CREATE, fam);
    w.str(TABLE.NAME, t.name);
    w.done({ table: t.name, what: `table ${t.name}` });
    const names: ChainNames = { table: t.name, name: (i) => chainName(ix, i) };
    chainMessages(w, family, t.name, builtins, named, names, ix, order);
    tableRules(rules, w, t.name, names, ix, order);
  }
  return w;
}

/**
 * The NEWCHAIN messages of a table's chains in `order` (a built-in chain's second one when a
 * `:CHAIN` line names it). Its own function, like tableRules: restoreMessages, called once per
 * restore, keeps no hot loop for the JIT to compile it whole for.
 */
function chainMessages(w: Messages, family: Family, table: string, builtins: readonly BuiltinChain[], named: string[], names: ChainNames, ix: BlobChains, order: number[]): void {
  const fam = family === 4 ? FAMILY.ip : FAMILY.ip6;
  const b = ix.blob.b;
  // indexed loops, no closure in the body: an iterator result and a context per chain are garbage (60k at 20k services)
  for (let j = 0; j < order.length; j++) {
    const i = order[j]!, h = ix.hook[i]!;
    const builtin = h >= 0 ? builtinOf(builtins, h) : undefined;
    if (!builtin) {
      w.begin(MSG.NEWCHAIN, NLM_F_REQUEST | NLM_F_EXCL, fam);
      w.str(CHAIN.TABLE, table);
      // the name's bytes from the blob, as the rules' messages and jumps copy them
      if (h >= 0 || !putName(w, CHAIN.NAME, b, ix.nameOf[i]!)) w.str(CHAIN.NAME, chainName(ix, i));
      w.chainMessage(names, i, 0);
      continue;
    }
    // nft_chain_builtin_add (policy ACCEPT), then nft_chain_set for a `:CHAIN` line
    writeBuiltinChain(w, fam, table, builtin, VERDICT.accept);
    w.chainMessage(names, i, 0);
    if (named.includes(builtin.name)) {
      const p = ix.policyAt[i]!, L = LAYOUT[family];
      let policy: number = VERDICT.accept, counters: [bigint, bigint] = [0n, 0n];
      if (p >= 0) {
        const tOff = p + b.readUInt16LE(p + L.targetOffset);
        if (b[tOff + 2] === 0 && b.readInt32LE(tOff + 32) === -1) policy = VERDICT.drop;
        counters = [b.readBigUInt64LE(p + L.counters), b.readBigUInt64LE(p + L.counters + 8)];
      }
      writeBuiltinChain(w, fam, table, builtin, policy, counters);
      w.chainMessage(names, i, 0);
    }
  }
}

const builtinOf = (builtins: readonly BuiltinChain[], hook: number) => builtins.find((x) => x.hook === hook);

/**
 * The NEWRULE messages of a table's rules, chain by chain in `order`. The one function that
 * holds the encoder's loop: the JIT compiles the encoder (inlined into it) here only, instead
 * of into restoreMessages too (~130 ms of compiler time each, in the first restores of 1k
 * services), and restoreMessages' own loop stays light.
 */
function tableRules(rules: RuleEncoder, w: Messages, table: string, names: ChainNames, ix: BlobChains, order: number[]): void {
  const offs = ix.rules, starts = ix.ruleStart, hooks = ix.hook, nameOf = ix.nameOf, blob = ix.blob;
  for (let j = 0; j < order.length; j++) {
    const i = order[j]!, h = hooks[i]!, chain = h >= 0 ? HOOK_NAMES[h]! : nameOf[i]!;
    for (let r = starts[i]!, end = starts[i + 1]!, k = 1; r < end; r++, k++) {
      rules.ruleAt(table, chain, blob, offs[r]!);
      w.chainMessage(names, i, k);
    }
  }
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

/**
 * The ruleset generation and the family's table names, read in one dump run.
 * @example const { genid, exists } = await readTables({ native: (fn) => handle.native(op, fn) }, 4);
 */
export async function readTables(io: NftRestoreIo, family: Family): Promise<{ genid: number; exists: Set<string> }> {
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
