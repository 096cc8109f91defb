// The handles of one transaction, opened on first use for the transaction's namespace only for
// the subsystems it touches, and closed together at its end.
import { IpsetHandle } from '../ipset/handle.js';
import { IpvsHandle } from '../ipvs/handle.js';
import { TxIptablesHandle } from './iptables-check.js';
import type { TransactionOptions } from './types.js';

export class TxHandles {
  #ipset: IpsetHandle | undefined;
  #ipvs: IpvsHandle | undefined;
  readonly #iptables = new Map<4 | 6, TxIptablesHandle>();

  constructor(private readonly opts: TransactionOptions) {}

  private get base(): { netns?: string } {
    return this.opts.netns !== undefined ? { netns: this.opts.netns } : {};
  }

  ipset(): IpsetHandle {
    return (this.#ipset ??= new IpsetHandle(this.base));
  }

  ipvs(): IpvsHandle {
    return (this.#ipvs ??= new IpvsHandle(this.base));
  }

  iptables(family: 4 | 6): TxIptablesHandle {
    let h = this.#iptables.get(family);
    if (!h) {
      const backend = this.opts.iptables?.backend;
      h = new TxIptablesHandle({ ...this.base, family, ...(backend !== undefined ? { backend } : {}) });
      this.#iptables.set(family, h);
    }
    return h;
  }

  async close(): Promise<void> {
    const all = [this.#ipset, this.#ipvs, ...this.#iptables.values()].filter((h) => h !== undefined);
    await Promise.allSettled(all.map((h) => h.close()));
  }
}
