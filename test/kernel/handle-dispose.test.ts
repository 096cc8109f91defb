// Every handle closes through Symbol.asyncDispose (`await using`): its worker stops and later
// calls fail with HandleClosedError, in a namespace made for the test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { conntrack, ipset, iptables, ipvs, link, nft, HandleClosedError } from '../../lib/index.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';

/** Disposes each handle through Symbol.asyncDispose, checking it was open before and closed after. */
async function disposeAll(handles: Record<string, { closed: boolean; [Symbol.asyncDispose](): Promise<void> }>): Promise<void> {
  for (const [name, h] of Object.entries(handles)) {
    assert.equal(typeof h[Symbol.asyncDispose], 'function', name);
    assert.equal(h.closed, false, name);
    await h[Symbol.asyncDispose]();
    assert.equal(h.closed, true, name);
  }
}

describe('Symbol.asyncDispose on every handle', { skip: kernelSkipReason('ipset') }, () => {
  it('ipset, ipvs, iptables and link handles close when disposed', () => withNetns(1, async (ns) => {
    const handles = {
      ipset: ipset.open({ netns: ns.path }),
      ipvs: ipvs.open({ netns: ns.path }),
      iptables: iptables.open({ netns: ns.path, backend: 'legacy' }),
      link: link.open({ netns: ns.path }),
    };
    await handles.ipset.create('d', 'hash:ip');
    await disposeAll(handles);
    await assert.rejects(handles.ipset.list(), HandleClosedError);
    await assert.rejects(handles.link.list(), HandleClosedError);
    assert.match(ns.run('ipset', ['save']), /^create d hash:ip /m);
  }));

  it('nft, conntrack, iptables on nf_tables, and a link handle in another namespace close when disposed (also by `await using`)', { skip: kernelSkipReason('nft') }, () =>
    withNetns(2, async (ns, other) => {
      const handles = {
        nft: nft.open({ netns: ns.path }),
        conntrack: conntrack.open({ netns: ns.path }),
        iptablesNft: iptables.open({ netns: ns.path, backend: 'nft' }),
        linkOther: link.open({ netns: other.path }),
      };
      await handles.nft.apply([{ add: { table: { family: 'ip', name: 'd' } } }]);
      await handles.linkOther.addresses.add('lo', ['10.7.0.1/32']);
      await disposeAll(handles);
      await assert.rejects(handles.nft.list(), HandleClosedError);
      await assert.rejects(handles.conntrack.count(), HandleClosedError);
      await assert.rejects(handles.linkOther.list(), HandleClosedError);
      assert.match(ns.run('nft', ['list', 'ruleset']), /^table ip d /m);
      assert.match(other.run('ip', ['-j', 'addr', 'show', 'dev', 'lo']), /10\.7\.0\.1/);
      let kept: ReturnType<typeof nft.open>;
      {
        await using h = nft.open({ netns: ns.path });
        kept = h;
        assert.equal((await h.list()).length, 1);
      }
      assert.equal(kept.closed, true);
    }));
});
