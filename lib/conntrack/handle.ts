// A conntrack handle: ctnetlink requests built in TypeScript (wire.ts), sent over the
// netfilter socket of the handle's worker thread by the shared netlink core. Filters are
// checked before anything is sent; dumps are narrowed in the kernel where it can (family,
// mark/mask) and matched in TypeScript for the rest, chunk by chunk as the dump arrives.
import { constants } from 'node:os';
import { Handle, type OpenOptions } from '../core/handle.js';
import { AbortedError, ConcurrentModificationError, InvalidArgumentError, NlkitError, throwIfAborted } from '../core/errors.js';
import { conntrackError, describeFlow } from './errors.js';
import type { CpuStats, EventType, Filter, Flow, FlowEvent, FlowInput } from './types.js';
import { checkFamily, checkFilter, checkFlow, dumpSelect, type CheckedFilter } from './validate.js';
import { matchesMessage, rawFilter } from './match.js';
import {
  AF_UNSPEC, CtWriter, FlowScratch, Msg, ctMsg,
  dumpRequests, eventType, flushRequest, forEachFlowMessage, messages, parseCpuStats, parseFlowAt, parseGlobalStats, protocolName,
  statsRequest, writeDeleteAt, writeNew, type FlowMessage, type WireFlow,
} from './wire.js';
import { formatIPv4, formatIPv6 } from '../link/addr.js';
import { failureError, type Subscription } from '../netlink/transport.js';
import { NFNLGRP_CONNTRACK_DESTROY, NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE } from '../netlink/headers.js';
import { netfilterIo, type NetfilterIo } from './io.js';

const E = constants.errno;
const SUBSYSTEM = 'conntrack' as const;
const EVENT_TYPES: readonly EventType[] = ['new', 'update', 'destroy'];
/** Passes of a streamed count or delete before a table that keeps changing is an error. */
const DUMP_ATTEMPTS = 5;
const interruptedError = (op: string, what: string) =>
  new ConcurrentModificationError(`${op}: ${what} (NLM_F_DUMP_INTR)`, { op, subsystem: SUBSYSTEM, code: 'EINTR' });
const GROUP: Record<EventType, number> = {
  new: NFNLGRP_CONNTRACK_NEW, update: NFNLGRP_CONNTRACK_UPDATE, destroy: NFNLGRP_CONNTRACK_DESTROY,
};

/**
 * Options of list(), count() and delete(). `signal`: an aborted one rejects with an AbortedError
 * (name 'AbortError', code 'ABORT_ERR'). list() reads the table in one dump and checks the
 * signal before and after it; count() with a filter and delete() check it between the chunks
 * of their streamed dump and before delete()'s batch of deletes is sent. A delete() stopped
 * after a pass's batch reports the flows it deleted in `applied` (and `deleted`).
 */
export interface DumpOptions {
  /** Stops the call at the next safe point (see DumpOptions). */
  signal?: AbortSignal;
}

export interface FlushOptions {
  /** Only this family's flows; both when left out. */
  family?: 'inet' | 'inet6';
  /** An aborted one rejects with an AbortedError before the flush (or the delete of a family) is sent. */
  signal?: AbortSignal;
}

export interface EventsOptions {
  /** Which changes to report; all three when left out. */
  types?: EventType[];
  /** Ends the iteration (and the subscription) when aborted. */
  signal?: AbortSignal;
}

const text = (b: Uint8Array) => (b.length === 16 ? formatIPv6(b) : formatIPv4(b));
const nameOf = (f: WireFlow): string => describeFlow(protocolName(f.proto), {
  src: text(f.original.src), dst: text(f.original.dst),
  ...(f.original.sport !== undefined ? { sport: f.original.sport, dport: f.original.dport! } : {}),
}, f.zone);

/**
 * A handle on the conntrack table of one network namespace (the caller's, or `netns`'s); its
 * calls run in order on the handle's own thread. `conntrack.open()` makes one.
 * @example
 * await using ct = conntrack.open({ netns: 'node' });
 * const n = await ct.delete({ protocol: 'udp', original: { dst: '10.96.0.10', dport: 53 } });
 */
export class ConntrackHandle extends Handle {
  readonly #io: NetfilterIo;

  constructor(opts: OpenOptions = {}) {
    super(SUBSYSTEM, opts, (op, f) => failureError(op, SUBSYSTEM, f));
    this.#io = netfilterIo(this.worker);
  }

  /**
   * The flows that pass `filter` (every flow without one), like `conntrack -L [filter]`.
   * `signal`: see DumpOptions.
   * @example const flows = await ct.list({ protocol: 'udp', original: { dport: 53 } });
   */
  list(filter?: Filter, opts: DumpOptions = {}): Promise<Flow[]> {
    const op = 'conntrack.list';
    let f: CheckedFilter;
    try { f = checkFilter(op, filter); checkSignal(op, opts); } catch (e) { return this.fail(op, e); }
    return this.run(op, async () => {
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      const rf = rawFilter(f), scratch = new FlowScratch();
      // Parsed chunk by chunk while the dump runs (the kernel's work and ours overlap, and the
      // dump is never held whole); matched on the bytes first, so only the flows that pass
      // become objects. A listing the table changed under is taken again, as a whole. Without
      // a family it is one walk of the table, the tuple fields matched here only: two
      // kernel-filtered walks (what count() and delete() do, a little cheaper) would list every
      // inet flow before every inet6 one, not in the table's order as `conntrack -L` does.
      for (let attempt = 1; ; attempt++) {
        const out: Flow[] = [];
        const { interrupted } = await this.streamFlows(op, f, (b, at, end) => {
          if (matchesMessage(b, at, end, rf)) out.push(parseFlowAt(b, at, end, scratch));
        }, undefined, undefined, true);
        throwIfAborted(opts.signal, op, SUBSYSTEM);
        if (!interrupted) return out;
        if (attempt === DUMP_ATTEMPTS) throw interruptedError(op, `the table kept changing during ${attempt} listings`);
      }
    });
  }

  /**
   * How many flows pass `filter`. Without one it is the kernel's own count of the table (what
   * `conntrack -C` prints); with one the table is dumped and matched chunk by chunk, without
   * keeping the flows. `signal`: see DumpOptions.
   * @example const n = await ct.count({ family: 'inet6' });
   */
  count(filter?: Filter, opts: DumpOptions = {}): Promise<number> {
    const op = 'conntrack.count';
    let f: CheckedFilter;
    try { f = checkFilter(op, filter); checkSignal(op, opts); } catch (e) { return this.fail(op, e); }
    return this.run(op, async () => {
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      if (filter === undefined) {
        const data = await this.#io.request(op, statsRequest(false));
        for (const m of messages(data)) if (ctMsg(m.type) === Msg.GET_STATS) return parseGlobalStats(data, m).entries;
        return 0;
      }
      // Counted chunk by chunk as the dump arrives; a count the table changed under is taken again.
      const rf = rawFilter(f);
      for (let attempt = 1; ; attempt++) {
        let n = 0;
        const { interrupted } = await this.streamFlows(op, f, (b, at, end) => { if (matchesMessage(b, at, end, rf)) n++; }, opts.signal);
        if (!interrupted) return n;
        if (attempt === DUMP_ATTEMPTS) throw interruptedError(op, `the table kept changing during ${attempt} counts`);
      }
    });
  }

  /**
   * Deletes the flows that pass `filter` and says how many it deleted: one dump, then one
   * pipelined batch of deletes naming each entry by original tuple, zone and id (a flow that
   * went away meanwhile is not counted; one recreated under the same tuple is left alone).
   * `{}` deletes every flow; flush() does that without counting. `signal`: see DumpOptions.
   * @example const n = await ct.delete({ protocol: 'udp', original: { dst: '10.96.0.10', dport: 53 } });
   */
  delete(filter: Filter, opts: DumpOptions = {}): Promise<number> {
    return this.#delete('conntrack.delete', filter, opts);
  }

  #delete(op: string, filter: Filter, opts: DumpOptions): Promise<number> {
    let f: CheckedFilter;
    try {
      if (filter === undefined) {
        throw new InvalidArgumentError(`${op}: filter is required (use {} or flush() to delete every flow)`, { op, subsystem: SUBSYSTEM, argument: 'filter' });
      }
      f = checkFilter(op, filter);
      checkSignal(op, opts);
    } catch (e) { return this.fail(op, e); }
    return this.run(op, async () => {
      // An abort stops between chunks of a pass's dump or before its batch; what earlier
      // passes deleted is reported (`applied`, `deleted`).
      let deleted = 0;
      const stop = () => {
        if (!opts.signal?.aborted) return;
        throw Object.assign(new AbortedError(`${op}: aborted (${deleted} flows deleted before it stopped)`,
          { op, subsystem: SUBSYSTEM, cause: opts.signal.reason, applied: deleted }), { deleted });
      };
      stop();
      // A pass is one dump, streamed (deletes are written from each chunk's entries as it comes,
      // no Flow kept), then one pipelined batch of the deletes, which asks for no acks: only the
      // refused ones are answered (a fifth less CPU at 50k deletes than an ack each). A dump the
      // table changed under may have missed entries: another pass deletes those (the ones
      // already gone are ENOENT).
      const rf = rawFilter(f);
      for (let attempt = 1; ; attempt++) {
        const w = new CtWriter(1 << 16);
        const ends: number[] = [];
        const { interrupted } = await this.streamFlows(op, f, (b, at, end) => {
          if (matchesMessage(b, at, end, rf) && writeDeleteAt(w, b, at, end)) ends.push(w.pos);
        }, opts.signal, stop);
        stop();
        if (ends.length) {
          const errnos = await this.#io.send(op, w.bytes_(), Uint32Array.from(ends), [E.ENOENT], true);
          let refused = -1;
          errnos.forEach((e, i) => { if (e === 0) deleted++; else if (e !== E.ENOENT && refused < 0) refused = i; });
          if (refused >= 0) {
            const err = conntrackError(op, errnos[refused]!, `deleting flow ${refused + 1} of ${ends.length}`);
            err.message += ` (${deleted} deleted)`;
            throw Object.assign(err, { deleted });
          }
        }
        if (!interrupted) return deleted;
        if (attempt === DUMP_ATTEMPTS) {
          throw Object.assign(interruptedError(op, `the table kept changing during ${attempt} passes (${deleted} deleted)`), { deleted });
        }
      }
    });
  }

  /**
   * Deletes every flow, like `conntrack -F`, or one family's flows. The kernel's flush takes
   * no family (a flush request for AF_INET6 empties the whole table, as `conntrack -F -f ipv6`
   * does), so a family's flush is delete({ family }): one dump, one batch of deletes.
   * `signal`: an aborted one rejects with an AbortedError before the flush is sent (for a
   * family, as delete() does).
   * @example await ct.flush({ family: 'inet6' });
   */
  flush(opts: FlushOptions = {}): Promise<void> {
    const op = 'conntrack.flush';
    try {
      if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError(`${op}: options must be an object`, { op, subsystem: SUBSYSTEM, argument: 'options' });
      checkSignal(op, opts);
      if (opts.family !== undefined) {
        checkFamily(op, 'options.family', opts.family);
        return this.#delete(op, { family: opts.family }, opts.signal ? { signal: opts.signal } : {}).then(() => undefined);
      }
    } catch (e) { return this.fail(op, e); }
    const req = flushRequest(AF_UNSPEC);
    return this.run(op, async () => {
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      const [errno] = await this.#io.send(op, req, Uint32Array.of(req.length));
      if (errno) throw conntrackError(op, errno, 'the conntrack table');
    });
  }

  /**
   * Creates a flow, like `conntrack -I`. The reply tuple defaults to the original reversed;
   * `timeout` (ms) is required.
   * @example await ct.create({ protocol: 'tcp', original: { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80 },
   *   state: 'ESTABLISHED', status: ['SEEN_REPLY', 'ASSURED'], timeout: 3600_000, mark: 7 });
   */
  create(flow: FlowInput): Promise<void> {
    return this.newFlow('conntrack.create', flow, true);
  }

  /**
   * Changes a flow found by its original tuple (and zone), like `conntrack -U`: mark, status,
   * timeout, state, labels. A listed Flow can be passed back with fields changed.
   * @example await ct.update({ ...flow, mark: 9 });
   */
  update(flow: FlowInput | Flow): Promise<void> {
    return this.newFlow('conntrack.update', flow, false);
  }

  /**
   * The table's per-CPU statistics, like `conntrack -S`.
   * @example for (const s of await ct.stats()) console.log(s.cpu, s.insert, s.drop);
   */
  stats(): Promise<CpuStats[]> {
    const op = 'conntrack.stats';
    return this.run(op, async () => {
      const out: CpuStats[] = [];
      await this.#io.dump(op, statsRequest(true), (b) => {
        for (const m of messages(b)) if (ctMsg(m.type) === Msg.GET_STATS_CPU) out.push(parseCpuStats(b, m));
      });
      return out;
    });
  }

  /**
   * Changes to the table as they happen, like `conntrack -E`: an async iterable of
   * { type: 'new' | 'update' | 'destroy', flow }. Ends when `signal` aborts or the loop breaks.
   * @example for await (const e of ct.events({ types: ['destroy'], signal })) console.log(e.type, e.flow.original);
   */
  events(opts: EventsOptions = {}): AsyncIterable<FlowEvent> {
    const op = 'conntrack.events';
    let types: EventType[];
    try {
      if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError(`${op}: options must be an object`, { op, subsystem: SUBSYSTEM, argument: 'options' });
      types = opts.types === undefined ? [...EVENT_TYPES] : checkTypes(op, opts.types);
      if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
        throw new InvalidArgumentError(`${op}: options.signal must be an AbortSignal`, { op, subsystem: SUBSYSTEM, argument: 'options.signal' });
      }
    } catch (e) {
      const err = e as NlkitError;
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
    }
    const signal = opts.signal, groups = types.map((t) => GROUP[t]);
    return { [Symbol.asyncIterator]: () => this.eventIterator(op, types, groups, signal) };
  }

  // The subscription is queued on the worker when iteration starts (so before any later call
  // on the handle); batches wait in `queue` until the consumer asks for them.
  private eventIterator(op: string, types: EventType[], groups: number[], signal?: AbortSignal): AsyncIterator<FlowEvent> {
    const queue: { data: Buffer; overrun: boolean }[] = [];
    // One parser cache for the subscription: events of the same flows repeat their addresses.
    const scratch = new FlowScratch();
    let pending: FlowEvent[] = [], failure: unknown, ended = false, sub: Subscription | undefined;
    let wake: (() => void) | undefined;
    const poke = () => { const w = wake; wake = undefined; w?.(); };
    const ready = this.runOne(op, () => this.#io.subscribe(groups, (data, overrun) => { queue.push({ data, overrun }); poke(); }, signal))
      .then((s) => { sub = s; if (ended) s.close(); }, (e: unknown) => { failure = e; poke(); });
    signal?.addEventListener('abort', () => { ended = true; poke(); }, { once: true });
    const finish = async (): Promise<IteratorResult<FlowEvent>> => {
      ended = true;
      await ready;
      sub?.close();
      return { value: undefined, done: true };
    };
    return {
      next: async () => {
        for (;;) {
          if (pending.length) return { value: pending.shift()!, done: false };
          if (failure) { await finish(); throw failure; }
          if (ended || signal?.aborted) return finish();
          const batch = queue.shift();
          if (!batch) { await new Promise<void>((r) => { wake = r; }); continue; }
          if (batch.overrun) {
            failure = new NlkitError(`${op}: the kernel dropped events (ENOBUFS: the receive buffer overran); list() to resync`,
              { op, subsystem: SUBSYSTEM, code: 'ENOBUFS' });
            continue;
          }
          pending = [];
          for (const m of messages(batch.data)) {
            const type = eventType(m);
            if (type && types.includes(type)) pending.push({ type, flow: parseFlowAt(batch.data, m.at, m.end, scratch) });
          }
        }
      },
      return: finish,
    };
  }

  private newFlow(op: string, input: unknown, create: boolean): Promise<void> {
    let f: WireFlow;
    try { f = checkFlow(op, input, create); } catch (e) { return this.fail(op, e); }
    const w = new CtWriter();
    writeNew(w, f, create);
    const bytes = w.bytes_();
    return this.run(op, async () => {
      const [errno] = await this.#io.send(op, bytes, Uint32Array.of(bytes.length));
      if (errno) throw conntrackError(op, errno, nameOf(f));
    });
  }

  /**
   * Dumps the table, narrowed in the kernel where it can be (dumpRequests; `oneWalk`: one dump
   * in table order when the filter has no family), and hands over each
   * flow message's payload range (its nfgenmsg at `at`) chunk by chunk while the dump runs (the
   * bytes are valid during `each` only); says whether the table changed meanwhile.
   */
  private streamFlows(op: string, f: CheckedFilter, each: FlowMessage, signal?: AbortSignal,
    stop = () => throwIfAborted(signal, op, SUBSYSTEM), oneWalk = false): Promise<{ interrupted: boolean }> {
    const { bytes, ends } = dumpRequests(dumpSelect(f), { oneWalk });
    // An abort between chunks ends the call there (the worker reads the rest of the dump and drops it).
    return this.#io.dumpStream(op, { bytes, ends }, (b) => { if (signal) stop(); forEachFlowMessage(b, each); });
  }

  private fail<T>(op: string, e: unknown): Promise<T> {
    return Promise.reject(this.toError(op, e));
  }
}

function checkSignal(op: string, opts: unknown): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new InvalidArgumentError(`${op}: options must be an object`, { op, subsystem: SUBSYSTEM, argument: 'options' });
  }
  const s = (opts as { signal?: unknown }).signal;
  if (s !== undefined && !(s instanceof AbortSignal)) {
    throw new InvalidArgumentError(`${op}: options.signal must be an AbortSignal`, { op, subsystem: SUBSYSTEM, argument: 'options.signal' });
  }
}

function checkTypes(op: string, v: unknown): EventType[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw new InvalidArgumentError(`${op}: options.types must be a non-empty array of 'new', 'update', 'destroy'`, { op, subsystem: SUBSYSTEM, argument: 'options.types' });
  }
  v.forEach((t, i) => {
    if (!EVENT_TYPES.includes(t as EventType)) {
      throw new InvalidArgumentError(`${op}: options.types[${i}] must be 'new', 'update' or 'destroy', got ${JSON.stringify(t) ?? String(t)}`, { op, subsystem: SUBSYSTEM, argument: `options.types[${i}]` });
    }
  });
  return v as EventType[];
}
