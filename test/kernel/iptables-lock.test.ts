// The xtables lock: the same flock the iptables tools take, waited for on the worker thread.
// The tests use a private lock file ($XTABLES_LOCKFILE, which the tools honour too) so that
// they never contend with the host's own iptables or with other tests.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { iptables, transaction } from '../../lib/index.js';
import { LockTimeoutError } from '../../lib/core/errors.js';
import type { IptablesHandle } from '../../lib/iptables/handle.js';
import { kernelSkipReason, Netns, withHandle } from '../helpers/netns.js';

const skip = kernelSkipReason('iptables-legacy-restore') ?? kernelSkipReason('flock');
const LOCK = join(tmpdir(), `nlkit-xtables-${process.pid}.lock`);

/**
 * Holds the lock in another process until it is killed or `seconds` pass; with `marker`, creates
 * that file just before letting go, so a test can tell what happened before the release without
 * measuring time (durations mean little under qemu's emulation).
 */
async function holder(seconds: number, marker?: string): Promise<ChildProcess> {
  const then = marker ? `sleep ${seconds}; : > '${marker}'` : `exec sleep ${seconds}`;
  // -o: flock itself holds the lock (its pid is the holder) and kill() lets go at once; the sleep
  // it started outlives it, so it gets no pipe of ours that would keep the test process open.
  const p = spawn('flock', ['-x', '-o', LOCK, 'sh', '-c', `echo held; ${then}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  await once(p.stdout!, 'data');
  p.stdout!.destroy();
  return p;
}

const rules = (ns: Netns, chain: string) =>
  ns.run('iptables-legacy-save', ['-t', 'filter']).split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;

describe('the xtables lock', { skip }, () => {
  let ns: Netns;
  let saved: string | undefined;
  before(() => {
    saved = process.env.XTABLES_LOCKFILE;
    process.env.XTABLES_LOCKFILE = LOCK;
    ns = new Netns('lock');
    ns.run('iptables-legacy-restore', [], '*filter\n:TOOL - [0:0]\n:NLKIT - [0:0]\nCOMMIT\n');
  });
  after(() => {
    ns?.remove();
    rmSync(LOCK, { force: true });
    if (saved === undefined) delete process.env.XTABLES_LOCKFILE;
    else process.env.XTABLES_LOCKFILE = saved;
  });

  /**
   * Runs `body` while another process holds the lock (holder(seconds, marker)), with a legacy
   * handle on the namespace; kills the holder, removes the marker and closes the handle after.
   */
  async function whileHeld(seconds: number, body: (p: ChildProcess, h: IptablesHandle) => Promise<void>, marker?: string): Promise<void> {
    if (marker) rmSync(marker, { force: true });
    const p = await holder(seconds, marker);
    const h = iptables.open({ netns: ns.path, backend: 'legacy' });
    try {
      await body(p, h);
    } finally {
      if (marker) rmSync(marker, { force: true });
      p.kill();
      await h.close();
    }
  }

  it('wait: 0 fails at once with LockTimeoutError naming the path and the holder', () => whileHeld(60, async (p, h) => {
    await assert.rejects(h.restore('*filter\n-A NLKIT -j RETURN\nCOMMIT\n', { noflush: true, wait: 0 }), (e: unknown) => {
      assert.ok(e instanceof LockTimeoutError, String(e));
      assert.equal(e.lockPath, LOCK);
      assert.equal(e.holderPid, p.pid);
      assert.equal(e.code, 'ETIMEDOUT');
      return true;
    });
    // At once: the holder still holds the lock (it would for a minute), so nothing waited for it.
    assert.deepEqual([p.exitCode, p.signalCode], [null, null], 'wait: 0 waited for the holder to let go');
    assert.equal(rules(ns, 'NLKIT'), 0);
  }));

  it('waitTimeout (the deprecated alias of wait, milliseconds): 0 fails at once, in restore and in transaction()', () => whileHeld(60, async (p, h) => {
    await assert.rejects(h.restore('*filter\n-A NLKIT -j RETURN\nCOMMIT\n', { noflush: true, waitTimeout: 0 }), (e: unknown) => {
      assert.ok(e instanceof LockTimeoutError, String(e));
      assert.equal(e.holderPid, p.pid);
      return true;
    });
    await assert.rejects(transaction((t) => {
      t.iptables.restore('*filter\n-A NLKIT -j RETURN\nCOMMIT\n', { noflush: true });
    }, { netns: ns.path, iptables: { backend: 'legacy' }, waitTimeout: 0 }), LockTimeoutError);
    assert.deepEqual([p.exitCode, p.signalCode], [null, null], 'waitTimeout: 0 waited for the holder to let go');
    assert.equal(rules(ns, 'NLKIT'), 0);
  }));

  it('waitTimeout: 5000 succeeds once the holder lets go', async () => {
    const released = `${LOCK}.released`;
    try {
      await whileHeld(1, async (_p, h) => {
        await h.restore('*filter\n-A NLKIT -s 10.1.0.3/32 -j RETURN\nCOMMIT\n', { noflush: true, waitTimeout: 5_000, waitInterval: 20 });
        assert.ok(existsSync(released), 'the restore went ahead while the holder still held the lock');
        assert.equal(ns.run('iptables-legacy-save', ['-t', 'filter']).includes('-A NLKIT -s 10.1.0.3/32 -j RETURN'), true);
      }, released);
    } finally {
      ns.run('iptables-legacy', ['-F', 'NLKIT']);
    }
  });

  it('wait: 5_000 (milliseconds) succeeds once the holder lets go, without blocking the event loop', async () => {
    const released = `${LOCK}.released`;
    await whileHeld(1, async (_p, h) => {
      // Order, not durations: a timer of ours ran while the lock was still held (the wait does
      // not block the event loop), and the restore ended only after the holder's release.
      let ranWhileHeld = false;
      const timer = setInterval(() => { if (!existsSync(released)) ranWhileHeld = true; }, 20);
      try {
        await h.restore('*filter\n-A NLKIT -s 10.1.0.1/32 -j RETURN\nCOMMIT\n', { noflush: true, wait: 5_000, waitInterval: 20 });
        assert.ok(existsSync(released), 'the restore went ahead while the holder still held the lock');
        assert.ok(ranWhileHeld, 'no timer ran while the restore waited for the lock: the event loop was blocked');
        assert.equal(rules(ns, 'NLKIT'), 1);
      } finally {
        clearInterval(timer);
      }
    }, released);
  });

  it('a short wait runs out with LockTimeoutError', () => whileHeld(5, async (_p, h) => {
    const t0 = performance.now();
    await assert.rejects(h.restore('*filter\nCOMMIT\n', { wait: 300 }), LockTimeoutError);
    assert.ok(performance.now() - t0 >= 250);
  }));

  it('concurrent iptables-legacy -A calls during nlkit commits lose no rule', async () => {
    ns.run('iptables-legacy-restore', ['--noflush'], '*filter\n:TOOL - [0:0]\n:NLKIT - [0:0]\nCOMMIT\n');
    const h = iptables.open({ netns: ns.path, backend: 'legacy' });
    const TOOLS = 40, COMMITS = 25;
    try {
      const tools = Array.from({ length: TOOLS }, (_, i) => {
        const p = spawn('ip', ['netns', 'exec', ns.name, 'iptables-legacy', '-w', '30', '-A', 'TOOL', '-s', `10.2.0.${i}`, '-j', 'RETURN'], { stdio: 'ignore' });
        return once(p, 'exit').then(([code]) => assert.equal(code, 0, `tool ${i} failed`));
      });
      const mine = (async () => {
        for (let i = 0; i < COMMITS; i++) {
          await h.restore(`*filter\n-A NLKIT -s 10.3.0.${i} -j RETURN\nCOMMIT\n`, { noflush: true });
        }
      })();
      await Promise.all([...tools, mine]);
      assert.equal(rules(ns, 'TOOL'), TOOLS);
      assert.equal(rules(ns, 'NLKIT'), COMMITS);
    } finally {
      await h.close();
    }
  });

  it('withLock holds the lock for other tools; restores inside do not wait for it', async () => {
    await withHandle(iptables.open({ netns: ns.path, backend: 'legacy' }), async (h) => {
      await h.withLock(async () => {
        const r = ns.try('iptables-legacy', ['-w', '1', '-S']);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /holding the xtables lock/);
        await h.restore('*filter\n-A NLKIT -s 10.4.0.1/32 -j RETURN\nCOMMIT\n', { noflush: true, wait: 0 });
      });
      assert.equal(ns.try('iptables-legacy', ['-w', '1', '-S']).status, 0);
    });
  });

  it('two writers without the lock: a commit that finds the table changed starts again and loses nothing', async () => {
    ns.run('iptables-legacy-restore', ['--noflush'], '*filter\n:RACE - [0:0]\nCOMMIT\n');
    const a = iptables.open({ netns: ns.path, backend: 'legacy' });
    const b = iptables.open({ netns: ns.path, backend: 'legacy' });
    let attempts = 0;
    try {
      // inside withLock nlkit's own restores skip the lock: the two handles race for real
      await a.withLock(async () => {
        const run = (hd: typeof a, tag: number) => (async () => {
          for (let i = 0; i < 30; i++) {
            const r = await hd.restore(`*filter\n-A RACE -s 10.${5 + tag}.0.${i} -j RETURN\nCOMMIT\n`, { noflush: true });
            attempts += r.stats.attempts;
          }
        })();
        await Promise.all([run(a, 0), run(b, 1)]);
      });
      assert.equal(rules(ns, 'RACE'), 60);
      assert.ok(attempts >= 60);
      if (process.env.NLKIT_DEBUG) console.log(`race: ${attempts} commit attempts for 60 restores`);
    } finally {
      await a.close();
      await b.close();
    }
  });
  it('the lock belongs to the async context that took it: a restore elsewhere in the process waits or fails as the tool would', async () => {
    ns.run('iptables-legacy', ['-N', 'OWNED']);
    const h = iptables.open({ netns: ns.path, backend: 'legacy' });
    const other = iptables.open({ netns: ns.path, backend: 'legacy' });
    let letGo!: () => void;
    const gate = new Promise<void>((r) => (letGo = r));
    let taken!: () => void;
    const holding = new Promise<void>((r) => (taken = r));
    try {
      const held = h.withLock(async () => {
        taken();
        await gate;
      });
      await holding;
      // Not inside that withLock(): it must not use the lock that one holds.
      await assert.rejects(other.restore('*filter\n-A OWNED -s 10.6.0.1/32 -j RETURN\nCOMMIT\n', { noflush: true, wait: 0 }), (e: unknown) => {
        assert.ok(e instanceof LockTimeoutError, String(e));
        assert.equal(e.holderPid, process.pid);
        assert.match(e.message, /held by this process/);
        return true;
      });
      assert.equal(rules(ns, 'OWNED'), 0);
      letGo();
      await held;
      await other.restore('*filter\n-A OWNED -s 10.6.0.1/32 -j RETURN\nCOMMIT\n', { noflush: true, wait: 0 });
      assert.equal(rules(ns, 'OWNED'), 1);
    } finally {
      letGo();
      await h.close();
      await other.close();
      ns.run('iptables-legacy', ['-F', 'OWNED']);
    }
  });

  it('is re-entrant for its holder: transaction() and withLock() inside withLock() run under the lock it holds', async () => {
    ns.run('iptables-legacy', ['-N', 'NESTED']);
    const h = iptables.open({ netns: ns.path, backend: 'legacy' });
    const inner = iptables.open({ netns: ns.path, backend: 'legacy' });
    const lockedForTools = () => spawnSync('flock', ['-n', LOCK, 'true']).status !== 0;
    try {
      const r = await h.withLock(async () => {
        // wait: 2_000, so that a lock that is not re-entrant fails instead of hanging.
        const tx = await transaction((t) => {
          t.iptables.restore('*filter\n-A NESTED -s 10.7.0.1/32 -j RETURN\nCOMMIT\n', { noflush: true });
        }, { netns: ns.path, iptables: { backend: 'legacy' }, wait: 2_000 });
        const nested = await inner.withLock(async () => {
          await inner.restore('*filter\n-A NESTED -s 10.7.0.2/32 -j RETURN\nCOMMIT\n', { noflush: true, wait: 0 });
          return lockedForTools();
        }, { wait: 2_000 });
        return { applied: tx.applied, nested, after: lockedForTools() };
      }, { wait: 5_000 });
      // Both ran, and the outer withLock() still held the lock for other processes throughout.
      assert.deepEqual(r, { applied: 1, nested: true, after: true });
      assert.equal(rules(ns, 'NESTED'), 2);
      assert.equal(lockedForTools(), false);
    } finally {
      await h.close();
      await inner.close();
      ns.run('iptables-legacy', ['-F', 'NESTED']);
    }
  });
});
