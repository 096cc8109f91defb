// Every handle closes through Symbol.asyncDispose (`await using`): its worker stops and later
// calls fail with HandleClosedError, in a namespace made for the test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipset, iptables, ipvs, link, HandleClosedError } from '../../lib/index.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';

describe('Symbol.asyncDispose on every handle', { skip: kernelSkipReason('ipset') }, () => {
  it('ipset, ipvs, iptables and link handles close when disposed', () => withNetns(1, async (ns) => {
    const handles = {
      ipset: ipset.open({ netns: ns.path }),
      ipvs: ipvs.open({ netns: ns.path }),
      iptables: iptables.open({ netns: ns.path, backend: 'legacy' }),
      link: link.open({ netns: ns.path }),
    };
    await handles.ipset.create('d', 'hash:ip');
    for (const [name, h] of Object.entries(handles)) {
      assert.equal(typeof h[Symbol.asyncDispose], 'function', name);
      assert.equal(h.closed, false, name);
      await h[Symbol.asyncDispose]();
      assert.equal(h.closed, true, name);
    }
    await assert.rejects(handles.ipset.list(), HandleClosedError);
    await assert.rejects(handles.link.list(), HandleClosedError);
    assert.match(ns.run('ipset', ['save']), /^create d hash:ip /m);
  }));
});
