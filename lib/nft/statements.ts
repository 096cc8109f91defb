// nf_tables expressions -> nft's JSON statements, the way nft 1.0.6's netlink_delinearize.c
// and json.c show them: payload dependencies (meta nfproto / meta l4proto matches that only
// make a later header load valid) are dropped and name the header's protocol; flag matches
// are `in`; shortened or masked address loads are prefixes. A layout nft would show differently
// than these rules assume is refused (UnsupportedError), never guessed.
import { UnsupportedError } from '../core/errors.js';
import { ADDRTYPE, CT_STATE, CT_STATUS, FIB_FLAGS, FIB_RESULT_TYPE, META_TYPES, PAYLOAD, type ValueType } from './compile.js';
import { VERDICT } from './consts.js';
import { TYPES, type DataType } from './datatypes.js';
import { BYTEORDER_OP, CMP, CT_KEY, META_KEY, NAT_FLAGS, NAT_TYPE, NUMGEN, PAYLOAD_BASE, type KExpr, type Verdict } from './ir.js';
import type { Family, Statement } from './types.js';

/** An anonymous map's elements, by the name the kernel gave it (`__map0`). */
export interface AnonymousMaps {
  get(name: string): { keyType: DataType; elements: Array<[Buffer, Verdict]> } | undefined;
}

interface Load { reg: number; json: Statement; type: ValueType; payload?: { proto: string; field: string; full: number; len: number; transport: boolean; network: boolean }; bitwise?: { mask: Buffer; xor: Buffer; bool: boolean }; data?: Buffer; hton?: boolean }

/** A constant table reversed (value -> its first name), built once: a lookup per expression of a 20k-service dump. */
function reversed(table: Record<string, number>): Map<number, string> {
  const m = new Map<number, string>();
  for (const [k, v] of Object.entries(table)) if (!m.has(v)) m.set(v, k);
  return m;
}
const NAMES = new Map<object, Map<number, string>>([CMP, VERDICT, META_KEY, CT_KEY].map((t) => [t, reversed(t as unknown as Record<string, number>)]));
const cmpName = (n: number): string => NAMES.get(CMP)!.get(n) ?? '?';
const keyName = (table: Record<string, number>, n: number): string | undefined => (NAMES.get(table) ?? reversed(table)).get(n);

/** PAYLOAD's fields by `base offset`, in PAYLOAD's order (what decodeStatements tries for a load). */
const PAYLOAD_AT = new Map<string, Array<[string, string, [number, number, number, ValueType]]>>();
for (const [proto, fields] of Object.entries(PAYLOAD)) {
  for (const [field, f] of Object.entries(fields ?? {})) {
    if (!f) continue;
    const k = `${f[0]} ${f[1]}`;
    const l = PAYLOAD_AT.get(k);
    if (l) l.push([proto, field, f]); else PAYLOAD_AT.set(k, [[proto, field, f]]);
  }
}

function refuseRule(what: string): never {
  throw new UnsupportedError(`a rule with ${what} cannot be decoded by nlkit`, { subsystem: 'nft', op: 'nft.list', detail: what });
}

/** The pending load into register `reg`, taken off the list. */
function takeLoad(pending: Load[], reg: number): Load {
  const i = pending.findIndex((l) => l.reg === reg);
  if (i < 0) refuseRule(`a register read before it is written (reg ${reg})`);
  const [l] = pending.splice(i, 1);
  return l!;
}

export function verdictJson(v: Verdict): Statement {
  const name = keyName(VERDICT as unknown as Record<string, number>, v.code);
  if (name === 'jump' || name === 'goto') return { [name]: { target: v.chain } };
  if (!name || name === 'break') throw new UnsupportedError(`verdict code ${v.code}`, { subsystem: 'nft', op: 'nft.list' });
  return { [name]: null };
}

function flagNames(table: Record<string, number | undefined>, mask: number): string | string[] {
  const names = Object.entries(table).filter(([, v]) => v !== undefined && (mask & v) !== 0).map(([k]) => k);
  return names.length === 1 ? names[0]! : names;
}

/** Formats register bytes as a value of type t. */
export function formatValue(t: ValueType, b: Buffer): string | number {
  if ('format' in t) return t.format(b);
  if (t.name === 'fib_addrtype') return ADDRTYPE[b.readUInt32LE(0)] ?? b.readUInt32LE(0);
  return b.readUInt32LE(0);
}

/**
 * Orders elements as nft lists them (list_expr_sort): as numbers read in the key's byte order.
 * Big-endian types compare byte for byte; host-order types and concatenations (byte order
 * "invalid", read as host order) compare from the last byte back.
 */
export function compareKeys(types: DataType[], a: Buffer, b: Buffer): number {
  if (types.length === 1 && types[0]!.byteorder === 2) return Buffer.compare(a, b);
  for (let i = Math.max(a.length, b.length) - 1; i >= 0; i--) {
    const x = a[i] ?? 0, y = b[i] ?? 0;
    if (x !== y) return x - y;
  }
  return 0;
}

/** One value of a set key: a single value or { concat: [...] }. */
export function keyJson(types: DataType[], b: Buffer): unknown {
  if (types.length === 1) return types[0]!.format(b.subarray(0, types[0]!.len));
  const out: unknown[] = [];
  let p = 0;
  for (const t of types) {
    out.push(t.format(b.subarray(p, p + t.len)));
    p += (t.len + 3) & ~3;
  }
  return { concat: out };
}

export function decodeStatements(exprs: KExpr[], family: Family, anon: AnonymousMaps): Statement[] {
  const out: Statement[] = [];
  const refuse = refuseRule;
  let pending: Load[] = [];
  let nfproto: number | undefined = family === 'ip' ? 2 : family === 'ip6' ? 10 : undefined;
  let l4proto: number | undefined;
  // A match that may turn out to be a payload dependency: its index in out, and what it set.
  let nfDep: number | undefined, l4Dep: number | undefined;

  for (let i = 0; i < exprs.length; i++) {
    const e = exprs[i]!;
    switch (e.op) {
      case 'payload': {
        if (family !== 'ip' && family !== 'ip6' && family !== 'inet') refuse(`payload matches in a ${family} table`);
        let found: Load['payload'];
        for (const [proto, field, f] of PAYLOAD_AT.get(`${e.base} ${e.offset}`) ?? []) {
          if (e.len > f[2]) continue;
          const network = e.base === PAYLOAD_BASE.NETWORK, transport = e.base === PAYLOAD_BASE.TRANSPORT;
          if (network && proto !== (nfproto === 2 ? 'ip' : nfproto === 10 ? 'ip6' : '')) continue;
          if (transport && proto !== (l4proto === 6 ? 'tcp' : l4proto === 17 ? 'udp' : 'th')) continue;
          found = { proto, field, full: f[2], len: e.len, network, transport };
          if (network) { if (nfDep !== undefined) out[nfDep] = undefined as unknown as Statement; nfDep = undefined; }
          if (transport) { if (l4Dep !== undefined) out[l4Dep] = undefined as unknown as Statement; l4Dep = undefined; }
          pending.push({ reg: e.dreg, json: { payload: { protocol: proto, field } }, type: f[3], payload: found });
        }
        if (!found) refuse(`payload base ${e.base} offset ${e.offset} length ${e.len}`);
        break;
      }
      case 'meta': {
        const key = keyName(META_KEY, e.key);
        if (!key || (key !== 'nfproto' && !META_TYPES[key])) refuse(`meta key ${e.key}`);
        pending.push({ reg: e.dreg, json: { meta: { key } }, type: key === 'nfproto' ? TYPES.inet_proto : META_TYPES[key!]! });
        break;
      }
      case 'ct': {
        const key = keyName(CT_KEY, e.key);
        if (!key) refuse(`ct key ${e.key}`);
        pending.push({ reg: e.dreg, json: { ct: { key } }, type: key === 'mark' ? TYPES.mark : { name: key === 'state' ? 'ct_state' : 'ct_status', len: 4 } });
        break;
      }
      case 'fib': {
        if (e.result !== FIB_RESULT_TYPE) refuse(`fib result ${e.result}`);
        const flags = Object.entries(FIB_FLAGS).filter(([, v]) => v !== undefined && (e.flags & v) !== 0).map(([k]) => k);
        pending.push({ reg: e.dreg, json: { fib: { result: 'type', flags } }, type: { name: 'fib_addrtype', len: 4 } });
        break;
      }
      case 'numgen':
        if (e.type !== NUMGEN.random) refuse('numgen inc');
        pending.push({ reg: e.dreg, json: { numgen: { mode: 'random', mod: e.mod, offset: e.offset } }, type: TYPES.integer });
        break;
      case 'bitwise': {
        const l = takeLoad(pending, e.sreg);
        if (l.bitwise || e.dreg !== e.sreg) refuse('chained bitwise operations');
        l.bitwise = { mask: e.mask, xor: e.xor, bool: e.bool };
        pending.push(l);
        break;
      }
      case 'byteorder': {
        // nft converts a host-order value to network order before an ordering comparison.
        const l = takeLoad(pending, e.sreg);
        if (e.dreg !== e.sreg || e.bop !== BYTEORDER_OP.hton || e.len !== 4 || e.size !== 4 || l.bitwise || l.payload || l.hton) refuse('a byte-order conversion');
        l.hton = true;
        pending.push(l);
        break;
      }
      case 'immediate':
        if (e.verdict) { out.push(verdictJson(e.verdict)); break; }
        pending.push({ reg: e.dreg, json: {}, type: TYPES.integer, data: e.data });
        break;
      case 'cmp': {
        const l = takeLoad(pending, e.sreg);
        if (l.data) refuse('a comparison with a constant register');
        const op = cmpName(e.cmp);
        const bw = l.bitwise;
        if (l.hton) {
          if (e.cmp === CMP['=='] || e.cmp === CMP['!=']) refuse('a byte-order conversion before an equality');
          out.push({ match: { op, left: l.json, right: formatValue(l.type, Buffer.from(e.data).reverse()) } });
          break;
        }
        // The kernel dumps NFTA_BITWISE_OP always: the loaded value's type says what the mask was.
        if (bw && 'name' in l.type && (l.type.name === 'ct_state' || l.type.name === 'ct_status')) {
          if (e.cmp !== CMP['!='] || !e.data.equals(Buffer.alloc(4)) || !bw.xor.equals(Buffer.alloc(4))) refuse('a ct flag comparison');
          const table = l.type.name === 'ct_state' ? CT_STATE : CT_STATUS;
          out.push({ match: { op: 'in', left: l.json, right: flagNames(table, bw.mask.readUInt32LE(0)) } });
          break;
        }
        if (bw && !l.payload) {
          if (l.type !== TYPES.mark) refuse('a binary operation on anything but a mark');
          out.push({ match: { op, left: binopJson(l.json, bw.mask, bw.xor), right: formatValue(l.type, e.data) } });
          break;
        }
        if (bw || (l.payload && l.payload.len < l.payload.full)) {
          // Prefixes: a masked load, or a shortened one.
          if (!l.payload || !('format' in l.type)) refuse('a masked comparison');
          const full = Buffer.alloc(l.payload!.full);
          e.data.copy(full);
          let len = l.payload!.len * 8;
          if (bw) {
            len = 0;
            for (const byte of bw.mask) for (let b = 7; b >= 0; b--) if (byte & (1 << b)) len++;
          }
          out.push({ match: { op, left: l.json, right: { prefix: { addr: formatValue(l.type, full), len } } } });
          break;
        }
        // meta nfproto / meta l4proto matches may be dependencies of later header loads.
        const key = (l.json.meta as { key?: string } | undefined)?.key;
        if (key === 'nfproto') {
          if (e.cmp !== CMP['==']) refuse('meta nfproto !=');
          nfproto = e.data[0];
          nfDep = out.length;
          out.push({ match: { op, left: l.json, right: nfproto === 2 ? 'ipv4' : nfproto === 10 ? 'ipv6' : nfproto! } });
          break;
        }
        if (key === 'l4proto' && e.cmp === CMP['==']) {
          l4proto = e.data[0];
          l4Dep = out.length;
        }
        out.push({ match: { op, left: l.json, right: formatValue(l.type, e.data) } });
        break;
      }
      case 'lookup': {
        const loads = pending.filter((l) => !l.data);
        pending = pending.filter((l) => l.data);
        if (loads.length === 0) refuse('a lookup without a key');
        for (const l of loads) if (l.bitwise) refuse('a lookup of a masked value');
        const key = loads.length === 1 ? loads[0]!.json : { concat: loads.map((l) => l.json) };
        if (e.dreg === undefined) {
          out.push({ match: { op: '==', left: key, right: `@${e.set}` } });
        } else if (e.dreg !== 0) {
          refuse('a map lookup into a register');
        } else {
          const a = anon.get(e.set);
          if (!a) { out.push({ vmap: { key, data: `@${e.set}` } }); break; }
          const els = [...a.elements].sort((x, y) => compareKeys([a.keyType], x[0], y[0]));
          out.push({ vmap: { key, data: { set: els.map(([k, v]) => [a.keyType.format(k), verdictJson(v)]) } } });
        }
        break;
      }
      case 'meta_set': case 'ct_set': {
        if (e.key !== (e.op === 'meta_set' ? META_KEY.mark : CT_KEY.mark)) refuse(`setting ${e.op === 'meta_set' ? 'meta' : 'ct'} key ${e.key}`);
        const l = takeLoad(pending, e.sreg);
        let value: unknown;
        if (l.data) value = l.data.readUInt32LE(0);
        else if (l.bitwise) value = binopJson(l.json, l.bitwise.mask, l.bitwise.xor);
        else value = l.json;
        out.push({ mangle: { key: e.op === 'meta_set' ? { meta: { key: 'mark' } } : { ct: { key: 'mark' } }, value } });
        break;
      }
      case 'nat': {
        if (family === 'inet') refuse('nat in an inet table');
        // The kernel adds map-ips / proto-specified itself when an address / port register is set.
        if (e.flags !== undefined && (e.flags & ~(NAT_FLAGS['map-ips'] | NAT_FLAGS['proto-specified'])) !== 0) refuse(`nat flags ${e.flags}`);
        const kind = e.type === NAT_TYPE.dnat ? 'dnat' : 'snat';
        const body: Record<string, unknown> = {};
        if (e.regAddrMin !== undefined) {
          const a = takeLoad(pending, e.regAddrMin);
          if (!a.data) refuse('nat to a loaded address');
          body.addr = (a.data!.length === 4 ? TYPES.ipv4_addr : TYPES.ipv6_addr).format(a.data!);
        }
        if (e.regProtoMin !== undefined) {
          const p = takeLoad(pending, e.regProtoMin);
          if (!p.data) refuse('nat to a loaded port');
          body.port = p.data!.readUInt16BE(0);
        }
        out.push({ [kind]: body });
        break;
      }
      case 'masq': {
        if (!e.flags) { out.push({ masquerade: null }); break; }
        const names = Object.entries(NAT_FLAGS).filter(([, v]) => (e.flags! & v) !== 0).map(([k]) => k);
        out.push({ masquerade: { flags: names.length === 1 ? names[0] : names } });
        break;
      }
      case 'reject': {
        const d = family === 'inet' ? [2, 1, 'icmpx'] : family === 'ip' ? [0, 3, 'icmp'] : [0, 4, 'icmpv6'];
        if (e.type !== d[0] || e.code !== d[1]) refuse(`reject type ${e.type} code ${e.code}`);
        out.push({ reject: { type: d[2], expr: 'port-unreachable' } });
        break;
      }
      case 'counter':
        out.push({ counter: { packets: Number(e.packets ?? 0n), bytes: Number(e.bytes ?? 0n) } });
        break;
      default:
        refuse(`the expression "${(e as { name?: string }).name ?? (e as { op: string }).op}"`);
    }
  }
  if (pending.length) refuse('a value loaded but never used');
  return out.filter((s) => s !== undefined);
}

function binopJson(left: Statement, mask: Buffer, xor: Buffer): Statement {
  const m = mask.readUInt32LE(0), x = xor.readUInt32LE(0);
  if (x === 0) return { '&': [left, m] };
  if (m === 0xffffffff) return { '^': [left, x] };
  if (((~m) >>> 0) === x) return { '|': [left, x] };
  throw new UnsupportedError('a bitwise operation nft shows as a combination', { subsystem: 'nft', op: 'nft.list' });
}


