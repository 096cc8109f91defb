// nft.applyStages against the real kernel, in throwaway namespaces: kube-proxy's ruleset loaded
// in stages (skeleton, services 10 a stage, the elements last) lists exactly as `nft -j -f` of
// the whole; a stale generation refuses the first stage; a refusal at stage k leaves stages
// 0..k-1 and names k; bad input in any stage applies nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConcurrentModificationError, InvalidArgumentError, NlkitError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { kubeProxyCommands, kubeProxyStages } from '../helpers/nft-kube.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');

function nftJsonLoad(ns: Netns, cmds: object[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'nlkit-stages-'));
  try {
    writeFileSync(join(dir, 'k.json'), JSON.stringify({ nftables: cmds }));
    ns.run('nft', ['-j', '-f', join(dir, 'k.json')]);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

describe('nft.applyStages against the kernel', { skip }, () => {
  for (const shape of ['vmap', 'cascade'] as const) {
    it(`kube-proxy's ${shape} shape, 35 services in 6 stages: nft -j list ruleset and nft list ruleset as nft -j -f of the whole`, () => withNetns(2, async (a, b) => {
      const stages = kubeProxyStages(35, 2, shape, 10);
      assert.equal(stages.length, 6);
      await withNft(a, async (h) => {
        const g0 = await h.generation();
        await h.applyStages(stages);
        assert.equal(await h.generation(), g0 + stages.length);
      });
      nftJsonLoad(b, kubeProxyCommands(35, 2, shape));
      assert.deepEqual(nftJson(a), nftJson(b));
      assert.equal(a.run('nft', ['list', 'ruleset']), b.run('nft', ['list', 'ruleset']));
    }));
  }

  it('a stale generation refuses the first stage: nothing applied', () => withNetns(1, async (ns) => {
    await withNft(ns, async (h) => {
      const g = await h.generation();
      ns.run('nft', ['add', 'table', 'ip', 'other']);
      const before = ns.run('nft', ['list', 'ruleset']);
      await assert.rejects(h.applyStages(kubeProxyStages(5, 2, 'vmap', 2), { generation: g }), (e: unknown) => e instanceof ConcurrentModificationError && (e as unknown as { applied: number }).applied === 0);
      assert.equal(ns.run('nft', ['list', 'ruleset']), before);
    });
  }));

  it('a refusal at stage 2 leaves stages 0 and 1 applied and says so; bad input in the last stage applies nothing', () => withNetns(1, async (ns) => {
    const stages = kubeProxyStages(4, 2, 'cascade', 2);
    await withNft(ns, async (h) => {
      const bad = [...stages.slice(0, 2), [{ add: { rule: { family: 'ip', table: 'kube-proxy', chain: 'services', expr: [{ jump: { target: 'no-such-chain' } }] } } }], ...stages.slice(2)];
      await assert.rejects(h.applyStages(bad), (e: unknown) => e instanceof NlkitError && (e as unknown as { applied: number }).applied === 2 && /^stage 2 of 5: .*stages 0-1 stay applied/.test(e.message));
      const partial = ns.run('nft', ['list', 'ruleset']);
      assert.match(partial, /chain service-XXXXXXX1/);
      assert.doesNotMatch(partial, /chain service-XXXXXXX2/);
      await h.apply([{ flush: { ruleset: null } }]);
      const last = [...stages.slice(0, -1), [{ add: { element: { family: 'ip', table: 'kube-proxy', name: 'cluster-ips', elem: ['not an address'] } } }]];
      await assert.rejects(h.applyStages(last), (e: unknown) => e instanceof InvalidArgumentError && /^stage 3: /.test(e.message));
      assert.equal(ns.run('nft', ['list', 'ruleset']), '');
      await assert.rejects(h.applyStages([]), InvalidArgumentError);
      await assert.rejects(h.applyStages('x'), InvalidArgumentError);
    });
  }));
});
