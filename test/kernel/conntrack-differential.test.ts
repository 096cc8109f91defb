// conntrack(8) is the oracle: nlkit lists what the tool lists, field by field, for flows made
// by real traffic and by `conntrack -I`; deletes by each filter kind remove exactly what
// `conntrack -D` with the same filter removes from a twin namespace holding the same flows;
// what nlkit creates and updates reads back in `conntrack -L` as the tool's own -I/-U would.
// Conntrack tables are per namespace: every test runs in throwaway namespaces.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { conntrack, InvalidArgumentError } from '../../lib/index.js';
import type { Filter, Flow, FlowInput } from '../../lib/conntrack/types.js';
import { CtWriter, writeDelete } from '../../lib/conntrack/wire.js';
import { checkFlow } from '../../lib/conntrack/validate.js';
import { send } from '../../lib/netlink/transport.js';
import { NETLINK_NETFILTER } from '../../lib/netlink/headers.js';
import type { RawWorker } from '../../lib/core/native.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { FILTERS, SEEDS, insertArgs, parseToolLine, toolLines, toolView } from '../helpers/conntrack.js';
import { runTs } from '../helpers/child.js';

const { ENOENT } = constants.errno;
const skip = kernelSkipReason('conntrack') ?? kernelSkipReason('nft') ?? kernelSkipReason('busybox');

/** Turns conntrack on in the namespace (hooks run only where something uses them) and counts bytes. */
function prepare(ns: Netns): void {
  ns.run('ip', ['addr', 'add', 'fd00::1/64', 'dev', 'lo', 'nodad']);
  ns.run('sysctl', ['-qw', 'net.netfilter.nf_conntrack_acct=1']);
  ns.run('nft', ['-f', '-'], 'table inet nlkit {\n chain out {\n  type filter hook output priority 0;\n  ct state new counter\n }\n}\n');
}

/** Flows of real traffic on loopback: icmp, icmpv6, a tcp connection, udp with a reply. */
function traffic(ns: Netns): void {
  ns.run('busybox', ['ping', '-c', '1', '-W', '1', '127.0.0.1']);
  ns.run('busybox', ['ping6', '-c', '1', '-W', '1', '::1']);
  ns.run('node', ['-e', `
    const net = require('node:net'), d = require('node:dgram');
    const srv = net.createServer((c) => c.end('hi')).listen(8080, '127.0.0.1', () => {
      const c = net.connect(8080, '127.0.0.1'); c.on('data', () => {}); c.on('close', () => srv.close());
    });
    const s = d.createSocket('udp4'), u = d.createSocket('udp4');
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    u.on('message', () => { s.close(); u.close(); });
    s.bind(5353, '127.0.0.1', () => u.send('x', 5353, '127.0.0.1'));`]);
}

/** Every seed with `conntrack -I`, in one shell inside the namespace (one `ip netns exec`, not one per flow). */
const seedWithTool = (ns: Netns) => { ns.run('sh', ['-ec', SEEDS.map((f) => ['conntrack', ...insertArgs(f), '2>/dev/null'].join(' ')).join('\n')]); };

/** `conntrack -L` with what legitimately differs between twins (remaining seconds) masked, sorted. */
const table = (ns: Netns, args: string[] = []): string[] =>
  toolLines(ns.run('conntrack', ['-L', ...args])).map((l) => l.trim().split(/\s+/).map((t, i) => (i === 2 ? 'T' : t)).join(' ')).sort();

const handles: conntrack.ConntrackHandle[] = [];
const opened = (ns: Netns) => { const h = conntrack.open({ netns: ns.name }); handles.push(h); return h; };
afterEach(async () => { for (const h of handles.splice(0)) await h.close(); });

const deletedCount = (stderr: string) => Number(/(\d+) flow entries have been deleted/.exec(stderr)?.[1] ?? NaN);

describe('conntrack against conntrack(8)', { skip }, () => {
  it('lists every flow as `conntrack -L -o extended,id` shows it, field by field (traffic and -I, IPv4 and IPv6)', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      traffic(ns);
      seedWithTool(ns);
      const ct = opened(ns);
      const flows = await ct.list();
      const tool = toolLines(ns.run('conntrack', ['-L', '-o', 'extended,id'])).map(parseToolLine);
      assert.ok(flows.length >= SEEDS.length + 4, `${flows.length} flows`);
      assert.deepEqual(flows.map((f) => f.id).sort(), tool.map((t) => t.id).sort());
      assert.ok(flows.some((f) => (f.counters?.original.packets ?? 0) > 0), 'counted traffic');
      for (const t of tool) {
        const got = toolView(flows.find((f) => f.id === t.id)!);
        // The two reads are apart in time: remaining seconds may tick once between them.
        assert.ok(Math.abs(got.timeout - t.timeout) <= 1, `timeout ${got.timeout} vs ${t.timeout}`);
        assert.deepEqual({ ...got, timeout: 0 }, { ...t, timeout: 0 });
      }
    }));

  it('list and count by each filter kind select what conntrack -L selects with the same filter', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      seedWithTool(ns);
      const ct = opened(ns);
      for (const [filter, args] of FILTERS) {
        // In the tool's order: both read the table in the kernel's order (a hash walk).
        const want = toolLines(ns.run('conntrack', ['-L', '-o', 'id', ...args])).map((l) => parseToolLine(l).id);
        assert.ok(want.length > 0 && want.length < SEEDS.length, `${args.join(' ')} selects some flows`);
        assert.deepEqual((await ct.list(filter)).map((f) => f.id), want, JSON.stringify(filter));
        assert.equal(await ct.count(filter), want.length, JSON.stringify(filter));
      }
      assert.equal(await ct.count(), Number(ns.run('conntrack', ['-C']).trim()));
    }));

  it('list without a family gives both families\' flows in conntrack -L\'s order, mixed as the table holds them', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      const ct = opened(ns);
      // 200 udp flows of each family and 100 tcp ones: listed inet first, then inet6 (two
      // walks), the order would differ from the tool's with near certainty.
      await Promise.all(Array.from({ length: 200 }, (_, i) => {
        const v4 = { src: `10.1.${i >> 8}.${i & 255}`, dst: '10.96.0.10', sport: 2000 + i, dport: 53 };
        const v6 = { src: `fd00::1:${i.toString(16)}`, dst: 'fd00::53', sport: 2000 + i, dport: i % 2 ? 53 : 5353 };
        return Promise.all([
          ct.create({ protocol: 'udp', original: v4, timeout: 600_000 }), ct.create({ protocol: 'udp', original: v6, timeout: 600_000 }),
          i < 100 ? ct.create({ protocol: 'tcp', original: { ...v4, dport: 80 }, state: 'ESTABLISHED', timeout: 600_000 }) : undefined,
        ]);
      }));
      const cases: [Filter, string[]][] = [
        [{}, []],
        [{ protocol: 'udp' }, ['-p', 'udp']],
        [{ protocol: 'udp', original: { dport: 53 } }, ['-p', 'udp', '--dport', '53']],
        [{ family: 'inet6', protocol: 'udp' }, ['-f', 'ipv6', '-p', 'udp']],
        [{ original: { dst: '10.96.0.10' } }, ['-d', '10.96.0.10']],
      ];
      for (const [filter, args] of cases) {
        const want = toolLines(ns.run('conntrack', ['-L', '-o', 'id', ...args])).map((l) => parseToolLine(l).id);
        assert.ok(want.length > 0, args.join(' '));
        assert.deepEqual((await ct.list(filter)).map((f) => f.id), want, JSON.stringify(filter));
        assert.equal(await ct.count(filter), want.length, JSON.stringify(filter));
      }
    }));

  it('delete by each filter kind removes exactly what conntrack -D removes in a twin namespace', () =>
    withNetns(2, async (a, b) => {
      for (const ns of [a, b]) prepare(ns);
      const ct = opened(a);
      for (const [filter, args] of FILTERS) {
        // The same flows on both sides: nlkit's create() reads back as `conntrack -I` (checked below and here).
        await ct.flush();
        for (const f of SEEDS) await ct.create(f);
        b.run('conntrack', ['-F']);
        seedWithTool(b);
        assert.deepEqual(table(a), table(b));
        const n = await ct.delete(filter);
        const r = b.try('conntrack', ['-D', ...args]);
        assert.equal(n, deletedCount(r.stderr), `${args.join(' ')}: ${r.stderr}`);
        assert.ok(n > 0 && n < SEEDS.length, `${args.join(' ')} deletes some flows`);
        assert.deepEqual(table(a), table(b), JSON.stringify(filter));
      }
    }));

  it('a batch of deletes asks for no acks: the refused ones come back by index, the rest count as applied (conntrack -L agrees)', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      seedWithTool(ns);
      const ct = opened(ns);
      const worker = (ct as unknown as { worker: RawWorker }).worker;
      const w = new CtWriter(), ends: number[] = [];
      // Seeds 0 and 3, one that does not exist between them, then seed 6 (IPv6).
      const gone: FlowInput = { protocol: 'udp', original: { src: '10.9.9.9', dst: '10.9.9.8', sport: 1, dport: 2 }, timeout: 1000 };
      for (const f of [SEEDS[0]!, gone, SEEDS[3]!, SEEDS[6]!]) { writeDelete(w, checkFlow('test', f, false)); ends.push(w.pos); }
      const r = await send(worker, NETLINK_NETFILTER, { bytes: w.bytes_(), ends: Uint32Array.from(ends) }, { errorsOnly: true, chunk: 4, tolerate: [ENOENT] });
      assert.deepEqual([...r.errnos], [0, ENOENT, 0, 0]);
      const want = SEEDS.filter((_, i) => ![0, 3, 6].includes(i)).length;
      assert.equal(table(ns).length, want);
      // A refusal (and the rest after it) is still reported when every request fails.
      const again = await send(worker, NETLINK_NETFILTER, { bytes: w.bytes_(), ends: Uint32Array.from(ends) }, { errorsOnly: true, tolerate: [ENOENT] });
      assert.deepEqual([...again.errnos], [ENOENT, ENOENT, ENOENT, ENOENT]);
      assert.equal(table(ns).length, want);
    }));

  it('create reads back in conntrack -L as `conntrack -I` of the same flow; update as `conntrack -U`', () =>
    withNetns(2, async (a, b) => {
      for (const ns of [a, b]) prepare(ns);
      const ct = opened(a);
      for (const f of SEEDS) await ct.create(f);
      seedWithTool(b);
      assert.equal(table(a).length, SEEDS.length);
      assert.deepEqual(table(a), table(b));
      await ct.update({ protocol: 'tcp', original: SEEDS[0]!.original, mark: 99, timeout: 50_000 });
      b.run('conntrack', ['-U', '-p', 'tcp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--sport', '40000', '--dport', '80', '-m', '99', '-t', '50']);
      const [listed] = await ct.list({ protocol: 'udp', original: { src: 'fd00::1' } });
      await ct.update({ ...listed!, mark: 5 });
      b.run('conntrack', ['-U', '-p', 'udp', '-s', 'fd00::1', '-d', 'fd00::2', '--sport', '6000', '--dport', '53', '-m', '5']);
      assert.deepEqual(table(a), table(b));
      await assert.rejects(ct.create(SEEDS[0]!), (e: unknown) => (e as Error).name === 'ExistsError');
      await assert.rejects(ct.update({ protocol: 'udp', original: { src: '1.2.3.4', dst: '1.2.3.5', sport: 1, dport: 2 }, mark: 1 }),
        (e: unknown) => (e as Error).name === 'NotFoundError');
    }));

  it('flush of one family leaves the other (as conntrack -D -f does; the kernel\'s flush takes no family); stats() are conntrack -S', () =>
    withNetns(2, async (a, b) => {
      for (const ns of [a, b]) { prepare(ns); seedWithTool(ns); }
      const ct = opened(a);
      await ct.flush({ family: 'inet6' });
      b.run('conntrack', ['-D', '-f', 'ipv6']);
      assert.deepEqual(table(a), table(b));
      assert.ok(table(a).length > 0 && table(a).every((l) => !l.includes('fd00')));
      const stats = await ct.stats();
      const tool = toolLines(a.run('conntrack', ['-S'])).map((l) => Object.fromEntries(l.trim().split(/\s+/).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])));
      assert.deepEqual(stats, tool);
      await ct.flush();
      assert.equal(table(a).length, 0);
    }));

  it('events report new, update and destroy of flows made by conntrack -I/-U/-D, as conntrack -E does (IPv4 and IPv6)', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      const ct = opened(ns);
      const ac = new AbortController();
      const seen: { type: string; flow: Flow }[] = [];
      const done = (async () => {
        for await (const e of ct.events({ signal: ac.signal })) {
          seen.push(e);
          if (seen.length === 6) ac.abort();
        }
      })();
      const only = await ct.list(); // the subscription is in place once a later call on the handle ran
      assert.equal(only.length, 0);
      const [v4, v6] = [SEEDS[0]!, SEEDS[6]!];
      for (const f of [v4, v6]) {
        ns.run('conntrack', insertArgs(f));
        ns.run('conntrack', ['-U', '-p', String(f.protocol), '-s', f.original.src, '-d', f.original.dst, '-m', '42']);
        ns.run('conntrack', ['-D', '-p', String(f.protocol), '-s', f.original.src]);
      }
      await done;
      assert.deepEqual(seen.map((e) => e.type), ['new', 'update', 'destroy', 'new', 'update', 'destroy']);
      assert.deepEqual(seen.map((e) => e.flow.original), [v4, v4, v4, v6, v6, v6].map((f) => f.original));
      assert.deepEqual(seen.map((e) => e.flow.mark), [7, 42, 42, 0, 42, 42]);
      assert.equal(new Set(seen.slice(0, 3).map((e) => e.flow.id)).size, 1);
      // Only the asked-for types.
      const ac2 = new AbortController();
      const destroyed: string[] = [];
      const done2 = (async () => { for await (const e of ct.events({ types: ['destroy'], signal: ac2.signal })) { destroyed.push(e.flow.original.src); ac2.abort(); } })();
      await ct.count();
      ns.run('conntrack', insertArgs(SEEDS[8]!));
      ns.run('conntrack', ['-D', '-p', 'icmp']);
      await done2;
      assert.deepEqual(destroyed, ['10.0.0.5']);
    }));

  it('module-level functions work on a default handle in the caller\'s namespace, and let the process exit', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      seedWithTool(ns);
      const want = toolLines(ns.run('conntrack', ['-L', '-f', 'ipv4', '-o', 'id'])).map((l) => parseToolLine(l).id).sort();
      const r = await runTs(new URL('../helpers/conntrack-default-child.ts', import.meta.url).pathname, [],
        { argv0: ['ip', 'netns', 'exec', ns.name], timeoutMs: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const got = JSON.parse(r.stdout) as { ids: number[]; count: number; deleted: number; cpus: number };
      assert.deepEqual(got.ids, want);
      assert.equal(got.count, SEEDS.length);
      assert.equal(got.deleted, 1);
      assert.equal(got.cpus, toolLines(ns.run('conntrack', ['-S'])).length);
      assert.equal(table(ns).length, SEEDS.length - 1);
    }));

  it('count and delete by filter stream a dump larger than one chunk (6000 flows) and agree with conntrack -L/-C', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      const ct = opened(ns);
      const made: Promise<void>[] = [];
      for (let i = 0; i < 6000; i++) {
        const original = { src: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, dst: '10.96.0.10', sport: 1024 + (i % 60000), dport: i % 2 ? 53 : 80 };
        made.push(ct.create(i % 2 ? { protocol: 'udp', original, timeout: 600_000 } : { protocol: 'tcp', original, state: 'ESTABLISHED', timeout: 600_000 }));
      }
      await Promise.all(made);
      const udp = toolLines(ns.run('conntrack', ['-L', '-p', 'udp'])).length;
      assert.equal(udp, 3000);
      assert.equal(await ct.count({ protocol: 'udp' }), udp);
      // Zones and ports without a protocol are matched in TypeScript: the whole table (about 1.6 MB) is dumped, in two chunks.
      assert.equal(await ct.count({ zone: 0 }), 6000);
      assert.equal(await ct.delete({ zone: 0, original: { dport: 53 } }), udp);
      assert.equal(Number(ns.run('conntrack', ['-C']).trim()), 3000);
      assert.equal(toolLines(ns.run('conntrack', ['-L', '-p', 'udp'])).length, 0);
    }));

  it('bad input of any JS type is an InvalidArgumentError naming the field, and changes nothing', () =>
    withNetns(1, async (ns) => {
      prepare(ns);
      seedWithTool(ns);
      const before = table(ns);
      const ct = opened(ns);
      const bad: [() => Promise<unknown>, string][] = [
        [() => ct.delete(undefined as never), 'filter'],
        [() => ct.delete({ protocol: 'udp', original: { dport: '53' } } as never), 'filter.original.dport'],
        [() => ct.delete({ mark: { value: 1 } } as never), 'filter.mark.mask'],
        [() => ct.delete({ zone: -3 }), 'filter.zone'],
        [() => ct.delete(7 as never), 'filter'],
        [() => ct.list({ family: 'ipv4' } as never), 'filter.family'],
        [() => ct.count({ original: { src: 'not-an-ip' } }), 'filter.original.src'],
        [() => ct.flush({ family: 4 } as never), 'options.family'],
        [() => ct.create({ ...SEEDS[0]!, timeout: undefined }), 'flow.timeout'],
        [() => ct.create({ ...SEEDS[0]!, original: { src: '10.0.0.1', dst: 'fd00::1', sport: 1, dport: 2 } }), 'flow.original.dst'],
        [() => ct.update({ ...SEEDS[0]!, mark: 2 ** 33 }), 'flow.mark'],
        [() => ct.update(null as never), 'flow'],
        [() => ct.events({ types: ['created'] } as never)[Symbol.asyncIterator]().next(), 'options.types[0]'],
        [() => ct.events({ signal: 'stop' } as never)[Symbol.asyncIterator]().next(), 'options.signal'],
      ];
      for (const [call, arg] of bad) {
        await assert.rejects(call(), (e: unknown) => e instanceof InvalidArgumentError && e.argument === arg && e.subsystem === 'conntrack', arg);
      }
      assert.deepEqual(table(ns), before);
    }));
});
