// h.sysctls against sysctl(8) run inside the namespace (`ip netns exec NS sysctl`): a handle
// reads and writes its own namespace's /proc/sys/net, not the caller's; errors are typed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { link } from '../../lib/index.js';
import { InvalidArgumentError, NotFoundError, PermissionError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';

const skip = kernelSkipReason('sysctl');

describe('link sysctls', { skip }, () => {
  it('reads and writes the namespace\'s own values, as sysctl in it sees them', () => withNetns(2, async (a, b) => {
    const host = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    const ha = link.open({ netns: a.path }), hb = link.open({ netns: b.path });
    try {
      await ha.sysctls.set('net.ipv4.ip_forward', 1);
      assert.equal(a.run('sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '1');
      assert.equal(b.run('sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '0');
      assert.equal(await ha.sysctls.get('net.ipv4.ip_forward'), '1');
      assert.equal(await hb.sysctls.get('net.ipv4.ip_forward'), '0');
      assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), host);

      // Written by sysctl in the namespace, read by nlkit; several values, and '/' keys with dots in names.
      b.run('sysctl', ['-w', 'net.ipv4.ip_local_port_range=20000 30000']);
      assert.equal(await hb.sysctls.get('net.ipv4.ip_local_port_range'), b.run('sysctl', ['-n', 'net.ipv4.ip_local_port_range']).replace(/\n$/, ''));
      await ha.sysctls.set('net.ipv4.ip_local_port_range', [40000, 50000]);
      assert.equal(a.run('sysctl', ['-n', 'net.ipv4.ip_local_port_range']).trim().split(/\s+/).join(' '), '40000 50000');
      a.run('ip', ['link', 'add', 'v0.10', 'type', 'veth', 'peer', 'name', 'v1']);
      await ha.sysctls.set('net/ipv4/conf/v0.10/arp_ignore', '2');
      assert.equal(a.run('sysctl', ['-n', 'net.ipv4.conf.v0/10.arp_ignore']).trim(), '2');
      assert.equal(await ha.sysctls.get('net/ipv4/conf/v0.10/arp_ignore'), '2');
      assert.equal(await hb.sysctls.get('net.ipv4.conf.all.arp_announce'), b.run('sysctl', ['-n', 'net.ipv4.conf.all.arp_announce']).trim());
    } finally {
      await ha.close();
      await hb.close();
    }
  }));

  it('types unknown keys, refused values, read-only keys and bad input, changing nothing', () => withNetns(1, async (a) => {
    const h = link.open({ netns: a.path });
    try {
      await assert.rejects(h.sysctls.get('net.ipv4.no_such_key'), NotFoundError);
      await assert.rejects(h.sysctls.set('net.ipv4.no_such_key', 1), NotFoundError);
      await assert.rejects(h.sysctls.get('net.ipv4.conf.nosuchdev.forwarding'), NotFoundError);
      const before = a.run('sysctl', ['-n', 'net.ipv4.ip_forward']);
      await assert.rejects(h.sysctls.set('net.ipv4.ip_forward', 'yes'), InvalidArgumentError);
      await assert.rejects(h.sysctls.set('net.ipv4.ip_local_port_range', [50000, 40000]), InvalidArgumentError);
      assert.notEqual(a.try('sysctl', ['-w', 'net.ipv4.ip_local_port_range=50000 40000']).status, 0);
      await assert.rejects(h.sysctls.set('net.ipv4.tcp_available_congestion_control', 'reno'), PermissionError);
      await assert.rejects(h.sysctls.get('net.ipv4'), InvalidArgumentError);
      for (const bad of ['', 'net..ipv4', 'net/../ipv4', 'a\nb', 7, null, undefined, {}, ['net']]) {
        await assert.rejects(h.sysctls.get(bad as string), InvalidArgumentError, String(bad));
        await assert.rejects(h.sysctls.set(bad as string, 1), InvalidArgumentError, String(bad));
      }
      for (const bad of [1.5, NaN, null, undefined, {}, [], [1, {}], 'a\0b', true]) {
        await assert.rejects(h.sysctls.set('net.ipv4.ip_forward', bad as number), InvalidArgumentError, String(bad));
      }
      assert.equal(a.run('sysctl', ['-n', 'net.ipv4.ip_forward']), before);
    } finally {
      await h.close();
    }
  }));
});
