// Host network set-up over rtnetlink: dummy links (like kube-proxy's kube-ipvs0) and their
// addresses. Everything is checked here before it is sent; a batch of addresses is one
// crossing to the handle's thread, where the requests go to the kernel pipelined.
import { ProgressReport } from '../core/progress.js';
import { constants } from 'node:os';
import { Handle, type OpenOptions } from '../core/handle.js';
import { checkOpts } from '../core/args.js';
import { ExistsError, InvalidArgumentError, NlkitError, throwIfAborted } from '../core/errors.js';
import { binding, type LinkQueryResult, type NetlinkSendResult, type RawWorker } from '../core/native.js';
import { SUBSYSTEM, checkLinkName, formatIp, isIPv6LinkLocal, parsePrefix, type Prefix } from './addr.js';
import { kernelError, linkFailure } from './errors.js';
import { Addresses } from './addresses.js';
import { Routes } from './routes.js';
import { Rules } from './rules.js';
import { Neighbours } from './neighbours.js';
import { checkEventsOptions, watch, type EventsOptions, type LinkEvent } from './events.js';
import type { Subscription } from '../netlink/transport.js';
import { Sysctls } from './sysctl.js';
import { addLink, addLinks, checkAdd, checkUpdate, listLinks, updateLink, type CheckedAdd, type CheckedUpdate } from './links.js';
import { checkEach } from './many.js';
import {
  RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_SITE, RT_SCOPE_UNIVERSE, Rtm, RtWriter,
  NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, addrMessage, collect, delLink, dumpAddrs, dumpLinks, eachMessage,
  getLink, ipText, newLink, parseAddr, parseLink, setLink, type AddrRecord, type Batch, type LinkRecord,
} from './wire.js';
import type {
  AddLinkInput, UpdateLinkInput,
  AddAddressesOptions, SyncAddressesOptions, AddDummyOptions, Address, AddressFlag, AddressScope, DelAddressesOptions, DeleteOptions,
  Link, SyncResult,
} from './types.js';

const E = constants.errno;
const DUMP_RETRIES = 5;

// IFA_F_* bits a request may set (what the kernel accepts back when an address is restored).
const IFA_F_SECONDARY = 0x01;
const SETTABLE_FLAGS = 0x02 | 0x04 | 0x10 | 0x100 | 0x200 | 0x400;

/**
 * A handle on the links, addresses, routes, rules and sysctls of one network namespace (the
 * caller's, or `netns`'s); its calls run in order on the handle's own thread. `link.open()` makes one.
 * @example
 * await using h = link.open({ netns: 'node' });
 * await h.addDummy('kube-ipvs0', { exist: true });
 * await h.addresses.sync('kube-ipvs0', ['10.96.0.1/32']);
 */
export class LinkHandle extends Handle {
  /** sysctls of the handle's namespace: `h.sysctls.get('net.ipv4.ip_forward')`. */
  readonly sysctls: Sysctls = new Sysctls((op, call) => this.runOne(op, call));
  /** routes of the handle's namespace: `h.routes.add({ dst: '10.2.0.0/16', gateway: '10.1.0.2' })`. */
  readonly routes: Routes = new Routes((op, fn) => this.run(op, () => fn(this.worker)));
  /** policy rules of the handle's namespace: `h.rules.add({ priority: 100, fwmark: 1, table: 100 })`. */
  readonly rules: Rules = new Rules((op, fn) => this.run(op, () => fn(this.worker)));
  /** addresses of the handle's links: `h.addresses.add('kube-ipvs0', ['10.96.0.1/32'])`. */
  readonly addresses: Addresses = new Addresses(this);

  /** neighbour entries of the handle's namespace: `h.neighbours.add({ dst: '10.0.0.2', lladdr, dev: 'eth0' })`. */
  readonly neighbours: Neighbours = new Neighbours((op, fn) => this.run(op, () => fn(this.worker)));

  readonly #subscriptions = new Set<Subscription>();

  constructor(opts: OpenOptions = {}) {
    super(SUBSYSTEM, opts, linkFailure);
  }

  #track(s: Subscription): void {
    for (const x of this.#subscriptions) if (x.closed) this.#subscriptions.delete(x);
    this.#subscriptions.add(s);
  }

  /** Ends the handle's event subscriptions too, then closes it. */
  override close(): Promise<void> {
    for (const s of this.#subscriptions) s.close();
    this.#subscriptions.clear();
    return super.close();
  }

  /**
   * Link, address, route and neighbour changes in the handle's namespace, as an async iterable
   * of { group, deleted, link | address | route | neighbour } carrying the records the list
   * functions return. The subscription opens when iteration starts, before any later call on
   * the handle runs. `list: true` first yields what is there (`existing: true`), then every
   * change after it: subscribed before listing, repeats dropped, nothing missed in between.
   * Ends when `signal` aborts, the loop breaks or the handle closes; an NlkitError (ENOBUFS)
   * when the kernel dropped events because they were not read fast enough.
   * @example
   * for await (const e of h.events({ groups: ['link'], signal })) if (e.group === 'link') console.log(e.link.name, e.link.operstate);
   */
  events(opts: EventsOptions = {}): AsyncIterable<LinkEvent> {
    const op = 'link.events';
    let o: ReturnType<typeof checkEventsOptions>;
    try {
      o = checkEventsOptions(op, opts);
    } catch (e) {
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(e) }) };
    }
    return {
      [Symbol.asyncIterator]: () => {
        const started = this.run(op, () => watch(op, this.worker, o, toAddress, (s) => this.#track(s)));
        started.catch(() => undefined);
        const it: AsyncIterableIterator<LinkEvent> = {
          next: () => started.then((i) => i.next()),
          return: () => started.then((i) => i.return!(), () => ({ value: undefined, done: true as const })),
          [Symbol.asyncIterator]: () => it,
        };
        return it;
      },
    };
  }

  // ---- links ----

  /**
   * Creates a dummy link, up unless `up: false`, like `ip link add NAME [up] [mtu N] type
   * dummy`. With `exist`, an existing dummy of that name is brought to `up`/`mtu` instead;
   * a link of another kind by that name is still an ExistsError.
   * @example await h.addDummy('kube-ipvs0', { exist: true, mtu: 1500 });
   */
  addDummy(name: string, opts: AddDummyOptions = {}): Promise<void> {
    const op = 'link.addDummy';
    let req: Batch, up: boolean, mtu: number | undefined;
    try {
      checkLinkName(name, op);
      ({ up, mtu } = checkLinkOptions(opts, op));
      const w = new RtWriter(128);
      newLink(w, name, 'dummy', { up, ...(mtu !== undefined ? { mtu } : {}) });
      req = w.batch();
    } catch (e) {
      return this.fail(op, e);
    }
    const ctx = { link: name, kind: 'dummy' };
    if (!opts.exist) return this.runOne(op, (wk) => this.sendOne(op, wk, req, ctx));
    return this.run(op, async () => {
      const r = await this.native(op, (wk) => binding().linkSend(wk, req.bytes, req.ends, { tolerate: [E.EEXIST] }));
      if (r.errnos[0] === 0) return;
      if (r.errnos[0] !== E.EEXIST) throw kernelError(op, r.errnos[0]!, { ...ctx, ...detail(r, 0) });
      const found = await this.getLink(op, name);
      if (found.kind !== 'dummy') {
        throw new ExistsError(`${op}: link ${name} already exists and is ${found.kind ? `a ${found.kind}` : 'not a dummy'} link`, {
          op, subsystem: SUBSYSTEM, errno: E.EEXIST,
        });
      }
      if (found.up === up && (mtu === undefined || found.mtu === mtu)) return;
      const w = new RtWriter(64);
      setLink(w, name, { up, ...(mtu !== undefined && mtu !== found.mtu ? { mtu } : {}) });
      await this.native(op, (wk) => this.sendOne(op, wk, w.batch(), { link: name }));
    });
  }

  /**
   * Deletes a link (of any kind), like `ip link del NAME`; with `exist`, a missing link is no error.
   * @example await h.delete('kube-ipvs0', { exist: true });
   */
  delete(name: string, opts: DeleteOptions = {}): Promise<void> {
    const op = 'link.delete';
    let req: Batch, exist: boolean;
    try {
      exist = existOption(op, opts);
      const w = new RtWriter(64);
      delLink(w, checkLinkName(name, op));
      req = w.batch();
    } catch (e) {
      return this.fail(op, e);
    }
    return this.runOne(op, (wk) => this.sendOne(op, wk, req, { link: name }, exist ? [E.ENODEV] : []));
  }

  /**
   * Sets a link up or down, like `ip link set NAME up|down`.
   * @deprecated Use update(name, { up }); stays for one release.
   * @example await h.setUp('kube-ipvs0', false);
   */
  setUp(name: string, up: boolean): Promise<void> {
    const op = 'link.setUp';
    let req: Batch;
    try {
      checkLinkName(name, op);
      if (typeof up !== 'boolean') {
        throw new InvalidArgumentError(`${op}: up must be true or false`, { op, subsystem: SUBSYSTEM, argument: String(up) });
      }
      const w = new RtWriter(64);
      setLink(w, name, { up });
      req = w.batch();
    } catch (e) {
      return this.fail(op, e);
    }
    return this.runOne(op, (wk) => this.sendOne(op, wk, req, { link: name }));
  }

  /**
   * Creates a link of any kind `ip link add` makes here: dummy, ifb, veth (the peer optionally
   * in another namespace), bridge, vlan, macvlan, vxlan, ipip, gre, sit. Down unless `up: true`,
   * as `ip link add` leaves it. Everything is checked before anything is sent; names
   * (`master`, `link`) must exist (NotFoundError); one RTM_NEWLINK makes the link (and its peer).
   * A list is checked whole, then made in order in one crossing (pipelined when no entry names
   * another link or namespace); on a refusal the links it made are deleted and the error's
   * `index` names the refused entry.
   * @example
   * await h.add({ name: 'br0', kind: 'bridge', up: true });
   * await h.add({ name: 'veth0', kind: 'veth', master: 'br0', up: true, peer: { name: 'eth0', netns: 'pod1' } });
   * await h.add({ name: 'vx0', kind: 'vxlan', id: 42, local: '10.0.0.1', port: 4789 });
   * await h.add([{ name: 'va0', kind: 'veth', peer: { name: 'vb0' } }, { name: 'va1', kind: 'veth', peer: { name: 'vb1' } }]);
   */
  add(link: AddLinkInput | readonly AddLinkInput[]): Promise<void> {
    const op = 'link.add';
    let c: CheckedAdd | CheckedAdd[];
    try {
      c = Array.isArray(link) ? checkEach(link, 'links', (x) => checkAdd(x, op)) : checkAdd(link, op);
    } catch (e) {
      return this.fail(op, e);
    }
    return this.run(op, () => (Array.isArray(c) ? addLinks(op, this.worker, c) : addLink(op, this.worker, c)));
  }

  /**
   * Changes a link in one request, as `ip link set dev NAME ...`: up/down, mtu, mac, master
   * (null: out of its bridge), netns (moves it; a namespace name or path), name (renames it).
   * @example await h.update('veth0', { master: 'br0', up: true });
   * @example await h.update('eth1', { netns: 'pod1', name: 'eth0' });
   */
  update(name: string, changes: UpdateLinkInput): Promise<void> {
    const op = 'link.update';
    let c: CheckedUpdate;
    try {
      c = checkUpdate(name, changes, op);
    } catch (e) {
      return this.fail(op, e);
    }
    return this.run(op, () => updateLink(op, this.worker, name, c));
  }

  /**
   * One link by name, as list() reports it; NotFoundError when there is none.
   * @example const { up, mtu, stats } = await h.get('veth0');
   */
  get(name: string): Promise<Link> {
    const op = 'link.get';
    try {
      checkLinkName(name, op);
    } catch (e) {
      return this.fail(op, e);
    }
    return this.run(op, async () => {
      const found = (await listLinks(op, this.worker)).find((l) => l.name === name);
      if (!found) throw kernelError(op, E.ENODEV, { link: name });
      return found;
    });
  }

  /**
   * Every link of the handle's namespace in index order, with flags, operstate, master, the
   * link it sits on and statistics, as `ip -j -s -d link show` reports them.
   * @example for (const l of await h.list()) console.log(l.name, l.kind, l.stats?.rx.bytes);
   */
  list(): Promise<Link[]> {
    const op = 'link.list';
    return this.run(op, () => listLinks(op, this.worker));
  }

  // ---- addresses ----

  /**
   * Adds many addresses ('10.96.0.1/32', '2001:db8::1/128'; without a prefix length an
   * address is a host address) to a link in one crossing, as `ip addr add ADDR dev NAME` would
   * add each. All are checked first: bad input sends nothing. When the kernel refuses one,
   * the call stops, removes the addresses it added, and throws an error naming that address.
   * @deprecated Use h.addresses.add(); stays for one release.
   * @example await h.addAddresses('kube-ipvs0', ['10.96.0.1/32']);
   */
  addAddresses(name: string, addrs: string[], opts: AddAddressesOptions = {}): Promise<void> {
    return this.addressesAdd('link.addAddresses', name, addrs, opts);
  }

  /** @internal h.addresses.add() and its deprecated alias, `op` naming the caller. */
  addressesAdd(op: string, name: string, addrs: string[], opts: AddAddressesOptions = {}): Promise<void> {
    let list: Prefix[], req: Batch, exist: boolean;
    try {
      exist = checkOpts({ op, subsystem: SUBSYSTEM }, 'options', opts, { exist: 'boolean', signal: 'signal', onProgress: 'function' }).exist === true;
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      checkLinkName(name, op);
      list = parseList(addrs, op, exist ? 'dedupe' : 'refuse');
      const w = new RtWriter(64 + list.length * 48);
      for (const p of list) addrMessage(w, Rtm.NewAddr, p, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
      req = w.batch();
    } catch (e) {
      return this.fail(op, e);
    }
    const progress = new ProgressReport(opts.onProgress, list.length);
    if (list.length === 0) return this.run(op, async () => progress.end(0));
    return this.run(op, async () => {
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      const counter = progress.counter();
      const r = await progress.watch(this.native(op, (wk) => binding().linkSend(wk, req.bytes, req.ends, {
        ifname: name, tolerate: exist ? [E.EEXIST] : [], ...(counter ? { progress: counter } : {}),
      })), counter, (acked) => acked);
      const k = firstRefusal(r, () => (exist ? E.EEXIST : 0));
      if (k < 0) {
        progress.end(list.length);
        return;
      }
      const added = list.filter((_, i) => r.errnos[i] === 0).map((p) => ({ p }));
      progress.end((await this.undo(name, added, [])) ? 0 : added.length);
      throw kernelError(op, r.errnos[k]!, { link: name, address: list[k]!.text, adding: true, ...detail(r, k) });
    });
  }

  /**
   * Removes many addresses from a link, like `ip addr del ADDR dev NAME` for each. Without
   * `exist` an address that is not on the link is a NotFoundError and nothing is removed.
   * @deprecated Use h.addresses.delete(); stays for one release.
   * @example await h.delAddresses('kube-ipvs0', ['10.96.0.1/32'], { missingOk: true });
   */
  delAddresses(name: string, addrs: string[], opts: DelAddressesOptions = {}): Promise<void> {
    return this.addressesDelete('link.delAddresses', name, addrs, opts);
  }

  /** @internal h.addresses.delete() and its deprecated alias. */
  addressesDelete(op: string, name: string, addrs: string[], opts: DelAddressesOptions = {}): Promise<void> {
    let list: Prefix[], exist: boolean;
    try {
      checkOpts({ op, subsystem: SUBSYSTEM }, 'options', opts, { exist: 'boolean', missingOk: 'boolean', signal: 'signal', onProgress: 'function' });
      exist = opts.exist === true || opts.missingOk === true;
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      checkLinkName(name, op);
      list = parseList(addrs, op, 'dedupe');
    } catch (e) {
      return this.fail(op, e);
    }
    return this.run(op, async () => {
      const present = keyed(await this.addrsOf(op, name));
      const gone: AddrRecord[] = [];
      for (const p of list) {
        const rec = present.get(p.text);
        if (rec) gone.push(rec);
        else if (!exist) {
          throw kernelError(op, E.EADDRNOTAVAIL, { link: name, address: p.text });
        }
      }
      const progress = new ProgressReport(opts.onProgress, gone.length);
      if (gone.length === 0) return progress.end(0);
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      await this.apply(op, name, [...present.values()], gone, [], [], progress);
    });
  }

  /**
   * Addresses of one link, or of every link (one RTM_GETADDR dump): by link index, IPv4
   * before IPv6, each in the kernel's order (the order `ip addr show` prints them in).
   * @deprecated Use h.addresses.list(); stays for one release.
   * @example const addrs = await h.listAddresses('eth0');
   */
  listAddresses(name?: string): Promise<Address[]> {
    return this.addressesList('link.listAddresses', name);
  }

  /** @internal h.addresses.list() and its deprecated alias. */
  addressesList(op: string, name?: string): Promise<Address[]> {
    try {
      if (name !== undefined) checkLinkName(name, op);
    } catch (e) {
      return this.fail(op, e);
    }
    return this.run(op, async () => {
      if (name !== undefined) return (await this.addrsOf(op, name)).map((a) => toAddress(a, name));
      const w = new RtWriter(128);
      dumpLinks(w);
      dumpAddrs(w);
      const r = await this.dump(op, w.batch());
      const names = new Map<number, string>();
      eachMessage(r.data, 0, r.sections[0]!, (type, at, len) => {
        if (type === Rtm.NewLink) {
          const l = parseLink(r.data, at, len);
          names.set(l.index, l.name);
        }
      });
      const out: Address[] = [];
      eachMessage(r.data, r.sections[0]!, r.sections[1]!, (type, at, len) => {
        if (type !== Rtm.NewAddr) return;
        const a = parseAddr(r.data, at, len);
        if (a) out.push(toAddress(a, names.get(a.index) ?? `if${a.index}`));
      });
      // Grouped by link as `ip addr` shows them (the sort is stable: the kernel's order within).
      return out.sort((x, y) => x.index - y.index);
    });
  }

  /**
   * Makes the link's addresses exactly `wanted`: reads what is there (one dump), then removes
   * what is not wanted and adds what is missing (one batch). IPv6 link-local addresses
   * (fe80::/10, which the kernel makes itself) are left alone unless listed. When the kernel
   * refuses a change, what this call changed is put back and the error names the address.
   * @deprecated Use h.addresses.sync(), which returns the counts every sync() returns; this
   * alias keeps the old shape (`added`/`removed` as lists) for one release.
   * @example const { added, removed } = await h.syncAddresses('kube-ipvs0', ['10.96.0.1/32']);
   */
  async syncAddresses(name: string, wanted: string[]): Promise<SyncResult> {
    const { added, removed } = await this.addressesSync('link.syncAddresses', name, wanted);
    return { added, removed };
  }

  /** @internal h.addresses.sync() and its deprecated alias: which addresses changed, how many stayed. */
  addressesSync(op: string, name: string, wanted: string[], opts: SyncAddressesOptions = {}): Promise<SyncResult & { unchanged: number }> {
    let list: Prefix[];
    try {
      checkOpts({ op, subsystem: SUBSYSTEM }, 'options', opts, { signal: 'signal', onProgress: 'function' });
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      checkLinkName(name, op);
      list = parseList(wanted, op, 'dedupe');
      checkOnePrefixPerIPv6(list, op);
    } catch (e) {
      return this.fail(op, e);
    }
    return this.run(op, async () => {
      const records = await this.addrsOf(op, name);
      const want = new Map(list.map((p) => [p.text, p]));
      const have = keyed(records);
      const remove = records.filter((r) => {
        const key = keyOf(r);
        return !want.has(key) && !(r.family === 'inet6' && isLinkLocal(r));
      });
      // Removing an IPv4 primary address takes its secondaries with it: wanted ones go back.
      const restore = records.filter((r) => want.has(keyOf(r)) && (r.flags & IFA_F_SECONDARY) !== 0 &&
        remove.some((p) => isPrimaryOf(p, r)));
      const add = list.filter((p) => !have.has(p.text));
      const unchanged = list.length - add.length;
      // Counted in requests: the removals, the secondaries put back after them, the additions.
      const progress = new ProgressReport(opts.onProgress, remove.length + restore.length + add.length);
      if (remove.length === 0 && add.length === 0) {
        progress.end(0);
        return { added: [], removed: [], unchanged };
      }
      throwIfAborted(opts.signal, op, SUBSYSTEM);
      const r = await this.apply(op, name, records, remove, add, restore, progress);
      return {
        added: add.filter((_, i) => r.errnos[remove.length + restore.length + i] === 0).map((p) => p.text),
        removed: remove.map(keyOf),
        unchanged,
      };
    });
  }

  // ---- internals ----

  /** Rejects with a validation error, with the caller's stack, in call order. */
  private fail(op: string, e: unknown): Promise<never> {
    return this.run(op, () => Promise.reject(e));
  }

  /** Sends one request; a refusal (other than a tolerated errno) becomes the typed error. */
  private sendOne(op: string, wk: RawWorker, req: Batch, ctx: { link?: string; kind?: string }, tolerate: number[] = []): Promise<void> {
    return binding().linkSend(wk, req.bytes, req.ends, { tolerate }).then((r) => {
      const e = r.errnos[0]!;
      if (e !== 0 && !tolerate.includes(e)) throw kernelError(op, e, { ...ctx, ...detail(r, 0) });
    });
  }

  /** Runs dump requests until none was interrupted by a concurrent change. */
  private async dump(op: string, req: Batch, ifname?: string, link?: string): Promise<LinkQueryResult> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.native(op, (wk) => binding().linkQuery(wk, req.bytes, req.ends, ifname !== undefined ? { ifname } : {}));
      for (let i = 0; i < r.errnos.length; i++) {
        if (r.errnos[i] !== 0) throw kernelError(op, r.errnos[i]!, { ...(link !== undefined ? { link } : {}), ...detail(r, i) });
      }
      if (!r.interrupted || attempt >= DUMP_RETRIES) return r;
    }
  }

  private async getLink(op: string, name: string): Promise<LinkRecord> {
    const w = new RtWriter(64);
    getLink(w, name);
    const r = await this.dump(op, w.batch(), undefined, name);
    let found: LinkRecord | undefined;
    eachMessage(r.data, 0, r.sections[0]!, (type, at, len) => {
      if (type === Rtm.NewLink) found ??= parseLink(r.data, at, len);
    });
    if (!found) throw kernelError(op, E.ENODEV, { link: name });
    return found;
  }

  /** The addresses on one link: one dump the kernel filters by the link's index. */
  private async addrsOf(op: string, name: string): Promise<AddrRecord[]> {
    const w = new RtWriter(64);
    dumpAddrs(w);
    const r = await this.dump(op, w.batch(), name, name);
    return collect(r.data, 0, r.sections[0]!, Rtm.NewAddr, parseAddr);
  }

  /**
   * One batch: removes `remove` (records as the kernel listed them), re-adds `restore`, adds
   * `add`. Addresses already gone or already there are not refusals (a concurrent change, or
   * secondaries the kernel removed or promoted with their primary). On a refusal, puts back
   * what it changed (`before` is the link's addresses as they were) and throws.
   */
  private async apply(op: string, name: string, before: AddrRecord[], remove: AddrRecord[], add: Prefix[],
    restore: AddrRecord[] = [], progress = new ProgressReport(undefined, 0)): Promise<NetlinkSendResult> {
    const w = new RtWriter(64 + (remove.length + add.length + restore.length) * 56);
    const what: string[] = [];
    for (const rec of remove) {
      addrMessage(w, Rtm.DelAddr, prefixOf(rec), NLM_F_REQUEST, attrsOf(rec));
      what.push(keyOf(rec));
    }
    for (const rec of restore) {
      addrMessage(w, Rtm.NewAddr, prefixOf(rec), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, attrsOf(rec));
      what.push(keyOf(rec));
    }
    for (const p of add) {
      addrMessage(w, Rtm.NewAddr, p, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
      what.push(p.text);
    }
    const req = w.batch();
    // The native side stops only at an errno no request tolerates; which one each tolerates is checked here.
    const counter = progress.counter();
    const r = await progress.watch(this.native(op, (wk) => binding().linkSend(wk, req.bytes, req.ends, {
      ifname: name, tolerate: [E.EADDRNOTAVAIL, E.EEXIST], ...(counter ? { progress: counter } : {}),
    })), counter, (acked) => acked);
    const k = firstRefusal(r, (i) => (i < remove.length ? E.EADDRNOTAVAIL : E.EEXIST));
    if (k < 0) {
      progress.end(progress.total);
      return r;
    }
    const added = add.filter((_, i) => r.errnos[remove.length + restore.length + i] === 0).map((p) => ({ p }));
    // Everything removed goes back, with the secondaries that went with a removed primary;
    // what is still there answers EEXIST, which the undo tolerates.
    const affected = before.filter((b) => remove.includes(b) || remove.some((p) => isPrimaryOf(p, b)));
    const undone = await this.undo(name, added, affected);
    progress.end(undone ? 0 : r.errnos.reduce((n, e) => n + (e === 0 ? 1 : 0), 0));
    throw kernelError(op, r.errnos[k]!, { link: name, address: what[k]!, adding: k >= remove.length, ...detail(r, k) });
  }

  /** Best effort: removes what a failed call added and puts back what it removed. */
  private async undo(name: string, added: { p: Prefix }[], removed: AddrRecord[]): Promise<boolean> {
    if (added.length === 0 && removed.length === 0) return true;
    const w = new RtWriter(64 + (added.length + removed.length) * 56);
    for (const { p } of added) addrMessage(w, Rtm.DelAddr, p, NLM_F_REQUEST);
    // Primaries before their secondaries, as they were listed.
    for (const rec of [...removed].sort((a, b) => (a.flags & IFA_F_SECONDARY) - (b.flags & IFA_F_SECONDARY))) {
      addrMessage(w, Rtm.NewAddr, prefixOf(rec), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, attrsOf(rec));
    }
    const req = w.batch();
    // Undone when every request was acknowledged (or found already as wanted).
    return this.native('link.undo', (wk) => binding().linkSend(wk, req.bytes, req.ends, {
      ifname: name, tolerate: [E.EADDRNOTAVAIL, E.EEXIST],
    })).then((r) => r.errnos.every((e) => e === 0 || e === E.EADDRNOTAVAIL || e === E.EEXIST), () => false);
  }
}

function checkLinkOptions(opts: AddDummyOptions, op: string): { up: boolean; mtu: number | undefined } {
  checkOpts({ op, subsystem: SUBSYSTEM }, 'options', opts, { exist: 'boolean', up: 'boolean' });
  const up = opts.up ?? true;
  if (typeof up !== 'boolean') throw new InvalidArgumentError(`${op}: up must be true or false`, { op, subsystem: SUBSYSTEM, argument: String(up) });
  const mtu = opts.mtu;
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 0 || mtu > 0x7fffffff)) {
    throw new InvalidArgumentError(`${op}: mtu must be an integer from 0 to 2147483647, not ${String(mtu)}`, {
      op, subsystem: SUBSYSTEM, argument: String(mtu),
    });
  }
  return { up, mtu };
}

/** Parses every address; a duplicate is refused (`refuse`) or dropped (`dedupe`). */
function parseList(addrs: unknown, op: string, dup: 'refuse' | 'dedupe'): Prefix[] {
  if (!Array.isArray(addrs)) {
    throw new InvalidArgumentError(`${op}: addresses must be an array of strings`, { op, subsystem: SUBSYSTEM });
  }
  const seen = new Set<string>();
  const out: Prefix[] = [];
  for (let i = 0; i < addrs.length; i++) {
    let p: Prefix;
    try {
      p = parsePrefix(addrs[i], op);
    } catch (e) {
      if (e instanceof NlkitError) e.message = e.message.replace(`${op}: `, `${op}: addresses[${i}]: `);
      throw e;
    }
    if (seen.has(p.text)) {
      if (dup === 'dedupe') continue;
      throw new InvalidArgumentError(`${op}: addresses[${i}]: ${p.text} is listed twice`, { op, subsystem: SUBSYSTEM, argument: String(addrs[i]) });
    }
    seen.add(p.text);
    out.push(p);
  }
  return out;
}

/** The kernel keeps one prefix length per IPv6 address on a link. */
function checkOnePrefixPerIPv6(list: Prefix[], op: string): void {
  const seen = new Map<string, string>();
  for (const p of list) {
    if (p.family !== 'inet6') continue;
    const other = seen.get(p.ip);
    if (other !== undefined) {
      throw new InvalidArgumentError(`${op}: ${other} and ${p.text}: an IPv6 address can be on a link with one prefix length only`, {
        op, subsystem: SUBSYSTEM, argument: p.text,
      });
    }
    seen.set(p.ip, p.text);
  }
}

/** The first request the kernel refused with an errno other than the one it tolerates (0: none). */
function firstRefusal(r: NetlinkSendResult, tolerated: (i: number) => number): number {
  for (let i = 0; i < r.errnos.length; i++) {
    const e = r.errnos[i]!;
    if (e > 0 && e !== tolerated(i)) return i;
  }
  return -1;
}

const detail = (r: NetlinkSendResult, i: number): { detail?: string } => {
  const m = r.messages[i];
  return m ? { detail: m } : {};
};

const keyOf = (r: AddrRecord): string => `${ipText(r)}/${r.prefixlen}`;

const keyed = (records: AddrRecord[]): Map<string, AddrRecord> => new Map(records.map((r) => [keyOf(r), r]));

const isLinkLocal = (r: AddrRecord): boolean => isIPv6LinkLocal(prefixOf(r));

function prefixOf(r: AddrRecord): Prefix {
  const ip = ipText(r);
  return { family: r.family, bytes: r.local, prefixlen: r.prefixlen, ip, text: `${ip}/${r.prefixlen}` };
}

/** What it takes to remove (peer) or re-create (scope, flags, label, broadcast) the address as it was. */
function attrsOf(r: AddrRecord) {
  return {
    scope: r.scope,
    flags: r.flags & SETTABLE_FLAGS,
    ...(r.peer ? { peer: r.peer } : {}),
    ...(r.broadcast ? { broadcast: r.broadcast } : {}),
    ...(r.label !== undefined ? { label: r.label } : {}),
  };
}

/** Whether IPv4 secondary `s` belongs to primary `p` (same prefix length and subnet). */
function isPrimaryOf(p: AddrRecord, s: AddrRecord): boolean {
  if (p.family !== 'inet' || s.family !== 'inet' || p === s || (p.flags & IFA_F_SECONDARY) || p.prefixlen !== s.prefixlen) return false;
  const bits = p.prefixlen;
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((p.local[i]! & mask) !== (s.local[i]! & mask)) return false;
  }
  return true;
}

const SCOPES: Record<number, AddressScope> = {
  [RT_SCOPE_UNIVERSE]: 'global', [RT_SCOPE_SITE]: 'site', [RT_SCOPE_LINK]: 'link', [RT_SCOPE_HOST]: 'host', [RT_SCOPE_NOWHERE]: 'nowhere',
};

const FLAG_NAMES: [number, AddressFlag][] = [
  [0x02, 'nodad'], [0x04, 'optimistic'], [0x08, 'dadfailed'], [0x10, 'home'], [0x20, 'deprecated'],
  [0x40, 'tentative'], [0x80, 'permanent'], [0x100, 'mngtmpaddr'], [0x200, 'noprefixroute'], [0x400, 'autojoin'],
  [0x800, 'stable-privacy'],
];

function toAddress(r: AddrRecord, link: string): Address {
  const flags: AddressFlag[] = [];
  if (r.flags & IFA_F_SECONDARY) flags.push(r.family === 'inet' ? 'secondary' : 'temporary');
  for (const [bit, n] of FLAG_NAMES) if (r.flags & bit) flags.push(n);
  const a: Address = {
    link,
    index: r.index,
    family: r.family,
    address: keyOf(r),
    scope: SCOPES[r.scope] ?? r.scope,
    flags,
  };
  if (r.label !== undefined) a.label = r.label;
  if (r.peer) a.peer = formatIp(r.family, r.peer);
  if (r.broadcast) a.broadcast = formatIp(r.family, r.broadcast);
  if (r.validLft !== undefined) a.validLft = r.validLft;
  if (r.preferredLft !== undefined) a.preferredLft = r.preferredLft;
  return a;
}

// Exported for unit tests: the pure parts.
/** `exist` (or its deprecated spelling `missingOk`): no error for what is already gone. */
function existOption(op: string, opts: { exist?: boolean; missingOk?: boolean }): boolean {
  checkOpts({ op, subsystem: SUBSYSTEM }, 'options', opts, { exist: 'boolean', missingOk: 'boolean' });
  return opts.exist === true || opts.missingOk === true;
}

export const _internal = { parseList, checkOnePrefixPerIPv6, isPrimaryOf, toAddress };
