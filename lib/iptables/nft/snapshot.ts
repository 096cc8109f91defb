// A transaction's snapshot and undo of one iptables table on nf_tables (the iptables
// participant): the table's own messages as the kernel dumps them (table, chains in their order,
// rules in theirs, with counters inside), and an undo that sends, in one batch, DELTABLE of what
// is there now and the snapshot's messages again as NEW* (handles and positions dropped, the
// compat attribute iptables-nft writes derived again from each rule's protocol match). This is
// exact whatever wrote the table (iptables-nft, nlkit, nft by hand) and needs no decoding; a
// table holding sets (nft-made) is refused, as its undo would lose them.
import { UnsupportedError } from '../../core/errors.js';
import { splitMessages, str } from '../../nft/attrs.js';
import { CHAIN, FAMILY, MSG, NFNL_SUBSYS_NFTABLES, NLM_F_DUMP, NLM_F_REQUEST, RULE, SET, TABLE } from '../../nft/consts.js';
import { readExprs } from '../../nft/expr-wire.js';
import { CMP, META_KEY } from '../../nft/ir.js';
import { NftWriter } from '../../nft/wire.js';
import { NLM_F_APPEND, NLM_F_CREATE, NLA_TYPE_MASK } from '../../netlink/headers.js';
import { genDump } from './gen-dump.js';
import { forEachMessage } from '../../netlink/reader.js';
import { batch, type BatchResult } from '../../netlink/transport.js';
import type { RawWorker } from '../../core/native.js';
import type { Family } from '../types.js';

type Native = <T>(fn: (w: RawWorker) => Promise<T>) => Promise<T>;

/** One table as nf_tables held it when the snapshot was taken. */
export interface NftTableSnapshot {
  family: Family;
  table: string;
  /** NEWTABLE, NEWCHAIN... and NEWRULE... messages (attributes only), in dump order; empty: the table did not exist. */
  messages: Array<{ type: number; body: Buffer }>;
}

const ENOENT = 2;  // no such table: nothing to read
/** Attributes the kernel reports but does not take back: table use/handle, chain handle/use/flags, rule handle/position. */
const DROP: Record<number, Set<number>> = {
  [MSG.NEWTABLE]: new Set([TABLE.USE, TABLE.HANDLE]),
  [MSG.NEWCHAIN]: new Set([CHAIN.HANDLE, CHAIN.USE, CHAIN.FLAGS]),
  [MSG.NEWRULE]: new Set([RULE.HANDLE, RULE.POSITION]),
};
const NFTA_RULE_COMPAT = 5, NFTA_RULE_COMPAT_PROTO = 1, NFTA_RULE_COMPAT_FLAGS = 2, NFT_RULE_COMPAT_F_INV = 2;

/** The string attribute `type` of a message body. */
function attr(body: Buffer, type: number): string | undefined {
  for (let p = 0; p + 4 <= body.length;) {
    const len = body.readUInt16LE(p);
    if (len < 4) break;
    if ((body.readUInt16LE(p + 2) & NLA_TYPE_MASK) === type) return str(body.subarray(p + 4, p + len));
    p += (len + 3) & ~3;
  }
  return undefined;
}

/**
 * The table's messages as nf_tables holds them now, at one generation.
 * @example const snap = await snapshotNft(native, 'transaction', 4, 'filter');
 */
export async function snapshotNft(native: Native, op: string, family: Family, table: string): Promise<NftTableSnapshot> {
  const f = family === 6 ? FAMILY.ip6 : FAMILY.ip;
  const r = await genDump(native, op, (w) => {
    for (const t of [MSG.GETTABLE, MSG.GETCHAIN, MSG.GETRULE, MSG.GETSET]) {
      w.begin(t, NLM_F_REQUEST | NLM_F_DUMP, f);
      if (t === MSG.GETRULE) w.str(RULE.TABLE, table);
      if (t === MSG.GETSET) w.str(SET.TABLE, table);
      w.end();
    }
  }, [ENOENT]);
  const out: NftTableSnapshot['messages'] = [];
  for (const m of splitMessages(r.data.subarray(r.from, r.to))) {
    if (m.type >> 8 !== NFNL_SUBSYS_NFTABLES || m.family !== f) continue;
    const t = m.type & 0xff;
    const owner = t === MSG.NEWTABLE ? attr(m.body, TABLE.NAME) : t === MSG.NEWCHAIN ? attr(m.body, CHAIN.TABLE) : t === MSG.NEWRULE ? attr(m.body, RULE.TABLE) : t === MSG.NEWSET ? attr(m.body, SET.TABLE) : undefined;
    if (owner !== table) continue;
    if (t === MSG.NEWSET) {
      throw new UnsupportedError(`${op}: ${family === 6 ? 'ip6' : 'ip'} table ${table} holds nf_tables sets (written by nft, not iptables): a transaction cannot put it back`, { op, subsystem: 'iptables' });
    }
    out.push({ type: t, body: Buffer.from(m.body) });
  }
  return { family, table, messages: out };
}

/** The protocol match iptables-nft's rule carries (meta l4proto, then cmp), for the compat attribute. */
function compatOf(exprs: Buffer): { proto: number; inv: boolean } {
  const xs = readExprs(exprs);
  for (let i = 0; i + 1 < xs.length; i++) {
    const a = xs[i]!, b = xs[i + 1]!;
    if (a.op === 'meta' && a.key === META_KEY.l4proto && b.op === 'cmp' && b.data.length === 1) return { proto: b.data[0]!, inv: b.cmp === CMP['!='] };
  }
  return { proto: 0, inv: false };
}

/**
 * One batch that puts the table back as `snap` holds it, `now` being what it holds at present
 * (another snapshotNft()): when the table is still there it stays (its place in the ruleset's
 * listing with it): all its rules, then all its chains are deleted, and the snapshot's chains and
 * rules made again in their order; a table that was not there is deleted; one that is gone is
 * made again (last in the listing). Resolves the batch's result (errors empty: done).
 * @example const r = await undoNft(native, snap, await snapshotNft(native, op, 4, 'filter'));
 */
export function undoNft(native: Native, snap: NftTableSnapshot, now: NftTableSnapshot): Promise<BatchResult> {
  const w = new NftWriter(0);
  const f = snap.family === 6 ? FAMILY.ip6 : FAMILY.ip;
  const exists = now.messages.some((m) => m.type === MSG.NEWTABLE);
  if (exists && !snap.messages.length) {
    w.begin(MSG.DELTABLE, NLM_F_REQUEST, f);
    w.str(TABLE.NAME, snap.table);
    w.end();
  } else if (exists) {
    w.begin(MSG.DELRULE, NLM_F_REQUEST, f);  // every rule of the table (no chain named)
    w.str(RULE.TABLE, snap.table);
    w.end();
    for (const m of now.messages) {
      if (m.type !== MSG.NEWCHAIN) continue;
      w.begin(MSG.DELCHAIN, NLM_F_REQUEST, f);
      w.str(CHAIN.TABLE, snap.table);
      w.str(CHAIN.NAME, attr(m.body, CHAIN.NAME)!);
      w.end();
    }
  }
  for (const m of snap.messages) {
    w.begin(m.type, NLM_F_REQUEST | NLM_F_CREATE | (m.type === MSG.NEWRULE ? NLM_F_APPEND : 0), f);
    const drop = DROP[m.type]!;
    let exprs: Buffer | undefined;
    for (let p = 0; p + 4 <= m.body.length;) {
      const len = m.body.readUInt16LE(p);
      if (len < 4) break;
      const raw = m.body.readUInt16LE(p + 2), type = raw & NLA_TYPE_MASK;
      // copied as dumped, the nested flag included
      if (!drop.has(type)) w.bytes(raw, m.body.subarray(p + 4, p + len));
      if (m.type === MSG.NEWRULE && type === RULE.EXPRESSIONS) exprs = m.body.subarray(p + 4, p + len);
      p += (len + 3) & ~3;
    }
    if (exprs) {
      const c = compatOf(exprs);
      if (c.proto) {
        w.within(NFTA_RULE_COMPAT, () => {
          w.be32(NFTA_RULE_COMPAT_PROTO, c.proto);
          w.be32(NFTA_RULE_COMPAT_FLAGS, c.inv ? NFT_RULE_COMPAT_F_INV : 0);
        });
      }
    }
    w.end();
  }
  const bytes = w.bytesWritten();
  const ends: number[] = [];
  forEachMessage(bytes, 0, bytes.length, (_t, at, len) => ends.push(at + len));
  return native((wk) => batch(wk, NFNL_SUBSYS_NFTABLES, { bytes, ends: Uint32Array.from(ends) }));
}
