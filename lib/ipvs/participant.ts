// How IPVS joins a transaction (lib/transaction/participant.ts): tx.ipvs queues service and
// real-server changes, checked field by field as the handle checks them. Additions and updates
// run before the rules that steer traffic to them (phase 'ipvs'), deletions after those rules
// are gone ('ipvs-release'). Undo makes the services equal to the snapshot with the smallest
// set of operations (the planner of ipvs.sync); the snapshot holds the services the operations
// name (up to 64 of them), or every service for a sync, a flush or more.
import { InvalidArgumentError, NlkitError, NotFoundError } from '../core/errors.js';
import { checkOpts } from '../core/args.js';
import { blame, HandleRun, type Enqueue, type Participant, type ParticipantRun, type PlannedBase, type TxContext, type UndoLog } from '../transaction/participant.js';
import { EVERY, releases } from '../transaction/order.js';
import { IpvsHandle } from './handle.js';
import { planIpvsSync, type DesiredService, type SyncOptions as IpvsSyncOptions } from './sync.js';
import type { DestinationInput, DestinationKey, Service, ServiceInput, ServiceKey } from './types.js';
import { normDest, normDestKey, normKey, normService } from './validate.js';

/** One wanted IPVS service with the whole list of its real servers (IpvsHandle.sync). */
export type TxIpvsWanted = DesiredService;

/** Options of tx.ipvs.sync(), as IpvsHandle.sync takes them (`prune`, default true). */
export type TxIpvsSyncOptions = Omit<IpvsSyncOptions, 'dryRun'>;

/** IPVS changes. */
export interface TxIpvs {
  addService(service: ServiceInput): this;
  updateService(service: ServiceInput): this;
  deleteService(service: ServiceKey): this;
  addDestination(service: ServiceKey, destination: DestinationInput): this;
  updateDestination(service: ServiceKey, destination: DestinationInput): this;
  deleteDestination(service: ServiceKey, destination: DestinationKey): this;
  /** Deletes every virtual service. */
  flush(): this;
  /** Makes the kernel's services equal to `services` (IpvsHandle.sync). */
  sync(services: TxIpvsWanted[], opts?: TxIpvsSyncOptions): this;
}

type IpvsVariant =
  | { op: 'ipvs.addService' | 'ipvs.updateService'; service: ServiceInput }
  | { op: 'ipvs.deleteService'; service: ServiceKey }
  | { op: 'ipvs.addDestination' | 'ipvs.updateDestination'; service: ServiceKey; destination: DestinationInput }
  | { op: 'ipvs.deleteDestination'; service: ServiceKey; destination: DestinationKey }
  | { op: 'ipvs.flush' }
  | { op: 'ipvs.sync'; services: TxIpvsWanted[]; options: TxIpvsSyncOptions };

export type PlannedIpvsOp = Omit<PlannedBase, 'subsystem' | 'phase'> & { subsystem: 'ipvs'; phase: 'ipvs' | 'ipvs-release' } & IpvsVariant;

export type QueuedIpvs = IpvsVariant & { index: number };

const OP = 'transaction';
const ALL = EVERY;

function api(enqueue: Enqueue<IpvsVariant>): TxIpvs {
  return {
    addService(service: ServiceInput) {
      enqueue({ op: 'ipvs.addService', service: { ...service } });
      return this;
    },
    updateService(service: ServiceInput) {
      enqueue({ op: 'ipvs.updateService', service: { ...service } });
      return this;
    },
    deleteService(service: ServiceKey) {
      enqueue({ op: 'ipvs.deleteService', service: { ...service } });
      return this;
    },
    addDestination(service: ServiceKey, destination: DestinationInput) {
      enqueue({ op: 'ipvs.addDestination', service: { ...service }, destination: { ...destination } });
      return this;
    },
    updateDestination(service: ServiceKey, destination: DestinationInput) {
      enqueue({ op: 'ipvs.updateDestination', service: { ...service }, destination: { ...destination } });
      return this;
    },
    deleteDestination(service: ServiceKey, destination: DestinationKey) {
      enqueue({ op: 'ipvs.deleteDestination', service: { ...service }, destination: { ...destination } });
      return this;
    },
    flush() {
      enqueue({ op: 'ipvs.flush' });
      return this;
    },
    sync(services: TxIpvsWanted[], opts: TxIpvsSyncOptions = {}) {
      if (!Array.isArray(services)) throw new InvalidArgumentError(`${OP}: tx.ipvs.sync: services must be an array`, { op: OP });
      checkOpts({ op: 'tx.ipvs.sync', subsystem: 'ipvs' }, 'options', opts, { prune: 'boolean|function' });
      const copy = services.map((s) => ({ ...s, destinations: Array.isArray(s.destinations) ? s.destinations.map((d) => ({ ...d })) : s.destinations }));
      enqueue({ op: 'ipvs.sync', services: copy, options: { ...opts } });
      return this;
    },
  };
}

/** `tcp 10.96.0.10:80`, `fwmark 5`, as ipvsadm names a service. */
export function serviceText(k: ServiceKey | undefined): string {
  if (typeof k !== 'object' || k === null) return String(k);
  if ('fwmark' in k && k.fwmark !== undefined) return `fwmark ${k.fwmark}${k.family === 'inet6' ? ' (inet6)' : ''}`;
  const p = k as { protocol?: unknown; address?: unknown; port?: unknown };
  const addr = typeof p.address === 'string' && p.address.includes(':') && !p.address.startsWith('[') ? `[${p.address}]` : String(p.address);
  return `${String(p.protocol)} ${addr}:${String(p.port)}`;
}

function describe(o: IpvsVariant): string {
  const real = (d: DestinationKey | undefined) => ` -r ${String(d?.address)}${d?.port !== undefined ? `:${d.port}` : ''}`;
  switch (o.op) {
    case 'ipvs.addService': return `ipvsadm -A ${serviceText(o.service)}`;
    case 'ipvs.updateService': return `ipvsadm -E ${serviceText(o.service)}`;
    case 'ipvs.deleteService': return `ipvsadm -D ${serviceText(o.service)}`;
    case 'ipvs.addDestination': return `ipvsadm -a ${serviceText(o.service)}${real(o.destination)}`;
    case 'ipvs.updateDestination': return `ipvsadm -e ${serviceText(o.service)}${real(o.destination)}`;
    case 'ipvs.deleteDestination': return `ipvsadm -d ${serviceText(o.service)}${real(o.destination)}`;
    case 'ipvs.flush': return 'ipvsadm -C';
    case 'ipvs.sync': return `ipvs sync (${o.services.length} services)`;
  }
}

/** The service an IPVS operation works on ('*': every service). */
function names(o: IpvsVariant): string[] {
  if (o.op === 'ipvs.flush' || o.op === 'ipvs.sync') return [ALL];
  try {
    return [normKey('transaction', o.service).text];
  } catch {
    return [JSON.stringify(o.service)];
  }
}

const isRelease = (o: IpvsVariant) => o.op === 'ipvs.deleteService' || o.op === 'ipvs.deleteDestination' || o.op === 'ipvs.flush';

/** Deletions wait for the release phase unless a later operation names the same service. */
function plan(items: QueuedIpvs[]): PlannedIpvsOp[] {
  const late = releases(items, isRelease, names);
  return items.map((o) => ({ ...o, subsystem: 'ipvs', phase: late.has(o.index) ? 'ipvs-release' : 'ipvs', summary: describe(o) }) as PlannedIpvsOp);
}

function check(o: PlannedIpvsOp): void {
  try {
    switch (o.op) {
      case 'ipvs.addService':
      case 'ipvs.updateService':
        normService(o.op, o.service);
        break;
      case 'ipvs.deleteService':
        normKey(o.op, o.service);
        break;
      case 'ipvs.addDestination':
      case 'ipvs.updateDestination':
        normDest(o.op, normKey(o.op, o.service), o.destination);
        break;
      case 'ipvs.deleteDestination':
        normDestKey(o.op, normKey(o.op, o.service), o.destination);
        break;
      case 'ipvs.flush':
        break;
      case 'ipvs.sync':
        // The planner checks the whole wanted list (fields, duplicates) without the kernel.
        planIpvsSync([], o.services as DesiredService[], { ...o.options, prune: false });
        break;
    }
  } catch (e) {
    if (e instanceof NlkitError) throw blame(e, o);
    throw new InvalidArgumentError(`${OP}: ${o.summary} (#${o.index}): ${(e as Error).message}`, { op: o.op, subsystem: 'ipvs', cause: e });
  }
}

/** Up to this many services named by a transaction's operations are snapshotted one by one; more, or a sync, dump them all. */
const SNAPSHOT_SERVICES = 64;

class IpvsRun extends HandleRun<IpvsHandle> implements ParticipantRun<PlannedIpvsOp> {
  #saved: Service[] | undefined;
  /** The services the snapshot holds; undefined: every service. */
  #scope: ServiceKey[] | undefined;

  constructor(ctx: TxContext) {
    super(ctx, (base) => new IpvsHandle(base));
  }

  async validate(ops: PlannedIpvsOp[]): Promise<void> {
    for (const o of ops) check(o);
  }

  async snapshot(ops: PlannedIpvsOp[]): Promise<void> {
    // A few named services (a proxy's endpoint change): only those, not a dump of every service
    // and real server. A sync or flush may touch any service: all of them.
    const keys = new Map<string, ServiceKey>();
    if (ops.every((o) => o.op !== 'ipvs.sync' && o.op !== 'ipvs.flush')) for (const o of ops) keys.set(normKey(o.op, o.service).text, o.service);
    this.#scope = keys.size && keys.size <= SNAPSHOT_SERVICES ? [...keys.values()] : undefined;
    this.#saved = await this.#read();
  }

  /** The services in scope as the kernel has them now (those absent left out), or every service. */
  async #read(): Promise<Service[]> {
    if (!this.#scope) return this.h.listServices({ destinations: true });
    const found = await Promise.all(this.#scope.map((k) => this.h.getService(k).catch((e: unknown) => {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    })));
    return found.filter((s): s is Service => s !== undefined);
  }

  async apply(o: PlannedIpvsOp): Promise<void> {
    const v = this.h;
    switch (o.op) {
      case 'ipvs.addService': return v.addService(o.service);
      case 'ipvs.updateService': return v.updateService(o.service);
      case 'ipvs.deleteService': return v.deleteService(o.service);
      case 'ipvs.addDestination': return v.addDestination(o.service, o.destination);
      case 'ipvs.updateDestination': return v.updateDestination(o.service, o.destination);
      case 'ipvs.deleteDestination': return v.deleteDestination(o.service, o.destination);
      case 'ipvs.flush': return v.flush();
      case 'ipvs.sync': await v.sync(o.services, o.options); return;
    }
  }

  /** The smallest set of operations back to the snapshot. */
  async restore(_started: PlannedIpvsOp[], _failedLast: boolean, log: UndoLog): Promise<void> {
    const wanted = this.#saved as unknown as DesiredService[] | undefined;
    if (!wanted) return;
    await log.step('ipvs back to the snapshot', async () => {
      // Pruned within the scope: a service the transaction added is in `current`, not in `wanted`.
      const current = await this.#read();
      const p = planIpvsSync(current, wanted, { prune: true });
      if (p.operations.length === 0) return;
      const results = await this.h.apply(p.operations);
      const failed = results.filter((r) => !r.ok);
      if (failed.length) throw (failed[0] as { error: NlkitError }).error;
    });
  }
}

/**
 * The IPVS participant of transaction(): its virtual services come after the addresses they
 * are bound to (link).
 *
 * @example
 *   await transaction((tx) => { tx.ipvs.addService({ protocol: 'tcp', address: '10.96.0.10', port: 80 }); });
 */
export const ipvsParticipant: Participant<'ipvs', TxIpvs, QueuedIpvs, PlannedIpvsOp> = {
  name: 'ipvs',
  after: ['link'],
  releases: true,
  api,
  plan,
  start: (ctx) => new IpvsRun(ctx),
};
