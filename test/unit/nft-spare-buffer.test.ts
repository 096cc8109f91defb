// wire.ts SpareBuffer: one big batch buffer handed to one batch at a time; small ones (allocUnsafe's
// shared pool) and views into the middle of a buffer never kept. The encoder writes into a lent
// buffer the same bytes as into its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpareBuffer } from '../../lib/nft/wire.js';
import { encodeCommands } from '../../lib/nft/encode.js';
import { kubeProxyCommands } from '../helpers/nft-kube.js';

test('SpareBuffer: a sent batch\'s buffer once, to one taker; small buffers and inner views not kept', () => {
  const s = new SpareBuffer();
  assert.equal(s.take(), undefined);
  s.give(Buffer.allocUnsafe(100));
  assert.equal(s.take(), undefined);
  const big = Buffer.allocUnsafe(2 << 20);
  s.give(big.subarray(8));
  assert.equal(s.take(), undefined);
  s.give(big.subarray(0, 1000));
  const got = s.take();
  assert.ok(got && got.buffer === big.buffer && got.length === big.length);
  assert.equal(s.take(), undefined);
});

test('encodeCommands: a lent buffer gets the same bytes, a too small one is not used', () => {
  const cmds = kubeProxyCommands(200, 2, 'cascade');
  const own = encodeCommands(cmds);
  const lent = Buffer.alloc(own.buf.length + 4096 * 200, 0xaa);
  const a = encodeCommands(cmds, { buffer: lent });
  assert.ok(a.buf.buffer === lent.buffer, 'the lent buffer is written into');
  assert.ok(a.buf.equals(own.buf));
  // (Room for the batch is estimated from the command count: a buffer under that is not used.)
  const small = Buffer.alloc(1024);
  const b = encodeCommands(cmds, { buffer: small });
  assert.ok(b.buf.buffer !== small.buffer, 'a buffer without room is not used');
  assert.ok(b.buf.equals(own.buf));
});
