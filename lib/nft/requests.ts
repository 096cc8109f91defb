// The read side of nft: dump requests for list() (tables, chains, rules and sets first, then
// one element dump per set), NFT_MSG_GETGEN for generation(), and reading their replies.
import { attrMap, be32, Names, str, type NlMsg, type PlacedMsgs } from './attrs.js';
import { attrIndex } from '../netlink/reader.js';
import { NLMSG_HDRLEN } from '../netlink/headers.js';
import { CHAIN, ELEM_LIST, FAMILY, GEN, MSG, NFNL_SUBSYS_NFTABLES, NLM_F_DUMP, NLM_F_REQUEST, RULE, SET } from './consts.js';
import type { Family } from './types.js';
import { NftWriter } from './wire.js';
import { OBJ_MSG } from './objects.js';

/** The first round of list(): every table, chain, rule and set of `family` (all when undefined), or `only` these GET* dumps. */
export function rulesetRequests(family?: Family, seq = 0, only?: number[]): Buffer {
  const w = new NftWriter(seq);
  const f = family === undefined ? 0 : FAMILY[family];
  for (const t of only ?? [MSG.GETTABLE, MSG.GETCHAIN, MSG.GETRULE, MSG.GETSET, OBJ_MSG.GET]) {
    w.begin(t, NLM_F_REQUEST | NLM_F_DUMP, f);
    w.end();
  }
  return w.bytesWritten();
}

/** The second round: one element dump per set (anonymous ones included) of the first round's replies. */
export function elementRequests(replies: NlMsg[], seq = 0): Buffer {
  const w = new NftWriter(seq);
  for (const m of replies) {
    if (m.type !== ((NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWSET)) continue;
    const a = attrMap(m.body);
    w.begin(MSG.GETSETELEM, NLM_F_REQUEST | NLM_F_DUMP, m.family);
    w.str(ELEM_LIST.TABLE, str(a.get(SET.TABLE)) ?? '');
    w.str(ELEM_LIST.SET, str(a.get(SET.NAME)) ?? '');
    w.end();
  }
  return w.bytesWritten();
}

/**
 * The second round's rule dumps: one GETRULE dump per chain of the first round's replies (of
 * `table` only, when given), and the indices in `chains` of the chains asked for, in order. The
 * kernel resumes a dump of every rule by skipping all the rules it already sent, once per refill
 * of the reply buffer: quadratic, seconds of system time at 140k rules (20k kube-proxy services);
 * a chain's own dump starts at that chain. Names are copied from the replies as they are.
 */
export function chainRuleRequests(chains: PlacedMsgs, table?: string, seq = 0): { requests: Buffer; asked: number[] } {
  const w = new NftWriter(seq, 64 * chains.at.length + 64);
  const a = new Int32Array(CHAIN.NAME + 1), l = new Int32Array(CHAIN.NAME + 1);
  const b = chains.buf, names = new Names();
  const asked: number[] = [];
  for (let i = 0; i < chains.at.length; i++) {
    const m = chains.at[i]!;
    attrIndex(b, m + NLMSG_HDRLEN + 4, m + b.readUInt32LE(m), CHAIN.NAME, a, l);
    if (table !== undefined && (a[CHAIN.TABLE] ? names.get(b, a[CHAIN.TABLE]!, l[CHAIN.TABLE]!) : '') !== table) continue;
    w.begin(MSG.GETRULE, NLM_F_REQUEST | NLM_F_DUMP, b[m + 16]!);
    copyAttr(w, RULE.TABLE, b, a[CHAIN.TABLE]!, a[CHAIN.TABLE] ? l[CHAIN.TABLE]! : -1);
    copyAttr(w, RULE.CHAIN, b, a[CHAIN.NAME]!, a[CHAIN.NAME] ? l[CHAIN.NAME]! : -1);
    w.end();
    asked.push(i);
  }
  return { requests: w.bytesWritten(), asked };
}

/** A string attribute of type t whose payload is b[at, at + len) as the kernel sent it (len -1: absent, an empty string). */
function copyAttr(w: NftWriter, t: number, b: Buffer, at: number, len: number): void {
  if (len < 0) return void w.str(t, '');
  const p = w.valueAttr(t, len);
  for (let i = 0; i < len; i++) w.buf[p + i] = b[at + i]!;
}

/** NFT_MSG_GETSET of these sets by name: one reply each (a missing one gets ENOENT and no reply), instead of a dump of every set (20k anonymous ones in kube-proxy's table). */
export function setRequests(sets: Array<{ family: Family; table: string; name: string }>, seq = 0): Buffer {
  const w = new NftWriter(seq);
  for (const s of sets) {
    w.begin(MSG.GETSET, NLM_F_REQUEST, FAMILY[s.family]);
    w.str(SET.TABLE, s.table);
    w.str(SET.NAME, s.name);
    w.end();
  }
  return w.bytesWritten();
}

/** NFT_MSG_GETGEN. */
export function generationRequest(seq = 0): Buffer {
  const w = new NftWriter(seq);
  w.begin(MSG.GETGEN, NLM_F_REQUEST, 0);
  w.end();
  return w.bytesWritten();
}

/** The generation id of a NEWGEN reply. */
export function decodeGeneration(replies: NlMsg[]): number {
  const m = replies.find((r) => r.type === ((NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWGEN));
  const id = m && be32(attrMap(m.body).get(GEN.ID));
  if (id === undefined) throw new Error('no NFT_MSG_NEWGEN reply');
  return id;
}
