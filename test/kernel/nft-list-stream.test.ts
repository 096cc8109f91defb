// list() decodes the element and rule dumps while the kernel still sends them (dumpStream): above
// 1,000 chains one rule dump per chain, each rule placed in its chain by the names it carries.
// What nft wrote (`nft -j -f`) must list exactly as `nft -j list ruleset` / `list table` prints
// it, whole, across several tables and chunks; and no object of a listing is shared.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { kubeProxyCommands } from '../helpers/nft-kube.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');

/** kube-proxy's ruleset in table `table` (nft -j -f: nft writes it, nlkit only reads). */
function load(ns: Netns, services: number, shape: 'vmap' | 'cascade', table: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'nlkit-nft-list-'));
  try {
    const cmds = kubeProxyCommands(services, 2, shape).map((c) => JSON.parse(JSON.stringify(c).replaceAll('"kube-proxy"', JSON.stringify(table))) as object);
    writeFileSync(join(dir, 'r.json'), JSON.stringify({ nftables: cmds }));
    ns.run('nft', ['-j', '-f', join(dir, 'r.json')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Objects reached more than once in a value (by identity). */
function shared(v: unknown, seen = new Set<object>()): number {
  if (v === null || typeof v !== 'object') return 0;
  if (seen.has(v)) return 1;
  seen.add(v);
  let n = 0;
  for (const x of Object.values(v)) n += shared(x, seen);
  return n;
}

describe('nft list() streamed', { skip }, () => {
  it('more than 1,000 chains in two tables (rules chain by chain, in chunks) list as nft -j list ruleset, nothing shared', () => withNetns(1, async (a) => {
    load(a, 400, 'cascade', 'kube-proxy');
    load(a, 20, 'vmap', 'kp2');
    const objects = await withNft(a, (h) => h.list());
    assert.ok(objects.filter((o) => 'chain' in o).length > 1000);
    assert.deepEqual(objects, nftJson(a));
    assert.equal(shared(objects), 0);
    const one = await withNft(a, (h) => h.list({ family: 'ip', table: 'kp2' }));
    assert.deepEqual(one, (JSON.parse(a.run('nft', ['-j', 'list', 'table', 'ip', 'kp2'])).nftables as object[]).filter((o) => !('metainfo' in o)));
  }));

  it('a few chains (one rule dump for the family) in three tables list as nft -j list ruleset', () => withNetns(1, async (a) => {
    load(a, 15, 'cascade', 'kube-proxy');
    load(a, 10, 'vmap', 'kp2');
    load(a, 5, 'cascade', 'kp3');
    const objects = await withNft(a, (h) => h.list());
    assert.deepEqual(objects, nftJson(a));
    assert.deepEqual(await withNft(a, (h) => h.list({ family: 'ip' })), nftJson(a));
  }));
});
