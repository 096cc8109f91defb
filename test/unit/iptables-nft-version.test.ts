// The iptables-nft version decides the encoding (lib/iptables/nft/version.ts): 1.8.8 and later
// write tcp/udp ports, the mark match and the NFLOG target as native expressions, 1.8.7 and
// older as nft_compat match/target blobs. Checked on rules constructed in the legacy layout
// and encoded both ways, read back with lib/nft's expression reader.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeRuleExprs } from '../../lib/iptables/nft/encode.js';
import type { Entry, XtBlob } from '../../lib/iptables/nft/entries.js';
import { encodingOf, parseIptablesVersion } from '../../lib/iptables/nft/version.js';
import { readExprs } from '../../lib/nft/expr-wire.js';
import { NftWriter } from '../../lib/nft/wire.js';

function entry(proto: number, matches: XtBlob[], action: Entry['action']): Entry {
  const z = () => Buffer.alloc(4);
  return { ip: { src: z(), dst: z(), smsk: z(), dmsk: z(), iniface: '', outiface: '', proto, flags: 0, invflags: 0 }, matches, action, packets: 0n, bytes: 0n };
}

/** xt_tcp { spts[2], dpts[2], option, flg_mask, flg_cmp, invflags } for --dport `port`. */
function tcpDport(port: number): XtBlob {
  const d = Buffer.alloc(16);
  d.writeUInt16LE(0, 0); d.writeUInt16LE(0xffff, 2); d.writeUInt16LE(port, 4); d.writeUInt16LE(port, 6);
  return { name: 'tcp', revision: 0, data: d };
}

/** xt_mark_mtinfo1 { mark, mask, invert } */
function mark(value: number, mask: number): XtBlob {
  const d = Buffer.alloc(16);
  d.writeUInt32LE(value, 0); d.writeUInt32LE(mask, 4);
  return { name: 'mark', revision: 1, data: d };
}

/** xt_nflog_info { len, group, threshold, flags, pad, prefix[64] } */
function nflog(group: number, prefix: string): XtBlob {
  const d = Buffer.alloc(80);
  d.writeUInt16LE(group, 4);
  d.write(prefix, 12, 'latin1');
  return { name: 'NFLOG', revision: 0, data: d };
}

const ops = (e: Entry, version: [number, number, number]) => {
  const w = new NftWriter(0);
  writeRuleExprs(w, 4, e, encodingOf(version));
  return readExprs(w.bytesWritten()).map((x) => (x.op === 'unknown' ? `${x.name}` : x.op));
};

describe('iptables-nft version and encoding', () => {
  it('reads the version iptables --version prints', () => {
    assert.deepEqual(parseIptablesVersion('iptables v1.8.7 (nf_tables)\n'), [1, 8, 7]);
    assert.deepEqual(parseIptablesVersion('iptables v1.8.9 (nf_tables)\n'), [1, 8, 9]);
    assert.deepEqual(parseIptablesVersion('iptables v1.8.10 (legacy)\n'), [1, 8, 10]);
    assert.equal(parseIptablesVersion('nothing'), undefined);
    assert.equal(encodingOf([1, 8, 7]).native, false);
    assert.equal(encodingOf([1, 6, 2]).native, false);
    assert.equal(encodingOf([1, 8, 8]).native, true);
    assert.equal(encodingOf([1, 8, 10]).native, true);
    assert.equal(encodingOf(undefined).native, true);
  });

  it('-p tcp -m tcp --dport 80: payload + cmp from 1.8.8, a compat tcp match on 1.8.7', () => {
    const e = entry(6, [tcpDport(80)], { kind: 'verdict', verdict: 'ACCEPT' });
    assert.deepEqual(ops(e, [1, 8, 9]), ['meta', 'cmp', 'payload', 'cmp', 'counter', 'immediate']);
    assert.deepEqual(ops(e, [1, 8, 8]), ['meta', 'cmp', 'payload', 'cmp', 'counter', 'immediate']);
    assert.deepEqual(ops(e, [1, 8, 7]), ['meta', 'cmp', 'match', 'counter', 'immediate']);
  });

  it('-m mark --mark 0x1/0xff: meta mark from 1.8.8, a compat mark match on 1.8.7', () => {
    const e = entry(0, [mark(1, 0xff)], { kind: 'verdict', verdict: 'DROP' });
    assert.deepEqual(ops(e, [1, 8, 9]), ['meta', 'bitwise', 'cmp', 'counter', 'immediate']);
    assert.deepEqual(ops(e, [1, 8, 7]), ['match', 'counter', 'immediate']);
  });

  it('-j NFLOG: a log expression from 1.8.8, a compat NFLOG target on 1.8.7', () => {
    const e = entry(0, [], { kind: 'target', target: nflog(5, 'p: ') });
    assert.deepEqual(ops(e, [1, 8, 9]), ['counter', 'log']);
    assert.deepEqual(ops(e, [1, 8, 7]), ['counter', 'target']);
  });
});
