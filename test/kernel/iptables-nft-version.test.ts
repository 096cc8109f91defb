// A table written in iptables-nft 1.8.7's form (tcp/udp/mark as nft_compat matches, NFLOG as a
// compat target) is the same table to iptables-nft-save as the one iptables-nft-restore 1.8.9
// writes natively, and nf_tables holds the compat expressions (nft -j shows them as `xt`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IptablesHandle } from '../../lib/iptables/handle.js';
import { restoreWithNft } from '../../lib/iptables/nft/handle-restore.js';
import { encodingOf } from '../../lib/iptables/nft/version.js';
import type { RawWorker } from '../../lib/core/native.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('iptables-nft-restore') ?? kernelSkipReason('nft');
const save = (ns: Netns) => ns.run('iptables-nft-save', ['-c']).split('\n').filter((l) => !l.startsWith('# ')).join('\n');

class Lender extends IptablesHandle {
  lend<T>(fn: (w: RawWorker) => Promise<T>): Promise<T> {
    return this.run('test', () => this.native('test', fn));
  }
}

const TEXT = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -p udp -m udp --sport 53 -j ACCEPT
-A INPUT -m mark --mark 0x1/0xff -j DROP
-A INPUT -j NFLOG --nflog-prefix "p: " --nflog-group 5
COMMIT
`;

describe('iptables-nft 1.8.7 encoding', { skip }, () => {
  it('the compat form reads back as the same table; nf_tables holds xt matches and target', () => withNetns(2, async (a, b) => {
    a.run('iptables-nft-restore', [], TEXT);
    const h = new Lender({ netns: b.path, backend: 'nft' });
    try {
      await restoreWithNft({ op: 'iptables.restore', family: 4, cache: null, native: (fn) => h.lend(fn), encoding: encodingOf([1, 8, 7]) }, TEXT, {});
    } finally {
      await h.close();
    }
    assert.equal(save(b), save(a));
    const xt = (ns: Netns) => [...ns.run('nft', ['-j', 'list', 'ruleset']).matchAll(/"xt":\s*\{[^}]*"name":\s*"([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(xt(a), []);
    assert.deepEqual(xt(b), ['tcp', 'udp', 'mark', 'NFLOG']);
  }));
});
