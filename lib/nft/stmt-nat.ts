// dnat/snat (address and port ranges, flags), masquerade and redirect (to ports, flags), and
// reject (icmp, icmpv6, icmpx codes, tcp reset), as nft 1.0.6 encodes, lists and prints them:
// values in immediate registers from NFT_REG_1 on (address min/max, then port min/max), flags
// random/fully-random/persistent plus proto-specified when ports are given (the kernel adds
// map-ips itself).
import type { AttrTable } from './attrs.js';
import { NFT_REG_1, regAt } from './consts.js';
import { TYPES } from './datatypes.js';
import { invalid, unsupported } from './errors.js';
import { exprData, isObj, type CompileCtx, type DecodeCtx, type Extension, type TextCtx } from './ext.js';
import type { Statement } from './types.js';

const F = { 'proto-specified': 0x2, random: 0x4, persistent: 0x8, 'fully-random': 0x10 } as const;
/** The order nft prints flags in. */
const FLAG_ORDER = ['random', 'fully-random', 'persistent'] as const;
const NAT = { TYPE: 1, FAMILY: 2, ADDR_MIN: 3, ADDR_MAX: 4, PROTO_MIN: 5, PROTO_MAX: 6, FLAGS: 7 } as const;
const MASQ = { FLAGS: 1, PROTO_MIN: 2, PROTO_MAX: 3 } as const;
const REDIR = { PROTO_MIN: 1, PROTO_MAX: 2, FLAGS: 3 } as const;

/** The flags (a name or a list of them) at `${where}.flags`. */
function natFlags(v: unknown, where: string): number {
  if (v === undefined) return 0;
  if (typeof v === 'string') return natFlag(v, where);
  let f = 0;
  for (const x of ([] as unknown[]).concat(v)) f |= natFlag(x, where);
  return f;
}

function natFlag(x: unknown, where: string): number {
  if (x !== 'random' && x !== 'fully-random' && x !== 'persistent') throw invalid(`${where}.flags`, `unknown flag ${JSON.stringify(x)} (random, fully-random, persistent)`);
  return F[x];
}

/** A value or { range: [min, max] } -> [min, max?]. */
function bounds(v: unknown, where: string): [unknown, unknown?] {
  if (isObj(v)) {
    if (!Array.isArray(v.range) || v.range.length !== 2 || Object.keys(v).length !== 1) throw unsupported(where, `${JSON.stringify(v)} (only a value or { range: [min, max] })`);
    return [v.range[0], v.range[1]];
  }
  return [v];
}

/** Immediates for a port (range, at `${where}.port`) from register reg on; returns [min reg, max reg?]. */
function ports(c: CompileCtx, v: unknown, reg: number, where: string): number[] {
  if (c.l4proto() === undefined) throw invalid(`${where}.port`, 'a port needs a transport protocol match first (meta l4proto, tcp or udp)');
  // A single value (every kube-proxy endpoint): no bounds array.
  if (!isObj(v)) return [port(c, v, reg, where)];
  return bounds(v, `${where}.port`).filter((x) => x !== undefined).map((x, i) => port(c, x, reg + i, where));
}

function port(c: CompileCtx, x: unknown, reg: number, where: string): number {
  const b = TYPES.inet_service.parse(x);
  if (!b) throw invalid(`${where}.port`, `not a valid port: ${JSON.stringify(x)}`);
  c.out.push({ op: 'immediate', dreg: reg, data: b });
  return reg;
}

function nat(kind: 'dnat' | 'snat', body: unknown, c: CompileCtx, where: string): void {
  if (!isObj(body)) throw invalid(where, 'needs { addr, port?, flags? }');
  for (const k in body) if (k !== 'addr' && k !== 'port' && k !== 'family' && k !== 'flags') throw unsupported(`${where}.${k}`, `${kind} option "${k}"`);
  const fam0 = c.family;
  if (fam0 !== 'ip' && fam0 !== 'ip6' && fam0 !== 'inet') throw unsupported(where, `${kind} in ${fam0} tables`);
  const fam = (body.family ?? (fam0 === 'inet' ? undefined : fam0)) as string | undefined;
  if (fam !== 'ip' && fam !== 'ip6') throw invalid(where, fam0 === 'inet' ? 'needs family "ip" or "ip6" in an inet table' : `family ${JSON.stringify(fam)}`);
  if (fam0 !== 'inet' && fam !== fam0) throw invalid(`${where}.family`, `${fam} in an ${fam0} table`);
  const t = fam === 'ip' ? TYPES.ipv4_addr : TYPES.ipv6_addr;
  if (body.addr === undefined) throw invalid(`${where}.addr`, 'is required');
  if (isObj(body.addr) && 'map' in body.addr) return natMap(kind, body, fam, t, c, where);
  const a = isObj(body.addr) ? bounds(body.addr, `${where}.addr`) : [body.addr];
  let addrs = 0;
  for (const x of a) {
    if (x === undefined) continue;
    const b = t.parse(x);
    if (!b) throw invalid(`${where}.addr`, `not an ${t.name}: ${JSON.stringify(x)}`);
    c.out.push({ op: 'immediate', dreg: NFT_REG_1 + addrs++, data: b });
  }
  const p = body.port === undefined ? [] : ports(c, body.port, NFT_REG_1 + addrs, where);
  const flags = natFlags(body.flags, where) | (p.length ? F['proto-specified'] : 0);
  // The attributes laid out by hand, all 32-bit: one Buffer, no writer, per rule (kube-proxy has one per endpoint).
  const attrs: number[] = [NAT.TYPE, kind === 'snat' ? 0 : 1, NAT.FAMILY, fam === 'ip' ? 2 : 10, NAT.ADDR_MIN, NFT_REG_1];
  if (addrs > 1) attrs.push(NAT.ADDR_MAX, NFT_REG_1 + 1);
  if (p.length) attrs.push(NAT.PROTO_MIN, p[0]!);
  if (p.length > 1) attrs.push(NAT.PROTO_MAX, p[1]!);
  if (flags) attrs.push(NAT.FLAGS, flags);
  c.out.push({ op: 'raw', name: 'nat', data: be32Attrs(attrs) });
}

/** [type, value, ...] as 32-bit network-order attributes (what AttrWriter.be32 writes). */
function be32Attrs(tv: number[]): Buffer {
  const b = Buffer.allocUnsafe(tv.length * 4);
  for (let i = 0; i < tv.length; i += 2) {
    const p = i * 4, v = tv[i + 1]!;
    b[p] = 8; b[p + 1] = 0; b[p + 2] = tv[i]!; b[p + 3] = 0;
    b[p + 4] = v >>> 24; b[p + 5] = (v >>> 16) & 0xff; b[p + 6] = (v >>> 8) & 0xff; b[p + 7] = v & 0xff;
  }
  return b;
}

/**
 * `dnat to ip daddr map @m` (address from a map) and `dnat ip to ip daddr . tcp dport map @m`
 * (address . port from a map of concatenations): as nft, the lookup's value in NFT_REG_1, the
 * port in the register after the address, no flags.
 */
function natMap(kind: 'dnat' | 'snat', body: Record<string, unknown>, fam: string, t: typeof TYPES.ipv4_addr, c: CompileCtx, where: string): void {
  if (body.port !== undefined || body.flags !== undefined) throw unsupported(where, `${kind} from a map with a port or flags`);
  const addr = body.addr as Record<string, unknown>;
  if (Object.keys(addr).length !== 1) throw invalid(`${where}.addr`, 'must be { map: { key, data } } alone');
  const data = c.loadMap(addr.map, (concat) => (concat ? [t, TYPES.inet_service] : [t]), `${where}.addr.map`);
  if (data[0] !== t || data.length > 2 || (data.length === 2 && data[1] !== TYPES.inet_service)) throw invalid(`${where}.addr.map`, `maps to ${data.map((x) => x.name).join(' . ')}, not ${t.name} [. inet_service]`);
  c.out.push({ op: 'raw', name: 'nat', data: exprData((w) => {
    w.be32(NAT.TYPE, kind === 'snat' ? 0 : 1);
    w.be32(NAT.FAMILY, fam === 'ip' ? 2 : 10);
    w.be32(NAT.ADDR_MIN, NFT_REG_1);
    if (data.length === 2) w.be32(NAT.PROTO_MIN, regAt((t.len + 3) >> 2));
  }) });
}

/** masquerade and redirect: ports and flags only. */
function toPorts(kind: 'masquerade' | 'redirect', body: unknown, c: CompileCtx, where: string): void {
  if (c.family !== 'ip' && c.family !== 'ip6' && c.family !== 'inet') throw unsupported(where, `${kind} in ${c.family} tables`);
  const b = body ?? {};
  if (!isObj(b)) throw invalid(where, 'must be null or { port?, flags? }');
  for (const k of Object.keys(b)) if (k !== 'port' && k !== 'flags') throw unsupported(`${where}.${k}`, `${kind} option "${k}"`);
  const p = b.port === undefined ? [] : ports(c, b.port, NFT_REG_1, where);
  const flags = natFlags(b.flags, where) | (p.length ? F['proto-specified'] : 0);
  const A = kind === 'masquerade' ? MASQ : REDIR;
  c.out.push({ op: 'raw', name: kind === 'masquerade' ? 'masq' : 'redir', data: exprData((w) => {
    if (kind === 'masquerade' && flags) w.be32(A.FLAGS, flags);
    if (p.length) w.be32(A.PROTO_MIN, p[0]!);
    if (p.length > 1) w.be32(A.PROTO_MAX, p[1]!);
    if (kind === 'redirect' && flags) w.be32(A.FLAGS, flags);
  }) });
}

const ICMP: Record<string, number> = { 'net-unreachable': 0, 'host-unreachable': 1, 'prot-unreachable': 2, 'port-unreachable': 3, 'frag-needed': 4, 'net-prohibited': 9, 'host-prohibited': 10, 'admin-prohibited': 13 };
const ICMPV6: Record<string, number> = { 'no-route': 0, 'admin-prohibited': 1, 'addr-unreachable': 3, 'port-unreachable': 4, 'policy-fail': 5, 'reject-route': 6 };
const ICMPX: Record<string, number> = { 'no-route': 0, 'port-unreachable': 1, 'host-unreachable': 2, 'admin-prohibited': 3 };
const REJECT = { TYPE: 1, CODE: 2 } as const;
/** NFT_REJECT_* */
const RT = { icmp: 0, tcp: 1, icmpx: 2 } as const;

function reject(body: unknown, c: CompileCtx, where: string): void {
  const fam = c.family;
  if (fam !== 'ip' && fam !== 'ip6' && fam !== 'inet') throw unsupported(where, `reject in ${fam} tables`);
  const b = body ?? {};
  if (!isObj(b)) throw invalid(where, 'must be null or { type, expr? }');
  for (const k of Object.keys(b)) if (k !== 'type' && k !== 'expr') throw invalid(`${where}.${k}`, 'unknown reject property (type, expr)');
  const type = b.type ?? (fam === 'inet' ? 'icmpx' : fam === 'ip' ? 'icmp' : 'icmpv6');
  let kt: number, code = 0;
  if (type === 'tcp reset') {
    if (b.expr !== undefined) throw invalid(`${where}.expr`, 'tcp reset takes no code');
    c.needL4(6, where);
    kt = RT.tcp;
  } else {
    const table = type === 'icmp' ? ICMP : type === 'icmpv6' ? ICMPV6 : type === 'icmpx' ? ICMPX : undefined;
    if (!table) throw invalid(`${where}.type`, `unknown reject type ${JSON.stringify(type)} (icmp, icmpv6, icmpx, tcp reset)`);
    const name = b.expr ?? 'port-unreachable';
    if (typeof name !== 'string' || !Object.hasOwn(table, name)) throw invalid(`${where}.expr`, `unknown ${String(type)} code ${JSON.stringify(name)} (${Object.keys(table).join(', ')})`);
    code = table[name]!;
    if (type === 'icmpx') {
      if (fam !== 'inet') throw unsupported(where, `reject with icmpx in ${fam} tables`);
      kt = RT.icmpx;
    } else {
      const want = type === 'icmp' ? 'ip' : 'ip6';
      if (fam === 'inet') c.needNfproto(want === 'ip' ? 2 : 10, where);
      else if (fam !== want) throw invalid(`${where}.type`, `${String(type)} in an ${fam} table`);
      kt = RT.icmp;
    }
  }
  c.out.push({ op: 'raw', name: 'reject', data: exprData((w) => { w.be32(REJECT.TYPE, kt); w.u8(REJECT.CODE, code); }) });
}

// --- decoding ---------------------------------------------------------------------------------


/** The value of a min/max register pair: a value or { range: [min, max] }. */
function range(c: DecodeCtx, min: number | undefined, max: number | undefined, fmt: (b: Buffer) => unknown, what: string): unknown {
  if (min === undefined) return undefined;
  const a = c.take(min);
  if (!a.data) c.refuse(`${what} from a loaded value`);
  if (max === undefined || max === min) return fmt(a.data!);
  const b = c.take(max);
  if (!b.data) c.refuse(`${what} from a loaded value`);
  return { range: [fmt(a.data!), fmt(b.data!)] };
}

const portOf = (b: Buffer) => b.readUInt16BE(0);
const addrOf = (b: Buffer) => (b.length === 4 ? TYPES.ipv4_addr : TYPES.ipv6_addr).format(b);

/** The flags FLAG_ORDER names, together. */
const SHOWN_FLAGS = FLAG_ORDER.reduce((a, n) => a | F[n], 0);

function flagsJson(o: Record<string, unknown>, flags: number | undefined): void {
  // Most nat statements show none (40k of them in a 20k-service kube-proxy listing): no array or closure then.
  if (!((flags ?? 0) & SHOWN_FLAGS)) return;
  const names = FLAG_ORDER.filter((n) => ((flags ?? 0) & F[n]) !== 0);
  if (names.length) o.flags = names.length === 1 ? names[0] : names;
}

function decodeNat(d: AttrTable, c: DecodeCtx): void {
  const o: Record<string, unknown> = {};
  // In an inet table nft names the family (`dnat ip to ...`) and keeps the meta nfproto match.
  if (c.family === 'inet') o.family = d.be32(NAT.FAMILY) === 10 ? 'ip6' : 'ip';
  const amin = d.be32(NAT.ADDR_MIN);
  if (amin !== undefined && c.isMap?.(amin)) {
    const first = c.take(amin);
    // From a map: the address (and, for a map of address . port, the port in the next register).
    if (d.has(NAT.ADDR_MAX) && d.be32(NAT.ADDR_MAX) !== amin || d.has(NAT.PROTO_MAX) && d.be32(NAT.PROTO_MAX) !== d.be32(NAT.PROTO_MIN)) c.refuse('nat from a map with ranges');
    if ((d.be32(NAT.FLAGS) ?? 0) & ~(F['proto-specified'] | 1)) c.refuse('nat from a map with flags');
    if (d.has(NAT.PROTO_MIN)) o.family = d.be32(NAT.FAMILY) === 10 ? 'ip6' : 'ip';
    o.addr = first.json;
    return void c.out.push({ [d.be32(NAT.TYPE) === 0 ? 'snat' : 'dnat']: o });
  }

  const addr = range(c, d.be32(NAT.ADDR_MIN), d.be32(NAT.ADDR_MAX), addrOf, 'nat to an address');
  const port = range(c, d.be32(NAT.PROTO_MIN), d.be32(NAT.PROTO_MAX), portOf, 'nat to a port');
  if (addr !== undefined) o.addr = addr;
  if (port !== undefined) o.port = port;
  flagsJson(o, d.be32(NAT.FLAGS));
  c.out.push({ [d.be32(NAT.TYPE) === 0 ? 'snat' : 'dnat']: o });
}

function decodePorts(kind: 'masquerade' | 'redirect', d: AttrTable, c: DecodeCtx): void {
  const A = kind === 'masquerade' ? MASQ : REDIR;
  const o: Record<string, unknown> = {};
  const port = range(c, d.be32(A.PROTO_MIN), d.be32(A.PROTO_MAX), portOf, `${kind} to a port`);
  if (port !== undefined) o.port = port;
  flagsJson(o, d.be32(A.FLAGS));
  c.out.push({ [kind]: Object.keys(o).length ? o : null });
}

function decodeReject(d: AttrTable, c: DecodeCtx): void {
  const kt = d.be32(REJECT.TYPE) ?? 0, code = d.u8(REJECT.CODE) ?? 0;
  const name = (t: Record<string, number>) => Object.entries(t).find(([, v]) => v === code)?.[0] ?? c.refuse(`reject code ${code}`);
  if (kt === RT.tcp) {
    if (c.family !== 'inet') c.dropL4Dep();
    return void c.out.push({ reject: { type: 'tcp reset' } });
  }
  if (kt === RT.icmpx) return void c.out.push({ reject: { type: 'icmpx', expr: name(ICMPX) } });
  if (kt !== RT.icmp) c.refuse(`reject type ${kt}`);
  const nf = c.family === 'inet' ? c.dropNfDep() : c.family === 'ip' ? 2 : c.family === 'ip6' ? 10 : undefined;
  if (nf === 2) return void c.out.push({ reject: { type: 'icmp', expr: name(ICMP) } });
  if (nf === 10) return void c.out.push({ reject: { type: 'icmpv6', expr: name(ICMPV6) } });
  c.refuse('an icmp reject without its network protocol');
}

// --- text ---------------------------------------------------------------------------------------

const valueText = (v: unknown, fmt: (x: unknown) => string): string =>
  isObj(v) && Array.isArray(v.range) ? `${fmt(v.range[0])}-${fmt(v.range[1])}` : fmt(v);

function natText(kind: string, body: unknown, expr?: (e: unknown) => string): string {
  if (!isObj(body)) return kind;
  let out = kind;
  if (body.family !== undefined) out += ` ${String(body.family)}`;
  if (isObj(body.addr) && 'map' in body.addr && expr) return `${out} to ${expr(body.addr)}`;
  if (body.addr !== undefined || body.port !== undefined) {
    out += ' to ';
    if (body.addr !== undefined) {
      const v6 = valueText(body.addr, String).includes(':');
      out += valueText(body.addr, (x) => (v6 && body.port !== undefined ? `[${String(x)}]` : String(x)));
    }
    if (body.port !== undefined) out += `:${valueText(body.port, String)}`;
  }
  if (body.flags !== undefined) out += ` ${([] as unknown[]).concat(body.flags).join(',')}`;
  return out;
}

/** Words that start a map's key expression after `dnat to` (addresses never are one of them). */
const MAP_KEY_START = ['ip', 'ip6', 'tcp', 'udp', 'th', 'meta', 'ct', 'numgen', 'jhash', 'symhash', 'iifname', 'oifname', 'mark', 'ether'];

const NAT_FLAGS = new Set(['random', 'fully-random', 'persistent']);
const PORT_ONLY = /^:(\d+)(?:-(\d+))?$/;
const V6_PORT = /^\[([0-9a-f:.]+)\](?:-\[([0-9a-f:.]+)\])?(?::(\d+)(?:-(\d+))?)?$/i;
const V4_PORT = /^(\d+\.\d+\.\d+\.\d+)(?:-(\d+\.\d+\.\d+\.\d+))?(?::(\d+)(?:-(\d+))?)?$/;
const V6 = /^([0-9a-f]*:[0-9a-f:.]*)(?:-([0-9a-f]*:[0-9a-f:.]*))?$/i;

/**
 * Where `a.b.c.d` ends in s when s is `a.b.c.d` or `a.b.c.d:port` (decimal groups; what V4_PORT
 * matches without its ranges), else 0: kube-proxy's one dnat per endpoint read without the regex.
 */
function v4Port(s: string): number {
  const n = s.length;
  let i = 0;
  for (let g = 0; g < 4; g++) {
    if (g > 0) { if (s.charCodeAt(i) !== 46) return 0; i++; }
    const a = i;
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i));
    if (i === a) return 0;
  }
  if (i === n) return n;
  if (s.charCodeAt(i) !== 58 || i + 1 === n) return 0;
  for (let j = i + 1; j < n; j++) { const c = s.charCodeAt(j); if (c < 48 || c > 57) return 0; }
  return i;
}

/** A port (range) from a match's groups, or undefined. */
const portOf2 = (a?: string, b?: string): unknown => (a === undefined ? undefined : b !== undefined ? { range: [Number(a), Number(b)] } : Number(a));
/** An address (range) from a match's groups, or undefined. */
const addrOf2 = (a?: string, b?: string): unknown => (a === undefined ? undefined : b !== undefined ? { range: [a, b] } : a);

// One function for the four statements, reading tokens in place (no Tok or closure per
// statement: kube-proxy writes a dnat per endpoint, 40k of them at 20k services).
function natStatement(kind: string, p: TextCtx): Statement {
  let family: string | undefined, addr: unknown, port: unknown, flags: string | string[] | undefined;
  if ((p.family === 'inet' || p.v(1) === 'to') && (p.v() === 'ip' || p.v() === 'ip6')) family = p.next().v;
  if (p.v() === 'to') {
    p.skip();
    // `dnat to ip daddr map @m`, `dnat ip to ip daddr . tcp dport map { ... }`: an expression and its map.
    if (MAP_KEY_START.includes(p.v()) && p.isWord(p.v())) {
      const body: Record<string, unknown> = {};
      if (family !== undefined) body.family = family;
      body.addr = p.expression();
      if (!isObj(body.addr) || !('map' in body.addr)) p.fail(p.peek(), `syntax error, unexpected ${p.peek().v}, expecting map`);
      return { [kind]: body };
    }
    const s = p.isWord(p.v()) ? p.v() : '';
    let m: RegExpExecArray | null;
    const colon = v4Port(s);
    if (colon > 0) { addr = colon < s.length ? s.slice(0, colon) : s; if (colon < s.length) port = Number(s.slice(colon + 1)); }
    else if ((m = V4_PORT.exec(s)) || (m = V6_PORT.exec(s))) { addr = addrOf2(m[1], m[2]); port = portOf2(m[3], m[4]); }
    else if ((m = PORT_ONLY.exec(s))) port = portOf2(m[1], m[2]);
    else if ((m = V6.exec(s))) addr = addrOf2(m[1], m[2]);
    else p.fail(p.peek(), `syntax error, unexpected ${p.v()}, expecting an address[-address][:port[-port]]`);
    p.skip();
  }
  if (NAT_FLAGS.has(p.v())) {
    const list: string[] = [];
    while (NAT_FLAGS.has(p.v())) {
      list.push(p.next().v);
      if (p.v() === ',') p.skip();
    }
    flags = list.length === 1 ? list[0] : list;
  }
  if (family === undefined && addr === undefined && port === undefined && flags === undefined) return kind === 'dnat' || kind === 'snat' ? { [kind]: {} } : { [kind]: null };
  // The keys in the order the statement names them (nft -j's).
  const body: Record<string, unknown> = {};
  if (family !== undefined) body.family = family;
  if (addr !== undefined) body.addr = addr;
  if (port !== undefined) body.port = port;
  if (flags !== undefined) body.flags = flags;
  // A literal per kind: dnat's and snat's objects made the fast way.
  return kind === 'dnat' ? { dnat: body } : kind === 'snat' ? { snat: body } : { [kind]: body };
}

/** dnat, snat, masquerade, redirect, reject. @example EXT_STATEMENTS.dnat({ addr: { range: ['10.0.0.1', '10.0.0.9'] }, port: 80 }, ctx, where) */
export const natExtension: Extension = {
  statements: {
    dnat: (b, c, w) => nat('dnat', b, c, w),
    snat: (b, c, w) => nat('snat', b, c, w),
    masquerade: (b, c, w) => toPorts('masquerade', b, c, w),
    redirect: (b, c, w) => toPorts('redirect', b, c, w),
    reject,
  },
  decoders: {
    nat: decodeNat,
    masq: (d, c) => decodePorts('masquerade', d, c),
    redir: (d, c) => decodePorts('redirect', d, c),
    reject: decodeReject,
  },
  printers: {
    dnat: (b, e) => natText('dnat', b, e), snat: (b, e) => natText('snat', b, e),
    masquerade: (b) => natText('masquerade', b), redirect: (b) => natText('redirect', b),
  },
  parsers: { dnat: (p) => natStatement('dnat', p), snat: (p) => natStatement('snat', p), masquerade: (p) => natStatement('masquerade', p), redirect: (p) => natStatement('redirect', p) },
};
