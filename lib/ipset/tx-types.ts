// The shapes of tx.ipset (lib/ipset/participant.ts): what the callback calls and the plan entries it becomes.
import type { PlannedBase } from '../transaction/participant.js';
import type { IpsetSyncOptions } from './sync.js';
import type { CreateOptions, Entry, SetType } from './types.js';

export interface TxExistOption {
  /** Like `ipset -exist`: no error for a set/entry that already exists (or is already gone). */
  exist?: boolean;
}

/** Options of tx.ipset.sync(), as IpsetHandle.sync takes them (`create` makes the set when missing). */
export type TxIpsetSyncOptions = IpsetSyncOptions;

/** ipset changes of a transaction. Each call only queues; nothing runs until the callback returns. */
export interface TxIpset {
  create(name: string, type: SetType, opts?: CreateOptions, o?: TxExistOption): this;
  /** Destroys one set (or every set when no name is given) once the rules using it are gone. */
  destroy(name?: string): this;
  flush(name?: string): this;
  add(name: string, entries: Entry | Entry[], o?: TxExistOption): this;
  delete(name: string, entries: Entry | Entry[], o?: TxExistOption): this;
  /** @deprecated Use delete(); `del` stays for one release. */
  del(name: string, entries: Entry | Entry[], o?: TxExistOption): this;
  rename(from: string, to: string): this;
  swap(a: string, b: string): this;
  /** `ipset restore` text (checked whole, with the transaction's other ipset changes). */
  restore(text: string, o?: TxExistOption): this;
  /** Atomically replaces the members (IpsetHandle.replace). */
  replace(name: string, entries: Entry[]): this;
  /** Makes the members equal to `entries`, sending only the difference (IpsetHandle.sync). */
  sync(name: string, entries: Entry[], opts?: TxIpsetSyncOptions): this;
}

export type IpsetVariant =
  | { op: 'ipset.create'; name: string; type: SetType; options: CreateOptions; exist: boolean }
  | { op: 'ipset.destroy'; name?: string }
  | { op: 'ipset.flush'; name?: string }
  | { op: 'ipset.add' | 'ipset.del'; name: string; entries: Entry[]; exist: boolean }
  | { op: 'ipset.rename'; from: string; to: string }
  | { op: 'ipset.swap'; a: string; b: string }
  | { op: 'ipset.restore'; text: string; exist: boolean }
  | { op: 'ipset.replace'; name: string; entries: Entry[] }
  | { op: 'ipset.sync'; name: string; entries: Entry[]; options: TxIpsetSyncOptions };

/** When a set operation runs: before the rules ('ipset') or after them ('ipset-release'). */
export type PlannedIpsetOp = Omit<PlannedBase, 'subsystem' | 'phase'> & { subsystem: 'ipset'; phase: 'ipset' | 'ipset-release' } & IpsetVariant;
