// A refused ipset add, del or restore leaves every existing set exactly as it was: members
// with their extensions (nomatch, comment, counters, skbinfo, the remaining timeout), no
// partial ranges. Oracle: the whole `ipset save`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, type IpsetHandle } from '../../lib/ipset/index.js';
import { NlkitError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { assertUnchangedSave, splitSave, type SplitSave } from '../helpers/ipset-save.js';

const skip = kernelSkipReason('ipset');

/** `ipset save` split into its text and the element timeouts that tick. */
const dump = (ns: Netns) => splitSave(ns.run('ipset', ['save']));

/** The same members with the same extensions; each timeout still running (not reset, not permanent). */
const assertSame = (ns: Netns, before: SplitSave) => assertUnchangedSave(ns.run('ipset', ['save']), before, 'after the refused change');

const SETS = [
  'create n hash:net family inet hashsize 1024 maxelem 65536 timeout 0 counters comment skbinfo',
  'add n 10.1.0.0/16 timeout 3000 packets 5 bytes 500 comment "kept" skbmark 0x1/0xff skbprio 1:2 skbqueue 3',
  'add n 10.1.2.0/24 timeout 0 packets 0 bytes 0 comment "hole" nomatch',
  'add n 10.2.0.0/16 timeout 0 packets 7 bytes 700',
  'create r hash:ip family inet hashsize 1024 maxelem 65536 counters comment',
  'add r 10.9.0.5 packets 1 bytes 2 comment "five"',
  'create small hash:ip family inet hashsize 64 maxelem 4',
  'add small 10.8.0.1',
].join('\n') + '\n';

/** A namespace holding SETS and `extra`, a handle on it, and its dump from before. */
function withSets(extra: string, fn: (h: IpsetHandle, ns: Netns, before: SplitSave) => Promise<void>): Promise<void> {
  return withNetns(1, async (ns) => {
    ns.run('ipset', ['restore'], SETS + extra);
    const before = dump(ns);
    const h = open({ netns: ns.path });
    try {
      await fn(h, ns, before);
    } finally {
      await h.close();
    }
  });
}

describe('ipset: a refused change leaves the sets exactly as they were', { skip }, () => {
  it('a refused del puts back what it had deleted, extensions and remaining timeout included', () =>
    withSets('', async (h, ns, before) => {
      await assert.rejects(h.del('n', ['10.1.0.0/16', '10.1.2.0/24', '10.2.0.0/16', '10.3.0.0/16']), NlkitError);
      assertSame(ns, before);
      // Members that are only their element (not read first: added back by element).
      await assert.rejects(h.del('small', ['10.8.0.1', '10.8.0.9']), NlkitError);
      assertSame(ns, before);
    }));

  it('a member whose comment has a line break (no restore text carries it) is put back after a refused del', () =>
    withSets('', async (h, ns) => {
      ns.run('sh', ['-c', `ipset add r 10.9.0.7 packets 2 bytes 3 comment "$(printf 'two\\nadd r 10.9.0.66')"`]);
      const before = dump(ns);
      assert.match(before.text, /"two\nadd r 10\.9\.0\.66"/);
      await assert.rejects(h.del('r', ['10.9.0.7', '10.9.0.5', '10.9.0.8']), NlkitError);
      assertSame(ns, before);
    }));

  it('a list:set member put back after a refused del takes its place again', () =>
    withSets('create a hash:ip\ncreate b hash:ip\ncreate c hash:ip\ncreate l list:set size 8\nadd l a\nadd l b\nadd l c\n', async (h, ns, before) => {
      await assert.rejects(h.del('l', ['a', 'b', 'small']), NlkitError);
      assertSame(ns, before);
    }));

  it('a refused range del puts back the part of the range it had deleted', () =>
    withSets('add r 10.9.0.1 comment "one"\nadd r 10.9.0.2 packets 3 bytes 4\n', async (h, ns, before) => {
      // 10.9.0.3 is not a member: the kernel stops inside the range.
      await assert.rejects(h.del('r', '10.9.0.1-10.9.0.5'), NlkitError);
      assertSame(ns, before);
    }));

  it('a refused range add takes out the part of the range it had added', () =>
    withSets('', async (h, ns, before) => {
      // 10.9.0.5 is a member already: refused after 10.9.0.1-4 went in.
      await assert.rejects(h.add('r', ['10.9.1.1', '10.9.0.0/29']), NlkitError);
      assertSame(ns, before);
      // -exist: the set fills up (maxelem 4) halfway through the range.
      await assert.rejects(h.add('small', ['10.8.0.1 ', '10.8.1.0/30'], { exist: true }), NlkitError);
      assertSame(ns, before);
    }));

  it('a refused add -exist puts back the extensions of the members it had updated', () =>
    withSets('', async (h, ns, before) => {
      await assert.rejects(h.add('small', ['10.8.0.1', '10.8.0.2', '10.8.0.3', '10.8.0.4', '10.8.0.5'], { exist: true }), NlkitError);
      assertSame(ns, before);
      await assert.rejects(h.add('n', ['10.1.0.0/16 timeout 5 comment "new"', '10.2.0.0/16 nomatch', '10.4.0.0/16 timeout 9 comment "x"', '0.0.0.0/0'], { exist: true }), NlkitError);
      assertSame(ns, before);
    }));

  it('a refused restore leaves the existing sets as they were', () =>
    withSets('', async (h, ns, before) => {
      // Checks pass; the kernel refuses the last add (the set is full).
      await assert.rejects(h.restore([
        'add r 10.9.0.6',
        'del n 10.1.0.0/16',
        'flush r',
        'add small 10.8.0.2',
        'add n 10.5.0.0/16 comment "new" nomatch',
        'add small 10.8.0.3',
        'add small 10.8.0.4',
        'add small 10.8.0.5',
      ].join('\n') + '\n'), NlkitError);
      assertSame(ns, before);
      // Swaps and renames before the refusal are undone as such.
      await assert.rejects(h.restore('swap r small\nrename r r9\nadd r9 10.8.0.2\nadd r9 10.8.0.3\nadd r9 10.8.0.4\nadd r9 10.8.0.5\n'), NlkitError);
      assertSame(ns, before);
      // A set the text made, renamed, swapped with an existing one: destroyed, the other back in place.
      await assert.rejects(h.restore('create x hash:ip maxelem 1\nrename x y\nswap y r\nadd r 10.7.0.1\nadd r 10.7.0.2\n'), NlkitError);
      assertSame(ns, before);
    }));
});
