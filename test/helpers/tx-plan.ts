// A transaction queue's plan as text, for comparing against the order a test expects.
import type { TxQueue } from '../../lib/transaction/queue.js';

/**
 * The plan a line per change: `index phase what`, `what` being the op's name or its summary.
 * @example
 * assert.equal(planText(tx, 'op'), '1 ipset ipset.create\n0 iptables iptables.restore');
 */
export const planText = (tx: TxQueue, what: 'op' | 'summary'): string =>
  tx.plan().map((o) => `${o.index} ${o.phase} ${o[what]}`).join('\n');
