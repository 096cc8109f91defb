// nft's handle: apply() encodes the commands in TypeScript and sends them as one nfnetlink
// batch (one kernel transaction) on the handle's thread; list() and generation() dump and decode.
import { Handle, type OpenOptions } from '../handle.js';
import { ProgressReport, type ProgressCallback } from '../core/progress.js';
import { ConcurrentModificationError, NlkitError, NotFoundError, throwIfAborted } from '../errors.js';
import { NFNL_SUBSYS_NFTABLES, NETLINK_NETFILTER } from '../netlink/headers.js';
import { batch, dump, failureError, subscribe, type MessageBatch, type Subscription } from '../netlink/transport.js';
import { NFNLGRP_NFTABLES } from '../netlink/headers.js';
import { EventDecoder, type NftEvent } from './monitor.js';
import { attrMap, splitMessages, type NlMsg } from './attrs.js';
import { decodeRuleset, setInfo, sortDump } from './decode.js';
import { commandList, encodeCommands, type EncodedBatch, type SetInfo } from './encode.js';
import { FAMILY, MSG, SET, SET_FLAGS } from './consts.js';
import { invalid } from './errors.js';
import { parseScript } from './parse.js';
import { printRuleset } from './print.js';
import { describeCommand, refusalError } from './refusal.js';
import { decodeGeneration, elementRequests, generationRequest, rulesetRequests } from './requests.js';
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
}

export interface MonitorOptions {
  /** Aborting it ends the iteration (the next next() resolves done). */
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
    return this.run(op, async () => {
      if (!opts || typeof opts !== 'object') throw invalid('options', 'must be an object');
      if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal', 'must be an AbortSignal');
      if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw invalid('onProgress', 'must be a function');
      throwIfAborted(opts.signal, op, 'nft');
      const gen = opts.generation;
      if (gen !== undefined && (typeof gen !== 'number' || !Number.isInteger(gen) || gen < 0 || gen > 0xffffffff)) {
        throw invalid('generation', `must be a generation id from generation(), got ${JSON.stringify(gen)}`);
      }
      const encoded = await this.encode(op, commands);
      throwIfAborted(opts.signal, op, 'nft');
      const progress = new ProgressReport(opts.onProgress, opts.onProgress ? commandList(commands).length : 0);
      const r = await this.native(op, (w) => batch(w, NFNL_SUBSYS_NFTABLES, asBatch(encoded.buf, 1, encoded.commandOf.length - 1), gen === undefined ? {} : { genid: gen }))
        .catch((e: unknown) => { progress.end(0); throw e; });
      const first = r.errors[0];
      progress.end(first ? 0 : progress.total);
      if (first) {
        const list = commandList(commands);
        throw refusalError(encoded, { message: first.index + 1, errno: first.errno, ...(first.message ? { text: first.message } : {}), ...(first.offset !== undefined ? { offset: first.offset } : {}) },
          (i) => describeCommand(list.find((c) => c.index === i)?.cmd));
      }
    });
  }

  /** Encodes; element commands for sets the batch does not create read those sets from the kernel first. */
  private async encode(op: string, commands: unknown): Promise<EncodedBatch> {
    const missing: string[] = [];
    try {
      return encodeCommands(commands, { existingSet: (f, t, n) => { missing.push(`${f} ${t} ${n}`); return undefined; } });
    } catch (e) {
      if (!(e instanceof NotFoundError) || !missing.length) throw e;
    }
    const known = await this.setTypes(op);
    return encodeCommands(commands, { existingSet: (f, t, n) => known.get(`${f} ${t} ${n}`) });
  }

  private async setTypes(op: string): Promise<Map<string, SetInfo>> {
    const msgs = await this.dumpMessages(op, rulesetRequests(undefined, 0, [MSG.GETSET]));
    const out = new Map<string, SetInfo>();
    for (const m of sortDump(msgs).sets) {
      const s = setInfo(m);
      if (s) out.set(`${s.family} ${s.table} ${s.name}`, { keyTypes: s.types, map: s.map });
    }
    return out;
  }

  /**
   * The ruleset as `nft -j list ruleset` prints it under `nftables` (no metainfo), handles included.
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
    let parsed: ReturnType<typeof parseScript>;
    try {
      if (!opts || typeof opts !== 'object') throw invalid('options', 'must be an object');
      if (opts.source !== undefined && typeof opts.source !== 'string') throw invalid('source', 'must be a string (the name errors give the text)');
      if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal', 'must be an AbortSignal');
      throwIfAborted(opts.signal, 'nft.restore', 'nft');
      parsed = parseScript(text, opts.source ?? '<text>');
    } catch (e) {
      return Promise.reject(e);
    }
    const { source: _s, ...applyOpts } = opts;
    return this.apply(parsed.commands, applyOpts).catch((e: unknown) => {
      if (e instanceof NlkitError) {
        e.op = 'nft.restore';
        if (e.index !== undefined && parsed.lines[e.index] !== undefined) {
          e.line = parsed.lines[e.index];
          e.message = `${opts.source ?? '<text>'}:${e.line}: ${e.message}`;
        }
      }
      throw e;
    });
  }

  private async dumpRuleset(op: string, opts: ListOptions = {}, decode: { text?: boolean } = {}): Promise<ListObject[]> {
    // Several dumps make one view only if no change came between them: the generation is read
    // before and after, and the whole read is repeated when it moved.
    for (let attempt = 0; attempt < DUMP_ATTEMPTS; attempt++) {
      const first = await this.dumpMessages(op, Buffer.concat([generationRequest(), rulesetRequests(opts.family)]));
      const elems = elementRequests(first);
      const second = await this.dumpMessages(op, Buffer.concat([elems, generationRequest()]));
      if (decodeGeneration(first) !== decodeGeneration(second)) continue;
      return decodeRuleset(sortDump([...first, ...second]), opts, decode);
    }
    throw new ConcurrentModificationError(`${op}: the ruleset kept changing while it was read (${DUMP_ATTEMPTS} attempts)`, { op, subsystem: 'nft' });
  }

  private async dumpMessages(op: string, requests: Buffer): Promise<NlMsg[]> {
    if (!requests.length) return [];
    const r = await this.native(op, (w) => dump(w, NETLINK_NETFILTER, asBatch(requests), { attempts: DUMP_ATTEMPTS }));
    return splitMessages(r.data);
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

