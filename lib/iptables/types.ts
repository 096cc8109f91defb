import type { OpenOptions } from '../core/handle.js';

export type Family = 4 | 6;
export type TableName = 'filter' | 'nat' | 'mangle' | 'raw' | 'security';

export interface IptablesOpenOptions extends OpenOptions {
  /** 4 (iptables, libip4tc semantics) or 6 (ip6tables). Default 4. */
  family?: Family;
  /**
   * Which iptables backend the handle writes. `'auto'` (the default): the first operation asks
   * `backend()` and writes what the namespace and host use (legacy rules present: legacy; else
   * nf_tables rules present: nft; else whatever the host's `iptables` command is), so nlkit's
   * rules are always the ones the host's `iptables` shows. `'legacy'`: legacy xtables
   * (IPT_SO_SET_REPLACE). `'nft'`: nf_tables, encoded as iptables-nft 1.8.9 does.
   * On the nft backend restore() (flushing or `noflush`, with counters), the table builder and
   * save() work; a `noflush` restore sends only what changes (rules deleted and inserted by
   * handle, chains added or deleted) in one batch. saveRaw() and restoreRaw() are legacy only.
   * Supported iptables-nft versions: 1.8.7 (tcp/udp/mark and NFLOG as nft_compat blobs, as it
   * writes them), 1.8.8 and 1.8.9 (native expressions); the host's `iptables-nft --version`
   * decides (lib/iptables/nft/version.ts), the 1.8.9 form when it cannot be asked.
   * @example const h = iptables.open({ netns: 'blue', backend: 'nft' });
   */
  backend?: 'auto' | 'legacy' | 'nft';
}

export interface LockOptions {
  /**
   * How long to wait for the xtables lock (`/run/xtables.lock` or `$XTABLES_LOCKFILE`), in
   * MILLISECONDS (before 0.x it was seconds, like `-w`); `true` or omitted (as iptables 1.8.9
   * without -w) waits as long as it takes, 0 fails at once when another process holds it.
   * Waiting never blocks the event loop. On the nf_tables backend a restore takes no lock, as
   * iptables-nft takes none (it ignores `-w`): the kernel's transaction, sent with the generation
   * id it was computed against, makes it atomic instead; `wait` is checked there but waits for
   * nothing. withLock() still takes the xtables lock on both backends (it orders nlkit and legacy
   * tools, not iptables-nft).
   * @example await iptables.restore(text, { wait: 5_000 });
   */
  wait?: number | true;
  /**
   * @deprecated The same as `wait` (milliseconds), its name before `wait` became milliseconds.
   * Stays for one release; not together with `wait`.
   */
  waitTimeout?: number;
  /** Milliseconds between attempts while waiting (default 50). */
  waitInterval?: number;
}

export interface RestoreOptions extends LockOptions {
  /** Like `iptables-restore --noflush`: keep what the tables hold; `:CHAIN` flushes only that chain. */
  noflush?: boolean;
  /** Like `-T table`: restore only this table of the text. */
  table?: string;
  /** Like `--counters`: set rule and policy counters from `[pkts:bytes]`. */
  counters?: boolean;
  /**
   * An aborted signal rejects with an AbortedError (name 'AbortError', code 'ABORT_ERR') and
   * commits nothing; it is checked on entry and again just before the tables are committed
   * (one crossing, one atomic replace per table / one nf_tables batch): once they are sent the
   * restore runs to its end and its result stands.
   */
  signal?: AbortSignal;
}

export interface SaveOptions {
  /** One table (default: every table the namespace has). */
  table?: string;
  /** Like `iptables-save -c`: `[pkts:bytes]` in front of rules. */
  counters?: boolean;
}

export interface RestoreStats {
  /** Milliseconds waiting for the xtables lock. */
  lockMs: number;
  /** Reading the kernel's tables. */
  readMs: number;
  /** Compiling and applying the lines (wall clock; compileCpuMs: the worker thread's CPU time). */
  compileMs: number;
  compileCpuMs: number;
  /** Of which: parsing the lines not in the handle's cache. */
  parseMs: number;
  /** Assembling the blobs. */
  serializeMs: number;
  /** IPT_SO_SET_REPLACE: the kernel's share. */
  replaceMs: number;
  /** IPT_SO_SET_ADD_COUNTERS. */
  countersMs: number;
  lines: number;
  /** Lines compiled through libxtables (`fast` of them without getopt, see native/iptables/parse.cc). */
  compiled: number;
  fast: number;
  /** Lines whose compiled form came from the handle's cache. */
  cached: number;
  /** Commit attempts (more than one table, or retries after the table changed). */
  attempts: number;
}

export interface RestoreResult {
  /** Tables committed, in order. */
  committed: string[];
  /** What iptables would have printed as warnings or notices, by line. */
  warnings: { line: number; text: string }[];
  stats: RestoreStats;
}
