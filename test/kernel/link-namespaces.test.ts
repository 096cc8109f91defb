// link.namespaces against `ip netns`: what nlkit makes, ip lists and enters; what ip makes,
// nlkit lists and deletes; bad names are typed errors that create nothing.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { link } from '../../lib/index.js';
import { ExistsError, InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason } from '../helpers/netns.js';

const skip = kernelSkipReason();
const tag = `nlkit-ns-${process.pid}`;
const made: string[] = [];
const name = (s: string) => { const n = `${tag}-${s}`; made.push(n); return n; };
const ipList = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);

describe('link.namespaces', { skip }, () => {
  after(() => {
    for (const n of made) if (existsSync(`/run/netns/${n}`)) spawnSync('ip', ['netns', 'del', n]);
  });

  it('makes a namespace that ip netns lists and enters, with its own loopback', async () => {
    const n = name('a');
    await link.namespaces.add(n);
    assert.ok(ipList().includes(n));
    execFileSync('ip', ['netns', 'exec', n, 'ip', 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    const links = JSON.parse(execFileSync('ip', ['-n', n, '-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[];
    assert.deepEqual(links.map((l) => l.ifname).sort(), ['lo', 'v0', 'v1']);
    // Not the host's namespace, and a handle opened by name sees the same links.
    assert.notEqual(statSync(`/run/netns/${n}`).ino, statSync('/proc/self/ns/net').ino);
    const h = link.open({ netns: n });
    try {
      assert.deepEqual((await h.list()).map((l) => l.name).sort(), ['lo', 'v0', 'v1']);
    } finally {
      await h.close();
    }
    assert.ok((await link.namespaces.list()).includes(n));
    await link.namespaces.delete(n);
    assert.ok(!ipList().includes(n));
    assert.ok(!existsSync(`/run/netns/${n}`));
  });

  it('lists and deletes a namespace made by ip netns add', async () => {
    const n = name('b');
    execFileSync('ip', ['netns', 'add', n]);
    const ours = await link.namespaces.list();
    assert.ok(ours.includes(n));
    // Other tests make namespaces concurrently: compare this test's own.
    const mine = (l: string[]) => l.filter((x) => x.startsWith(tag)).sort();
    assert.deepEqual(mine(ours), mine(readdirSync('/run/netns')));
    await link.namespaces.delete(n);
    assert.ok(!ipList().includes(n));
    await assert.rejects(link.namespaces.delete(n), NotFoundError);
  });

  it('refuses a taken name with ExistsError and keeps the namespace', async () => {
    const n = name('c');
    execFileSync('ip', ['netns', 'add', n]);
    execFileSync('ip', ['-n', n, 'link', 'add', 'keep0', 'type', 'veth', 'peer', 'name', 'keep1']);
    await assert.rejects(link.namespaces.add(n), ExistsError);
    assert.equal(spawnSync('ip', ['-n', n, 'link', 'show', 'keep0']).status, 0);
    await link.namespaces.delete(n);
  });

  it('types bad names and creates nothing', async () => {
    const before = readdirSync('/run/netns').filter((x) => x.startsWith(tag) || x.length >= 255 || x === 'a').sort();
    for (const bad of ['', '.', '..', 'a/b', 'x'.repeat(255), 'a\0b', 7, null, undefined, {}, ['x']]) {
      await assert.rejects(link.namespaces.add(bad as string), InvalidArgumentError, String(bad));
      await assert.rejects(link.namespaces.delete(bad as string), InvalidArgumentError, String(bad));
    }
    assert.deepEqual(readdirSync('/run/netns').filter((x) => x.startsWith(tag) || x.length >= 255 || x === 'a').sort(), before);
  });
});
