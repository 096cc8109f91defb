// lib/netlink/reader.ts and headers.ts on bytes captured from the real tools (strace's hex
// dumps of sendmsg/recvmsg in test/fixtures/netlink/): nft's nfnetlink batch and the kernel's
// error reply with its extended-ack offset, and ipset's refused ADT with the echoed request.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_IPSET, NFNL_SUBSYS_NFTABLES, NLA_F_NESTED, NLA_F_NET_BYTEORDER,
  NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_REQUEST, NFGENMSG_LEN, batchDelimiter, nfnlType,
} from '../../lib/netlink/headers.js';
import {
  attrIndex, AttrWalk, be32, forEachAttr, forEachMessage, parseError, readNlmsghdr, splitMessages, str, u8,
} from '../../lib/netlink/reader.js';

/** The buffers of an strace -e write=N -e read=N dump, in order. */
function straceBuffers(file: string): Buffer[] {
  const out: Buffer[] = [];
  let cur: number[] | undefined;
  for (const line of readFileSync(new URL(`../fixtures/netlink/${file}`, import.meta.url), 'utf8').split('\n')) {
    const m = /^ \| [0-9a-f]{5}  ((?:[0-9a-f]{2} {1,2})+)/.exec(line);
    if (m) {
      cur ??= [];
      for (const h of m[1]!.trim().split(/\s+/)) cur.push(parseInt(h, 16));
    } else if (cur) {
      out.push(Buffer.from(cur));
      cur = undefined;
    }
  }
  if (cur) out.push(Buffer.from(cur));
  return out;
}

const NFT_MSG_DELTABLE = 2, NFTA_TABLE_NAME = 1;
const NLMSGERR_OFFS_OF_NAME = NLMSG_HDRLEN + NFGENMSG_LEN;  // the table name is the first attribute

describe('netlink reader on nft\'s batch (nft delete table ip nosuch)', () => {
  const [sent, reply] = straceBuffers('nft-delete-missing-table.strace');

  it('splits the one sendmsg into BATCH_BEGIN, DELTABLE, BATCH_END', () => {
    const msgs = splitMessages(sent!);
    assert.deepEqual(msgs.map((m) => m.type), [NFNL_MSG_BATCH_BEGIN, nfnlType(NFNL_SUBSYS_NFTABLES, NFT_MSG_DELTABLE), NFNL_MSG_BATCH_END]);
    assert.deepEqual(msgs.map((m) => m.seq), [0, 1, 2]);
    assert.deepEqual(msgs.map((m) => m.offset), [0, 20, 52]);
    assert.equal(msgs[1]!.flags & NLM_F_REQUEST, NLM_F_REQUEST);
    // res_id of BEGIN/END names the subsystem, in network order.
    assert.equal(sent!.readUInt16BE(18), NFNL_SUBSYS_NFTABLES);
  });

  it('batchDelimiter writes BEGIN and END as nft does (sequence numbers are stamped natively)', () => {
    assert.deepEqual(Buffer.from(batchDelimiter(NFNL_MSG_BATCH_BEGIN, NFNL_SUBSYS_NFTABLES)), sent!.subarray(0, 20));
    const end = Buffer.from(sent!.subarray(52, 72));
    end.writeUInt32LE(0, 8);
    assert.deepEqual(Buffer.from(batchDelimiter(NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES)), end);
    const withGen = Buffer.from(batchDelimiter(NFNL_MSG_BATCH_BEGIN, NFNL_SUBSYS_NFTABLES, 0x118c));
    assert.equal(withGen.readUInt32LE(0), 28);
    assert.deepEqual([...withGen.subarray(20)], [8, 0, 1, 0, 0, 0, 0x11, 0x8c]);
  });

  it('reads the table name attribute', () => {
    const names: string[] = [];
    forEachAttr(sent!, 20 + NLMSG_HDRLEN + NFGENMSG_LEN, 52, (t, at, len) => { if (t === NFTA_TABLE_NAME) names.push(str(sent!, at, len)); });
    assert.deepEqual(names, ['nosuch']);
  });

  it('decodes the kernel\'s refusal: errno, the echoed request, the extended-ack offset', () => {
    assert.equal(readNlmsghdr(reply!, 0).type, NLMSG_ERROR);
    assert.equal(readNlmsghdr(reply!, 0).flags, NLM_F_ACK_TLVS);
    const e = parseError(reply!, 0)!;
    assert.equal(e.errno, 2);  // ENOENT
    assert.equal(e.request.type, nfnlType(NFNL_SUBSYS_NFTABLES, NFT_MSG_DELTABLE));
    assert.equal(e.request.seq, 1);
    assert.deepEqual(e.echo, { at: 20, len: 32 });
    assert.deepEqual(reply!.subarray(20, 52), sent!.subarray(20, 52));
    assert.equal(e.offset, NLMSGERR_OFFS_OF_NAME);
    assert.equal(e.message, undefined);
    assert.equal(parseError(sent!, 0), undefined);  // not an error reply
  });
});

describe('netlink reader on ipset\'s refused add (ipset restore, line 3 adds an existing entry)', () => {
  const bufs = straceBuffers('ipset-restore-exists.strace');
  const [create, createAck, adt, refusal] = bufs;
  const IPSET_ATTR_SETNAME = 2, IPSET_ATTR_LINENO = 9, IPSET_ATTR_ADT = 8, IPSET_ATTR_DATA = 7, IPSET_ATTR_IP = 1, IPSET_ATTR_IPADDR_IPV4 = 1;

  it('reads an acknowledgement (errno 0) of CREATE', () => {
    assert.equal(readNlmsghdr(create!, 0).type, nfnlType(NFNL_SUBSYS_IPSET, 2));
    const ack = parseError(createAck!, 0)!;
    assert.equal(ack.errno, 0);
    assert.equal(ack.request.type, nfnlType(NFNL_SUBSYS_IPSET, 2));
    assert.equal(ack.request.flags & NLM_F_ACK, NLM_F_ACK);
  });

  it('reads the refusal\'s echo: the kernel rewrote the line number to the failing entry\'s', () => {
    const e = parseError(refusal!, 0)!;
    assert.equal(e.errno, 4103);  // IPSET_ERR_EXIST
    assert.ok(e.echo);
    const at = new Int32Array(10), len = new Int32Array(10);
    const top = e.echo!.at + NLMSG_HDRLEN + NFGENMSG_LEN;
    attrIndex(refusal!, top, e.echo!.at + e.echo!.len, 9, at, len);
    assert.equal(str(refusal!, at[IPSET_ATTR_SETNAME]!, len[IPSET_ATTR_SETNAME]!), 's');
    assert.equal(be32(refusal!, at[IPSET_ATTR_LINENO]!), 3);
    // Before: the request said line 2 (the first entry's).
    attrIndex(adt!, NLMSG_HDRLEN + NFGENMSG_LEN, adt!.length, 9, at, len);
    assert.equal(be32(adt!, at[IPSET_ATTR_LINENO]!), 2);
  });

  it('walks the nests: ADT > DATA > IP > IPADDR_IPV4, with the NESTED and NET_BYTEORDER flags masked', () => {
    assert.equal(adt!.readUInt16LE(NLMSG_HDRLEN + NFGENMSG_LEN + 8 + 8 + 8 + 2), IPSET_ATTR_ADT | NLA_F_NESTED);
    const addrs: string[] = [], lines: number[] = [];
    const at = new Int32Array(10), len = new Int32Array(10);
    attrIndex(adt!, NLMSG_HDRLEN + NFGENMSG_LEN, adt!.length, 9, at, len);
    forEachAttr(adt!, at[IPSET_ATTR_ADT]!, at[IPSET_ATTR_ADT]! + len[IPSET_ATTR_ADT]!, (t, p, n) => {
      assert.equal(t, IPSET_ATTR_DATA);
      forEachAttr(adt!, p, p + n, (t2, p2, n2) => {
        if (t2 === IPSET_ATTR_LINENO) lines.push(be32(adt!, p2));
        if (t2 === IPSET_ATTR_IP) {
          forEachAttr(adt!, p2, p2 + n2, (t3, p3) => {
            assert.equal(t3, IPSET_ATTR_IPADDR_IPV4);
            assert.equal(adt!.readUInt16LE(p3 - 2) & NLA_F_NET_BYTEORDER, NLA_F_NET_BYTEORDER);
            addrs.push([0, 1, 2, 3].map((k) => u8(adt!, p3 + k)).join('.'));
          });
        }
      });
    });
    assert.deepEqual(addrs, ['10.0.0.1', '10.0.0.1']);
    assert.deepEqual(lines, [2, 3]);
  });

  it('AttrWalk visits the same attributes as forEachAttr, in order, one walk reused for every nest', () => {
    const at = new Int32Array(10), len = new Int32Array(10);
    attrIndex(adt!, NLMSG_HDRLEN + NFGENMSG_LEN, adt!.length, 9, at, len);
    const viaCallback: number[][] = [], viaWalk: number[][] = [];
    const visit = (out: number[][], from: number, to: number, depth: number): void =>
      forEachAttr(adt!, from, to, (t, p, n) => { out.push([depth, t, p, n]); if (depth < 2 && n >= 4) visit(out, p, p + n, depth + 1); });
    visit(viaCallback, at[IPSET_ATTR_ADT]!, at[IPSET_ATTR_ADT]! + len[IPSET_ATTR_ADT]!, 0);
    // Nests walked depth first with one walk per level, as a decoder keeps them.
    const walks = [new AttrWalk(), new AttrWalk(), new AttrWalk()];
    const walk = (from: number, to: number, depth: number): void => {
      for (const w = walks[depth]!.start(adt!, from, to); w.next();) {
        viaWalk.push([depth, w.type, w.at, w.len]);
        if (depth < 2 && w.len >= 4) walk(w.at, w.at + w.len, depth + 1);
      }
    };
    walk(at[IPSET_ATTR_ADT]!, at[IPSET_ATTR_ADT]! + len[IPSET_ATTR_ADT]!, 0);
    assert.ok(viaWalk.length > 6);
    assert.deepEqual(viaWalk, viaCallback);
    // The NESTED flag masked off the type (ADT's DATA nests carry it).
    assert.ok(viaWalk.some(([d, t]) => d === 0 && t === IPSET_ATTR_DATA));
  });

  it('AttrWalk stops at a malformed length and at the end, and starts over', () => {
    const b = Buffer.from([8, 0, 1, 0, 1, 2, 3, 4, 5, 0, 2, 0, 9, 0, 0, 0, 3, 0, 7, 0]);
    const w = new AttrWalk().start(b, 0, b.length);
    assert.equal(w.next(), true);
    assert.deepEqual([w.type, w.at, w.len], [1, 4, 4]);
    assert.equal(w.next(), true);
    assert.deepEqual([w.type, w.at, w.len], [2, 12, 1]);
    // Length 3: malformed, the walk ends there for good.
    assert.equal(w.next(), false);
    assert.equal(w.next(), false);
    assert.equal(w.start(b, 0, 8).next(), true);
    assert.equal(w.next(), false);
    assert.equal(new AttrWalk().start(b, 0, 3).next(), false);
  });

  it('forEachMessage stops at a truncated message', () => {
    const seen: number[] = [];
    forEachMessage(refusal!, 0, refusal!.length - 1, (type) => { seen.push(type); });
    assert.equal(seen.length, 0);
    forEachMessage(refusal!, 0, refusal!.length, (type) => { seen.push(type); });
    assert.deepEqual(seen, [NLMSG_ERROR]);
  });
});
