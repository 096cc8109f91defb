// rtnetlink neighbour messages (RTM_NEWNEIGH/DELNEIGH/GETNEIGH) as `ip neigh` builds them, read
// back into the objects `ip -j neigh show` prints (its field names; its null markers as `true`).
import { NLMSG_HDRLEN, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST } from '../netlink/headers.js';
import { forEachAttr } from '../netlink/reader.js';
import { AF_INET, AF_INET6, formatIp } from './addr.js';
import { Rtm, RtWriter, ipFamily } from './wire.js';

export const RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_GETNEIGH = 30;
const NDMSG_LEN = 12;
const NDA_DST = 1, NDA_LLADDR = 2;
export const NTF_PROXY = 0x08, NTF_ROUTER = 0x80, NTF_EXT_LEARNED = 0x10;
export const NUD_NOARP = 0x40, NUD_PERMANENT = 0x80;

/** NUD_* bits by the names `ip neigh` takes (lower case) and prints (upper case), in bit order. */
export const NUD_STATES: [number, string][] = [
  [0x01, 'INCOMPLETE'], [0x02, 'REACHABLE'], [0x04, 'STALE'], [0x08, 'DELAY'], [0x10, 'PROBE'], [0x20, 'FAILED'],
  [0x40, 'NOARP'], [0x80, 'PERMANENT'],
];

export interface NeighSpec {
  family: number;
  ifindex: number;
  dst: Uint8Array;
  lladdr?: Uint8Array;
  state: number;
  flags: number;
}

export type NeighCommand = 'add' | 'replace' | 'delete';

/** `ip neigh add|replace|del [proxy] DST [lladdr MAC] dev DEV [nud STATE] [router]` */
export function neighMessage(w: RtWriter, cmd: NeighCommand, s: NeighSpec): void {
  const flags = cmd === 'add' ? NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL
    : cmd === 'replace' ? NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE : NLM_F_REQUEST;
  w.begin((cmd === 'delete' ? RTM_DELNEIGH : RTM_NEWNEIGH) as Rtm, flags);
  ndmsg(w, s.family, s.ifindex, s.state, s.flags);
  w.raw(NDA_DST, s.dst);
  if (s.lladdr && cmd !== 'delete') w.raw(NDA_LLADDR, s.lladdr);
  w.end();
}

function ndmsg(w: RtWriter, family: number, ifindex: number, state: number, flags: number): void {
  w.ensure(NDMSG_LEN);
  const b = w.buf, p = w.pos;
  b.fill(0, p, p + NDMSG_LEN);
  b[p] = family;
  b.writeInt32LE(ifindex, p + 4);
  b.writeUInt16LE(state, p + 8);
  b[p + 10] = flags;
  w.pos += NDMSG_LEN;
}

/** Every neighbour of both families; `proxy`: the proxy entries instead (what `ip neigh show proxy` asks for). */
export function dumpNeighs(w: RtWriter, proxy: boolean): void {
  w.begin(RTM_GETNEIGH as Rtm, NLM_F_REQUEST | NLM_F_DUMP);
  ndmsg(w, 0, 0, 0, proxy ? NTF_PROXY : 0);
  w.end();
}

export interface NeighRecord {
  family: 'inet' | 'inet6';
  ifindex: number;
  state: number;
  flags: number;
  dst: string;
  lladdr?: string;
}

/** One RTM_NEWNEIGH/DELNEIGH of family inet/inet6; undefined for other families (bridge FDB entries). */
export function parseNeigh(data: Buffer, at: number, len: number): NeighRecord | undefined {
  const body = at + NLMSG_HDRLEN;
  const family = ipFamily(data, body);
  if (!family) return undefined;
  const rec: NeighRecord = { family, ifindex: data.readInt32LE(body + 4), state: data.readUInt16LE(body + 8), flags: data[body + 10]!, dst: '' };
  forEachAttr(data, body + NDMSG_LEN, at + len, (type, a, l) => {
    if (type === NDA_DST && l === (family === 'inet' ? 4 : 16)) rec.dst = formatIp(family, data.subarray(a, a + l));
    else if (type === NDA_LLADDR && l > 0) {
      const parts: string[] = [];
      for (let i = 0; i < l; i++) parts.push(data[a + i]!.toString(16).padStart(2, '0'));
      rec.lladdr = parts.join(':');
    }
  });
  return rec.dst ? rec : undefined;
}

export const stateNames = (state: number): string[] => NUD_STATES.filter(([bit]) => state & bit).map(([, n]) => n);
