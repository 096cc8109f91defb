// add/delete element on interval maps and concatenated interval sets and maps that exist in the
// kernel, against the batches nft 1.0.6 sent for the same lines (test/fixtures/nft/updates,
// captured by its capture.sh after `nft -f setup.nft`): message for message, byte for byte, but
// for one attribute: nft names a set it read from the kernel by a set id as well
// (NFTA_SET_ELEM_LIST_SET_ID), a number of its own cache that the kernel does not use when the
// name is there; nlkit sends the name only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encodeCommands, type SetInfo } from '../../lib/nft/encode.js';
import { TYPES, type DataType } from '../../lib/nft/datatypes.js';
import { intervalOf } from '../../lib/nft/intervals.js';
import { parseScript } from '../../lib/nft/parse.js';

const dir = new URL('../fixtures/nft/updates/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');

/** The messages of a batch as hex lines; NEWSETELEM's NFTA_SET_ELEM_LIST_SET_ID (4) left out. */
function messages(hex: string[]): string[] {
  return hex.map((h) => {
    const m = Buffer.from(h, 'hex');
    if (m.readUInt16LE(4) !== ((10 << 8) | 12)) return h;
    const parts: Buffer[] = [m.subarray(0, 20)];
    for (let p = 20; p + 4 <= m.length;) {
      const len = m.readUInt16LE(p), next = p + ((len + 3) & ~3);
      if ((m.readUInt16LE(p + 2) & 0x3fff) !== 4) parts.push(m.subarray(p, next));
      p = next;
    }
    const out = Buffer.concat(parts);
    out.writeUInt32LE(out.length, 0);
    return out.toString('hex');
  });
}

const hexLines = (b: Buffer): string[] => {
  const out: string[] = [];
  for (let p = 0; p < b.length; p += (b.readUInt32LE(p) + 3) & ~3) out.push(b.subarray(p, p + b.readUInt32LE(p)).toString('hex'));
  return out;
};

/** setup.nft's sets as apply() reads them from the kernel (interval ranges for the single-key ones). */
const range = (v: unknown, t: DataType) => intervalOf(v, t, 'setup');
const kernel: Record<string, SetInfo> = {
  m: { keyTypes: [TYPES.ipv4_addr], map: true, interval: true, autoMerge: false, ranges: [range({ prefix: { addr: '10.0.0.0', len: 8 } }, TYPES.ipv4_addr), range({ prefix: { addr: '192.168.1.0', len: 24 } }, TYPES.ipv4_addr)] },
  d: { keyTypes: [TYPES.inet_service], map: true, data: [TYPES.mark], interval: true, autoMerge: false, ranges: [range({ range: [1000, 2000] }, TYPES.inet_service)] },
  cm: { keyTypes: [TYPES.ipv4_addr, TYPES.inet_service], map: true, interval: true },
  cs: { keyTypes: [TYPES.ipv4_addr, TYPES.inet_service], map: false, interval: true },
};

describe('nft element updates on interval maps and concatenated intervals: the batch nft 1.0.6 sends', () => {
  read('steps.nft').trim().split('\n').forEach((line, i) => {
    it(`${line}`, () => {
      const want = read(`${i + 1}.batch.hex`).trim().split('\n');
      const got = encodeCommands(parseScript(`${line}\n`).commands, { existingSet: (f, t, n) => (f === 'ip' && t === 't' ? kernel[n] && { ...kernel[n]!, ...(kernel[n]!.ranges ? { ranges: [...kernel[n]!.ranges!] } : {}) } : undefined) });
      assert.deepEqual(messages(hexLines(got.buf)), messages(want));
    });
  });
});
