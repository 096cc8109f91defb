// The core part of the addon's types (native/core): the namespace-bound worker every job runs on.

/**
 * The one failure record every native job rejects with (native/core/job.h Failure); each
 * subsystem's errors.ts turns it into its NlkitError subclass.
 */
export interface NativeFailure {
  nativeFailure: true;
  errno: number;
  message: string;
  /** Where it failed or what kind of failure it is ("netns", "closed", iptables' "parse", "lock", ipset's "refused", ...). */
  kind?: string;
  /** Line of text input at fault. */
  line?: number;
  /** Position of the refused message in a batch (the ones before it were applied). */
  index?: number;
  /** Byte offset in that line of the word at fault. */
  offset?: number;
  /** The word at fault. */
  argument?: string;
  /** iptables: the table being worked on. */
  table?: string;
  /** The lock that could not be taken, and who holds it. */
  lockPath?: string;
  holderPid?: number;
  /** What had been applied when it failed (iptables: the tables committed), in order. */
  applied?: string[];
}

export interface RawWorker {
  close(): Promise<void>;
  closed(): boolean;
}

/** native/core/register.cc. */
export interface CoreBinding {
  Worker: new (netnsPath?: string) => RawWorker;
}

/** native/core/bench.cc: boundary-cost probes for bench/napi.ts, in an addon built by `npm run build:bench` only. */
export interface BenchBinding {
  /** No kernel work. The batch probes resolve the bytes they walked. */
  benchNoop(): void;
  benchAsync(worker: RawWorker): Promise<void>;
  benchStrings(worker: RawWorker, items: string[]): Promise<number>;
  benchBuffer(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array): Promise<number>;
}
