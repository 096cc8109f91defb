import { Handle } from '../core/handle.js';
import { checkFunction, checkOptions, checkOpts, checkString } from '../core/args.js';
import { InvalidArgumentError, UnsupportedError, throwIfAborted } from '../core/errors.js';
import { binding, type IptablesCacheRef, type IptablesLockRequest, type IptablesTableRequest, type RawTableSnapshot } from '../core/native.js';
import { iptablesFailure, problemError, restoreFailure } from './errors.js';
import { holdsXtablesLock, runHoldingXtablesLock, xtablesLockPath } from './lock-owner.js';
import { planRestore } from './restore-text.js';
import { decide, hostTool, XTABLES_TABLES, type BackendInfo, type BackendVariant } from './backend.js';
import { restoreWithNft } from './nft/handle-restore.js';
import { hostEncoding } from './nft/version.js';
import type { NftModelSlot } from './nft/model.js';
import { TableBuilder, type TableBuilderOptions } from './builder.js';
import { saveNft } from './nft/save.js';
import type { Family, IptablesOpenOptions, LockOptions, RestoreOptions, RestoreResult, SaveOptions, TableName } from './types.js';

const DEFAULT_INTERVAL_MS = 50;

export function lockRequest(op: string, opts: LockOptions): IptablesLockRequest {
  const path = xtablesLockPath();
  const { wait, waitInterval, waitTimeout } = opts;
  if (wait !== undefined && wait !== true && !(typeof wait === 'number' && wait >= 0 && Number.isFinite(wait))) {
    throw new InvalidArgumentError(`${op}: wait must be a number of milliseconds >= 0 or true`, { op, subsystem: 'iptables', argument: String(wait) });
  }
  if (waitTimeout !== undefined) {
    if (!(typeof waitTimeout === 'number' && waitTimeout >= 0 && Number.isFinite(waitTimeout))) {
      throw new InvalidArgumentError(`${op}: waitTimeout must be a number of milliseconds >= 0`, { op, subsystem: 'iptables', argument: String(waitTimeout) });
    }
    if (wait !== undefined) {
      throw new InvalidArgumentError(`${op}: wait and its deprecated alias waitTimeout are not taken together`, { op, subsystem: 'iptables', argument: String(wait) });
    }
  }
  if (waitInterval !== undefined && !(typeof waitInterval === 'number' && waitInterval > 0 && Number.isFinite(waitInterval))) {
    throw new InvalidArgumentError(`${op}: waitInterval must be a positive number of milliseconds`, { op, subsystem: 'iptables', argument: String(waitInterval) });
  }
  const ms = wait !== undefined ? wait : waitTimeout;
  // The worker counts in seconds (native/iptables/lock.cc); -1 waits as long as it takes.
  return { path, wait: ms === undefined || ms === true ? -1 : ms / 1000, interval: waitInterval ?? DEFAULT_INTERVAL_MS };
}

/**
 * A handle on the legacy iptables (or, with family 6, ip6tables) tables of one network namespace (the caller's, or `netns`'s); its calls run in order on the handle's own thread. `iptables.open()` makes one.
 * @example
 * await using h = iptables.open({ netns: 'node', family: 6 });
 * console.log(await h.save({ table: 'filter' }));
 */
export class IptablesHandle extends Handle {
  readonly family: Family;
  readonly backendMode: 'auto' | 'legacy' | 'nft';
  readonly #cache: IptablesCacheRef;
  /** The nf_tables tables' chains as the last --noflush commit left them (nft/model.ts). */
  readonly #nftModel: NftModelSlot = {};
  /** The backend check's outcome, once it has run (auto mode). */
  #backend: BackendInfo | undefined;

  constructor(opts: IptablesOpenOptions = {}) {
    checkOptions({ op: 'iptables.open', subsystem: 'iptables' }, 'options', opts);
    const family = opts.family === undefined ? 4 : opts.family;
    if (family !== 4 && family !== 6) {
      throw new InvalidArgumentError(`iptables.open: family must be 4 or 6`, { op: 'iptables.open', subsystem: 'iptables', argument: String(family) });
    }
    if (opts.backend !== undefined && opts.backend !== 'legacy' && opts.backend !== 'auto' && opts.backend !== 'nft') {
      throw new InvalidArgumentError(`iptables.open: backend must be 'auto', 'legacy' or 'nft'`, { op: 'iptables.open', subsystem: 'iptables', argument: String(opts.backend) });
    }
    super('iptables', opts, iptablesFailure);
    this.family = family;
    this.backendMode = opts.backend ?? 'auto';
    this.#cache = binding().iptablesCache();
  }

  /** Waits for the operations already called, then stops the handle and frees its cache. */
  override close(): Promise<void> {
    return super.close().then(() => binding().iptablesDrop(this.#cache));
  }

  private get prefix(): string {
    return this.family === 6 ? 'ip6tables' : 'iptables';
  }

  /**
   * Which iptables backend this handle's namespace and family use: what the host's
   * `iptables` (`ip6tables`) command is, the legacy and nf_tables tables with their rule
   * counts, and the decision (`hostBackend`) that `backend: 'auto'` handles act on.
   * @example const { tool, hostBackend } = await h.backend();
   */
  backend(): Promise<BackendInfo> {
    const op = `${this.prefix}.backend`;
    return this.run(op, () => this.#probe(op, false));
  }

  async #probe(op: string, quick: boolean): Promise<BackendInfo> {
    // Counted natively on the worker thread, in the handle's namespace; legacy tables are only
    // those the kernel lists (reading any other would create it).
    const r = await this.native(op, (w) => binding().iptablesBackendCount(w, { family: this.family, quick }));
    const ours = r.nft.filter((t) => XTABLES_TABLES.includes(t.name));
    const legacy = { tables: r.legacy.map((t) => t.name), rules: r.legacy.reduce((n, t) => n + t.rules, 0) };
    const nft = { tables: ours.map((t) => t.name), rules: ours.reduce((n, t) => n + t.rules, 0) };
    const { tool, toolPath } = await hostTool(this.family);
    return { tool, ...(toolPath !== undefined ? { toolPath } : {}), legacy, nft, ...decide(tool, legacy, nft) };
  }

  /**
   * Which backend this handle writes: the one it was opened with, or for 'auto' what backend()
   * decides, asked once per handle before its first kernel operation (inside run(), so
   * serialized with the rest). An operation not implemented on nf_tables yet (`nftReady`
   * false) refuses there with UnsupportedError.
   */
  protected async checkBackend(op: string, nftReady = false): Promise<BackendVariant> {
    if (this.backendMode === 'legacy') return 'legacy';
    let b: BackendVariant = 'nft';
    if (this.backendMode === 'auto') {
      this.#backend ??= await this.#probe(op, true);
      b = this.#backend.hostBackend;
    }
    if (b === 'nft' && !nftReady) {
      throw new UnsupportedError(`${op}: not implemented on the nf_tables backend yet (this handle writes nf_tables${this.backendMode === 'auto' ? `, as the namespace and the host's \`${this.prefix}\` use it` : ''}); pass backend: 'legacy' to use legacy xtables`,
        { op, subsystem: 'iptables', code: 'EOPNOTSUPP' });
    }
    return b;
  }

  /** True when this handle works on nf_tables: backend 'nft', or 'auto' where the namespace and host use it. */
  async #onNft(op: string): Promise<boolean> {
    if (this.backendMode !== 'auto') return this.backendMode === 'nft';
    this.#backend ??= await this.#probe(op, true);
    return this.#backend.hostBackend === 'nft';
  }

  /**
   * A builder for one table whose commit() restores it through this handle.
   * @example await h.table('filter').chain('INPUT').append({ protocol: 'tcp', jump: 'ACCEPT' }).commit();
   */
  table(name: TableName, opts: TableBuilderOptions = {}): TableBuilder {
    return new TableBuilder(name, opts, (text, ro) => this.restore(text, ro));
  }

  /**
   * Applies an iptables-restore text. Every table of the text is read, compiled and built in
   * memory first; only when all of them are complete are they committed, in order, each with
   * one atomic replace. A bad line anywhere commits nothing. `signal`: see RestoreOptions.
   * @example await h.restore('*filter\n:KUBE-FW - [0:0]\n-A KUBE-FW -j ACCEPT\nCOMMIT\n', { noflush: true, wait: 5_000 });
   */
  restore(text: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
    const op = `${this.prefix}.restore`;
    return this.run(op, async () => {
      if (typeof text !== 'string') throw new InvalidArgumentError(`${op}: text must be a string`, { op, subsystem: 'iptables' });
      checkOpts({ op, subsystem: 'iptables' }, 'options', opts, { noflush: 'boolean', counters: 'boolean', table: 'string', wait: 'number|true', waitTimeout: 'number', waitInterval: 'number', signal: 'signal' });
      throwIfAborted(opts.signal, op, 'iptables');
      const lock = lockRequest(op, opts);
      checkTableOption(op, opts.table);
      if (await this.checkBackend(op, true) === 'nft') {
        // the host's iptables-nft version decides the form of tcp/udp/mark/NFLOG (nft/version.ts)
        return restoreWithNft({ op, family: this.family, cache: this.#cache, native: (fn) => this.native(op, fn), encoding: await hostEncoding(), model: this.#nftModel }, text, opts);
      }
      const plan = planRestore(text, opts.table !== undefined ? { table: opts.table } : {});
      const tables: IptablesTableRequest[] = plan.tables.map((t) => ({
        name: t.name, flush: !opts.noflush, body: t.body, line: t.line, firstLine: t.firstLine, commitLine: t.commitLine, chains: t.chains,
      }));
      if (plan.error) {
        // Everything before the structural error is checked (compiled and applied in memory)
        // so that an earlier bad line is the one reported; nothing is committed.
        if (tables.length) {
          await this.native(op, (w) => binding().iptablesRestore(w, null, {
            family: this.family, counters: opts.counters ?? false, tables, dryRun: true,
          }).catch(restoreFailure(op, text)));
        }
        throw problemError(op, { kind: 'parse', message: plan.error.message, errno: 22, line: plan.error.line }, text);
      }
      if (tables.length === 0) return { committed: [], warnings: [], stats: emptyStats() };
      throwIfAborted(opts.signal, op, 'iptables');
      const r = await this.native(op, (w) => binding().iptablesRestore(w, this.#cache, {
        family: this.family, counters: opts.counters ?? false, tables,
        // Inside a withLock() (or transaction) of this async context that still holds the lock.
        ...(holdsXtablesLock(lock.path) ? {} : { lock }),
      }).catch(restoreFailure(op, text)));
      return { committed: r.committed, warnings: r.warnings, stats: r.stats };
    });
  }

  /**
   * The text `iptables-save` prints (without its two `#` timestamp lines); on the nf_tables
   * backend what `iptables-nft-save` 1.8.9 prints (lib/iptables/nft/save.ts).
   * @example const text = await h.save({ table: 'nat', counters: true });
   */
  save(opts: SaveOptions = {}): Promise<string> {
    const op = `${this.prefix}.save`;
    return this.run(op, async () => {
      checkOpts({ op, subsystem: 'iptables' }, 'options', opts, { table: 'string', counters: 'boolean' });
      checkTableOption(op, opts.table);
      if (await this.#onNft(op)) return saveNft((fn) => this.native(op, fn), op, this.family, opts);
      await this.checkBackend(op);
      const r = await this.native(op, (w) => binding().iptablesSave(w, {
        family: this.family, counters: opts.counters ?? false, ...(opts.table !== undefined ? { table: opts.table } : {}),
      }));
      return r.text;
    });
  }

  /**
   * One table exactly as the kernel holds it (its entries with their counters), for
   * restoreRaw(): unlike the text save() prints, this round-trips what iptables-restore cannot
   * read back (a comment with a newline). Used by transaction() to roll back.
   * @example const snap = await h.saveRaw('filter'); ... ; await h.withLock(() => h.restoreRaw(snap));
   */
  saveRaw(table: string): Promise<RawTableSnapshot> {
    const op = `${this.prefix}.saveRaw`;
    return this.run(op, async () => {
      if (typeof table !== 'string') throw new InvalidArgumentError(`${op}: table must be a string`, { op, subsystem: 'iptables' });
      await this.checkBackend(op);
      return this.native(op, (w) => binding().iptablesReadRaw(w, { family: this.family, table }));
    });
  }

  /**
   * Replaces a table with what saveRaw() read, counters included, in one atomic replace.
   * The caller holds the xtables lock (withLock(), or a transaction).
   * @example await h.withLock(() => h.restoreRaw(await h.saveRaw('nat')));
   */
  restoreRaw(snap: RawTableSnapshot): Promise<void> {
    const op = `${this.prefix}.restoreRaw`;
    return this.run(op, async () => {
      await this.checkBackend(op);
      await this.native(op, (w) => binding().iptablesWriteRaw(w, { ...snap, family: this.family }));
    });
  }

  /**
   * Runs `fn` while holding the xtables lock that the iptables tools take, so that other
   * tools run under it see a consistent state. The lock belongs to `fn`'s async context:
   * restores, transactions and withLock() called from it do not take it again (it is
   * re-entrant); calls from anywhere else in the process wait for it (or fail) like another
   * process would.
   *
   * @example
   *   await h.withLock(async () => {
   *     const text = await h.save({ table: 'filter' });
   *     await h.restore(edit(text));
   *   }, { wait: 5_000 });
   */
  async withLock<T>(fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
    const op = `${this.prefix}.withLock`;
    const lock = await this.run(op, async () => {
      checkFunction({ op, subsystem: 'iptables' }, 'fn', fn);
      checkOpts({ op, subsystem: 'iptables' }, 'options', opts, { wait: 'number|true', waitTimeout: 'number', waitInterval: 'number' });
      const req = lockRequest(op, opts);
      await this.checkBackend(op, true);  // the same lock on both backends (see LockOptions.wait)
      if (holdsXtablesLock(req.path)) return { fd: -1, path: req.path };
      const r = await this.native(op, (w) => binding().iptablesLock(w, { lock: req }));
      return { fd: r.fd, path: req.path };
    });
    if (lock.fd < 0) return await fn();  // re-entered: the caller's withLock() lets go
    return runHoldingXtablesLock(lock.path, fn, () => binding().iptablesUnlock(lock.fd));
  }
}

/** `EINVAL (Invalid argument)`: an errno's name and strerror text. */
/** A table name goes to libiptc as a C string: a NUL would name another table. */
function checkTableOption(op: string, table: unknown): void {
  if (table !== undefined) checkString({ op, subsystem: 'iptables' }, 'table', table, { nonEmpty: true, nul: false });
}

function emptyStats() {
  return { lockMs: 0, readMs: 0, compileMs: 0, compileCpuMs: 0, parseMs: 0, serializeMs: 0, replaceMs: 0, countersMs: 0, lines: 0, compiled: 0, fast: 0, cached: 0, attempts: 0 };
}
