// netdev base chains on several devices (`devices = { lo, va, vb }`), against nft 1.0.6 in
// throwaway namespaces with veth pairs made in each (dummy links are not in this kernel): what
// nlkit's restore() (text) and apply() (JSON) leave is what `nft -f` leaves, as `nft list` and
// `nft -j list` print it, and save() of nft's ruleset is `nft list ruleset`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');

const text = `table netdev nd {
	chain one {
		type filter hook ingress devices = { lo } priority filter; policy accept;
		counter packets 0 bytes 0
	}

	chain many {
		type filter hook ingress devices = { vb, lo, va } priority -5; policy accept;
		counter packets 0 bytes 0
	}
}
`;
const json = [
  { add: { table: { family: 'netdev', name: 'nd' } } },
  { add: { chain: { family: 'netdev', table: 'nd', name: 'one', type: 'filter', hook: 'ingress', prio: 0, policy: 'accept', dev: ['lo'] } } },
  { add: { chain: { family: 'netdev', table: 'nd', name: 'many', type: 'filter', hook: 'ingress', prio: -5, policy: 'accept', dev: ['vb', 'lo', 'va'] } } },
  { add: { rule: { family: 'netdev', table: 'nd', chain: 'one', expr: [{ counter: null }] } } },
  { add: { rule: { family: 'netdev', table: 'nd', chain: 'many', expr: [{ counter: null }] } } },
];

const veths = (ns: Netns) => ns.run('ip', ['link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);

describe('nft netdev chains on several devices', { skip }, () => {
  it('devices = { ... }: restore() and apply() leave what nft -f leaves; save() is nft list ruleset', () => withNetns(3, async (a, b, c) => {
    for (const ns of [a, b, c]) veths(ns);
    a.run('nft', ['-f', '-'], text);
    const listed = a.run('nft', ['list', 'ruleset']);
    assert.match(listed, /devices = \{ lo, va, vb \}/);
    assert.match(listed, /device "lo"/);
    await withNft(b, (h) => h.restore(text));
    await withNft(c, (h) => h.apply(json));
    for (const ns of [b, c]) {
      assert.equal(ns.run('nft', ['list', 'ruleset']), listed);
      assert.deepEqual(nftJson(ns), nftJson(a));
    }
    await withNft(a, async (h) => {
      assert.equal(await h.save(), listed);
      assert.deepEqual(await h.list(), nftJson(a));
    });
  }));
});
