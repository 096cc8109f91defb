// libipset's text sessions report a failure as text only (its errcode table and strerror; no
// errno reaches the caller), so lib/ipset/errors.ts classifies those messages by pattern. The
// patterns are checked here against what the real `ipset` tool prints for the same refusals,
// and against nlkit's own restore of the same text (which reaches the kernel through libipset
// or through nlkit's sender, whose refusals are classified by errno): both must agree.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../../lib/ipset/index.js';
import { ipsetError } from '../../lib/ipset/errors.js';
import { ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';

const skip = kernelSkipReason('ipset');

const SETUP = 'create v4 hash:ip\nadd v4 10.0.0.1\ncreate full hash:ip maxelem 1\nadd full 10.0.0.1\ncreate l list:set\nadd l v4\n';

const CASES: { name: string; line: string; cls: typeof NlkitError; code: string }[] = [
  { name: 'a set that exists', line: 'create v4 hash:ip', cls: ExistsError, code: 'EEXIST' },
  { name: 'an element already added', line: 'add v4 10.0.0.1', cls: ExistsError, code: 'EEXIST' },
  { name: 'an element not in the set', line: 'del v4 10.0.0.9', cls: NotFoundError, code: 'ENOENT' },
  { name: 'a missing set', line: 'add nosuch 10.0.0.1', cls: NotFoundError, code: 'ENOENT' },
  { name: 'a set in use by a list:set', line: 'destroy v4', cls: InUseError, code: 'EBUSY' },
  { name: 'a bad address', line: 'add v4 10.0.0.300', cls: InvalidArgumentError, code: 'EINVAL' },
  { name: 'a timeout on a set without timeouts', line: 'add v4 10.0.0.2 timeout 5', cls: InvalidArgumentError, code: 'EINVAL' },
  { name: 'an unknown type', line: 'create t hash:foo', cls: InvalidArgumentError, code: 'EINVAL' },
  { name: 'a full set', line: 'add full 10.0.0.2', cls: NlkitError, code: 'ENOSPC' },
];

describe("libipset's error texts as the ipset tool prints them", { skip }, () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.line}`, () => withNetns(1, async (ns) => {
      ns.run('ipset', ['restore'], SETUP);
      const r = ns.try('ipset', ['restore'], `${c.line}\n`);
      assert.notEqual(r.status, 0, 'the ipset tool accepted it');
      // "ipset v7.19: Error in line 1: <libipset's words>"
      const text = r.stderr.trim().replace(/^ipset v[\d.]+: /, '');
      const fromTool = ipsetError('ipset.restore', { nativeFailure: true, errno: 0, message: text });
      assert.equal(fromTool.constructor, c.cls, `the tool's "${text}" is ${fromTool.constructor.name}`);
      assert.equal(fromTool.code, c.code, text);
      assert.equal(fromTool.line, 1, text);
      // nlkit's own restore of the same text: the same class and code, whichever path refused it
      const h = open({ netns: ns.path });
      try {
        await assert.rejects(h.restore(`${c.line}\n`), (e: unknown) => {
          assert.ok(e instanceof c.cls, `nlkit: ${String(e)} (tool: ${text})`);
          assert.equal((e as NlkitError).code, c.code, String(e));
          return true;
        });
      } finally {
        await h.close();
      }
    }));
  }
});
