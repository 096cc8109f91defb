// nft.sync against the real kernel, in throwaway namespaces: after sync(desired), `nft -j list
// ruleset` (handles aside) and `nft list ruleset` equal what `nft -f` of the desired text gives in
// a fresh namespace; a second sync sends nothing; one changed element sends one element; services
// removed and endpoints changed are diffed as kube-proxy's partial sync does; bad input changes nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, Netns } from '../helpers/netns.js';
import { kubeProxyCommands } from '../helpers/nft-kube.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');

/** nft's own text of a kube-proxy ruleset: `nft -j -f` of its commands in a scratch namespace, then `nft list ruleset`. */
function kubeText(services: number, endpoints: number, shape: 'vmap' | 'cascade' = 'vmap'): string {
  const ns = new Netns('sync');
  const dir = mkdtempSync(join(tmpdir(), 'nlkit-sync-'));
  try {
    // a file: nft -j cannot read JSON from a socket on stdin
    writeFileSync(join(dir, 'k.json'), JSON.stringify({ nftables: kubeProxyCommands(services, endpoints, shape) }));
    ns.run('nft', ['-j', '-f', join(dir, 'k.json')]);
    return ns.run('nft', ['list', 'ruleset']);
  } finally {
    ns.remove();
    rmSync(dir, { recursive: true });
  }
}

const noHandles = (objs: object[]): unknown => JSON.parse(JSON.stringify(objs, (k, v: unknown) => (k === 'handle' ? undefined : v)));

/** `nft -f` of text in a fresh namespace: its listings are what sync must leave. */
function oracle(text: string): { json: unknown; text: string } {
  const ns = new Netns('sync');
  try {
    ns.run('nft', ['-f', '-'], text);
    return { json: noHandles(nftJson(ns)), text: ns.run('nft', ['list', 'ruleset']) };
  } finally {
    ns.remove();
  }
}

/**
 * The listings equal, whole; with `anyChainOrder`, objects sorted by kind and name first (rules
 * keep their order within a chain): chains a sync kept stay where they were in the kernel's list.
 */
function assertLike(ns: Netns, want: { json: unknown; text: string }, anyChainOrder = false): void {
  if (!anyChainOrder) {
    assert.deepEqual(noHandles(nftJson(ns)), want.json);
    assert.equal(ns.run('nft', ['list', 'ruleset']), want.text);
    return;
  }
  const sorted = (objs: unknown) => (objs as Array<Record<string, { name?: string; chain?: string }>>).map((o, i) => ({ o, i }))
    .sort((x, y) => {
      const [kx, bx] = Object.entries(x.o)[0]!, [ky, by] = Object.entries(y.o)[0]!;
      const key = (k: string, b: { name?: string; chain?: string }) => `${k === 'rule' ? 'chain' : k}\0${k === 'rule' ? b.chain : b.name}\0${k === 'rule' ? 1 : 0}`;
      return key(kx, bx) < key(ky, by) ? -1 : key(kx, bx) > key(ky, by) ? 1 : x.i - y.i;
    }).map((x) => x.o);
  assert.deepEqual(sorted(noHandles(nftJson(ns))), sorted(want.json));
}

const T = { family: 'ip' as const, table: 'kube-proxy' };

describe('nft.sync against the kernel', { skip }, () => {
  it('from nothing, the table nft -f makes; a second sync sends nothing; one new element sends one element', () => withNetns(1, async (ns) => {
    const text = kubeText(30, 2);
    await withNft(ns, async (h) => {
      const first = await h.sync(text, T);
      assertLike(ns, oracle(text));
      assert.ok(first.added > 30 && first.removed === 0 && first.commands.length > 100);

      const again = await h.sync(text, T);
      assert.deepEqual(again.commands, []);
      assert.equal(again.added + again.updated + again.removed, 0);

      const text2 = `${text}add element ip kube-proxy cluster-ips { 172.30.99.1 }\n`;
      const one = await h.sync(text2, T);
      assert.deepEqual(one.commands, [{ add: { element: { ...T, name: 'cluster-ips', elem: ['172.30.99.1'] } } }]);
      assert.deepEqual([one.added, one.updated, one.removed], [1, 0, 0]);
      assertLike(ns, oracle(text2));

      // A map element whose verdict changed: deleted and added again, nothing else.
      const text3 = text2.replace('comment "ns0/svc0:p80" : goto service-XXXXXXX0-ns0/svc0/tcp/p80', 'comment "ns0/svc0:p80" : drop');
      assert.notEqual(text3, text2);
      const changed = await h.sync(text3, T);
      assert.equal(changed.commands.length, 2);
      assert.deepEqual([changed.added, changed.updated, changed.removed], [0, 1, 0]);
      assertLike(ns, oracle(text3));
    });
  }));

  it('services removed and endpoints changed (kube-proxy 30x2 -> 20x3, vmap and cascade shapes): the table nft -f makes of the new text', () => withNetns(1, async (ns) => {
    for (const shape of ['vmap', 'cascade'] as const) {
      const before = kubeText(30, 2, shape), after = kubeText(20, 3, shape);
      await withNft(ns, async (h) => {
        await h.sync(before, T);
        const r = await h.sync(after, T);
        assert.ok(r.removed > 0 && r.updated > 0, JSON.stringify({ ...r, commands: r.commands.length }));
        assertLike(ns, oracle(after), true);
        // Every command is about a changed object: no chain that stayed the same is rewritten.
        assert.ok(!r.commands.some((c) => JSON.stringify(c).includes('"mark-for-masquerade","handle"')));
        assert.deepEqual((await h.sync(after, T)).commands, []);
        // Back to the first: the cascade shape and the vmap one turn into each other too.
        await h.sync(shape === 'vmap' ? kubeText(30, 2, 'cascade') : before, T);
        assertLike(ns, oracle(shape === 'vmap' ? kubeText(30, 2, 'cascade') : before), true);
      });
    }
  }));

  it('desired objects as apply() commands and as list() objects give the same table', () => withNetns(2, async (a, b) => {
    const cmds = kubeProxyCommands(10, 2);
    await withNft(a, (h) => h.sync(cmds, T));
    await withNft(b, async (h) => {
      await h.apply(cmds);
      const listed = await h.list();
      await h.apply([{ flush: { ruleset: null } }]);
      await h.sync(listed, T);
    });
    assert.equal(a.run('nft', ['list', 'ruleset']), b.run('nft', ['list', 'ruleset']));
    assert.deepEqual(noHandles(nftJson(a)), oracle(kubeText(10, 2)).json);
  }));

  it('apply() of elements for two sets that exist only in the kernel asks for both by name; a missing one is NotFoundError', () => withNetns(1, async (ns) => {
    ns.run('nft', ['-f', '-'], 'table ip t {\n set a { type ipv4_addr; }\n map b { type inet_proto . inet_service : verdict; }\n chain c { }\n}\n');
    await withNft(ns, async (h) => {
      await h.apply([
        { add: { element: { family: 'ip', table: 't', name: 'a', elem: ['10.0.0.1'] } } },
        { add: { element: { family: 'ip', table: 't', name: 'b', elem: [[{ concat: ['tcp', 80] }, { goto: { target: 'c' } }]] } } },
      ]);
      assert.match(ns.run('nft', ['list', 'ruleset']), /elements = \{ 10\.0\.0\.1 \}[\s\S]*elements = \{ tcp \. 80 : goto c \}/);
      const before = ns.run('nft', ['list', 'ruleset']);
      await assert.rejects(h.apply([
        { add: { element: { family: 'ip', table: 't', name: 'a', elem: ['10.0.0.2'] } } },
        { add: { element: { family: 'ip', table: 't', name: 'nope', elem: ['10.0.0.3'] } } },
      ]), (e: unknown) => e instanceof NotFoundError && e.index === 1);
      assert.equal(ns.run('nft', ['list', 'ruleset']), before);
    });
  }));

  it('bad input: InvalidArgumentError, nothing changed', () => withNetns(1, async (ns) => {
    const text = kubeText(5, 2);
    await withNft(ns, async (h) => {
      await h.sync(text, T);
      const listed = ns.run('nft', ['list', 'ruleset']);
      const bad: Array<[unknown, unknown]> = [
        [text, { table: 'other' }],
        [text, { ...T, family: 'ip6' }],
        [text, undefined],
        [text, { family: 'ip' }],
        [text, { ...T, family: 'arp' }],
        [[{ delete: { chain: { ...T, name: 'services' } } }], T],
        [[{ add: { table: { family: 'ip', name: 'kube-proxy' } } }, { add: { chain: { family: 'ip', table: 'x', name: 'c' } } }], T],
        [42, T],
        ['table ip kube-proxy { chain }', T],
      ];
      for (const [desired, opts] of bad) {
        await assert.rejects(h.sync(desired, opts as never), (e: unknown) => e instanceof InvalidArgumentError || assert.fail(`${JSON.stringify(desired).slice(0, 80)} ${JSON.stringify(opts)}: ${String(e)}`));
      }
      assert.equal(ns.run('nft', ['list', 'ruleset']), listed);
    });
  }));
});
