// Readers of what the conntrack tool prints and of strace's hex dumps of its netlink traffic:
// the oracle side of the conntrack tests (unit tests on captured fixtures, kernel differentials).
import type { Flow } from '../../lib/conntrack/types.js';

/** The byte buffers of each sendto/sendmsg ('send') and recvmsg/recvfrom ('recv') in `strace -e read=all -e write=all` output. */
export function straceBuffers(trace: string): { dir: 'send' | 'recv'; bytes: Buffer }[] {
  const out: { dir: 'send' | 'recv'; bytes: Buffer }[] = [];
  let cur: { dir: 'send' | 'recv'; hex: string[] } | undefined;
  const flush = () => {
    if (cur && cur.hex.length) out.push({ dir: cur.dir, bytes: Buffer.from(cur.hex.join(''), 'hex') });
    cur = undefined;
  };
  for (const line of trace.split('\n')) {
    // " | 00010  hh hh hh hh hh hh hh hh  hh hh ... hh  ascii |": the hex sits in columns 10-58.
    if (/^ \| [0-9a-f]{5}  /.test(line)) {
      cur?.hex.push(line.slice(10, 59).replace(/ /g, ''));
      continue;
    }
    if (line.startsWith(' * ')) continue;
    flush();
    if (/^(sendto|sendmsg)\(/.test(line)) cur = { dir: 'send', hex: [] };
    else if (/^(recvmsg|recvfrom)\(/.test(line)) cur = { dir: 'recv', hex: [] };
  }
  flush();
  return out;
}

/** One flow as `conntrack -L -o extended,id` (or -E) prints it, in the tool's own terms. */
export interface ToolFlow {
  event?: string;
  family: string;
  protocol: string;
  protonum: number;
  timeout: number;
  state?: string;
  original: Record<string, string>;
  reply: Record<string, string>;
  unreplied: boolean;
  assured: boolean;
  offload: boolean;
  mark?: number;
  zone?: number;
  use?: number;
  id?: number;
  counters?: { original: { packets: number; bytes: number }; reply: { packets: number; bytes: number } };
  labels?: string;
}

/** Parses one line of `conntrack -L -o extended[,id]` / `conntrack -E -o id` output. */
export function parseToolLine(line: string): ToolFlow {
  const tok = line.trim().split(/\s+/);
  let i = 0;
  let event: string | undefined;
  if (tok[0]!.startsWith('[') && tok[0] !== '[UNREPLIED]') event = tok[i++]!.replace(/[[\]]/g, '');
  // -L -o extended starts with "ipv4 2"; -E and plain -L start with the protocol.
  let family = '';
  if (tok[i] === 'ipv4' || tok[i] === 'ipv6') { family = tok[i]!; i += 2; }
  const protocol = tok[i++]!, protonum = Number(tok[i++]), timeout = Number(tok[i++]);
  const f: ToolFlow = { family, protocol, protonum, timeout, original: {}, reply: {}, unreplied: false, assured: false, offload: false };
  if (event) f.event = event;
  if (tok[i] && !tok[i]!.includes('=') && !tok[i]!.startsWith('[')) f.state = tok[i++];
  let dir: 'original' | 'reply' = 'original';
  const counters = { original: { packets: 0, bytes: 0 }, reply: { packets: 0, bytes: 0 } };
  let sawCounters = false, prev = '';
  for (; i < tok.length; i++) {
    const t = tok[i]!;
    if (t === '[UNREPLIED]') { f.unreplied = true; continue; }
    if (t === '[ASSURED]') { f.assured = true; continue; }
    if (t === '[OFFLOAD]' || t === '[HW_OFFLOAD]') { f.offload = true; continue; }
    if (t.startsWith('[')) continue; // [USERSPACE] of events
    const eq = t.indexOf('=');
    if (eq < 0) continue;
    const k = t.slice(0, eq), v = t.slice(eq + 1);
    if (k === 'src' && f.original.src !== undefined) dir = 'reply';
    // icmp's echo `id=` follows `code=` inside a tuple; the last `id=` is the flow's.
    const inTuple = ['src', 'dst', 'sport', 'dport', 'type', 'code'].includes(k) || (k === 'id' && prev === 'code');
    prev = k;
    if (inTuple) { f[dir][k] = v; continue; }
    if (k === 'packets') { counters[dir].packets = Number(v); sawCounters = true; continue; }
    if (k === 'bytes') { counters[dir].bytes = Number(v); continue; }
    if (k === 'mark') f.mark = Number(v);
    else if (k === 'zone') f.zone = Number(v);
    else if (k === 'use') f.use = Number(v);
    else if (k === 'id') f.id = Number(v);
    else if (k === 'labels') f.labels = v;
  }
  if (sawCounters) f.counters = counters;
  return f;
}

/** The lines of tool output that are flows (not the "N flow entries" summary on stderr, nor blanks). */
export const toolLines = (text: string): string[] =>
  text.split('\n').filter((l) => l.trim() && !l.startsWith('conntrack v'));

/** A Flow as the tool would print it: what a differential compares field by field. */
export function toolView(flow: Flow): Omit<ToolFlow, 'event'> {
  const t = (x: Flow['original']) => {
    const o: Record<string, string> = { src: x.src, dst: x.dst };
    if (x.sport !== undefined) { o.sport = String(x.sport); o.dport = String(x.dport); }
    if (x.type !== undefined) { o.type = String(x.type); o.code = String(x.code); o.id = String(x.id); }
    return o;
  };
  const proto = typeof flow.protocol === 'number' ? 'unknown' : flow.protocol;
  const nums: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, dccp: 33, gre: 47, icmpv6: 58, sctp: 132, udplite: 136 };
  const v: Omit<ToolFlow, 'event'> = {
    family: flow.family === 'inet' ? 'ipv4' : 'ipv6', protocol: proto,
    protonum: typeof flow.protocol === 'number' ? flow.protocol : nums[flow.protocol]!,
    timeout: flow.timeout / 1000, original: t(flow.original), reply: t(flow.reply),
    unreplied: !flow.status.includes('SEEN_REPLY'), assured: flow.status.includes('ASSURED'),
    offload: flow.status.includes('OFFLOAD') || flow.status.includes('HW_OFFLOAD'), mark: flow.mark,
  };
  // conntrack(8) names the kernel's TCP_CONNTRACK_SYN_SENT2 "LISTEN".
  if (flow.state !== undefined) v.state = flow.state === 'SYN_SENT2' ? 'LISTEN' : flow.state;
  if (flow.zone) v.zone = flow.zone;
  if (flow.use !== undefined) v.use = flow.use;
  v.id = flow.id;
  if (flow.counters) v.counters = flow.counters;
  return v;
}
