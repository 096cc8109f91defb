// native/netlink through lib/netlink/transport.ts on the real kernel, in throwaway namespaces:
// an nf_tables transaction is one BEGIN..END batch in one sendmsg() — all or nothing, its
// refusals mapped to the message that caused them with the kernel's extended ack, a stale
// generation refused as a whole; a batch larger than the default socket buffers; and a dump
// of a large chain count, checked against `nft list`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConcurrentModificationError, NotFoundError } from '../../lib/core/errors.js';
import { binding, type RawWorker } from '../../lib/core/native.js';
import { AttrWriter } from '../../lib/netlink/attr-writer.js';
import {
  NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_HDRLEN, NFGENMSG_LEN,
  nfnlType, writeNfgenmsg, writeNlmsghdr,
} from '../../lib/netlink/headers.js';
import { attrIndex, be32, forEachMessage, str } from '../../lib/netlink/reader.js';
import { ERESTART, batch, batchError, dump, dumpStream, type MessageBatch } from '../../lib/netlink/transport.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('nft');

const NFPROTO_INET = 1;
const enum Msg { NewTable = 0, GetTable = 1, NewChain = 3, GetChain = 4, NewGen = 15, GetGen = 16 }
const NFTA_TABLE_NAME = 1, NFTA_CHAIN_TABLE = 1, NFTA_CHAIN_NAME = 3, NFTA_GEN_ID = 1;

/** nf_tables messages as nft builds them (the test's own minimal writer; lib/nft will have the real one). */
class NftMessages extends AttrWriter {
  private readonly ends: number[] = [];
  constructor() { super(1 << 16); }
  private msg(type: Msg, flags: number, attrs: () => void): this {
    const at = this.pos;
    this.ensure(NLMSG_HDRLEN + NFGENMSG_LEN);
    this.pos += NLMSG_HDRLEN + NFGENMSG_LEN;
    attrs();
    writeNlmsghdr(this.buf, at, { len: this.pos - at, type: nfnlType(NFNL_SUBSYS_NFTABLES, type), flags: NLM_F_REQUEST | flags });
    writeNfgenmsg(this.buf, at + NLMSG_HDRLEN, type === Msg.GetGen ? 0 : NFPROTO_INET);
    this.ends.push(this.pos);
    return this;
  }
  table(name: string, flags = NLM_F_CREATE | NLM_F_ACK): this { return this.msg(Msg.NewTable, flags, () => this.str(NFTA_TABLE_NAME, name)); }
  chain(table: string, name: string, flags = NLM_F_CREATE | NLM_F_ACK): this {
    return this.msg(Msg.NewChain, flags, () => { this.str(NFTA_CHAIN_TABLE, table); this.str(NFTA_CHAIN_NAME, name); });
  }
  getGen(): this { return this.msg(Msg.GetGen, 0, () => undefined); }
  dumpChains(): this { return this.msg(Msg.GetChain, NLM_F_DUMP, () => undefined); }
  get batch(): MessageBatch { return { bytes: this.buf.subarray(0, this.pos), ends: Uint32Array.from(this.ends) }; }
}

async function withWorker<T>(ns: Netns, fn: (w: RawWorker) => Promise<T>): Promise<T> {
  const w = new (binding().Worker)(ns.path);
  try { return await fn(w); } finally { await w.close(); }
}

async function generation(w: RawWorker): Promise<number> {
  const r = await dump(w, NETLINK_NETFILTER, new NftMessages().getGen().batch);
  let gen = -1;
  const at = new Int32Array(4), len = new Int32Array(4);
  forEachMessage(r.data, 0, r.data.length, (type, m, l) => {
    if (type !== nfnlType(NFNL_SUBSYS_NFTABLES, Msg.NewGen)) return;
    attrIndex(r.data, m + NLMSG_HDRLEN + NFGENMSG_LEN, m + l, 3, at, len);
    gen = be32(r.data, at[NFTA_GEN_ID]!);
  });
  return gen;
}

const ruleset = (ns: Netns) => ns.run('nft', ['list', 'ruleset']);

describe('netlink atomic batch (nf_tables)', { skip }, () => {
  it('commits a whole batch: nft lists exactly what nft -f writes for the same commands', async () => {
    await withNetns(2, async (ns, oracle) => {
      const r = await withWorker(ns, (w) => batch(w, NFNL_SUBSYS_NFTABLES, new NftMessages().table('t').chain('t', 'a').chain('t', 'b').batch));
      assert.deepEqual(r.errors, []);
      assert.equal(r.acked, 3);
      oracle.run('nft', ['-f', '-'], 'add table inet t\nadd chain inet t a\nadd chain inet t b\n');
      assert.equal(ruleset(ns), ruleset(oracle));
      assert.match(ruleset(ns), /chain a/);
    });
  });

  it('a refused last message changes nothing; the error names its index and carries the extended ack', async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        const before = ruleset(ns);
        const msgs = new NftMessages().table('t').chain('t', 'a').chain('t', 'b').chain('nosuch', 'c');
        const r = await batch(w, NFNL_SUBSYS_NFTABLES, msgs.batch);
        assert.equal(ruleset(ns), before);
        assert.equal(before.trim(), '');
        assert.equal(r.errors.length, 1);
        assert.equal(r.errors[0]!.index, 3);
        assert.equal(r.errors[0]!.errno, 2);
        // The kernel points at NFTA_CHAIN_TABLE: the first attribute after nlmsghdr + nfgenmsg.
        assert.equal(r.errors[0]!.offset, NLMSG_HDRLEN + NFGENMSG_LEN);
        const err = batchError('nft.apply', 'nft', r, (i) => (i === 3 ? 'chain inet nosuch c' : undefined));
        assert.ok(err instanceof NotFoundError);
        assert.equal(err.index, 3);
        assert.equal(err.offset, 20);
        assert.equal(err.code, 'ENOENT');
        assert.match(err.message, /chain inet nosuch c/);
      });
    });
  });

  it('maps each refusal of a batch to its own message', async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        const msgs = new NftMessages().table('t').chain('x', 'a').chain('t', 'b').chain('y', 'c');
        const r = await batch(w, NFNL_SUBSYS_NFTABLES, msgs.batch);
        assert.deepEqual(r.errors.map((e) => [e.index, e.errno]), [[1, 2], [3, 2]]);
        assert.equal(ruleset(ns).trim(), '');
      });
    });
  });

  it('a batch built against a stale generation is refused whole (ERESTART)', async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        const gen = await generation(w);
        assert.ok(gen >= 0);
        // Current generation: accepted.
        const ok = await batch(w, NFNL_SUBSYS_NFTABLES, new NftMessages().table('t1').batch, { genid: gen });
        assert.deepEqual(ok.errors, []);
        ns.run('nft', ['add', 'table', 'ip', 'other']);
        const before = ruleset(ns);
        const r = await batch(w, NFNL_SUBSYS_NFTABLES, new NftMessages().table('t2').batch, { genid: gen });
        assert.deepEqual(r.errors.map((e) => [e.index, e.errno]), [[-1, ERESTART]]);
        assert.equal(ruleset(ns), before);
        const err = batchError('nft.apply', 'nft', r);
        assert.ok(err instanceof ConcurrentModificationError);
        assert.equal(err.code, 'ERESTART');
      });
    });
  });

  it('sends a batch larger than the default socket buffers in one sendmsg and dumps it back, whole and in chunks', async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        // 32k chains with long names, without acks: ~9 MB, more than the 8 MB a socket's send
        // buffer starts with: one sendmsg() only if native/netlink grows it.
        const n = 32_000;
        const pad = 'x'.repeat(240);
        const msgs = new NftMessages().table('big');
        for (let i = 0; i < n; i++) msgs.chain('big', `c${i}${pad}`, NLM_F_CREATE);
        const b = msgs.batch;
        assert.ok(b.bytes.length > 8 << 20, `batch of ${b.bytes.length} bytes`);
        const r = await batch(w, NFNL_SUBSYS_NFTABLES, b);
        assert.deepEqual(r.errors, []);
        const d = await dump(w, NETLINK_NETFILTER, new NftMessages().dumpChains().batch);
        assert.equal(d.errnos[0], 0);
        const names = new Set<string>();
        const at = new Int32Array(4), len = new Int32Array(4);
        forEachMessage(d.data, 0, d.data.length, (type, m, l) => {
          if (type !== nfnlType(NFNL_SUBSYS_NFTABLES, Msg.NewChain)) return;
          attrIndex(d.data, m + NLMSG_HDRLEN + NFGENMSG_LEN, m + l, 3, at, len);
          names.add(str(d.data, at[NFTA_CHAIN_NAME]!, len[NFTA_CHAIN_NAME]!));
        });
        const listed = ns.run('nft', ['list', 'chains']).split('\n').filter((l) => /^\s*chain /.test(l)).length;
        assert.equal(names.size, n);
        assert.equal(listed, n);
        assert.ok(d.attempts >= 1);
        // The same dump in 256 KB chunks: the same messages, in as many pieces.
        const pieces: Buffer[] = [];
        const s = await dumpStream(w, NETLINK_NETFILTER, new NftMessages().dumpChains().batch, (data) => { pieces.push(data); },
          { chunkBytes: 256 << 10 });
        assert.equal(s.errnos[0], 0);
        assert.equal(s.chunks, pieces.length);
        assert.ok(pieces.length > 10, `${pieces.length} chunks`);
        const streamed = new Set<string>();
        for (const p of pieces) {
          forEachMessage(p, 0, p.length, (type, m, l) => {
            if (type !== nfnlType(NFNL_SUBSYS_NFTABLES, Msg.NewChain)) return;
            attrIndex(p, m + NLMSG_HDRLEN + NFGENMSG_LEN, m + l, 3, at, len);
            streamed.add(str(p, at[NFTA_CHAIN_NAME]!, len[NFTA_CHAIN_NAME]!));
          });
        }
        assert.deepEqual(streamed, names);
        // Borrowed chunks: read inside the callback, the same messages; a chunk kept past its
        // callback is detached (empty), not memory that a later chunk overwrote.
        const kept: Buffer[] = [], borrowed = new Set<string>();
        const bs = await dumpStream(w, NETLINK_NETFILTER, new NftMessages().dumpChains().batch, (p) => {
          assert.ok(p.length > 0);
          kept.push(p);
          forEachMessage(p, 0, p.length, (type, m, l) => {
            if (type !== nfnlType(NFNL_SUBSYS_NFTABLES, Msg.NewChain)) return;
            attrIndex(p, m + NLMSG_HDRLEN + NFGENMSG_LEN, m + l, 3, at, len);
            borrowed.add(str(p, at[NFTA_CHAIN_NAME]!, len[NFTA_CHAIN_NAME]!));
          });
        }, { chunkBytes: 256 << 10, borrow: true });
        assert.equal(bs.errnos[0], 0);
        assert.equal(bs.chunks, kept.length);
        assert.ok(kept.length > 10, `${kept.length} chunks`);
        assert.deepEqual(borrowed, names);
        assert.deepEqual(kept.map((p) => p.length), kept.map(() => 0));
      });
    });
  });
});
