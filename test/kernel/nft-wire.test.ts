// nft.apply / list / generation against the real kernel, in throwaway namespaces: what apply()
// writes must be exactly what `nft -f` / `nft -j -f` of the same input writes, as
// `nft list ruleset` and `nft -j list ruleset` print it (whole outputs compared); list() of a
// ruleset nft wrote must equal `nft -j list ruleset`; refusals name the failing command and
// change nothing; a stale generation is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConcurrentModificationError, InvalidArgumentError, NotFoundError, type NlkitError } from '../../lib/core/errors.js';
import type { ApplyOptions, NftHandle } from '../../lib/nft/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { kubeProxyCommands } from '../helpers/nft-kube.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');
const fixtures = new URL('../fixtures/nft/', import.meta.url);

/** apply()'s error, or undefined when it succeeded. */
const refusal = (h: NftHandle, cmds: unknown, opts?: ApplyOptions): Promise<NlkitError | undefined> =>
  h.apply(cmds, opts).then(() => undefined, (e: NlkitError) => e);

const nftList = (ns: Netns) => ns.run('nft', ['list', 'ruleset']);
/** `nft -j -f` of `cmds` in `ns`, through a file (the oracle's own load of the same commands). */
function nftJsonFile(ns: Netns, cmds: unknown): void {
  const file = join(mkdtempSync(join(tmpdir(), 'nlkit-nft-')), 'cmds.json');
  try {
    writeFileSync(file, JSON.stringify(cmds));
    ns.run('nft', ['-j', '-f', file]);
  } finally {
    rmSync(dirname(file), { recursive: true });
  }
}

describe('nft wire against the kernel', { skip }, () => {
  for (const file of readdirSync(new URL('cases/', fixtures)).filter((f) => f.endsWith('.json'))) {
    const name = file.slice(0, -5);
    it(`${name}: nlkit's batch leaves what nft -f leaves (nft list and nft -j list, whole)`, () => withNetns(2, async (a, b) => {
      const text = new URL(`cases/${name}.nft`, fixtures);
      if (existsSync(text)) a.run('nft', ['-f', fileURLToPath(text)]);
      else a.run('nft', ['-j', '-f', fileURLToPath(new URL(file, new URL('cases/', fixtures)))]);
      await withNft(b, (h) => h.apply(JSON.parse(readFileSync(new URL(`cases/${file}`, fixtures), 'utf8'))));
      assert.equal(nftList(b), nftList(a));
      assert.deepEqual(nftJson(b), nftJson(a));
      assert.deepEqual(await withNft(a, (h) => h.list()), nftJson(a));
    }));
  }

  it('a kube-proxy ruleset of 40 services: same as nft -j -f, and list() of it is nft -j list', () => withNetns(2, async (a, b) => {
    const cmds = { nftables: kubeProxyCommands(40, 3) };
    nftJsonFile(a, cmds);
    await withNft(b, (h) => h.apply(cmds));
    const text = nftList(b);
    assert.match(text, /numgen random mod 3 vmap \{ 0 : goto endpoint-/);
    assert.equal(text, nftList(a));
    const json = nftJson(a);
    assert.deepEqual(nftJson(b), json);
    assert.deepEqual(await withNft(a, (h) => h.list()), json);
    const listed = await withNft(b, (h) => h.list());
    assert.deepEqual(listed, json);
    assert.deepEqual(await withNft(b, (h) => h.list({ family: 'ip6' })), []);
    assert.deepEqual(await withNft(b, (h) => h.list({ family: 'ip', table: 'kube-proxy' })), json);
    // Round trip: what list() returned, applied to a third namespace, lists the same again.
    await withNetns(1, async (c) => {
      const again = listed.map((o) => {
        const [[k, v]] = Object.entries(o as object) as [[string, Record<string, unknown>]];
        const { handle: _h, ...rest } = v;
        return { add: { [k]: rest } };
      });
      // Elements name chains that come later in nft's listing order: chains first, then the rest.
      const rank = (o: object) => ['table', 'chain', 'set', 'map', 'rule'].indexOf(Object.keys(Object.values(o)[0] as object)[0]!);
      await withNft(c, (h) => h.apply(again.sort((x, y) => rank(x) - rank(y))));
      assert.equal(nftList(c), text);
    });
  }));

  // The rule fast path's families (compile-fast.ts): kube-proxy's IPv6 table, and both its tables
  // as inet tables (meta nfproto dependencies; dnat naming its family).
  for (const [family, table] of [['ip6', 'ip6'], ['ip', 'inet'], ['ip6', 'inet']] as const) {
    it(`kube-proxy's ${family} ruleset in an ${table} table, cascade shape: same as nft -j -f`, () => withNetns(2, async (a, b) => {
      const cmds = { nftables: kubeProxyCommands(20, 3, 'cascade', family).map((c) => {
        if (table === family) return c;
        return JSON.parse(JSON.stringify(c).replaceAll(`"family":"${family}"`, `"family":"${table}"`).replaceAll('"dnat":{', `"dnat":{"family":"${family}",`)) as object;
      }) };
      nftJsonFile(a, cmds);
      await withNft(b, (h) => h.apply(cmds));
      const text = nftList(b);
      assert.match(text, new RegExp(`${family} saddr != ${family === 'ip' ? '10\\.0\\.0\\.0/8' : 'fd00:10::/64'} jump mark-for-masquerade`));
      assert.match(text, new RegExp(`dnat ${table === 'inet' ? `${family} ` : ''}to ${family === 'ip' ? '10\\.' : '\\[fd00:10:'}`));
      assert.equal(text, nftList(a));
      assert.deepEqual(nftJson(b), nftJson(a));
    }));
  }

  it('a batch refused at its last command changes nothing; the error names the command and the kernel', () => withNetns(1, async (ns) => {
    ns.run('nft', ['-f', fileURLToPath(new URL('cases/basics.nft', fixtures))]);
    const before = nftList(ns);
    const cmds = [
      { add: { table: { family: 'ip', name: 'fresh' } } },
      { add: { chain: { family: 'ip', table: 'fresh', name: 'c' } } },
      { add: { rule: { family: 'ip', table: 'fresh', chain: 'c', expr: [{ accept: null }] } } },
      { add: { rule: { family: 'ip', table: 'fresh', chain: 'c', expr: [{ jump: { target: 'nowhere' } }] } } },
    ];
    const e = await withNft(ns, (h) => refusal(h, cmds));
    assert.ok(e instanceof NotFoundError, String(e));
    assert.equal(e.index, 3);
    assert.equal(e.errno, 2);
    assert.match(e.message, /command 3 \(add rule ip fresh c\).*ENOENT/);
    assert.equal(nftList(ns), before);
  }));

  it('bad input the kernel refuses: chain loop, missing set, existing object with create', () => withNetns(1, async (ns) => {
    const t = { add: { table: { family: 'ip', name: 't' } } };
    const ch = (name: string) => ({ add: { chain: { family: 'ip', table: 't', name } } });
    const jump = (from: string, to: string) => ({ add: { rule: { family: 'ip', table: 't', chain: from, expr: [{ jump: { target: to } }] } } });
    const base = { add: { chain: { family: 'ip', table: 't', name: 'in', type: 'filter', hook: 'input', prio: 0 } } };
    await withNft(ns, async (h) => {
    let e = await refusal(h, [t, base, ch('a'), ch('b'), jump('in', 'a'), jump('a', 'b'), jump('b', 'a')]);
    // A loop is ELOOP or, found through the jump depth limit, EMLINK (kernel 6.x).
    assert.ok(e instanceof InvalidArgumentError && (e.code === 'ELOOP' || e.code === 'EMLINK'), String(e));
    assert.ok(e.index === 5 || e.index === 6, `index ${e.index}`);
    e = await refusal(h, [t, ch('a'), { add: { rule: { family: 'ip', table: 't', chain: 'a', expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@nope' } }] } } }]);
    assert.ok(e instanceof NotFoundError && e.index === 2, String(e));
    assert.equal(nftList(ns), '');
    await h.apply([t]);
    e = await refusal(h, [{ create: { table: { family: 'ip', name: 't' } } }]);
    assert.equal(e?.code, 'EEXIST');
    assert.equal(e?.index, 0);
    // Elements for a set that exists only in the kernel: apply() reads its key types first.
    await h.apply([{ add: { set: { family: 'ip', table: 't', name: 's', type: ['ipv4_addr', 'inet_service'] } } }]);
    await h.apply([{ add: { element: { family: 'ip', table: 't', name: 's', elem: [{ concat: ['10.0.0.1', 80] }] } } }]);
    assert.match(nftList(ns), /elements = \{ 10\.0\.0\.1 \. 80 \}/);
    e = await refusal(h, [{ add: { element: { family: 'ip', table: 't', name: 's', elem: ['10.0.0.2'] } } }]);
    assert.ok(e instanceof InvalidArgumentError && e.index === 0, String(e));
    });
  }));

  it('a stale generation is refused after a concurrent nft add table; the current one is not', () => withNetns(1, async (ns) => {
    await withNft(ns, async (h) => {
      const gen = await h.generation();
      ns.run('nft', ['add', 'table', 'ip', 'other']);
      const cmds = [{ add: { table: { family: 'ip', name: 'mine' } } }];
      const e = await refusal(h, cmds, { generation: gen });
      assert.ok(e instanceof ConcurrentModificationError, String(e));
      assert.equal(nftList(ns), 'table ip other {\n}\n');
      const now = await h.generation();
      assert.ok(now > gen);
      await h.apply(cmds, { generation: now });
      assert.match(nftList(ns), /table ip mine/);
    });
  }));
});

describe('nft rules by handle', { skip }, () => {
  it('replace and delete a rule by the handle list() gives, as nft does by the same handle', () => withNetns(2, async (a, b) => {
    const R = { family: 'inet', table: 'f', chain: 'c' };
    const setup = [
      { add: { table: { family: 'inet', name: 'f' } } },
      { add: { chain: { family: 'inet', table: 'f', name: 'c' } } },
      { add: { rule: { ...R, expr: [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 22 } }, { accept: null }] } } },
      { add: { rule: { ...R, expr: [{ match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 53 } }, { accept: null }] } } },
      { add: { rule: { ...R, expr: [{ drop: null }] } } },
    ];
    for (const ns of [a, b]) await withNft(ns, (h) => h.apply(setup));
    const handles = (await withNft(b, (h) => h.list())).flatMap((o) => ('rule' in o ? [o.rule.handle!] : []));
    assert.equal(handles.length, 3);
    a.run('nft', ['replace', 'rule', 'inet', 'f', 'c', 'handle', String(handles[0]), 'tcp', 'dport', '2222', 'accept']);
    a.run('nft', ['delete', 'rule', 'inet', 'f', 'c', 'handle', String(handles[1])]);
    await withNft(b, (h) => h.apply([
      { replace: { rule: { ...R, handle: handles[0], expr: [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 2222 } }, { accept: null }] } } },
      { delete: { rule: { ...R, handle: handles[1] } } },
    ]));
    assert.equal(nftList(b), nftList(a));
    assert.deepEqual(nftJson(b), nftJson(a));
  }));
});

// 100k elements work the same (bench/nft.ts); nft itself needs ~25 s to list them, too long for npm test.
describe('nft large element lists', { skip }, () => {
  it('30k elements (about a dozen messages of one batch): nft lists them all, and so does list()', () => withNetns(1, async (b) => {
    const elem = Array.from({ length: 30_000 }, (_, i) => ({ concat: [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 'tcp', 1 + (i % 60000)] }));
    const cmds = { nftables: [
      { add: { table: { family: 'ip', name: 'big' } } },
      { add: { set: { family: 'ip', table: 'big', name: 's', type: ['ipv4_addr', 'inet_proto', 'inet_service'] } } },
      { add: { element: { family: 'ip', table: 'big', name: 's', elem } } },
    ] };
    await withNft(b, (h) => h.apply(cmds));
    const text = nftList(b);
    assert.equal(text.match(/ \. tcp \. /g)?.length, 30_000);
    assert.match(text, /10\.0\.0\.0 \. tcp \. 1[,\s]/);
    assert.match(text, /10\.0\.117\.47 \. tcp \. 30000[,\s]/);
    const listed = await withNft(b, (h) => h.list());
    assert.equal((listed[1] as { set: { elem: unknown[] } }).set.elem.length, 30_000);
  }));
});
