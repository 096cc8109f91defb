// The options of transaction() (lib/transaction/index.ts), which the engine and every participant read.

/** iptables family a queued iptables change goes to; 'both' applies the same text to IPv4 and IPv6. */
export type TxFamily = 4 | 6 | 'both';

export interface TransactionOptions {
  /** Network namespace of every change: a name from `ip netns add`, or an absolute path like /proc/PID/ns/net
   *  (relative paths and non-strings are refused with InvalidArgumentError). */
  netns?: string;
  /**
   * How long to wait for the xtables lock, in MILLISECONDS (before 0.x: seconds); `true` or
   * omitted waits as long as it takes. The lock is taken once, before the snapshot, and held
   * until the transaction has applied or rolled back. Only taken when the transaction touches iptables.
   */
  wait?: number | true;
  /** @deprecated The same as `wait` (milliseconds), its name before `wait` became milliseconds. Stays for one release. */
  waitTimeout?: number;
  /** Milliseconds between attempts while waiting for the lock (default 50). */
  waitInterval?: number;
  /** iptables backend, as iptables.open() takes it: 'auto' (default) refuses a namespace whose rules are nf_tables'. */
  iptables?: { backend?: 'auto' | 'legacy' };
  /** Default family of tx.iptables changes that name none (default 4). */
  family?: TxFamily;
  /** Validate and plan only, touch nothing (same as transaction.plan()). */
  dryRun?: boolean;
}

