// What `netns` may be: a name from `ip netns add` or an absolute path. Anything else (a Buffer,
// a number, a relative path) is refused with InvalidArgumentError instead of running somewhere
// else, such as the caller's own namespace or a path resolved from the working directory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipset, iptables, ipvs, link, transaction, InvalidArgumentError } from '../../lib/index.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';

const skip = kernelSkipReason('ipset');

const opens = {
  ipset: (o: object) => ipset.open(o as never),
  iptables: (o: object) => iptables.open({ backend: 'legacy', ...o } as never),
  ipvs: (o: object) => ipvs.open(o as never),
  link: (o: object) => link.open(o as never),
};

describe('netns argument', { skip }, () => {
  it('a Buffer, number, object, symbol, function, null or empty string is refused by every open()', () => withNetns(1, async (ns) => {
    for (const bad of [Buffer.from(ns.path), Buffer.from(ns.name), 42, { path: ns.path }, Symbol('x'), () => ns.path, null, '', '.', '..', `${ns.name}\0x`]) {
      for (const [name, open] of Object.entries(opens)) {
        assert.throws(() => open({ netns: bad }), (e: unknown) => {
          assert.ok(e instanceof InvalidArgumentError, `${name}.open({ netns: ${String(bad)} }): ${String(e)}`);
          assert.equal(e.argument, 'netns');
          return true;
        });
      }
      await assert.rejects(transaction((tx) => { tx.ipset.create('x', 'hash:ip'); }, { netns: bad as never }), InvalidArgumentError);
    }
    // nothing was created anywhere (the caller's namespace is not looked at: no handle ran)
    assert.equal(ns.run('ipset', ['list', '-n']), '');
  }));

  it('a relative path is refused, not resolved from the working directory', () => withNetns(1, async (ns) => {
    const cwd = process.cwd();
    process.chdir('/');
    try {
      for (const rel of [ns.path.slice(1), `./${ns.path.slice(1)}`, `run/../${ns.path.slice(1)}`]) {
        for (const open of Object.values(opens)) {
          assert.throws(() => open({ netns: rel }), (e: unknown) => e instanceof InvalidArgumentError && /relative path/.test(e.message), rel);
        }
      }
    } finally {
      process.chdir(cwd);
    }
  }));

  it('a name and an absolute path are what is documented, and both reach that namespace', () => withNetns(1, async (ns) => {
    for (const ref of [ns.name, ns.path]) {
      const h = ipset.open({ netns: ref });
      try {
        await h.create('probe', 'hash:ip');
        assert.match(ns.run('ipset', ['list', '-n']), /^probe$/m);
        await h.destroy('probe');
      } finally {
        await h.close();
      }
    }
  }));

  it('open() with options that are not an object is refused', () => {
    for (const bad of [null, 42, 'x', Buffer.from('x'), [], Symbol('x')]) {
      for (const open of [ipset.open, iptables.open, ipvs.open, link.open]) assert.throws(() => open(bad as never), InvalidArgumentError);
    }
  });
});
