// h.events on the real kernel: changes made by `ip` in a throwaway namespace arrive as events
// carrying the records the list functions return (compared with `ip -j` after the fact), and
// `list: true` yields what was there and then every change, none lost and none repeated, while
// another process changes the namespace during the listing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { link, InvalidArgumentError } from '../../lib/index.js';
import type { LinkEvent } from '../../lib/link/events.js';
import { kernelSkipReason, withNetns, withHandle } from '../helpers/netns.js';

const skip = kernelSkipReason();

/** Reads events until `done` says so (or fails after `ms` with what came). */
async function collect(it: AsyncIterator<LinkEvent>, done: (seen: LinkEvent[]) => boolean, ms = 10000): Promise<LinkEvent[]> {
  const seen: LinkEvent[] = [];
  const timer = setTimeout(() => void it.return?.(), ms);
  try {
    while (!done(seen)) {
      const r = await it.next();
      if (r.done) assert.fail(`the events ended before the expected ones came; got ${JSON.stringify(seen, null, 1)}`);
      seen.push(r.value);
    }
    return seen;
  } finally {
    clearTimeout(timer);
  }
}

const describeEvent = (e: LinkEvent): string => {
  const verb = e.deleted ? 'del' : 'new';
  switch (e.group) {
    case 'link': return `${verb} link ${e.link.name}`;
    case 'address': return `${verb} address ${e.address.address} ${e.address.link}`;
    case 'route': return `${verb} route ${e.route.table ?? 'main'} ${e.route.dst}`;
    case 'neighbour': return `${verb} neighbour ${e.neighbour.dst} ${e.neighbour.dev}`;
  }
};

describe('link events', { skip }, () => {
  it('links, addresses, routes and neighbours changed by ip arrive as events with the records list() returns', () =>
    withNetns(1, async (ns) => {
      const h = link.open({ netns: ns.path });
      const ac = new AbortController();
      try {
        const it = h.events({ signal: ac.signal })[Symbol.asyncIterator]();
        const first = it.next();
        await h.list(); // queued after the subscription: it is open now
        ns.run('ip', ['-batch', '-'], ['link add v0 type veth peer name v1', 'link set v0 mtu 1400 up',
          'addr add 10.1.0.1/24 dev v0', 'route add 10.2.0.0/16 via 10.1.0.2 dev v0 onlink',
          'neigh add 10.1.0.7 lladdr 02:00:00:00:00:07 dev v0', 'neigh del 10.1.0.7 dev v0'].join('\n') + '\n');
        // v0's operstate settles (linkwatch) up to a second after it came up: list once it has.
        for (let i = 0; i < 50 && !/LOWERLAYERDOWN/.test(ns.run('ip', ['link', 'show', 'v0'])); i++) await sleep(100);
        const { stats: _, ...v0 } = (await h.list()).find((l) => l.name === 'v0')!;
        const routes = await h.routes.list();
        const addrs = await h.listAddresses('v0');
        const lastV0 = (s: LinkEvent[]) => s.filter((e): e is Extract<LinkEvent, { group: 'link' }> => e.group === 'link' && e.link.name === 'v0').at(-1);
        // Until the neighbour's deletion (the last change) came and v0's latest event is the link as listed.
        const seen = [(await first).value as LinkEvent, ...await collect(it, (s) =>
          s.some((e) => e.group === 'neighbour' && e.deleted) && isDeepStrictEqual(lastV0(s)?.link, v0))];
        const names = seen.map(describeEvent);
        for (const want of ['new link v0', 'new link v1', 'new address 10.1.0.1/24 v0', 'new route main 10.2.0.0/16',
          'new neighbour 10.1.0.7 v0', 'del neighbour 10.1.0.7 v0']) {
          assert.ok(names.includes(want), `${want} not in ${names.join(', ')}`);
        }
        assert.equal(lastV0(seen)!.link.mtu, 1400);
        const route = seen.find((e) => e.group === 'route' && e.route.dst === '10.2.0.0/16') as Extract<LinkEvent, { group: 'route' }>;
        assert.deepEqual(route.route, routes.find((r) => r.dst === '10.2.0.0/16'));
        const addr = seen.find((e) => e.group === 'address' && e.address.address === '10.1.0.1/24') as Extract<LinkEvent, { group: 'address' }>;
        assert.deepEqual(addr.address, addrs.find((a) => a.address === '10.1.0.1/24'));
        const neigh = seen.find((e) => e.group === 'neighbour' && !e.deleted) as Extract<LinkEvent, { group: 'neighbour' }>;
        assert.deepEqual(neigh.neighbour, { dst: '10.1.0.7', dev: 'v0', lladdr: '02:00:00:00:00:07', state: ['PERMANENT'] });

        // A rename arrives under the new name; deleting the link, its deletion; then the abort ends the iteration.
        ns.run('ip', ['link', 'set', 'v1', 'name', 'w1']);
        await collect(it, (s) => s.some((e) => e.group === 'link' && e.link.name === 'w1'));
        ns.run('ip', ['link', 'del', 'v0']);
        await collect(it, (s) => s.some((e) => e.group === 'link' && e.deleted && e.link.name === 'v0'));
        ac.abort();
        assert.deepEqual(await it.next(), { value: undefined, done: true });
      } finally {
        ac.abort();
        await h.close();
      }
    }));

  it('groups select what arrives', () =>
    withNetns(1, async (ns) => {
      await withHandle(link.open({ netns: ns.path }), async (h) => {
        const it = h.events({ groups: ['address'] })[Symbol.asyncIterator]();
        const first = it.next();
        await h.list();
        ns.run('ip', ['-batch', '-'], 'link add v0 type veth peer name v1\naddr add 10.1.0.1/24 dev v0\n');
        const e = (await first).value as LinkEvent;
        assert.equal(describeEvent(e), 'new address 10.1.0.1/24 v0');
        await it.return!();
      });
    }));

  it('list: true yields what was there, then every change, none missed or repeated while ip changes the namespace', () =>
    withNetns(1, async (ns) => {
      ns.run('ip', ['link', 'add', 'v0', 'up', 'type', 'veth', 'peer', 'name', 'v1']);
      ns.run('ip', ['link', 'set', 'v1', 'up']);
      // Another process adds and removes addresses all through the listing.
      const N = 200;
      const lines: string[] = [];
      for (let i = 0; i < N; i++) lines.push(`addr add 10.3.${i >> 8}.${i & 255}/32 dev v0`);
      for (let i = 0; i < N; i += 2) lines.push(`addr del 10.3.${i >> 8}.${i & 255}/32 dev v0`);
      await withHandle(link.open({ netns: ns.path }), async (h) => {
        const child = spawn('ip', ['-n', ns.name, '-batch', '-'], { stdio: ['pipe', 'ignore', 'inherit'] });
        const exited = new Promise((r) => child.on('close', r));
        const it = h.events({ groups: ['address'], list: true })[Symbol.asyncIterator]();
        const first = it.next();
        child.stdin.end(lines.join('\n') + '\n');
        const events = [(await first).value as LinkEvent];
        await exited;
        // The state the events describe, applied in order, ends where the kernel is; no event repeats the one before it.
        const want = new Set((await h.listAddresses()).map((a) => `${a.link} ${a.address}`));
        const have = new Map<string, string>();
        const apply = (e: LinkEvent) => {
          assert.equal(e.group, 'address');
          if (e.group !== 'address') return;
          const k = `${e.address.link} ${e.address.address}`;
          if (e.deleted) {
            assert.ok(have.has(k), `deletion of ${k}, which was not there`);
            have.delete(k);
          } else {
            assert.notEqual(have.get(k), JSON.stringify(e.address), `repeated: ${k}`);
            have.set(k, JSON.stringify(e.address));
          }
        };
        apply(events[0]!);
        const sameSet = () => have.size === want.size && [...want].every((k) => have.has(k));
        while (!sameSet()) {
          let timer: NodeJS.Timeout | undefined;
          const r = await Promise.race([it.next(), new Promise<'late'>((res) => { timer = setTimeout(() => res('late'), 10000); })]);
          clearTimeout(timer);
          if (r === 'late') assert.fail(`the events never reached the kernel's state: ${have.size} addresses vs ${want.size}`);
          if (r.done) break;
          apply(r.value);
        }
        assert.ok(sameSet());
        assert.equal([...want].filter((k) => k.startsWith('v0 10.3.')).length, N / 2);
        await it.return!();
      });
    }));

  it('bad options are an InvalidArgumentError', () =>
    withNetns(1, async (ns) => {
      await withHandle(link.open({ netns: ns.path }), async (h) => {
        for (const o of [null, 7, { groups: [] }, { groups: ['links'] }, { groups: 'link' }, { signal: {} }, { list: 1 }, { other: 1 }]) {
          await assert.rejects(h.events(o as object)[Symbol.asyncIterator]().next(), InvalidArgumentError, JSON.stringify(o));
        }
      });
    }));
});
