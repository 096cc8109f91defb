// The API style of DESIGN.md (issue #12): deprecated names and options that stay for one
// release do what the new ones do. Kernel-side, each alias is run in its subsystem's kernel
// test; these are the checks that need no kernel.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/core/errors.js';
import { lockRequest } from '../../lib/iptables/handle.js';

describe('iptables lock options', () => {
  it('wait is milliseconds; the deprecated waitTimeout (milliseconds too) asks the worker for the same wait', () => {
    assert.equal(lockRequest('t', { wait: 300 }).wait, 0.3);
    assert.equal(lockRequest('t', { waitTimeout: 300 }).wait, lockRequest('t', { wait: 300 }).wait);
    assert.equal(lockRequest('t', { wait: 0 }).wait, 0);
    assert.equal(lockRequest('t', { waitTimeout: 0 }).wait, 0);
    assert.equal(lockRequest('t', { wait: 5_000 }).wait, 5);
    assert.equal(lockRequest('t', { waitTimeout: 5_000 }).wait, 5);
    assert.equal(lockRequest('t', {}).wait, -1, 'no option: as long as it takes');
    assert.equal(lockRequest('t', { wait: true }).wait, -1);
  });

  it('wait and waitTimeout are checked, and not taken together', () => {
    for (const bad of [-1, NaN, Infinity, '5', true]) {
      assert.throws(() => lockRequest('t', { waitTimeout: bad as never }), InvalidArgumentError, String(bad));
      if (bad !== true) assert.throws(() => lockRequest('t', { wait: bad as never }), InvalidArgumentError, String(bad));
    }
    assert.throws(() => lockRequest('t', { waitTimeout: 100, wait: 100 }), /not taken together/);
  });
});

describe('link: module-level add and update (DESIGN.md names) beside the deprecated setUp', () => {
  it('check their input before anything is sent, like the handle methods they stand for', async () => {
    const { link } = await import('../../lib/index.js');
    await assert.rejects(link.add({ name: 5 } as never), (e: unknown) => e instanceof InvalidArgumentError && e.op === 'link.add');
    await assert.rejects(link.update('x'.repeat(16), { up: true }), (e: unknown) => e instanceof InvalidArgumentError && e.op === 'link.update');
    await assert.rejects(link.setUp('x'.repeat(16), true), (e: unknown) => e instanceof InvalidArgumentError && e.op === 'link.setUp');
  });
});
