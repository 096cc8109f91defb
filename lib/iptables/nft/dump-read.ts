// The hot half of save() on the nf_tables backend: the GETTABLE/GETCHAIN/GETRULE replies read
// with plain loops over the dump's bytes (offsets, no Map or view per attribute, no closure per
// expression). At 8k rules this is most of save()'s time; lib/nft's general reader (attrMap,
// readExprs) gives the same values and stays the reference: expressions this file does not read
// itself (rare in iptables' rules) go through it, one element at a time.
import { CHAIN, DATA, EXPR, HOOK, MSG, NFNL_SUBSYS_NFTABLES, RULE, TABLE, VERDICT_ATTR } from '../../nft/consts.js';
import { readExprs } from '../../nft/expr-wire.js';
import type { KExpr, Verdict } from '../../nft/ir.js';
import { NLMSG_HDRLEN } from '../../netlink/headers.js';
import { attrIndex, strIsAscii, strIsBytes } from '../../netlink/reader.js';

/** One nf_tables rule as the dump gave it. */
export interface NftRule { handle: bigint; exprs: KExpr[]; udata?: Buffer }
/** One nf_tables chain: `hook` set for base chains. */
export interface NftChain {
  name: string;
  hook?: number; prio?: number; type?: string; policy?: number;
  packets: bigint; bytes: bigint;
  rules: NftRule[];
}
export interface NftTable { name: string; chains: NftChain[] }

/** Attribute offsets by type, for one level of one message (reused: the reader's own scratch). */
class Index {
  readonly at = new Int32Array(16);
  readonly len = new Int32Array(16);
  /** Indexes b[from, to); as nla_parse (and attrMap), the last attribute of a type wins. */
  read(b: Buffer, from: number, to: number): this {
    attrIndex(b, from, to, 15, this.at, this.len);
    return this;
  }
  has(t: number): boolean { return this.at[t] !== 0; }
  /** The payload of type t as a view of b (the caller checked has(t)). */
  bytes(b: Buffer, t: number): Buffer { return b.subarray(this.at[t]!, this.at[t]! + this.len[t]!); }
  /** The big-endian u32 of type t, 0 when absent or short (lib/nft's `be32(...) ?? 0`). */
  u32(b: Buffer, t: number): number {
    const p = this.at[t]!;
    return p !== 0 && this.len[t]! >= 4 ? b.readUInt32BE(p) : 0;
  }
  /** The big-endian u64 of type t, 0n when absent or short. */
  u64(b: Buffer, t: number): bigint {
    const p = this.at[t]!;
    return p !== 0 && this.len[t]! >= 8 ? b.readBigUInt64BE(p) : 0n;
  }
  /** The string of type t up to its NUL; undefined when absent. */
  str(b: Buffer, t: number): string | undefined {
    const p = this.at[t]!;
    return p === 0 ? undefined : cstr(b, p, p + this.len[t]!);
  }
}

function cstr(b: Buffer, from: number, to: number): string {
  let e = from;
  while (e < to && b[e] !== 0) e++;
  return b.toString('utf8', from, e);
}

/** Whether b[x, x + n) and b[y, y + n) hold the same bytes (n <= 0: nothing to compare). */
function same(b: Buffer, x: number, y: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}

const EMPTY = Buffer.alloc(0);

/** A big-endian u64 (a counter: mostly zero, which needs no BigInt arithmetic). */
function u64be(b: Buffer, at: number): bigint {
  return b.readUInt32BE(at) === 0 && b.readUInt32BE(at + 4) === 0 ? 0n : b.readBigUInt64BE(at);
}
const PAYLOAD = Buffer.from('payload'), META = Buffer.from('meta'), CMP = Buffer.from('cmp'), IMMEDIATE = Buffer.from('immediate');
const COUNTER = Buffer.from('counter'), MATCH = Buffer.from('match'), TARGET = Buffer.from('target');

/**
 * A rule whose expressions are read from the dump each time they are asked for: what is kept
 * per rule until the table is decoded is a few numbers, not its expression objects (at 40k
 * rules those would outlive the young generation and make the collector's work grow faster
 * than the table).
 */
export class DumpRule implements NftRule {
  // the handle and user data stay in the dump too until asked for: a BigInt and a Buffer per
  // rule, kept until the table is decoded, were most of what the collector moved at 160k rules
  // b, from, to, udAt, udLen: read by decode.ts's fast path (decode-fast.ts) in place
  constructor(private readonly r: DumpReader, readonly b: Buffer, readonly from: number, readonly to: number,
    readonly handleAt: number, readonly udAt: number, readonly udLen: number) {}
  get exprs(): KExpr[] { return this.from === 0 ? [] : this.r.exprs(this.b, this.from, this.to); }
  get handle(): bigint { return this.handleAt === 0 ? 0n : this.b.readBigUInt64BE(this.handleAt); }
  get udata(): Buffer | undefined { return this.udAt === 0 ? undefined : this.b.subarray(this.udAt, this.udAt + this.udLen); }
}

/**
 * The rules the reader read, PACKED numbers each (the dump's index in the reader's buffers,
 * expressions from, to (from 0: none), handle at, user data at, its length), one after another
 * in one growing Int32Array: no heap object or array per rule or chain (at 160k rules those were
 * most of what the garbage collector moved).
 */
export class RuleStore {
  data = new Int32Array(PACKED * 1024);
  used = 0;
  push(buf: number, from: number, to: number, handleAt: number, udAt: number, udLen: number): void {
    if (this.used + PACKED > this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    const d = this.data, k = this.used;
    d[k] = buf; d[k + 1] = from; d[k + 2] = to; d[k + 3] = handleAt; d[k + 4] = udAt; d[k + 5] = udLen;
    this.used = k + PACKED;
  }
}

/**
 * A chain the reader made: its rules kept as offsets into the dump (see RuleStore), not as
 * objects, until something asks for `rules` (decode.ts reads `packed` and `base`). A chain's
 * rules come one after another in a dump; should another chain's come between, this chain's move
 * to an array of its own.
 */
export class DumpChain implements NftChain {
  declare hook?: number; declare prio?: number; declare type?: string; declare policy?: number;
  packets = 0n; bytes = 0n;
  private start = 0;
  private count = 0;
  private own: number[] | undefined;
  private list: NftRule[] | undefined;
  constructor(readonly name: string, readonly bufs: Buffer[], private readonly reader: DumpReader, private readonly store: RuleStore) {}

  /** The rule count. */
  get size(): number { return this.count; }

  /** The rules' numbers (PACKED per rule, from `base`; see RuleStore). */
  get packed(): ArrayLike<number> { return this.own ?? this.store.data; }
  get base(): number { return this.own ? 0 : this.start; }

  /** Rule i as an NftRule (made on each call). */
  rule(i: number): DumpRule {
    const q = this.packed, k = this.base + i * PACKED;
    return new DumpRule(this.reader, this.bufs[q[k]!]!, q[k + 1]!, q[k + 2]!, q[k + 3]!, q[k + 4]!, q[k + 5]!);
  }

  get rules(): NftRule[] {
    if (!this.list) {
      this.list = [];
      for (let i = 0; i < this.size; i++) this.list.push(this.rule(i));
    }
    return this.list;
  }

  /** Adds a rule (see RuleStore). */
  add(buf: number, from: number, to: number, handleAt: number, udAt: number, udLen: number): void {
    const st = this.store;
    if (!this.own) {
      if (this.count === 0) this.start = st.used;
      if (this.start + this.count * PACKED === st.used) {
        st.push(buf, from, to, handleAt, udAt, udLen);
        this.count++;
        if (this.list) this.list.push(this.rule(this.count - 1));
        return;
      }
      this.own = Array.from(st.data.subarray(this.start, this.start + this.count * PACKED));
    }
    this.own.push(buf, from, to, handleAt, udAt, udLen);
    this.count++;
    if (this.list) this.list.push(this.rule(this.count - 1));
  }
}

/** Numbers per rule in DumpChain.packed. */
export const PACKED = 6;

/**
 * The [table, chain] of every NEWCHAIN message of `nfproto` in b[from, to) whose table is in
 * `known` (and is `table`, when given), in dump order (read in place, as DumpReader reads).
 */
export function chainNames(b: Buffer, from: number, to: number, nfproto: number, known: ReadonlySet<string>, table?: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const a = new Index();
  let at = from;
  while (at + NLMSG_HDRLEN <= to) {
    const len = b.readUInt32LE(at);
    if (len < NLMSG_HDRLEN || at + len > to) break;
    if (len >= 20 && b[at + 16] === nfproto && b.readUInt16LE(at + 4) === ((NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWCHAIN)) {
      a.read(b, at + 20, at + len);
      const t = a.str(b, CHAIN.TABLE), c = a.str(b, CHAIN.NAME);
      if (t !== undefined && c !== undefined && known.has(t) && (table === undefined || t === table)) out.push([t, c]);
    }
    at += (len + 3) & ~3;
  }
  return out;
}

/** Reads the rule, chain and table messages of one dump into tables (see groupDump in decode.ts). */
export class DumpReader {
  private readonly top = new Index();
  private readonly el = new Index();
  private readonly data = new Index();
  /** A data nest's inside (NFTA_DATA_VALUE / NFTA_DATA_VERDICT). */
  private readonly value = new Index();
  private readonly tables = new Map<string, NftTable>();
  // Every chain in the order read, with its table's name: a rule dump made chain by chain (as
  // readNft's) brings each chain's rules in that order, so a rule's chain is looked for after the
  // last one's, by its name's bytes. A map by table and name (40k strings hashed and compared at
  // 20k services: a fifth of the reading) is made only when that fails.
  private readonly order: NftChain[] = [];
  private readonly orderTable: string[] = [];
  private next = 0;
  private byName: Map<string, Map<string, NftChain>> | undefined;
  /** The dumps read so far (DumpChain.packed refers to them by index). */
  private readonly bufs: Buffer[] = [];
  private readonly store = new RuleStore();

  constructor(private readonly nfproto: number, private readonly known: ReadonlySet<string>) {}

  /**
   * Starts from a table already known (its chains, rules empty): the rules of a rule dump read
   * next join them (a --noflush commit's warm read, which dumps no tables or chains).
   */
  seed(t: NftTable): void {
    this.tables.set(t.name, t);
    for (const c of t.chains) this.addChain(t.name, c);
  }

  /** Every message of b[from, to) (nlmsghdr + nfgenmsg + attributes). */
  messages(b: Buffer, from: number, to: number): void {
    let at = from;
    while (at + NLMSG_HDRLEN <= to) {
      const len = b.readUInt32LE(at);
      if (len < NLMSG_HDRLEN || at + len > to) break;
      this.message(b, b.readUInt16LE(at + 4), len >= 20 ? b[at + 16]! : 0, at + Math.min(20, len), at + len);
      at += (len + 3) & ~3;
    }
  }

  /** One message: its type, nfgenmsg family and attributes b[from, to). */
  message(b: Buffer, type: number, family: number, from: number, to: number): void {
    if (family !== this.nfproto || type >> 8 !== NFNL_SUBSYS_NFTABLES) return;
    const t = type & 0xff;
    const a = this.top;
    if (t === MSG.NEWTABLE) {
      const name = a.read(b, from, to).str(b, TABLE.NAME) ?? '';
      if (this.known.has(name)) this.tables.set(name, { name, chains: [] });
      this.last = undefined;
    } else if (t === MSG.NEWCHAIN) {
      a.read(b, from, to);
      const table = this.tables.get(a.str(b, CHAIN.TABLE) ?? '');
      if (!table) return;
      const c = new DumpChain(a.str(b, CHAIN.NAME) ?? '', this.bufs, this, this.store);
      // Read before the nests below reuse the index.
      const type_ = a.str(b, CHAIN.TYPE) ?? '';
      const policy = a.has(CHAIN.POLICY) && a.len[CHAIN.POLICY]! >= 4 ? a.u32(b, CHAIN.POLICY) : undefined;
      const hookAt = a.at[CHAIN.HOOK]!, hookLen = a.len[CHAIN.HOOK]!;
      const cntAt = a.at[CHAIN.COUNTERS]!, cntLen = a.len[CHAIN.COUNTERS]!;
      if (hookAt !== 0) {
        const h = this.data.read(b, hookAt, hookAt + hookLen);
        c.hook = h.u32(b, HOOK.HOOKNUM);
        c.prio = h.u32(b, HOOK.PRIORITY) | 0;
        c.type = type_;
        if (policy !== undefined) c.policy = policy;
      }
      if (cntAt !== 0) {
        const k = this.data.read(b, cntAt, cntAt + cntLen);
        c.bytes = k.u64(b, 1);    // NFTA_COUNTER_BYTES
        c.packets = k.u64(b, 2);  // NFTA_COUNTER_PACKETS
      }
      table.chains.push(c);
      this.last = undefined;
      this.addChain(table.name, c);
    } else if (t === MSG.NEWRULE) {
      a.read(b, from, to);
      const c = this.ruleChain(b);
      if (!c) return;
      const ex = a.at[RULE.EXPRESSIONS]!;
      const h = a.at[RULE.HANDLE]!;
      const exEnd = ex === 0 ? 0 : ex + a.len[RULE.EXPRESSIONS]!, handleAt = h !== 0 && a.len[RULE.HANDLE]! >= 8 ? h : 0;
      if (c instanceof DumpChain) {
        const bufs = this.bufs;
        if (bufs.length === 0 || bufs[bufs.length - 1] !== b) bufs.push(b);
        c.add(bufs.length - 1, ex, exEnd, handleAt, a.at[RULE.USERDATA]!, a.len[RULE.USERDATA]!);
      } else {
        // a chain seeded from a model (a plain object)
        c.rules.push(new DumpRule(this, b, ex, exEnd, handleAt, a.at[RULE.USERDATA]!, a.len[RULE.USERDATA]!));
      }
    }
  }

  // A chain's rules come one after another: the last rule's table and chain name bytes, to find
  // its chain again without making strings.
  private last: { b: Buffer; t: number; tl: number; c: number; cl: number; chain: NftChain | undefined } | undefined;

  /** The chain of the rule indexed in `top`. */
  private ruleChain(b: Buffer): NftChain | undefined {
    const a = this.top;
    const t = a.at[RULE.TABLE]!, tl = t === 0 ? -1 : a.len[RULE.TABLE]!;
    const c = a.at[RULE.CHAIN]!, cl = c === 0 ? -1 : a.len[RULE.CHAIN]!;
    const l = this.last;
    if (l && l.b === b && l.tl === tl && l.cl === cl && same(b, t, l.t, tl) && same(b, c, l.c, cl)) return l.chain;
    let chain: NftChain | undefined;
    if (t !== 0 && c !== 0) {
      // the next chains in order (one with no rules is passed over)
      const order = this.order, end = Math.min(order.length, this.next + 8);
      for (let k = this.next; k < end; k++) {
        if (strIsAscii(b, c, cl, order[k]!.name) && strIsAscii(b, t, tl, this.orderTable[k]!)) {
          chain = order[k];
          this.next = k + 1;
          break;
        }
      }
    }
    if (!chain) {
      if (!this.byName) {
        this.byName = new Map();
        for (let k = 0; k < this.order.length; k++) this.chainsOf(this.orderTable[k]!).set(this.order[k]!.name, this.order[k]!);
      }
      chain = this.byName.get(a.str(b, RULE.TABLE) ?? '')?.get(a.str(b, RULE.CHAIN) ?? '');
    }
    this.last = { b, t, tl, c, cl, chain };
    return chain;
  }

  private addChain(table: string, c: NftChain): void {
    this.order.push(c);
    this.orderTable.push(table);
    if (this.byName) this.chainsOf(table).set(c.name, c);
  }

  private chainsOf(table: string): Map<string, NftChain> {
    let m = this.byName!.get(table);
    if (!m) this.byName!.set(table, m = new Map());
    return m;
  }

  /** The tables read so far, in the given order of names. */
  result(order: ReadonlyArray<string>): NftTable[] {
    return order.filter((n) => this.tables.has(n)).map((n) => this.tables.get(n)!);
  }

  /** NFTA_RULE_EXPRESSIONS b[from, to): what lib/nft's readExprs returns for it. */
  exprs(b: Buffer, from: number, to: number): KExpr[] {
    const out: KExpr[] = [];
    let p = from;
    while (p + 4 <= to) {
      const len = b[p]! | (b[p + 1]! << 8);
      if (len < 4 || p + len > to) break;
      out.push(this.expr(b, p, p + len));
      p += (len + 3) & ~3;
    }
    return out;
  }

  /** One list element (its attribute header at `hdr`). */
  private expr(b: Buffer, hdr: number, end: number): KExpr {
    const el = this.el.read(b, hdr + 4, end);
    const nameAt = el.at[EXPR.NAME]!;
    const dAt = el.at[EXPR.DATA]!, dEnd = dAt + el.len[EXPR.DATA]!;
    const nameEnd = nameAt + el.len[EXPR.NAME]!;
    // The names iptables writes on every rule, compared as bytes (no string made for them).
    const n = nameAt === 0 ? 0 : nameEnd - nameAt;
    const d = this.data;
    if (strIsBytes(b, nameAt, n, PAYLOAD)) {
      d.read(b, dAt, dAt === 0 ? 0 : dEnd);
      return { op: 'payload', dreg: d.u32(b, 1), base: d.u32(b, 2), offset: d.u32(b, 3), len: d.u32(b, 4) };
    }
    if (strIsBytes(b, nameAt, n, META)) {
      d.read(b, dAt, dAt === 0 ? 0 : dEnd);
      return d.has(3) ? { op: 'meta_set', key: d.u32(b, 2), sreg: d.u32(b, 3) } : { op: 'meta', key: d.u32(b, 2), dreg: d.u32(b, 1) };
    }
    if (strIsBytes(b, nameAt, n, CMP)) {
      d.read(b, dAt, dAt === 0 ? 0 : dEnd);
      const sreg = d.u32(b, 1), cmp = d.u32(b, 2);
      const v = d.has(3) ? this.value.read(b, d.at[3]!, d.at[3]! + d.len[3]!) : undefined;
      return { op: 'cmp', sreg, cmp, data: v?.has(DATA.VALUE) ? v.bytes(b, DATA.VALUE) : EMPTY };
    }
    if (strIsBytes(b, nameAt, n, IMMEDIATE)) {
      d.read(b, dAt, dAt === 0 ? 0 : dEnd);
      const dreg = d.u32(b, 1);
      const dd = d.at[2]!;
      if (dd === 0) return { op: 'immediate', dreg, data: EMPTY };
      const dde = dd + d.len[2]!;
      const v = this.value.read(b, dd, dde);
      if (v.has(DATA.VALUE)) return { op: 'immediate', dreg, data: v.bytes(b, DATA.VALUE) };
      if (!v.has(DATA.VERDICT)) return { op: 'immediate', dreg, data: EMPTY };
      const va = d.read(b, v.at[DATA.VERDICT]!, v.at[DATA.VERDICT]! + v.len[DATA.VERDICT]!);
      const code = va.u32(b, VERDICT_ATTR.CODE);
      const chain = va.str(b, VERDICT_ATTR.CHAIN);
      const verdict: Verdict = chain === undefined ? { code } : { code, chain };
      return { op: 'immediate', dreg, verdict };
    }
    if (strIsBytes(b, nameAt, n, COUNTER)) {
      d.read(b, dAt, dAt === 0 ? 0 : dEnd);
      if ((!d.has(1) || d.len[1]! >= 8) && (!d.has(2) || d.len[2]! >= 8)) {
        return { op: 'counter', bytes: d.has(1) ? u64be(b, d.at[1]!) : undefined, packets: d.has(2) ? u64be(b, d.at[2]!) : undefined };
      }
    } else if (strIsBytes(b, nameAt, n, MATCH)) {
      return { op: 'unknown', name: 'match', data: dAt === 0 ? EMPTY : b.subarray(dAt, dEnd) };
    } else if (strIsBytes(b, nameAt, n, TARGET)) {
      return { op: 'unknown', name: 'target', data: dAt === 0 ? EMPTY : b.subarray(dAt, dEnd) };
    }
    // Everything else (and odd counters): the general reader, on this one element.
    return readExprs(b.subarray(hdr, end))[0]!;
  }
}
