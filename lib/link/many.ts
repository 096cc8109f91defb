// Many route or neighbour additions in one crossing: the links they name resolved from one
// dump, every request sent pipelined in one job (ip -batch waits for each ack in turn), and on
// a refusal the entries this call added removed again, so the error means nothing was added.
import { NotFoundError, NlkitError } from '../core/errors.js';
import { NETLINK_ROUTE } from '../netlink/headers.js';
import { dump, kernelError, send } from '../netlink/transport.js';
import type { RawWorker } from '../core/native.js';
import type { RunOn } from './routes.js';
import { SUBSYSTEM } from './addr.js';
import { RtWriter, Rtm, dumpLinks, eachMessage, parseLink } from './wire.js';

/** How addMany handles one kind of checked entry: the links it names, its name in errors, its request and undo. */
export interface ManyKind<T> {
  devs(x: T): readonly string[];
  /** What the error calls it ('route 10.0.0.0/24'). */
  what(x: T): string;
  /** Writes the request that adds `x` (undo: the one that deletes it again). */
  write(w: RtWriter, x: T, index: (name: string) => number, undo: boolean): void;
}

/** Checks every entry of `list` with `check`; a bad one is an error naming its position, and nothing is sent. */
export function checkEach<T>(list: readonly unknown[], what: string, check: (x: unknown) => T): T[] {
  return list.map((x, i) => {
    try {
      return check(x);
    } catch (e) {
      if (e instanceof NlkitError) {
        e.message = e.message.replace(/^([\w.]+): /, `$1: ${what}[${i}]: `);
        Object.assign(e, { index: i });
      }
      throw e;
    }
  });
}

/**
 * Adds every item in one pipelined send on the handle's worker. A missing link is a
 * NotFoundError before anything is sent; a refusal removes the items added and throws the
 * kernel's error for the first refused one, with its `index` in the list.
 */
export async function addMany<T>(op: string, w: RawWorker, items: readonly T[], kind: ManyKind<T>): Promise<void> {
  if (items.length === 0) return;
  let index = new Map<string, number>();
  if (items.some((x) => kind.devs(x).length)) {
    index = await linkIndex(w);
    for (let i = 0; i < items.length; i++) {
      for (const d of kind.devs(items[i]!)) {
        if (!index.has(d)) throw new NotFoundError(`${op}: [${i}]: link ${d} does not exist`, { op, subsystem: SUBSYSTEM, code: 'ENODEV', index: i });
      }
    }
  }
  const at = (name: string) => index.get(name)!;
  const wr = new RtWriter(64 + items.length * 80);
  for (const x of items) kind.write(wr, x, at, false);
  const res = await send(w, NETLINK_ROUTE, wr.batch(), { stopOnRefusal: true });
  const k = res.errnos.findIndex((e) => e > 0);
  if (k < 0) return;
  const added = items.filter((_, i) => res.errnos[i] === 0);
  if (added.length) {
    const u = new RtWriter(64 + added.length * 80);
    for (const x of added) kind.write(u, x, at, true);
    await send(w, NETLINK_ROUTE, u.batch()).catch(() => undefined);
  }
  throw kernelError(op, SUBSYSTEM, res.errnos[k]!, { what: `[${k}]: ${kind.what(items[k]!)}`, index: k, ...(res.messages[k] ? { detail: res.messages[k] } : {}) });
}

/** The links of the handle's namespace, name to index, from one dump. */
export async function linkIndex(w: RawWorker): Promise<Map<string, number>> {
  const index = new Map<string, number>();
  const wr = new RtWriter(64);
  dumpLinks(wr);
  const r = await dump(w, NETLINK_ROUTE, wr.batch());
  eachMessage(r.data, 0, r.sections[0]!, (type, at, len) => {
    if (type === Rtm.NewLink) { const l = parseLink(r.data, at, len); index.set(l.name, l.index); }
  });
  return index;
}

/**
 * What `check` returns handed to `then`, or a rejection with what it threw: input is checked
 * before anything is queued on the handle.
 * @example return checkThen(() => checkRule(rule, op), (spec) => run(op, (w) => send(w, spec)));
 */
export function checkThen<T, R>(check: () => T, then: (v: T) => Promise<R>): Promise<R> {
  let v: T;
  try {
    v = check();
  } catch (e) {
    return Promise.reject(e);
  }
  return then(v);
}

/** A list of additions: every entry checked (checkEach), then all sent in one crossing (addMany). */
export function addList<T>(run: RunOn, op: string, list: readonly unknown[], what: string, check: (x: unknown) => T, kind: ManyKind<T>): Promise<void> {
  return checkThen(() => checkEach(list, what, check), (items) => run(op, (w) => addMany(op, w, items, kind)));
}

/**
 * What h.routes and h.neighbours share: add (one, or an array checked whole and sent in one
 * crossing), replace and delete are one request each, alike but for the command; the subclass
 * checks and sends it (change) and checks an array's entries (checkEntry).
 * @example
 * class Things extends RtObjects<ThingInput, ThingInput, CheckedThing> {
 *   constructor(run: RunOn) { super(run, 'things', MANY); }
 *   protected checkEntry(op: string, x: unknown) { return checkThing(op, x); }
 *   protected change(op: string, cmd: 'add' | 'replace' | 'delete', x: unknown) { ... }
 * }
 */
export abstract class RtObjects<In, Del, Checked> {
  /**
   * @param run LinkHandle's run: work on the handle's worker, in call order
   * @param what the object's name in `link.<what>.add` and in errors about an array's entries
   * @param many how add() sends an array
   */
  protected constructor(protected readonly run: RunOn, private readonly what: string, private readonly many: ManyKind<Checked>) {}

  /** Checks one entry of an array given to add(); throws InvalidArgumentError. */
  protected abstract checkEntry(op: string, x: unknown): Checked;

  /** Checks one request and sends it. */
  protected abstract change(op: string, cmd: 'add' | 'replace' | 'delete', x: unknown): Promise<void>;

  /**
   * Adds one (ExistsError when it is there), as `ip route add` / `ip neigh add` do. An array
   * is checked whole, then sent in one crossing, pipelined (what `ip -batch` does a line at a
   * time); on a refusal the entries it added are removed and the error's `index` names the
   * refused one.
   * @example await h.routes.add({ dst: '10.2.0.0/16', gateway: '10.1.0.2', metric: 10 });
   * await h.neighbours.add([{ dst: '10.0.0.3', lladdr: '02:00:00:00:00:03', dev: 'eth0' }, { dst: '10.0.0.4', lladdr: '02:00:00:00:00:04', dev: 'eth0' }]);
   */
  add(x: In | readonly In[]): Promise<void> {
    const op = `link.${this.what}.add`;
    if (Array.isArray(x)) return addList(this.run, op, x, this.what, (v) => this.checkEntry(op, v), this.many);
    return this.change(op, 'add', x);
  }

  /**
   * Adds or replaces one, as `ip route replace` / `ip neigh replace` do.
   * @example await h.routes.replace({ dst: '10.2.0.0/16', dev: 'eth1' });
   * await h.neighbours.replace({ dst: 'fd00::2', lladdr: '02:00:00:00:00:03', dev: 'eth0', router: true });
   */
  replace(x: In): Promise<void> {
    return this.change(`link.${this.what}.replace`, 'replace', x);
  }

  /**
   * Deletes one, as `ip route del` / `ip neigh del` do; NotFoundError when there is none.
   * @example await h.routes.delete({ dst: '10.2.0.0/16' });
   * await h.neighbours.delete({ dst: '10.0.0.2', dev: 'eth0' });
   */
  delete(x: Del): Promise<void> {
    return this.change(`link.${this.what}.delete`, 'delete', x);
  }
}
