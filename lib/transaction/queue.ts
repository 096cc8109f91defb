// The `tx` a transaction's callback receives: `tx.<name>` for each participant, whose calls
// only record what to do. The records keep copies of the arguments, so changing an array after
// queueing it changes nothing.
import { InvalidArgumentError } from '../core/errors.js';
import { byPhase, dependencyOrder, phaseOrder } from './order.js';
import type { TransactionOptions } from './options.js';
import type { Participant, PlannedBase } from './participant.js';
import { participants } from './participants.js';
import type { PlannedOp, Tx } from './types.js';

/** The list in dependency order, and its phases in the order they run. */
export const ordered: readonly Participant<string, unknown, { index: number }, PlannedBase>[] =
  dependencyOrder(participants as unknown as Participant<string, unknown, { index: number }, PlannedBase>[]);
export const PHASES: readonly string[] = phaseOrder(ordered);

/** `tx.<name>` of every participant. */
type TxParts = Omit<Tx, 'plan'>;

export interface TxQueue extends TxParts {}

export class TxQueue {
  /** Queued items by participant name, each with its queue index. */
  readonly items = new Map<string, { index: number }[]>();
  #count = 0;
  #sealed = false;

  /**
   * @example
   *   const q = new TxQueue({ family: 4 });
   *   q.ipset.create('a', 'hash:ip');
   *   q.plan(); // [{ subsystem: 'ipset', op: 'ipset.create', phase: 'ipset', ... }]
   */
  constructor(opts: TransactionOptions = {}) {
    for (const p of ordered) {
      const list: { index: number }[] = [];
      this.items.set(p.name, list);
      const api = p.api((item) => {
        const index = this.next();
        list.push({ ...item, index });
        return index;
      }, opts);
      Object.defineProperty(this, p.name, { value: api, enumerable: true });
    }
  }

  /** The callback's view of the queue. */
  get tx(): Tx {
    return this as unknown as Tx;
  }

  private next(): number {
    if (this.#sealed) {
      throw new InvalidArgumentError('transaction: the transaction has already started: queue changes inside its callback, before it returns', { op: 'transaction' });
    }
    return this.#count++;
  }

  /** No more changes: the callback has returned. */
  seal(): void {
    this.#sealed = true;
  }

  /** The queued operations in apply order (a table builder's text is read now). */
  plan(): PlannedOp[] {
    const out: PlannedBase[] = [];
    for (const p of ordered) {
      const items = this.items.get(p.name)!;
      if (items.length) out.push(...p.plan(items));
    }
    return byPhase(out, PHASES) as PlannedOp[];
  }
}
