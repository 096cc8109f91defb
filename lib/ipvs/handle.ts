// IpvsHandle: the IPVS API on one handle (one worker thread in one network namespace).
// Every mutating method is an apply() of one operation: validated in TypeScript, encoded in
// TypeScript, sent in one crossing; the kernel's acknowledgement of each message becomes its
// result. Updates that leave fields out are filled in from the kernel's current state first.
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, ConcurrentModificationError, InvalidArgumentError, NlkitError, NotFoundError, throwIfAborted } from '../core/errors.js';
import { Handle, callSite, withSite, type OpenOptions } from '../core/handle.js';
import { ProgressReport, type ProgressCallback } from '../core/progress.js';
import { badArgument, checkOpts, describeValue } from '../core/args.js';
import { binding, type IpvsQueryResult, type NetlinkSendResult, type RawWorker } from '../core/native.js';
import { GenlFamily, stampFamily } from '../netlink/genl.js';
import { NETLINK_GENERIC } from '../netlink/headers.js';
import { dump, send } from '../netlink/transport.js';
import { ipvsFailure, kernelError, type ErrorContext } from './errors.js';
import { RtWriter, Rtm, eachMessage, getLink, parseLink } from '../link/wire.js';
import { destAsInput, mergeDest, mergeService, serviceAsInput, toDest, toService } from './records.js';
import {
  MAX_WEIGHT, completeDest, completeService, normDaemon, normDest, normDestKey, normKey, normService, normTimeouts,
  type NormDest, type NormKey, type NormService, type NormTimeouts,
} from './validate.js';
import {
  AF_INET, CmdAttr, Cmd, DaemonAttr, GenlWriter, InfoAttr, forEachNest, parseDaemon, parseDest, parseService, topAttrs,
} from './wire.js';
import { diffIpvs, normalizeDesired, type IpvsSyncResult, type SyncInput, type SyncOptions } from './sync.js';
import type {
  ApplyOp, ApplyOptions, ApplyResult, Daemon, DaemonConfig, DaemonState, Destination, DestinationInput, DestinationKey, DrainOptions,
  DrainResult, Info, ListOptions, Service, ServiceInput, ServiceKey, Timeouts,
} from './types.js';
import { Daemons } from './daemons.js';

const DUMP_RETRIES = 3;
/** Acks in flight per sendmsg(): well inside the receive buffer. */
const CHUNK = 512;
/** IPVS_SVC_ATTR_AF .. IPVS_SVC_ATTR_FWMARK (types 1-5): a service's identity, what a real-server dump asks by. */
const SERVICE_KEY_ATTRS = 0b111110;
const E = constants.errno;
const DEFAULT_DRAIN_MS = 5 * 60_000;
/** 2000-01-01T00:00:00Z: a drain deadline before it is a duration given as a time. */
const EPOCH_2000 = 946_684_800_000;

/** One validated operation, ready to encode. */
interface Item {
  kind: ApplyOp['op'];
  cmd: Cmd;
  key?: NormKey;
  svc?: NormService;
  dest?: NormDest;
  timeouts?: NormTimeouts;
  /** An update that leaves fields out: filled in from the current state before encoding. */
  partial?: { service?: ServiceInput; destination?: DestinationInput };
  /** Set when the operation is answered without reaching the kernel. */
  error?: NlkitError;
}

const CMDS: Record<ApplyOp['op'], Cmd> = {
  addService: Cmd.NewService, updateService: Cmd.SetService, deleteService: Cmd.DelService,
  addDestination: Cmd.NewDest, updateDestination: Cmd.SetDest, deleteDestination: Cmd.DelDest,
  zero: Cmd.Zero, flush: Cmd.Flush, setTimeouts: Cmd.SetConfig,
};

/**
 * A handle on the IPVS table of one network namespace (the caller's, or `netns`'s); its calls
 * run in order on the handle's own thread. `ipvs.open()` makes one.
 * @example
 * const h = ipvs.open({ netns: 'node' });
 * await h.addService({ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr' });
 * await h.close();
 */
export class IpvsHandle extends Handle {
  /** The "IPVS" generic netlink family: its id asked of the kernel once per handle. */
  private readonly family = new GenlFamily('IPVS');

  constructor(opts: OpenOptions = {}) {
    super('ipvs', opts, ipvsFailure);
  }

  // ---- services -------------------------------------------------------------------------

  /**
   * Adds a virtual service, like `ipvsadm -A`.
   * @example await h.addService({ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr' });
   */
  addService(service: ServiceInput): Promise<void> {
    return this.one('ipvs.addService', { op: 'addService', service });
  }

  /**
   * Changes a service; fields left out keep their current values (persistence: null removes it).
   * @example await h.updateService({ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'wrr' });
   */
  updateService(service: ServiceInput): Promise<void> {
    return this.one('ipvs.updateService', { op: 'updateService', service });
  }

  /**
   * Deletes a service and its real servers, like `ipvsadm -D`.
   * @example await h.deleteService({ protocol: 'tcp', address: '10.96.0.10', port: 80 });
   */
  deleteService(service: ServiceKey): Promise<void> {
    return this.one('ipvs.deleteService', { op: 'deleteService', service });
  }

  /**
   * One service, with its real servers unless `destinations: false`; NotFoundError when absent.
   * @example const s = await h.getService({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { stats: true });
   */
  getService(service: ServiceKey, opts: ListOptions = {}): Promise<Service> {
    const op = 'ipvs.getService';
    return this.readService(op, service, opts, false, (r, key, withDests) => {
      const [s] = parseListing(r, withDests, opts.stats ?? false) ?? [];
      if (!s) throw new NotFoundError(`${op}: service ${key.text} does not exist`, { op, subsystem: 'ipvs' });
      return s;
    });
  }

  /**
   * Every service, each with its real servers (unless `destinations: false`), in one crossing.
   * @example const services = await h.listServices({ destinations: false });
   */
  listServices(opts: ListOptions = {}): Promise<Service[]> {
    const op = 'ipvs.listServices';
    try {
      checkOpts({ op, subsystem: 'ipvs' }, 'options', opts, { destinations: 'boolean', stats: 'boolean' });
    } catch (e) {
      return this.rejected(op, e);
    }
    const withDests = opts.destinations ?? true;
    const stats = opts.stats ?? false;
    return this.run(op, () => this.dump(op, withDests, stats));
  }

  // ---- real servers ---------------------------------------------------------------------

  /**
   * Adds a real server to a service, like `ipvsadm -a`.
   * @example await h.addDestination({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { address: '10.244.1.5', port: 8080, weight: 1 });
   */
  addDestination(service: ServiceKey, destination: DestinationInput): Promise<void> {
    return this.one('ipvs.addDestination', { op: 'addDestination', service, destination });
  }

  /**
   * Changes a real server; fields left out keep their current values.
   * @example await h.updateDestination({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { address: '10.244.1.5', port: 8080, weight: 0 });
   */
  updateDestination(service: ServiceKey, destination: DestinationInput): Promise<void> {
    return this.one('ipvs.updateDestination', { op: 'updateDestination', service, destination });
  }

  /**
   * Removes a real server from a service at once, like `ipvsadm -d` (drain() waits for its connections first).
   * @example await h.deleteDestination({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { address: '10.244.1.5', port: 8080 });
   */
  deleteDestination(service: ServiceKey, destination: DestinationKey): Promise<void> {
    return this.one('ipvs.deleteDestination', { op: 'deleteDestination', service, destination });
  }

  /**
   * The real servers of one service; NotFoundError when the service does not exist.
   * @example const dests = await h.listDestinations({ protocol: 'tcp', address: '10.96.0.10', port: 80 }, { stats: true });
   */
  listDestinations(service: ServiceKey, opts: Pick<ListOptions, 'stats'> = {}): Promise<Destination[]> {
    return this.readService('ipvs.listDestinations', service, opts, true, (r, key) => {
      const out: Destination[] = [];
      const stats = opts.stats ?? false;
      forEachNest(r.data, r.sections[0]!, r.sections[1]!, CmdAttr.Dest, (s, e) => out.push(toDest(r.data, parseDest(r.data, s, e, key.af), stats)));
      return out;
    });
  }

  /**
   * Graceful removal of a real server: weight 0 (no new connections), then wait, polling on a
   * timer, until its active and inactive connections reach zero or the wait ends (`timeout`
   * milliseconds from now, or at `deadline`; default 5 minutes), then delete it. The handle
   * stays free for other work while it waits. `signal`: an aborted one rejects with an
   * AbortedError (name 'AbortError', code 'ABORT_ERR'): before the weight is set, nothing
   * changed (`applied` 0); during the wait, the weight stays 0 and the real server is not
   * deleted (`applied` 1: the weight change).
   *
   * @example await ipvs.drain(svc, { address: '10.244.2.7', port: 8080 }, { timeout: 30_000 })
   */
  async drain(service: ServiceKey, destination: DestinationKey, opts: DrainOptions = {}): Promise<DrainResult> {
    const op = 'ipvs.drain';
    const started = Date.now();
    let deadline: number;
    try {
      checkOpts({ op, subsystem: 'ipvs' }, 'options', opts, { timeout: 'number', deadline: 'date|number', interval: 'number', signal: 'signal' });
      deadline = drainDeadline(op, opts, started);
    } catch (e) {
      return this.rejected(op, e);
    }
    const interval = opts.interval ?? 1000;
    if (typeof interval !== 'number' || !(interval > 0) || !Number.isFinite(interval)) {
      return this.rejected(op, new InvalidArgumentError(`${op}: interval must be a positive number of milliseconds`, { op, subsystem: 'ipvs', argument: 'interval' }));
    }
    const key = normKey(op, service);
    const dkey = normDestKey(op, key, destination);
    if (opts.signal?.aborted) return this.rejected(op, abortedDrain(op, opts.signal, 0));
    await this.updateDestination(service, { address: destination.address, port: dkey.port, weight: 0 });
    let remaining = 0;
    for (;;) {
      if (opts.signal?.aborted) throw abortedDrain(op, opts.signal, 1);
      const d = (await this.listDestinations(service).catch((e: unknown) => {
        if (e instanceof NotFoundError) return [];
        throw e;
      })).find((x) => normDestKey(op, key, x).text === dkey.text);
      if (!d) return { drained: true, remaining: 0, waitedMs: Date.now() - started };  // removed meanwhile
      remaining = d.activeConnections + d.inactiveConnections;
      const left = deadline - Date.now();
      if (remaining === 0 || left <= 0) break;
      await sleep(Math.min(interval, left), undefined, opts.signal ? { signal: opts.signal } : undefined).catch((e: unknown) => {
        throw opts.signal?.aborted ? abortedDrain(op, opts.signal, 1) : e;
      });
    }
    await this.deleteDestination(service, { address: destination.address, port: dkey.port }).catch((e: unknown) => {
      if (!(e instanceof NotFoundError)) throw e;
    });
    return { drained: remaining === 0, remaining, waitedMs: Date.now() - started };
  }

  // ---- global state ---------------------------------------------------------------------

  /**
   * The kernel's IPVS version and connection table size.
   * @example const { version } = await h.getInfo();
   */
  getInfo(): Promise<Info> {
    return this.read('ipvs.getInfo', Cmd.GetInfo, false, (r) => {
      const { at } = topAttrs(r.data, 0, r.sections[0]!, InfoAttr.ConnTabSize);
      const code = at[InfoAttr.Version] ? r.data.readUInt32LE(at[InfoAttr.Version]!) : 0;
      return {
        version: `${code >> 16}.${(code >> 8) & 0xff}.${code & 0xff}`,
        versionCode: code,
        connectionTableSize: at[InfoAttr.ConnTabSize] ? r.data.readUInt32LE(at[InfoAttr.ConnTabSize]!) : 0,
      };
    });
  }

  /**
   * The tcp, tcpfin and udp connection timeouts in seconds, like `ipvsadm -l --timeout`.
   * @example const { tcp, tcpFin, udp } = await h.getTimeouts();
   */
  getTimeouts(): Promise<Timeouts> {
    return this.read('ipvs.getTimeouts', Cmd.GetConfig, false, (r) => {
      const { at } = topAttrs(r.data, 0, r.sections[0]!, CmdAttr.TimeoutUdp);
      const v = (a: number) => (at[a] ? r.data.readUInt32LE(at[a]!) : 0);
      return { tcp: v(CmdAttr.TimeoutTcp), tcpFin: v(CmdAttr.TimeoutTcpFin), udp: v(CmdAttr.TimeoutUdp) };
    });
  }

  /**
   * Seconds; omitted (or 0) values stay as they are.
   * @example await h.setTimeouts({ tcp: 900, udp: 300 });
   */
  setTimeouts(timeouts: Partial<Timeouts>): Promise<void> {
    return this.one('ipvs.setTimeouts', { op: 'setTimeouts', timeouts });
  }

  /**
   * Zeroes the counters of one service, or of everything.
   * @example await h.zero({ protocol: 'tcp', address: '10.96.0.10', port: 80 });
   */
  zero(service?: ServiceKey): Promise<void> {
    return this.one('ipvs.zero', service === undefined ? { op: 'zero' } : { op: 'zero', service });
  }

  /**
   * Removes every service and real server.
   * @example await h.flush();
   */
  flush(): Promise<void> {
    return this.one('ipvs.flush', { op: 'flush' });
  }

  /** The connection sync daemons: `h.daemons.start(cfg)` / `stop(state)` / `list()`. */
  readonly daemons: Daemons = new Daemons(this);

  /**
   * Starts the connection sync daemon (master or backup), like `ipvsadm --start-daemon`.
   * @deprecated Use h.daemons.start(); stays for one release.
   * @example await h.startDaemon({ state: 'master', interface: 'eth0', syncId: 1 });
   */
  startDaemon(config: DaemonConfig): Promise<void> {
    return this.daemonStart('ipvs.startDaemon', config);
  }

  /** h.daemons.start's work; `op` is the name its errors carry. @internal */
  daemonStart(op: string, config: DaemonConfig): Promise<void> {
    let w: GenlWriter;
    try {
      const d = normDaemon(op, config);
      w = new GenlWriter(128);
      w.begin(Cmd.NewDaemon);
      const at = w.nest(CmdAttr.Daemon);
      w.u32(DaemonAttr.State, d.state);
      w.str(DaemonAttr.McastIfn, d.ifn);
      w.u32(DaemonAttr.SyncId, d.syncId);
      if (d.maxLen !== undefined) w.u16(DaemonAttr.SyncMaxlen, d.maxLen);
      if (d.group4) w.bytes(DaemonAttr.McastGroup, d.group4);
      if (d.group6) w.bytes(DaemonAttr.McastGroup6, d.group6);
      if (d.port !== undefined) w.u16(DaemonAttr.McastPort, d.port);
      if (d.ttl !== undefined) w.u8(DaemonAttr.McastTtl, d.ttl);
      w.close(at);
      w.end();
    } catch (e) {
      return this.rejected(op, e);
    }
    return this.sendOne(op, w, { cmd: Cmd.NewDaemon, what: config.state });
  }

  /**
   * Stops the sync daemon of that state.
   * @deprecated Use h.daemons.stop(); stays for one release.
   * @example await h.stopDaemon('master');
   */
  stopDaemon(state: DaemonState | { state: DaemonState }): Promise<void> {
    return this.daemonStop('ipvs.stopDaemon', state);
  }

  /** h.daemons.stop's work. @internal */
  daemonStop(op: string, state: DaemonState | { state: DaemonState }): Promise<void> {
    const name = typeof state === 'object' && state !== null ? state.state : state;
    const code = name === 'master' ? 1 : name === 'backup' ? 2 : 0;
    if (!code) {
      return this.rejected(op, new InvalidArgumentError(`${op}: invalid daemon state ${JSON.stringify(name)} (master or backup)`, { op, subsystem: 'ipvs', argument: String(name) }));
    }
    const w = new GenlWriter(64);
    w.begin(Cmd.DelDaemon);
    const at = w.nest(CmdAttr.Daemon);
    w.u32(DaemonAttr.State, code);
    w.close(at);
    w.end();
    return this.sendOne(op, w, { cmd: Cmd.DelDaemon, what: name });
  }

  /**
   * The running sync daemons.
   * @deprecated Use h.daemons.list(); stays for one release.
   * @example const daemons = await h.listDaemons();
   */
  listDaemons(): Promise<Daemon[]> {
    return this.daemonList('ipvs.listDaemons');
  }

  /** h.daemons.list's work. @internal */
  daemonList(op: string): Promise<Daemon[]> {
    return this.read(op, Cmd.GetDaemon, true, (r) => {
      const out: Daemon[] = [];
      forEachNest(r.data, 0, r.sections[0]!, CmdAttr.Daemon, (s, e) => {
        const d = parseDaemon(r.data, s, e);
        const daemon: Daemon = { state: d.state === 2 ? 'backup' : 'master', interface: d.ifn, syncId: d.syncId };
        if (d.maxLen !== undefined) daemon.maxLength = d.maxLen;
        if (d.group !== undefined) daemon.group = d.group;
        if (d.port !== undefined) daemon.port = d.port;
        if (d.ttl !== undefined) daemon.ttl = d.ttl;
        out.push(daemon);
      });
      return out;
    });
  }

  // ---- batches --------------------------------------------------------------------------

  /**
   * Many operations, one crossing: every message goes to the kernel in large pipelined
   * writes and each one's acknowledgement is its result, in order. Input is validated for
   * all of them first: an invalid one rejects the call (InvalidArgumentError with `index`)
   * and nothing is sent. The kernel's refusals are per-operation results; later operations
   * still run. `signal`: see ApplyOptions.
   * @example
   * const results = await h.apply([
   *   { op: 'addService', service: { protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr' } },
   *   { op: 'addDestination', service: { protocol: 'tcp', address: '10.96.0.10', port: 80 }, destination: { address: '10.244.1.5', port: 8080 } },
   * ]);
   */
  apply(ops: ApplyOp[], opts: ApplyOptions = {}): Promise<ApplyResult[]> {
    const op = 'ipvs.apply';
    let items: Item[];
    try {
      checkOpts({ op, subsystem: 'ipvs' }, 'options', opts, { signal: 'signal', onProgress: 'function' });
      throwIfAborted(opts.signal, op, 'ipvs');
      if (!Array.isArray(ops)) throw new InvalidArgumentError(`${op}: expects an array of operations`, { op, subsystem: 'ipvs' });
      items = prepare(op, ops);
    } catch (e) {
      return this.rejected(op, e);
    }
    const site = callSite(this.apply, OWN_FRAMES);
    return this.execute(op, items, opts.signal, opts.onProgress).then((rs) => {
      for (const r of rs) if (!r.ok) withSite(r.error, site);
      return rs;
    });
  }

  // ---- desired state --------------------------------------------------------------------

  /**
   * Makes the kernel's services and real servers equal to `services`: reads them in one dump,
   * and sends only the difference as one batch (deleted services, new ones, changed
   * attributes, then real servers). What is unchanged is not touched, so its counters and
   * connections stay. The whole list is validated before anything is sent. If the kernel
   * refuses some operations, the others still apply and the call rejects with the first
   * refusal, carrying `failures` (each operation with its error) and `result`. `signal`: see
   * SyncOptions.
   * @example
   * const r = await h.sync([{ protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr',
   *   destinations: [{ address: '10.244.1.5', port: 8080 }] }]);
   * console.log(r.added, r.removed);
   */
  sync(services: SyncInput, opts: SyncOptions = {}): Promise<IpvsSyncResult> {
    const op = 'ipvs.sync';
    let desired: ReturnType<typeof normalizeDesired>;
    try {
      checkOpts({ op, subsystem: 'ipvs' }, 'options', opts, { prune: 'boolean|function', dryRun: 'boolean', signal: 'signal', onProgress: 'function' });
      throwIfAborted(opts.signal, op, 'ipvs');
      desired = normalizeDesired(services, op);
    } catch (e) {
      return this.rejected(op, e);
    }
    return this.run(op, async () => {
      const plan = diffIpvs(await this.dump(op), desired, opts);
      const result: IpvsSyncResult = {
        added: plan.added, updated: plan.updated, removed: plan.removed, unchanged: plan.unchanged,
        services: plan.services, destinations: plan.destinations, ops: plan.ops,
      };
      if (opts.dryRun || plan.ops === 0) {
        new ProgressReport(opts.onProgress, 0).end(0);  // the one final report: nothing sent
        return result;
      }
      const items = prepare(op, plan.operations);
      throwIfAborted(opts.signal, op, 'ipvs');
      const rs = await this.native(op, (wk) => this.sendItems(op, wk, items, new ProgressReport(opts.onProgress, items.length)));
      const failures: { operation: ApplyOp; error: NlkitError }[] = [];
      rs.forEach((r, i) => {
        if (r.ok) return;
        const o = plan.operations[i]!;
        failures.push({ operation: o, error: r.error });
        const counts = o.op.endsWith('Service') ? result.services : result.destinations;
        if (o.op.startsWith('add')) counts.added--;
        else if (o.op.startsWith('update')) counts.updated--;
        else counts.deleted--;
        if (o.op === 'addService') result.added--;
        else if (o.op === 'deleteService') result.removed--;
      });
      if (failures.length === 0) return result;
      const first = failures[0]!.error;
      if (failures.length > 1) first.message += ` (and ${failures.length - 1} more of ${plan.ops} operations failed; see .failures)`;
      Object.assign(first, { failures, result });
      throw first;
    });
  }

  /**
   * Every service (with its real servers unless `withDests` is false), in one dump retried while
   * it was interrupted: listServices() and what queued operations read.
   */
  private async dump(op: string, withDests = true, stats = false): Promise<Service[]> {
    const w = new GenlWriter(64);
    w.begin(Cmd.GetService, true);
    w.end();
    for (let attempt = 1; ; attempt++) {
      const r = await this.native(op, (wk) => this.query(wk, w, withDests));
      if (r.errnos[0]) throw kernelError(op, r.errnos[0], { cmd: Cmd.GetService });
      const out = r.interrupted ? undefined : parseListing(r, withDests, stats);
      if (out) return out;
      if (attempt >= DUMP_RETRIES) {
        throw new ConcurrentModificationError(
          `${op}: the services changed during the dump ${DUMP_RETRIES} times in a row (NLM_F_DUMP_INTR or a service seen twice)`,
          { op, subsystem: 'ipvs' });
      }
    }
  }

  // ---- plumbing -------------------------------------------------------------------------

  private one(op: string, o: ApplyOp): Promise<void> {
    let items: Item[];
    try {
      items = prepare(op, [o], false);
    } catch (e) {
      return this.rejected(op, e);
    }
    const site = callSite(this.one, OWN_FRAMES);
    return this.execute(op, items).then(([r]) => {
      if (!r!.ok) throw withSite(r!.error, site);
    });
  }

  private execute(op: string, items: Item[], signal?: AbortSignal, onProgress?: ProgressCallback): Promise<ApplyResult[]> {
    const progress = new ProgressReport(onProgress, items.length);
    if (items.some((i) => i.partial)) {
      return this.run(op, async () => {
        const r = await this.native(op, (wk) => this.query(wk, currentStateRequest(items), false));
        resolvePartials(op, items, r);
        throwIfAborted(signal, op, 'ipvs');
        return this.native(op, (wk) => this.sendItems(op, wk, items, progress));
      });
    }
    // runOne's call must not throw (it would break the call order): an abort is a rejection.
    return this.runOne(op, (wk) => {
      try {
        throwIfAborted(signal, op, 'ipvs');
      } catch (e) {
        return Promise.reject(e);
      }
      return this.sendItems(op, wk, items, progress);
    });
  }

  private sendItems(op: string, wk: RawWorker, items: Item[], progress = new ProgressReport(undefined, 0)): Promise<ApplyResult[]> {
    const w = new GenlWriter(Math.min(1 << 26, 256 + items.length * 160));
    const sent: number[] = [];
    for (let i = 0; i < items.length; i++) if (!items[i]!.error) {
      encode(w, items[i]!);
      sent.push(i);
    }
    const results = (errnos: Int32Array | undefined, messages: Record<number, string>, loDown = false): ApplyResult[] => {
      const out: ApplyResult[] = items.map((it) => (it.error ? { ok: false, error: it.error } : { ok: true }));
      if (errnos) for (let m = 0; m < sent.length; m++) {
        const e = errnos[m]!;
        if (!e) continue;
        const it = items[sent[m]!]!;
        const ctx: ErrorContext = { cmd: it.cmd };
        const svc = it.svc ?? it.key;
        if (svc) ctx.svc = svc;
        if (it.dest) ctx.dest = it.dest;
        if (messages[m]) ctx.detail = messages[m];
        if (loDown) ctx.loopbackDown = true;
        const error = kernelError(op, e, ctx);
        if (items.length > 1) error.index = sent[m]!;
        out[sent[m]!] = { ok: false, error };
      }
      return out;
    };
    if (sent.length === 0) {
      progress.end(0);
      return Promise.resolve(results(undefined, {}));
    }
    const { bytes, ends } = w.batch();
    const counter = progress.counter();
    // one message per operation: the requests the kernel applied are the operations done
    return progress.watch(this.send(wk, { bytes, ends }, counter), counter, (n) => n).then(async (r) => {
      progress.end(r.errnos.reduce((n, e) => n + (e === 0 ? 1 : 0), 0));
      // An IPv4 real server refused as invalid: the kernel may have had no routing table to
      // check its address in (loopback down). Asked only then, on the same thread.
      const einval = sent.some((i, m) => r.errnos[m] === E.EINVAL && items[i]!.cmd === Cmd.NewDest && items[i]!.dest?.af === AF_INET);
      return results(r.errnos, r.messages, einval && await loopbackDown(wk));
    }, (e: unknown) => {
      progress.end(0);
      throw e;
    });
  }

  private sendOne(op: string, w: GenlWriter, ctx: ErrorContext): Promise<void> {
    const { bytes, ends } = w.batch();
    return this.runOne(op, (wk) => this.send(wk, { bytes, ends }).then((r) => {
      if (r.errnos[0]) throw kernelError(op, r.errnos[0], { ...ctx, ...(r.messages[0] ? { detail: r.messages[0] } : {}) });
    }));
  }

  /**
   * A read about one service: checks its key and options, asks for the service and, with
   * `dests`, dumps its real servers after it (the service first: a dump of a missing service's
   * real servers is merely empty). Refusals are errors; `parse` gets the answers, the key and
   * whether they hold the real servers of the service's own dump (getService's `destinations`).
   */
  private readService<T>(op: string, service: ServiceKey, opts: ListOptions, dests: boolean,
    parse: (r: IpvsQueryResult, key: NormKey, withDests: boolean) => T): Promise<T> {
    let key: NormKey;
    try {
      key = normKey(op, service);
      checkOpts({ op, subsystem: 'ipvs' }, 'options', opts, dests ? { stats: 'boolean' } : { destinations: 'boolean', stats: 'boolean' });
    } catch (e) {
      return this.rejected(op, e);
    }
    const w = new GenlWriter(dests ? 256 : 128);
    for (const cmd of dests ? [Cmd.GetService, Cmd.GetDest] : [Cmd.GetService]) {
      w.begin(cmd, cmd === Cmd.GetDest);
      w.close(w.serviceKey(key));
      w.end();
    }
    const withDests = !dests && (opts.destinations ?? true);
    return this.runOne(op, (wk) => this.query(wk, w, withDests).then((r) => {
      if (r.errnos[0]) throw kernelError(op, r.errnos[0], { cmd: Cmd.GetService, svc: key });
      if (r.errnos[1]) throw kernelError(op, r.errnos[1], { cmd: Cmd.GetDest, svc: key });
      return parse(r, key, withDests);
    }));
  }

  /** One request without attributes (a dump when `dump`): the kernel's refusal as an error, else what `parse` makes of the answer. */
  private read<T>(op: string, cmd: Cmd, dump: boolean, parse: (r: IpvsQueryResult) => T): Promise<T> {
    const w = new GenlWriter(64);
    w.begin(cmd, dump);
    w.end();
    return this.runOne(op, (wk) => this.query(wk, w, false).then((r) => {
      if (r.errnos[0]) throw kernelError(op, r.errnos[0], { cmd });
      return parse(r);
    }));
  }

  /** Requests sent pipelined over the worker's generic netlink socket, one errno each. */
  private async send(wk: RawWorker, msgs: { bytes: Uint8Array; ends: Uint32Array }, progress?: Uint32Array): Promise<NetlinkSendResult> {
    return send(wk, NETLINK_GENERIC, await this.family.stamp(wk, msgs), { chunk: CHUNK, ...(progress ? { progress } : {}) });
  }

  /**
   * Requests answered with data, run once (an interrupted dump is reported: the callers
   * retry). `follow`: each service of request 0's replies is followed by a dump of its real
   * servers, asked by the service's identity, so a full listing is one crossing.
   */
  private async query(wk: RawWorker, w: GenlWriter, follow: boolean): Promise<IpvsQueryResult> {
    const id = await this.family.id(wk);
    const msgs = stampFamily(w.batch(), id);
    if (!follow) return dump(wk, NETLINK_GENERIC, msgs, { attempts: 1, reportInterrupted: true });
    const head = new GenlWriter(32);
    head.begin(Cmd.GetDest, true);
    head.end();
    return dump(wk, NETLINK_GENERIC, msgs, {
      attempts: 1, reportInterrupted: true,
      follow: { head: stampFamily(head.batch(), id).bytes, attr: CmdAttr.Service, keep: SERVICE_KEY_ATTRS },
    });
  }

  /** A validation error, rejected in call order with the caller's stack. */
  private rejected<T>(op: string, e: unknown): Promise<T> {
    return this.run(op, () => Promise.reject(e));
  }
}

/** Epoch ms at which drain() stops waiting: `timeout` is a duration, `deadline` a point in time. */
function drainDeadline(op: string, o: DrainOptions, now: number): number {
  const bad = (m: string, argument: string) => new InvalidArgumentError(`${op}: ${m}`, { op, subsystem: 'ipvs', argument });
  if (o.timeout !== undefined && o.deadline !== undefined) throw bad('give timeout (a duration) or deadline (a point in time), not both', 'timeout');
  if (o.timeout !== undefined) {
    if (typeof o.timeout !== 'number' || !(o.timeout >= 0) || !Number.isFinite(o.timeout)) {
      throw bad(`timeout must be a number of milliseconds >= 0, not ${describeValue(o.timeout)}`, 'timeout');
    }
    return now + o.timeout;
  }
  if (o.deadline === undefined) return now + DEFAULT_DRAIN_MS;
  const at = o.deadline instanceof Date ? o.deadline.getTime() : o.deadline;
  if (typeof at !== 'number' || !Number.isFinite(at)) throw bad(`deadline must be a Date or epoch milliseconds, not ${describeValue(o.deadline)}`, 'deadline');
  // { deadline: 30_000 } meant a duration: as a time it is 1970, and the server would go at once.
  if (at < EPOCH_2000) {
    throw bad(`deadline is a point in time (a Date or epoch milliseconds), and ${at} is ${new Date(at).toISOString()}; for a duration use { timeout: ${at} }`, 'deadline');
  }
  return at;
}

/** Whether the worker's namespace has its loopback down (false when that cannot be read). */
async function loopbackDown(wk: RawWorker): Promise<boolean> {
  const w = new RtWriter(64);
  getLink(w, 'lo');
  const { bytes, ends } = w.batch();
  const r = await binding().linkQuery(wk, bytes, ends).catch(() => undefined);
  if (!r || r.errnos[0]) return false;
  let down = false;
  eachMessage(r.data, 0, r.sections[0]!, (type, at, len) => {
    if (type === Rtm.NewLink) down = !parseLink(r.data, at, len).up;
  });
  return down;
}

// The frames of the public wrappers (addService() -> one()) are dropped so the caller's line leads.
const OWN_FRAMES = /lib[\\/]ipvs[\\/](handle|index)\.[tj]s/;

// ---- validation and encoding of operations ---------------------------------------------

function prepare(op: string, ops: ApplyOp[], indexed = true): Item[] {
  const items: Item[] = new Array(ops.length);
  // A batch often names one service object in many operations: its key is checked once.
  const keys = new Map<object, NormKey>();
  const keyOf = (k: ServiceKey): NormKey => {
    if (typeof k !== 'object' || k === null) return normKey(op, k);
    let n = keys.get(k);
    if (!n) keys.set(k, (n = normKey(op, k)));
    return n;
  };
  for (let i = 0; i < ops.length; i++) {
    try {
      items[i] = prepareOne(op, ops[i]!, keyOf);
    } catch (e) {
      if (indexed && e instanceof InvalidArgumentError) {
        e.message = `${op}: operation ${i} (${(ops[i] as { op?: string })?.op}): ${e.message.replace(/^[\w.]+: /, '')}`;
        (e as InvalidArgumentError & { index?: number }).index = i;
      }
      throw e;
    }
  }
  return items;
}

function prepareOne(op: string, o: ApplyOp, keyOf: (k: ServiceKey) => NormKey): Item {
  if (typeof o !== 'object' || o === null || !(o.op in CMDS)) {
    throw new InvalidArgumentError(`${op}: unknown operation ${JSON.stringify((o as { op?: unknown })?.op)} (one of ${Object.keys(CMDS).join(', ')})`, { op, subsystem: 'ipvs' });
  }
  const it: Item = { kind: o.op, cmd: CMDS[o.op] };
  switch (o.op) {
    case 'addService':
      it.svc = normService(op, o.service);
      break;
    case 'updateService':
      checkOpts({ op, subsystem: 'ipvs' }, 'service', o.service, {});
      if (o.service === undefined) throw badArgument({ op, subsystem: 'ipvs' }, 'service', o.service, 'a service');
      if (completeService(o.service)) it.svc = normService(op, o.service);
      else {
        it.key = normKey(op, o.service);
        // Check what is given now; the whole is checked again once merged.
        normService(op, {
          ...o.service,
          scheduler: o.service.scheduler ?? 'rr',
          flags: o.service.scheduler ? o.service.flags : [],
          persistence: o.service.persistence ?? (it.key.port === 0 ? { timeout: 300 } : null),
        } as ServiceInput);
        it.partial = { service: o.service };
      }
      break;
    case 'deleteService':
      it.key = keyOf(o.service);
      break;
    case 'addDestination':
    case 'updateDestination':
    case 'deleteDestination':
      it.key = keyOf(o.service);
      it.dest = o.op === 'addDestination' ? normDest(op, it.key, o.destination)
        : o.op === 'deleteDestination' ? normDestKey(op, it.key, o.destination)
        : updatedDest(op, it, it.key, o.destination);
      break;
    case 'zero':
      if (o.service !== undefined) it.key = normKey(op, o.service);
      break;
    case 'flush':
      break;
    case 'setTimeouts':
      checkOpts({ op, subsystem: 'ipvs' }, 'timeouts', o.timeouts, { tcp: 'number', tcpFin: 'number', udp: 'number' });
      it.timeouts = normTimeouts(op, o.timeouts);
      break;
  }
  return it;
}

/** The real server of an updateDestination: all of it, or its key with what is given checked now (the whole again once merged). */
function updatedDest(op: string, it: Item, key: NormKey, d: DestinationInput): NormDest {
  checkOpts({ op, subsystem: 'ipvs' }, 'destination', d, {});
  if (d === undefined) throw badArgument({ op, subsystem: 'ipvs' }, 'destination', d, 'a real server');
  if (completeDest(d)) return normDest(op, key, d);
  const dest = normDestKey(op, key, d);
  normDest(op, key, {
    ...d,
    forward: d.forward ?? (d.tunnel ? 'tunnel' : 'masq'),
    upperThreshold: d.upperThreshold ?? (d.lowerThreshold === undefined ? 0 : MAX_WEIGHT),
    lowerThreshold: d.lowerThreshold ?? 0,
  });
  it.partial = { destination: d };
  return dest;
}

function encode(w: GenlWriter, it: Item): void {
  w.begin(it.cmd);
  switch (it.kind) {
    case 'addService': case 'updateService':
      w.service(it.svc!);
      break;
    case 'deleteService':
      w.close(w.serviceKey(it.key!));
      break;
    case 'addDestination': case 'updateDestination':
      w.close(w.serviceKey(it.key!));
      w.dest(it.dest!);
      break;
    case 'deleteDestination':
      w.close(w.serviceKey(it.key!));
      w.close(w.destKey(it.dest!));
      break;
    case 'zero':
      if (it.key) w.close(w.serviceKey(it.key));
      break;
    case 'flush':
      break;
    case 'setTimeouts': {
      const t = it.timeouts!;
      w.u32(CmdAttr.TimeoutTcp, t.tcp);
      w.u32(CmdAttr.TimeoutTcpFin, t.tcpFin);
      w.u32(CmdAttr.TimeoutUdp, t.udp);
      break;
    }
  }
  w.end();
}

// ---- filling in partial updates ----------------------------------------------------------

/** GET_SERVICE for each service a partial update names, then a dump of its real servers. */
function currentStateRequest(items: Item[]): GenlWriter {
  const w = new GenlWriter(4096);
  for (const k of partialKeys(items)) {
    w.begin(Cmd.GetService);
    w.close(w.serviceKey(k));
    w.end();
    w.begin(Cmd.GetDest, true);
    w.close(w.serviceKey(k));
    w.end();
  }
  return w;
}

function partialKeys(items: Item[]): NormKey[] {
  const seen = new Map<string, NormKey>();
  for (const it of items) if (it.partial && !seen.has(it.key!.text)) seen.set(it.key!.text, it.key!);
  return [...seen.values()];
}

/**
 * Replays the batch over the state just read, so an update after an add or delete in the
 * same batch sees it, and turns each partial update into a whole one.
 */
function resolvePartials(op: string, items: Item[], r: IpvsQueryResult): void {
  const services = new Map<string, ServiceInput | null>();
  const dests = new Map<string, Map<string, DestinationInput>>();
  const keys = partialKeys(items);
  keys.forEach((k, i) => {
    const from = i === 0 ? 0 : r.sections[2 * i - 1]!;
    const mid = r.sections[2 * i]!, end = r.sections[2 * i + 1]!;
    let svc: Service | undefined;
    const e = r.errnos[2 * i]!;
    if (e && e !== 3 /* ESRCH: absent */) throw kernelError(op, e, { cmd: Cmd.GetService, svc: k });
    if (!e) forEachNest(r.data, from, mid, CmdAttr.Service, (s, e) => { svc = toService(r.data, parseService(r.data, s, e), false); });
    services.set(k.text, svc ? serviceAsInput(svc) : null);
    const m = new Map<string, DestinationInput>();
    if (svc) forEachNest(r.data, mid, end, CmdAttr.Dest, (s, e) => {
      const d = toDest(r.data, parseDest(r.data, s, e, k.af), false);
      m.set(normDestKey(op, k, d).text, destAsInput(d));
    });
    dests.set(k.text, m);
  });
  for (const it of items) {
    const k = it.svc ?? it.key;
    switch (it.kind) {
      case 'flush':
        for (const key of services.keys()) services.set(key, null);
        for (const m of dests.values()) m.clear();
        break;
      case 'addService':
        if (services.has(k!.text) && services.get(k!.text) === null) {
          services.set(k!.text, serviceAsInput(toService(Buffer.alloc(0), { ...it.svc!, stats64: 0 }, false)));
          dests.set(k!.text, new Map());
        }
        break;
      case 'deleteService':
        if (services.has(k!.text)) {
          services.set(k!.text, null);
          dests.get(k!.text)?.clear();
        }
        break;
      case 'updateService': {
        if (!services.has(k!.text)) break;
        const cur = services.get(k!.text);
        if (it.partial?.service) {
          if (!cur) {
            it.error = new NotFoundError(`${op}: service ${k!.text} does not exist`, { op, subsystem: 'ipvs', errno: 3 });
            break;
          }
          const merged = mergeService(cur, it.partial.service);
          it.svc = normService(op, merged);
          services.set(k!.text, merged);
        } else if (cur) {
          services.set(k!.text, serviceAsInput(toService(Buffer.alloc(0), { ...it.svc!, stats64: 0 }, false)));
        }
        break;
      }
      case 'addDestination': case 'updateDestination': {
        const m = dests.get(k!.text);
        if (!m) break;
        const text = it.dest!.text;
        if (it.partial?.destination) {
          const cur = m.get(text);
          if (!services.get(k!.text)) {
            it.error = new NotFoundError(`${op}: service ${k!.text} does not exist`, { op, subsystem: 'ipvs', errno: 3 });
            break;
          }
          if (!cur) {
            it.error = new NotFoundError(`${op}: real server ${text} does not exist in service ${k!.text}`, { op, subsystem: 'ipvs', errno: 2 });
            break;
          }
          const merged = mergeDest(cur, it.partial.destination);
          it.dest = normDest(op, k!, merged);
          m.set(text, merged);
        } else if (it.kind === 'updateDestination' ? m.has(text) : !m.has(text)) {
          m.set(text, destInputOf(it.dest!, k!));
        }
        break;
      }
      case 'deleteDestination':
        dests.get(k!.text)?.delete(it.dest!.text);
        break;
      default:
        break;
    }
  }
}

function destInputOf(d: NormDest, k: NormKey): DestinationInput {
  const fwd = (['masq', 'masq', 'tunnel', 'route', 'bypass'] as const)[d.fwd] ?? 'masq';
  const out: DestinationInput = {
    address: d.text.startsWith('[') ? d.text.slice(1, d.text.lastIndexOf(']')) : d.text.slice(0, d.text.lastIndexOf(':')),
    port: d.port, weight: d.weight, forward: fwd, upperThreshold: d.uThresh, lowerThreshold: d.lThresh,
  };
  if (fwd === 'tunnel') {
    const type = (['ipip', 'gue', 'gre'] as const)[d.tunType] ?? 'ipip';
    out.tunnel = { type, checksum: (['none', 'csum', 'remcsum'] as const)[d.tunFlags & 3] ?? 'none', ...(type === 'gue' ? { port: d.tunPort } : {}) };
  }
  void k;
  return out;
}

// ---- listings --------------------------------------------------------------------------

/** Services (section 0) and, when followed, each one's real servers; undefined when a service appears twice. */
function parseListing(r: IpvsQueryResult, withDests: boolean, stats: boolean): Service[] | undefined {
  const b = r.data;
  const out: Service[] = [];
  const afs: number[] = [];
  const seen = new Set<string>();
  let dup = false;
  forEachNest(b, 0, r.sections[0]!, CmdAttr.Service, (s, e) => {
    const raw = parseService(b, s, e);
    const svc = toService(b, raw, stats);
    const id = raw.fwmark ? `f ${raw.fwmark} ${raw.af}` : `${svc.protocol} ${svc.address} ${svc.port}`;
    if (seen.has(id)) dup = true;
    seen.add(id);
    out.push(svc);
    afs.push(raw.af || AF_INET);
  });
  if (dup) return undefined;
  if (withDests) {
    if (r.sections.length !== out.length + 1) return undefined;
    for (let i = 0; i < out.length; i++) {
      if (r.errnos[i + 1]) return undefined;
      const list: Destination[] = [];
      const af = afs[i]!;
      forEachNest(b, r.sections[i]!, r.sections[i + 1]!, CmdAttr.Dest, (s, e) => list.push(toDest(b, parseDest(b, s, e, af), stats)));
      out[i]!.destinations = list;
    }
  }
  return out;
}

/** drain()'s abort: before the weight was set (applied 0), or while waiting with weight 0 (applied 1). */
function abortedDrain(op: string, signal: AbortSignal, applied: 0 | 1): AbortedError {
  const what = applied ? 'while waiting: the real server keeps weight 0 and was not deleted' : 'before anything was changed';
  return new AbortedError(`${op}: aborted ${what}`, { op, subsystem: 'ipvs', cause: signal.reason, applied });
}
