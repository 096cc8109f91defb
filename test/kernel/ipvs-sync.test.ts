// ipvs.sync() against the kernel, with ipvsadm as the oracle (a throwaway namespace; on hosts
// without IPVS inside the VM: see test/helpers/ipvs.ts):
//  - from a different starting state, sync leaves exactly what `ipvsadm -R` of the same state
//    leaves (`ipvsadm -S -n`), sending only the difference; a second sync sends nothing;
//  - 20,000 services × 2 real servers: one changed weight is one message, and the other
//    services' counters (made non-zero by real packets) stay;
//  - prune: false keeps services the list lacks; refusals and bad input.
// NLKIT_IPVS_SYNC_N sets the number of services of the large test (default 20000).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipvs } from '../../lib/index.js';
import { InvalidArgumentError, NlkitError } from '../../lib/core/errors.js';
import type { DesiredService, IpvsSyncResult } from '../../lib/ipvs/sync.js';
import type { Stats } from '../../lib/ipvs/types.js';
import { Netns, withHandle } from '../helpers/netns.js';
import { ipvsSkipReason, saveLines, whereRan } from '../helpers/ipvs.js';
import { suiteNamespaces } from '../helpers/suite.js';

const skip = ipvsSkipReason();
const N = Number(process.env.NLKIT_IPVS_SYNC_N ?? 20_000);

/** The wanted state, as ipvsadm -R text (written by hand: the oracle's own input). */
const WANTED_TEXT = `-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.0.2:8080 -m -w 5 -x 100 -y 10
-A -u 10.0.0.2:53 -s wrr -o
-a -u 10.0.0.2:53 -r 10.1.0.3:53 -g -w 2
-A -t [2001:db8::1]:443 -s sh -b sh-port -p 300 -M 64
-a -t [2001:db8::1]:443 -r [2001:db8::a]:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-A -f 5 -s wlc -p 60 -M 255.255.255.0
-a -f 5 -r 10.1.0.9:0 -g -w 1
-A -f 6 -6 -s rr
-a -f 6 -6 -r [2001:db8::b]:0 -g -w 4
-A --sctp-service 10.0.0.3:9 -s rr
-a --sctp-service 10.0.0.3:9 -r 10.1.0.4:9 -m -w 1
`;

/** The same state as nlkit input, with defaults left out and addresses written loosely. */
const WANTED: DesiredService[] = [
  {
    protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'rr',
    destinations: [{ address: '10.1.0.1', port: 8080 }, { address: '10.1.0.2', port: 8080, weight: 5, upperThreshold: 100, lowerThreshold: 10 }],
  },
  { protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'wrr', flags: ['one-packet'], destinations: [{ address: '10.1.0.3', forward: 'route', weight: 2 }] },
  {
    protocol: 'tcp', address: '[2001:DB8:0::1]', port: 443, scheduler: 'sh', flags: { 'sh-port': true }, persistence: { timeout: 300, netmask: 64 },
    destinations: [{ address: '2001:db8:0:0::a', forward: 'tunnel', tunnel: { type: 'gue', port: 6080 } }],
  },
  { fwmark: 5, scheduler: 'wlc', persistence: { timeout: 60, netmask: '255.255.255.0' }, destinations: [{ address: '10.1.0.9', forward: 'route' }] },
  { fwmark: 6, family: 'inet6', scheduler: 'rr', destinations: [{ address: '2001:db8::b', forward: 'route', weight: 4 }] },
  { protocol: 'sctp', address: '10.0.0.3', port: 9, scheduler: 'rr', destinations: [{ address: '10.1.0.4' }] },
];

/** A different starting state: changed attributes, extra and missing services and real servers. */
const START_TEXT = `-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 3
-a -t 10.0.0.1:80 -r 10.1.0.7:8080 -m -w 1
-A -u 10.0.0.2:53 -s wrr -o
-a -u 10.0.0.2:53 -r 10.1.0.3:53 -g -w 2
-A -t [2001:db8::1]:443 -s sh -b sh-port -p 300 -M 64
-a -t [2001:db8::1]:443 -r [2001:db8::a]:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-A -f 5 -s wlc
-a -f 5 -r 10.1.0.9:0 -g -w 1
-A -t 10.0.0.99:80 -s rr
-a -t 10.0.0.99:80 -r 10.1.0.1:80 -m -w 1
`;

const counters = (s: Stats | undefined) => s && [s.connections, s.packetsIn, s.packetsOut, s.bytesIn, s.bytesOut];

describe('ipvs sync', { skip }, () => {
  const ns = suiteNamespaces((tag: string) => new Netns(tag));

  it('leaves what `ipvsadm -R` of the same state leaves, sending only the difference', async (t) => {
    t.diagnostic(`IPVS kernel tests ran ${whereRan()}`);
    const n = ns('ipvssync');
    n.run('ipvsadm', ['-R'], WANTED_TEXT);
    const oracle = saveLines(n);
    n.run('ipvsadm', ['-C']);
    n.run('ipvsadm', ['-R'], START_TEXT);
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      const dry = await h.sync(WANTED, { dryRun: true });
      assert.equal(saveLines(n).length, 11, 'a dry run changes nothing');
      const r = await h.sync(WANTED);
      assert.deepEqual(r, dry);
      assert.deepEqual(saveLines(n), oracle);
      const expected: IpvsSyncResult = {
        // In services (the shape every sync returns): fwmark 6 and sctp added, 10.0.0.99:80 removed,
        // 3 changed (two in their attributes, one more only in its real servers), 1 left whole.
        added: 2, updated: 3, removed: 1, unchanged: 1,
        // updated: 10.0.0.1:80 (scheduler), fwmark 5 (persistence); deleted 10.0.0.99:80; added fwmark 6, sctp.
        services: { added: 2, updated: 2, deleted: 1, unchanged: 2, kept: 0 },
        // added 10.1.0.2 and the new services' two; updated 10.1.0.1 (weight) and the gue checksum; deleted 10.1.0.7.
        destinations: { added: 3, updated: 2, deleted: 1, unchanged: 2 },
        ops: 11,
      };
      assert.deepEqual(r, expected);
      const again = await h.sync(WANTED);
      assert.equal(again.ops, 0);
      assert.equal(again.unchanged, WANTED.length);
      // The listing synced onto a fresh namespace gives the same state.
      const copy = ns('ipvscopy');
      const h2 = ipvs.open({ netns: copy.path });
      try {
        await h2.sync(await h.listServices());
        assert.deepEqual(saveLines(copy), oracle);
      } finally {
        await h2.close();
      }
    });
  });

  // Every field of a service and of a real server, each changed alone (one service or real
  // server per field, all in one state, to keep the tool calls few under emulation): sync must
  // apply each, leaving what `ipvsadm -R` of the changed state leaves.
  it('each single field changed alone is applied, as `ipvsadm -R` of the changed state', async () => {
    // Each service and real server as it starts => the same with one field changed.
    const fields = `-A -t 10.7.0.1:1 -s rr => -A -t 10.7.0.1:1 -s wrr
-A -u 10.7.0.1:2 -s rr => -A -u 10.7.0.1:2 -s rr -o
-A -t 10.7.0.1:3 -s sh -b sh-port => -A -t 10.7.0.1:3 -s sh -b sh-fallback,sh-port
-A -t 10.7.0.1:4 -s rr -p 300 -M 255.255.255.0 => -A -t 10.7.0.1:4 -s rr -p 301 -M 255.255.255.0
-A -t 10.7.0.1:5 -s rr -p 300 -M 255.255.255.0 => -A -t 10.7.0.1:5 -s rr -p 300 -M 255.255.0.0
-A -t [2001:db8::7]:6 -s rr -p 300 -M 64 => -A -t [2001:db8::7]:6 -s rr -p 300 -M 48
-A -t 10.7.0.1:7 -s rr -p 300 => -A -t 10.7.0.1:7 -s rr
-A -t 10.7.0.1:8 -s rr => -A -t 10.7.0.1:8 -s rr
-a -t 10.7.0.1:8 -r 10.8.0.1:8 -m -w 2 => -a -t 10.7.0.1:8 -r 10.8.0.1:8 -m -w 3
-a -t 10.7.0.1:8 -r 10.8.0.2:8 -m -w 1 => -a -t 10.7.0.1:8 -r 10.8.0.2:8 -g -w 1
-a -t 10.7.0.1:8 -r 10.8.0.3:8 -m -w 1 -x 100 => -a -t 10.7.0.1:8 -r 10.8.0.3:8 -m -w 1 -x 101
-a -t 10.7.0.1:8 -r 10.8.0.4:8 -m -w 1 -x 100 -y 10 => -a -t 10.7.0.1:8 -r 10.8.0.4:8 -m -w 1 -x 100 -y 11
-a -t 10.7.0.1:8 -r 10.8.0.5:8 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum => -a -t 10.7.0.1:8 -r 10.8.0.5:8 -i -w 1 --tun-type gue --tun-port 6081 --tun-csum
-a -t 10.7.0.1:8 -r 10.8.0.6:8 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum => -a -t 10.7.0.1:8 -r 10.8.0.6:8 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum
-a -t 10.7.0.1:8 -r 10.8.0.7:8 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum => -a -t 10.7.0.1:8 -r 10.8.0.7:8 -i -w 1 --tun-type gre --tun-csum
-a -t 10.7.0.1:8 -r 10.8.0.8:8 -i -w 1 => -a -t 10.7.0.1:8 -r 10.8.0.8:8 -m -w 1`.split('\n').map((l) => l.split(' => '));
    const base = fields.map(([b]) => `${b}\n`).join('');
    const changed = fields.map(([, c]) => `${c}\n`).join('');
    const svc = (port: number, over: Partial<DesiredService> = {}): DesiredService =>
      ({ protocol: 'tcp', address: '10.7.0.1', port, scheduler: 'rr', destinations: [], ...over } as DesiredService);
    const d = (i: number, over: object = {}) => ({ address: `10.8.0.${i}`, weight: 1, ...over });
    const want: DesiredService[] = [
      svc(1, { scheduler: 'wrr' }),
      svc(2, { protocol: 'udp', flags: ['one-packet'] }),
      svc(3, { scheduler: 'sh', flags: ['sh-port', 'sh-fallback'] }),
      svc(4, { persistence: { timeout: 301, netmask: '255.255.255.0' } }),
      svc(5, { persistence: { timeout: 300, netmask: 16 } }),
      svc(6, { address: '2001:db8::7', persistence: { timeout: 300, netmask: 48 } }),
      svc(7),
      svc(8, {
        destinations: [
          d(1, { weight: 3 }), d(2, { forward: 'route' }), d(3, { upperThreshold: 101 }), d(4, { upperThreshold: 100, lowerThreshold: 11 }),
          d(5, { forward: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'csum' } }),
          d(6, { forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' } }),
          d(7, { forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } }),
          d(8),
        ],
      }),
    ];
    const n = ns('ipvsfields');
    n.run('ipvsadm', ['-R'], changed);
    const oracle = saveLines(n);
    n.run('ipvsadm', ['-C']);
    n.run('ipvsadm', ['-R'], base);
    assert.notDeepEqual(saveLines(n), oracle);
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      const r = await h.sync(want);
      assert.deepEqual([r.services, r.destinations], [
        { added: 0, updated: 7, deleted: 0, unchanged: 1, kept: 0 }, { added: 0, updated: 8, deleted: 0, unchanged: 0 },
      ]);
      assert.deepEqual(saveLines(n), oracle);
      assert.equal((await h.sync(want)).ops, 0);
    });
  });

  it('prune: false keeps services the list lacks; by default they go', async () => {
    const n = ns('ipvsprune');
    n.run('ipvsadm', ['-R'], '-A -t 10.9.0.1:80 -s rr\n-a -t 10.9.0.1:80 -r 10.9.1.1:80 -m -w 1\n');
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      const r = await h.sync([WANTED[1]!], { prune: false });
      assert.deepEqual([r.services.added, r.services.kept, r.services.deleted], [1, 1, 0]);
      assert.deepEqual(saveLines(n), [
        '-A -t 10.9.0.1:80 -s rr', '-A -u 10.0.0.2:53 -s wrr -o',
        '-a -t 10.9.0.1:80 -r 10.9.1.1:80 -m -w 1', '-a -u 10.0.0.2:53 -r 10.1.0.3:53 -g -w 2',
      ].sort());
      const r2 = await h.sync([WANTED[1]!]);
      assert.deepEqual([r2.services.deleted, r2.ops], [1, 1]);
      assert.deepEqual(saveLines(n), ['-A -u 10.0.0.2:53 -s wrr -o', '-a -u 10.0.0.2:53 -r 10.1.0.3:53 -g -w 2']);
    });
  });

  it('bad input changes nothing; kernel refusals are reported with the rest applied', async () => {
    const n = ns('ipvssyncerr');
    n.run('ipvsadm', ['-R'], '-A -t 10.9.0.1:80 -s rr\n');
    const before = saveLines(n);
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      await assert.rejects(h.sync([WANTED[0]!, { ...WANTED[1]!, destinations: [{ address: '10.1.0.3', weight: 1.5 }] }]),
        (e: unknown) => e instanceof InvalidArgumentError && (e as { index?: number }).index === 1 && /service 1 \(udp 10\.0\.0\.2:53\): real server 0: invalid weight 1\.5/.test(e.message));
      await assert.rejects(h.sync([WANTED[0]!, WANTED[0]!]), /listed twice \(services 0 and 1\)/);
      assert.deepEqual(saveLines(n), before);
      // A scheduler the kernel cannot load: that service and its real servers fail, the rest applies.
      // @ts-expect-error a scheduler the kernel lacks: its refusal is under test
      const err = await h.sync([WANTED[1]!, { protocol: 'tcp', address: '10.0.0.8', port: 80, scheduler: 'nosuchsched', destinations: [{ address: '10.1.0.1' }] }])
        .then(() => assert.fail('sync should reject'), (e: unknown) => e as NlkitError & { failures?: { operation: ipvs.ApplyOp }[]; result?: IpvsSyncResult });
      assert.ok(err instanceof NlkitError, String(err));
      assert.deepEqual(err.failures?.map((f) => f.operation.op), ['addService', 'addDestination']);
      assert.deepEqual(err.result?.services, { added: 1, updated: 0, deleted: 1, unchanged: 0, kept: 0 });
      assert.deepEqual(saveLines(n), ['-A -u 10.0.0.2:53 -s wrr -o', '-a -u 10.0.0.2:53 -r 10.1.0.3:53 -g -w 2']);
    });
  });

  it(`${N} services × 2 real servers: one changed weight is one message; the others keep their counters`, async (t) => {
    const n = ns('ipvssyncbig');
    const vip = (i: number) => `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    const want: DesiredService[] = [];
    for (let i = 0; i < N; i++) {
      want.push({
        protocol: 'udp', address: vip(i), port: 53, scheduler: 'rr',
        destinations: [{ address: '10.200.0.1', weight: 1 }, { address: '10.200.0.2', weight: 2 }],
      });
    }
    await withHandle(ipvs.open({ netns: n.path }), async (h) => {
      let t0 = performance.now();
      const first = await h.sync(want);
      const tFirst = performance.now() - t0;
      assert.deepEqual([first.services.added, first.destinations.added, first.ops], [N, 2 * N, 3 * N]);
      // Real packets through two services: a local client's datagrams to a local virtual address
      // pass IPVS on LOCAL_OUT (as kube-proxy's addresses on kube-ipvs0).
      for (const i of [7, N - 1]) n.run('ip', ['addr', 'add', `${vip(i)}/32`, 'dev', 'lo']);
      const sent = n.try('bash', ['-c', `for i in 1 2 3; do echo x > /dev/udp/${vip(7)}/53; echo x > /dev/udp/${vip(N - 1)}/53; done`]);
      // The kernel's estimator folds per-CPU counters into what it reports every 2 s: wait for it.
      const udp = (i: number) => ({ protocol: 'udp' as const, address: vip(i), port: 53 });
      const hits = () => Promise.all([7, N - 1].map((i) => h.getService(udp(i), { stats: true })));
      let before = await hits();
      for (let tries = 0; tries < 20 && !before.every((s) => s.stats!.packetsIn === 3n); tries++) {
        await sleep(500);
        before = await hits();
      }
      assert.deepEqual(before.map((s) => s.stats!.packetsIn), [3n, 3n], `the packets were counted (bash: ${sent.status} ${sent.stderr})`);

      want[1234]!.destinations[1]!.weight = 7;
      t0 = performance.now();
      const second = await h.sync(want);
      const tSecond = performance.now() - t0;
      assert.equal(second.ops, 1);
      assert.deepEqual(second.destinations, { added: 0, updated: 1, deleted: 0, unchanged: 2 * N - 1 });
      assert.deepEqual(second.services, { added: 0, updated: 0, deleted: 0, unchanged: N, kept: 0 });
      assert.equal(second.unchanged, N - 1);
      // The services that saw packets were not touched: same counters, service and real servers.
      const after = await hits();
      for (let k = 0; k < 2; k++) {
        assert.deepEqual(counters(after[k]!.stats), counters(before[k]!.stats));
        assert.deepEqual(after[k]!.destinations!.map((d) => counters(d.stats)), before[k]!.destinations!.map((d) => counters(d.stats)));
      }
      // ipvsadm reads every service as listed, with the one weight changed.
      t0 = performance.now();
      const got = saveLines(n);
      const tSave = performance.now() - t0;
      const expected: string[] = [];
      for (let i = 0; i < N; i++) {
        const s = `-u ${vip(i)}:53`;
        expected.push(`-A ${s} -s rr`, `-a ${s} -r 10.200.0.1:53 -m -w 1`, `-a ${s} -r 10.200.0.2:53 -m -w ${i === 1234 ? 7 : 2}`);
      }
      expected.sort();
      assert.equal(got.length, expected.length);
      const at = got.findIndex((l, i) => l !== expected[i]);
      assert.equal(at, -1, `ipvsadm -S -n differs at line ${at}: ${got[at]} (expected ${expected[at]})`);
      t.diagnostic(`ran ${whereRan()}: first sync (${first.ops} ops) ${tFirst.toFixed(0)} ms, second sync (1 op) ${tSecond.toFixed(0)} ms, ` +
        `ipvsadm -S -n ${tSave.toFixed(0)} ms`);
      await h.flush();
    });
  });
});
