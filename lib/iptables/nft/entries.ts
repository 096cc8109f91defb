// A legacy table's entries blob (IPT_SO_GET_ENTRIES layout: ipt_entry / ip6t_entry + matches
// + target, user chains opened by ERROR targets, built-in chains closed by their policy) read
// into chains and rules. Pure: the blob comes from the native compiler
// (native/iptables/compile_job.cc) or from the kernel.
import type { Family } from '../types.js';

export interface XtBlob {
  name: string;
  revision: number;
  /** The extension's data (u.match_size / u.target_size minus the 32-byte header). */
  data: Buffer;
}

export interface EntryIp {
  src: Buffer; dst: Buffer; smsk: Buffer; dmsk: Buffer;
  iniface: string; outiface: string;
  proto: number; flags: number; invflags: number;
}

/** What a rule does after its matches: a verdict, a jump or goto, an extension target, or nothing. */
export type EntryAction =
  | { kind: 'none' }
  | { kind: 'verdict'; verdict: 'ACCEPT' | 'DROP' | 'RETURN' | 'QUEUE' }
  | { kind: 'jump'; chain: string; goto: boolean }
  | { kind: 'target'; target: XtBlob };

export interface Entry {
  ip: EntryIp;
  matches: XtBlob[];
  action: EntryAction;
  packets: bigint;
  bytes: bigint;
}

export interface EntryChain {
  name: string;
  /** Hook number for built-in chains. */
  hook?: number;
  policy?: 'ACCEPT' | 'DROP';
  packets: bigint;
  bytes: bigint;
  rules: Entry[];
  /** Its rules were not read (readEntries' `only`). */
  skipped?: boolean;
}

export interface RawTableLike {
  table: string;
  validHooks: number;
  hookEntry: number[];
  underflow: number[];
  entries: Uint8Array;
}

/** Offsets within ipt_entry / ip6t_entry (linux/netfilter_ipv4/ip_tables.h, ipv6/ip6_tables.h). */
export const LAYOUT = {
  4: { addr: 4, src: 0, dst: 4, smsk: 8, dmsk: 12, iniface: 16, outiface: 32, proto: 80, flags: 82, invflags: 83, targetOffset: 88, nextOffset: 90, counters: 96, size: 112 },
  6: { addr: 16, src: 0, dst: 16, smsk: 32, dmsk: 48, iniface: 64, outiface: 80, proto: 128, flags: 131, invflags: 132, targetOffset: 140, nextOffset: 142, counters: 152, size: 168 },
} as const;

/** ipt_ip.flags: goto (IPT_F_GOTO 0x02, IP6T_F_GOTO 0x04) and fragment (IPv4 only). */
export const GOTO_FLAG = { 4: 0x02, 6: 0x04 } as const;
export const IPT_F_FRAG = 0x01;
export const INV = { VIA_IN: 0x01, VIA_OUT: 0x02, SRCIP: 0x08, DSTIP: 0x10, FRAG: 0x20, PROTO: 0x40 } as const;

const HEADER = 32;  // xt_entry_match / xt_entry_target: size u16, name[29], revision u8
const VERDICTS: Record<number, 'ACCEPT' | 'DROP' | 'RETURN' | 'QUEUE'> = { [-2]: 'ACCEPT', [-1]: 'DROP', [-5]: 'RETURN', [-4]: 'QUEUE' };

function cstr(b: Buffer, at: number, max: number): string {
  let end = at;
  while (end < at + max && b[end] !== 0) end++;
  return b.toString('latin1', at, end);
}

function xt(b: Buffer, at: number): XtBlob & { size: number } {
  const size = b.readUInt16LE(at);
  return { size, name: cstr(b, at + 2, 29), revision: b[at + 31]!, data: b.subarray(at + HEADER, at + size) };
}

/** A chain of the blob with where its rules start, before any rule is read. */
export interface IndexedChain {
  name: string;
  hook?: number;
  policy?: 'ACCEPT' | 'DROP';
  packets: bigint;
  bytes: bigint;
  /** Offsets of the chain's rules in the blob, for EntryIndex.entry(). */
  rules: number[];
}

/** The chains of a blob, and the reading of one rule at a time (a 160k-rule table need not be held as objects). */
export interface EntryIndex {
  chains: IndexedChain[];
  entry(off: number): Entry;
}

/**
 * The chains of a table in blob order (built-ins in hook order, then user chains) with their
 * rules' offsets; `entry(off)` reads one rule, its jump resolved to its chain's name.
 * @example const { chains, entry } = indexEntries(4, compiled); entry(chains[0].rules[0]!).action;
 */
export function indexEntries(family: Family, t: RawTableLike): EntryIndex {
  const L = LAYOUT[family];
  const b = Buffer.from(t.entries.buffer, t.entries.byteOffset, t.entries.byteLength);
  const hookAt = new Map<number, number>();
  const policyAt = new Set<number>();
  for (let h = 0; h < 5; h++) {
    if (t.validHooks & (1 << h)) {
      hookAt.set(t.hookEntry[h]!, h);
      policyAt.add(t.underflow[h]!);
    }
  }
  // the target's name starts 2 bytes into xt_entry_target; "ERROR" opens a user chain
  const isError = (off: number) => {
    const n = off + b.readUInt16LE(off + L.targetOffset) + 2;
    return b[n] === 0x45 && b[n + 1] === 0x52 && b[n + 2] === 0x52 && b[n + 3] === 0x4f && b[n + 4] === 0x52 && b[n + 5] === 0;
  };
  const isStandard = (off: number) => b[off + b.readUInt16LE(off + L.targetOffset) + 2] === 0;
  const verdictAt = (off: number) => b.readInt32LE(off + b.readUInt16LE(off + L.targetOffset) + HEADER);
  // first pass: where each chain's rules start (jump targets)
  const chainAt = new Map<number, string>();
  const chains: IndexedChain[] = [];
  let cur: IndexedChain | undefined;
  for (let off = 0; off < b.length;) {
    const next = b.readUInt16LE(off + L.nextOffset);
    if (next === 0) throw new Error(`entry at ${off} has size 0`);
    const hook = hookAt.get(off);
    if (hook !== undefined) {
      cur = { name: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'][hook]!, hook, packets: 0n, bytes: 0n, rules: [] };
      chains.push(cur);
    }
    if (isError(off)) {
      if (off + next < b.length) {
        const name = cstr(b, off + b.readUInt16LE(off + L.targetOffset) + HEADER, 30);
        chainAt.set(off + next, name);
        cur = { name, packets: 0n, bytes: 0n, rules: [] };
        chains.push(cur);
      }
      off += next;
      continue;
    }
    if (!cur) throw new Error(`entry at ${off} is outside any chain`);
    if (policyAt.has(off)) {
      cur.policy = isStandard(off) && verdictAt(off) === -1 ? 'DROP' : 'ACCEPT';
      cur.packets = b.readBigUInt64LE(off + L.counters);
      cur.bytes = b.readBigUInt64LE(off + L.counters + 8);
      off += next;
      continue;
    }
    // a user chain's closing RETURN is the entry just before an ERROR entry (the next
    // chain's head or the table's end): a rule is always followed by another rule or a foot
    if (cur.hook === undefined && off + next < b.length && isStandard(off) && verdictAt(off) === -5 && isError(off + next)) {
      off += next;
      continue;
    }
    cur.rules.push(off);
    off += next;
  }
  // What most rules share, made once per index instead of once per rule: an unset address or
  // mask (kube-proxy's rules mostly have none), a verdict, a fall-through, a jump to a chain.
  const zeroAddr = Buffer.alloc(L.addr);
  const addrAt = (at: number) => {
    for (let i = 0; i < L.addr; i++) if (b[at + i] !== 0) return b.subarray(at, at + L.addr);
    return zeroAddr;
  };
  const NONE: EntryAction = { kind: 'none' };
  const verdicts = new Map<number, EntryAction>();
  const jumpsTo = new Map<number, EntryAction>();
  const entry = (off: number): Entry => {
    const next = b.readUInt16LE(off + L.nextOffset);
    const tOff = b.readUInt16LE(off + L.targetOffset);
    const packets = b.readBigUInt64LE(off + L.counters), bytes = b.readBigUInt64LE(off + L.counters + 8);
    const ip: EntryIp = {
      src: addrAt(off + L.src), dst: addrAt(off + L.dst), smsk: addrAt(off + L.smsk), dmsk: addrAt(off + L.dmsk),
      iniface: cstr(b, off + L.iniface, 16), outiface: cstr(b, off + L.outiface, 16),
      proto: b.readUInt16LE(off + L.proto), flags: b[off + L.flags]!, invflags: b[off + L.invflags]!,
    };
    const matches: XtBlob[] = [];
    for (let m = off + L.size; m < off + tOff;) {
      const size = b.readUInt16LE(m);
      if (size < HEADER) throw new Error(`match at ${m} has size ${size}`);
      matches.push({ name: cstr(b, m + 2, 29), revision: b[m + 31]!, data: b.subarray(m + HEADER, m + size) });
      m += size;
    }
    let action: EntryAction;
    // a standard target has the empty name; its data is the verdict
    if (b[off + tOff + 2] !== 0) {
      const tg = xt(b, off + tOff);
      action = { kind: 'target', target: { name: tg.name, revision: tg.revision, data: tg.data } };
    } else {
      const verdict = b.readInt32LE(off + tOff + HEADER);
      if (verdict < 0) {
        action = verdicts.get(verdict) ?? { kind: 'verdict', verdict: VERDICTS[verdict] ?? 'DROP' };
        verdicts.set(verdict, action);
      } else if (verdict === off + next) action = NONE;
      else {
        const goto = (ip.flags & GOTO_FLAG[family]) !== 0;
        const key = goto ? -1 - verdict : verdict;
        let a = jumpsTo.get(key);
        if (!a) {
          const chain = chainAt.get(verdict);
          if (chain === undefined) throw new Error(`rule at ${off} jumps to ${verdict}, which starts no chain`);
          jumpsTo.set(key, a = { kind: 'jump', chain, goto });
        }
        action = a;
      }
    }
    return { ip, matches, action, packets, bytes };
  };
  return { chains, entry };
}

/**
 * The chains of a table in blob order (built-ins in hook order, then user chains), each
 * rule read, its jump resolved to its chain's name. `only`: rules are read for those chains
 * only (the others are listed with `rules` empty and `skipped` set).
 * @example const chains = readEntries(4, compiled); chains[0].name === 'INPUT';
 */
export function readEntries(family: Family, t: RawTableLike, only?: ReadonlySet<string>): EntryChain[] {
  const { chains, entry } = indexEntries(family, t);
  return chains.map((c) => (only && !only.has(c.name) ? { ...c, rules: [], skipped: true } : { ...c, rules: c.rules.map(entry) }));
}
