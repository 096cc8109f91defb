// ct expectation and synproxy objects (NFT_OBJECT_CT_EXPECT, NFT_OBJECT_SYNPROXY) as nft 1.0.6
// sends (libnftnl obj/ct_expect.c, obj/synproxy.c), lists (json.c) and prints (rule.c) them;
// objects.ts dispatches to these. secmark objects stay refused: the test kernel answers ENOENT
// to nft's own `add secmark` (no LSM context to resolve), so nothing can be checked against it.
import { be32 } from './attrs.js';
import { durationMs, timeText } from './duration.js';
import { invalid } from './errors.js';
import { exprData, uint, type TextCtx } from './ext.js';

const EXPECT = { L3PROTO: 1, L4PROTO: 2, DPORT: 3, TIMEOUT: 4, SIZE: 5 } as const;
const SYNPROXY = { MSS: 1, WSCALE: 2, FLAGS: 3 } as const;
/** NF_SYNPROXY_OPT_*: nft sets MSS and WSCALE itself; the JSON names the other two. */
const SYN_OPT = { mss: 1, wscale: 2, 'sack-perm': 4, timestamp: 8 } as const;
const L3: Record<string, number> = { ip: 2, ip6: 10 };
const L4: Record<string, number> = { tcp: 6, udp: 17, dccp: 33, sctp: 132 };
const name = (m: Record<string, number>, v: number | undefined): string | undefined => Object.keys(m).find((k) => m[k] === v);

/**
 * The properties each kind takes (besides family, table, name, handle, comment).
 * @example EXTRA_KEYS.synproxy // ['mss', 'wscale', 'flags']
 */
export const EXTRA_KEYS: Record<string, string[]> = {
  'ct expectation': ['protocol', 'dport', 'timeout', 'size', 'l3proto'],
  synproxy: ['mss', 'wscale', 'flags'],
};

/**
 * NFTA_OBJ_DATA of a ct expectation or synproxy object.
 * @example extraData('synproxy', { mss: 1460, wscale: 7 }, 'inet', 'commands[1].add.synproxy')
 */
export function extraData(kind: string, o: Record<string, unknown>, family: string, where: string): Buffer {
  if (kind === 'ct expectation') {
    const l4 = typeof o.protocol === 'string' ? L4[o.protocol] : undefined;
    if (l4 === undefined) throw invalid(`${where}.protocol`, `must be one of ${Object.keys(L4).join(', ')}`);
    const l3 = L3[String(o.l3proto ?? family)];
    if (l3 === undefined) throw invalid(`${where}.l3proto`, 'must be ip or ip6 (required in inet tables)');
    const dport = uint(o.dport, `${where}.dport`, 0xffff, invalid);
    if (dport === undefined) throw invalid(`${where}.dport`, 'is required');
    const timeout = uint(o.timeout, `${where}.timeout`, 0xffffffff, invalid) ?? 0;
    const size = uint(o.size, `${where}.size`, 255, invalid) ?? 0;
    return exprData((w) => {
      w.be16(EXPECT.L3PROTO, l3); w.u8(EXPECT.L4PROTO, l4); w.be16(EXPECT.DPORT, dport);
      // libnftnl writes the timeout (ms) in host order.
      const t = Buffer.alloc(4); t.writeUInt32LE(timeout); w.bytes(EXPECT.TIMEOUT, t);
      w.u8(EXPECT.SIZE, size);
    });
  }
  const mss = uint(o.mss, `${where}.mss`, 0xffff, invalid);
  const wscale = uint(o.wscale, `${where}.wscale`, 14, invalid);
  const flags = ([] as unknown[]).concat(o.flags ?? []);
  let bits = (mss !== undefined ? SYN_OPT.mss : 0) | (wscale !== undefined ? SYN_OPT.wscale : 0);
  flags.forEach((f, i) => {
    if (f !== 'timestamp' && f !== 'sack-perm') throw invalid(`${where}.flags[${i}]`, 'must be "timestamp" or "sack-perm"');
    bits |= SYN_OPT[f];
  });
  return exprData((w) => {
    if (mss !== undefined) w.be16(SYNPROXY.MSS, mss);
    if (wscale !== undefined) w.u8(SYNPROXY.WSCALE, wscale);
    w.be32(SYNPROXY.FLAGS, bits);
  });
}

/**
 * A NEWOBJ reply's data as nft -j list shows it (into `o`); `refuse` for a value nlkit cannot name.
 * @example extraJson('synproxy', attrMap(data), o, refuse) // o: { ..., mss: 1460, wscale: 7, flags: ['timestamp'] }
 */
export function extraJson(kind: string, d: Map<number, Buffer>, o: Record<string, unknown>, refuse: (what: string) => never): void {
  if (kind === 'ct expectation') {
    o.protocol = name(L4, d.get(EXPECT.L4PROTO)?.[0]) ?? refuse(`ct expectation ${String(o.name)} for protocol ${d.get(EXPECT.L4PROTO)?.[0]}`);
    o.dport = d.get(EXPECT.DPORT)?.readUInt16BE(0) ?? 0;
    o.timeout = d.get(EXPECT.TIMEOUT)?.readUInt32LE(0) ?? 0;
    o.size = d.get(EXPECT.SIZE)?.[0] ?? 0;
    o.l3proto = name(L3, d.get(EXPECT.L3PROTO)?.readUInt16BE(0)) ?? refuse(`ct expectation ${String(o.name)} for family ${d.get(EXPECT.L3PROTO)?.readUInt16BE(0)}`);
    return;
  }
  const bits = be32(d.get(SYNPROXY.FLAGS)) ?? 0;
  if (bits & ~15) refuse(`synproxy ${String(o.name)} with flags 0x${bits.toString(16)}`);
  o.mss = d.get(SYNPROXY.MSS)?.readUInt16BE(0) ?? 0;
  o.wscale = d.get(SYNPROXY.WSCALE)?.[0] ?? 0;
  const flags = (['timestamp', 'sack-perm'] as const).filter((f) => bits & SYN_OPT[f]);
  if (flags.length) o.flags = flags;
}

/**
 * The lines of a ct expectation or synproxy object in nft's listing (inside its braces).
 * @example extraText('synproxy', { mss: 1460, wscale: 7, flags: ['timestamp'] }) // '\t\tmss 1460\n\t\twscale 7\n\t\ttimestamp\n'
 */
export function extraText(kind: string, o: Record<string, unknown>): string {
  if (kind === 'ct expectation') {
    return `\t\tprotocol ${String(o.protocol)}\n\t\tdport ${String(o.dport)}\n\t\ttimeout ${timeText(Number(o.timeout))}\n\t\tsize ${String(o.size)}\n\t\tl3proto ${String(o.l3proto)}\n`;
  }
  const flags = ([] as string[]).concat((o.flags as string[] | undefined) ?? []);
  return `\t\tmss ${String(o.mss)}\n\t\twscale ${String(o.wscale)}\n${flags.length ? `\t\t${flags.join(' ')}\n` : ''}`;
}

/**
 * One line of a ct expectation or synproxy object's body in nft's text (the cursor on its first
 * word), into `o`; false when the word is not one of theirs.
 * @example extraBodyLine(p, 'synproxy', o) // reads `mss 1460`
 */
export function extraBodyLine(p: TextCtx, kind: string, o: Record<string, unknown>): boolean {
  const t = p.peek();
  const num = (what: string) => { const n = p.next(); if (!/^\d+$/.test(n.v)) p.unexpected(n, what); return Number(n.v); };
  if (kind === 'ct expectation') {
    if (t.v === 'protocol' || t.v === 'l3proto') { p.next(); o[t.v] = p.word(t.v === 'protocol' ? 'tcp or udp' : 'ip or ip6'); return true; }
    if (t.v === 'dport' || t.v === 'size') { p.next(); o[t.v] = num('a number'); return true; }
    if (t.v === 'timeout') {
      p.next();
      const d = p.next(), ms = durationMs(d.v);
      if (ms === undefined) p.unexpected(d, 'a time');
      o.timeout = ms;
      return true;
    }
    return false;
  }
  if (t.v === 'mss' || t.v === 'wscale') { p.next(); o[t.v] = num('a number'); return true; }
  if (t.v === 'timestamp' || t.v === 'sack-perm') {
    p.next();
    o.flags = [...((o.flags as string[] | undefined) ?? []), t.v];
    return true;
  }
  return false;
}
