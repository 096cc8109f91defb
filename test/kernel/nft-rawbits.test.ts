// Raw payload expressions whose bits do not fill whole bytes (`@nh,9,3 1`, `@th,0,4 set 3`): nft
// loads the bytes that hold them, masks, and compares with the value shifted into place (a set
// writes the other bits back unchanged). In one namespace nft -f applies the text, in another
// nlkit's restore(); `nft list` and `nft -j list` must be equal, whole. nft lists the matches as
// masked byte loads (`@nh,8,8 & 0x70 == 0x10`), as nlkit does (fixtures/nft/cases/rawbits: byte
// for byte, decode, differential); the set statements (`@th,0,8 set @th,0,8 & 0x3f | 0x30`)
// nlkit does not decode: its list() refuses them by name instead of listing something else.
// Byte-aligned raw payloads are in fixtures/nft/cases/rawpayload.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, UnsupportedError, type NlkitError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');
const text = `table ip t {
	chain c {
		@nh,9,3 1
		@nh,0,4 != 4
		@th,3,5 3
		@th,100,20 0x1234
		@th,0,1 1 drop
		@th,0,4 set 3
		@nh,14,10 set 0x155
	}
}
table inet t {
	chain c {
		meta l4proto udp @th,100,20 0x1234 counter accept
	}
}
`;

describe('nft raw payloads not on byte boundaries, against nft -f', { skip }, () => {
  it('restore() leaves what nft -f leaves; list() refuses the sub-byte set statements by name', () => withNetns(2, async (a, b) => {
    a.run('nft', ['-f', '-'], text);
    await withNft(b, async (h) => {
      await h.restore(text);
      assert.equal(b.run('nft', ['list', 'ruleset']), a.run('nft', ['list', 'ruleset']));
      assert.deepEqual(nftJson(b), nftJson(a));
      const e = await h.list().then(() => undefined, (x: NlkitError) => x);
      assert.ok(e instanceof UnsupportedError, String(e));
      assert.match(e.message, /payload base 2 offset 0 length 1/);
    });
  }));

  it('bad raw payloads are InvalidArgumentError naming them; nothing applied', () => withNetns(1, async (ns) => {
    ns.run('nft', ['-f', '-'], 'table ip keep {\n chain c {\n  @th,96,24 0x100\n }\n}\n');
    const before = ns.run('nft', ['list', 'ruleset']);
    await withNft(ns, async (h) => {
      for (const [rule, msg] of [
        ['@th,0,0 1', /len must be a positive integer/],
        ['@th,524288,8 1', /offset 524288 lies past the 65536 bytes/],
        ['@th,0,136 1', /needs 17 bytes/],
        ['@th,96,24 0x1000000', /not a valid integer/],
        ['@nh,9,3 8', /fits 3 bits/],
        ['@th,0,4 set 16', /fits 4 bits/],
      ] as const) {
        const e = await h.restore(`add table ip x\nadd chain ip keep c\nadd rule ip keep c ${rule}\n`).then(() => undefined, (x: NlkitError) => x);
        assert.ok(e instanceof InvalidArgumentError, `${rule}: ${String(e)}`);
        assert.match(e.message, msg);
      }
      const e = await h.apply([{ add: { rule: { family: 'ip', table: 'keep', chain: 'c', expr: [{ match: { op: '==', left: { payload: { base: 'th', offset: 9, len: 3 } }, right: { set: [1, 2] } } }] } } }]).then(() => undefined, (x: NlkitError) => x);
      assert.ok(e instanceof UnsupportedError, String(e));
      assert.match(e.message, /not on byte boundaries/);
    });
    assert.equal(ns.run('nft', ['list', 'ruleset']), before);
  }));
});
