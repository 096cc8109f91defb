import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { open } from '../../lib/ipset/index.js';
import { HandleClosedError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';

const skip = kernelSkipReason('ipset');
const members = (save: string, set: string) =>
  save.split('\n').filter((l) => l.startsWith(`add ${set} `)).map((l) => l.slice(`add ${set} `.length)).sort();

describe('ipset operations', { skip }, () => {
  it('test, del, flush, rename, swap, destroy as the tool sees them', () =>
    withNetns(1, async (ns) => {
      const h = open({ netns: ns.path });
      try {
        await h.create('a', 'hash:ip');
        await h.create('b', 'hash:ip');
        await h.add('a', ['10.0.0.1', '10.0.0.2', { ip: '10.0.0.3' }]);
        assert.equal(await h.test('a', '10.0.0.2'), true);
        assert.equal(await h.test('a', { ip: '10.0.0.9' }), false);
        await h.del('a', '10.0.0.2');
        await h.del('a', '10.0.0.2', { exist: true });
        await h.add('a', '10.0.0.1', { exist: true });
        assert.deepEqual(members(ns.run('ipset', ['save']), 'a'), ['10.0.0.1', '10.0.0.3']);
        await h.swap('a', 'b');
        assert.deepEqual(members(ns.run('ipset', ['save']), 'b'), ['10.0.0.1', '10.0.0.3']);
        await h.rename('b', 'c');
        assert.deepEqual(await h.names(), ['a', 'c']);
        await h.flush('c');
        assert.equal((await h.list('c')).numEntries, 0);
        await h.destroy('c');
        assert.deepEqual(ns.run('ipset', ['list', '-n']).trim().split('\n'), ['a']);
        await h.destroy();
        assert.equal(ns.run('ipset', ['list', '-n']), '');
      } finally {
        await h.close();
      }
    }));

  it('replace swaps in the new members atomically and leaves no temporary set', () =>
    withNetns(1, async (ns) => {
      ns.run('ipset', ['restore'], 'create svc hash:ip,port timeout 300 comment\nadd svc 10.0.0.1,tcp:80\n');
      const h = open({ netns: ns.path });
      try {
        await h.replace('svc', [{ ip: '10.0.0.2', port: 80 }, { ip: '10.0.0.3', port: 443, comment: 'tls' }]);
        const save = ns.run('ipset', ['save']);
        assert.deepEqual(members(save, 'svc').map((m) => m.replace(/ timeout \d+/, '')), ['10.0.0.2,tcp:80', '10.0.0.3,tcp:443 comment "tls"']);
        assert.deepEqual(ns.run('ipset', ['list', '-n']).trim().split('\n'), ['svc']);
        assert.match(save, /^create svc hash:ip,port family inet hashsize \d+ maxelem \d+ timeout 300 /m);
        await assert.rejects(h.replace('svc', ['10.0.0.5,tcp:1', '10.0.0.999,tcp:2']));
        assert.deepEqual(ns.run('ipset', ['list', '-n']).trim().split('\n'), ['svc']);
        await assert.rejects(h.replace('nosuch', []), NotFoundError);
      } finally {
        await h.close();
      }
    }));

  it('two namespaces in parallel do not see each other', () =>
    withNetns(2, async (a, b) => {
      const ha = open({ netns: a.path });
      const hb = open({ netns: b.name });
      try {
        const entries = (k: number) => Array.from({ length: 20_000 }, (_, i) => `10.${k}.${i >> 8}.${i & 255}`);
        await Promise.all([
          ha.create('only-a', 'hash:ip', { maxelem: 100_000 }).then(() => ha.add('only-a', entries(1))),
          hb.create('only-b', 'hash:ip', { maxelem: 100_000 }).then(() => hb.add('only-b', entries(2))),
        ]);
        assert.deepEqual(await ha.names(), ['only-a']);
        assert.deepEqual(await hb.names(), ['only-b']);
        assert.equal(a.run('ipset', ['list', '-n']).trim(), 'only-a');
        assert.equal((await hb.list('only-b', { members: false })).numEntries, 20_000);
      } finally {
        await Promise.all([ha.close(), hb.close()]);
      }
    }));

  it('calls on one handle run in call order; close waits for work in flight', () =>
    withNetns(1, async (ns) => {
      const h = open({ netns: ns.path });
      const order: string[] = [];
      const p1 = h.create('o', 'hash:ip').then(() => order.push('create'));
      const p2 = h.add('o', '10.0.0.1').then(() => order.push('add'));
      const p3 = h.del('o', '10.0.0.1').then(() => order.push('del'));
      const closing = h.close();
      await Promise.all([p1, p2, p3, closing]);
      assert.deepEqual(order, ['create', 'add', 'del']);
      await assert.rejects(h.names(), HandleClosedError);
      assert.equal(ns.run('ipset', ['list', '-n']).trim(), 'o');
    }));

  it('a namespace that does not exist is NotFoundError at open()', () => {
    assert.throws(() => open({ netns: 'nlkit-no-such-namespace' }), NotFoundError);
  });

  it('an idle handle that was never closed does not keep the process alive', () =>
    withNetns(1, async (ns) => {
      const lib = new URL('../../lib/ipset/index.ts', import.meta.url).pathname;
      const code = `import { open } from ${JSON.stringify(lib)};
        const h = open({ netns: ${JSON.stringify(ns.path)} });
        await h.create('idle', 'hash:ip');
        console.log('created');`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.signal, null, 'the process had to be killed: the handle kept it alive');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'created');
      assert.equal(ns.run('ipset', ['list', '-n']).trim(), 'idle');
    }));

  it('worker_threads can use nlkit', () =>
    withNetns(1, async (ns) => {
      const code = `
        const { workerData, parentPort } = require('node:worker_threads');
        require('tsx/cjs');
        const { open } = require(workerData.lib);
        (async () => {
          const h = open({ netns: workerData.ns });
          await h.create('from-worker', 'hash:net');
          await h.add('from-worker', ['10.0.0.0/8', '192.168.0.0/16']);
          const names = await h.names();
          await h.close();
          parentPort.postMessage(names);
        })().catch((e) => parentPort.postMessage(String(e)));`;
      const w = new Worker(code, { eval: true, workerData: { ns: ns.path, lib: new URL('../../lib/ipset/index.ts', import.meta.url).pathname } });
      const msg = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
      await w.terminate();
      assert.deepEqual(msg, ['from-worker']);
      assert.match(ns.run('ipset', ['save']), /add from-worker 192\.168\.0\.0\/16/);
    }));
});
