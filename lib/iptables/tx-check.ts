// An iptables handle that can also compile a restore text without committing it: the native
// restore's dry run reads the kernel's table, compiles every line through libxtables and builds
// the new table in memory, and stops before the replace. On nf_tables it compiles and encodes
// without sending, and takes and puts back a table's snapshot (nft/snapshot.ts).
import { kernelError } from '../netlink/transport.js';
import { restoreWithNft } from './nft/handle-restore.js';
import { hostEncoding } from './nft/version.js';
import { snapshotNft, undoNft, type NftTableSnapshot } from './nft/snapshot.js';
import { IptablesHandle } from './handle.js';
import { problemError, restoreFailure } from './errors.js';
import { planRestore } from './restore-text.js';
import { binding, type IptablesTableRequest, type RawWorker } from '../core/native.js';

export interface CheckOptions {
  table?: string;
  noflush?: boolean;
  counters?: boolean;
}

export class TxIptablesHandle extends IptablesHandle {
  /** Throws what restore() would throw for `text`, without changing the kernel. */
  async check(text: string, opts: CheckOptions = {}): Promise<void> {
    const op = `${this.family === 6 ? 'ip6tables' : 'iptables'}.restore`;
    return this.run(op, async () => {
      if (await this.checkBackend(op, true) === 'nft') {
        // everything but the commit: compiled (onto the tables as read, for noflush) and encoded
        await restoreWithNft({ op, family: this.family, cache: null, native: (fn) => this.native(op, fn), encoding: await hostEncoding() }, text, opts, true);
        return;
      }
      const plan = planRestore(text, opts.table !== undefined ? { table: opts.table } : {});
      const tables: IptablesTableRequest[] = plan.tables.map((t) => ({
        name: t.name, flush: !opts.noflush, body: t.body, line: t.line, firstLine: t.firstLine, commitLine: t.commitLine, chains: t.chains,
      }));
      if (tables.length) {
        await this.native(op, (w) => binding().iptablesRestore(w, null, {
          family: this.family, counters: opts.counters ?? false, tables, dryRun: true,
        }).catch(restoreFailure(op, text)));
      }
      if (plan.error) throw problemError(op, { kind: 'parse', message: plan.error.message, errno: 22, line: plan.error.line }, text);
    });
  }

  /** Whether this handle writes nf_tables (its backend, or what 'auto' decides here). */
  onNft(): Promise<boolean> {
    const op = `${this.family === 6 ? 'ip6tables' : 'iptables'}.backend`;
    return this.run(op, async () => (await this.checkBackend(op, true)) === 'nft');
  }

  /** One nf_tables table as the kernel holds it, for undoNft() (nft/snapshot.ts). */
  snapshotNft(table: string): Promise<NftTableSnapshot> {
    const op = `${this.family === 6 ? 'ip6tables' : 'iptables'}.snapshot`;
    return this.run(op, () => snapshotNft((fn) => this.native(op, fn), op, this.family, table));
  }

  /** Puts a table back as snapshotNft() read it, in one batch. */
  undoNft(snap: NftTableSnapshot): Promise<void> {
    const op = `${this.family === 6 ? 'ip6tables' : 'iptables'}.undo`;
    return this.run(op, async () => {
      const native = <T>(fn: (w: RawWorker) => Promise<T>) => this.native(op, fn);
      const r = await undoNft(native, snap, await snapshotNft(native, op, this.family, snap.table));
      const e = r.errors[0];
      if (e) throw kernelError(op, 'iptables', e.errno, { what: `cannot put table ${snap.table} back`, ...(e.message ? { detail: e.message } : {}) });
    });
  }
}
