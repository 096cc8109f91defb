// The core part of the addon's types (native/core): the namespace-bound worker every job runs on.

export interface NativeFailure {
  nativeFailure: true;
  errno: number;
  message: string;
  kind?: string;
  line?: number;
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
