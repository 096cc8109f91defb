// Child of test/kernel/arg-types.test.ts, run inside a throwaway namespace (`ip netns exec`),
// so that the module-level functions act there too. Calls every public function and handle
// method with each argument (and each known option) replaced by a value of a wrong JS type,
// and prints as one JSON line every call that did not reject with InvalidArgumentError.
// First each function is called once with good arguments, to show that the good ones pass
// validation (so that a refusal is the bad argument's); the kernel state after that is the
// baseline that the wrong-type calls must leave alone.
import { spawnSync } from 'node:child_process';
import { ipset, iptables, ipvs, link, transaction, InvalidArgumentError } from '../../lib/index.js';
// Parsers and planners: importable inside lib/ (no longer exported by the package entry).
import { formatIpvsadm, parseIpvsadm } from '../../lib/ipvs/ipvsadm-text.js';
import { planIpvsSync } from '../../lib/ipvs/sync.js';
import { planIpsetSync } from '../../lib/ipset/sync.js';
import { parseRestore, planRestore, quoteArg, tokenize } from '../../lib/iptables/restore-text.js';

type Kind = 'null' | 'undefined' | 'number' | 'Buffer' | 'function' | 'symbol' | 'object' | 'string' | 'array';
const BAD: Record<Kind, () => unknown> = {
  null: () => null, undefined: () => undefined, number: () => 42, Buffer: () => Buffer.from('x'),
  function: () => () => 'x', symbol: () => Symbol('x'), object: () => ({ bogus: 1 }), string: () => 'nlkit-bogus', array: () => [],
};
const WALKED: Kind[] = ['null', 'undefined', 'number', 'Buffer', 'function', 'symbol', 'object'];

interface Param {
  good: unknown;
  /** undefined is a valid value (an optional argument). */
  optional?: boolean;
  /** Other kinds that are valid here. */
  accepts?: Kind[];
  /** An options object: each key is walked too (undefined is valid for each). */
  keys?: Record<string, Omit<Param, 'optional' | 'keys'>>;
}
interface Fn { name: string; call: (...a: unknown[]) => unknown; params: Param[] }

const name = (good: string): Param => ({ good });
const opts = (keys: Param['keys'] = {}): Param => ({ good: {}, optional: true, accepts: ['object'], keys });
const bool: Omit<Param, 'optional' | 'keys'> = { good: true };
const num = (good: number): Omit<Param, 'optional' | 'keys'> => ({ good });
const str = (good: string): Omit<Param, 'optional' | 'keys'> => ({ good });
const exist = () => opts({ exist: bool });
const signal: Omit<Param, 'optional' | 'keys'> = { good: new AbortController().signal };
/** The options of the bulk calls that take an AbortSignal. */
const bulk = () => opts({ exist: bool, signal });
const lockKeys = { wait: { good: 5_000, accepts: [] as Kind[] }, waitTimeout: num(5_000), waitInterval: num(50) };

const svc = { protocol: 'tcp', address: '10.0.0.1', port: 80 };
const dst = { address: '10.1.0.1', port: 80 };

/** The functions of one subsystem, on a handle or the module. */
function ipsetFns(prefix: string, o: ipset.IpsetHandle | typeof ipset): Fn[] {
  const S = 'nlkit-walk';
  return [
    { name: 'create', call: o.create as never, params: [name(S), { good: 'hash:ip' }, opts({ timeout: num(0), comment: bool, family: str('inet'), hashsize: num(1024) }), exist()] },
    { name: 'add', call: o.add as never, params: [name(S), { good: '10.9.0.1', accepts: ['array'] as Kind[] }, bulk()] },
    { name: 'delete', call: o.delete as never, params: [name(S), { good: '10.9.0.1', accepts: ['array'] as Kind[] }, bulk()] },
    { name: 'del', call: o.del as never, params: [name(S), { good: '10.9.0.1', accepts: ['array'] as Kind[] }, bulk()] },
    { name: 'test', call: o.test as never, params: [name(S), { good: '10.9.0.1', accepts: ['array'] as Kind[] }] },
    { name: 'list', call: o.list as never, params: [{ good: S, optional: true }, opts({ members: bool })] },
    { name: 'save', call: o.save as never, params: [{ good: S, optional: true }] },
    { name: 'restore', call: o.restore as never, params: [{ good: 'create nlkit-walk-r hash:ip\n' }, bulk()] },
    { name: 'replace', call: o.replace as never, params: [name(S), { good: [] }, opts({ signal })] },
    { name: 'sync', call: o.sync as never, params: [name(S), { good: [] }, opts({ create: { good: { type: 'hash:ip' } }, signal })] },
    { name: 'flush', call: o.flush as never, params: [{ good: S, optional: true }] },
    { name: 'swap', call: o.swap as never, params: [name(S), name('nlkit-walk-r')] },
    { name: 'rename', call: o.rename as never, params: [name('nlkit-walk-r'), name('nlkit-walk-s')] },
    { name: 'destroy', call: o.destroy as never, params: [{ good: 'nlkit-walk-s', optional: true }] },
  ].map((f) => ({ ...f, name: `${prefix}.${f.name}`, call: (f.call as Function).bind(o) as Fn['call'] }));
}

function iptablesFns(prefix: string, o: iptables.IptablesHandle | typeof iptables): Fn[] {
  const fns: Fn[] = [
    { name: 'restore', call: o.restore as never, params: [{ good: '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n' }, opts({ noflush: bool, table: str('filter'), counters: bool, ...lockKeys, signal })] },
    { name: 'save', call: o.save as never, params: [opts({ table: str('filter'), counters: bool })] },
    { name: 'withLock', call: o.withLock as never, params: [{ good: () => 1, accepts: ['function'] }, opts(lockKeys)] },
    { name: 'table', call: o.table as never, params: [name('filter'), opts({ noflush: bool })] },
  ];
  return fns.map((f) => ({ ...f, name: `${prefix}.${f.name}`, call: (f.call as Function).bind(o) as Fn['call'] }));
}

function ipvsFns(prefix: string, o: ipvs.IpvsHandle | typeof ipvs): Fn[] {
  const service = { good: { ...svc, scheduler: 'rr' } };
  const key = { good: svc };
  const fns: Fn[] = [
    { name: 'addService', call: o.addService as never, params: [service] },
    { name: 'updateService', call: o.updateService as never, params: [service] },
    { name: 'getService', call: o.getService as never, params: [key, opts({ destinations: bool, stats: bool })] },
    { name: 'listServices', call: o.listServices as never, params: [opts({ destinations: bool, stats: bool })] },
    { name: 'addDestination', call: o.addDestination as never, params: [key, { good: dst }] },
    { name: 'updateDestination', call: o.updateDestination as never, params: [key, { good: dst }] },
    { name: 'listDestinations', call: o.listDestinations as never, params: [key, opts({ stats: bool })] },
    { name: 'drain', call: o.drain as never, params: [key, { good: dst }, opts({ timeout: num(0), interval: num(10), signal: { good: new AbortController().signal } })] },
    { name: 'deleteDestination', call: o.deleteDestination as never, params: [key, { good: dst }] },
    { name: 'zero', call: o.zero as never, params: [{ good: svc, optional: true }] },
    { name: 'deleteService', call: o.deleteService as never, params: [key] },
    { name: 'setTimeouts', call: o.setTimeouts as never, params: [{ good: { tcp: 900 }, accepts: ['object'] }] },
    { name: 'apply', call: o.apply as never, params: [{ good: [] }, opts({ signal })] },
    { name: 'sync', call: o.sync as never, params: [{ good: [] }, opts({ prune: { good: true, accepts: ['function'] }, dryRun: bool, signal })] },
    { name: 'startDaemon', call: o.startDaemon as never, params: [{ good: { state: 'master', interface: 'lo' } }] },
    { name: 'stopDaemon', call: o.stopDaemon as never, params: [{ good: 'master' }] },
    { name: 'daemons.start', call: o.daemons.start as never, params: [{ good: { state: 'master', interface: 'lo' } }] },
    { name: 'daemons.stop', call: o.daemons.stop as never, params: [{ good: 'master' }] },
  ];
  return fns.map((f) => ({ ...f, name: `${prefix}.${f.name}`, call: (f.call as Function).bind(f.name.startsWith('daemons.') ? o.daemons : o) as Fn['call'] }));
}

function linkFns(prefix: string, o: link.LinkHandle | typeof link): Fn[] {
  const fns: Fn[] = [
    { name: 'addDummy', call: o.addDummy as never, params: [name('nlkitw0'), opts({ exist: bool, up: bool, mtu: num(1400) })] },
    { name: 'get', call: o.get as never, params: [name('lo')] },
    { name: 'setUp', call: o.setUp as never, params: [name('lo'), { good: true }] },
    { name: 'addAddresses', call: o.addAddresses as never, params: [name('lo'), { good: ['10.9.9.9/32'] }, opts({ exist: bool, signal })] },
    { name: 'delAddresses', call: o.delAddresses as never, params: [name('lo'), { good: ['10.9.9.9/32'] }, opts({ missingOk: bool, signal })] },
    { name: 'listAddresses', call: o.listAddresses as never, params: [{ good: 'lo', optional: true }] },
    { name: 'syncAddresses', call: o.syncAddresses as never, params: [name('lo'), { good: ['127.0.0.1/8'] }] },
    { name: 'addresses.add', call: o.addresses.add as never, params: [name('lo'), { good: ['10.9.9.8/32'] }, opts({ exist: bool, signal })] },
    { name: 'addresses.delete', call: o.addresses.delete as never, params: [name('lo'), { good: ['10.9.9.8/32'] }, opts({ exist: bool, missingOk: bool, signal })] },
    { name: 'addresses.list', call: o.addresses.list as never, params: [{ good: 'lo', optional: true }] },
    { name: 'addresses.sync', call: o.addresses.sync as never, params: [name('lo'), { good: ['127.0.0.1/8'] }, opts({ signal })] },
    { name: 'delete', call: (o as link.LinkHandle).delete as never, params: [name('nlkitw0'), opts({ exist: bool, missingOk: bool })] },
  ];
  const addresses = o.addresses;
  return fns.map((f) => ({ ...f, name: `${prefix}.${f.name}`, call: (f.call as Function).bind(f.name.startsWith('addresses.') ? addresses : o) as Fn['call'] }));
}

const txOpts = opts({ netns: str(`/proc/${process.pid}/ns/net`), wait: num(5_000), waitTimeout: num(5_000), dryRun: bool, family: { good: 4 } });
const fns: Fn[] = [
  ...ipsetFns('ipset', ipset), ...ipsetFns('IpsetHandle', ipset.open()),
  ...iptablesFns('iptables', iptables), ...iptablesFns('IptablesHandle', iptables.open({ backend: 'legacy' })),
  { name: 'iptables.backend', call: iptables.backend as never, params: [opts({ family: { good: 4 }, netns: str(`/proc/${process.pid}/ns/net`) })] },
  ...ipvsFns('ipvs', ipvs), ...ipvsFns('IpvsHandle', ipvs.open()),
  ...linkFns('link', link), ...linkFns('LinkHandle', link.open()),
  { name: 'ipset.open', call: ipset.open as never, params: [opts({ netns: str(`/proc/${process.pid}/ns/net`) })] },
  { name: 'iptables.open', call: iptables.open as never, params: [opts({ netns: str(`/proc/${process.pid}/ns/net`), family: { good: 4 }, backend: str('legacy') })] },
  { name: 'ipvs.open', call: ipvs.open as never, params: [opts({ netns: str(`/proc/${process.pid}/ns/net`) })] },
  { name: 'link.open', call: link.open as never, params: [opts({ netns: str(`/proc/${process.pid}/ns/net`) })] },
  { name: 'transaction', call: transaction as never, params: [{ good: () => undefined, accepts: ['function'] }, txOpts] },
  { name: 'transaction.plan', call: transaction.plan as never, params: [{ good: () => undefined, accepts: ['function'] }, txOpts] },
];

/** A transaction's queue method, called inside transaction.plan() (a dry run). */
const inTx = (pick: (tx: Parameters<Parameters<typeof transaction>[0]>[0]) => (...a: unknown[]) => unknown) =>
  (...a: unknown[]) => transaction.plan((tx) => { pick(tx)(...a); });
const txName = (n: string, pick: Parameters<typeof inTx>[0], params: Param[]): Fn => ({ name: `tx.${n}`, call: inTx(pick), params });
const S2 = 'nlkit-walk-tx';
fns.push(
  txName('ipset.create', (tx) => tx.ipset.create.bind(tx.ipset) as never, [name(S2), { good: 'hash:ip' }, opts({ timeout: num(0) }), exist()]),
  txName('ipset.destroy', (tx) => tx.ipset.destroy.bind(tx.ipset) as never, [{ good: S2, optional: true }]),
  txName('ipset.flush', (tx) => tx.ipset.flush.bind(tx.ipset) as never, [{ good: S2, optional: true }]),
  // An entry object's fields are checked against the set's type (which this set, absent, has not).
  txName('ipset.add', (tx) => tx.ipset.add.bind(tx.ipset) as never, [name(S2), { good: '10.9.0.1', accepts: ['array', 'object'] as Kind[] }, exist()]),
  txName('ipset.delete', (tx) => tx.ipset.delete.bind(tx.ipset) as never, [name(S2), { good: '10.9.0.1', accepts: ['array', 'object'] as Kind[] }, exist()]),
  txName('ipset.del', (tx) => tx.ipset.del.bind(tx.ipset) as never, [name(S2), { good: '10.9.0.1', accepts: ['array', 'object'] as Kind[] }, exist()]),
  txName('ipset.rename', (tx) => tx.ipset.rename.bind(tx.ipset) as never, [name(S2), name(`${S2}2`)]),
  txName('ipset.swap', (tx) => tx.ipset.swap.bind(tx.ipset) as never, [name(S2), name(`${S2}2`)]),
  txName('ipset.restore', (tx) => tx.ipset.restore.bind(tx.ipset) as never, [{ good: 'create nlkit-walk-tr hash:ip\n' }, exist()]),
  txName('ipset.replace', (tx) => tx.ipset.replace.bind(tx.ipset) as never, [name(S2), { good: [] }]),
  txName('ipset.sync', (tx) => tx.ipset.sync.bind(tx.ipset) as never, [name(S2), { good: [] }, opts({ create: { good: { type: 'hash:ip' } } })]),
  txName('iptables.restore', (tx) => tx.iptables.restore.bind(tx.iptables) as never, [{ good: '*filter\nCOMMIT\n' }, opts({ noflush: bool, counters: bool, table: str('filter') })]),
  txName('iptables.table', (tx) => tx.iptables.table.bind(tx.iptables) as never, [name('filter'), opts({ noflush: bool })]),
  txName('ipvs.addService', (tx) => tx.ipvs.addService.bind(tx.ipvs) as never, [{ good: { ...svc, scheduler: 'rr' } }]),
  txName('ipvs.updateService', (tx) => tx.ipvs.updateService.bind(tx.ipvs) as never, [{ good: { ...svc, scheduler: 'rr' } }]),
  txName('ipvs.deleteService', (tx) => tx.ipvs.deleteService.bind(tx.ipvs) as never, [{ good: svc }]),
  txName('ipvs.addDestination', (tx) => tx.ipvs.addDestination.bind(tx.ipvs) as never, [{ good: svc }, { good: dst }]),
  txName('ipvs.updateDestination', (tx) => tx.ipvs.updateDestination.bind(tx.ipvs) as never, [{ good: svc }, { good: dst }]),
  txName('ipvs.deleteDestination', (tx) => tx.ipvs.deleteDestination.bind(tx.ipvs) as never, [{ good: svc }, { good: dst }]),
  txName('ipvs.sync', (tx) => tx.ipvs.sync.bind(tx.ipvs) as never, [{ good: [] }, opts({ prune: { good: true, accepts: ['function'] } })]),
  txName('link.addresses.add', (tx) => tx.link.addresses.add.bind(tx.link.addresses) as never, [name('lo'), { good: ['10.9.0.1/32'], accepts: ['string'] as Kind[] }]),
  txName('link.addresses.delete', (tx) => tx.link.addresses.delete.bind(tx.link.addresses) as never, [name('lo'), { good: ['10.9.0.1/32'], accepts: ['string'] as Kind[] }]),
  txName('link.routes.add', (tx) => tx.link.routes.add.bind(tx.link.routes) as never, [{ good: { dst: '10.9.0.0/24', dev: 'lo' } }]),
  txName('link.routes.delete', (tx) => tx.link.routes.delete.bind(tx.link.routes) as never, [{ good: { dst: '10.9.0.0/24' } }]),
  txName('link.rules.add', (tx) => tx.link.rules.add.bind(tx.link.rules) as never, [{ good: { priority: 100, table: 100 } }]),
  txName('link.rules.delete', (tx) => tx.link.rules.delete.bind(tx.link.rules) as never, [{ good: { priority: 100 } }]),
  txName('nft.apply', (tx) => tx.nft.apply.bind(tx.nft) as never, [{ good: [{ add: { table: { family: 'ip', name: 'nlkit-walk' } } }], accepts: ['object'] as Kind[] }]),
  txName('nft.restore', (tx) => tx.nft.restore.bind(tx.nft) as never, [{ good: 'add table ip nlkit-walk\n' }]),
  // The pure functions: parsers, planners and the rule builder.
  { name: 'ipvs.parseIpvsadm', call: parseIpvsadm as never, params: [{ good: '' }] },
  { name: 'ipvs.formatIpvsadm', call: formatIpvsadm as never, params: [{ good: [] }] },
  { name: 'ipvs.planIpvsSync', call: planIpvsSync as never, params: [{ good: [] }, { good: [] }, opts({ prune: { good: true, accepts: ['function'] } })] },
  { name: 'ipset.planIpsetSync', call: planIpsetSync as never, params: [{ good: [] }, { good: [] }, { good: 'hash:ip', accepts: ['object'] }] },
  { name: 'iptables.parseRestore', call: parseRestore as never, params: [{ good: '' }, opts({ table: str('nat') })] },
  { name: 'iptables.planRestore', call: planRestore as never, params: [{ good: '' }, opts({ table: str('nat') })] },
  { name: 'iptables.tokenize', call: tokenize as never, params: [{ good: '-A X -j ACCEPT' }] },
  { name: 'iptables.quoteArg', call: quoteArg as never, params: [{ good: 'a b' }] },
  { name: 'iptables.ruleText', call: iptables.ruleText as never, params: [{ good: { jump: 'ACCEPT' } }] },
  { name: 'iptables.ruleWords', call: iptables.ruleWords as never, params: [{ good: { jump: 'ACCEPT' } }] },
  { name: 'TableBuilder', call: (n: unknown, o: unknown) => new iptables.TableBuilder(n as never, o as never), params: [name('nat'), opts({ noflush: bool })] },
  { name: 'TableBuilder.chain', call: (n: unknown, o: unknown) => new iptables.TableBuilder('nat').chain(n as never, o as never), params: [name('X'), opts({ policy: { good: undefined } })] },
  { name: 'ChainBuilder.append', call: (r: unknown) => new iptables.TableBuilder('nat').chain('X').append(r as never), params: [{ good: { jump: 'ACCEPT' } }] },
);

/** What a call gave: 'ok', or the error's class and message. */
async function outcome(f: Fn, args: unknown[]): Promise<{ kind: 'ok' | 'error'; name: string; message: string; invalid: boolean }> {
  try {
    const r = f.call(...args);
    await r;
    return { kind: 'ok', name: 'resolved', message: '', invalid: false };
  } catch (e) {
    const err = e as Error;
    return { kind: 'error', name: err?.constructor?.name ?? typeof e, message: String(err?.message ?? e), invalid: e instanceof InvalidArgumentError };
  }
}

const dump = () => ['ipset save', 'iptables-legacy-save', 'ip6tables-legacy-save', 'ip -d -j link show', 'ip -j addr show', 'ipvsadm -S -n', 'nft list ruleset']
  .map((c) => { const r = spawnSync('sh', ['-c', `${c} 2>/dev/null | grep -v '^#'`], { encoding: 'utf8' }); return `${c}:\n${r.stdout}`; }).join('\n');

const problems: string[] = [];
let walked = 0;
// 1. Good arguments pass validation.
for (const f of fns) {
  const r = await outcome(f, f.params.map((p) => p.good));
  if (r.invalid) problems.push(`${f.name}(good arguments) was refused as invalid: ${r.message}`);
}
const before = dump();
// 2. Each argument, then each option, of a wrong JS type.
for (const f of fns) {
  const good = () => f.params.map((p) => (typeof p.good === 'object' && p.good !== null && !Array.isArray(p.good) && !(p.good instanceof AbortSignal) ? { ...p.good } : p.good));
  for (let i = 0; i < f.params.length; i++) {
    const p = f.params[i]!;
    for (const k of WALKED) {
      if ((k === 'undefined' && p.optional) || p.accepts?.includes(k)) continue;
      const args = good();
      args[i] = BAD[k]();
      walked++;
      const r = await outcome(f, args);
      if (!r.invalid) problems.push(`${f.name}: argument ${i + 1} as ${k}: ${r.kind === 'ok' ? 'resolved' : `${r.name}: ${r.message}`}`);
    }
    for (const [key, q] of Object.entries(p.keys ?? {})) {
      for (const k of WALKED) {
        if (k === 'undefined' || q.accepts?.includes(k) || typeof q.good === typeof BAD[k]()) continue;
        if (k === 'object' && typeof q.good === 'object') continue;
        const args = good();
        args[i] = { ...(args[i] as object), [key]: BAD[k]() };
        walked++;
        const r = await outcome(f, args);
        if (!r.invalid) problems.push(`${f.name}: option ${key} as ${k}: ${r.kind === 'ok' ? 'resolved' : `${r.name}: ${r.message}`}`);
      }
    }
  }
}
const after = dump();
console.log(JSON.stringify({ walked, problems, changed: before === after ? '' : `before:\n${before}\nafter:\n${after}` }));
process.exit(0);
