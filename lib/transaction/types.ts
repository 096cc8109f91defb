// Public shapes of transaction() (DESIGN.md "transactions across subsystems"): the `tx` the
// callback queues changes on (one object per participant, lib/<subsystem>/participant.ts), the
// plan those calls become, and what a finished transaction reports.
import type { participants } from './participants.js';
import type { TransactionOptions } from './options.js';

export type * from './participants.js';
export type { TransactionOptions, TxFamily } from './options.js';

type Participants = (typeof participants)[number];

/** The handle given to the transaction's callback: `tx.<participant>` for each participant. */
export type Tx = { readonly [P in Participants as P['name']]: ReturnType<P['api']> } & {
  /** The operations queued so far, in the order they would apply. Touches nothing. */
  plan(): PlannedOp[];
};

/** One planned operation of any participant. */
export type PlannedOp = ReturnType<Participants['plan']>[number];

/**
 * When an operation runs: its participant's phase, or that participant's release phase
 * (lib/transaction/order.ts): link, ipset, ipvs, nft, iptables, ipvs-release, ipset-release, link-release.
 */
export type Phase = PlannedOp['phase'];

export interface TransactionTimings {
  /** Checking every queued change (including native dry-run compiles of iptables tables). */
  validateMs: number;
  /** Waiting for the xtables lock. */
  lockMs: number;
  /** Saving the state the transaction touches. */
  snapshotMs: number;
  applyMs: number;
  /** Undoing after a failure (0 when none). */
  rollbackMs: number;
  totalMs: number;
}

export interface TransactionResult {
  /** What was (or, for a dry run, would be) applied, in order. */
  plan: PlannedOp[];
  /** Operations applied (0 for a dry run). */
  applied: number;
  dryRun: boolean;
  timings: TransactionTimings;
}

/**
 * The signature of transaction() (lib/transaction/index.ts). `fn` queues changes on `tx`; the
 * returned promise settles when they are applied, or rejects with TransactionError (after
 * restoring the state found) or with the validation error (nothing touched).
 */
export interface TransactionFn {
  (fn: (tx: Tx) => void | Promise<void>, opts?: TransactionOptions): Promise<TransactionResult>;
  /**
   * Validates and plans without changing the kernel (it reads what validation needs). A table
   * whose rules match a set the transaction creates is checked for structure only.
   * @example
   * const ops = await transaction.plan((tx) => { tx.ipset.flush('allowed'); });
   */
  plan(fn: (tx: Tx) => void | Promise<void>, opts?: TransactionOptions): Promise<PlannedOp[]>;
}
