// A --noflush restore on nf_tables: read the tables the text names (decoded, with each rule's
// handle, at one generation), compile the text onto them (the native restore, started from
// those tables instead of the kernel's legacy ones), and send only what changed (partial.ts) in
// one batch carrying that generation. A batch refused with ERESTART (someone changed the
// ruleset in between) is recomputed from a fresh read, as iptables-nft-restore does.
import { NFNL_SUBSYS_NFTABLES } from '../../nft/consts.js';
import { batch, ERESTART } from '../../netlink/transport.js';
import type { RawTableSnapshot } from '../../native.js';
import type { Family } from '../types.js';
import { decodeTables, rawTableOf } from './decode.js';
import { LAYOUT, readEntries } from './entries.js';

const IP6T_F_PROTO = 0x01;
import { partialMessages, touchedChains, type PartialTable } from './partial.js';
import { Messages, type NftRefusal, type NftRestoreIo } from './restore.js';
import { readNft } from './save.js';

const ATTEMPTS = 5;

/** One table of a noflush restore: its name and all its text's lines. */
export interface NoflushTable { name: string; body: string }

/** What a noflush commit did: the tables it changed, and how many messages it sent. */
export interface NoflushOutcome { refusal?: NftRefusal; messages: number; attempts: number }

/**
 * ip6tables sets IP6T_F_PROTO beside the protocol of a rule with `-p` (xshared.c); the tool's
 * decoder leaves it out (its rule comparison ignores flags), but the native restore compares
 * whole entries for `-D rule`: the decoded IPv6 rules get the flag back.
 * @example const raw = protoFlagged(6, rawTableOf(decoded, op));
 */
export function protoFlagged(family: Family, raw: RawTableSnapshot): RawTableSnapshot {
  if (family !== 6) return raw;
  const L = LAYOUT[6];
  const b = Buffer.from(raw.entries);
  for (let off = 0; off + L.size <= b.length;) {
    const next = b.readUInt16LE(off + L.nextOffset);
    if (next === 0) break;
    if (b.readUInt16LE(off + L.proto) !== 0) b[off + L.flags]! |= IP6T_F_PROTO;
    off += next;
  }
  return { ...raw, entries: b };
}

/**
 * Reads, compiles onto what was read (`compile`, which throws for bad input) and commits the
 * changes in one batch; retried from a fresh read when the ruleset moved meanwhile.
 * @example await commitNoflush(io, 'iptables.restore', 4, [{ name: 'nat', body }], false, (bases) => compileOnto(bases));
 */
export async function commitNoflush(io: NftRestoreIo, op: string, family: Family, tables: NoflushTable[], counters: boolean,
  compile: (bases: Map<string, RawTableSnapshot>) => Promise<RawTableSnapshot[]>): Promise<NoflushOutcome> {
  const names = [...new Set(tables.map((t) => t.name))];
  for (let attempt = 1; ; attempt++) {
    const read = await readNft((fn) => io.native(fn), op, family, names.length === 1 ? names[0] : undefined);
    const bases = new Map(names.map((n) => [n, protoFlagged(family, rawTableOf(read.tables.find((t) => t.name === n) ?? decodeTables([], family, n)[0]!, op))]));
    const compiled = await compile(bases);
    const parts: PartialTable[] = compiled.map((raw) => {
      const handles = read.handles.get(raw.table) ?? new Map<string, bigint[]>();
      const body = tables.filter((t) => t.name === raw.table).map((t) => t.body).join('');
      const only = touchedChains(body);
      return {
        name: raw.table, body,
        exists: read.handles.has(raw.table),
        old: readEntries(family, bases.get(raw.table)!, only).filter((c) => handles.has(c.name)),
        handles,
        next: readEntries(family, raw, only),
        counters,
      };
    });
    const msgs = partialMessages(new Messages(0), family, parts);
    if (!msgs.ends.length) return { messages: 0, attempts: attempt };
    const r = await io.native((w) => batch(w, NFNL_SUBSYS_NFTABLES, msgs.batch(), { genid: read.generation }));
    const first = r.errors[0];
    if (!first) return { messages: msgs.ends.length, attempts: attempt };
    if (first.index < 0 && first.errno === ERESTART && attempt < ATTEMPTS) continue;
    const about = msgs.about[first.index];
    return {
      messages: msgs.ends.length, attempts: attempt,
      refusal: { errno: first.errno, index: first.index, result: r, ...(first.message ? { message: first.message } : {}), ...(about ? { about } : {}) },
    };
  }
}
