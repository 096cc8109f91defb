// What every subsystem's handle shares: one native worker (a thread bound to the handle's
// namespace), call-site stacks on errors, and close().
import { binding, type NativeFailure, type RawWorker } from './native.js';
import { HandleClosedError, NlkitError, NotFoundError, type Subsystem } from './errors.js';
import { resolveNetns } from './netns.js';

export interface OpenOptions {
  /** Network namespace: a name from `ip netns add`, or a path like /proc/PID/ns/net. */
  netns?: string;
}

export type FailureMapper = (op: string, f: NativeFailure) => NlkitError;

export const isNativeFailure = (e: unknown): e is NativeFailure =>
  typeof e === 'object' && e !== null && (e as NativeFailure).nativeFailure === true;

export abstract class Handle {
  readonly netns: string | undefined;
  protected readonly worker: RawWorker;
  #closing: Promise<void> | undefined;
  /** The last queued operation: operations run whole, one after another, in call order. */
  #tail: Promise<unknown> = Promise.resolve();

  protected constructor(
    protected readonly subsystem: Subsystem,
    opts: OpenOptions,
    private readonly mapFailure: FailureMapper,
  ) {
    this.netns = opts.netns;
    const path = resolveNetns(opts.netns, `${subsystem}.open`);
    this.worker = new (binding().Worker)(path);
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Waits for the operations already called, then stops the handle's thread. */
  close(): Promise<void> {
    this.#closing ??= this.#tail.then(() => this.worker.close());
    return this.#closing;
  }

  /**
   * Queues one public operation (which may make several native calls). The stack is taken
   * here, before the work is queued, so an error points at the caller's line rather than at
   * the event loop.
   */
  protected run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const site: { stack?: string } = {};
    Error.captureStackTrace(site, this.run);
    if (this.closed) {
      return Promise.reject(withSite(new HandleClosedError(`${op}: handle is closed`, { op, subsystem: this.subsystem }), site));
    }
    const p = this.#tail.then(fn).catch((e: unknown) => {
      throw withSite(this.toError(op, e), site);
    });
    this.#tail = p.catch(() => undefined);
    return p;
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
    if (e.kind === 'netns') return new NotFoundError(`${op}: ${e.message}`, { op, subsystem: 'netns', errno: e.errno });
    return this.mapFailure(op, e);
  }
}

/** Keeps the error's own first line and puts the caller's frames under it. */
export function withSite<E extends Error>(err: E, site: { stack?: string }): E {
  const frames = site.stack?.split('\n').slice(1).join('\n');
  if (frames) err.stack = `${err.name}: ${err.message}\n${frames}`;
  return err;
}
