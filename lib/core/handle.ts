// What every subsystem's handle shares: one native worker (a thread bound to the handle's
// namespace), call-site stacks on errors, and close().
import { binding, type NativeFailure, type RawWorker } from './native.js';
import { constants } from 'node:os';
import { HandleClosedError, InvalidArgumentError, NlkitError, NotFoundError, type Subsystem } from './errors.js';
import { resolveNetns } from './netns.js';
import { checkOptions } from './args.js';

export interface OpenOptions {
  /** Network namespace: a name from `ip netns add`, or an absolute path like /proc/PID/ns/net
   *  (relative paths and non-strings are refused with InvalidArgumentError). */
  netns?: string;
}

export type FailureMapper = (op: string, f: NativeFailure) => NlkitError;

/** Symbol.asyncDispose (Node >= 20.4 has it; before, the name Node's own polyfill registers). */
const disposeSymbol: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');

export const isNativeFailure = (e: unknown): e is NativeFailure =>
  typeof e === 'object' && e !== null && (e as NativeFailure).nativeFailure === true;

export abstract class Handle {
  readonly netns: string | undefined;
  protected readonly worker: RawWorker;
  #closing: Promise<void> | undefined;
  /**
   * Settles when the operations called so far have queued all their native calls. Operations
   * start in call order; one that is a single native call releases the next at once, so a
   * stream of them is pipelined through the worker's own FIFO queue.
   */
  #turn: Promise<unknown> = Promise.resolve();

  protected constructor(
    protected readonly subsystem: Subsystem,
    opts: OpenOptions,
    private readonly mapFailure: FailureMapper,
  ) {
    const op = `${subsystem}.open`;
    checkOptions({ op, subsystem }, 'options', opts);
    const path = resolveNetns(opts.netns, op);
    this.netns = opts.netns;
    this.worker = new (binding().Worker)(path);
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Waits for the operations already called, then stops the handle's thread.
   * @example
   * const h = ipset.open();
   * try { await h.add('allowed', '10.0.0.1'); } finally { await h.close(); }
   */
  close(): Promise<void> {
    // The worker runs its queue in order: once every call is queued, its close barrier
    // settles after all of them.
    this.#closing ??= this.#turn.then(() => this.worker.close()).catch((e: unknown) => {
      // A worker that never entered its namespace has ended already; its operations said why.
      if (isNativeFailure(e) && e.kind === 'netns') return;
      throw this.toError(`${this.subsystem}.close`, e);
    });
    return this.#closing;
  }

  /**
   * close(), for `await using`: the handle closes when the block that opened it ends.
   * @example
   * await using h = ipset.open({ netns: 'node' });
   * await h.add('KUBE-CLUSTER-IP', ['10.96.0.10,tcp:80']);
   */
  [disposeSymbol](): Promise<void> {
    return this.close();
  }

  /**
   * Queues one public operation that may make several native calls, each depending on the
   * last; the next operation starts when this one has finished. The stack is taken here,
   * before anything is queued, so an error points at the caller's line.
   */
  protected run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const site = callSite(this.run);
    if (this.closed) return Promise.reject(this.closedError(op, site));
    const p = this.#turn.then(fn);
    this.#turn = p.catch(() => undefined);
    return p.catch((e: unknown) => {
      throw withSite(this.toError(op, e), site);
    });
  }

  /** Queues an operation that is exactly one native call. */
  protected runOne<T>(op: string, call: (w: RawWorker) => Promise<T>): Promise<T> {
    const site = callSite(this.runOne);
    if (this.closed) return Promise.reject(this.closedError(op, site));
    let result!: Promise<T>;
    const queued = this.#turn.then(() => {
      result = call(this.worker);
    });
    this.#turn = queued;
    return queued.then(() => result).catch((e: unknown) => {
      throw withSite(this.toError(op, e), site);
    });
  }

  private closedError(op: string, site: { stack?: string }): NlkitError {
    return withSite(new HandleClosedError(`${op}: handle is closed`, { op, subsystem: this.subsystem }), site);
  }

  /** One native call on the handle's thread; failures become NlkitErrors named after `op`. */
  protected async native<T>(op: string, fn: (w: RawWorker) => Promise<T>): Promise<T> {
    try {
      return await fn(this.worker);
    } catch (e) {
      throw this.toError(op, e);
    }
  }

  protected toError(op: string, e: unknown): NlkitError {
    if (e instanceof NlkitError) return e;
    if (!isNativeFailure(e)) {
      return new NlkitError(`${op}: ${e instanceof Error ? e.message : String(e)}`, { op, subsystem: this.subsystem, cause: e });
    }
    if (e.kind === 'closed') return new HandleClosedError(`${op}: handle is closed`, { op, subsystem: this.subsystem });
    if (e.kind === 'netns') {
      // EINVAL: the path is not a namespace file (a FIFO, a directory, a plain file).
      const E = e.errno === constants.errno.EINVAL ? InvalidArgumentError : NotFoundError;
      return new E(`${op}: ${e.message}`, { op, subsystem: 'netns', errno: e.errno });
    }
    return this.mapFailure(op, e);
  }
}

/**
 * The caller's frames, taken before work is queued so an error points at the caller's line:
 * frames above `fn` are left out, and so are frames of files matching `skip` (a subsystem's
 * public wrappers).
 * @example const site = callSite(this.apply, /lib[\\/]ipvs[\\/](handle|index)\.[tj]s/);
 */
export function callSite(fn: Function, skip?: RegExp): { stack?: string } {
  const site: { stack?: string } = {};
  Error.captureStackTrace(site, fn);
  if (skip && site.stack) site.stack = site.stack.split('\n').filter((l, i) => i === 0 || !skip.test(l)).join('\n');
  return site;
}

/** Keeps the error's own first line and puts the caller's frames under it. */
export function withSite<E extends Error>(err: E, site: { stack?: string }): E {
  const frames = site.stack?.split('\n').slice(1).join('\n');
  if (frames) err.stack = `${err.name}: ${err.message}\n${frames}`;
  return err;
}
