// The `tx` a transaction's callback receives: every call only records what to do. The record
// keeps copies of the arguments, so changing an array after queueing it changes nothing.
import { InvalidArgumentError } from '../errors.js';
import { badArgument, checkOptions, checkOpts, checkString, type ArgContext } from '../args.js';
import type { CreateOptions, Entry, SetType } from '../ipset/types.js';
import type { DestinationInput, DestinationKey, ServiceInput, ServiceKey } from '../ipvs/types.js';
import { orderPlan } from './order.js';
import { describeIpset, describeIpvs } from './describe.js';
import type {
  PlannedIpsetOp, PlannedIpvsOp, PlannedOp, Tx, TxExistOption, TxFamily, TxIpset, TxIpsetSyncOptions, TxIptables, TxIpvs,
  TxIpvsSyncOptions, TxIpvsWanted, TxRestoreOptions, TxTableOptions,
} from './types.js';
import type { TableBuilder } from '../iptables/builder.js';

/** Distributes Omit over a union, so each variant keeps its own fields. */
type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An ipset or IPVS call as queued: its plan entry before a phase is given to it. */
export type QueuedIpset = DistOmit<PlannedIpsetOp, 'phase'>;
export type QueuedIpvs = DistOmit<PlannedIpvsOp, 'phase'>;

/** An iptables call as queued: a text now, or a builder whose text is read when planning. */
export interface QueuedIptables {
  subsystem: 'iptables';
  index: number;
  source: { text: string } | { table: string; builder: TableBuilder };
  family: TxFamily;
  table?: string;
  noflush: boolean;
  counters: boolean;
}

export type Queued = QueuedIpset | QueuedIptables | QueuedIpvs;

/** Makes the builder tx.iptables.table() returns. */
export type BuilderFactory = (name: string, opts: { noflush: boolean }) => TableBuilder;

const OP = 'transaction';

function bad(message: string, argument?: string): InvalidArgumentError {
  return new InvalidArgumentError(`${OP}: ${message}`, { op: OP, ...(argument !== undefined ? { argument } : {}) });
}

/** A copy of the entries, each a string or an object (their fields are checked against the set later). */
const copyEntries = (e: Entry | Entry[], op = 'ipset'): Entry[] =>
  (Array.isArray(e) ? e : [e]).map((x, i) => {
    if (typeof x === 'string') return x;
    if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x) || Array.isArray(x)) {
      throw badArgument({ op: `tx.${op}`, subsystem: 'ipset' }, `entry ${i}`, x, 'a string or an entry object');
    }
    return { ...x };
  });

function checkFamily(f: unknown): TxFamily {
  if (f !== 4 && f !== 6 && f !== 'both') throw bad(`family must be 4, 6 or 'both', not ${JSON.stringify(f)}`, String(f));
  return f;
}

const txCtx = (op: string): ArgContext => ({ op: `tx.${op}`, subsystem: op.startsWith('ipvs') ? 'ipvs' : op.startsWith('ipset') ? 'ipset' : 'iptables' });
const existOf = (op: string, o: TxExistOption | undefined): boolean => checkOpts(txCtx(op), 'options', o, { exist: 'boolean' }).exist === true;

export class TxQueue implements Tx {
  readonly items: Queued[] = [];
  #sealed = false;
  readonly ipset: TxIpset;
  readonly iptables: TxIptables;
  readonly ipvs: TxIpvs;

  constructor(readonly defaultFamily: TxFamily, makeBuilder: BuilderFactory) {
    const q = this;
    const ipset = (o: DistOmit<QueuedIpset, 'index' | 'summary' | 'subsystem'>): void => {
      // Set names are checked whole at validation; a wrong JS type is refused here, where it is named.
      for (const k of ['name', 'from', 'to', 'a', 'b', 'type'] as const) {
        const v = (o as Record<string, unknown>)[k];
        if (k in o && (typeof v !== 'string' || (v as string).includes('\0'))) {
          checkString({ op: `tx.${o.op}`, subsystem: 'ipset' }, k === 'type' ? 'type' : 'set name', v, { nul: false });
        }
      }
      const item = { ...o, subsystem: 'ipset', index: q.next() } as QueuedIpset;
      item.summary = describeIpset(item);
      q.items.push(item);
    };
    const ipvs = (o: DistOmit<QueuedIpvs, 'index' | 'summary' | 'subsystem'>): void => {
      const item = { ...o, subsystem: 'ipvs', index: q.next() } as QueuedIpvs;
      item.summary = describeIpvs(item);
      q.items.push(item);
    };
    this.ipset = {
      create(name: string, type: SetType, opts: CreateOptions = {}, o: TxExistOption = {}) {
        checkOptions(txCtx('ipset.create'), 'create options', opts);
        ipset({ op: 'ipset.create', name, type, options: { ...opts }, exist: existOf('ipset.create', o) });
        return this;
      },
      destroy(name?: string) {
        ipset(name === undefined ? { op: 'ipset.destroy' } : { op: 'ipset.destroy', name });
        return this;
      },
      flush(name?: string) {
        ipset(name === undefined ? { op: 'ipset.flush' } : { op: 'ipset.flush', name });
        return this;
      },
      add(name: string, entries: Entry | Entry[], o: TxExistOption = {}) {
        ipset({ op: 'ipset.add', name, entries: copyEntries(entries, 'ipset.add'), exist: existOf('ipset.add', o) });
        return this;
      },
      delete(name: string, entries: Entry | Entry[], o: TxExistOption = {}) {
        // Queued as 'ipset.del' (the plan's op name, which describe/rollback key on).
        ipset({ op: 'ipset.del', name, entries: copyEntries(entries, 'ipset.delete'), exist: existOf('ipset.delete', o) });
        return this;
      },
      del(name: string, entries: Entry | Entry[], o: TxExistOption = {}) {
        ipset({ op: 'ipset.del', name, entries: copyEntries(entries, 'ipset.del'), exist: existOf('ipset.del', o) });
        return this;
      },
      rename(from: string, to: string) {
        ipset({ op: 'ipset.rename', from, to });
        return this;
      },
      swap(a: string, b: string) {
        ipset({ op: 'ipset.swap', a, b });
        return this;
      },
      restore(text: string, o: TxExistOption = {}) {
        if (typeof text !== 'string') throw bad('tx.ipset.restore: text must be a string');
        ipset({ op: 'ipset.restore', text, exist: existOf('ipset.restore', o) });
        return this;
      },
      replace(name: string, entries: Entry[]) {
        if (!Array.isArray(entries)) throw bad('tx.ipset.replace: entries must be an array');
        ipset({ op: 'ipset.replace', name, entries: copyEntries(entries) });
        return this;
      },
      sync(name: string, entries: Entry[], opts: TxIpsetSyncOptions = {}) {
        if (!Array.isArray(entries)) throw bad('tx.ipset.sync: entries must be an array');
        checkOpts(txCtx('ipset.sync'), 'options', opts, { create: 'object' });
        ipset({ op: 'ipset.sync', name, entries: copyEntries(entries), options: { ...opts } });
        return this;
      },
    };
    this.iptables = {
      restore(text: string, opts: TxRestoreOptions = {}) {
        if (typeof text !== 'string') throw bad('tx.iptables.restore: text must be a string');
        checkOpts(txCtx('iptables.restore'), 'options', opts, { noflush: 'boolean', counters: 'boolean', table: 'string' });
        q.items.push({
          subsystem: 'iptables', index: q.next(), source: { text },
          family: checkFamily(opts.family ?? q.defaultFamily),
          ...(opts.table !== undefined ? { table: opts.table } : {}),
          noflush: opts.noflush === true, counters: opts.counters === true,
        });
        return this;
      },
      table(name: string, opts: TxTableOptions = {}): TableBuilder {
        if (typeof name !== 'string' || name.length === 0) throw bad('tx.iptables.table: a table name is needed', String(name));
        checkOpts(txCtx('iptables.table'), 'options', opts, { noflush: 'boolean' });
        const family = checkFamily(opts.family ?? q.defaultFamily);
        const builder = makeBuilder(name, { noflush: opts.noflush === true });
        q.items.push({
          subsystem: 'iptables', index: q.next(), source: { table: name, builder },
          family, table: name, noflush: opts.noflush === true, counters: false,
        });
        return builder;
      },
    };
    this.ipvs = {
      addService(service: ServiceInput) {
        ipvs({ op: 'ipvs.addService', service: { ...service } });
        return this;
      },
      updateService(service: ServiceInput) {
        ipvs({ op: 'ipvs.updateService', service: { ...service } });
        return this;
      },
      deleteService(service: ServiceKey) {
        ipvs({ op: 'ipvs.deleteService', service: { ...service } });
        return this;
      },
      addDestination(service: ServiceKey, destination: DestinationInput) {
        ipvs({ op: 'ipvs.addDestination', service: { ...service }, destination: { ...destination } });
        return this;
      },
      updateDestination(service: ServiceKey, destination: DestinationInput) {
        ipvs({ op: 'ipvs.updateDestination', service: { ...service }, destination: { ...destination } });
        return this;
      },
      deleteDestination(service: ServiceKey, destination: DestinationKey) {
        ipvs({ op: 'ipvs.deleteDestination', service: { ...service }, destination: { ...destination } });
        return this;
      },
      flush() {
        ipvs({ op: 'ipvs.flush' });
        return this;
      },
      sync(services: TxIpvsWanted[], opts: TxIpvsSyncOptions = {}) {
        if (!Array.isArray(services)) throw bad('tx.ipvs.sync: services must be an array');
        checkOpts(txCtx('ipvs.sync'), 'options', opts, { prune: 'boolean|function' });
        const copy = services.map((s) => ({ ...s, destinations: Array.isArray(s.destinations) ? s.destinations.map((d) => ({ ...d })) : s.destinations }));
        ipvs({ op: 'ipvs.sync', services: copy, options: { ...opts } });
        return this;
      },
    };
  }

  private next(): number {
    if (this.#sealed) throw bad('the transaction has already started: queue changes inside its callback, before it returns');
    return this.items.length;
  }

  /** No more changes: the callback has returned. */
  seal(): void {
    this.#sealed = true;
  }

  plan(): PlannedOp[] {
    return orderPlan(this.items);
  }
}
