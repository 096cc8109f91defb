// ipset's netlink protocol (nfnetlink subsystem IPSET, protocol 7), written by TypeScript:
// the native side only sends the bytes and collects acknowledgements.
import { AttrWriter, putNestedBe32 } from '../netlink/attr-writer.js';
import {
  NFNL_SUBSYS_IPSET, NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLM_F_ACK, NLM_F_EXCL, NLM_F_REQUEST,
} from '../netlink/headers.js';

export const IPSET_PROTOCOL = 7;
const AF_INET = 2;

export const enum Cmd { Protocol = 1, Create = 2, Destroy = 3, Flush = 4, Rename = 5, Swap = 6, Add = 9, Del = 10, Test = 11 }

/** Top-level attributes (IPSET_ATTR_*). */
export const enum Attr { Protocol = 1, Setname = 2, Setname2 = 3, Data = 7, Adt = 8, Lineno = 9 }

/** Data attributes of add/del/test (IPSET_ATTR_* of the ADT policy). */
export const enum Adt {
  Ip = 1, IpTo = 2, Cidr = 3, Port = 4, PortTo = 5, Timeout = 6, Proto = 7, CadtFlags = 8, Lineno = 9,
  Mark = 10, Ether = 17, Name = 18, NameRef = 19, Ip2 = 20, Cidr2 = 21, Ip2To = 22, Iface = 23,
  Bytes = 24, Packets = 25, Comment = 26, SkbMark = 27, SkbPrio = 28, SkbQueue = 29,
}
export const IPADDR_IPV4 = 1, IPADDR_IPV6 = 2;
export const FLAG_BEFORE = 1 << 0, FLAG_PHYSDEV = 1 << 1, FLAG_NOMATCH = 1 << 2, FLAG_IFACE_WILDCARD = 1 << 7;

/** Kernel errno values of ipset's own (IPSET_ERR_PRIVATE = 4096 and up). */
export const IPSET_ERR_PROTOCOL = 4097, IPSET_ERR_EXIST = 4103;

/**
 * ipset's messages: the nfnetlink header and its address nests. Network-order values carry
 * NLA_F_NET_BYTEORDER: the kernel refuses them without (ip_set_attr_netorder).
 */
export class NlWriter extends AttrWriter {
  constructor(size = 1 << 16) {
    super(size);
  }

  /** 16 bits in network order, as ipset sends ports and queues. */
  override be16(type: number, v: number): void {
    super.be16(type | NLA_F_NET_BYTEORDER, v);
  }

  override be32(type: number, v: number): void {
    super.be32(type | NLA_F_NET_BYTEORDER, v);
  }

  override be64(type: number, v: bigint): void {
    super.be64(type | NLA_F_NET_BYTEORDER, v);
  }

  /** An address nest: IPSET_ATTR_IP { IPADDR_IPV4 } with the address as a 32-bit number. */
  ipv4(type: number, addr: number): void {
    putNestedBe32(this, type, IPADDR_IPV4, addr);
  }

  /** IPv6 addresses travel as 16 raw bytes (IPSET_ATTR_IPADDR_IPV6 is binary). */
  ipv6(type: number, words: Uint16Array): void {
    this.ensure(24);
    this.buf.writeUInt16LE(24, this.pos);
    this.buf.writeUInt16LE(type | NLA_F_NESTED, this.pos + 2);
    this.buf.writeUInt16LE(20, this.pos + 4);
    this.buf.writeUInt16LE(IPADDR_IPV6 | NLA_F_NET_BYTEORDER, this.pos + 6);
    for (let i = 0; i < 8; i++) this.buf.writeUInt16BE(words[i]!, this.pos + 8 + i * 2);
    this.pos += 24;
  }

  /** endNest, under the name ipset's encoders use. */
  end(at: number): void {
    this.endNest(at);
  }

  /** Starts a message; returns its offset for finish(). */
  message(cmd: Cmd, flags: number): number {
    this.ensure(20);
    const at = this.pos;
    this.buf.writeUInt32LE(0, at);
    this.buf.writeUInt16LE((NFNL_SUBSYS_IPSET << 8) | cmd, at + 4);
    this.buf.writeUInt16LE(flags, at + 6);
    this.buf.writeUInt32LE(0, at + 8);   // seq: the native side numbers messages
    this.buf.writeUInt32LE(0, at + 12);  // port id: the kernel's
    this.buf[at + 16] = AF_INET;         // nfgenmsg, as libipset fills it for every command
    this.buf[at + 17] = 0;
    this.buf.writeUInt16BE(0, at + 18);
    this.pos += 20;
    this.u8(Attr.Protocol, IPSET_PROTOCOL);
    return at;
  }

  finish(at: number): void {
    this.buf.writeUInt32LE(this.pos - at, at);
  }

  /**
   * Keeps NlWriter's hidden class across GCs (a writer lives for one batch): see grammar's
   * ParseState #shape. Without it the attribute writers are recompiled after every full GC.
   */
  static readonly #shape: object = Object.freeze(new NlWriter(0));
}

/** Flags of a command, as libipset's cmdflags[] with -exist clearing NLM_F_EXCL. */
export function cmdFlags(cmd: Cmd, exist: boolean): number {
  const excl = cmd === Cmd.Destroy || cmd === Cmd.Add || cmd === Cmd.Del;
  return NLM_F_REQUEST | NLM_F_ACK | (!excl || exist ? 0 : NLM_F_EXCL);
}

export interface Batch {
  bytes: Uint8Array;
  ends: Uint32Array;
  /** add/del batches: entries carried by the first k messages (entriesBefore[0] = 0), for onProgress. */
  entriesBefore?: Uint32Array;
  /** adtEntries batches: some entry is a range or CIDR (IP_TO, CIDR or PORT_TO), which the kernel may expand into many members. */
  ranges?: boolean;
}

/** A message whose attributes are only set names (destroy, flush, rename, swap). */
export function simpleMessage(cmd: Cmd, name?: string, name2?: string): Batch {
  const w = new NlWriter(128);
  const at = w.message(cmd, cmdFlags(cmd, false));
  if (name !== undefined) w.str(Attr.Setname, name);
  if (name2 !== undefined) w.str(Attr.Setname2, name2);
  w.finish(at);
  return { bytes: w.buf.subarray(0, w.pos), ends: Uint32Array.of(w.pos) };
}

/** Keeps each message well under the socket buffers the native side sets. */
export const MAX_MESSAGE = 64 * 1024;

/**
 * Add/del of many entries: each message carries as many IPSET_ATTR_DATA nests as fit, each
 * with its 1-based entry number as lineno, so a refusal names the entry that caused it.
 * `encode` writes the data attributes of entry i (inside the nest) and throws on bad input.
 */
export function adtBatch(cmd: Cmd.Add | Cmd.Del, set: string, exist: boolean, count: number,
  encode: (w: NlWriter, i: number) => void): Batch {
  const w = new NlWriter(Math.min(1 << 26, 256 + count * 48));
  const ends: number[] = [];
  const before: number[] = [0];
  const flags = cmdFlags(cmd, exist);
  let msg = -1, adt = -1, inMessage = 0;
  const open = () => {
    msg = w.message(cmd, flags);
    w.str(Attr.Setname, set);
    w.u32(Attr.Lineno, 0);  // its presence asks the kernel to report the failing entry's lineno
    adt = w.nest(Attr.Adt);
    inMessage = 0;
  };
  const close = () => {
    w.end(adt);
    w.finish(msg);
    ends.push(w.pos);
    before.push(before[before.length - 1]! + inMessage);
  };
  open();
  for (let i = 0; i < count; i++) {
    const start = w.pos;
    const data = w.nest(Attr.Data);
    encode(w, i);
    w.u32(Adt.Lineno, i + 1);
    w.end(data);
    if (w.pos - msg > MAX_MESSAGE && inMessage > 0) {
      w.pos = start;
      close();
      open();
      i--;
      continue;
    }
    inMessage++;
  }
  close();
  return { bytes: w.buf.subarray(0, w.pos), ends: Uint32Array.from(ends), entriesBefore: Uint32Array.from(before) };
}
