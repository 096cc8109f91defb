// rtnetlink policy-rule messages (Rtm.NewRule/DELRULE/GETRULE; struct fib_rule_hdr has
// rtmsg's layout), built as `ip rule` builds them and read into what `ip -j rule show` prints.
import { NLMSG_HDRLEN, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST } from '../netlink/headers.js';
import { forEachAttr, str } from '../netlink/reader.js';
import { AF_INET, AF_INET6, formatIp, type Family } from './addr.js';
import { RT_TABLE_MAIN, RT_TABLE_UNSPEC, TABLES } from './route-wire.js';
import { RTMSG_LEN, Rtm, RtWriter, ipFamily } from './wire.js';

const enum Fra { Dst = 1, Src = 2, IifName = 3, Goto = 4, Priority = 6, FwMark = 10, Table = 15, FwMask = 16, OifName = 17 }
export const FR_ACT = { toTable: 1, goto: 2, nop: 3, blackhole: 6, unreachable: 7, prohibit: 8 } as const;
const FIB_RULE_INVERT = 0x2;

/** A rule as `ip -j rule show` prints it. */
export interface Rule {
  priority: number;
  /** Present (null) for `not` rules, as ip prints it. */
  not?: null;
  /** 'all' or the address; srclen when it is a prefix. */
  src: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  /** '0x10' */
  fwmark?: string;
  fwmask?: string;
  iif?: string;
  oif?: string;
  /** 'main', 'local', 'default' or the number as text. */
  table?: string;
  goto?: number;
  /** For blackhole, unreachable, prohibit and nop rules. */
  action?: string;
}

/** A rule request, checked (lib/link/rules.ts). */
export interface RuleSpec {
  family: Family;
  priority?: number;
  src?: Uint8Array; srcLen: number;
  dst?: Uint8Array; dstLen: number;
  fwmark?: number; fwmask?: number;
  iif?: string; oif?: string;
  table?: number;
  action?: number;
  not: boolean;
}

/** `ip rule add|del ...`: fib_rule_hdr and attributes as iprule_modify() fills them. */
export function ruleMessage(w: RtWriter, cmd: 'add' | 'delete', r: RuleSpec): void {
  w.begin(cmd === 'add' ? Rtm.NewRule : Rtm.DelRule, cmd === 'add' ? NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL : NLM_F_REQUEST);
  // ip: a new rule looks up a table (main unless named); a deletion matches any action unless one is named.
  const table = r.table ?? (cmd === 'add' && r.action === undefined ? RT_TABLE_MAIN : undefined);
  const action = r.action ?? (cmd === 'add' || r.table !== undefined ? FR_ACT.toTable : 0);
  w.rtmsg({
    family: r.family === 'inet' ? AF_INET : AF_INET6, dstLen: r.dstLen, srcLen: r.srcLen,
    table: table !== undefined && table < 256 ? table : RT_TABLE_UNSPEC, type: action, flags: r.not ? FIB_RULE_INVERT : 0,
  });
  if (r.priority !== undefined) w.u32(Fra.Priority, r.priority);
  if (r.src) w.raw(Fra.Src, r.src);
  if (r.dst) w.raw(Fra.Dst, r.dst);
  if (r.fwmark !== undefined) w.u32(Fra.FwMark, r.fwmark);
  if (r.fwmask !== undefined) w.u32(Fra.FwMask, r.fwmask);
  if (r.iif !== undefined) w.str(Fra.IifName, r.iif);
  if (r.oif !== undefined) w.str(Fra.OifName, r.oif);
  if (table !== undefined && table >= 256) w.u32(Fra.Table, table);
  w.end();
}

export function dumpRules(w: RtWriter, family: Family): void {
  w.begin(Rtm.GetRule, NLM_F_REQUEST | NLM_F_DUMP);
  w.rtmsg({ family: family === 'inet' ? AF_INET : AF_INET6 });
  w.end();
}

const hex = (v: number) => `0x${v.toString(16)}`;

/** One Rtm.NewRule as `ip -j rule show` prints it (undefined for other families). */
export function parseRule(data: Buffer, at: number, len: number): Rule | undefined {
  const body = at + NLMSG_HDRLEN;
  const family = ipFamily(data, body);
  if (!family) return undefined;
  const host = family === 'inet' ? 32 : 128;
  const dstLen = data[body + 1]!, srcLen = data[body + 2]!, action = data[body + 7]!;
  let table = data[body + 4]!;
  const flags = data.readUInt32LE(body + 8);
  let priority = 0, src: string | undefined, dst: string | undefined, mark: number | undefined, mask: number | undefined;
  let iif: string | undefined, oif: string | undefined, target: number | undefined;
  forEachAttr(data, body + RTMSG_LEN, at + len, (t, v, n) => {
    switch (t) {
      case Fra.Priority: priority = data.readUInt32LE(v); break;
      case Fra.Src: if (n >= host / 8) src = formatIp(family, data, v); break;
      case Fra.Dst: if (n >= host / 8) dst = formatIp(family, data, v); break;
      case Fra.FwMark: mark = data.readUInt32LE(v); break;
      case Fra.FwMask: mask = data.readUInt32LE(v); break;
      case Fra.IifName: iif = str(data, v, n); break;
      case Fra.OifName: oif = str(data, v, n); break;
      case Fra.Table: table = data.readUInt32LE(v); break;
      case Fra.Goto: target = data.readUInt32LE(v); break;
    }
  });
  const r: Rule = { priority, src: 'all' };
  if (flags & FIB_RULE_INVERT) r.not = null;
  if (src !== undefined) {
    r.src = src;
    if (srcLen !== host) r.srclen = srcLen;
  } else if (srcLen) { r.src = '0'; r.srclen = srcLen; }
  if (dst !== undefined) {
    r.dst = dst;
    if (dstLen !== host) r.dstlen = dstLen;
  } else if (dstLen) { r.dst = '0'; r.dstlen = dstLen; }
  if (mark !== undefined || mask !== undefined) {
    r.fwmark = hex(mark ?? 0);
    if (mask !== undefined && mask !== 0xffffffff) r.fwmask = hex(mask);
  }
  if (iif !== undefined) r.iif = iif;
  if (oif !== undefined) r.oif = oif;
  if (table) r.table = Object.keys(TABLES).find((k) => TABLES[k] === table) ?? String(table);
  if (action === FR_ACT.goto) {
    if (target !== undefined) r.goto = target;
  } else if (action === FR_ACT.nop) r.action = 'nop';
  else if (action !== FR_ACT.toTable) r.action = Object.keys(FR_ACT).find((k) => FR_ACT[k as keyof typeof FR_ACT] === action) ?? String(action);
  return r;
}
