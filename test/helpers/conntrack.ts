// Readers of what the conntrack tool prints and of strace's hex dumps of its netlink traffic:
// the oracle side of the conntrack tests (unit tests on captured fixtures, kernel differentials).
import type { Filter, Flow, FlowInput } from '../../lib/conntrack/types.js';

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

/** Flows both sides make: nlkit with create(), the twin with `conntrack -I` (see insertArgs). */
export const SEEDS: FlowInput[] = [
  { protocol: 'tcp', original: { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80 }, state: 'ESTABLISHED', status: ['SEEN_REPLY', 'ASSURED'], timeout: 3600_000, mark: 7 },
  { protocol: 'tcp', original: { src: '10.0.0.3', dst: '10.0.0.2', sport: 40001, dport: 80 }, state: 'SYN_SENT', timeout: 120_000, mark: 0x10 },
  { protocol: 'tcp', original: { src: '10.0.0.4', dst: '10.0.0.9', sport: 40002, dport: 443 }, state: 'ESTABLISHED', status: ['ASSURED'], timeout: 3600_000, mark: 0x107, zone: 3 },
  { protocol: 'udp', original: { src: '10.0.1.1', dst: '10.96.0.10', sport: 5000, dport: 53 }, reply: { src: '10.244.1.5', dst: '10.0.1.1', sport: 53, dport: 5000 }, timeout: 30_000, mark: 0x100 },
  { protocol: 'udp', original: { src: '10.0.1.2', dst: '10.96.0.10', sport: 5001, dport: 53 }, reply: { src: '10.244.1.6', dst: '10.0.1.2', sport: 53, dport: 5001 }, timeout: 30_000 },
  { protocol: 'udp', original: { src: '10.0.2.1', dst: '10.0.2.2', sport: 7, dport: 7 }, timeout: 100_000, mark: 7 },
  { protocol: 'udp', original: { src: 'fd00::1', dst: 'fd00::2', sport: 6000, dport: 53 }, status: ['SEEN_REPLY'], timeout: 60_000 },
  { protocol: 'tcp', original: { src: 'fd00::5', dst: 'fd00::6', sport: 1234, dport: 443 }, state: 'ESTABLISHED', status: ['ASSURED'], timeout: 500_000, zone: 9 },
  { protocol: 'icmp', original: { src: '10.0.0.5', dst: '10.0.0.6', type: 8, code: 0, id: 4242 }, timeout: 29_000 },
  { protocol: 'icmpv6', original: { src: 'fd00::5', dst: 'fd00::6', type: 128, code: 0, id: 7 }, timeout: 29_000, mark: 7 },
];

/** `conntrack -I` arguments for a seed. */
export function insertArgs(f: FlowInput): string[] {
  const a = ['-I', '-p', String(f.protocol), '-s', f.original.src, '-d', f.original.dst];
  if (f.original.sport !== undefined) a.push('--sport', String(f.original.sport), '--dport', String(f.original.dport));
  if (f.original.type !== undefined) {
    const p = f.protocol === 'icmp' ? '--icmp' : '--icmpv6';
    a.push(`${p}-type`, String(f.original.type), `${p}-code`, String(f.original.code), `${p}-id`, String(f.original.id));
  }
  if (f.reply) a.push('-r', f.reply.src, '-q', f.reply.dst, '--reply-port-src', String(f.reply.sport), '--reply-port-dst', String(f.reply.dport));
  if (f.state) a.push('--state', f.state);
  if (f.status) a.push('-u', f.status.join(','));
  a.push('-t', String(f.timeout! / 1000));
  if (f.mark !== undefined) a.push('-m', String(f.mark));
  if (f.zone !== undefined) a.push('-w', String(f.zone));
  return a;
}

/** Each filter kind beside the same filter in conntrack(8)'s words. */
export const FILTERS: [Filter, string[]][] = [
  [{ protocol: 'udp' }, ['-p', 'udp']],
  [{ family: 'inet6' }, ['-f', 'ipv6']],
  [{ original: { src: '10.0.0.1' } }, ['-s', '10.0.0.1']],
  [{ original: { dst: '10.96.0.10' } }, ['-d', '10.96.0.10']],
  [{ protocol: 'tcp', original: { dport: 80 } }, ['-p', 'tcp', '--dport', '80']],
  [{ protocol: 'udp', original: { sport: 5000 } }, ['-p', 'udp', '--sport', '5000']],
  [{ reply: { src: '10.244.1.5' } }, ['-r', '10.244.1.5']],
  [{ reply: { dst: '10.0.1.2' } }, ['-q', '10.0.1.2']],
  [{ mark: 7 }, ['-m', '7']],
  [{ mark: { value: 0x100, mask: 0xf00 } }, ['-m', '0x100/0xf00']],
  [{ zone: 3 }, ['-w', '3']],
  [{ status: ['ASSURED'] }, ['-u', 'ASSURED']],
  [{ protocol: 'tcp', state: 'SYN_SENT' }, ['-p', 'tcp', '--state', 'SYN_SENT']],
  [{ protocol: 'icmp', original: { type: 8, id: 4242 } }, ['-p', 'icmp', '--icmp-type', '8', '--icmp-id', '4242']],
  [{ family: 'inet6', original: { src: 'fd00::5' } }, ['-f', 'ipv6', '-s', 'fd00::5']],
  [{ protocol: 'udp', original: { dst: '10.96.0.10', dport: 53 }, reply: { src: '10.244.1.6' } }, ['-p', 'udp', '-d', '10.96.0.10', '--dport', '53', '-r', '10.244.1.6']],
];
