// An iptables handle that can also compile a restore text without committing it: the native
// restore's dry run reads the kernel's table, compiles every line through libxtables and builds
// the new table in memory, and stops before the replace.
import { UnsupportedError } from '../errors.js';
import { refusal } from './backend.js';
import { IptablesHandle } from './handle.js';
import { problemError, restoreFailure } from './errors.js';
import { planRestore } from './restore-text.js';
import { binding, type IptablesTableRequest } from '../native.js';

export interface CheckOptions {
  table?: string;
  noflush?: boolean;
  counters?: boolean;
}

export class TxIptablesHandle extends IptablesHandle {
  #backendChecked = false;

  /** Throws what restore() would throw for `text`, without changing the kernel. */
  async check(text: string, opts: CheckOptions = {}): Promise<void> {
    const op = `${this.family === 6 ? 'ip6tables' : 'iptables'}.restore`;
    // Refuse an nf_tables namespace (backend 'auto') before compiling against its legacy tables.
    if (this.backendMode === 'auto' && !this.#backendChecked) {
      const info = await this.backend();
      if (info.hostBackend === 'nft') throw new UnsupportedError(`${op}: ${refusal(info, this.family)}`, { op, subsystem: 'iptables', code: 'EOPNOTSUPP' });
      this.#backendChecked = true;
    }
    return this.run(op, async () => {
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
}
