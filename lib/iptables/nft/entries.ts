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
  /** The blob's rules as the encoder reads them in place (encode.ts RuleEncoder.ruleAt). */
  blob: RuleBlob;
}

/**
 * A compiled blob for reading rules in place: `nameAt(start)` is where the NUL-terminated name
 * of the user chain whose rules start at `start` (a jump's verdict) is in `b`, or -1.
 */
export interface RuleBlob {
  family: Family;
  b: Buffer;
  nameAt(start: number): number;
}

/**
 * One rule as a blob of its own (its ipt_entry / ip6t_entry, matches, target; a jump's chain
 * name after the entry): for the encoder, which reads rules in place.
 * @example const { blob, off } = entryBlob(4, readEntries(4, raw)[0].rules[0]);
 */
export function entryBlob(family: Family, e: Entry): { blob: RuleBlob; off: number } {
  const L = LAYOUT[family];
  const a = e.action;
  let size = L.size;
  for (const m of e.matches) size += HEADER + m.data.length;
  const tOff = size;
  size += a.kind === 'target' ? HEADER + a.target.data.length : HEADER + 8;
  const name = a.kind === 'jump' ? Buffer.from(`${a.chain}\0`, 'latin1') : undefined;
  // a jump's verdict: past the entry (not its end, which means fall through), where its name is
  const jumpAt = size + 8;
  const b = Buffer.alloc(jumpAt + (name?.length ?? 0));
  const ip = e.ip;
  ip.src.copy(b, L.src); ip.dst.copy(b, L.dst); ip.smsk.copy(b, L.smsk); ip.dmsk.copy(b, L.dmsk);
  b.write(ip.iniface, L.iniface, 16, 'latin1');
  b.write(ip.outiface, L.outiface, 16, 'latin1');
  b.writeUInt16LE(ip.proto, L.proto);
  b[L.flags] = ip.flags;
  b[L.invflags] = ip.invflags;
  b.writeUInt16LE(tOff, L.targetOffset);
  b.writeUInt16LE(size, L.nextOffset);
  b.writeBigUInt64LE(e.packets, L.counters);
  b.writeBigUInt64LE(e.bytes, L.counters + 8);
  const xtAt = (at: number, x: XtBlob) => {
    b.writeUInt16LE(HEADER + x.data.length, at);
    b.write(x.name, at + 2, 28, 'latin1');
    b[at + 31] = x.revision;
    x.data.copy(b, at + HEADER);
  };
  let at = L.size;
  for (const m of e.matches) { xtAt(at, m); at += HEADER + m.data.length; }
  if (a.kind === 'target') xtAt(tOff, a.target);
  else {
    b.writeUInt16LE(HEADER + 8, tOff);
    const v = a.kind === 'none' ? size : a.kind === 'jump' ? jumpAt : STANDARD[a.verdict];
    b.writeInt32LE(v, tOff + HEADER);
    if (name) name.copy(b, jumpAt);
  }
  return { blob: { family, b, nameAt: (start) => (name && start === jumpAt ? jumpAt : -1) }, off: 0 };
}

const STANDARD = { ACCEPT: -2, DROP: -1, RETURN: -5, QUEUE: -4 } as const;

/** The built-in chains' names by hook number. */
export const HOOK_NAMES = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] as const;

/**
 * A blob's chains in typed arrays, no object or string per chain (60k chains at 20k kube-proxy
 * services: what restore.ts encodes from). Chain i: `hook[i]` (-1: a user chain, its
 * NUL-terminated name at `b[nameOf[i]]`), its rules' offsets `rules[ruleStart[i] .. ruleStart[i + 1])`,
 * a built-in chain's policy entry at `policyAt[i]`.
 */
export interface BlobChains {
  blob: RuleBlob;
  count: number;
  hook: Int8Array;
  nameOf: Int32Array;
  policyAt: Int32Array;
  ruleStart: Int32Array;
  rules: Int32Array;
}

/**
 * The chains of a blob in blob order (built-ins in hook order, then user chains) as typed arrays.
 * @example const ix = indexBlob(4, compiled); ix.rules.subarray(ix.ruleStart[0], ix.ruleStart[1]);
 */
export function indexBlob(family: Family, t: RawTableLike): BlobChains {
  const L = LAYOUT[family];
  const b = Buffer.from(t.entries.buffer, t.entries.byteOffset, t.entries.byteLength);
  const hookAt = new Int32Array(5).fill(-1), underflow = new Int32Array(5).fill(-1);
  for (let h = 0; h < 5; h++) {
    if (t.validHooks & (1 << h)) {
      hookAt[h] = t.hookEntry[h]!;
      underflow[h] = t.underflow[h]!;
    }
  }
  const u16 = (at: number) => b[at]! | (b[at + 1]! << 8);
  // the target's name starts 2 bytes into xt_entry_target; "ERROR" opens a user chain
  const isError = (off: number) => {
    const n = off + u16(off + L.targetOffset) + 2;
    return b[n] === 0x45 && b[n + 1] === 0x52 && b[n + 2] === 0x52 && b[n + 3] === 0x4f && b[n + 4] === 0x52 && b[n + 5] === 0;
  };
  const isStandard = (off: number) => b[off + u16(off + L.targetOffset) + 2] === 0;
  const verdictAt = (off: number) => b.readInt32LE(off + u16(off + L.targetOffset) + HEADER);
  // Sized once for the most entries the blob can hold (the smallest is an entry with a standard
  // target): no growth path, which the JIT would meet only at a size it had not seen and leave
  // its optimized code for (a deoptimization and a recompile in the first large restore). The
  // arrays are zero-filled lazily by the kernel: only what is written costs.
  const most = Math.floor(b.length / (L.size + HEADER + 8)) + 1;
  let count = 0, nrules = 0;
  const hook = new Int8Array(most), nameOf = new Int32Array(most), policyAt = new Int32Array(most), ruleStart = new Int32Array(most + 1);
  const rules = new Int32Array(most);
  // user chains' starts (where their rules begin: a jump's verdict) and names, in blob order,
  // so ascending: a jump's chain by binary search (no Map of 60k chains at 20k services)
  let users = 0;
  const userStart = new Int32Array(most), userName = new Int32Array(most);
  const open = (h: number, name: number) => {
    hook[count] = h; nameOf[count] = name; policyAt[count] = -1; ruleStart[count] = nrules;
    count++;
  };
  for (let off = 0; off < b.length;) {
    const next = u16(off + L.nextOffset);
    if (next === 0) throw new Error(`entry at ${off} has size 0`);
    for (let h = 0; h < 5; h++) if (hookAt[h] === off) open(h, -1);
    if (isError(off)) {
      if (off + next < b.length) {
        const at = off + u16(off + L.targetOffset) + HEADER;
        userStart[users] = off + next;
        userName[users++] = at;
        open(-1, at);
      }
      off += next;
      continue;
    }
    if (!count) throw new Error(`entry at ${off} is outside any chain`);
    const c = count - 1, h = hook[c]!;
    if (h >= 0 && underflow[h] === off) {
      policyAt[c] = off;
      off += next;
      continue;
    }
    // a user chain's closing RETURN is the entry just before an ERROR entry (the next
    // chain's head or the table's end): a rule is always followed by another rule or a foot
    if (h < 0 && off + next < b.length && isStandard(off) && verdictAt(off) === -5 && isError(off + next)) {
      off += next;
      continue;
    }
    rules[nrules++] = off;
    off += next;
  }
  ruleStart[count] = nrules;
  const starts = userStart, names = userName;
  const nameAt = (start: number): number => {
    let lo = 0, hi = users - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1, v = starts[mid]!;
      if (v === start) return names[mid]!;
      if (v < start) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  };
  return {
    blob: { family, b, nameAt }, count, hook: hook.subarray(0, count), nameOf: nameOf.subarray(0, count),
    policyAt: policyAt.subarray(0, count), ruleStart: ruleStart.subarray(0, count + 1), rules: rules.subarray(0, nrules),
  };
}

/**
 * A chain's name in the blob's index: a built-in chain's hook name, or the user chain's name as
 * its ERROR entry holds it (latin1).
 * @example chainName(ix, 0); // 'PREROUTING'
 */
export function chainName(ix: BlobChains, i: number): string {
  const h = ix.hook[i]!;
  return h >= 0 ? HOOK_NAMES[h]! : cstr(ix.blob.b, ix.nameOf[i]!, 30);
}

/**
 * The chains of a table in blob order (built-ins in hook order, then user chains) with their
 * rules' offsets; `entry(off)` reads one rule, its jump resolved to its chain's name.
 * @example const { chains, entry } = indexEntries(4, compiled); entry(chains[0].rules[0]!).action;
 */
export function indexEntries(family: Family, t: RawTableLike): EntryIndex {
  const L = LAYOUT[family];
  const ix = indexBlob(family, t);
  const b = ix.blob.b;
  const chains: IndexedChain[] = [];
  for (let i = 0; i < ix.count; i++) {
    const name = chainName(ix, i), h = ix.hook[i]!, p = ix.policyAt[i]!;
    const c: IndexedChain = { name, packets: 0n, bytes: 0n, rules: Array.from(ix.rules.subarray(ix.ruleStart[i]!, ix.ruleStart[i + 1]!)) };
    if (h >= 0) c.hook = h;
    if (p >= 0) {
      const tOff = p + b.readUInt16LE(p + L.targetOffset);
      c.policy = b[tOff + 2] === 0 && b.readInt32LE(tOff + HEADER) === -1 ? 'DROP' : 'ACCEPT';
      c.packets = b.readBigUInt64LE(p + L.counters);
      c.bytes = b.readBigUInt64LE(p + L.counters + 8);
    }
    chains.push(c);
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
          const at = ix.blob.nameAt(verdict);
          const chain = at < 0 ? undefined : cstr(b, at, 30);
          if (chain === undefined) throw new Error(`rule at ${off} jumps to ${verdict}, which starts no chain`);
          jumpsTo.set(key, a = { kind: 'jump', chain, goto });
        }
        action = a;
      }
    }
    return { ip, matches, action, packets, bytes };
  };
  return { chains, entry, blob: ix.blob };
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
