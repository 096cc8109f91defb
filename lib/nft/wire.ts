// nf_tables messages on top of lib/netlink's attribute writer: nlmsghdr + nfgenmsg, the batch
// markers, and the bodies of tables, chains, rules, sets and elements in the order nft 1.0.6
// writes their attributes.
import {
  CHAIN, DATA_TYPE_VERDICT, DEVICE_NAME, ELEM, ELEM_LIST, EXPR, HOOK, LIST_ELEM, MSG, NFNETLINK_V0, NFNL_BATCH_GENID, NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NLM_F_REQUEST, RULE, SET, SET_DESC_CONCAT, SET_DESC_SIZE, SET_FIELD_LEN, TABLE,
} from './consts.js';
import { NLA_F_NESTED } from '../netlink/attr-writer.js';
import { NftAttrWriter } from './expr-wire.js';
import type { KExpr, Verdict } from './ir.js';

/** NFTA_RULE_ID, NFTA_RULE_POSITION_ID (positions.ts). */
const RULE_ID = 9, RULE_POSITION_ID = 10;

export interface SetSpec {
  table: string; name: string; flags: number; keyType: number; keyLen: number;
  /** Verdict maps only. */
  verdictMap: boolean; id: number; size?: number; udata: Buffer;
  /** NFTA_SET_TIMEOUT: the elements' default timeout in ms. */
  timeoutMs?: bigint;
  /** NFTA_SET_EXPR: a counter on every element (`counter` in the set's declaration). */
  counter?: boolean;
  /** NFTA_SET_POLICY (1: memory; nft sends nothing for performance) and NFTA_SET_GC_INTERVAL (ms). */
  policy?: number; gcIntervalMs?: number;
  /** Data maps (not verdict maps): NFTA_SET_DATA_TYPE and _LEN. */
  dataType?: number; dataLen?: number;
  /** NFTA_SET_DESC_CONCAT: each field's length (concatenated interval sets). */
  concat?: number[];
}

/** A counter expression's initial values (nft sends only the non-zero ones). */
export interface CounterSpec { bytes?: bigint; packets?: bigint }

export interface ElementSpec {
  key: Buffer; verdict?: Verdict; udata?: Buffer;
  /** NFTA_SET_ELEM_KEY_END: a concatenated interval's end. */
  keyEnd?: Buffer;
  /** A data map element's value (NFTA_SET_ELEM_DATA as a value). */
  data?: Buffer;
  /** NFTA_SET_ELEM_FLAGS (NFT_SET_ELEM_INTERVAL_END in interval sets). */
  flags?: number;
  /** NFTA_SET_ELEM_TIMEOUT and _EXPIRATION in ms. */
  timeoutMs?: bigint; expirationMs?: bigint;
  /** NFTA_SET_ELEM_EXPR: the element's own counter. */
  counter?: CounterSpec;
}

/** Room for one NEWSETELEM's ELEMENTS nest (a 16-bit attribute length; headers aside). */
export const ELEMENTS_NEST_MAX = 65535 - 512;

export class NftWriter extends NftAttrWriter {
  private start = 0;
  /** Messages written so far (BEGIN and END included). */
  count = 0;

  /** `lent`: a buffer to write into when it holds `size` bytes (SpareBuffer's; else a new one). */
  constructor(private seq = 0, size = 4096, lent?: Buffer) {
    super(lent && lent.length >= size ? 0 : size);
    if (lent && lent.length >= size) this.buf = lent;
  }

  /**
   * NUL-terminated string: names are ASCII nearly always, written byte by byte here (a 20k-service
   * batch has ~500k of them; Buffer.byteLength + write cost more than the copy).
   */
  override str(type: number, s: string): void {
    const n = s.length, len = 5 + n, p = this.pos, end = p + ((len + 3) & ~3);
    if (end > this.buf.length) this.ensure(end - p);
    const b = this.buf;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) return super.str(type, s);
      b[p + 4 + i] = c;
    }
    b[p] = len & 0xff; b[p + 1] = len >>> 8; b[p + 2] = type & 0xff; b[p + 3] = type >>> 8;
    for (let i = p + 4 + n; i < end; i++) b[i] = 0;
    this.pos = end;
  }

  /** Starts a message: nlmsghdr (length set by end()) and nfgenmsg. */
  begin(type: number, flags: number, family: number, resId = 0, subsys = NFNL_SUBSYS_NFTABLES): void {
    this.ensure(20);
    const b = this.buf, p = this.pos;
    this.start = p;
    // byte stores: Buffer's write* check their arguments on each call (160k rule messages at 20k kube-proxy services)
    const t = subsys === 0 ? type : (subsys << 8) | type, seq = this.seq++;
    b[p] = 0; b[p + 1] = 0; b[p + 2] = 0; b[p + 3] = 0;
    b[p + 4] = t & 0xff; b[p + 5] = (t >>> 8) & 0xff;
    b[p + 6] = flags & 0xff; b[p + 7] = (flags >>> 8) & 0xff;
    b[p + 8] = seq & 0xff; b[p + 9] = (seq >>> 8) & 0xff; b[p + 10] = (seq >>> 16) & 0xff; b[p + 11] = (seq >>> 24) & 0xff;
    b[p + 12] = 0; b[p + 13] = 0; b[p + 14] = 0; b[p + 15] = 0;
    b[p + 16] = family;
    b[p + 17] = NFNETLINK_V0;
    b[p + 18] = (resId >>> 8) & 0xff; b[p + 19] = resId & 0xff;
    this.pos = p + 20;
  }

  end(): void {
    const b = this.buf, at = this.start, len = this.pos - at;
    b[at] = len & 0xff; b[at + 1] = (len >>> 8) & 0xff; b[at + 2] = (len >>> 16) & 0xff; b[at + 3] = (len >>> 24) & 0xff;
    this.count++;
  }

  batchBegin(generation?: number): void {
    this.begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES, 0);
    if (generation !== undefined) this.be32(NFNL_BATCH_GENID, generation);
    this.end();
  }

  batchEnd(): void {
    this.begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES, 0);
    this.end();
  }

  table(flags: number, family: number, name: string, udata?: Buffer, tableFlags = 0): void {
    this.begin(MSG.NEWTABLE, flags, family);
    this.str(TABLE.NAME, name);
    this.be32(TABLE.FLAGS, tableFlags);
    if (udata) this.bytes(TABLE.USERDATA, udata);
    this.end();
  }

  chain(flags: number, family: number, c: { table: string; name: string; type?: string; policy?: number; hook?: number; prio?: number; dev?: string | string[]; udata?: Buffer }): void {
    this.begin(MSG.NEWCHAIN, flags, family);
    this.str(CHAIN.TABLE, c.table);
    this.str(CHAIN.NAME, c.name);
    if (c.type !== undefined) this.str(CHAIN.TYPE, c.type);
    if (c.policy !== undefined) this.be32(CHAIN.POLICY, c.policy);
    if (c.hook !== undefined) {
      const at = this.nest(CHAIN.HOOK);
      this.be32(HOOK.HOOKNUM, c.hook);
      this.be32(HOOK.PRIORITY, c.prio! >>> 0);
      if (typeof c.dev === 'string') this.str(HOOK.DEV, c.dev);
      else if (c.dev) {
        const devs = this.nest(HOOK.DEVS);
        for (const d of c.dev) this.str(DEVICE_NAME, d);
        this.endNest(devs);
      }
      this.endNest(at);
    }
    if (c.udata) this.bytes(CHAIN.USERDATA, c.udata);
    this.end();
  }

  /**
   * NEWRULE with the first `count` of `exprs` (the encoder's reused array may be longer). The
   * options are arguments, not an object: a 20k-service batch has 140k rules.
   */
  rule(flags: number, family: number, table: string, chain: string, exprs: readonly KExpr[], count = exprs.length, handle?: number, position?: number, udata?: Buffer, id?: number, positionId?: number): void {
    this.begin(MSG.NEWRULE, flags, family);
    this.str(RULE.TABLE, table);
    this.str(RULE.CHAIN, chain);
    if (handle !== undefined) this.be64(RULE.HANDLE, BigInt(handle));
    const at = this.nest(RULE.EXPRESSIONS);
    for (let i = 0; i < count; i++) this.expr(exprs[i]!);
    this.endNest(at);
    // NFTA_RULE_POSITION: add after / insert before the rule with this handle.
    if (position !== undefined) this.be64(RULE.POSITION, BigInt(position));
    if (udata) this.bytes(RULE.USERDATA, udata);
    // NFTA_RULE_ID / NFTA_RULE_POSITION_ID: a rule of this batch placed relative to another (positions.ts).
    if (id !== undefined) this.be32(RULE_ID, id);
    if (positionId !== undefined) this.be32(RULE_POSITION_ID, positionId);
    this.end();
  }

  /** NEWSET; returns where its flags value is (a later set statement may add NFT_SET_EVAL, as nft does). */
  set(flags: number, family: number, s: SetSpec): number {
    this.begin(MSG.NEWSET, flags, family);
    this.str(SET.TABLE, s.table);
    this.str(SET.NAME, s.name);
    const flagsAt = this.pos + 4;
    this.be32(SET.FLAGS, s.flags);
    this.be32(SET.KEY_TYPE, s.keyType);
    this.be32(SET.KEY_LEN, s.keyLen);
    if (s.verdictMap) {
      this.be32(SET.DATA_TYPE, DATA_TYPE_VERDICT);
      this.be32(SET.DATA_LEN, 0);
    } else if (s.dataType !== undefined) {
      this.be32(SET.DATA_TYPE, s.dataType);
      this.be32(SET.DATA_LEN, s.dataLen!);
    }
    this.be32(SET.ID, s.id);
    if (s.policy !== undefined) this.be32(SET.POLICY, s.policy);
    if (s.size !== undefined || s.concat) {
      const at = this.nest(SET.DESC);
      if (s.size !== undefined) this.be32(SET_DESC_SIZE, s.size);
      if (s.concat) {
        // NFTA_SET_DESC_CONCAT: a NFTA_LIST_ELEM per field holding NFTA_SET_FIELD_LEN.
        const c = this.nest(SET_DESC_CONCAT);
        for (const len of s.concat) {
          const f = this.nest(LIST_ELEM);
          this.be32(SET_FIELD_LEN, len);
          this.endNest(f);
        }
        this.endNest(c);
      }
      this.endNest(at);
    }
    if (s.timeoutMs !== undefined) this.be64(SET.TIMEOUT, s.timeoutMs);
    if (s.gcIntervalMs !== undefined) this.be32(SET.GC_INTERVAL, s.gcIntervalMs);
    this.bytes(SET.USERDATA, s.udata);
    if (s.counter) this.counterExpr(SET.EXPR, {});
    this.end();
    return flagsAt;
  }

  /** NEWSETELEM / DELSETELEM with these elements (split into several messages past 64 KiB). */
  elements(type: number, flags: number, family: number, table: string, set: string, setId: number | undefined, elems: ElementSpec[]): void {
    this.elementsBegin(type, flags, family, table, set, setId);
    for (let i = 0; i < elems.length; i++) {
      const e = elems[i]!;
      const at = this.elementBegin();
      // libnftnl's order: flags, timeout, expiration, key, data, user data, expression.
      if (e.flags !== undefined) this.be32(ELEM.FLAGS, e.flags);
      if (e.timeoutMs !== undefined) this.be64(ELEM.TIMEOUT, e.timeoutMs);
      if (e.expirationMs !== undefined) this.be64(ELEM.EXPIRATION, e.expirationMs);
      this.dataValue(ELEM.KEY, e.key);
      if (e.keyEnd) this.dataValue(ELEM.KEY_END, e.keyEnd);
      if (e.verdict) this.dataVerdict(ELEM.DATA, e.verdict);
      else if (e.data) this.dataValue(ELEM.DATA, e.data);
      if (e.udata) this.bytes(ELEM.USERDATA, e.udata);
      if (e.counter) this.counterExpr(ELEM.EXPR, e.counter);
      this.elementEnd(at);
    }
    this.elementsEnd();
  }

  // An element list written as it is read (no ElementSpec per element): elementsBegin, then per
  // element elementBegin, its attributes, elementEnd; elementsEnd. An element that takes the
  // ELEMENTS nest past ELEMENTS_NEST_MAX moves to a new message with the same header, as the
  // 16-bit attribute length requires.
  private el = { type: 0, flags: 0, family: 0, table: '', set: '', setId: undefined as number | undefined, nest: 0, index: 0 };

  elementsBegin(type: number, flags: number, family: number, table: string, set: string, setId: number | undefined): void {
    const el = this.el;
    el.type = type; el.flags = flags; el.family = family; el.table = table; el.set = set; el.setId = setId;
    this.elementsHeader();
  }

  private elementsHeader(): void {
    const el = this.el;
    this.begin(el.type, el.flags, el.family);
    this.str(ELEM_LIST.TABLE, el.table);
    this.str(ELEM_LIST.SET, el.set);
    if (el.setId !== undefined) this.be32(ELEM_LIST.SET_ID, el.setId);
    el.nest = this.nest(ELEM_LIST.ELEMENTS);
    el.index = 0;
  }

  /** Opens the next element's nest; returns its offset for elementEnd(). */
  elementBegin(): number {
    return this.nest(++this.el.index);
  }

  elementEnd(at: number): void {
    this.endNest(at);
    const el = this.el;
    if (this.pos - el.nest - 4 <= ELEMENTS_NEST_MAX || el.index === 1) return;
    const moved = Buffer.from(this.buf.subarray(at, this.pos));
    this.pos = at;
    this.endNest(el.nest);
    this.end();
    this.elementsHeader();
    const p = this.pos;
    this.raw(moved);
    const t = ++el.index | NLA_F_NESTED;
    this.buf[p + 2] = t & 0xff; this.buf[p + 3] = t >>> 8;
  }

  elementsEnd(): void {
    this.endNest(this.el.nest);
    this.end();
  }

  /** A counter expression as a set's or an element's single expression (no list around it). */
  counterExpr(type: number, c: CounterSpec): void {
    const at = this.nest(type);
    this.str(EXPR.NAME, 'counter');
    const d = this.nest(EXPR.DATA);
    if (c.bytes !== undefined) this.be64(1, c.bytes);
    if (c.packets !== undefined) this.be64(2, c.packets);
    this.endNest(d);
    this.endNest(at);
  }

  /** A message of only string attributes, in the order given (the deletes and flushes). */
  simple(type: number, family: number, attrs: Array<[number, string]>, handle?: [number, number]): void {
    this.begin(type, NLM_F_REQUEST, family);
    for (const [t, v] of attrs) this.str(t, v);
    if (handle) this.be64(handle[0], BigInt(handle[1]));
    this.end();
  }

  /** The bytes written so far. */
  bytesWritten(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export { LIST_ELEM };

/** How long a returned batch buffer is kept for the next batch. */
const SPARE_MS = 5000;
/** Buffers smaller than this are not kept (allocUnsafe's shared pool hands out the small ones). */
const SPARE_MIN = 1 << 20;

/**
 * One big batch buffer kept between batches for a few seconds: a 20k-service batch is ~54 MB,
 * and a new one each time costs its page faults and makes V8 count 54 MB more external memory
 * (a full collection of the caller's heap sooner). Only a buffer whose batch has been sent and
 * that nothing else refers to may be given back; take() hands it to one batch at a time.
 * @example const b = spareBatch.take(); // ... encode into b, send ...; spareBatch.give(batch.buf);
 */
export class SpareBuffer {
  private buf: Buffer | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  take(): Buffer | undefined {
    const b = this.buf;
    this.buf = undefined;
    return b;
  }

  /** Keeps the whole buffer under `used` (a batch's bytes, from offset 0 of their own buffer) for SPARE_MS. */
  give(used: Buffer): void {
    const ab = used.buffer;
    if (used.byteOffset !== 0 || ab.byteLength < SPARE_MIN || ab instanceof SharedArrayBuffer) return;
    if (this.buf && this.buf.length >= ab.byteLength) return;
    this.buf = Buffer.from(ab, 0, ab.byteLength);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.buf = undefined; this.timer = undefined; }, SPARE_MS);
    this.timer.unref();
  }
}

/**
 * The process's one spare batch buffer (apply() takes it, and gives it back once its batch is sent).
 * @example encodeCommands(cmds, { buffer: spareBatch.take() })
 */
export const spareBatch = new SpareBuffer();
