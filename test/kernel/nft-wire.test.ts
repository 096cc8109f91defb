// lib/nft's bytes against the real kernel, in throwaway namespaces: batches nlkit encodes are
// sent as they are (one sendmsg, by test/helpers/nfnl.py until nlkit's netlink core carries
// them) and must leave exactly the ruleset `nft -f` / `nft -j -f` of the same input leaves, as
// `nft list ruleset` and `nft -j list ruleset` print it; nlkit's decoding of the kernel's dumps
// must equal `nft -j list ruleset`; refusals map to the failing command, change nothing.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConcurrentModificationError, InvalidArgumentError, NotFoundError, type NlkitError } from '../../lib/errors.js';
import { splitMessages, type NlMsg } from '../../lib/nft/attrs.js';
import { decodeRuleset, sortDump } from '../../lib/nft/decode.js';
import { encodeCommands, type EncodeOptions } from '../../lib/nft/encode.js';
import { describeCommand, refusalError, type KernelRefusal } from '../../lib/nft/refusal.js';
import { decodeGeneration, elementRequests, generationRequest, rulesetRequests } from '../../lib/nft/requests.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { kubeProxyCommands } from '../helpers/nft-kube.js';

const skip = kernelSkipReason('nft') ?? (spawnSync('python3', ['-c', 'import socket; socket.AF_NETLINK']).status !== 0 ? 'python3 with AF_NETLINK is needed to send the batches' : undefined);
const helper = fileURLToPath(new URL('../helpers/nfnl.py', import.meta.url));
const fixtures = new URL('../fixtures/nft/', import.meta.url);

function nfnl(ns: Netns, mode: 'send' | 'dump', input: Buffer): string {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'python3', helper, mode], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`nfnl.py ${mode}: ${r.stderr}`);
  return r.stdout.toString();
}

/** Encodes and sends; returns the error apply() gives for a refusal, or undefined. */
function apply(ns: Netns, commands: unknown, opts: EncodeOptions = {}): NlkitError | undefined {
  const batch = encodeCommands(commands, { seq: 1000, ...opts });
  const lines = nfnl(ns, 'send', batch.buf).trim().split('\n').filter(Boolean);
  if (!lines.length) return undefined;
  const list = Array.isArray(commands) ? commands : (commands as { nftables: unknown[] }).nftables;
  return refusalError(batch, JSON.parse(lines[0]!) as KernelRefusal, (i) => describeCommand(list[i]));
}

function dump(ns: Netns, reqs: Buffer): NlMsg[] {
  return nfnl(ns, 'dump', reqs).trim().split('\n').filter(Boolean).map((l) => {
    if (l.startsWith('error ')) throw new Error(l);
    return splitMessages(Buffer.from(l, 'hex'))[0]!;
  });
}

/** What nft.list() returns: the first round of dumps, then every set's elements. */
function list(ns: Netns): unknown[] {
  const first = dump(ns, rulesetRequests());
  return decodeRuleset(sortDump([...first, ...dump(ns, elementRequests(first))]));
}

const nftList = (ns: Netns) => ns.run('nft', ['list', 'ruleset']);
const nftJson = (ns: Netns) => (JSON.parse(ns.run('nft', ['-j', 'list', 'ruleset'])).nftables as object[]).filter((o) => !('metainfo' in o));

describe('nft wire against the kernel', { skip }, () => {
  before(() => assert.ok(existsSync(helper)));

  for (const file of readdirSync(new URL('cases/', fixtures)).filter((f) => f.endsWith('.json'))) {
    const name = file.slice(0, -5);
    it(`${name}: nlkit's batch leaves what nft -f leaves (nft list and nft -j list, whole)`, () => withNetns(2, async (a, b) => {
      const text = new URL(`cases/${name}.nft`, fixtures);
      if (existsSync(text)) a.run('nft', ['-f', fileURLToPath(text)]);
      else a.run('nft', ['-j', '-f', fileURLToPath(new URL(file, new URL('cases/', fixtures)))]);
      assert.equal(apply(b, JSON.parse(readFileSync(new URL(`cases/${file}`, fixtures), 'utf8'))), undefined);
      assert.equal(nftList(b), nftList(a));
      assert.deepEqual(nftJson(b), nftJson(a));
      assert.deepEqual(list(a), nftJson(a));
    }));
  }

  it('a kube-proxy ruleset of 40 services: same as nft -j -f, and list() of it is nft -j list', () => withNetns(2, async (a, b) => {
    const cmds = { nftables: kubeProxyCommands(40, 3) };
    const file = join(mkdtempSync(join(tmpdir(), 'nlkit-nft-')), 'kube.json');
    writeFileSync(file, JSON.stringify(cmds));
    a.run('nft', ['-j', '-f', file]);
    rmSync(dirname(file), { recursive: true });
    assert.equal(apply(b, cmds), undefined);
    const text = nftList(b);
    assert.match(text, /numgen random mod 3 vmap \{ 0 : goto endpoint-/);
    assert.equal(text, nftList(a));
    const json = nftJson(a);
    assert.deepEqual(nftJson(b), json);
    assert.deepEqual(list(a), json);
    assert.deepEqual(list(b), json);
    // Round trip: what list() returned, applied to a third namespace, lists the same again.
    await withNetns(1, async (c) => {
      const again = list(b).map((o) => {
        const [[k, v]] = Object.entries(o as object) as [[string, Record<string, unknown>]];
        const { handle: _h, ...rest } = v;
        return { add: { [k]: rest } };
      });
      // Elements name chains that come later in nft's listing order: chains first, then the rest.
      const rank = (o: object) => ['table', 'chain', 'set', 'map', 'rule'].indexOf(Object.keys(Object.values(o)[0] as object)[0]!);
      assert.equal(apply(c, again.sort((x, y) => rank(x) - rank(y))), undefined);
      assert.equal(nftList(c), text);
    });
  }));

  it('a batch refused at its last command changes nothing; the error names the command and the kernel', () => withNetns(1, async (ns) => {
    ns.run('nft', ['-f', fileURLToPath(new URL('cases/basics.nft', fixtures))]);
    const before = nftList(ns);
    const cmds = [
      { add: { table: { family: 'ip', name: 'fresh' } } },
      { add: { chain: { family: 'ip', table: 'fresh', name: 'c' } } },
      { add: { rule: { family: 'ip', table: 'fresh', chain: 'c', expr: [{ accept: null }] } } },
      { add: { rule: { family: 'ip', table: 'fresh', chain: 'c', expr: [{ jump: { target: 'nowhere' } }] } } },
    ];
    const e = apply(ns, cmds);
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
    let e = apply(ns, [t, base, ch('a'), ch('b'), jump('in', 'a'), jump('a', 'b'), jump('b', 'a')]);
    // A loop is ELOOP or, found through the jump depth limit, EMLINK (kernel 6.x).
    assert.ok(e instanceof InvalidArgumentError && (e.code === 'ELOOP' || e.code === 'EMLINK'), String(e));
    assert.ok(e.index === 5 || e.index === 6, `index ${e.index}`);
    e = apply(ns, [t, ch('a'), { add: { rule: { family: 'ip', table: 't', chain: 'a', expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@nope' } }] } } }]);
    assert.ok(e instanceof NotFoundError && e.index === 2, String(e));
    assert.equal(nftList(ns), '');
    assert.equal(apply(ns, [t]), undefined);
    e = apply(ns, [{ create: { table: { family: 'ip', name: 't' } } }]);
    assert.equal(e?.code, 'EEXIST');
    assert.equal(e?.index, 0);
  }));

  it('a stale generation is refused after a concurrent nft add table; the current one is not', () => withNetns(1, async (ns) => {
    const gen = decodeGeneration(dump(ns, generationRequest()));
    ns.run('nft', ['add', 'table', 'ip', 'other']);
    const cmds = [{ add: { table: { family: 'ip', name: 'mine' } } }];
    const e = apply(ns, cmds, { generation: gen });
    assert.ok(e instanceof ConcurrentModificationError, String(e));
    assert.equal(nftList(ns), 'table ip other {\n}\n');
    const now = decodeGeneration(dump(ns, generationRequest()));
    assert.ok(now > gen);
    assert.equal(apply(ns, cmds, { generation: now }), undefined);
    assert.match(nftList(ns), /table ip mine/);
  }));
});
