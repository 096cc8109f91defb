// The agent: turns a config into kernel state, one atomic change per config, in one of three
// modes. `iptables`: the nat table alone (iptables-mode.ts), after the first change only the
// chains that changed (kube-proxy's partial sync; one table is one atomic replace, two tables a
// transaction). `ipvs`: the service addresses on the dummy kube-ipvs0, IPVS services, the
// KUBE-CLUSTER-IP set and constant nat rules in one transaction (ipvs-mode.ts). `nftables`: one nft table, one atomic batch holding only
// what changed (nftables-mode.ts). Either way, a change the kernel refuses leaves the state
// as it was before it, and the proxy keeps serving the last config that applied. After a change
// applied, the conntrack entries of removed UDP endpoints and services are deleted (conntrack.ts).
// Besides the changes, a periodic full resync (kube-proxy's) rewrites everything the proxy owns
// from the last config that applied, which repairs what someone else changed in it.
import { TransactionError, iptables, link, nft, transaction } from '../../lib/index.js';
import type { TransactionResult, Tx } from '../../lib/transaction/index.js';
import type { Family, ProxyConfig } from './config.js';
import { readNat } from './chains.js';
import { describeChanges } from './diff.js';
import { type IptablesRendering, iptablesModeRules, iptablesModeUpdate, renderIptables } from './iptables-mode.js';
import { deleteStaleFlows } from './conntrack.js';
import { type Rendered, TABLE, nftModeCommands, renderNft } from './nftables-mode.js';
import {
  CLUSTER_IP_SET, CLUSTER_IP_SET_TYPE, DUMMY, type IpvsPlan, type IpvsPlanChanges, type IpvsServicePlan, NODE_PORT_SET_RANGE, NODE_PORT_SET_TYPE, ipvsModeRules,
  ipvsPlan, ipvsPlanChanges, setName,
} from './ipvs-mode.js';

export type Mode = 'iptables' | 'ipvs' | 'nftables';

export interface ProxyOptions {
  mode: Mode;
  /** Network namespace to program (default: our own). */
  netns?: string;
  /** Where log lines go (default console.log). */
  log?: (line: string) => void;
  /** Milliseconds to wait for the xtables lock (default: as long as it takes). */
  wait?: number | true;
  /**
   * Delete the conntrack entries of removed UDP endpoints and services after each change
   * (default true, as kube-proxy does). Off, clients keep their flows to removed endpoints
   * until the entries time out.
   */
  conntrackCleanup?: boolean;
  /**
   * Milliseconds from one full sync to the next resync() the proxy runs by itself: a full sync
   * of the last config that applied, which rewrites everything the proxy owns and so repairs
   * what someone else changed in it. 0: only when resync() is called. Default: kube-proxy's
   * (FULL_SYNC_PERIOD): an hour in the iptables and nftables modes, 30 s in the ipvs mode.
   */
  fullSyncPeriod?: number;
}

/**
 * kube-proxy's periods of full syncs, by mode (checked against kubernetes/kubernetes, Dec 2026).
 * - iptables, nftables: pkg/proxy/util/utils.go `FullSyncPeriod` (1 h; PR #129329, for issue
 *   #129128). syncProxyRules sets `doFullSync := needFullSync || time.Since(lastFullSync) >
 *   proxyutil.FullSyncPeriod` (pkg/proxy/{iptables,nftables}/proxier.go), and NewProxier passes
 *   FullSyncPeriod as the sync runner's maxInterval; every sync in between is partial. needFullSync
 *   is set at start, after a failed sync (retried after `syncPeriod`, default 30 s, a full one)
 *   and, in the iptables mode, when the canary chain monitor (polled every syncPeriod) sees the
 *   tables flushed. Since PR #138571 (2026) the iptables mode skips the periodic full sync in
 *   "large cluster mode" (more than 1000 endpoints); this example does not.
 * - ipvs: every sync is a full one (syncProxyRules rebuilds the ipsets, IPVS services and
 *   iptables rules from the whole service map), run at least every `syncPeriod`: the runner's
 *   maxInterval (pkg/proxy/ipvs/proxier.go), default 30 s (pkg/proxy/apis/config/v1alpha1 and
 *   v1alpha2 defaults.go; `minSyncPeriod` defaults to 1 s there, which this example has no use
 *   for: its changes come one config at a time).
 * @example new ServiceProxy({ mode: 'nftables', fullSyncPeriod: FULL_SYNC_PERIOD.nftables / 4 })
 */
export const FULL_SYNC_PERIOD: Record<Mode, number> = { iptables: 3_600_000, nftables: 3_600_000, ipvs: 30_000 };

/** kube-proxy's syncPeriod default: how soon a failed sync is tried again (see FULL_SYNC_PERIOD). */
const RETRY_PERIOD = 30_000;

export interface ApplyReport {
  /** 1, 2, ... per config applied. */
  generation: number;
  changes: string[];
  /** Wall clock of the whole change, and the transaction's own split (when it was one: not a lone iptables table). */
  ms: number;
  transaction?: TransactionResult['timings'];
  /** nftables mode: the commands of the one batch sent (empty when nothing changed). */
  nftCommands?: object[];
  /** Conntrack entries deleted for removed UDP endpoints and services. */
  conntrackDeleted: number;
  /** Whether this was a full sync (everything the proxy owns rewritten) rather than a partial one. */
  fullSync: boolean;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** The ipvs mode's partial sync in one transaction: what appears first, what goes last. */
function queueIpvsChanges(tx: Tx, ch: IpvsPlanChanges): void {
  const key = (s: IpvsServicePlan) => ({ protocol: s.protocol, address: s.address, port: s.port });
  const service = (s: IpvsServicePlan) => ({ ...key(s), scheduler: s.scheduler });
  if (ch.addresses.add.length) tx.link.addresses.add(DUMMY, ch.addresses.add);
  for (const s of ch.sets) if (s.add.length) tx.ipset.add(s.name, s.add);
  for (const s of ch.services.add) {
    tx.ipvs.addService(service(s));
    for (const d of s.destinations) tx.ipvs.addDestination(key(s), d);
  }
  for (const s of ch.services.update) tx.ipvs.updateService(service(s));
  for (const c of ch.destinations) {
    for (const d of c.add) tx.ipvs.addDestination(key(c.service), d);
    for (const d of c.update) tx.ipvs.updateDestination(key(c.service), d);
    for (const d of c.delete) tx.ipvs.deleteDestination(key(c.service), { address: d.address, port: d.port });
  }
  for (const s of ch.services.delete) tx.ipvs.deleteService(key(s));
  for (const s of ch.sets) if (s.delete.length) tx.ipset.delete(s.name, s.delete);
  if (ch.addresses.delete.length) tx.link.addresses.delete(DUMMY, ch.addresses.delete);
}

export class ServiceProxy {
  readonly mode: Mode;
  readonly netns: string | undefined;
  private readonly log: (line: string) => void;
  private readonly wait: number | true;
  private readonly conntrackCleanup: boolean;
  private readonly fullSyncPeriod: number;
  /** The next periodic resync, armed after each full sync. */
  private resyncTimer?: NodeJS.Timeout;
  private closed = false;
  /** nftables mode: what the table holds, as the last applied config rendered it. */
  private rendered?: Rendered;
  /** iptables mode: each family's nat table as we last wrote it (empty: read it and write all our chains next time). */
  private readonly iptablesRendered = new Map<Family, IptablesRendering>();
  private current?: ProxyConfig;
  private generation = 0;
  private prepared = false;
  /** ipvs mode: the plan last applied (absent: read the kernel and sync everything next time). */
  private ipvsApplied?: IpvsPlan;
  /** The masquerade settings the ipvs mode's nat rules were last written for. */
  private masq?: string;
  /** Changes run one at a time, in the order they were asked for. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ProxyOptions) {
    this.mode = opts.mode;
    this.netns = opts.netns;
    this.log = opts.log ?? ((l) => console.log(l));
    this.wait = opts.wait ?? true;
    this.conntrackCleanup = opts.conntrackCleanup ?? true;
    const period = opts.fullSyncPeriod ?? FULL_SYNC_PERIOD[this.mode];
    if (!Number.isFinite(period) || period < 0) throw new RangeError(`fullSyncPeriod: expected milliseconds >= 0, got ${period}`);
    this.fullSyncPeriod = period;
  }

  /** The last config that applied. */
  get config(): ProxyConfig | undefined {
    return this.current;
  }

  /** Makes the kernel serve `config`; rejects (with the state unchanged) when it cannot. */
  apply(config: ProxyConfig): Promise<ApplyReport> {
    const run = this.queue.then(() => this.applyNow(config, false));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A full sync of the last config that applied (kube-proxy's periodic one, which the proxy also
   * runs by itself every fullSyncPeriod): forgets what it wrote last and rewrites all of it as
   * the first change does (iptables: every chain of ours flushed and refilled, stale ones
   * deleted, missing jumps added; nftables: the tables replaced in one batch; ipvs: addresses,
   * sets, IPVS services and nat rules synced against the kernel). What someone else changed in
   * the proxy's own objects is put back. Resolves with its report, or undefined before any
   * config applied (nothing to sync).
   * @example await proxy.apply(config); // ... someone flushes a chain of ours ...
   * const report = await proxy.resync(); // report.fullSync === true, the chain is back
   */
  resync(): Promise<ApplyReport | undefined> {
    const run = this.queue.then(() => {
      if (!this.current) return undefined;
      this.forgetApplied();
      return this.applyNow(this.current, true);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Stops the periodic resyncs for good (the kernel state stays as it is; cleanup() removes it).
   * @example process.once('SIGTERM', () => { watcher.close(); proxy.close(); });
   */
  close(): void {
    this.closed = true;
    clearTimeout(this.resyncTimer);
  }

  /** What the next change compares against is forgotten: it reads the kernel and writes everything. */
  private forgetApplied(): void {
    this.rendered = undefined;
    this.iptablesRendered.clear();
    this.ipvsApplied = undefined;
    this.masq = undefined;
  }

  private armResync(delay = this.fullSyncPeriod): void {
    clearTimeout(this.resyncTimer);
    if (this.closed || this.fullSyncPeriod === 0) return;
    // A failed resync is logged by applyNow and tried again after kube-proxy's syncPeriod (its
    // retry of a failed sync), or sooner by the next change (then a full sync).
    this.resyncTimer = setTimeout(() => { this.resync().catch(() => this.armResync(Math.min(RETRY_PERIOD, this.fullSyncPeriod))); }, delay);
    // The timer alone does not keep the process alive (the config watcher does).
    this.resyncTimer.unref();
  }

  private async applyNow(config: ProxyConfig, resync: boolean): Promise<ApplyReport> {
    const start = performance.now();
    const changes = describeChanges(this.current, config, this.mode === 'ipvs');
    let result: TransactionResult | undefined;
    let nftCommands: object[] | undefined;
    let detail = '';
    let full = false;
    try {
      if (this.mode === 'nftables') {
        full = this.rendered === undefined;
        nftCommands = await this.applyNft(config);
        detail = `one nft batch of ${nftCommands.length} commands`;
      } else ({ result, detail, full } = this.mode === 'iptables' ? await this.applyIptables(config) : await this.applyIpvs(config));
    } catch (e) {
      // Validation errors touch nothing; a transaction says whether it put back what it found.
      const state = e instanceof TransactionError && !e.rolledBack ? 'ROLLBACK INCOMPLETE, the kernel state may be partly changed' : 'state unchanged';
      this.log(`[${this.mode}] change refused after ${round(performance.now() - start)} ms, ${state}: ${(e as Error).message}`);
      throw e;
    }
    const before = this.current;
    this.current = config;
    const report: ApplyReport = {
      generation: ++this.generation, changes, ms: performance.now() - start, transaction: result?.timings, nftCommands, conntrackDeleted: 0, fullSync: full,
    };
    if (full) this.armResync();
    const t = result?.timings;
    this.log(`[${this.mode}] #${report.generation} ${resync ? 'full resync' : 'applied'} in ${round(report.ms)} ms ` +
      `(${[detail, t ? `transaction ${round(t.totalMs)} ms: validate ${round(t.validateMs)}, lock ${round(t.lockMs)}, snapshot ${round(t.snapshotMs)}, apply ${round(t.applyMs)}` : '']
        .filter(Boolean).join('; ')})` +
      (changes.length || resync ? '' : ': no change'));
    for (const c of changes) this.log(`  ${c}`);
    if (this.conntrackCleanup && before && !resync) {
      // The change is in the kernel already: a failure here is logged, not a refused change.
      try {
        const cleaned = await deleteStaleFlows(before, config, this.netns);
        report.conntrackDeleted = cleaned.deleted;
        for (const line of cleaned.lines) this.log(`[${this.mode}] conntrack: ${line}`);
      } catch (e) {
        this.log(`[${this.mode}] conntrack cleanup failed: ${(e as Error).message}`);
      }
    }
    return report;
  }

  private txOptions() {
    return { netns: this.netns, wait: this.wait, iptables: { backend: 'legacy' as const } };
  }

  /** The nat table of a family now: what our rules must replace, and which of our chains went stale. */
  private async natState(family: 4 | 6 = 4) {
    const h = iptables.open({ netns: this.netns, backend: 'legacy', family });
    try {
      return readNat(await h.save({ table: 'nat' }));
    } finally {
      await h.close();
    }
  }

  /**
   * kube-proxy's syncs: the first change (and the first after a refused one) reads each
   * family's nat table and rewrites all our chains, deleting stale ones (the full sync); later
   * ones send only the chains whose rules changed (the partial sync: one changed endpoint is its
   * service chain and two endpoint chains, not the whole table, and the table is not read
   * first). One family's text is one atomic replace on its own; two go in one transaction, so
   * that a refused IPv6 table puts the IPv4 one back. Nothing sent when nothing changed.
   */
  private async applyIptables(config: ProxyConfig): Promise<{ result?: TransactionResult; detail: string; full: boolean }> {
    // ip6tables once there are IPv6 services, and for as long as its table holds our chains.
    const families: Family[] = config.services.some((s) => s.family === 6) || this.current?.services.some((s) => s.family === 6) ? [4, 6] : [4];
    const texts: { family: Family; text: string; rendered: IptablesRendering; full: boolean }[] = [];
    for (const family of families) {
      const before = this.iptablesRendered.get(family);
      const rendered = renderIptables(config, family, before);
      const text = before ? iptablesModeUpdate(before, rendered) : iptablesModeRules(config, await this.natState(family), family, rendered);
      if (text) texts.push({ family, text, rendered, full: !before });
      else this.iptablesRendered.set(family, rendered);
    }
    const words = texts.map((t) => `${t.family === 6 ? 'ip6tables' : 'iptables'}-restore --noflush of ${t.text.split('\n').length - 3} lines (${t.full ? 'full' : 'partial'} sync)`);
    const detail = words.length ? words.join(', ') : 'nothing to send';
    const full = texts.length > 0 && texts.every((t) => t.full);
    let result: TransactionResult | undefined;
    try {
      if (texts.length === 1) {
        const h = iptables.open({ netns: this.netns, backend: 'legacy', family: texts[0]!.family });
        try {
          await h.restore(texts[0]!.text, { noflush: true, table: 'nat', wait: this.wait });
        } finally {
          await h.close();
        }
      } else if (texts.length > 1) {
        result = await transaction((tx) => {
          for (const t of texts) tx.iptables.restore(t.text, { noflush: true, table: 'nat', family: t.family });
        }, this.txOptions());
      }
    } catch (e) {
      // The next change reads the tables again and writes all our chains.
      this.iptablesRendered.clear();
      throw e;
    }
    for (const t of texts) this.iptablesRendered.set(t.family, t.rendered);
    return { ...(result ? { result } : {}), detail, full };
  }

  /** One nft batch with what changed since the last config (the whole table the first time). */
  private async applyNft(config: ProxyConfig): Promise<object[]> {
    const rendered = renderNft(config, this.rendered && this.current ? { config: this.current, rendered: this.rendered } : undefined);
    const commands = nftModeCommands(this.rendered, rendered);
    if (commands.length) {
      const h = nft.open({ netns: this.netns });
      try {
        await h.apply(commands);
      } finally {
        await h.close();
      }
    }
    this.rendered = rendered;
    return commands;
  }

  /** Once per proxy: what the ipvs mode needs besides the transaction's subsystems. */
  private async prepareIpvs(): Promise<void> {
    if (this.prepared) return;
    // conntrack: IPVS keeps conntrack entries for what it forwards, so the nat table's MASQUERADE
    // sees them. expire_nodest_conn: IPVS's own connection to a removed real server ends at its
    // next packet (as kube-proxy sets it), so a UDP client whose conntrack entry we deleted is
    // scheduled anew instead of being dropped until IPVS's entry times out.
    const h = link.open({ netns: this.netns });
    try {
      for (const key of ['conntrack', 'expire_nodest_conn']) await h.sysctls.set(`net.ipv4.vs.${key}`, 1);
      await h.addDummy(DUMMY, { exist: true });
    } finally {
      await h.close();
    }
    this.prepared = true;
  }

  /**
   * The ipvs mode's syncs, as the iptables mode's: the first change (and the first after a
   * refused one, or when the masquerade settings or the sets themselves change) reads the
   * kernel and syncs everything; later ones queue only the differences from the plan last
   * applied (ipvsPlanChanges), so one changed endpoint is one real server added and one deleted
   * rather than a sync that dumps and compares every service. Either way one transaction.
   */
  private async applyIpvs(config: ProxyConfig): Promise<{ result?: TransactionResult; detail: string; full: boolean }> {
    await this.prepareIpvs();
    // NodePorts are served on the node's own addresses (not the services' ones on the dummy).
    const nodeAddresses = config.services.some((s) => s.nodePort !== undefined) ? await this.nodeAddresses() : [];
    const plan = ipvsPlan(config, nodeAddresses);
    const nodePortSets = Object.keys(plan.nodePorts ?? {});
    // The nat rules change only with the masquerade settings and the node port sets: most changes leave iptables alone.
    const masq = `${config.masqueradeAll} ${config.clusterCIDR} ${nodePortSets.join(',')}`;
    const changes = this.ipvsApplied && masq === this.masq ? ipvsPlanChanges(this.ipvsApplied, plan) : undefined;
    try {
      if (changes) {
        const result = changes.empty ? undefined : await transaction((tx) => queueIpvsChanges(tx, changes), this.txOptions());
        this.ipvsApplied = plan;
        const n = (xs: unknown[]) => xs.length;
        const dests = changes.destinations.reduce((t, c) => t + n(c.add) + n(c.update) + n(c.delete), 0);
        return { ...(result ? { result } : {}), detail: `partial sync: ${n(changes.services.add) + n(changes.services.update) + n(changes.services.delete)} services, ${dests} real servers`, full: false };
      }
      const result = await this.applyIpvsFull(config, plan, nodePortSets, masq);
      this.ipvsApplied = plan;
      return { result, detail: 'full sync', full: true };
    } catch (e) {
      // The next change reads the kernel and syncs everything.
      this.ipvsApplied = undefined;
      throw e;
    }
  }

  private async applyIpvsFull(config: ProxyConfig, plan: IpvsPlan, nodePortSets: string[], masq: string): Promise<TransactionResult> {
    const rules = masq === this.masq ? undefined : ipvsModeRules(config, await this.natState(), 4, nodePortSets);
    const rules6 = masq === this.masq || !plan.clusterIPs6 ? undefined : ipvsModeRules(config, await this.natState(6), 6, nodePortSets);
    // The service addresses change with the rest: new ones go up before IPVS and the rules (IPVS
    // only sees packets the node accepts as its own), old ones come down after them, and a
    // failure anywhere puts them back as they were.
    const { added, removed } = await this.addressChanges(plan.addresses);
    const result = await transaction((tx) => {
      if (added.length) tx.link.addresses.add(DUMMY, added);
      tx.ipset.sync(CLUSTER_IP_SET, plan.clusterIPs, { create: { type: CLUSTER_IP_SET_TYPE } });
      if (plan.clusterIPs6) {
        tx.ipset.sync(setName(CLUSTER_IP_SET, 6), plan.clusterIPs6, { create: { type: CLUSTER_IP_SET_TYPE, options: { family: 'inet6' } } });
      }
      for (const [set, ports] of Object.entries(plan.nodePorts ?? {})) {
        tx.ipset.sync(set, ports, { create: { type: NODE_PORT_SET_TYPE, options: { range: NODE_PORT_SET_RANGE } } });
      }
      // The proxy owns the namespace's IPVS table: services it does not list are removed.
      tx.ipvs.sync(plan.services);
      if (rules) tx.iptables.restore(rules, { noflush: true, table: 'nat' });
      if (rules6) tx.iptables.restore(rules6, { noflush: true, table: 'nat', family: 6 });
      if (removed.length) tx.link.addresses.delete(DUMMY, removed);
    }, this.txOptions());
    this.masq = masq;
    return result;
  }

  /** The node's own global addresses, outside the dummy. */
  private async nodeAddresses(): Promise<string[]> {
    const links = link.open({ netns: this.netns });
    try {
      return (await links.listAddresses()).filter((a) => a.scope === 'global' && a.link !== DUMMY).map((a) => a.address.split('/')[0]!);
    } finally {
      await links.close();
    }
  }

  /** What to add to and remove from the dummy's addresses (its IPv6 link-local address stays). */
  private async addressChanges(wanted: string[]): Promise<{ added: string[]; removed: string[] }> {
    const links = link.open({ netns: this.netns });
    try {
      const had = (await links.listAddresses(DUMMY)).filter((a) => !(a.family === 'inet6' && /^fe[89ab]/i.test(a.address))).map((a) => a.address);
      const want = new Set(wanted), have = new Set(had);
      return { added: wanted.filter((a) => !have.has(a)), removed: had.filter((a) => !want.has(a)) };
    } finally {
      await links.close();
    }
  }

  /** Removes what the proxy made (kube-proxy's --cleanup): our chains, services, set and dummy. */
  async cleanup(): Promise<void> {
    clearTimeout(this.resyncTimer);
    await this.queue;
    if (this.mode === 'nftables') {
      const h = nft.open({ netns: this.netns });
      try {
        // add then delete: one batch that succeeds whether or not the tables are there.
        await h.apply((['ip', 'ip6'] as const).flatMap((family) => [{ add: { table: { family, name: TABLE } } }, { delete: { table: { family, name: TABLE } } }]));
      } finally {
        await h.close();
      }
      this.rendered = undefined;
      this.log(`[${this.mode}] cleaned up`);
      return;
    }
    const texts: [4 | 6, string][] = [];
    for (const family of [4, 6] as const) {
      const nat = await this.natState(family);
      const ours = [...nat.chains].filter((c) => /^KUBE-(SERVICES|POSTROUTING|MARK-MASQ|NODEPORTS|SVC-.*|SEP-.*|EXT-.*)$/.test(c));
      if (family === 6 && !ours.length) continue;
      const jumps = [...nat.rules].filter((r) => / -j KUBE-(SERVICES|POSTROUTING)$/.test(r)).map((r) => r.replace(/^-A /, '-D '));
      texts.push([family, ['*nat', ...ours.map((c) => `:${c} - [0:0]`), ...jumps, ...ours.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n')]);
    }
    await transaction((tx) => {
      for (const [family, text] of texts) tx.iptables.restore(text, { noflush: true, table: 'nat', family });
      if (this.mode === 'ipvs') {
        tx.ipvs.sync([]);
        tx.ipset.destroy(CLUSTER_IP_SET);
      }
    }, this.txOptions());
    if (this.mode === 'ipvs') {
      const h = link.open({ netns: this.netns });
      try {
        await h.delete(DUMMY, { missingOk: true });
      } finally {
        await h.close();
      }
    }
    this.iptablesRendered.clear();
    this.ipvsApplied = undefined;
    this.masq = undefined;
    this.log(`[${this.mode}] cleaned up`);
  }
}
