// iptables tables on the nf_tables backend, read back as iptables-nft-save 1.8.9 reads them
// (iptables/nft-shared.c nft_rule_to_iptables_command_state and the parse_* functions,
// nft-ipv4.c / nft-ipv6.c parse_meta/parse_payload, nft.c and nft-cache.c for tables, chains,
// policies and their order), into the kernel's legacy IPT_SO_GET_ENTRIES layout (struct
// ipt_entry / ip6t_entry, xt match and target blobs, ERROR heads for user chains, policies at
// the underflows): the layout native/iptables prints with libxtables' own save functions.
//
// Where iptables-nft-save 1.8.9 gives up, so does this: a table holding an expression it does
// not know at all prints as the tool's "# Table `x' is incompatible, use 'nft' tool." line.
// Where the tool would fail ("Parsing nftables rule failed"), print a rule other than the one
// the kernel runs (a set lookup it skips, a mask or comparison it ignores), or show a base
// chain that is not iptables' as a fake one, decoding throws UnsupportedError naming the
// table, chain, rule handle and the reason: reported, never printed wrong.
//
// Most rules (every one of kube-proxy's) are decoded by decode-fast.ts straight from the dump
// bytes into their entries; the rest, and every rule with fast: false, by the general decoder
// here (ruleToCs), which is the reference the fast path is tested against.
//
// Pure functions; entries are written in the host's byte order (little-endian hosts, as the
// kernel's structs are).
import { UnsupportedError } from '../../core/errors.js';
import { attrMap, be32, type NlMsg } from '../../nft/attrs.js';
import { MSG } from '../../nft/consts.js';
import { readData } from '../../nft/expr-wire.js';
import type { KExpr } from '../../nft/ir.js';
import type { RawTableSnapshot } from '../../core/native.js';
import { chainNames, DumpChain, DumpReader, DumpRule, PACKED, type NftChain, type NftRule, type NftTable } from './dump-read.js';
import { FastDecoder } from './decode-fast.js';
import { IFNAMSIZ, writeIfname } from './ifname.js';

export type Family = 4 | 6;

/**
 * `fast: false`: every rule through the general decoder (the reference the fast path, on by
 * default, is tested against); `counts`: incremented per rule by the path that decoded it.
 */
export interface DecodeOptions { fast?: boolean; counts?: { fast: number; general: number } }

/** A table read for save(): printable as a legacy blob, or one the tool calls incompatible. */
export type DecodedTable =
  | { name: string; incompatible: false; raw: RawTableSnapshot }
  | { name: string; incompatible: true };

/** The line iptables-nft-save 1.8.9 prints instead of a table it cannot list. */
export const incompatibleLine = (table: string): string => `# Table \`${table}' is incompatible, use 'nft' tool.\n`;

// --- iptables' built-in tables (nft.c xtables_ipv4[], the same for IPv6) ---------------------

interface BuiltinChain { name: string; type: string; prio: number; hook: number }
const PRE = 0, IN = 1, FWD = 2, OUT = 3, POST = 4;
const bc = (name: string, type: string, prio: number, hook: number): BuiltinChain => ({ name, type, prio, hook });
/**
 * In nft.h's enum nft_table_type order (mangle, security, raw, filter, nat): xtables_ipv4[] is
 * indexed by it, and iptables-nft-save prints tables in that order.
 */
export const BUILTIN_TABLES: ReadonlyArray<{ name: string; chains: BuiltinChain[] }> = [
  { name: 'mangle', chains: [bc('PREROUTING', 'filter', -150, PRE), bc('INPUT', 'filter', -150, IN), bc('FORWARD', 'filter', -150, FWD),
    bc('OUTPUT', 'route', -150, OUT), bc('POSTROUTING', 'filter', -150, POST)] },
  { name: 'security', chains: [bc('INPUT', 'filter', 150, IN), bc('FORWARD', 'filter', 150, FWD), bc('OUTPUT', 'filter', 150, OUT)] },
  { name: 'raw', chains: [bc('PREROUTING', 'filter', -300, PRE), bc('OUTPUT', 'filter', -300, OUT)] },
  { name: 'filter', chains: [bc('INPUT', 'filter', 0, IN), bc('FORWARD', 'filter', 0, FWD), bc('OUTPUT', 'filter', 0, OUT)] },
  { name: 'nat', chains: [bc('PREROUTING', 'nat', -100, PRE), bc('INPUT', 'nat', 100, IN), bc('POSTROUTING', 'nat', 100, POST),
    bc('OUTPUT', 'nat', -100, OUT)] },
];

// --- the dump, sorted into tables, chains and rules --------------------------------------------

export type { NftChain, NftRule, NftTable } from './dump-read.js';

const NFPROTO = { 4: 2, 6: 10 } as const;
const TABLE_ORDER = BUILTIN_TABLES.map((t) => t.name);
const KNOWN = new Set(TABLE_ORDER);

/**
 * The tables, chains (in dump order) and rules (in chain order) of `family` in the replies of
 * GETTABLE/GETCHAIN/GETRULE dumps; only tables iptables knows by name.
 * @example const tables = groupDump(splitMessages(reply.data), 4);
 */
export function groupDump(msgs: NlMsg[], family: Family): NftTable[] {
  const r = new DumpReader(NFPROTO[family], KNOWN);
  for (const m of msgs) r.message(m.body, m.type, m.family, 0, m.body.length);
  return r.result(TABLE_ORDER);
}

/**
 * groupDump of the messages in b[from, to), read in place; `more` ranges (of other dumps, e.g.
 * the rules of a second round) are read after it.
 * @example const tables = groupDumpBytes(reply.data, 0, reply.data.length, 4);
 */
export function groupDumpBytes(b: Buffer, from: number, to: number, family: Family, more: Array<[Buffer, number, number]> = []): NftTable[] {
  const r = new DumpReader(NFPROTO[family], KNOWN);
  r.messages(b, from, to);
  for (const [mb, mf, mt] of more) r.messages(mb, mf, mt);
  return r.result(TABLE_ORDER);
}

/**
 * groupDumpBytes of rule replies only, read onto tables already known (their chains, rules
 * empty; they are filled in place).
 * @example const [nat] = groupRulesOnto([slice(model, 'nat', keep)!], reply.data, from, to, 4);
 */
export function groupRulesOnto(tables: NftTable[], b: Buffer, from: number, to: number, family: Family): NftTable[] {
  const r = new DumpReader(NFPROTO[family], KNOWN);
  for (const t of tables) r.seed(t);
  r.messages(b, from, to);
  return r.result(TABLE_ORDER);
}

/**
 * The chains of `family`'s iptables tables (of `table` only, when given) in the replies of a
 * GETCHAIN dump in b[from, to), as [table, chain] in dump order.
 * @example chainsOfDump(reply.data, 0, reply.data.length, 4, 'nat'); // [['nat', 'PREROUTING'], ...]
 */
export function chainsOfDump(b: Buffer, from: number, to: number, family: Family, table?: string): Array<[string, string]> {
  return chainNames(b, from, to, NFPROTO[family], KNOWN, table);
}

// --- nft.c nft_is_expr_compatible ----------------------------------------------------------------

const SUPPORTED = new Set(['match', 'target', 'payload', 'meta', 'cmp', 'bitwise', 'counter', 'immediate', 'lookup', 'range']);
const LIMIT = { RATE: 1, UNIT: 2, BURST: 3, TYPE: 4, FLAGS: 5 } as const;
const LOG = { GROUP: 1, PREFIX: 2, SNAPLEN: 3, QTHRESHOLD: 4 } as const;

/** The expression's kernel name (readExprs renames some it refuses). */
function kernelName(e: KExpr): string {
  switch (e.op) {
    case 'meta_set': return 'meta';
    case 'ct_set': return 'ct';
    case 'unknown':
      if (e.name === 'bitwise shift') return 'bitwise';
      if (e.name === 'lookup flags') return 'lookup';
      if (e.name === 'ct set with direction') return 'ct';
      if (e.name === 'nat range') return 'nat';
      if (e.name === 'masquerade to ports') return 'masq';
      return e.name;
    default: return e.op;
  }
}

/** False for an expression that makes iptables-nft-save 1.8.9 call the whole table incompatible. */
export function compatibleExpr(e: KExpr): boolean {
  const name = kernelName(e);
  if (SUPPORTED.has(name)) return true;
  if (e.op !== 'unknown' || !e.data) return false;
  const d = attrMap(e.data);
  if (name === 'limit') return (be32(d.get(LIMIT.TYPE)) ?? 0) === 0 && (be32(d.get(LIMIT.FLAGS)) ?? 0) === 0;  // NFT_LIMIT_PKTS
  if (name === 'log') return d.has(LOG.GROUP);
  return false;
}

// --- the legacy entry layout ---------------------------------------------------------------------

const XT_ALIGN = (n: number): number => (n + 7) & ~7;
const ENTRY_MATCH = 32;   // struct xt_entry_match / xt_entry_target
const STD_TARGET = 40;    // XT_ALIGN(sizeof(struct xt_standard_target))
const ERROR_TARGET = 64;  // XT_ALIGN(sizeof(struct xt_error_target))

/** Offsets of struct ipt_entry / ip6t_entry and its fields, per family. */
export interface Layout {
  hdr: number; alen: number;
  src: number; dst: number; smsk: number; dmsk: number;
  iniface: number; outiface: number; inmask: number; outmask: number;
  proto: number; flags: number; invflags: number;
  targetOffset: number; nextOffset: number; counters: number;
  gotoFlag: number;
}
const V4: Layout = {
  hdr: 112, alen: 4, src: 0, dst: 4, smsk: 8, dmsk: 12, iniface: 16, outiface: 32, inmask: 48, outmask: 64,
  proto: 80, flags: 82, invflags: 83, targetOffset: 88, nextOffset: 90, counters: 96, gotoFlag: 0x02,
};
const V6: Layout = {
  hdr: 168, alen: 16, src: 0, dst: 16, smsk: 32, dmsk: 48, iniface: 64, outiface: 80, inmask: 96, outmask: 112,
  proto: 128, flags: 131, invflags: 132, targetOffset: 140, nextOffset: 142, counters: 152, gotoFlag: 0x04,
};
const INV = { VIA_IN: 0x01, VIA_OUT: 0x02, SRCIP: 0x08, DSTIP: 0x10, FRAG: 0x20, PROTO: 0x40 } as const;
const IPT_F_FRAG = 0x01;

/** Legacy verdicts of the standard target. */
const STD = { DROP: -1, ACCEPT: -2, RETURN: -5 } as const;

/** `size`: the data's room in the entry when longer than `data` (the rest zeros: a comment's 256 bytes). */
interface Match { name: string; revision: number; data: Buffer; size?: number }
type Target =
  | { kind: 'std'; verdict: number; label: string }
  | { kind: 'module'; name: string; revision: number; data: Buffer };

/** The command state of one rule (iptables' struct iptables_command_state, as far as save uses it). */
interface Cs {
  ip: Buffer;  // an entry header: its ipt_ip / ip6t_ip6 part is filled
  matches: Match[];
  target?: Target;
  jumpto: string;
  pcnt: bigint; bcnt: bigint;
}

// --- registers (nft-shared.h struct nft_xt_ctx_reg) ----------------------------------------------

interface Reg {
  type: 'undef' | 'payload' | 'immediate' | 'meta';
  base: number; offset: number; len: number;
  key: number;
  imm: Buffer;
  bitwise?: { mask: Buffer; xor: Buffer; len: number };
  /** Loaded and not yet compared: iptables would silently drop it. */
  pending: boolean;
}

const EMPTY = Buffer.alloc(0);
const newReg = (): Reg => ({ type: 'undef', base: 0, offset: 0, len: 0, key: 0, imm: EMPTY, pending: false });
/** Zeroed bytes from Node's pool: most are a few dozen bytes, one per rule and match. */
const zeroed = (n: number): Buffer => Buffer.allocUnsafe(n).fill(0);

const CMP = { EQ: 0, NEQ: 1, LT: 2, LTE: 3, GT: 4, GTE: 5 } as const;
const META = { MARK: 3, IIF: 4, OIF: 5, IIFNAME: 6, OIFNAME: 7, NFTRACE: 12, L4PROTO: 16, BRI_IIFNAME: 17, BRI_OIFNAME: 18, PKTTYPE: 19 } as const;
const BASE = { LL: 0, NETWORK: 1, TRANSPORT: 2 } as const;
const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;
const VERDICT = { DROP: 0, ACCEPT: 1, JUMP: -3, GOTO: -4, RETURN: -5 } as const;

class Unprintable extends Error {}
const fail = (why: string): never => { throw new Unprintable(why); };

/** One rule's decoding context (nft-shared.h struct nft_xt_ctx). */
class Ctx {
  /** Made on first use: most rules touch one register. */
  readonly regs: Array<Reg | undefined> = [];
  tcpudp: Match | undefined;
  constructor(readonly fam: Family, readonly L: Layout, readonly cs: Cs) {}

  /** nft_xt_ctx_get_sreg, with its register aliasing. */
  sreg(reg: number): Reg {
    const i = reg <= 4 ? (reg === 0 ? 0 : 1 + (reg - 1) * 4) : reg >= 8 && reg <= 23 ? reg - 8 : -1;
    if (i < 0) return fail('Unknown register requested');
    return (this.regs[i] ??= newReg());
  }

  dreg(reg: number): Reg {
    const r = this.sreg(reg);
    if (r.pending) fail('a value loaded into a register is never compared (iptables would drop it)');
    r.type = 'undef';
    r.bitwise = undefined;
    return r;
  }

  get proto(): number { return this.cs.ip.readUInt16LE(this.L.proto); }
  set proto(v: number) { this.cs.ip.writeUInt16LE(v, this.L.proto); }
  invflag(bit: number): void { this.cs.ip[this.L.invflags]! |= bit; }

  /** nft_create_match: a fresh native match of `size` data bytes. */
  createMatch(name: string, revision: number, size: number): Match {
    const m = { name, revision, data: zeroed(XT_ALIGN(size)) };
    this.cs.matches.push(m);
    return m;
  }

  /** nft_tcp_match / nft_udp_match: one per rule, initialised as tcp_init/udp_init do. */
  tcpOrUdp(name: 'tcp' | 'udp'): Match {
    if (this.tcpudp) {
      if (this.tcpudp.name !== name) fail('both a tcp and a udp port match in one rule');
      return this.tcpudp;
    }
    const m = this.createMatch(name, 0, name === 'tcp' ? 12 : 10);
    m.data.writeUInt16LE(0xffff, 2);  // spts[1]
    m.data.writeUInt16LE(0xffff, 6);  // dpts[1]
    this.tcpudp = m;
    return m;
  }
}

const cmpOp = (e: Extract<KExpr, { op: 'cmp' }>): number => e.cmp;
const eqOrNeq = (e: Extract<KExpr, { op: 'cmp' }>, what: string): boolean => {
  if (e.cmp !== CMP.EQ && e.cmp !== CMP.NEQ) fail(`${what} compared with an operator other than == or != (iptables would read ==)`);
  return e.cmp === CMP.NEQ;
};
const noMask = (r: Reg, what: string): void => {
  if (r.bitwise) fail(`a bitwise mask on ${what}, which iptables would ignore`);
};

function parseCmp(ctx: Ctx, e: Extract<KExpr, { op: 'cmp' }>): void {
  const r = ctx.sreg(e.sreg);
  if (r.bitwise && r.bitwise.xor.some((b) => b !== 0)) fail('a bitwise xor, which iptables ignores');
  const wasPending = r.pending;
  r.pending = false;
  switch (r.type) {
    case 'undef': return fail('cmp sreg undef');
    case 'meta': return parseMeta(ctx, r, e);
    case 'payload':
      // nft writes a port range as >= and <= of one load, which iptables reads into one range.
      if (!wasPending && !(r.base === BASE.TRANSPORT && e.cmp >= CMP.LT)) fail('a second comparison of one loaded value');
      switch (r.base) {
        case BASE.NETWORK: return parsePayload(ctx, r, e);
        case BASE.TRANSPORT: return parseTransport(ctx, r, e);
        default: return fail(`a match on payload base ${r.base}, which iptables would drop`);
      }
    default: return fail('cmp sreg has unknown type');
  }
}

/** nft-shared.c parse_ifname: the name and its mask as xtables_parse_interface makes them. */
function parseIfname(ctx: Ctx, e: Extract<KExpr, { op: 'cmp' }>, nameAt: number, maskAt: number, invbit: number): void {
  const { ip } = ctx.cs;
  const name = e.data;
  const len = name.length;
  if (len > IFNAMSIZ) fail('an interface name longer than IFNAMSIZ');
  const inv = eqOrNeq(e, 'an interface name');
  if (inv) ctx.invflag(invbit);
  if (len === 0) return;
  writeIfname(name, 0, len, ip, nameAt, maskAt);
  // parse_invalid_iface: nft's encoding of "! -i +"
  if (!inv && ip.toString('latin1', nameAt, nameAt + 8) === 'INVAL/D\0') {
    ctx.invflag(invbit);
    ip.fill(0, nameAt, nameAt + IFNAMSIZ);
    ip[nameAt] = 0x2b;
    ip.fill(0, maskAt, maskAt + IFNAMSIZ);
    ip[maskAt] = 0xff;
    ip[maskAt + 1] = 0xff;
  }
}

function parseMeta(ctx: Ctx, r: Reg, e: Extract<KExpr, { op: 'cmp' }>): void {
  const L = ctx.L;
  switch (r.key) {
    case META.L4PROTO:
      noMask(r, 'the layer 4 protocol');
      if (e.data.length !== 1) fail('a layer 4 protocol compared with other than one byte');
      ctx.proto = e.data[0]!;
      if (eqOrNeq(e, 'the layer 4 protocol')) ctx.invflag(INV.PROTO);
      return;
    case META.IIFNAME:
      noMask(r, 'an interface name');
      return parseIfname(ctx, e, L.iniface, L.inmask, INV.VIA_IN);
    case META.OIFNAME:
      noMask(r, 'an interface name');
      return parseIfname(ctx, e, L.outiface, L.outmask, INV.VIA_OUT);
    case META.MARK: {
      if (e.data.length !== 4) fail('a mark compared with other than four bytes');
      const m = ctx.createMatch('mark', 1, 12);
      if (eqOrNeq(e, 'the mark')) m.data[8] = 1;
      m.data.writeUInt32LE(e.data.readUInt32LE(0), 0);
      if (r.bitwise && r.bitwise.len !== 4) fail('a mark mask of other than four bytes');
      m.data.writeUInt32LE(r.bitwise ? r.bitwise.mask.readUInt32LE(0) : 0xffffffff, 4);
      return;
    }
    case META.PKTTYPE: {
      noMask(r, 'the packet type');
      if (e.data.length !== 1) fail('a packet type compared with other than one byte');
      const m = ctx.createMatch('pkttype', 0, 8);
      if (eqOrNeq(e, 'the packet type')) m.data.writeInt32LE(1, 4);
      m.data.writeInt32LE(e.data[0]!, 0);
      return;
    }
    case META.IIF: case META.OIF:
      return fail('an interface by index (meta iif/oif), which iptables prints by the name it has in its own namespace');
    case META.BRI_IIFNAME: case META.BRI_OIFNAME:
      return fail('a bridge port name, which iptables would print as an interface name');
    default:
      return fail(`unknown ipv${ctx.fam} meta key`);
  }
}

/** An address and its mask (prefix: the loaded length; else the bitwise mask) into the header. */
function addr(ctx: Ctx, r: Reg, e: Extract<KExpr, { op: 'cmp' }>, at: number, maskAt: number, invbit: number): void {
  const { L, cs } = ctx;
  if (r.len > L.alen || e.data.length !== r.len || r.len === 0) fail('an address compared with a length other than what was loaded');
  const inv = eqOrNeq(e, 'an address');
  const data = zeroed(L.alen);
  e.data.copy(data, 0, 0, Math.min(e.data.length, L.alen));
  const mask = zeroed(L.alen);
  if (r.bitwise) {
    if (r.bitwise.len !== r.len) fail('an address mask of a length other than the address');
    r.bitwise.mask.copy(mask, 0, 0, Math.min(r.bitwise.mask.length, L.alen));
  } else {
    mask.fill(0xff, 0, r.len);
  }
  // (addr & mask) == data never matches when data has bits outside the mask; iptables would
  // print the address as if it did.
  for (let i = 0; i < L.alen; i++) if (data[i]! & ~mask[i]!) fail('an address with bits outside its mask');
  data.copy(cs.ip, at);
  mask.copy(cs.ip, maskAt);
  if (inv) ctx.invflag(invbit);
}

/** nft-ipv4.c / nft-ipv6.c parse_payload on the network header. */
function parsePayload(ctx: Ctx, r: Reg, e: Extract<KExpr, { op: 'cmp' }>): void {
  const { L, cs } = ctx;
  if (ctx.fam === 4) {
    switch (r.offset) {
      case 12: return addr(ctx, r, e, L.src, L.smsk, INV.SRCIP);
      case 16: return addr(ctx, r, e, L.dst, L.dmsk, INV.DSTIP);
      case 9:
        noMask(r, 'the protocol');
        if (r.len !== 1 || e.data.length !== 1) fail('the protocol field loaded with a length other than one byte');
        ctx.proto = e.data[0]!;
        if (eqOrNeq(e, 'the protocol')) ctx.invflag(INV.PROTO);
        return;
      case 6: {
        // nft-ipv4.c get_frag: iptables writes frag_off & 0x1fff compared with 0.
        if (r.len !== 2 || !r.bitwise || !r.bitwise.mask.equals(Buffer.from([0x1f, 0xff])) || !e.data.equals(Buffer.alloc(2))) {
          fail('a fragment offset match other than the one iptables writes');
        }
        cs.ip[L.flags]! |= IPT_F_FRAG;
        if (eqOrNeq(e, 'the fragment offset') === false) ctx.invflag(INV.FRAG);
        return;
      }
      case 8: return parseHl(ctx, r, e);
      default: return fail('unknown payload offset');
    }
  }
  switch (r.offset) {
    case 8: return addr(ctx, r, e, L.src, L.smsk, INV.SRCIP);
    case 24: return addr(ctx, r, e, L.dst, L.dmsk, INV.DSTIP);
    case 6: return fail('ip6 nexthdr, which iptables 1.8.9 misreads as a protocol and a hop limit match');
    case 7: return parseHl(ctx, r, e);
    default: return fail('unknown payload offset');
  }
}

/** nft-shared.c nft_parse_hl: ttl (IPv4) or hl (IPv6) match. */
function parseHl(ctx: Ctx, r: Reg, e: Extract<KExpr, { op: 'cmp' }>): void {
  noMask(r, 'the hop limit');
  if (r.len !== 1 || e.data.length !== 1) fail('invalid ttl field match');
  let hl = e.data[0]!;
  let mode: number;
  switch (cmpOp(e)) {
    case CMP.NEQ: mode = 1; break;
    case CMP.EQ: mode = 0; break;
    case CMP.LT: mode = 2; break;
    case CMP.GT: mode = 3; break;
    case CMP.LTE: if (hl === 255) fail('invalid ttl field match'); mode = 2; hl++; break;
    case CMP.GTE: if (hl === 0) fail('invalid ttl field match'); mode = 3; hl--; break;
    default: return fail('invalid ttl field match');
  }
  // struct ipt_ttl_info { mode, ttl } and ip6t_hl_info { mode, hop_limit } have one layout.
  const m = ctx.createMatch(ctx.fam === 4 ? 'ttl' : 'hl', 0, 2);
  m.data[0] = mode;
  m.data[1] = hl;
}

/** The layer 4 protocol the ports belong to, as nft_parse_transport reads it. */
function l4proto(ctx: Ctx): number {
  if (ctx.cs.ip[ctx.L.invflags]! & INV.PROTO) fail('a port match under an inverted protocol');
  return ctx.proto;
}

/** port_match_single_to_range: one comparison of one port into [lo, hi]. */
function portToRange(m: Match, at: number, invbit: number, op: number, port: number): void {
  const d = m.data;
  switch (op) {
    case CMP.NEQ: d[invAt(m)]! |= invbit; d.writeUInt16LE(port, at); d.writeUInt16LE(port, at + 2); return;
    case CMP.EQ: d.writeUInt16LE(port, at); d.writeUInt16LE(port, at + 2); return;
    case CMP.LT: if (port <= 1) fail('a port below 0 or 1, which iptables prints as a range'); d.writeUInt16LE(port - 1, at + 2); return;
    case CMP.LTE: d.writeUInt16LE(port, at + 2); return;
    case CMP.GT: if (port === 0xffff) fail('a port above 65535, which iptables prints as 65535'); d.writeUInt16LE(port + 1, at); return;
    case CMP.GTE: d.writeUInt16LE(port, at); return;
    default: fail(`cmp operator ${op}`);
  }
}

// xt_tcp { spts[2], dpts[2], option, flg_mask, flg_cmp, invflags }; xt_udp { spts[2], dpts[2], invflags }
const SPTS = 0, DPTS = 4;
const invAt = (m: Match): number => (m.name === 'tcp' ? 11 : 8);

/** nft-shared.c nft_parse_transport. */
function parseTransport(ctx: Ctx, r: Reg, e: Extract<KExpr, { op: 'cmp' }>): void {
  const proto = l4proto(ctx);
  const op = cmpOp(e);
  const len = e.data.length;
  if (proto === IPPROTO.ICMP || proto === IPPROTO.ICMPV6) return parseIcmp(ctx, r, e);
  if (proto !== IPPROTO.TCP && proto !== IPPROTO.UDP) fail('unsupported layer 4 protocol value');
  const name = proto === IPPROTO.TCP ? 'tcp' : 'udp';
  if (r.offset === 13) {
    if (len !== 1 || proto !== IPPROTO.TCP || r.len !== 1) fail('a tcp flags match other than the one iptables writes');
    if (r.bitwise && r.bitwise.len !== 1) fail('a tcp flags mask of other than one byte');
    const inv = eqOrNeq(e, 'tcp flags');
    const m = ctx.tcpOrUdp('tcp');
    if (inv) m.data[11]! |= 0x04;  // XT_TCP_INV_FLAGS
    m.data[10] = e.data[0]!;       // flg_cmp
    m.data[9] = r.bitwise ? r.bitwise.mask[0]! : 0xff;  // flg_mask
    return;
  }
  noMask(r, 'a port');
  if (r.len !== len) fail('a port compared with a length other than what was loaded');
  if (r.offset === 0 && len === 4) {
    const inv = eqOrNeq(e, 'both ports');
    const m = ctx.tcpOrUdp(name);
    portToRange(m, SPTS, 0x01, inv ? CMP.NEQ : CMP.EQ, e.data.readUInt16BE(0));
    portToRange(m, DPTS, 0x02, inv ? CMP.NEQ : CMP.EQ, e.data.readUInt16BE(2));
    return;
  }
  if ((r.offset === 0 || r.offset === 2) && len === 2) {
    portToRange(ctx.tcpOrUdp(name), r.offset === 0 ? SPTS : DPTS, r.offset === 0 ? 0x01 : 0x02, op, e.data.readUInt16BE(0));
    return;
  }
  fail('a transport header match iptables would drop');
}

/** nft-shared.c nft_parse_icmp. */
function parseIcmp(ctx: Ctx, r: Reg, e: Extract<KExpr, { op: 'cmp' }>): void {
  noMask(r, 'an icmp field');
  if (e.cmp !== CMP.EQ) fail('an icmp field compared with other than ==, which iptables would print as ==');
  let type = 0xff;
  let code = [0, 0xff];
  let data = e.data;
  if (data.length < 1) fail('unexpected RHS data length');
  switch (r.offset) {
    case 0:
      type = data[0]!;
      if (data.length === 1) break;
      data = data.subarray(1);
      // fall through
    case 1:
      if (data.length > 1) fail('unexpected RHS data length');
      code = [data[0]!, data[0]!];
      break;
    default: fail('unexpected payload offset');
  }
  if (ctx.fam === 6 && type === 0xff) fail('icmp6 code with any type match not supported');
  const m = ctx.createMatch(ctx.fam === 4 ? 'icmp' : 'icmp6', 0, 4);
  m.data[0] = type;
  m.data[1] = code[0]!;
  m.data[2] = code[1]!;
}

/** nft-shared.c nft_parse_transport_range: a port range. */
function parseRange(ctx: Ctx, e: Extract<KExpr, { op: 'range' }>): void {
  const r = ctx.sreg(e.sreg);
  if (r.type !== 'payload' || r.base !== BASE.TRANSPORT) fail(r.type === 'undef' ? 'range sreg undef' : 'range with unknown payload base');
  r.pending = false;
  noMask(r, 'a port range');
  const op = e.rop, from = e.from, to = e.to;
  if (from.length !== 2 || to.length !== 2 || r.len !== 2 || (r.offset !== 0 && r.offset !== 2)) fail('a range iptables would drop');
  if (op !== 0 && op !== 1) fail(`range operator ${op}`);
  const proto = l4proto(ctx);
  if (proto !== IPPROTO.TCP && proto !== IPPROTO.UDP) fail('a port range of a protocol other than tcp or udp, which iptables would drop');
  const m = ctx.tcpOrUdp(proto === IPPROTO.TCP ? 'tcp' : 'udp');
  const at = r.offset === 0 ? SPTS : DPTS;
  if (op === 1) m.data[invAt(m)]! |= r.offset === 0 ? 0x01 : 0x02;
  m.data.writeUInt16LE(from.readUInt16BE(0), at);
  m.data.writeUInt16LE(to.readUInt16BE(0), at + 2);
}

function setTarget(ctx: Ctx, t: Target | undefined, jumpto: string): void {
  if (ctx.cs.target || ctx.cs.jumpto) fail('more than one verdict or target in one rule');
  if (t) ctx.cs.target = t;
  ctx.cs.jumpto = jumpto;
}

function parseImmediate(ctx: Ctx, e: Extract<KExpr, { op: 'immediate' }>): void {
  if (!e.verdict) {
    const r = ctx.dreg(e.dreg);
    if ((e.data?.length ?? 0) > 16) fail('oversized immediate data');
    r.imm = e.data ?? Buffer.alloc(0);
    r.type = 'immediate';
    return;
  }
  const code = e.verdict.code | 0;
  switch (code) {
    case VERDICT.ACCEPT: return setTarget(ctx, { kind: 'std', verdict: STD.ACCEPT, label: 'ACCEPT' }, 'ACCEPT');
    case VERDICT.DROP: return setTarget(ctx, { kind: 'std', verdict: STD.DROP, label: 'DROP' }, 'DROP');
    case VERDICT.RETURN: return setTarget(ctx, { kind: 'std', verdict: STD.RETURN, label: 'RETURN' }, 'RETURN');
    case VERDICT.GOTO:
    case VERDICT.JUMP:
      if (!e.verdict.chain) fail('a jump without a chain');
      if (code === VERDICT.GOTO) ctx.cs.ip[ctx.L.flags]! |= ctx.L.gotoFlag;
      return setTarget(ctx, undefined, e.verdict.chain!);
    default:
      return fail(`verdict ${code}, which iptables would leave out`);
  }
}

function parseMetaSet(ctx: Ctx, e: Extract<KExpr, { op: 'meta_set' }>): void {
  const r = ctx.sreg(e.sreg);
  if (e.key !== META.NFTRACE) fail('meta sreg key not supported');
  if (r.type !== 'immediate') fail('meta nftrace but reg not immediate');
  if (r.imm[0] === 0) fail('trace is cleared');
  setTarget(ctx, { kind: 'module', name: 'TRACE', revision: 0, data: Buffer.alloc(0) }, 'TRACE');
}

/** Names of the extensions iptables-nft leaves as compat expressions, by their bytes: no string per rule for them. */
const XT_NAMES = ['DNAT', 'SNAT', 'MASQUERADE', 'MARK', 'REJECT', 'statistic', 'addrtype', 'comment', 'conntrack', 'recent', 'set', 'multiport', 'physdev']
  .map((n) => ({ name: n, bytes: Buffer.from(n) }));

function xtName(b: Buffer, from: number, to: number): string {
  const n = to - from;
  for (const x of XT_NAMES) {
    if (x.bytes.length !== n) continue;
    let i = 0;
    while (i < n && b[from + i] === x.bytes[i]) i++;
    if (i === n) return x.name;
  }
  return b.toString('utf8', from, to);
}

/** nft_parse_match / nft_parse_target: the xt blob as the kernel dumps it (already XT_ALIGNed). */
function compat(e: Extract<KExpr, { op: 'unknown' }>): { name: string; revision: number; data: Buffer } {
  // NFTA_MATCH_NAME / _REV / _INFO (NFTA_TARGET_* alike), read in place: one per match and target.
  const b = e.data!;
  let name = '', revision = 0, data: Buffer = EMPTY;
  for (let p = 0; p + 4 <= b.length;) {
    const len = b.readUInt16LE(p);
    if (len < 4 || p + len > b.length) break;
    const t = b.readUInt16LE(p + 2) & 0x3fff;
    if (t === 1) {
      const z = b.indexOf(0, p + 4);
      name = xtName(b, p + 4, z >= 0 && z < p + len ? z : p + len);
    } else if (t === 2) {
      revision = len >= 8 ? b.readUInt32BE(p + 4) : 0;
    } else if (t === 3) {
      data = b.subarray(p + 4, p + len);
    }
    p += (len + 3) & ~3;
  }
  if (!name || Buffer.byteLength(name) > 28) fail(`a ${e.name} with an invalid name`);
  return { name, revision, data };
}

/** nft_parse_limit: the limit match from nft's limit expression. */
function parseLimit(ctx: Ctx, e: Extract<KExpr, { op: 'unknown' }>): void {
  const d = attrMap(e.data!);
  const rate = d.get(LIMIT.RATE)?.readBigUInt64BE(0) ?? 0n;
  const unit = d.get(LIMIT.UNIT)?.readBigUInt64BE(0) ?? 0n;
  if (rate === 0n) fail('a limit of rate 0');
  const m = ctx.createMatch('limit', 0, 40);
  m.data.writeUInt32LE(Number(((10000n * unit) / rate) & 0xffffffffn), 0);  // avg = XT_LIMIT_SCALE * unit / rate
  m.data.writeUInt32LE(be32(d.get(LIMIT.BURST)) ?? 0, 4);
}

/** nft_parse_log: NFLOG with nft's longer prefix (struct xt_nflog_info with a 128-byte prefix). */
function parseLog(ctx: Ctx, e: Extract<KExpr, { op: 'unknown' }>): void {
  const d = attrMap(e.data!);
  const info = Buffer.alloc(XT_ALIGN(12 + 128));
  const snap = d.get(LOG.SNAPLEN);
  if (snap) {
    info.writeUInt32LE(snap.readUInt32BE(0), 0);
    info.writeUInt16LE(1, 8);  // XT_NFLOG_F_COPY_LEN
  }
  info.writeUInt16LE(d.get(LOG.GROUP)?.readUInt16BE(0) ?? 0, 4);
  info.writeUInt16LE(d.get(LOG.QTHRESHOLD)?.readUInt16BE(0) ?? 0, 6);
  const prefix = d.get(LOG.PREFIX);
  if (prefix) {
    const z = prefix.indexOf(0);
    prefix.copy(info, 12, 0, Math.min(z >= 0 ? z : prefix.length, 127));
  }
  setTarget(ctx, { kind: 'module', name: 'NFLOG', revision: 0, data: info }, 'NFLOG');
}

/** The comment iptables-nft keeps in the rule's user data (nft.c get_comment), else undefined. */
export function udataComment(b: Buffer | undefined): Buffer | undefined {
  if (!b) return undefined;
  let comment: Buffer | undefined;
  // nftnl_udata_parse: a record past the end, or a comment without its NUL, ends it with no comment.
  for (let p = 0; p < b.length;) {
    if (p + 2 > b.length) return undefined;
    const type = b[p]!, len = b[p + 1]!;
    if (p + 2 + len > b.length) return undefined;
    const v = b.subarray(p + 2, p + 2 + len);
    if (type === 0) {
      if (len === 0 || v[len - 1] !== 0) return undefined;
      comment = v.subarray(0, v.indexOf(0));
    }
    p += 2 + len;
  }
  return comment;
}

/**
 * One rule's expressions as iptables-nft-save 1.8.9 reads them (nft_rule_to_iptables_command_state).
 * Throws Unprintable where the tool would fail or print something else than what the kernel runs.
 */
function ruleToCs(fam: Family, r: NftRule, ip?: Buffer, exprs: KExpr[] = r.exprs): Cs {
  const L = fam === 4 ? V4 : V6;
  const cs: Cs = { ip: ip ? ip.fill(0) : zeroed(L.hdr), matches: [], jumpto: '', pcnt: 0n, bcnt: 0n };
  const ctx = new Ctx(fam, L, cs);
  for (const e of exprs) {
    switch (e.op) {
      case 'counter': cs.pcnt = e.packets ?? 0n; cs.bcnt = e.bytes ?? 0n; break;
      case 'payload': {
        const reg = ctx.dreg(e.dreg);
        reg.type = 'payload';
        reg.base = e.base; reg.offset = e.offset; reg.len = e.len;
        reg.pending = true;
        break;
      }
      case 'meta': {
        const reg = ctx.dreg(e.dreg);
        reg.type = 'meta';
        reg.key = e.key;
        reg.pending = true;
        break;
      }
      case 'meta_set': parseMetaSet(ctx, e); break;
      case 'bitwise': {
        const s = ctx.sreg(e.sreg);
        const d = e.dreg === e.sreg ? s : ctx.sreg(e.dreg);
        if (d !== s) {
          Object.assign(d, { ...s });
          s.pending = false;
        }
        if (e.mask.length > 16 || e.xor.length > 16) fail('bitwise mask too large');
        d.bitwise = { mask: e.mask, xor: e.xor, len: e.len };
        break;
      }
      case 'cmp': parseCmp(ctx, e); break;
      case 'immediate': parseImmediate(ctx, e); break;
      case 'range': parseRange(ctx, e); break;
      case 'lookup': fail('a set lookup, which iptables-nft-save 1.8.9 leaves out of the rule it prints'); break;
      case 'unknown':
        switch (kernelName(e)) {
          case 'match': { const m = compat(e); cs.matches.push(m); break; }
          case 'target': { const t = compat(e); setTarget(ctx, { kind: 'module', ...t }, t.name); break; }
          case 'limit': parseLimit(ctx, e); break;
          case 'log': parseLog(ctx, e); break;
          case 'bitwise': fail('a bitwise shift'); break;
          case 'lookup': fail('a set lookup, which iptables-nft-save 1.8.9 leaves out of the rule it prints'); break;
          default: fail(`expression ${e.name}`);
        }
        break;
      default: fail(`expression ${kernelName(e)}`);
    }
  }
  for (const reg of ctx.regs) if (reg?.pending) fail('a value loaded into a register is never compared (iptables would drop it)');
  const comment = udataComment(r.udata);
  // the comment's bytes as they are, in a 256-byte field (zero-padded where the entry is written)
  if (comment) cs.matches.push({ name: 'comment', revision: 0, data: comment.length > 255 ? comment.subarray(0, 255) : comment, size: 256 });
  return cs;
}

// --- tables ------------------------------------------------------------------------------------------

const STD_LABELS = new Set(['ACCEPT', 'DROP', 'QUEUE', 'RETURN']);

/**
 * One iptables table of the nf_tables dump, decoded as iptables-nft-save 1.8.9 does, as the legacy
 * blob the native printer reads. Throws UnsupportedError for what the tool cannot print right.
 * @example const t = decodeTable(groupDump(msgs, 4)[0], 4); if (!t.incompatible) print(t.raw);
 */
export function decodeTable(table: NftTable | { name: string; chains: [] }, family: Family, op = family === 6 ? 'ip6tables.save' : 'iptables.save', opts: DecodeOptions = {}): DecodedTable {
  const builtin = BUILTIN_TABLES.find((b) => b.name === table.name);
  if (!builtin) throw new UnsupportedError(`${op}: table ${table.name} is not an iptables table`, { op, subsystem: 'iptables' });
  // nft.c nft_is_table_compatible: one expression iptables-nft does not know makes the whole
  // table incompatible, whatever else is wrong with it; checked on each rule's expressions as
  // it is decoded (read once), and over every rule before a report is thrown.
  const incompatible = () => table.chains.some((c) => c.rules.some((r) => !r.exprs.every(compatibleExpr)));
  try {
    return decodeCompatible(table, family, op, opts);
  } catch (e) {
    if (e === INCOMPATIBLE || (e instanceof UnsupportedError && incompatible())) return { name: table.name, incompatible: true };
    throw e;
  }
}

/** Copies src into out at `at`: short blobs (most matches' data) by hand, where set() costs more than the bytes. */
function put(out: Buffer, src: Buffer, at: number): void {
  const n = src.length;
  if (n > 48) out.set(src, at);
  else for (let i = 0; i < n; i++) out[at + i] = src[i]!;
}

const ERROR_NAME = Buffer.from('ERROR');

/** Thrown by decodeCompatible at the first expression iptables-nft does not know. */
const INCOMPATIBLE = new Error('incompatible');

/**
 * A table's chains in the order its blob holds them (TableBlob's blocks, where it can be made):
 * the base chains by hook, then the user chains by their names' bytes, as libiptc sorts them.
 * @example const { base, users } = blobOrder(table); // dump base, then users, and the rules come in blob order
 */
export function blobOrder(table: NftTable | { name: string; chains: [] }): { base: NftChain[]; users: NftChain[] } {
  const base: NftChain[] = [], users: NftChain[] = [];
  for (const c of table.chains) (c.hook === undefined ? users : base).push(c);
  base.sort((x, y) => x.hook! - y.hook!);
  return { base, users: Array.from(byteOrder(users.map((c) => c.name)), (i) => users[i]!) };
}

/** One block of a table's blob: a built-in chain (`hook`; `chain` missing when iptables would fake it) or a user chain. */
export interface BlobBlock { name: string; hook?: number; chain?: NftChain }

/**
 * One table's legacy blob, written in the blob's own order (`blocks`: built-in chains in hook
 * order, then user chains by name) one rule at a time: decodeTable feeds it a whole table read
 * before, save's streaming read (save.ts) each rule while its dump arrives (no rule kept). The
 * chain checks run when it is made. Throws UnsupportedError where iptables-nft-save cannot print
 * right, INCOMPATIBLE at an expression it does not know (decodeTable turns both into its answer).
 * @example
 * const w = new TableBlob(table, 4, 'iptables.save');
 * w.blocks.forEach((b, i) => { w.seek(i); for (const r of b.chain?.rules ?? []) w.rule(r); });
 * const t = w.finish();
 */
export class TableBlob {
  readonly blocks: BlobBlock[] = [];
  private readonly L: Layout;
  private readonly fd: FastDecoder | undefined;
  private readonly counts: DecodeOptions['counts'];
  private readonly users: NftChain[];
  /** made when the general decoder meets its first jump (the fast path finds chains by bytes) */
  private userNames: Set<string> | undefined;
  /** Each rule's header, reused: a rule is written into the blob before the next is decoded. */
  private readonly scratch: Buffer;
  /** The general decoder's reader of expressions in dump bytes (rule()'s bytes form). */
  private reader: DumpReader | undefined;
  // The blob in parts (a new one when a rule does not fit: no copy as it grows; the native
  // printer joins them as it copies them in): `out`, the part being written (zeroed where nothing
  // was written yet: zero counters and padding need no stores), from `base` of the whole on;
  // `off` within it. Offsets in the blob are base + off: the parts end to end.
  private out: Buffer;
  private off = 0;
  private base = 0;
  private readonly parts: Buffer[] = [];
  private num = 0;
  private validHooks = 0;
  /** each block's first entry, by block index (user chain i is block nBuiltin + i) */
  private readonly firstRule: Int32Array;
  private readonly nBuiltin: number;
  // the jumps to patch once every block's first rule has its offset: where, and to which block
  // (two arrays, not a pair per jump); -k: the general decoder's jump to name k - 1 of jumpNames
  private jumpAt: Int32Array;
  private jumpTo: Int32Array;
  private jumps = 0;
  private readonly jumpNames: string[] = [];
  private readonly hookEntry = [0, 0, 0, 0, 0];
  private readonly underflow = [0, 0, 0, 0, 0];
  /** The block being written (-1: none yet; blocks.length: finished). */
  private cur = -1;

  /**
   * `ruleHint`: rules expected, for the first size of the blob (it grows as needed); by default
   * those the chains hold. `order`: blobOrder(table), when the caller has it already.
   */
  constructor(readonly table: NftTable | { name: string; chains: [] }, private readonly family: Family, private readonly op = family === 6 ? 'ip6tables.save' : 'iptables.save',
    opts: DecodeOptions = {}, ruleHint?: number, order = blobOrder(table)) {
    const builtin = BUILTIN_TABLES.find((b) => b.name === table.name);
    if (!builtin) throw new UnsupportedError(`${op}: table ${table.name} is not an iptables table`, { op, subsystem: 'iptables' });
    const L = this.L = family === 4 ? V4 : V6;
    const fd = this.fd = opts.fast ?? true ? new FastDecoder(L, family) : undefined;
    this.counts = opts.counts;
    // nft-cache.c nft_cache_add_base_chain: base chains that are not iptables' "taint" the table.
    // (the first chain iptables cannot hold is reported, in the dump's order)
    const base = new Map<number, NftChain>();
    for (const c of table.chains) {
      if (c.hook === undefined) {
        if (Buffer.byteLength(c.name) > 29 || STD_LABELS.has(c.name) || c.name === 'ERROR') this.report(`chain ${c.name}`, 'a chain name iptables cannot hold');
        continue;
      }
      const b = builtin.chains.find((x) => x.hook === c.hook);
      if (!b || b.prio !== c.prio || b.name !== c.name || b.type !== c.type || base.has(c.hook)) {
        this.report(`chain ${c.name}`, 'a base chain iptables did not make (iptables-nft-save shows a fake empty chain in its place)');
      }
      base.set(c.hook, c);
    }
    this.users = order.users;
    fd?.chains(this.users.map((c) => c.name));

    // The blob, as libiptc lays it out: built-in chains in hook order (rules, then the policy
    // entry at the underflow), user chains by name (ERROR head, rules, RETURN foot), ERROR end.
    // Each rule is written as soon as it is decoded (nothing per rule outlives it, which keeps the
    // garbage collector's work small at 100k rules); jumps are patched once every chain's first
    // rule has its offset.
    let ruleCount = 0;
    for (const b of [...builtin.chains].sort((x, y) => x.hook - y.hook)) {
      this.validHooks |= 1 << b.hook;
      const c = base.get(b.hook);
      this.blocks.push({ name: b.name, hook: b.hook, chain: c });
      ruleCount += ruleCountOf(c);
    }
    for (const c of this.users) {
      this.blocks.push({ name: c.name, chain: c });
      ruleCount += ruleCountOf(c);
    }
    ruleCount = ruleHint ?? ruleCount;
    this.nBuiltin = this.blocks.length - this.users.length;
    this.firstRule = new Int32Array(this.blocks.length);
    this.jumpAt = new Int32Array(ruleCount + 16);
    this.jumpTo = new Int32Array(ruleCount + 16);
    this.scratch = Buffer.alloc(L.targetOffset);
    const headSize = L.hdr + ERROR_TARGET, footSize = L.hdr + STD_TARGET;
    this.out = Buffer.alloc(this.blocks.length * (headSize + footSize) + headSize + ruleCount * (L.hdr + 640));
  }

  private report(what: string, why: string): never {
    const { op, family } = this;
    throw new UnsupportedError(`${op}: ${family === 6 ? 'ip6' : 'ip'} table ${this.table.name}: ${what}: ${why}; use nft to list it`,
      { op, subsystem: 'iptables', detail: why });
  }

  /** Room for n more bytes at `off` (a new part when the one being written is full). */
  private room(n: number): void {
    if (this.off + n <= this.out.length) return;
    this.parts.push(this.out.subarray(0, this.off));
    this.base += this.off;
    this.out = Buffer.alloc(Math.max(PART, n));
    this.off = 0;
  }

  /** Two bytes in the host's order (writeUInt16LE costs more: 80k chain entries at 20k services). */
  private le16(at: number, v: number): void {
    this.out[at] = v & 0xff;
    this.out[at + 1] = v >> 8;
  }

  private header(ip: Buffer | undefined, targetOffset: number, next: number, pcnt: bigint, bcnt: bigint): void {
    const { L, out, off } = this;
    if (ip) out.set(ip.length === L.targetOffset ? ip : ip.subarray(0, L.targetOffset), off);
    this.le16(off + L.targetOffset, targetOffset);
    this.le16(off + L.nextOffset, next);
    if (pcnt !== 0n) out.writeBigUInt64LE(pcnt, off + L.counters);
    if (bcnt !== 0n) out.writeBigUInt64LE(bcnt, off + L.counters + 8);
  }

  private stdEntry(verdict: number, pcnt = 0n, bcnt = 0n): void {
    const L = this.L, footSize = L.hdr + STD_TARGET;
    this.room(footSize);
    this.header(undefined, L.hdr, footSize, pcnt, bcnt);
    this.le16(this.off + L.hdr, STD_TARGET);
    this.out.writeInt32LE(verdict, this.off + L.hdr + ENTRY_MATCH);
    this.off += footSize;
    this.num++;
  }

  private errorEntry(name: string): void {
    const L = this.L, headSize = L.hdr + ERROR_TARGET;
    this.room(headSize);
    this.header(undefined, L.hdr, headSize, 0n, 0n);
    const out = this.out, off = this.off;
    this.le16(off + L.hdr, ERROR_TARGET);
    for (let i = 0; i < 5; i++) out[off + L.hdr + 2 + i] = ERROR_NAME[i]!;
    // an ASCII name (kube-proxy's) by hand, where write() costs more than its bytes
    const at = off + L.hdr + ENTRY_MATCH;
    let i = 0;
    for (; i < name.length; i++) {
      const ch = name.charCodeAt(i);
      if (ch >= 0x80) break;
      out[at + i] = ch;
    }
    if (i < name.length) out.write(name, at, 'utf8');
    this.off += headSize;
    this.num++;
  }

  /** Closes the open block and opens the next ones up to block `bi` (blocks are written in order). */
  seek(bi: number): void {
    while (this.cur < bi) {
      if (this.cur >= 0) this.close();
      const b = this.blocks[++this.cur];
      if (!b) return;
      const c = b.chain;
      if (b.hook === undefined) this.errorEntry(b.name);
      else {
        this.hookEntry[b.hook] = this.base + this.off;
        if (c?.policy !== undefined && c.policy !== 0 && c.policy !== 1) this.report(`chain ${b.name}`, `policy ${c.policy}`);
      }
      this.firstRule[this.cur] = this.base + this.off;
    }
  }

  private close(): void {
    const b = this.blocks[this.cur]!, c = b.chain;
    if (b.hook !== undefined) {
      this.underflow[b.hook] = this.base + this.off;
      // nft.c nft_chain_save: a missing policy is ACCEPT; a missing chain is faked as ACCEPT [0:0].
      this.stdEntry(c?.policy === 0 ? STD.DROP : STD.ACCEPT, c?.packets ?? 0n, c?.bytes ?? 0n);
    } else {
      this.stdEntry(STD.RETURN);
    }
  }

  private addJump(at: number, to: number): void {
    if (this.jumps === this.jumpAt.length) {
      const a = new Int32Array(this.jumps * 2), t = new Int32Array(this.jumps * 2);
      a.set(this.jumpAt);
      t.set(this.jumpTo);
      this.jumpAt = a;
      this.jumpTo = t;
    }
    this.jumpAt[this.jumps] = at;
    this.jumpTo[this.jumps++] = to;
  }

  /**
   * The open block's next rule, from the dump's bytes: its expressions b[from, to) (from 0: none),
   * handle at handleAt (0: none), user data b[udAt, udAt + udLen) (udAt 0: none).
   */
  bytesRule(b: Buffer, from: number, to: number, handleAt: number, udAt: number, udLen: number): void {
    const fd = this.fd;
    if (fd) {
      // the rule straight from the dump into its entry, when it is one the fast path knows
      const bound = fd.bound(to - from, udLen);
      this.room(bound);
      const n = fd.entry(b, from, to, udAt, udLen, this.out, this.off, this.base);
      if (n > 0) {
        if (fd.jump >= 0) this.addJump(this.base + fd.jumpAt, this.nBuiltin + fd.jump);
        this.off += n;
        this.num++;
        if (this.counts) this.counts.fast++;
        return;
      }
      this.out.fill(0, this.off, this.off + bound);
    }
    this.general(new DumpRule(this.reader ??= new DumpReader(NFPROTO[this.family], KNOWN), b, from, to, handleAt, udAt, udLen));
  }

  /** The open block's next rule. */
  rule(r: NftRule): void {
    if (this.fd && r instanceof DumpRule) this.bytesRule(r.b, r.from, r.to, r.handleAt, r.udAt, r.udLen);
    else this.general(r);
  }

  /** One rule through the general decoder (ruleToCs), written at `off`. */
  private general(r: NftRule): void {
    const L = this.L, c = this.blocks[this.cur]!;
    let cs: Cs;
    try {
      const exprs = r.exprs;
      for (const x of exprs) if (!compatibleExpr(x)) throw INCOMPATIBLE;
      cs = ruleToCs(this.family, r, this.scratch, exprs);
    } catch (e) {
      if (e instanceof Unprintable) return this.report(`chain ${c.name} rule handle ${r.handle}`, e.message);
      throw e;
    }
    let jump: string | undefined;
    if (!cs.target && cs.jumpto) {
      if (!(this.userNames ??= new Set(this.users.map((u) => u.name))).has(cs.jumpto)) this.report(`chain ${c.name} rule handle ${r.handle}`, `a jump to ${cs.jumpto}, not a user-defined chain of the table`);
      jump = cs.jumpto;
    }
    if (this.counts) this.counts.general++;
    const t = cs.target;
    let to = L.hdr;
    for (const m of cs.matches) to += ENTRY_MATCH + (m.size ?? m.data.length);
    const n = to + (t?.kind === 'module' ? ENTRY_MATCH + t.data.length : STD_TARGET);
    this.room(n);
    this.header(cs.ip, to, n, cs.pcnt, cs.bcnt);
    const out = this.out, off = this.off;
    let at = off + L.hdr;
    for (const m of cs.matches) {
      const size = m.size ?? m.data.length;
      out.writeUInt16LE(ENTRY_MATCH + size, at);
      out.write(m.name, at + 2, 'latin1');
      out[at + 31] = m.revision;
      put(out, m.data, at + ENTRY_MATCH);
      at += ENTRY_MATCH + size;
    }
    if (t?.kind === 'module') {
      out.writeUInt16LE(ENTRY_MATCH + t.data.length, at);
      out.write(t.name, at + 2, 'latin1');
      out[at + 31] = t.revision;
      put(out, t.data, at + ENTRY_MATCH);
    } else {
      out.writeUInt16LE(STD_TARGET, at);
      // no target: falls through to the next entry (libiptc's encoding)
      if (!t && jump !== undefined) { this.jumpNames.push(jump); this.addJump(this.base + at + ENTRY_MATCH, -this.jumpNames.length); }
      else out.writeInt32LE(t ? t.verdict : this.base + off + n, at + ENTRY_MATCH);
    }
    this.off += n;
    this.num++;
  }

  /** Closes the blob (every block left, the ERROR end) and patches the jumps: the decoded table. */
  finish(): DecodedTable {
    const { entries, ...rest } = this.finishParts();
    return { name: this.table.name, incompatible: false, raw: { ...rest, entries: entries.length === 1 ? entries[0]! : Buffer.concat(entries) } };
  }

  /** finish(), the blob left in its parts (in order; iptablesPrintRaw takes them so, with no copy here). */
  finishParts(): Omit<RawTableSnapshot, 'entries'> & { entries: Buffer[] } {
    this.seek(this.blocks.length);
    this.errorEntry('ERROR');
    const parts = [...this.parts, this.off === this.out.length ? this.out : this.out.subarray(0, this.off)];
    const { blocks, firstRule, jumpAt, jumpTo, jumpNames } = this;
    let byName: Map<string, number> | undefined;
    // jumps were written in blob order: the part each lies in is found by walking the parts
    let p = 0, start = 0;
    for (let i = 0; i < this.jumps; i++) {
      const to = jumpTo[i]!, at = jumpAt[i]!;
      const bi = to >= 0 ? to : (byName ??= new Map(blocks.map((x, k) => [x.name, k]))).get(jumpNames[-1 - to]!)!;
      while (at >= start + parts[p]!.length) start += parts[p++]!.length;
      parts[p]!.writeInt32LE(firstRule[bi]!, at - start);
    }
    return { table: this.table.name, validHooks: this.validHooks, numEntries: this.num, hookEntry: this.hookEntry, underflow: this.underflow, entries: parts };
  }
}

/** A new part of a blob that outgrew its first (see TableBlob). */
const PART = 8 << 20;

const ruleCountOf = (c: NftChain | undefined): number => c === undefined ? 0 : c instanceof DumpChain ? c.size : c.rules.length;

function decodeCompatible(table: NftTable | { name: string; chains: [] }, family: Family, op: string, opts: DecodeOptions): DecodedTable {
  const w = new TableBlob(table, family, op, opts);
  for (let bi = 0; bi < w.blocks.length; bi++) {
    w.seek(bi);
    const c = w.blocks[bi]!.chain;
    // a chain the dump reader made holds its rules as offsets (no object per rule)
    if (c instanceof DumpChain) {
      const q = c.packed;
      for (let i = 0, k = c.base; i < c.size; i++, k += PACKED) w.bytesRule(c.bufs[q[k]!]!, q[k + 1]!, q[k + 2]!, q[k + 3]!, q[k + 4]!, q[k + 5]!);
    } else if (c) {
      for (const r of c.rules) w.rule(r);
    }
  }
  return w.finish();
}

/**
 * Every iptables table of `family` in a GETTABLE/GETCHAIN/GETRULE dump (or groupDump's tables of
 * one), decoded in the order
 * iptables-nft-save prints them; `table`: only that one (faked empty when it does not exist, as
 * the tool does for a built-in table's name).
 * @example const tables = decodeTables(splitMessages(dump.data), 4, 'nat');
 */
export function decodeTables(msgs: NlMsg[] | NftTable[], family: Family, table?: string, opts: DecodeOptions = {}): DecodedTable[] {
  const all = msgs.length && 'chains' in msgs[0]! ? msgs as NftTable[] : groupDump(msgs as NlMsg[], family);
  if (table === undefined) return all.map((t) => decodeTable(t, family, undefined, opts));
  return [decodeTable(all.find((t) => t.name === table) ?? { name: table, chains: [] }, family, undefined, opts)];
}

/**
 * The loader a --noflush restore on nf_tables starts from: the decoded table as the legacy blob
 * native/iptables' Table::Load reads (built-in chains iptables would create are there, faked as
 * the tool fakes them). Refuses, with UnsupportedError, a table iptables-nft-save would not print.
 * Note: an NFLOG target read from nft's `log` carries nft's longer prefix (a 144-byte info, as
 * iptables-nft builds it), not the kernel's xt_nflog_info.
 * @example const raw = rawTableOf(decodeTables(msgs, 4, 'nat')[0]!, 'iptables.restore');
 */
export function rawTableOf(t: DecodedTable, op: string): RawTableSnapshot {
  if (t.incompatible) {
    throw new UnsupportedError(`${op}: table ${t.name} is incompatible with iptables (an expression iptables-nft does not know), use nft`, { op, subsystem: 'iptables' });
  }
  return t.raw;
}

/** The dump requests save() sends for `family`: tables, chains and rules. */
export const DUMP_MSGS = [MSG.GETTABLE, MSG.GETCHAIN, MSG.GETRULE];

/**
 * The order of `names` by their UTF-8 bytes (strcmp's order, libiptc's for chains), as indices:
 * a radix sort over the bytes, last position first, with no comparison callback (kube-proxy's
 * 60k chain names at 20k services share long prefixes: a comparator sort of the strings took
 * 55-100 ms, this a few). Names hold no NUL, so padding with zeros puts a prefix first.
 * @example byteOrder(['b', 'a', 'ab']); // Uint32Array [1, 2, 0]
 */
export function byteOrder(names: readonly string[]): Uint32Array {
  const n = names.length;
  let w = 0;
  const utf8: Array<Buffer | undefined> = [];
  for (let i = 0; i < n; i++) {
    const s = names[i]!;
    let ascii = true;
    for (let k = 0; k < s.length && ascii; k++) ascii = s.charCodeAt(k) < 0x80;
    const b = ascii ? undefined : Buffer.from(s);
    utf8.push(b);
    w = Math.max(w, b ? b.length : s.length);
  }
  // column by column (byte p of name i at p * n + i): a pass reads one column, 60 kB at 60k names
  const keys = new Uint8Array(n * w);
  for (let i = 0; i < n; i++) {
    const b = utf8[i];
    if (b) for (let k = 0; k < b.length; k++) keys[k * n + i] = b[k]!;
    else for (let k = 0, s = names[i]!; k < s.length; k++) keys[k * n + i] = s.charCodeAt(k);
  }
  let idx = new Uint32Array(n), tmp = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const count = new Uint32Array(257);
  for (let p = w - 1; p >= 0; p--) {
    const col = p * n;
    count.fill(0);
    for (let i = 0; i < n; i++) count[keys[col + i]! + 1]!++;
    if (count[keys[col]! + 1] === n) continue;  // one byte value at p: this pass keeps the order
    for (let v = 1; v < 257; v++) count[v]! += count[v - 1]!;
    for (let i = 0; i < n; i++) {
      const j = idx[i]!;
      tmp[count[keys[col + j]!]!++] = j;
    }
    const t = idx; idx = tmp; tmp = t;
  }
  return idx;
}
