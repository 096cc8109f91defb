// One consistent read of nf_tables: GETGEN, the caller's dump requests, GETGEN, in one crossing;
// run again while the two generations differ (the ruleset changed during the read).
import { ConcurrentModificationError } from '../../core/errors.js';
import { splitMessages } from '../../nft/attrs.js';
import { MSG, NLM_F_REQUEST } from '../../nft/consts.js';
import { decodeGeneration } from '../../nft/requests.js';
import { NftWriter } from '../../nft/wire.js';
import { NETLINK_NETFILTER } from '../../netlink/headers.js';
import { forEachMessage } from '../../netlink/reader.js';
import { dump, kernelError } from '../../netlink/transport.js';
import type { RawWorker } from '../../core/native.js';

type Native = <T>(fn: (w: RawWorker) => Promise<T>) => Promise<T>;

const ATTEMPTS = 5;

/** The replies between the two GETGENs (data[from, to)) and the generation they were read at. */
export interface GenDump { generation: number; data: Buffer; from: number; to: number }

/**
 * Runs the requests `write` adds between two GETGENs until both generations are equal.
 * `tolerate`: errnos a request may answer without failing the read (ENOENT for a chain not made yet).
 * @example const r = await genDump(native, op, (w) => { w.begin(MSG.GETTABLE, NLM_F_REQUEST | NLM_F_DUMP, 2); w.end(); });
 */
export async function genDump(native: Native, op: string, write: (w: NftWriter) => void, tolerate: number[] = []): Promise<GenDump> {
  const w = new NftWriter(0);
  w.begin(MSG.GETGEN, NLM_F_REQUEST, 0);
  w.end();
  write(w);
  w.begin(MSG.GETGEN, NLM_F_REQUEST, 0);
  w.end();
  const bytes = w.bytesWritten();
  const ends: number[] = [];
  forEachMessage(bytes, 0, bytes.length, (_t, at, len) => ends.push(at + len));
  const req = { bytes, ends: Uint32Array.from(ends) };
  for (let attempt = 1; ; attempt++) {
    const r = await native((wk) => dump(wk, NETLINK_NETFILTER, req));
    const bad = r.errnos.findIndex((e) => e !== 0 && !tolerate.includes(e));
    if (bad >= 0) throw kernelError(op, 'iptables', r.errnos[bad]!, { what: 'cannot read the nf_tables ruleset', ...(r.messages[bad] ? { detail: r.messages[bad] } : {}) });
    const n = r.sections.length;
    const gen = (i: number) => decodeGeneration(splitMessages(r.data.subarray(i === 0 ? 0 : r.sections[i - 1]!, r.sections[i]!)));
    const generation = gen(0);
    if (generation === gen(n - 1)) return { generation, data: r.data, from: r.sections[0]!, to: r.sections[n - 2]! };
    if (attempt >= ATTEMPTS) throw new ConcurrentModificationError(`${op}: the nf_tables ruleset kept changing while it was read (${ATTEMPTS} attempts)`, { op, subsystem: 'iptables' });
  }
}
