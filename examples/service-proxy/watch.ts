// Follows the config file: every version that parses and differs from the last one applied
// becomes one proxy.apply(). Watches the folder, not the file, so an editor's or a
// controller's write-to-temp-then-rename is seen as well as an in-place write.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { loadConfig } from './config.js';
import type { ApplyReport, ServiceProxy } from './proxy.js';

export interface WatchOptions {
  /** Quiet time after the last event before the file is read (default 50 ms). */
  debounceMs?: number;
  onApplied?: (report: ApplyReport) => void;
  /** A version that did not parse or that the kernel refused (the proxy keeps the last good one). */
  onError?: (error: Error) => void;
}

export interface ConfigWatcher {
  /** Settles once the version on disk when the watch started has been applied (or refused). */
  readonly ready: Promise<void>;
  close(): void;
}

export function watchConfig(path: string, proxy: ServiceProxy, opts: WatchOptions = {}): ConfigWatcher {
  const log = (e: Error) => (opts.onError ?? ((err: Error) => console.error(`[watch] ${err.message}`)))(e);
  let lastText: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const sync = async () => {
    let loaded;
    try {
      loaded = await loadConfig(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // between unlink and rename
      log(e as Error);
      return;
    }
    if (loaded.text === lastText) return;
    try {
      const report = await proxy.apply(loaded.config);
      lastText = loaded.text; // a refused version is tried again when the file is touched
      opts.onApplied?.(report);
    } catch (e) {
      log(e as Error);
    }
  };
  // One read at a time; events during a read schedule one more after it.
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => { running = running.then(sync); }, opts.debounceMs ?? 50);
  };

  const name = basename(path);
  const watcher: FSWatcher = watch(dirname(path), (_event, file) => {
    if (file === null || file === name) schedule();
  });
  running = running.then(sync);
  return {
    ready: running,
    close: () => {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
