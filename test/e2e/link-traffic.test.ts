// Real traffic across links nlkit built between throwaway namespaces: two namespaces on a bridge
// through veth pairs whose far ends nlkit created in them, a third on a plain veth pair, and a
// vxlan tunnel between the two across the bridge. Packets go with busybox ping; the counters
// nlkit reads move with them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { link } from '../../lib/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('busybox');

const ping = (from: Netns, to: string) => from.try('busybox', ['ping', '-c', '2', '-W', '2', to]);

describe('traffic across links nlkit made', { skip }, () => {
  it('veth pairs, a bridge and a vxlan tunnel carry packets between namespaces', () =>
    withNetns(4, async (hub, a, b, c) => {
      const h = link.open({ netns: hub.path });
      const ha = link.open({ netns: a.path });
      const hb = link.open({ netns: b.path });
      const hc = link.open({ netns: c.path });
      try {
        await h.add({ name: 'br0', kind: 'bridge', up: true });
        await h.addAddresses('br0', ['10.0.0.1/24']);
        await h.add({ name: 'va', kind: 'veth', master: 'br0', up: true, peer: { name: 'eth0', netns: a.name } });
        // Enslaved after creation this time, with h.update.
        await h.add({ name: 'vb', kind: 'veth', peer: { name: 'eth0', netns: b.path } });
        await h.update('vb', { master: 'br0', up: true });
        await h.add({ name: 'vc', kind: 'veth', up: true, peer: { name: 'eth0', netns: c.name } });
        await h.addAddresses('vc', ['10.9.0.1/30']);
        for (const [hx, addr] of [[ha, '10.0.0.2/24'], [hb, '10.0.0.3/24'], [hc, '10.9.0.2/30']] as const) {
          await hx.update('eth0', { up: true });
          await hx.addAddresses('eth0', [addr]);
        }
        // vxlan between a and b, over the bridge.
        await ha.add({ name: 'vx0', kind: 'vxlan', id: 42, local: '10.0.0.2', remote: '10.0.0.3', port: 4789, link: 'eth0', up: true });
        await hb.add({ name: 'vx0', kind: 'vxlan', id: 42, local: '10.0.0.3', remote: '10.0.0.2', port: 4789, link: 'eth0', up: true });
        await ha.addAddresses('vx0', ['192.168.42.1/24']);
        await hb.addAddresses('vx0', ['192.168.42.2/24']);

        const before = (await h.get('va')).stats!;
        for (const [from, to] of [[a, '10.0.0.3'], [a, '10.0.0.1'], [b, '10.0.0.2'], [c, '10.9.0.1'], [hub, '10.9.0.2'], [a, '192.168.42.2']] as const) {
          const r = ping(from, to);
          assert.equal(r.status, 0, `ping ${to}: ${r.stdout}${r.stderr}`);
          assert.match(r.stdout, /2 packets received/);
        }
        const after = (await h.get('va')).stats!;
        assert.ok(after.rx.packets >= before.rx.packets + 4 && after.tx.packets >= before.tx.packets + 4, JSON.stringify({ before, after }));
        // What is not connected does not answer: c is on its own veth pair, not on the bridge.
        assert.notEqual(ping(c, '10.0.0.2').status, 0);
        // Taking va out of the bridge cuts a off.
        await h.update('va', { master: null });
        assert.notEqual(ping(a, '10.0.0.3').status, 0);
      } finally {
        for (const x of [h, ha, hb, hc]) await x.close();
      }
    }));
});
