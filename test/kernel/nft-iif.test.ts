// meta iif / oif (interface indexes) against nft 1.0.6 in throwaway namespaces: nft resolves the
// names to the namespace's indexes when it reads a rule and prints the names back, so nlkit
// reads the namespace's links for both. Veth pairs are made with different index orders in
// each namespace: the index, not the name, is what the kernel keeps. Whole `nft list` and
// `nft -j list` outputs compared; an interface that does not exist is refused and applies nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, type NlkitError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');

const text = `table ip i {
	chain c {
		type filter hook prerouting priority raw; policy accept;
		iif "lo" accept
		iif "vb" counter packets 0 bytes 0 drop
		iif { "va", "lo" } accept
		meta iif . ip saddr { "va" . 10.0.0.1 } accept
	}

	chain o {
		type filter hook output priority filter; policy accept;
		oif "va" meta mark set 0x00000001
		oif vmap { "lo" : accept, "vb" : drop }
	}
}
`;
const json = [
  { add: { table: { family: 'ip', name: 'i' } } },
  { add: { chain: { family: 'ip', table: 'i', name: 'c', type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
  { add: { chain: { family: 'ip', table: 'i', name: 'o', type: 'filter', hook: 'output', prio: 0, policy: 'accept' } } },
  { add: { rule: { family: 'ip', table: 'i', chain: 'c', expr: [{ match: { op: '==', left: { meta: { key: 'iif' } }, right: 'lo' } }, { accept: null }] } } },
  { add: { rule: { family: 'ip', table: 'i', chain: 'c', expr: [{ match: { op: '==', left: { meta: { key: 'iif' } }, right: 'vb' } }, { counter: null }, { drop: null }] } } },
  { add: { rule: { family: 'ip', table: 'i', chain: 'c', expr: [{ match: { op: '==', left: { meta: { key: 'iif' } }, right: { set: ['va', 'lo'] } } }, { accept: null }] } } },
  { add: { rule: { family: 'ip', table: 'i', chain: 'c', expr: [{ match: { op: '==', left: { concat: [{ meta: { key: 'iif' } }, { payload: { protocol: 'ip', field: 'saddr' } }] }, right: { set: [{ concat: ['va', '10.0.0.1'] }] } } }, { accept: null }] } } },
  { add: { rule: { family: 'ip', table: 'i', chain: 'o', expr: [{ match: { op: '==', left: { meta: { key: 'oif' } }, right: 'va' } }, { mangle: { key: { meta: { key: 'mark' } }, value: 1 } }] } } },
  { add: { rule: { family: 'ip', table: 'i', chain: 'o', expr: [{ vmap: { key: { meta: { key: 'oif' } }, data: { set: [['lo', { accept: null }], ['vb', { drop: null }]] } } }] } } },
];

/** A veth pair; `pad` extra pairs first move the indexes va and vb get. */
const veths = (ns: Netns, pad: number) => {
  for (let i = 0; i < pad; i++) ns.run('ip', ['link', 'add', `p${i}a`, 'type', 'veth', 'peer', 'name', `p${i}b`]);
  ns.run('ip', ['link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
};

describe('nft meta iif / oif', { skip }, () => {
  it('restore() and apply() leave what nft -f leaves; save() and list() name the interfaces as nft does', () => withNetns(3, async (a, b, c) => {
    veths(a, 0); veths(b, 1); veths(c, 2);
    a.run('nft', ['-f', '-'], text);
    const listed = a.run('nft', ['list', 'ruleset']);
    assert.match(listed, /iif "vb" counter/);
    await withNft(b, (h) => h.restore(text));
    await withNft(c, (h) => h.apply(json));
    for (const ns of [b, c]) {
      assert.equal(ns.run('nft', ['list', 'ruleset']), listed);
      assert.deepEqual(nftJson(ns), nftJson(a));
    }
    for (const ns of [a, b, c]) {
      await withNft(ns, async (h) => {
        assert.equal(await h.save(), ns.run('nft', ['list', 'ruleset']));
        assert.deepEqual(await h.list(), nftJson(ns));
      });
    }
    // A deleted interface: nft and nlkit print its index.
    b.run('ip', ['link', 'del', 'va']);
    const gone = b.run('nft', ['list', 'ruleset']);
    assert.match(gone, /oif \d+ meta mark/);
    await withNft(b, async (h) => assert.equal(await h.save(), gone));
  }));

  it('an interface that does not exist is InvalidArgumentError naming it, and nothing is applied', () => withNetns(1, async (ns) => {
    await withNft(ns, async (h) => {
      const e = await h.restore('add table ip t\nadd chain ip t c\nadd rule ip t c iif "nope0" accept\n').then(() => undefined, (x: NlkitError) => x);
      assert.ok(e instanceof InvalidArgumentError, String(e));
      assert.match(e.message, /interface "nope0" does not exist/);
    });
    assert.notEqual(ns.try('nft', ['add', 'rule', 'ip', 't', 'c', 'iif', 'nope0']).status, 0);
    assert.equal(ns.run('nft', ['list', 'ruleset']), '');
  }));
});
