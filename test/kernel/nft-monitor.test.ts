// nft.monitor against the real kernel, in a throwaway namespace: the events nlkit reads for
// changes `nft` makes must be the ones `nft -j monitor` prints for the same changes (both
// listening at once, so both get the same notifications). nft 1.0.6's monitor prints deleted
// sets with type "invalid", deleted rules whose anonymous set went first without statements,
// and anonymous sets' deletion: delete events are compared by what they name (family, table,
// name, handle), adds and elements whole. Aborting the signal ends the iteration cleanly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { InvalidArgumentError } from '../../lib/core/errors.js';
import type { NftEvent } from '../../lib/nft/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');

const SCRIPT = `add table ip e
add set ip e c { type ipv4_addr ; flags timeout ; timeout 1m ; counter ; comment "cc" ; }
add element ip e c { 10.0.0.4 counter packets 3 bytes 100 timeout 30s expires 10s comment "x", 10.0.0.5 }
add map ip e m { type ipv4_addr . inet_service : verdict ; }
add chain ip e c { type filter hook input priority 0; policy accept; }
add chain ip e target
add element ip e m { 10.0.0.4 . 80 : jump target, 10.0.0.5 . 443 : drop }
add rule ip e c ip saddr 1.2.3.4 counter accept comment "hi"
add rule ip e c ip daddr . tcp dport vmap @m
add rule ip e c numgen random mod 2 vmap { 0 : accept, 1 : drop }
add table inet f { comment "ff" ; }
add chain inet f out { type filter hook output priority 0 ; }
add rule inet f out ct state established,related accept
add table ip n
add chain ip n out { type nat hook output priority -100 ; }
add rule ip n out ip daddr 10.0.0.1 tcp dport 80 dnat to 10.0.0.2:8080
`;

/** What a delete event names. */
function identity(ev: object): object {
  const [[verb, body]] = Object.entries(ev) as [[string, Record<string, Record<string, unknown>>]];
  const [[kind, o]] = Object.entries(body) as [[string, Record<string, unknown>]];
  if (verb !== 'delete' || kind === 'element') return ev;
  const { family, table, name, chain, handle } = o;
  return { [verb]: { [kind]: { family, table, name, chain, handle } } };
}

const anonymous = (ev: object): boolean => /"name":"__/.test(JSON.stringify(ev));

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cond(), `waited for ${what}`);
}

const marker = (name: string) => (ev: object) => JSON.stringify(ev).includes(`"name":"${name}"`);

describe('nft.monitor against the kernel', { skip }, () => {
  it('events for nft\'s changes are what nft -j monitor prints', () => withNetns(1, async (ns: Netns) => {
    const tool = spawn('ip', ['netns', 'exec', ns.name, 'nft', '-j', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    tool.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const toolEvents = () => out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as object);
    const ac = new AbortController();
    try { await withNft(ns, async (h) => {
      const mine: NftEvent[] = [];
      let failed: unknown;
      const loop = (async () => { for await (const ev of h.monitor({ signal: ac.signal })) mine.push(ev); })().catch((e: unknown) => { failed = e; ac.abort(); });
      // Both listen once both have seen a marker table.
      for (let i = 0; !(toolEvents().some(marker(`start${i - 1}`)) && mine.some(marker(`start${i - 1}`))); i++) {
        if (i > 100) assert.fail('monitors never started');
        ns.run('nft', ['add', 'table', 'ip', `start${i}`]);
        await new Promise((r) => setTimeout(r, 50));
      }
      const startsSeen = mine.length, toolStarts = toolEvents().length;
      ns.run('nft', ['-f', '-'], SCRIPT);
      ns.run('nft', ['delete', 'element', 'ip', 'e', 'c', '{ 10.0.0.5 }']);
      ns.run('nft', ['delete', 'element', 'ip', 'e', 'm', '{ 10.0.0.4 . 80 }']);
      ns.run('nft', ['delete', 'rule', 'ip', 'e', 'c', 'handle', '5']);
      ns.run('nft', ['flush', 'chain', 'ip', 'e', 'c']);
      ns.run('nft', ['delete', 'table', 'ip', 'e']);
      ns.run('nft', ['delete', 'table', 'inet', 'f']);
      ns.run('nft', ['delete', 'table', 'ip', 'n']);
      ns.run('nft', ['add', 'table', 'ip', 'end']);
      await waitFor('the end marker', () => failed !== undefined || (mine.some(marker('end')) && toolEvents().some(marker('end'))));
      ac.abort();
      await loop;
      if (failed) throw failed;
      const got = mine.slice(startsSeen).filter((e) => !anonymous(e)).map(identity);
      const want = toolEvents().slice(toolStarts).filter((e) => !anonymous(e)).map(identity);
      // Starting markers that arrived late are the same on both sides; compare from the script on.
      const at = (evs: object[]) => evs.findIndex((e) => JSON.stringify(e).includes('"name":"e"'));
      assert.ok(at(want) >= 0, JSON.stringify(want));
      assert.deepEqual(got.slice(at(got)), want.slice(at(want)));
      assert.ok(got.length > 25, `events: ${got.length}`);
      assert.ok(got.some((e) => JSON.stringify(e).startsWith('{"add":{"rule"') && JSON.stringify(e).includes('"dnat"')));
    }); } finally { tool.kill(); }
  }));

  it('aborting ends the iteration; a break closes it; bad options are InvalidArgumentError', () => withNetns(1, async (ns: Netns) => {
    await withNft(ns, async (h) => {
      const ac = new AbortController();
      const seen: NftEvent[] = [];
      const loop = (async () => { for await (const ev of h.monitor({ signal: ac.signal })) { seen.push(ev); ac.abort(); } })();
      let n = 0;
      await waitFor('the first event', () => { ns.run('nft', ['add', 'table', 'ip', `t${n++}`]); return seen.length > 0; });
      await loop;
      assert.equal(seen.length, 1);
      const ev = seen[0]!;
      assert.ok('add' in ev && 'table' in ev.add && /^t\d+$/.test(ev.add.table.name) && ev.add.table.family === 'ip', JSON.stringify(ev));
      // Aborted before iterating: done at once.
      const it0 = h.monitor({ signal: AbortSignal.abort() })[Symbol.asyncIterator]();
      assert.deepEqual(await it0.next(), { value: undefined, done: true });
      // return() (what break calls) closes the subscription; the handle keeps working.
      const it1 = h.monitor()[Symbol.asyncIterator]();
      let first: IteratorResult<NftEvent> | undefined;
      const p = it1.next().then((r) => { first = r; });
      await waitFor('an event', () => { ns.run('nft', ['add', 'table', 'ip', `u${n++}`]); return first !== undefined; });
      await p;
      assert.equal(first!.done, false);
      assert.deepEqual(await it1.return!(), { value: undefined, done: true });
      assert.deepEqual(await it1.next(), { value: undefined, done: true });
      assert.ok((await h.list()).length >= 3);
      await assert.rejects(h.monitor({ signal: 5 as never })[Symbol.asyncIterator]().next(), InvalidArgumentError);
      await assert.rejects(h.monitor(null as never)[Symbol.asyncIterator]().next(), InvalidArgumentError);
    });
  }));

  it('a rule whose anonymous map existed before the monitor started: its deletion is the rule list() showed', () => withNetns(1, async (ns: Netns) => {
    ns.run('nft', ['-f', '-'], 'add table ip p\nadd chain ip p c\nadd set ip p s { type ipv4_addr ; }\nadd rule ip p c numgen random mod 2 vmap { 0 : accept, 1 : drop }\n');
    await withNft(ns, async (h) => {
      const rule = (await h.list()).find((o) => 'rule' in o)!;
      const ac = new AbortController();
      const seen: NftEvent[] = [];
      let failed: unknown;
      const loop = (async () => { for await (const ev of h.monitor({ signal: ac.signal })) seen.push(ev); })().catch((e: unknown) => { failed = e; });
      let n = 0;
      await waitFor('the monitor', () => { ns.run('nft', ['add', 'element', 'ip', 'p', 's', `{ 10.0.0.${++n} }`]); return seen.length > 0 || failed !== undefined; });
      ns.run('nft', ['delete', 'rule', 'ip', 'p', 'c', 'handle', String((rule as { rule: { handle: number } }).rule.handle)]);
      await waitFor('the deletion', () => failed !== undefined || seen.some((e) => 'delete' in e));
      ac.abort();
      await loop;
      if (failed) throw failed;
      assert.deepEqual(seen.find((e) => 'delete' in e), { delete: rule });
      assert.match(JSON.stringify(rule), /"vmap".*"set":\[\[0,\{"accept":null\}\],\[1,\{"drop":null\}\]\]/);
    });
  }));
});
