// The child process of the leak tests (test/kernel/leak.test.ts, test/soak/leak-soak.test.ts):
// runs one subsystem's operations in rounds inside a namespace the parent made, and prints its
// memory after a full GC at the end of each round, as one JSON line. Run with --expose-gc.
// Usage: node --expose-gc --import tsx test/helpers/leak-loop.ts SUBSYSTEM NETNS_PATH ROUNDS SCALE
import { fstatSync } from 'node:fs';
import { memoryUsage } from 'node:process';
import { Worker } from 'node:worker_threads';
import { setImmediate as tick } from 'node:timers/promises';
import { ipset, iptables, ipvs, link, NlkitError } from '../../lib/index.js';

const [subsystem = '', netns = '', roundsArg = '5', scaleArg = '1'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const scale = Number(scaleArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

/** One round: the operations, including ones the kernel or the parser refuses. */
type Round = (round: number) => Promise<void>;
/** A subsystem's round, and what closes its handle at the end. */
type Loop = [Round, (() => Promise<void>)?];

/** Expects `p` to fail with an NlkitError (the error path allocates and records too). */
async function refused(p: Promise<unknown>): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!(e instanceof NlkitError)) throw new Error(`expected an NlkitError, got ${String(e)}`);
}

const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

async function ipsetRounds(): Promise<Loop> {
  const h = ipset.open({ netns });
  await h.create('leak', 'hash:ip,port', { timeout: 600, comment: true });
  const n = 300 * scale;
  return [async () => {
    for (let i = 0; i < n; i++) {
      const key = { ip: ip(i), proto: 'tcp' as const, port: 80 };
      const e = { ...key, comment: `entry ${i}` };
      await h.add('leak', e);
      if (!(await h.test('leak', key))) throw new Error('added entry not found');
      await refused(h.add('leak', e));               // EEXIST
      await h.del('leak', key);
      await refused(h.del('leak', key));             // not in the set
      await refused(h.add('nosuch', e));             // no such set
      await refused(h.del('leak', e));               // comment: not allowed in del
      if (i % 10 === 0) {
        await h.add('leak', [e, { ip: ip(i + 1), proto: 'udp' as const, port: 53 }]);
        const text = await h.save('leak');
        await h.restore(text, { exist: true });
        await refused(h.restore('create bad hash:ip\nadd bad 10.0.0.999\n'));
        await h.list('leak');
        await h.list();
        await h.flush('leak');
      }
    }
  }, async () => { await h.destroy('leak'); await h.close(); }];
}

async function iptablesRounds(): Promise<Loop> {
  const h = iptables.open({ netns, backend: 'legacy' });
  const n = 60 * scale;
  const table = (i: number) => [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':LEAK - [0:0]',
    `-A INPUT -s ${ip(i)}/32 -p tcp -m tcp --dport 80 -m comment --comment "leak ${i}" -j LEAK`,
    '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    '-A LEAK -m statistic --mode random --probability 0.5 -j DROP',
    '-A LEAK -j RETURN',
    'COMMIT',
    '',
  ].join('\n');
  return [async () => {
    for (let i = 0; i < n; i++) {
      await h.restore(table(i));
      await h.save({ table: 'filter' });
      await h.save({ table: 'filter', counters: true });
      await refused(h.restore('*filter\n-A INPUT -p tcp --dport 80 -m nosuchmatch -j ACCEPT\nCOMMIT\n'));
      await refused(h.restore('*filter\n-A NOSUCHCHAIN -j ACCEPT\nCOMMIT\n'));
      await refused(h.restore('*filter\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n'));
      await h.restore(`*nat\n:LEAK-NAT - [0:0]\n-A LEAK-NAT -p tcp -j DNAT --to-destination ${ip(i)}:8080\nCOMMIT\n`, { noflush: true });
    }
  }, () => h.close()];
}

async function linkRounds(): Promise<Loop> {
  const h = link.open({ netns });
  const n = 150 * scale;
  return [async () => {
    for (let i = 0; i < n; i++) {
      const addrs = [`${ip(i)}/32`, `${ip(i + 70000)}/32`, `2001:db8::${(i & 0xffff).toString(16)}/128`];
      await h.addAddresses('lo', addrs);
      await refused(h.addAddresses('lo', addrs));    // EEXIST
      await h.listAddresses('lo');
      await h.get('lo');
      await h.delAddresses('lo', addrs);
      await refused(h.addAddresses('nosuch0', addrs));
      if (i % 10 === 0) {
        await h.syncAddresses('lo', [`${ip(i)}/32`]);
        await h.list();
        await h.syncAddresses('lo', []);
      }
    }
  }, () => h.close()];
}

async function ipvsRounds(): Promise<Loop> {
  const h = ipvs.open({ netns });
  const n = 40 * scale;
  return [async () => {
    for (let i = 0; i < n; i++) {
      const svc = { protocol: 'tcp' as const, address: ip(i), port: 80 };
      await h.addService({ ...svc, scheduler: 'rr' });
      await refused(h.addService({ ...svc, scheduler: 'rr' }));
      await h.apply([
        { op: 'addDestination', service: svc, destination: { address: '10.200.0.1', port: 8080 } },
        { op: 'addDestination', service: svc, destination: { address: '10.200.0.2', port: 8080, weight: 3 } },
        { op: 'addDestination', service: svc, destination: { address: '10.200.0.1', port: 8080 } },
      ]);
      await h.listServices({ destinations: true, stats: true });
      await h.getService(svc);
      await h.deleteDestination(svc, { address: '10.200.0.2', port: 8080 });
      await h.deleteService(svc);
      await refused(h.deleteService(svc));
    }
  }, () => h.close()];
}

/** Handles opened in the namespace, used once and closed: a thread and its sockets each time. */
async function handleRounds(): Promise<Loop> {
  const n = 40 * scale;
  return [async () => {
    for (let i = 0; i < n; i++) {
      const s = ipset.open({ netns });
      const t = iptables.open({ netns, backend: 'legacy' });
      const l = link.open({ netns });
      await Promise.all([s.list(), t.restore(`*filter\n:H${i % 10} - [0:0]\n-A H${i % 10} -p udp --dport 53 -j ACCEPT\nCOMMIT\n`), l.list()]);
      await t.save({ table: 'filter' });
      await Promise.all([s.close(), t.close(), l.close()]);
      // Dropped without close(): the garbage collector's finalizer has to stop the thread.
      const dropped = ipset.open({ netns });
      await dropped.names();
    }
  }];
}

/** Worker threads that load the addon, use a handle and exit: the addon's per-thread state. */
async function workerRounds(): Promise<Loop> {
  const n = 3 * scale;
  // The built package (scripts/setup.sh makes dist/): through tsx each thread would compile the
  // whole of lib/ again, and its transform caches move the RSS by several MB at random rounds.
  const lib = new URL('../../dist/index.cjs', import.meta.url).pathname;
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { ipset, link } = require(workerData.lib);
    (async () => {
      const h = ipset.open({ netns: workerData.netns });
      await h.list();
      await h.close();
      const l = link.open({ netns: workerData.netns });
      await l.list();
      parentPort.postMessage('done');   // l is left open: the thread's exit has to clean it up
    })().catch((e) => parentPort.postMessage(String(e)));`;
  return [async () => {
    for (let i = 0; i < n; i++) {
      const w = new Worker(code, { eval: true, workerData: { lib, netns } });
      const msg = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
      if (msg !== 'done') throw new Error(`worker: ${String(msg)}`);
      await w.terminate();
    }
  }];
}

const makers: Record<string, () => Promise<Loop>> = {
  ipset: ipsetRounds, iptables: iptablesRounds, link: linkRounds, ipvs: ipvsRounds, handles: handleRounds, workers: workerRounds,
};

/** Memory after a full GC: the resident set, and V8's heap within it. */
async function memory(): Promise<{ rss: number; heapTotal: number; heapUsed: number }> {
  // Finalizers of native objects run after the collection that found them dead.
  for (let i = 0; i < 3; i++) {
    gc!();
    await tick();
  }
  const { rss, heapTotal, heapUsed } = memoryUsage();
  return { rss, heapTotal, heapUsed };
}

// The process's stdin, stdout and stderr must be the same files at the end: native code that
// closed one of them would hand its number to the next socket (and console.log to the kernel).
const stdio = () => [0, 1, 2].map((fd) => { const s = fstatSync(fd); return `${s.dev}:${s.ino}:${s.rdev}`; });
const stdioBefore = stdio();

const make = makers[subsystem];
if (!make) throw new Error(`unknown subsystem ${subsystem}`);
const [round, close] = await make();
// Memory after each round; the tests compare the first (after the warm-up) with the last.
const after = [];
for (let r = 0; r < rounds; r++) {
  await round(r);
  after.push(await memory());
}
await close?.();
const stdioAfter = stdio();
for (const fd of [0, 1, 2]) {
  if (stdioAfter[fd] !== stdioBefore[fd]) throw new Error(`fd ${fd} (${['stdin', 'stdout', 'stderr'][fd]}) was closed or replaced during the run`);
}
console.log(JSON.stringify({ subsystem, rounds, after }));
