// A namespace that disappears under an open handle: `ip netns del` removes the name while a
// handle's worker may already be inside. Every operation then either still works on the old
// namespace or fails with an NlkitError; a handle opened on a path that is gone, or that is no
// namespace, is refused with a typed error. Never a crash or an untyped rejection.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { ipset, iptables, ipvs, link } from '../../lib/index.js';
import { NlkitError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason, Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('ipset');

/** Every kind of handle on `netns`, with one read and one write each. */
function handles(netns: string) {
  const s = ipset.open({ netns });
  const t = iptables.open({ netns, backend: 'legacy' });
  const l = link.open({ netns });
  const v = ipvs.open({ netns });
  return {
    all: [s, t, l, v],
    ops: (tag: string): [string, () => Promise<unknown>][] => [
      ['ipset.create', () => s.create(`g-${tag}`, 'hash:ip')],
      ['ipset.add', () => s.add(`g-${tag}`, '10.0.0.1')],
      ['ipset.list', () => s.list()],
      ['iptables.restore', () => t.restore(`*filter\n:G-${tag} - [0:0]\nCOMMIT\n`, { noflush: true, wait: 5_000 })],
      ['iptables.save', () => t.save()],
      ['link.list', () => l.list()],
      ['link.setUp', () => l.setUp('lo', true)],
      ['ipvs.listServices', () => v.listServices()],
    ],
  };
}

/** Runs the operations; each must give a value or an NlkitError. Returns the outcome names. */
async function outcomes(ops: [string, () => Promise<unknown>][]): Promise<string[]> {
  const out: string[] = [];
  for (const [name, op] of ops) {
    try {
      await op();
      out.push(`${name}: ok`);
    } catch (e) {
      assert.ok(e instanceof NlkitError, `${name} rejected with ${String(e)}, not an NlkitError`);
      out.push(`${name}: ${e.constructor.name}`);
    }
  }
  return out;
}

describe('a namespace that disappears', { skip }, () => {
  it('handles whose worker is inside keep working on the old namespace after `ip netns del`', async (t) => {
    const ns = new Netns('gone');
    const h = handles(ns.path);
    try {
      const before = await outcomes(h.ops('a'));
      ns.remove();
      const after = await outcomes(h.ops('b'));
      t.diagnostic(`before: ${before.join(', ')}`);
      t.diagnostic(`after:  ${after.join(', ')}`);
      // What worked before works after: the worker's thread still holds the namespace.
      for (const [i, b] of before.entries()) if (b.endsWith(': ok')) assert.equal(after[i], b);
    } finally {
      for (const x of h.all) await x.close();
      ns.remove();
    }
  });

  it('a namespace deleted right after open(), before the first operation', async (t) => {
    for (let k = 0; k < 5; k++) {
      const ns = new Netns('gone');
      const h = handles(ns.path);
      ns.remove();
      try {
        t.diagnostic((await outcomes(h.ops(`c${k}`))).join(', '));
      } finally {
        // A worker that came too late to enter has nothing left to close: close() resolves.
        for (const x of h.all) await x.close();
      }
    }
  });

  it('open() on a namespace path that is gone (deleted, or of an exited process) throws NotFoundError', async () => {
    const ns = new Netns('gone');
    const path = ns.path;
    ns.remove();
    for (const open of [() => ipset.open({ netns: path }), () => iptables.open({ netns: path, backend: 'legacy' }),
      () => link.open({ netns: path }), () => ipvs.open({ netns: path }), () => ipset.open({ netns: ns.name })]) {
      assert.throws(open, NotFoundError);
    }
    // A namespace of a process that has exited.
    const pid = Number(execFileSync('sh', ['-c', 'echo $$']).toString());
    assert.throws(() => link.open({ netns: `/proc/${pid}/ns/net` }), NotFoundError);
  });

  const notNetns = (h: { list?: () => Promise<unknown>; save?: () => Promise<unknown>; listServices?: () => Promise<unknown> }) =>
    h instanceof iptables.IptablesHandle ? h.save() : h.listServices ? h.listServices() : h.list!();

  it('a path that exists but is no network namespace: operations reject with a netns NlkitError', async () => {
    const file = `/tmp/nlkit-not-a-netns-${process.pid}`;
    writeFileSync(file, '');
    try {
      for (const h of [ipset.open({ netns: file }), iptables.open({ netns: file, backend: 'legacy' }), link.open({ netns: file }), ipvs.open({ netns: file })]) {
        await assert.rejects(notNetns(h), (e: unknown) => (e instanceof NlkitError && e.subsystem === 'netns') || assert.fail(`rejected with ${String(e)}`));
        await h.close();
      }
    } finally {
      rmSync(file, { force: true });
    }
  });

  // Found by this test: close() of a handle whose worker could not enter its namespace used to
  // reject with the raw native failure object instead of settling.
  it('...and close() of such a handle resolves', async () => {
    const file = `/tmp/nlkit-not-a-netns-${process.pid}-c`;
    writeFileSync(file, '');
    try {
      for (const h of [ipset.open({ netns: file }), iptables.open({ netns: file, backend: 'legacy' }), link.open({ netns: file }), ipvs.open({ netns: file })]) {
        await notNetns(h).catch(() => undefined);
        await h.close().catch((e: unknown) => assert.fail(`close() rejected with ${e instanceof Error ? e.message : JSON.stringify(e)}`));
      }
    } finally {
      rmSync(file, { force: true });
    }
  });
});
