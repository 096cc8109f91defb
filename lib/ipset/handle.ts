import { constants } from 'node:os';
import { Handle, isNativeFailure, type OpenOptions } from '../core/handle.js';
import { ExistsError, InUseError, NlkitError, NotFoundError, InvalidArgumentError, UnsupportedError, throwIfAborted } from '../core/errors.js';
import { binding, type IpsetExecResult, type NativeFailure, type RawWorker } from '../core/native.js';
import { checkArray, checkOptions, checkOpts, checkString, type ArgContext } from '../core/args.js';
import { Cmd, IPSET_ERR_EXIST, simpleMessage, type Batch } from './wire.js';
import { ipsetError, type SentBatch } from './errors.js';
import { formatCreate, parseList, type KnownSet } from './syntax.js';
import { adtEntries, compileRestorePlan, testMessage, testMessages } from './encode.js';
import { kernelError } from './kernel-errors.js';
import { send } from '../netlink/transport.js';
import { NETLINK_NETFILTER } from '../netlink/headers.js';
import type { CreateOptions, Entry, SetInfo, SetType } from './types.js';
import { savedRecords, undoText } from './saved-text.js';
import { canonicalEntries, planIpsetSync, type IpsetSyncOptions, type IpsetSyncResult } from './sync.js';
import { ProgressReport, type ProgressCallback } from '../core/progress.js';

export interface ExistOption {
  /** Like `ipset -exist`: no error for a set/entry that already exists (or is already gone). */
  exist?: boolean;
}

/**
 * Options of the calls that can change many entries (add, delete, restore). `signal`: an
 * AbortSignal already aborted rejects with an AbortedError (name 'AbortError', code 'ABORT_ERR',
 * `applied` 0) and changes nothing; one that aborts while the call runs stops it before its
 * entries are sent to the kernel (they cross in one batch); once sent, the call runs to its end
 * and its result stands.
 */
export interface BulkOptions extends ExistOption {
  /** Stops the call before its batch is sent (see BulkOptions). */
  signal?: AbortSignal;
  /**
   * Called with `{ done, total }` in entries (restore: its add/del lines) while the kernel takes
   * the batch, and once at the end (see ProgressCallback). On a refusal the final `done` is what
   * stays applied after the call put the set back (0 when it could).
   */
  onProgress?: ProgressCallback;
}

/** Options of replace(): `signal` as in BulkOptions (checked before the temporary set is made). */
export interface ReplaceOptions {
  /** Stops the call before anything is created or sent. */
  signal?: AbortSignal;
  /** As in BulkOptions: the temporary set's filling, in entries; on failure the set is unchanged (final done 0). */
  onProgress?: ProgressCallback;
}

export interface ListOptions {
  /** false: headers only, like `ipset list -t`. */
  members?: boolean;
}

const DESTROY_RETRIES = [5, 10, 20, 40, 80, 160, 320];  // ms; about 0.6 s in all

let tempCounter = 0;

/**
 * Sends one batch through nlkit's sender: undefined when every message was acknowledged, the
 * kernel's refusal (the failure record, kind 'refused') when one was refused; any other
 * failure rejects.
 */
function refusal(w: RawWorker, batch: Batch, progress?: Uint32Array): Promise<NativeFailure | undefined> {
  return binding().ipsetSend(w, batch.bytes, batch.ends, progress).then(() => undefined, (e: unknown) => {
    if (isNativeFailure(e) && e.kind === 'refused') return e;
    throw e;
  });
}

/** Entry batches: the lineno the kernel echoes is the entry's position + 1 (encode.ts numbers them so). */
const entryAt: SentBatch['at'] = (_, lineno) => (lineno > 0 ? { entry: lineno - 1 } : {});

/**
 * A handle on the ipsets of one network namespace (the caller's, or `netns`'s); its calls run
 * in order on the handle's own thread. `ipset.open()` makes one.
 * @example
 * const h = ipset.open({ netns: 'node' });
 * await h.create('allowed', 'hash:ip', { timeout: 300 });
 * await h.add('allowed', '10.0.0.1');
 * await h.close();
 */
export class IpsetHandle extends Handle {
  #supportedOk = false;

  constructor(opts: OpenOptions = {}) {
    super('ipset', opts, ipsetError);
  }

  /**
   * Until it has once succeeded: does this kernel speak ipset at all? Without ip_set,
   * nfnetlink answers every ipset message with EINVAL, which would otherwise read as bad
   * input. A failed probe is not kept: the next operation asks again, and its error is its own.
   */
  private supported(op: string): Promise<void> {
    if (this.#supportedOk) return Promise.resolve();
    return this.native(op, (w) => refusal(w, simpleMessage(Cmd.Protocol))).then((f) => {
      if (!f) {
        this.#supportedOk = true;
        return;
      }
      if (f.errno === constants.errno.EPERM) throw ipsetError(op, f, {}, { cmd: Cmd.Protocol });
      throw new UnsupportedError(`${op}: the running kernel has no ipset support (kernel module ip_set, CONFIG_IP_SET)`, {
        op, subsystem: 'ipset', errno: f.errno,
      });
    });
  }

  /**
   * Sends netlink messages built in TypeScript; a refusal becomes the matching typed error.
   * True when every message was acknowledged (a test's miss, IPSET_ERR_EXIST, is false).
   */
  private async send(op: string, batch: Batch, cmd: Cmd, type?: string): Promise<boolean> {
    await this.supported(op);
    const f = await this.native(op, (w) => refusal(w, batch));
    if (f && !(cmd === Cmd.Test && f.errno === IPSET_ERR_EXIST)) throw ipsetError(op, f, {}, { cmd, ...(type ? { type } : {}), at: entryAt });
    return f === undefined;
  }

  /** An add/del batch whose acknowledged entries `progress` reports while the kernel takes it. */
  private async sendWatched(op: string, batch: Batch, progress: ProgressReport): Promise<NativeFailure | undefined> {
    await this.supported(op);
    const counter = progress.counter();
    const before = batch.entriesBefore;
    return progress.watch(this.native(op, (w) => refusal(w, batch, counter)), counter, (acked) => before?.[acked] ?? 0);
  }

  /** A command that is one message (flush, rename, swap): pipelined once the kernel is known to speak ipset. */
  private simple(op: string, cmd: Cmd, a?: string, b?: string, both = false): Promise<void> {
    let msg: Batch;
    try {
      msg = simpleMessage(cmd, a === undefined && !both ? undefined : checkName(a!, op), b === undefined && !both ? undefined : checkName(b!, op));
    } catch (e) {
      return this.run(op, () => Promise.reject(e));
    }
    const call = (w: RawWorker) => refusal(w, msg).then((f) => {
      if (f) throw ipsetError(op, f, {}, { cmd });
    });
    if (this.#supportedOk) return this.runOne(op, call);
    return this.run(op, async () => {
      await this.supported(op);
      await this.native(op, call);
    });
  }

  /** Runs ipset restore-format text through libipset on this handle's thread. */
  private async exec(op: string, text: string, exist = false): Promise<IpsetExecResult> {
    await this.supported(op);
    return this.native(op, (w) => binding().ipsetExec(w, text, exist));
  }

  /**
   * Creates a set, like `ipset create`; `{ exist: true }` accepts one of the same definition.
   * @example await h.create('allowed', 'hash:net', { family: 'inet', comment: true }, { exist: true });
   */
  create(name: string, type: SetType, opts: CreateOptions = {}, o?: ExistOption): Promise<void> {
    return this.run('ipset.create', async () => {
      const c = ctx('ipset.create');
      checkString(c, 'type', type, { nonEmpty: true, nul: false });
      const { exist = false } = checkOpts(c, 'options', o, { exist: 'boolean' });
      const line = formatCreate(name, type, checkOptions(c, 'create options', opts) ?? {});
      try {
        await this.exec('ipset.create', line + '\n', exist);
      } catch (e) {
        if (e instanceof UnsupportedError) {
          const module = `ip_set_${type.replace(':', '_').replace(/,/g, '')}`;
          e.message = `ipset.create: the running kernel has no set type ${type} (kernel module ${module})`;
        }
        throw e;
      }
    });
  }

  /**
   * Destroys one set, or every set when no name is given.
   * @example await h.destroy('allowed');
   */
  destroy(name?: string): Promise<void> {
    return this.run('ipset.destroy', async () => {
      const msg = simpleMessage(Cmd.Destroy, name === undefined ? undefined : checkName(name, 'ipset.destroy'));
      // The kernel drops a set's reference a moment after the rule that used it goes away.
      for (let i = 0; ; i++) {
        try {
          await this.send('ipset.destroy', msg, Cmd.Destroy);
          return;
        } catch (e) {
          if (!(e instanceof InUseError) || i >= DESTROY_RETRIES.length) throw e;
          await new Promise((r) => setTimeout(r, DESTROY_RETRIES[i]));
        }
      }
    });
  }

  /**
   * Removes every member of one set, or of every set when no name is given, like `ipset flush`.
   * @example await h.flush('allowed');
   */
  flush(name?: string): Promise<void> {
    return this.simple('ipset.flush', Cmd.Flush, name);
  }

  /**
   * Renames a set, like `ipset rename`.
   * @example await h.rename('allowed-new', 'allowed');
   */
  rename(from: string, to: string): Promise<void> {
    return this.simple('ipset.rename', Cmd.Rename, from, to, true);
  }

  /**
   * Exchanges the contents of two sets of the same type, atomically, like `ipset swap`.
   * @example await h.swap('allowed', 'allowed-next');
   */
  swap(a: string, b: string): Promise<void> {
    return this.simple('ipset.swap', Cmd.Swap, a, b, true);
  }

  /**
   * Adds one entry or many; many go to the kernel in as few messages as it accepts. When the
   * kernel refuses one, the set is put back as it was (what the entries before it changed).
   * `signal`: see BulkOptions (checked before the batch is sent; nothing is sent once aborted).
   * @example await h.add('allowed', ['10.0.0.1', { ip: '10.1.0.0/16', comment: 'pods' }], { exist: true });
   */
  add(name: string, entries: Entry | Entry[], opts: BulkOptions = {}): Promise<void> {
    return this.run('ipset.add', async () => {
      const o = checkOpts(ctx('ipset.add'), 'options', opts, { exist: 'boolean', signal: 'signal', onProgress: 'function' });
      throwIfAborted(o.signal, 'ipset.add', 'ipset');
      await this.adt('add', name, entries, o.exist ?? false, 'ipset.add', o.signal, o.onProgress as ProgressCallback | undefined);
    });
  }

  /**
   * Deletes one entry or many. When the kernel refuses one, the members already deleted come
   * back as they were (extensions, counters and the timeout that was left). `signal`: see BulkOptions.
   * @example await h.delete('allowed', '10.0.0.1');
   */
  delete(name: string, entries: Entry | Entry[], opts: BulkOptions = {}): Promise<void> {
    return this.#delete('ipset.delete', name, entries, opts);
  }

  /**
   * @deprecated Use delete(); `del` stays for one release.
   * @example await h.del('allowed', '10.0.0.1');
   */
  del(name: string, entries: Entry | Entry[], opts: BulkOptions = {}): Promise<void> {
    return this.#delete('ipset.del', name, entries, opts);
  }

  #delete(op: string, name: string, entries: Entry | Entry[], opts: BulkOptions): Promise<void> {
    return this.run(op, async () => {
      const o = checkOpts(ctx(op), 'options', opts, { exist: 'boolean', signal: 'signal', onProgress: 'function' });
      throwIfAborted(o.signal, op, 'ipset');
      await this.adt('del', name, entries, o.exist ?? false, op, o.signal, o.onProgress as ProgressCallback | undefined);
    });
  }

  /**
   * Whether an entry is in the set, like `ipset test` (false, not an error, when it is not).
   * An array asks about every entry at once and resolves one boolean each, in order: all are
   * checked first (a bad one is an InvalidArgumentError naming its index, `entry`, and nothing
   * is sent), then go to the kernel as one pipelined batch of test messages. A refusal other
   * than "not in the set" rejects with the error of the first entry it hit (`entry` its index).
   * @example
   * if (await h.test('allowed', '10.0.0.1')) console.log('allowed');
   * const [a, b] = await h.test('allowed', ['10.0.0.1', { ip: '10.0.0.2' }]);  // [true, false]
   */
  test(name: string, entry: Entry): Promise<boolean>;
  test(name: string, entries: readonly Entry[]): Promise<boolean[]>;
  test(name: string, entries: Entry | readonly Entry[]): Promise<boolean | boolean[]>;
  test(name: string, entries: Entry | readonly Entry[]): Promise<boolean | boolean[]> {
    return this.run('ipset.test', async () => {
      const op = 'ipset.test';
      const { known, sets } = await this.target(op, name);
      const eo = { op, ...(sets ? { sets } : {}) };
      if (!Array.isArray(entries)) return this.send(op, testMessage(name, known, entries as Entry, eo), Cmd.Test, known.type);
      return this.testMany(op, known, testMessages(name, known, entries as readonly Entry[], eo));
    });
  }

  /**
   * The batch of test messages through the shared pipelined sender (native/netlink, NETLINK_NETFILTER):
   * a miss (IPSET_ERR_EXIST) is an answer, not a refusal; any other errno stops the batch after its chunk.
   */
  private async testMany(op: string, known: KnownSet, batch: Batch): Promise<boolean[]> {
    const out: boolean[] = new Array<boolean>(batch.ends.length);
    if (batch.ends.length === 0) return out;
    await this.supported(op);
    const { errnos } = await this.native(op, (w) => send(w, NETLINK_NETFILTER, batch, { stopOnRefusal: true, tolerate: [IPSET_ERR_EXIST] }));
    for (let i = 0; i < errnos.length; i++) {
      const e = errnos[i]!;
      if (e !== 0 && e !== IPSET_ERR_EXIST) {
        // -1 (not sent) only follows the refusal that stopped the batch, which is met first.
        throw kernelError(op, { errno: e > 0 ? e : constants.errno.EPROTO, cmd: Cmd.Test, type: known.type, entry: i });
      }
      out[i] = e === 0;
    }
    return out;
  }

  /**
   * Every set, or one set by name, with its header and members (`{ members: false }`: headers
   * only, like `ipset list -t`).
   * @example
   * const set = await h.list('allowed');
   * console.log(set.type, set.members?.length);
   */
  list(): Promise<SetInfo[]>;
  list(name: string, opts?: ListOptions): Promise<SetInfo>;
  list(name: undefined, opts?: ListOptions): Promise<SetInfo[]>;
  list(name?: string, opts: ListOptions = {}): Promise<SetInfo | SetInfo[]> {
    return this.run('ipset.list', async () => {
      const terse = checkOpts(ctx('ipset.list'), 'options', opts, { members: 'boolean' }).members === false ? ' -t' : '';
      const target = name === undefined ? '' : ` ${checkName(name, 'ipset.list')}`;
      const r = await this.exec('ipset.list', `list${target}${terse}\n`);
      const sets = parseList(r.output);
      return name === undefined ? sets : sets[0]!;
    });
  }

  /**
   * Set names, like `ipset list -n`.
   * @example const names = await h.names();
   */
  names(): Promise<string[]> {
    return this.run('ipset.names', async () => {
      const r = await this.exec('ipset.names', 'list -n\n');
      return r.output.split('\n').filter(Boolean);
    });
  }

  /**
   * The text `ipset save` prints, for one set or all.
   * @example const text = await h.save('allowed');
   */
  save(name?: string): Promise<string> {
    return this.run('ipset.save', async () => {
      const target = name === undefined ? '' : ` ${checkName(name, 'ipset.save')}`;
      return (await this.exec('ipset.save', `save${target}\n`)).output;
    });
  }

  /**
   * Applies `ipset restore` text. The whole text is checked against the kernel's current sets
   * first, so a bad line anywhere applies nothing; if the kernel still refuses a line, the
   * renames and swaps before it are undone, the sets this text created are destroyed again and
   * the existing sets it changed are put back as they were read before it ran. A `test` line
   * works as in `ipset restore`: an element in the set ends the restore there with success (the
   * lines after it do not run), one not in it refuses the text at that line (NotFoundError).
   * `signal`: see BulkOptions (checked once the text is checked, before its first line runs).
   * @example await h.restore('add allowed 10.0.0.1\ntest allowed 10.0.0.1\n');
   */
  restore(text: string, o?: BulkOptions): Promise<void> {
    return this.run('ipset.restore', async () => {
      const op = 'ipset.restore';
      checkString(ctx(op), 'text', text);
      const { exist = false, signal, onProgress } = checkOpts(ctx(op), 'options', o, { exist: 'boolean', signal: 'signal', onProgress: 'function' });
      throwIfAborted(signal, op, 'ipset');
      await this.restoreText(op, text, exist, signal, onProgress as ProgressCallback | undefined);
    });
  }

  /**
   * Applies what save() returned, exactly: also members whose comment holds a line break,
   * which the kernel keeps and `ipset save` prints raw but no restore text can carry (they are
   * added after the rest, each encoded on its own). How a transaction puts a set back.
   * @example const text = await h.save('allowed'); ... ; await h.restoreSaved(text);
   */
  restoreSaved(text: string): Promise<void> {
    return this.run('ipset.restore', async () => {
      const op = 'ipset.restore';
      checkString(ctx(op), 'text', text);
      const { plain, broken } = splitSaved(text);
      await this.restoreText(op, plain, false);
      await this.addBroken(op, broken, false);
    });
  }

  private async restoreText(op: string, text: string, exist: boolean, signal?: AbortSignal, onProgress?: ProgressCallback): Promise<void> {
    const known = await this.knownAll(op);
    const { steps, plan } = compileRestorePlan(text, known, { exist, op });
    let total = 0;
    for (const step of steps) if (step.kind === 'adt') total += step.lines.length;
    const progress = new ProgressReport(onProgress, total);
    let done = 0;
    // The existing sets the text changes, as they are: a refusal midway puts them back.
    const saved: Saved[] = [];
    for (const n of new Set(plan.touched)) if (known.has(n)) saved.push(await this.saved(op, n));
    throwIfAborted(signal, op, 'ipset');
    // The rename and swap commands that ran: a refusal undoes them as such (rules hold a set by
    // its index, not its name) before the members are put back.
    const moved: string[][] = [];
    try {
      for (const step of steps) {
        if (step.kind === 'text') {
          const r = await this.exec(op, step.text, step.exist).catch((e: unknown) => {
            const err = atLine(e, (l) => step.firstLine + l - 1) as { line?: number };
            const ran = err.line === undefined ? 0 : err.line - step.firstLine;
            moved.push(...movesIn(step.text.split('\n').slice(0, ran)));
            throw err;
          });
          moved.push(...movesIn(step.text.split('\n')));
          if (step.endsOnPass) {
            // libipset answers a test line with a notice (not in the set) or a warning (in it),
            // and `ipset restore` exits there: 1 or 0. The test is the step's last line.
            const miss = r.messages.find((m) => m.type === 'notice' && /is NOT in set/.test(m.text));
            if (miss) {
              const last = step.text.replace(/\n$/, '').split('\n').length;
              const failure: NativeFailure = { nativeFailure: true, errno: 0, message: `Error in line ${last}: ${miss.text}` };
              throw atLine(ipsetError(op, failure), (l) => step.firstLine + l - 1);
            }
            progress.end(total);
            return;
          }
          continue;
        }
        const f = await this.sendWatched(op, step.batch, progress);
        if (f) {
          done += appliedOf(step.batch, f);
          throw ipsetError(op, f, {}, { cmd: step.cmd, type: step.type, at: (_, lineno) => {
            const line = lineno > 0 ? step.lines[lineno - 1] : undefined;
            return line ? { line } : {};
          } });
        }
        done += step.lines.length;
        progress.advance(done);
      }
      progress.end(total);
    } catch (e) {
      let created = plan.created;
      if (moved.length) {
        for (const [cmd, a, b] of moved.reverse()) {
          await this.exec(op, cmd === 'rename' ? `rename ${b} ${a}\n` : `swap ${a} ${b}\n`).catch(() => undefined);
        }
        // Names are back where they were: what the text created is what is new.
        const now = await this.exec(op, 'list -n\n').then((r) => r.output.split('\n').filter(Boolean), () => plan.created);
        created = now.filter((n) => !known.has(n));
      }
      if (created.length) await this.dropQuietly(created);
      const whole = saved.length && e instanceof NlkitError ? await this.putBack(op, saved, e) : true;
      // Put back: nothing stays; otherwise what the kernel took stays (at most).
      progress.end(whole ? 0 : done);
      throw e;
    }
  }

  /** Members of saved text whose comment holds a line break: each added on its own, encoded. */
  private async addBroken(op: string, broken: [string, string][], exist: boolean): Promise<void> {
    for (const [name, rest] of broken) {
      const { known } = await this.target(op, name);
      await this.send(op, adtEntries(Cmd.Add, name, known, [rest], { exist, op, saved: true }), Cmd.Add, known.type);
    }
  }

  /**
   * Replaces a set's members atomically: a temporary set of the same type is filled, swapped
   * in, and destroyed. Packets see either the old members or the new ones, never a mix.
   * `signal`: an aborted one rejects with an AbortedError before the temporary set is created
   * (nothing changed); after that the call runs to its end.
   * @example await h.replace('allowed', ['10.0.0.1', '10.0.0.2']);
   */
  replace(name: string, entries: Entry[], opts: ReplaceOptions = {}): Promise<void> {
    return this.run('ipset.replace', async () => {
      const op = 'ipset.replace';
      checkArray(ctx(op), 'entries', entries);
      const { signal, onProgress } = checkOpts(ctx(op), 'options', opts, { signal: 'signal', onProgress: 'function' });
      throwIfAborted(signal, op, 'ipset');
      const progress = new ProgressReport(onProgress as ProgressCallback | undefined, entries.length);
      const { known, sets, header } = await this.target(op, name);
      const tmp = tempName();
      // Everything is checked and encoded before the temporary set exists.
      const batch = adtEntries(Cmd.Add, tmp, known, entries, { op, ...(sets ? { sets } : {}) });
      throwIfAborted(signal, op, 'ipset');
      await this.exec(op, `create ${tmp} ${known.type} ${header}\n`);
      try {
        const f = await this.sendWatched(op, batch, progress);
        if (f) throw ipsetError(op, f, {}, { cmd: Cmd.Add, type: known.type, at: entryAt });
        await this.send(op, simpleMessage(Cmd.Swap, tmp, name), Cmd.Swap);
      } catch (e) {
        await this.dropQuietly([tmp]);
        // The set itself was never touched.
        progress.end(0);
        throw e;
      }
      progress.end(entries.length);
      await this.send(op, simpleMessage(Cmd.Destroy, tmp), Cmd.Destroy);
    });
  }

  /**
   * Makes a set's members equal to `entries`, changing only the difference: one batch of
   * deletes, one of adds, and the members whose extensions (comment, timeout, skbinfo,
   * nomatch) differ added again with -exist. Untouched members keep their counters and
   * timeouts. Not atomic: between the two batches packets see the old members minus the
   * deleted ones (replace() swaps atomically but resets every member). Without `create`, a
   * missing set is a NotFoundError. `signal`: an aborted one rejects with an AbortedError before
   * the set is created or either batch is sent (nothing changed); after that the call runs to its end.
   * @example
   * const r = await h.sync('allowed', ['10.0.0.1', '10.0.0.2']);
   * console.log(r.added, r.removed);
   */
  sync(name: string, entries: Entry[], opts: IpsetSyncOptions = {}): Promise<IpsetSyncResult> {
    const op = 'ipset.sync';
    try {
      checkName(name, op);
      checkOpts(ctx(op), 'options', opts, { create: 'object', signal: 'signal', onProgress: 'function' });
      throwIfAborted(opts.signal, op, 'ipset');
      // With `create` the type is known: the entries are checked before the kernel is asked.
      if (opts.create) {
        canonicalEntries(entries, { type: opts.create.type, family: opts.create.options?.family ?? 'inet', ...maskOptions(opts.create.options ?? {}) }, op);
      } else if (!Array.isArray(entries)) {
        throw new InvalidArgumentError(`${op}: expects an array of entries`, { op, subsystem: 'ipset' });
      }
    } catch (e) {
      return this.run(op, () => Promise.reject(e));
    }
    return this.run(op, async () => {
      let created = false;
      let info: SetInfo | undefined;
      try {
        info = parseList((await this.exec(op, `list ${name}\n`)).output)[0];
      } catch (e) {
        if (!(e instanceof NotFoundError) || !opts.create) throw e;
      }
      if (!info) {
        if (!opts.create) throw new NotFoundError(`${op}: set ${name} not found`, { op, subsystem: 'ipset' });
        throwIfAborted(opts.signal, op, 'ipset');
        await this.exec(op, formatCreate(name, opts.create.type, opts.create.options ?? {}) + '\n');
        created = true;
        info = parseList((await this.exec(op, `list ${name}\n`)).output)[0]!;
      } else if (opts.create && opts.create.type !== info.type) {
        throw new ExistsError(`${op}: set ${name} exists with type ${info.type}, not ${opts.create.type}`, { op, subsystem: 'ipset' });
      }
      const known = knownOf(info);
      const h = info.header;
      const plan = planIpsetSync(info.members ?? [], entries, {
        type: info.type, family: known.family, ...maskOptions(h as CreateOptions),
      });
      const sets = known.type === 'list:set' ? { sets: await this.knownAll(op) } : {};
      // Both batches are encoded (and so checked against the set) before either is sent.
      const adds = plan.update.length ? plan.add.concat(plan.update) : plan.add;
      const delBatch = plan.del.length ? adtEntries(Cmd.Del, name, known, plan.del, { exist: true, op, ...sets }) : undefined;
      const addBatch = adds.length ? adtEntries(Cmd.Add, name, known, adds, { exist: true, op, ...sets }) : undefined;
      if (!created) throwIfAborted(opts.signal, op, 'ipset');
      // Counted in members changed: the deletes, then the adds and updates.
      const progress = new ProgressReport(opts.onProgress, plan.del.length + adds.length);
      let done = 0;
      for (const [b, cmd] of [[delBatch, Cmd.Del], [addBatch, Cmd.Add]] as const) {
        if (!b) continue;
        const f = await this.sendWatched(op, b, progress);
        if (f) {
          // sync does not undo: what the kernel took stays.
          progress.end(done + appliedOf(b, f));
          throw ipsetError(op, f, {}, { cmd, type: known.type, at: entryAt });
        }
        done += b === delBatch ? plan.del.length : adds.length;
        progress.advance(done);
      }
      progress.end(done);
      return { added: plan.add.length, removed: plan.del.length, updated: plan.update.length, unchanged: plan.unchanged, created };
    });
  }

  private async adt(which: 'add' | 'del', name: string, entries: Entry | Entry[], exist: boolean, op = `ipset.${which}`, signal?: AbortSignal,
    onProgress?: ProgressCallback): Promise<void> {
    const list = Array.isArray(entries) ? entries : [entries];
    const progress = new ProgressReport(onProgress, list.length);
    if (list.length === 0) {
      progress.end(0);
      return;
    }
    const { known, sets } = await this.target(op, name);
    const cmd = which === 'add' ? Cmd.Add : Cmd.Del;
    const opts = { exist, op, ...(sets ? { sets } : {}) };
    const batch = adtEntries(cmd, name, known, list, opts);
    // What a refusal midway could lose is read first: the members a del removes (with their
    // extensions), those an add -exist updates, the part of a range before the refused element.
    // Without -exist and ranges, the entries before the refused one each changed the set by one
    // member: an add is undone exactly by deleting them, and so is a del by adding them again
    // when a member is no more than its element (no extensions, no nomatch, no list position).
    const bare = !known.timeout && !known.counters && !known.comment && !known.skbinfo && !known.type.includes('net') && known.type !== 'list:set';
    const simple = !exist && !batch.ranges && (which === 'add' || bare);
    const before = simple ? undefined : await this.saved(op, name);
    throwIfAborted(signal, op, 'ipset');
    const f = await this.sendWatched(op, batch, progress);
    if (!f) {
      progress.end(list.length);
      return;
    }
    const err = ipsetError(op, f, {}, { cmd, type: known.type, at: entryAt });
    const entry = err.entry;
    // What stays applied once the undo below ran: nothing, unless it failed.
    let stays = 0;
    if (before !== undefined) {
      if (!(await this.putBack(op, [before], err))) stays = appliedOf(batch, f);
    } else if (entry !== undefined && entry > 0) {
      const undo = adtEntries(which === 'add' ? Cmd.Del : Cmd.Add, name, known, list.slice(0, entry).map(elementOnly), { ...opts, exist: true });
      const undone = await this.native(op, (w) => refusal(w, undo)).then((u) => u === undefined, () => false);
      if (!undone) {
        err.message += `; entries 0 to ${entry - 1} were ${which === 'add' ? 'added' : 'deleted'} and could not be undone`;
        stays = entry;
      }
    }
    progress.end(stays);
    throw err;
  }

  /** One set's `ipset save` text, and when it was read. */
  private async saved(op: string, name: string): Promise<Saved> {
    const at = Date.now();
    return { name, text: (await this.exec(op, `save ${name}\n`)).output, at };
  }

  /**
   * After a refusal: makes each set equal to its `ipset save` text from before, by content. A
   * member that is gone or changed is added again as it was saved (a timeout as the time that
   * was left), one that was not there is deleted. When that fails too, `err` says what stays.
   */
  private async putBack(op: string, saved: Saved[], err: NlkitError): Promise<boolean> {
    const failed: string[] = [];
    for (const { name, text, at } of saved) {
      try {
        const now = await this.exec(op, `save ${name}\n`).then((r) => r.output, (e: unknown) => {
          if (e instanceof NotFoundError) return undefined;
          throw e;
        });
        // Destroyed by the failed text: made again; else only what differs.
        const { plain, broken } = splitSaved(now === undefined ? text : undoText(name, text, now, Math.ceil((Date.now() - at) / 1000)).join('\n'));
        if (plain) await this.exec(op, plain, now !== undefined);
        await this.addBroken(op, broken, now !== undefined);
      } catch (e) {
        failed.push(`${name} (${e instanceof Error ? e.message : String(e)})`);
      }
    }
    if (failed.length) err.message += `; set${failed.length > 1 ? 's' : ''} ${failed.join(', ')} could not be put back as ${failed.length > 1 ? 'they were' : 'it was'} and keep${failed.length > 1 ? '' : 's'} the changes made before the refusal`;
    return failed.length === 0;
  }

  /** The set an operation works on: what validation needs to know of it, read from the kernel. */
  private async target(op: string, name: string): Promise<{ known: KnownSet; sets?: Map<string, KnownSet>; header: string }> {
    const r = await this.exec(op, `list ${checkName(name, op)} -t\n`);
    const info = parseList(r.output)[0];
    if (!info) throw new NotFoundError(`${op}: set ${name} not found`, { op, subsystem: 'ipset' });
    const known = knownOf(info);
    const header = (/^Header: (.*)$/m.exec(r.output)?.[1] ?? '').replace(/\s*initval 0x[0-9a-f]+/, '');
    // list:set members are other sets: check them against every set there is.
    return known.type === 'list:set' ? { known, sets: await this.knownAll(op), header } : { known, header };
  }

  private async knownAll(op: string): Promise<Map<string, KnownSet>> {
    const r = await this.exec(op, 'list -t\n');
    return new Map(parseList(r.output).map((s) => [s.name, knownOf(s)]));
  }

  private async dropQuietly(names: string[]): Promise<void> {
    // One call per set, since a text stops at its first error; all flushed first, since a
    // created list:set holding another created set keeps that one from being destroyed.
    for (const n of names) await this.exec('ipset.rollback', `flush ${n}\n`).catch(() => undefined);
    for (const n of names) await this.exec('ipset.rollback', `destroy ${n}\n`).catch(() => undefined);
  }
}

function knownOf(s: SetInfo): KnownSet {
  const h = s.header;
  return {
    type: s.type,
    family: h.family ?? 'inet',
    timeout: h.timeout !== undefined,
    counters: h.counters === true,
    comment: h.comment === true,
    skbinfo: h.skbinfo === true,
  };
}

const ctx = (op: string): ArgContext => ({ op, subsystem: 'ipset' });

function checkName(name: string, op: string): string {
  checkString({ op, subsystem: 'ipset' }, 'set name', name, { nonEmpty: true, nul: false });
  if (name.length > 31 || /[\s"]/.test(name)) {
    throw new InvalidArgumentError(`${op}: invalid set name ${JSON.stringify(name)} (1 to 31 characters, no spaces)`, {
      op, subsystem: 'ipset', argument: String(name),
    });
  }
  return name;
}

function tempName(): string {
  return `nlkit-${process.pid.toString(36)}-${(tempCounter++).toString(36)}`.slice(0, 31);
}

/** The element alone (no extension options): what undoing an add or a del needs. */
function elementOnly(e: Entry): Entry {
  if (typeof e === 'string') return e.trimStart().split(/\s+/, 1)[0]!;
  const { ip, port, proto, ip2, mac, mark, iface, physdev, set } = e;
  return { ip, port, proto, ip2, mac, mark, iface, physdev, set };
}

/** The rename and swap commands of restore text lines: [command, first set, second set]. */
function movesIn(lines: string[]): string[][] {
  const out: string[][] = [];
  for (const line of lines) {
    const m = /^\s*(rename|-E|swap|-W)\s+(\S+)\s+(\S+)/.exec(line);
    if (m) out.push([m[1] === 'swap' || m[1] === '-W' ? 'swap' : 'rename', m[2]!, m[3]!]);
  }
  return out;
}

/** Saved text as restore text, and the members (set, rest of the record) that no restore text can carry. */
function splitSaved(text: string): { plain: string; broken: [string, string][] } {
  let plain = '';
  const broken: [string, string][] = [];
  for (const r of savedRecords(text)) {
    const m = r.includes('\n') ? /^add (\S+) ([^]*)$/.exec(r) : null;
    if (m) broken.push([m[1]!, m[2]!]);
    else plain += r + '\n';
  }
  return { plain, broken };
}

interface Saved {
  name: string;
  text: string;
  /** Date.now() when it was read. */
  at: number;
}

/** Moves a libipset error's line from its step's text to the whole text. */
function atLine(e: unknown, map: (line: number) => number): unknown {
  if (e instanceof NlkitError && e.line !== undefined) {
    e.line = map(e.line);
    e.message = e.message.replace(/^([\w.]+: )/, `$1line ${e.line}: `);
  }
  return e;
}

/** The header options that change how members are stored (netmask, markmask). */
function maskOptions(o: CreateOptions): { netmask?: number | string; markmask?: number } {
  return { ...(o.netmask !== undefined ? { netmask: o.netmask } : {}), ...(o.markmask !== undefined ? { markmask: o.markmask } : {}) };
}

/** Entries of an add/del batch the kernel applied before it refused one (at most). */
function appliedOf(batch: Batch, f: NativeFailure): number {
  if (f.line !== undefined && f.line > 0) return f.line - 1;
  // the messages before the refused one were each acknowledged (applied)
  return batch.entriesBefore?.[f.index ?? 0] ?? 0;
}
