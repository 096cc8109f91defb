// Bad input: the right typed error, with what was wrong and where, and no set changed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../../lib/ipset/index.js';
import {
  ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError,
} from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { assertUnchangedSave, splitSave } from '../helpers/ipset-save.js';

const skip = kernelSkipReason('ipset');

const BASE = 'create v4 hash:ip\nadd v4 10.0.0.1\ncreate v6 hash:ip family inet6\ncreate pt hash:ip,port\ncreate nt hash:net timeout 60\n';

/** Runs fn against namespaces holding BASE and checks that it changed nothing. */
function unchanged(fn: (h: ReturnType<typeof open>, ns: Netns) => Promise<void>) {
  return withNetns(1, async (ns) => {
    ns.run('ipset', ['restore'], BASE);
    const before = splitSave(ns.run('ipset', ['save']));
    const h = open({ netns: ns.path });
    try {
      await fn(h, ns);
    } finally {
      await h.close();
    }
    assertUnchangedSave(ns.run('ipset', ['save']), before, 'after the refused call');
  });
}

describe('ipset bad input', { skip }, () => {
  it('unknown set type', () => unchanged(async (h) => {
    await assert.rejects(h.create('x', 'hash:foo' as never), (e: unknown) => e instanceof InvalidArgumentError && /hash:foo/.test(e.message));
  }));

  it('a set name with a NUL is refused everywhere, never read as the name before it', () => unchanged(async (h) => {
    // C would stop at the NUL: 'v4\0x' would name v4.
    const bad = 'v4\0x';
    const nul = (e: unknown) => e instanceof InvalidArgumentError && /NUL/.test(e.message);
    await assert.rejects(h.flush(bad), nul);
    await assert.rejects(h.destroy(bad), nul);
    await assert.rejects(h.rename(bad, 'other'), nul);
    await assert.rejects(h.rename('v4', 'w\0'), nul);
    await assert.rejects(h.swap(bad, 'v6'), nul);
    await assert.rejects(h.add(bad, '10.0.0.5'), nul);
    await assert.rejects(h.del(bad, '10.0.0.1'), nul);
    await assert.rejects(h.test(bad, '10.0.0.1'), nul);
    await assert.rejects(h.list(bad), nul);
    await assert.rejects(h.save(bad), nul);
    await assert.rejects(h.replace(bad, []), nul);
    await assert.rejects(h.sync(bad, []), nul);
    await assert.rejects(h.create('v4\0y', 'hash:ip', {}, { exist: true }), nul);
    // in restore text: libipset would end the line at the NUL and flush v4
    await assert.rejects(h.restore('flush v4\0x\n'), (e: unknown) => nul(e) && (e as InvalidArgumentError).line === 1);
    await assert.rejects(h.restore('add v4 10.0.0.6\nadd v4 10.0.0.7\0 comment x\n'), (e: unknown) =>
      nul(e) && (e as InvalidArgumentError).line === 2 && (e as InvalidArgumentError).column === 16);
  }));

  it('name over 31 characters', () => unchanged(async (h) => {
    const long = 'n'.repeat(32);
    await assert.rejects(h.create(long, 'hash:ip'), (e: unknown) => e instanceof InvalidArgumentError && e.code === 'EINVAL');
    await assert.rejects(h.add(long, '10.0.0.1'), InvalidArgumentError);
  }));

  it('malformed and wrong-family addresses, at the entry that is wrong', () => unchanged(async (h) => {
    await assert.rejects(h.add('v4', ['10.0.0.7', '10.0.0.300']), (e: unknown) =>
      e instanceof InvalidArgumentError && /10\.0\.0\.300/.test(e.message) && /entry 1/.test(e.message));
    await assert.rejects(h.add('v4', '2001:db8::1'), InvalidArgumentError);
    await assert.rejects(h.add('v6', { ip: '10.0.0.1' }), InvalidArgumentError);
    await assert.rejects(h.add('v4', 'not-an-address.example'), InvalidArgumentError);
  }));

  it('port out of range', () => unchanged(async (h) => {
    await assert.rejects(h.add('pt', { ip: '10.0.0.1', port: 65536 }), (e: unknown) => e instanceof InvalidArgumentError && /65536/.test(e.message));
    await assert.rejects(h.add('pt', '10.0.0.1,tcp:70000'), InvalidArgumentError);
  }));

  it('timeout on a set made without timeout', () => unchanged(async (h) => {
    await assert.rejects(h.add('v4', { ip: '10.0.0.9', timeout: 5 }), (e: unknown) => e instanceof InvalidArgumentError && /timeout/i.test(e.message));
  }));

  it('a restore text with an error on line 5000 applies nothing and names the line', () => unchanged(async (h) => {
    const lines = ['create fresh hash:ip'];
    for (let i = 1; lines.length < 10_000; i++) lines.push(`add v4 10.1.${(i >> 8) & 255}.${i & 255}`);
    lines[4999] = 'add v4 10.1.300.1';
    await assert.rejects(h.restore(lines.join('\n') + '\n'), (e: unknown) =>
      e instanceof InvalidArgumentError && e.line === 5000 && e.code === 'EINVAL');
  }));

  it('kernel refusals: exists, not found, in use', () => unchanged(async (h) => {
    await assert.rejects(h.create('v4', 'hash:ip'), ExistsError);
    await assert.rejects(h.add('v4', '10.0.0.1'), ExistsError);
    await assert.rejects(h.del('v4', '10.0.0.99'), NotFoundError);
    await assert.rejects(h.add('missing', '10.0.0.1'), NotFoundError);
    await assert.rejects(h.destroy('missing'), NotFoundError);
    await assert.rejects(h.rename('missing', 'other'), NotFoundError);
    await assert.rejects(h.swap('v4', 'v6'), NlkitError);
  }));

  it('a batch the kernel refuses half-way is undone', () => unchanged(async (h) => {
    // 10.0.0.1 is already there: the first two entries went in before the kernel said no.
    const err = await h.add('v4', ['10.0.0.2', '10.0.0.3', '10.0.0.1', '10.0.0.4']).catch((e: unknown) => e);
    assert.ok(err instanceof ExistsError, String(err));
    assert.equal((err as ExistsError & { entry?: number }).entry, 2);
  }));

  it('a restore the kernel refuses destroys the sets it created', () => unchanged(async (h) => {
    await assert.rejects(h.restore('create made hash:ip\nadd made 10.0.0.1\nadd v4 10.0.0.1\n'), (e: unknown) =>
      e instanceof ExistsError && e.code === 'EEXIST' && e.op === 'ipset.restore' && e.line === 3);
  }));

  it('a test miss is false, not an error; the probe of a missing set is NotFoundError with op and errno', () => unchanged(async (h) => {
    assert.equal(await h.test('v4', '10.0.0.99'), false);
    assert.equal(await h.test('v4', '10.0.0.1'), true);
    await assert.rejects(h.flush('missing'), (e: unknown) => e instanceof NotFoundError && e.code === 'ENOENT' && e.op === 'ipset.flush' && e.errno === 2);
  }));

  it('destroying a set still referenced is InUseError after brief retries', () => unchanged(async (h, ns) => {
    ns.run('ipset', ['restore'], 'create l list:set\nadd l v4\n');
    const t0 = Date.now();
    await assert.rejects(h.destroy('v4'), (e: unknown) => e instanceof InUseError && e.code === 'EBUSY' && e.op === 'ipset.destroy');
    assert.ok(Date.now() - t0 >= 300, 'retried before giving up');
    ns.run('ipset', ['destroy', 'l']);
  }));

  it('errors carry the caller stack, op and subsystem', () => unchanged(async (h) => {
    const err = await h.add('v4', '10.0.0.1').catch((e: unknown) => e) as NlkitError;
    assert.equal(err.op, 'ipset.add');
    assert.equal(err.subsystem, 'ipset');
    assert.equal(err.errno, 17);
    assert.match(err.stack!, /ipset-errors\.test\.ts/);
  }));
});
