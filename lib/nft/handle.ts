// nft's handle: apply() encodes the commands in TypeScript and sends them as one nfnetlink
// batch (one kernel transaction) on the handle's thread; list() and generation() dump and decode.
import { Handle, type OpenOptions } from '../core/handle.js';
import { ProgressReport, type ProgressCallback } from '../core/progress.js';
import { ConcurrentModificationError, NlkitError, NotFoundError, throwIfAborted } from '../core/errors.js';
import { NFNL_SUBSYS_NFTABLES, NETLINK_NETFILTER, NETLINK_ROUTE } from '../netlink/headers.js';
import { dumpLinks, eachMessage, parseLink, Rtm, RtWriter } from '../link/wire.js';
import { batch, dump, dumpStream, failureError, subscribe, type MessageBatch, type Subscription } from '../netlink/transport.js';
import { NFNLGRP_NFTABLES } from '../netlink/headers.js';
import { EventDecoder, type NftEvent } from './monitor.js';
import { attrMap, splitMessages, splitPlaced, type NlMsg, type PlacedMsgs } from './attrs.js';
import { RulesetDecoder, setInfo, setRanges, sortDump } from './decode.js';
import { commandList, encodeCommands, type EncodedBatch, type SetInfo } from './encode.js';
import { FAMILY, MSG, SET, SET_FLAGS } from './consts.js';
import { invalid } from './errors.js';
import { parseScript } from './parse.js';
import { streamScript, type StreamedScript } from './restore-stream.js';
import { printRuleset } from './print.js';
import { describeCommand, refusalError } from './refusal.js';
import { canonicalObjects, syncPlan, type NftSyncResult } from './sync.js';
import { typeByName } from './datatypes.js';
import { OBJ_MSG } from './objects.js';
import { spareBatch } from './wire.js';
import { chainRuleRequests, decodeGeneration, elementRequests, generationRequest, rulesetRequests, setRequests } from './requests.js';
import type { Family, ListObject } from './types.js';

export interface ApplyOptions {
  /** The generation (from generation()) the commands were computed against: if the ruleset changed since, nothing is applied (ConcurrentModificationError). */
  generation?: number;
  /**
   * An aborted signal rejects with an AbortedError (name 'AbortError', code 'ABORT_ERR') and
   * applies nothing; checked on entry and just before the batch is sent: once sent, the kernel's
   * transaction runs to its end and its result stands.
   */
  signal?: AbortSignal;
  /**
   * `{ done, total }` in commands. The kernel applies the batch all at once, so there is no
   * count in between: one report when it ends, done === total when committed, 0 when refused
   * (see ProgressCallback).
   */
  onProgress?: ProgressCallback;
  /**
   * Check only, as `nft -c`: the kernel runs every command against the current ruleset and
   * reports the first it refuses (with `index`), then aborts its transaction; nothing changes.
   */
  dryRun?: boolean;
}

export interface MonitorOptions {
  /** Aborting it ends the iteration (the next next() resolves done). */
  signal?: AbortSignal;
}

export interface SyncOptions {
  /** The table sync() makes equal to the desired objects (the only one it changes). */
  table: string;
  /** Its family; default 'ip'. */
  family?: Family;
  signal?: AbortSignal;
}

export interface ListOptions {
  family?: Family;
  table?: string;
}

export interface SaveOptions extends ListOptions {
  /** `# handle N` after tables, sets, chains and rules, as `nft -a list` prints them. */
  handles?: boolean;
}

const DUMP_ATTEMPTS = 5;
const NEWCHAIN = (NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWCHAIN;
/** Bytes of replies handed to the decoder at a time while the dump goes on. */
const STREAM_CHUNK = 256 << 10;
/** More chains than this: list() reads rules chain by chain (a whole-ruleset rule dump is quadratic in the kernel). */
const CHAIN_REQUESTS = 1000;

function checkListOptions(opts: ListOptions): ListOptions {
  if (!opts || typeof opts !== 'object') throw invalid('options', 'must be an object');
  if (opts.family !== undefined && !(typeof opts.family === 'string' && Object.hasOwn(FAMILY, opts.family))) throw invalid('family', `must be ${Object.keys(FAMILY).join(', ')}, got ${JSON.stringify(opts.family)}`);
  if (opts.table !== undefined && typeof opts.table !== 'string') throw invalid('table', 'must be a string');
  return { ...(opts.family !== undefined ? { family: opts.family } : {}), ...(opts.table !== undefined ? { table: opts.table } : {}) };
}

/** Messages of a buffer as lib/netlink's MessageBatch, from message `from` to `to` (exclusive). */
function asBatch(buf: Buffer, from = 0, to = Infinity): MessageBatch {
  const starts: number[] = [];
  for (let p = 0; p < buf.length; p += (buf.readUInt32LE(p) + 3) & ~3) starts.push(p);
  starts.push(buf.length);
  const last = Math.min(to, starts.length - 1);
  const base = starts[from]!;
  const ends = new Uint32Array(last - from);
  for (let i = from; i < last; i++) ends[i - from] = starts[i + 1]! - base;
  return { bytes: buf.subarray(base, starts[last]), ends };
}

/**
 * A handle on the nf_tables ruleset of one network namespace (the caller's, or `netns`'s); its
 * calls run in order on the handle's own thread. `nft.open()` makes one.
 * @example
 * await using h = nft.open({ netns: 'node' });
 * const ruleset = await h.list();
 */
export class NftHandle extends Handle {
  constructor(opts: OpenOptions = {}) {
    super('nft', opts, (op, f) => failureError(op, 'nft', f));
  }

  /**
   * Applies libnftables JSON commands as one kernel transaction: all of them or none.
   * `signal`: see ApplyOptions.
   * @example
   * await h.apply([{ add: { table: { family: 'ip', name: 'nat' } } },
   *   { add: { chain: { family: 'ip', table: 'nat', name: 'pre', type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } } }]);
   */
  apply(commands: unknown, opts: ApplyOptions = {}): Promise<void> {
    const op = 'nft.apply';
    return this.applyBatch(op, opts, () => commands, (gen) => this.encode(op, commands, undefined, gen, spareBatch.take()), undefined, true);
  }

  /**
   * apply() of a batch `encode` makes (restore() encodes its text as it parses it); `commands`
   * gives the commands behind it, asked for only to name a refused one or count them.
   */
  private applyBatch(op: string, opts: ApplyOptions, commands: () => unknown, encode: (gen: number | undefined) => Promise<EncodedBatch> | EncodedBatch, count?: number, spare = false): Promise<void> {
    return this.run(op, async () => {
      if (!opts || typeof opts !== 'object') throw invalid('options', 'must be an object');
      if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal', 'must be an AbortSignal');
      if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw invalid('onProgress', 'must be a function');
      if (opts.dryRun !== undefined && typeof opts.dryRun !== 'boolean') throw invalid('dryRun', 'must be a boolean');
      throwIfAborted(opts.signal, op, 'nft');
      const gen = opts.generation;
      if (gen !== undefined && (typeof gen !== 'number' || !Number.isInteger(gen) || gen < 0 || gen > 0xffffffff)) {
        throw invalid('generation', `must be a generation id from generation(), got ${JSON.stringify(gen)}`);
      }
      const encoded = await encode(gen);
      await this.send(op, commands, encoded, gen, opts.signal, new ProgressReport(opts.onProgress, opts.onProgress ? count ?? commandList(commands()).length : 0), opts.dryRun === true);
      // Sent (the kernel's answer is in): the batch's buffer for the next apply().
      if (spare) spareBatch.give(encoded.buf);
    });
  }

  /**
   * Sends an encoded batch; a refusal names the failing command. `progress`: one report at the
   * end (the kernel applies the batch all at once): total when committed, 0 when refused.
   */
  private async send(op: string, commands: () => unknown, encoded: EncodedBatch, gen: number | undefined, signal: AbortSignal | undefined,
    progress = new ProgressReport(undefined, 0), check = false): Promise<void> {
    throwIfAborted(signal, op, 'nft');
    // Encoded with the generation wanted (or none either way): the buffer is the batch as it is
    // (a check batch has no BATCH_END: framed anew).
    const framed = !check && encoded.generation === gen;
    const r = await this.native(op, (w) => batch(w, NFNL_SUBSYS_NFTABLES, framed ? asBatch(encoded.buf) : asBatch(encoded.buf, 1, encoded.commandOf.length - 1),
      framed ? { framed } : { ...(gen === undefined ? {} : { genid: gen }), check }))
      .catch((e: unknown) => { progress.end(0); throw e; });
    const first = r.errors[0];
    progress.end(first || check ? 0 : progress.total);
    if (first) {
      const list = commandList(commands());
      throw refusalError(encoded, { message: first.index + 1, errno: first.errno, ...(first.message ? { text: first.message } : {}), ...(first.offset !== undefined ? { offset: first.offset } : {}) },
        (i) => describeCommand(list.find((c) => c.index === i)?.cmd));
    }
  }

  /**
   * Makes one table equal to `desired` with one read and the smallest atomic batch, diffed as
   * kube-proxy's partial sync does: chains and sets that are missing are added, a chain whose
   * rules differ is flushed and rewritten, set and map elements are added and deleted one by
   * one, chains and sets not wanted are deleted. `desired`: list() objects of that table, apply()
   * commands that add them, or nft's text (what restore() reads). Nothing is sent when the table
   * already matches. The batch carries the generation of the read: a change made in between
   * fails it with ConcurrentModificationError (sync again). `signal`: see ApplyOptions.
   * @example
   * const { added, removed, commands } = await h.sync(objects, { family: 'ip', table: 'kube-proxy' });
   */
  sync(desired: unknown, opts: SyncOptions): Promise<NftSyncResult> {
    const op = 'nft.sync';
    return this.run(op, async () => {
      if (!opts || typeof opts !== 'object') throw invalid('options', 'must be an object with table', { op });
      if (typeof opts.table !== 'string' || opts.table === '') throw invalid('table', `must be a table name, got ${JSON.stringify(opts.table)}`, { op });
      if (opts.family !== undefined && !['ip', 'ip6', 'inet'].includes(opts.family)) throw invalid('family', `must be ip, ip6 or inet, got ${JSON.stringify(opts.family)}`, { op });
      if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal', 'must be an AbortSignal', { op });
      throwIfAborted(opts.signal, op, 'nft');
      const family = opts.family ?? 'ip';
      const want = canonicalObjects(typeof desired === 'string' ? parseScript(desired, '<desired>').commands : desired, family, opts.table);
      const { objects, generation } = await this.readRuleset(op, { family, table: opts.table });
      const plan = syncPlan(objects, want, family, opts.table);
      if (!plan.commands.length) return plan;
      // The sets are known from the read: the encoder does not read them again.
      const known = new Map<string, SetInfo>();
      for (const o of objects) {
        const s = 'set' in o ? o.set : 'map' in o ? o.map : undefined;
        if (s) known.set(s.name, { keyTypes: (Array.isArray(s.type) ? s.type : [s.type]).map((t) => typeByName(t)!), map: 'map' in o });
      }
      const encoded = encodeCommands(plan.commands, { generation, existingSet: (f, t, n) => (f === family && t === opts.table ? known.get(n) : undefined) });
      await this.send(op, () => plan.commands, encoded, generation, opts.signal);
      return plan;
    });
  }

  /**
   * Encodes; element commands for sets the batch does not create read those sets from the kernel
   * first (`earlier`: sets made by batches encoded before this one, not yet sent).
   */
  private async encode(op: string, commands: unknown, earlier?: Map<string, SetInfo>, generation?: number, buffer?: Buffer): Promise<EncodedBatch> {
    const known = new Map<string, SetInfo | undefined>();
    const key = (f: string, t: string, n: string) => `${f}\0${t}\0${n}`;
    // `meta iif "name"`: the namespace's interfaces, read only when a rule names one.
    let links: Map<string, number> | undefined, needLinks = false;
    // Rules placed by index (firewalld): the handles of the chain's rules, read when one is asked for.
    const chainRules = new Map<string, number[]>();
    let missingTable: { family: Family; table: string } | undefined;
    // The encoder stops at the first set it does not know: each round asks the kernel for the
    // sets it missed (by name, not a dump of all), until it knows them or one does not exist.
    for (;;) {
      const missing: Array<{ family: Family; table: string; name: string }> = [];
      missingTable = undefined;
      try {
        return encodeCommands(commands, {
          ...(generation !== undefined ? { generation } : {}),
          ...(buffer ? { buffer } : {}),
          existingSet: (f, t, n) => {
            const k = key(f, t, n);
            if (earlier?.has(k)) return earlier.get(k);
            if (!known.has(k)) missing.push({ family: f, table: t, name: n });
            return known.get(k);
          },
          ifindex: (n) => { if (!links) needLinks = true; return links?.get(n); },
          ruleAt: (f, t, c, i) => {
            const rules = chainRules.get(key(f, t, c));
            if (!rules && !chainRules.has(key(f, t, '\0read'))) missingTable = { family: f, table: t };
            return rules?.[i];
          },
        });
      } catch (e) {
        if (missingTable && e instanceof NotFoundError) {
          const { family, table } = missingTable;
          chainRules.set(key(family, table, '\0read'), []);
          const { objects } = await this.readRuleset(op, { family, table }).catch((x: unknown) => (x instanceof NotFoundError ? { objects: [] } : Promise.reject(x)));
          for (const o of objects) {
            if (!('rule' in o)) continue;
            const r = o.rule as { chain: string; handle: number };
            const k = key(family, table, r.chain);
            let list = chainRules.get(k);
            if (!list) chainRules.set(k, list = []);
            list.push(r.handle);
          }
          continue;
        }
        if (needLinks && !links) {
          links = new Map([...(await this.interfaces(op))].map(([i, n]) => [n, i]));
          continue;
        }
        if (!(e instanceof NotFoundError) || !missing.length) throw e;
      }
      for (const m of missing) known.set(key(m.family, m.table, m.name), undefined);
      for (const [k, v] of await this.setTypes(op, missing)) known.set(k, v);
    }
  }

  /**
   * Applies several command lists in order, each as one kernel transaction: a load too big for
   * one transaction's cost (kube-proxy's anonymous maps are bound in quadratic time within one)
   * as stages, the entry point that makes the rest reachable in the last one, so that traffic
   * never meets a half-built table. Every stage is encoded before the first is sent (bad input
   * applies nothing), and each carries the generation the previous one left: a change by another
   * writer in between stops the load with ConcurrentModificationError. A refusal at stage k
   * leaves stages 0..k-1 applied: the error's `applied` is k, its message names the stage.
   * `generation`: the first stage's, as in apply(); `signal` is checked before every stage.
   * @example
   * await h.applyStages([skeleton, servicesA, servicesB, entryPoints]);
   */
  applyStages(stages: unknown, opts: ApplyOptions = {}): Promise<void> {
    const op = 'nft.applyStages';
    return this.run(op, async () => {
      if (!opts || typeof opts !== 'object') throw invalid('options', 'must be an object', { op });
      if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal', 'must be an AbortSignal', { op });
      if (!Array.isArray(stages) || stages.length === 0) throw invalid('stages', 'must be a non-empty array of command lists', { op });
      const gen0 = opts.generation;
      if (gen0 !== undefined && (typeof gen0 !== 'number' || !Number.isInteger(gen0) || gen0 < 0 || gen0 > 0xffffffff)) {
        throw invalid('generation', `must be a generation id from generation(), got ${JSON.stringify(gen0)}`, { op });
      }
      throwIfAborted(opts.signal, op, 'nft');
      const sets = new Map<string, SetInfo>();
      const encoded: EncodedBatch[] = [];
      for (const [i, cmds] of stages.entries()) {
        try {
          const e = await this.encode(op, cmds, sets);
          for (const [k, v] of e.sets) sets.set(k, v);
          encoded.push(e);
        } catch (e) {
          if (e instanceof NlkitError) e.message = `stage ${i}: ${e.message}`;
          throw e;
        }
      }
      let gen = gen0 ?? decodeGeneration(await this.dumpMessages(op, generationRequest()));
      for (const [i, e] of encoded.entries()) {
        try {
          await this.send(op, () => stages[i], e, gen, opts.signal);
        } catch (err) {
          if (err instanceof NlkitError) {
            err.message = `stage ${i} of ${encoded.length}: ${err.message}${i ? ` (stages 0-${i - 1} stay applied)` : ''}`;
            (err as NlkitError & { applied?: number }).applied = i;
          }
          throw err;
        }
        // Each commit moves the generation by one.
        gen = (gen + 1) >>> 0;
      }
    });
  }

  /** The key types of these sets, read from the kernel (absent ones are left out). */
  private async setTypes(op: string, sets: Array<{ family: Family; table: string; name: string }>): Promise<Map<string, SetInfo>> {
    const msgs = await this.dumpMessages(op, setRequests(sets));
    const out = new Map<string, SetInfo>();
    // Interval sets: their elements too (later add/delete element commands are checked and merged against them).
    // (Not concatenated ones: the kernel checks their overlaps itself.)
    const intervals = msgs.filter((m) => setInfo(m) && (setInfo(m)!.flags & (SET_FLAGS.INTERVAL | SET_FLAGS.CONCAT)) === SET_FLAGS.INTERVAL);
    const elems = sortDump(await this.dumpMessages(op, elementRequests(intervals))).elements;
    for (const m of sortDump(msgs).sets) {
      const s = setInfo(m);
      if (!s) continue;
      const k = `${s.family}\0${s.table}\0${s.name}`;
      const interval = (s.flags & SET_FLAGS.INTERVAL) !== 0;
      out.set(k, {
        keyTypes: s.types, map: s.map, ...(s.data ? { data: s.data } : {}),
        ...(interval ? { interval, ranges: setRanges(elems.get(k) ?? []), autoMerge: s.autoMerge === true } : {}),
      });
    }
    return out;
  }

  /**
   * The ruleset as `nft -j list ruleset` prints it under `nftables` (no metainfo), handles included.
   * The objects are the caller's, as JSON.parse of nft's output would give them: no object or
   * array is shared between rules or with another call, so editing one rule's statements (to
   * apply() it back) changes nothing else. (Sharing the many equal parts, such as
   * `{ payload: { protocol: 'ip', field: 'daddr' } }`, would make a 20k-service listing a third
   * fewer objects, but an edit of one rule would then show in others.) Strings are immutable and
   * may be shared. The decoding runs while the kernel still dumps the rules.
   * @example const objects = await h.list({ family: 'ip', table: 'kube-proxy' });
   */
  list(opts: ListOptions = {}): Promise<ListObject[]> {
    const op = 'nft.list';
    return this.run(op, () => this.dumpRuleset(op, checkListOptions(opts)));
  }

  /**
   * nft's own text of the ruleset, byte for byte what `nft list ruleset` prints (with `family`,
   * `nft list ruleset <family>`; with `family` and `table`, `nft list table <family> <table>`;
   * with `handles`, `nft -a list ...`).
   * @example const text = await h.save({ family: 'ip', table: 'kube-proxy' });
   */
  save(opts: SaveOptions = {}): Promise<string> {
    const op = 'nft.save';
    return this.run(op, async () => {
      const o = checkListOptions(opts);
      if (opts.handles !== undefined && typeof opts.handles !== 'boolean') throw invalid('handles', 'must be a boolean');
      if (o.table !== undefined && o.family === undefined) throw invalid('table', 'needs family (nft list table <family> <name>)');
      const objects = await this.dumpRuleset(op, o, { text: true });
      if (o.table !== undefined && !objects.length) throw new NotFoundError(`${op}: no table ${o.family} ${o.table}`, { op, subsystem: 'nft', errno: 2 });
      return printRuleset(objects, { handles: opts.handles === true });
    });
  }

  /**
   * Reads nft's text (what `nft -f` reads, for the language apply() encodes) and applies it as
   * one kernel transaction: all of it or nothing. A syntax error names line and column like
   * nft (`<text>:3:9-13: Error: ...`, InvalidArgumentError with `line`) and applies nothing; a
   * refusal names the line of the failing command (`line`, `index`). `signal`: see ApplyOptions
   * (an aborted one rejects before the text is even parsed).
   * @example await h.restore('table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}\n}\n');
   */
  restore(text: string, opts: ApplyOptions & { source?: string } = {}): Promise<void> {
    let parsed: ReturnType<typeof parseScript> | undefined;
    let streamed: StreamedScript | undefined;
    const source = opts?.source ?? '<text>';
    try {
      if (!opts || typeof opts !== 'object') throw invalid('options', 'must be an object');
      if (opts.source !== undefined && typeof opts.source !== 'string') throw invalid('source', 'must be a string (the name errors give the text)');
      if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal', 'must be an AbortSignal');
      throwIfAborted(opts.signal, 'nft.restore', 'nft');
      // Parsed and encoded in one pass; when that cannot be (restore-stream.ts), parsed into
      // commands and encoded as apply() encodes them (which reports the text's errors).
      const gen = opts.generation;
      // Into the spare batch buffer as apply(); given back once sent (or at once when the stream bails).
      const spare = spareBatch.take();
      streamed = streamScript(text, source, { buffer: spare, ...(typeof gen === 'number' && Number.isInteger(gen) && gen >= 0 && gen <= 0xffffffff ? { generation: gen } : {}) });
      if (!streamed) {
        if (spare) spareBatch.give(spare);
        parsed = parseScript(text, source);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const { source: _s, ...applyOpts } = opts;
    const lines = streamed ? streamed.lines : parsed!.lines;
    const batch = streamed?.batch;
    const done = batch
      ? this.applyBatch('nft.apply', applyOpts, () => (parsed ??= parseScript(text, source)).commands, () => batch, lines.length, true)
      : this.apply(parsed!.commands, applyOpts);
    return done.catch((e: unknown) => {
      if (e instanceof NlkitError) {
        e.op = 'nft.restore';
        if (e.index !== undefined && lines[e.index] !== undefined) {
          e.line = lines[e.index];
          e.message = `${opts.source ?? '<text>'}:${e.line}: ${e.message}`;
        }
      }
      throw e;
    });
  }

  private async dumpRuleset(op: string, opts: ListOptions = {}, decode: { text?: boolean } = {}): Promise<ListObject[]> {
    return (await this.readRuleset(op, opts, decode)).objects;
  }

  /** The ruleset (or a part) and the generation it was read at. */
  private async readRuleset(op: string, opts: ListOptions = {}, decode: { text?: boolean } = {}): Promise<{ objects: ListObject[]; generation: number }> {
    // Interface indexes (meta iif/oif) are named from the namespace's links, read only when a rule
    // has one: a read that meets one is made again with them (the dump's memory is not kept).
    let links: Map<number, string> | undefined;
    // Several dumps make one view only if no change came between them: the generation is read
    // before and after, and the whole read is repeated when it moved.
    for (let attempt = 0; attempt < DUMP_ATTEMPTS;) {
      const { first, chains, requests } = await this.listRound(op, opts);
      let needLinks = false;
      const names = links;
      const decoder = new RulesetDecoder(sortDump(first), chains, opts, { ...decode, ifname: names ? (i) => names.get(i) : () => { needLinks = true; return undefined; } });
      // The element and rule dumps stream to the decoder while the kernel dumps the rest.
      const r = await this.native(op, (w) => dumpStream(w, NETLINK_NETFILTER, asBatch(requests), (chunk) => decoder.feed(chunk), { borrow: true, chunkBytes: STREAM_CHUNK }));
      if (r.interrupted || decodeGeneration(first) !== decoder.generation) { attempt++; continue; }
      if (needLinks && !links) { links = await this.interfaces(op); continue; }
      return { objects: decoder.finish(), generation: decoder.generation };
    }
    throw new ConcurrentModificationError(`${op}: the ruleset kept changing while it was read (${DUMP_ATTEMPTS} attempts)`, { op, subsystem: 'nft' });
  }

  /**
   * list()'s first round (the generation, tables, chains, sets and objects) and the requests of
   * its second: every set's elements, then the rules (chain by chain when there are many chains,
   * see chainRuleRequests, of the one table asked for only; otherwise one dump), then the
   * generation again. Elements come before rules: a rule's anonymous sets are decoded with it.
   */
  private async listRound(op: string, opts: ListOptions): Promise<{ first: NlMsg[]; chains: PlacedMsgs; requests: Buffer }> {
    // Chains stay in place in the dump's buffer.
    const one = splitPlaced(await this.dumpRaw(op, Buffer.concat([generationRequest(), rulesetRequests(opts.family, 0, [MSG.GETTABLE, MSG.GETCHAIN, MSG.GETSET, OBJ_MSG.GET])])), [NEWCHAIN]);
    const chains = one.placed[0]!;
    const perChain = chains.at.length > CHAIN_REQUESTS || opts.table !== undefined ? chainRuleRequests(chains, opts.table) : undefined;
    return { first: one.msgs, chains, requests: Buffer.concat([elementRequests(one.msgs), perChain ? perChain.requests : rulesetRequests(opts.family, 0, [MSG.GETRULE]), generationRequest()]) };
  }

  /**
   * The dumps list() makes, received and dropped without decoding: the floor under list()'s time
   * (bench/nft.ts). Resolves the bytes received.
   * @internal
   */
  async listFloor(opts: ListOptions = {}): Promise<number> {
    const op = 'nft.list';
    return this.run(op, async () => {
      const { requests } = await this.listRound(op, checkListOptions(opts));
      let bytes = 0;
      await this.native(op, (w) => dumpStream(w, NETLINK_NETFILTER, asBatch(requests), (chunk) => { bytes += chunk.length; }, { borrow: true, chunkBytes: STREAM_CHUNK }));
      return bytes;
    });
  }

  /** The namespace's interfaces by index (for `meta iif`/`oif`, which nft shows by name). */
  private async interfaces(op: string): Promise<Map<number, string>> {
    const wr = new RtWriter(64);
    dumpLinks(wr);
    const r = await this.native(op, (w) => dump(w, NETLINK_ROUTE, wr.batch()));
    const out = new Map<number, string>();
    eachMessage(r.data, 0, r.sections[0]!, (type, at, len) => {
      if (type === Rtm.NewLink) { const l = parseLink(r.data, at, len); out.set(l.index, l.name); }
    });
    return out;
  }

  private async dumpMessages(op: string, requests: Buffer): Promise<NlMsg[]> {
    return requests.length ? splitMessages(await this.dumpRaw(op, requests)) : [];
  }

  /** The replies of these dump requests, in one buffer. */
  private async dumpRaw(op: string, requests: Buffer): Promise<Buffer> {
    if (!requests.length) return Buffer.alloc(0);
    return (await this.native(op, (w) => dump(w, NETLINK_NETFILTER, asBatch(requests), { attempts: DUMP_ATTEMPTS }))).data;
  }

  /**
   * The kernel's nftables events (NFNLGRP_NFTABLES) from now on, as `nft -j monitor` prints them:
   * `{ add: { table|chain|rule|set|map|element: ... } }` or `{ delete: ... }`, objects as list()
   * returns them. Subscribes when iteration starts, then reads the existing sets (to decode
   * elements), so nothing between the two is missed. Ends when `signal` aborts or the loop
   * breaks; a dropped event (ENOBUFS) or one nlkit cannot decode ends it with an error.
   * @example
   * const ac = new AbortController();
   * for await (const ev of h.monitor({ signal: ac.signal })) console.log(JSON.stringify(ev));
   */
  monitor(opts: MonitorOptions = {}): AsyncIterable<NftEvent> {
    const op = 'nft.monitor';
    let bad: unknown;
    if (!opts || typeof opts !== 'object') bad = invalid('options', 'must be an object');
    else if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) bad = invalid('signal', 'must be an AbortSignal');
    if (bad) return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(bad) }) };
    return { [Symbol.asyncIterator]: () => this.events(op, opts.signal) };
  }

  private events(op: string, signal?: AbortSignal): AsyncIterator<NftEvent> {
    const queue: Array<{ data: Buffer; overrun: boolean }> = [];
    const decoder = new EventDecoder();
    let pending: NftEvent[] = [], failure: unknown, ended = false, sub: Subscription | undefined;
    let wake: (() => void) | undefined;
    const poke = () => { const w = wake; wake = undefined; w?.(); };
    const onAbort = () => { ended = true; poke(); };
    signal?.addEventListener('abort', onAbort, { once: true });
    const ready = this.runOne(op, (w) => subscribe(w, NETLINK_NETFILTER, [NFNLGRP_NFTABLES], (data, overrun) => { queue.push({ data, overrun }); poke(); }, signal ? { signal } : {}))
      .then(async (s) => {
        sub = s;
        if (ended) return s.close();
        const sets = await this.run(op, () => this.dumpMessages(op, rulesetRequests(undefined, 0, [MSG.GETSET])));
        // Only anonymous sets' elements are needed (to decode a rule's later deletion); named sets need their types.
        const anonymous = sets.filter((m) => ((attrMap(m.body).get(SET.FLAGS)?.readUInt32BE(0) ?? 0) & SET_FLAGS.ANONYMOUS) !== 0);
        decoder.seed([...sets, ...await this.run(op, () => this.dumpMessages(op, elementRequests(anonymous)))]);
      })
      .catch((e: unknown) => { failure = e; poke(); });
    const finish = async (): Promise<IteratorResult<NftEvent>> => {
      ended = true;
      signal?.removeEventListener('abort', onAbort);
      await ready;
      sub?.close();
      return { value: undefined, done: true };
    };
    return {
      next: async () => {
        await ready;
        for (;;) {
          if (pending.length) return { value: pending.shift()!, done: false };
          if (failure) { const f = failure; await finish(); throw f; }
          if (ended || signal?.aborted) return finish();
          const b = queue.shift();
          if (!b) { await new Promise<void>((r) => { wake = r; }); continue; }
          if (b.overrun) {
            failure = new NlkitError(`${op}: the kernel dropped events (ENOBUFS: the receive buffer overran); list() to resync`, { op, subsystem: 'nft', code: 'ENOBUFS' });
            continue;
          }
          try {
            for (const m of splitMessages(b.data)) pending.push(...decoder.decode(m));
          } catch (e) {
            failure = e;
          }
        }
      },
      return: finish,
    };
  }

  /**
   * The ruleset's generation id (NFT_MSG_GETGEN): pass it to apply() to refuse a stale batch.
   * @example const gen = await h.generation(); await h.apply(cmds, { generation: gen });
   */
  generation(): Promise<number> {
    const op = 'nft.generation';
    return this.run(op, async () => decodeGeneration(await this.dumpMessages(op, generationRequest())));
  }
}

