// The one progress shape of every bulk load (ipset add/delete/restore/replace/sync, link
// addresses add/delete/sync, nft apply/restore, conntrack delete). A bulk load crosses to
// native code once, so the count comes from the native sender: it stores how many messages the
// kernel has acknowledged into a small Uint32Array (native/core/progress.h), and while the call
// is pending a timer here reads it and calls onProgress when it moved. No JS is ever called
// from the worker thread.
import { describeValue } from './args.js';

/**
 * How far a bulk load got, counted in the objects the call was given (entries, addresses,
 * commands, flows). `done` never counts more than the kernel has applied (acknowledged).
 * @example
 * await ipset.add('allowed', entries, { onProgress: ({ done, total }) => console.log(`${done}/${total}`) });
 */
export interface Progress {
  /** Objects applied so far. */
  done: number;
  /** Objects the call will apply when it succeeds. */
  total: number;
}

/**
 * An `onProgress` option: called on the JS thread, at most every 20 ms while the call runs and
 * only when `done` moved, then exactly once when it ends: with `done === total` when it
 * succeeded, or with what stays applied when it failed (after the call's own undo: often 0).
 * A callback that throws is not called again; the call runs on and its outcome is unchanged
 * (the batch is already with the kernel), and the thrown value is reported through
 * `process.emitWarning`.
 * @example
 * const onProgress: ProgressCallback = (p) => bar.update(p.done / p.total);
 * await h.addresses.add('kube-ipvs0', addrs, { onProgress });
 */
export type ProgressCallback = (progress: Progress) => void;

// How often a pending call's counter is read.
const PROGRESS_INTERVAL_MS = 20;

/**
 * The progress of one call, over the one or more batches it sends. Each batch gets a counter
 * (`counter()`, passed to the native sender) and a mapping from messages acknowledged to
 * objects done; `watch()` polls it while the batch runs. `end()` makes the one final report.
 * Without a callback every method is a no-op and `counter()` is undefined.
 * @example
 * const p = new ProgressReport(opts.onProgress, entries.length);
 * const c = p.counter();
 * const r = await p.watch(binding().ipsetSend(w, b.bytes, b.ends, c), c, (acked) => perMessage[acked]);
 * p.end(r.errno === 0 ? entries.length : 0);
 */
export class ProgressReport {
  readonly #cb: ProgressCallback | undefined;
  readonly total: number;
  #reported = -1;
  #base = 0;
  #ended = false;

  constructor(cb: ProgressCallback | undefined, total: number) {
    this.#cb = cb;
    this.total = total;
  }

  /** A fresh counter for the next batch, or undefined without a callback. */
  counter(): Uint32Array | undefined {
    return this.#cb ? new Uint32Array(1) : undefined;
  }

  /** Objects done before the batches still to come (e.g. the deletes of a sync before its adds). */
  advance(done: number): void {
    this.#base = Math.min(this.total, done);
    this.#report(this.#base);
  }

  /**
   * Reads `counter` every PROGRESS_INTERVAL_MS while `pending` runs and reports
   * `toDone(acknowledged messages)` (plus what earlier batches did) when it moved. The timer is
   * unref'd: it never keeps the process alive by itself.
   */
  async watch<T>(pending: Promise<T>, counter: Uint32Array | undefined, toDone: (acked: number) => number): Promise<T> {
    if (!this.#cb || !counter) return pending;
    const tick = () => this.#report(this.#base + toDone(Atomics.load(counter, 0)));
    const timer = setInterval(tick, PROGRESS_INTERVAL_MS);
    timer.unref();
    try {
      return await pending;
    } finally {
      clearInterval(timer);
    }
  }

  /** The one final report: `done` (clamped to total) whatever was reported before. */
  end(done: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#call(Math.max(0, Math.min(this.total, done)));
  }

  #report(done: number): void {
    if (this.#ended || done <= this.#reported) return;
    // The final report alone says done === total.
    if (done >= this.total) return;
    this.#reported = done;
    this.#call(done);
  }

  #call(done: number): void {
    const cb = this.#cb;
    if (!cb) return;
    try {
      cb({ done, total: this.total });
    } catch (e) {
      this.#disable();
      process.emitWarning(e instanceof Error ? e : new Error(`onProgress threw ${describeValue(e)}`), {
        code: 'NLKIT_PROGRESS_CALLBACK', detail: 'onProgress threw; it is not called again for this call, whose outcome is unchanged',
      });
    }
  }

  #disable(): void {
    this.#ended = true;
    this.#reported = Infinity;
  }
}
