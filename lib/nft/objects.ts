// Named stateful objects (NFT_MSG_NEWOBJ/DELOBJ, listed by GETOBJ dumps): counter, quota, limit
// and ct helper, as nft 1.0.6 sends, lists (json.c obj_print_json) and prints (rule.c
// obj_print_data) them, and the rules' references to them (the objref expression: `counter name
// "c1"`, `quota name`, `limit name`, `ct helper set "ftp"`, `ct timeout set "t"`, `ct expectation
// set "e"`, `synproxy name "s"`; ct expectation and synproxy in obj-extra.ts). Other object
// types (secmark, tunnel, connlimit) are refused by name.
import { attrMap, AttrTable, be32, be64, str, type NlMsg } from './attrs.js';
import { familyName, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST } from './consts.js';
import { invalid, unsupported } from './errors.js';
import { exprData, isObj, uint, type Extension, type TextCtx } from './ext.js';
import { objref, OBJECT_TYPE as TYPE, REF } from './objref.js';
import { limitData, limitJson, limitText, parseLimitBody, parseQuotaBody, quotaData, quotaText, rateUnit } from './stmt-limit.js';
import type { Family, Statement } from './types.js';
import { UD_COMMENT, udataComment, UdataBuilder, COMMENT_MAX } from './udata.js';
import type { NftWriter } from './wire.js';
import { EXTRA_KEYS, extraBodyLine, extraData, extraJson, extraText } from './obj-extra.js';

// Where the text parser and the compiler have looked for them.
export { namedRef, objref } from './objref.js';

/** NFT_MSG_NEWOBJ, GETOBJ, DELOBJ. */
export const OBJ_MSG = { NEW: 18, GET: 19, DEL: 20 } as const;
const OBJ = { TABLE: 1, NAME: 2, TYPE: 3, DATA: 4, HANDLE: 6, USERDATA: 8 } as const;
const OTHER: Record<number, string> = { 5: 'connlimit', 6: 'tunnel', 8: 'secmark' };
const CT_TIMEOUT = { L3PROTO: 1, L4PROTO: 2, DATA: 3 } as const;
/**
 * ct timeout states per protocol (their CTA_TIMEOUT_* attribute is the index + 1) with the
 * defaults nft 1.0.6 sends for the states a policy leaves out (src/ct.c), in seconds.
 */
const TIMEOUT_STATES: Record<string, Array<[string, number]>> = {
  tcp: [['syn_sent', 120], ['syn_recv', 60], ['established', 432000], ['fin_wait', 120], ['close_wait', 60], ['last_ack', 30],
    ['time_wait', 120], ['close', 10], ['syn_sent2', 120], ['retrans', 300], ['unacknowledged', 300]],
  udp: [['unreplied', 30], ['replied', 180]],
};
/** The object kinds apply() and list() know. */
export const OBJECT_KINDS = Object.keys(TYPE);
const HELPER = { NAME: 1, L3PROTO: 2, L4PROTO: 3 } as const;
const NFPROTO: Record<string, number> = { ip: 2, ip6: 10, inet: 1 };
const L4: Record<string, number> = { tcp: 6, udp: 17 };

function only(o: Record<string, unknown>, keys: string[], where: string, what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw unsupported(`${where}.${k}`, `${what} property "${k}"`);
}

function objectData(kind: string, o: Record<string, unknown>, family: Family, where: string): Buffer {
  const common = ['family', 'table', 'name', 'handle', 'comment'];
  // ct expectation, synproxy: obj-extra.ts.
  if (EXTRA_KEYS[kind]) {
    only(o, [...common, ...EXTRA_KEYS[kind]!], where, kind);
    return extraData(kind, o, family, where);
  }
  switch (kind) {
    case 'counter': {
      only(o, [...common, 'packets', 'bytes'], where, 'counter');
      const n = (k: string) => BigInt(uint(o[k], `${where}.${k}`, Number.MAX_SAFE_INTEGER, invalid) ?? 0);
      return exprData((w) => { w.be64(1, n('bytes')); w.be64(2, n('packets')); });
    }
    case 'quota': {
      only(o, [...common, 'bytes', 'used', 'inv'], where, 'quota');
      if (uint(o.bytes, `${where}.bytes`, Number.MAX_SAFE_INTEGER, invalid) === undefined) throw invalid(`${where}.bytes`, 'is required');
      uint(o.used, `${where}.used`, Number.MAX_SAFE_INTEGER, invalid);
      // The object's JSON counts bytes (the statement's has units).
      return quotaData({ val: o.bytes, used: o.used, ...(o.inv !== undefined ? { inv: o.inv } : {}) }, where);
    }
    case 'limit': {
      only(o, [...common, 'rate', 'per', 'burst', 'rate_unit', 'burst_unit', 'inv'], where, 'limit');
      const { family: _f, table: _t, name: _n, handle: _h, comment: _c, ...body } = o;
      return limitData(body, where, true);
    }
    case 'ct timeout': {
      only(o, [...common, 'protocol', 'l3proto', 'policy'], where, 'ct timeout');
      const states = typeof o.protocol === 'string' ? TIMEOUT_STATES[o.protocol] : undefined;
      if (!states) throw invalid(`${where}.protocol`, 'must be "tcp" or "udp"');
      const l3 = NFPROTO[String(o.l3proto ?? family)];
      if (l3 === undefined || l3 === 1) throw invalid(`${where}.l3proto`, 'must be ip or ip6');
      const policy = o.policy ?? {};
      if (!isObj(policy)) throw invalid(`${where}.policy`, 'must be { state: seconds, ... }');
      const values = states.map(([, d]) => d);
      for (const [k, v] of Object.entries(policy)) {
        const i = states.findIndex(([n]) => n === k);
        if (i < 0) throw invalid(`${where}.policy.${k}`, `unknown ${String(o.protocol)} state (${states.map(([n]) => n).join(', ')})`);
        values[i] = uint(v, `${where}.policy.${k}`, 0xffffffff, invalid)!;
      }
      return exprData((w) => {
        w.be16(CT_TIMEOUT.L3PROTO, l3);
        w.u8(CT_TIMEOUT.L4PROTO, L4[o.protocol as string]!);
        const at = w.nest(CT_TIMEOUT.DATA);
        values.forEach((v, i) => w.be32(i + 1, v));
        w.endNest(at);
      });
    }
    default: {
      only(o, [...common, 'type', 'protocol', 'l3proto'], where, 'ct helper');
      if (typeof o.type !== 'string' || o.type === '' || Buffer.byteLength(o.type) > 15) throw invalid(`${where}.type`, 'must be a helper name like "ftp"');
      const l4 = typeof o.protocol === 'string' ? L4[o.protocol] : undefined;
      if (l4 === undefined) throw invalid(`${where}.protocol`, 'must be "tcp" or "udp"');
      const l3 = NFPROTO[String(o.l3proto ?? family)];
      if (l3 === undefined) throw invalid(`${where}.l3proto`, 'must be ip, ip6 or inet');
      // libnftnl puts these names without a NUL (mnl_attr_put_str).
      return exprData((w) => { w.bytes(HELPER.NAME, Buffer.from(o.type as string)); w.be16(HELPER.L3PROTO, l3); w.u8(HELPER.L4PROTO, l4); });
    }
  }
}

/**
 * An add/create/delete of a named object into the batch.
 * @example writeObject(w, 'add', 'counter', { family: 'inet', table: 't', name: 'c1' }, 'commands[1].add.counter', checks)
 */
export function writeObject(w: NftWriter, verb: string, kind: string, o: Record<string, unknown>, where: string,
  check: { family(o: Record<string, unknown>, where: string): Family; name(o: Record<string, unknown>, key: string, where: string): string }): void {
  const f = check.family(o, where), t = check.name(o, 'table', where), n = check.name(o, 'name', where);
  const fam = { ip: 2, ip6: 10, inet: 1, arp: 3, bridge: 7, netdev: 5 }[f];
  if (verb === 'delete') {
    w.begin(OBJ_MSG.DEL, NLM_F_REQUEST, fam);
    w.str(OBJ.TABLE, t); w.str(OBJ.NAME, n); w.be32(OBJ.TYPE, TYPE[kind]!);
    return void w.end();
  }
  if (verb !== 'add' && verb !== 'create') throw invalid(where, `${verb} does not apply to ${kind} objects (add, create, delete)`);
  if (o.comment !== undefined && (typeof o.comment !== 'string' || Buffer.byteLength(o.comment) > COMMENT_MAX)) throw invalid(`${where}.comment`, `must be a string of at most ${COMMENT_MAX} bytes`);
  const data = objectData(kind, o, f, where);
  w.begin(OBJ_MSG.NEW, NLM_F_REQUEST | NLM_F_CREATE | (verb === 'create' ? NLM_F_EXCL : 0), fam);
  w.str(OBJ.TABLE, t); w.str(OBJ.NAME, n); w.be32(OBJ.TYPE, TYPE[kind]!);
  if (typeof o.comment === 'string') w.bytes(OBJ.USERDATA, new UdataBuilder().strz(UD_COMMENT, o.comment).build());
  w.within(OBJ.DATA, () => { w.ensure(data.length); data.copy(w.buf, w.pos); w.pos += data.length; });
  w.end();
}

/**
 * A NEWOBJ reply as `nft -j list` shows it: `{ counter: {...} }` etc.
 * @example decodeObject(msg) // { counter: { family: 'inet', name: 'c1', table: 't', handle: 3, packets: 0, bytes: 0 } }
 */
export function decodeObject(m: NlMsg, refuse: (what: string) => never): Record<string, Record<string, unknown>> {
  const a = attrMap(m.body);
  const type = be32(a.get(OBJ.TYPE)) ?? 0;
  const name = str(a.get(OBJ.NAME)) ?? '';
  const kind = Object.keys(TYPE).find((k) => TYPE[k] === type) ?? refuse(`the ${OTHER[type] ?? `type ${type}`} object ${name}`);
  const d = attrMap(a.get(OBJ.DATA) ?? Buffer.alloc(0));
  const o: Record<string, unknown> = { family: familyName(m.family), name, table: str(a.get(OBJ.TABLE)), handle: be64(a.get(OBJ.HANDLE)) ?? 0 };
  const comment = udataComment(a.get(OBJ.USERDATA), UD_COMMENT);
  if (comment !== undefined) o.comment = comment;
  const u64 = (t: number) => Number(d.get(t)?.readBigUInt64BE(0) ?? 0n);
  if (EXTRA_KEYS[kind]) extraJson(kind, d, o, refuse);
  else if (kind === 'counter') { o.packets = u64(2); o.bytes = u64(1); }
  else if (kind === 'quota') { o.bytes = u64(1); o.used = u64(4); o.inv = ((be32(d.get(2)) ?? 0) & 1) !== 0; }
  else if (kind === 'ct timeout') {
    // nft lists the states whose timeout differs from its default.
    const l4 = d.get(CT_TIMEOUT.L4PROTO)?.[0];
    const p = Object.keys(L4).find((k) => L4[k] === l4) ?? refuse(`ct timeout ${name} for protocol ${l4}`);
    const l3 = d.get(CT_TIMEOUT.L3PROTO)?.readUInt16BE(0);
    o.protocol = p;
    o.l3proto = Object.keys(NFPROTO).find((k) => NFPROTO[k] === l3) ?? refuse(`ct timeout ${name} for family ${l3}`);
    const policy: Record<string, number> = {};
    const v = attrMap(d.get(CT_TIMEOUT.DATA) ?? Buffer.alloc(0));
    TIMEOUT_STATES[p]!.forEach(([n, def], i) => { const x = be32(v.get(i + 1)); if (x !== undefined && x !== def) policy[n] = x; });
    o.policy = policy;
  } else if (kind === 'limit') {
    const l = limitJson(new AttrTable().index(a.get(OBJ.DATA) ?? Buffer.alloc(0)));
    o.rate = l.rate; o.per = l.per;
    if (l.inv) o.inv = true;
    if (l.rate_unit) o.rate_unit = l.rate_unit;
    if (l.burst) { o.burst = l.burst; if (l.burst_unit) o.burst_unit = l.burst_unit; }
  } else {
    o.type = str(d.get(HELPER.NAME));
    const l4 = d.get(HELPER.L4PROTO)?.[0];
    o.protocol = Object.keys(L4).find((k) => L4[k] === l4) ?? refuse(`ct helper ${name} for protocol ${l4}`);
    const l3 = d.get(HELPER.L3PROTO)?.readUInt16BE(0);
    o.l3proto = Object.keys(NFPROTO).find((k) => NFPROTO[k] === l3) ?? refuse(`ct helper ${name} for family ${l3}`);
  }
  return { [kind]: o };
}

/**
 * nft's text of an object in a table listing (tab-indented, with `# handle N` when asked).
 * @example objectText('counter', { name: 'c1', packets: 0, bytes: 0 }, false) // '\tcounter c1 {\n\t\tpackets 0 bytes 0\n\t}\n'
 */
export function objectText(kind: string, o: Record<string, unknown>, handles: boolean): string {
  let out = `\t${kind} ${String(o.name)} {${handles ? ` # handle ${String(o.handle)}` : ''}\n`;
  if (o.comment !== undefined) out += `\t\tcomment "${String(o.comment)}"\n`;
  if (EXTRA_KEYS[kind]) out += extraText(kind, o);
  else if (kind === 'counter') out += `\t\tpackets ${String(o.packets)} bytes ${String(o.bytes)}\n`;
  else if (kind === 'quota') {
    const [v, vu] = rateUnit(BigInt(Number(o.bytes ?? 0))), [u, uu] = rateUnit(BigInt(Number(o.used ?? 0)));
    out += `\t\t${quotaText({ val: v, val_unit: vu, inv: o.inv, used: u, used_unit: uu })}\n`;
  } else if (kind === 'limit') {
    const bytes = o.rate_unit !== undefined;
    out += `\t\t${limitText({ ...o, burst: o.burst ?? 0, ...(bytes ? { burst_unit: o.burst_unit ?? 'bytes' } : {}) })}\n`;
  } else if (kind === 'ct timeout') {
    const pol = Object.entries((o.policy ?? {}) as Record<string, unknown>).map(([k, v]) => `${k} : ${String(v)}`).join(', ');
    out += `\t\tprotocol ${String(o.protocol)}\n\t\tl3proto ${String(o.l3proto)}\n\t\tpolicy = { ${pol} }\n`;
  } else out += `\t\ttype "${String(o.type)}" protocol ${String(o.protocol)}\n\t\tl3proto ${String(o.l3proto)}\n`;
  return `${out}\t}\n`;
}

/**
 * The body of an object in nft's text (`{ packets 1 bytes 2; comment "x" }` and the others),
 * after its name; the cursor is on `{` (or on what follows a bodiless `add counter`).
 * @example parseObjectBody(cursor, 'quota') // { bytes: 104857600, used: 0 } for `{ 100 mbytes; }`
 */
export function parseObjectBody(p: TextCtx, kind: string): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (p.peek().v !== '{') return o;
  p.next();
  const sep = () => { while (p.peek().kind === 'nl' || (p.peek().v === ';' && p.peek().kind === 'punct')) p.next(); };
  for (;;) {
    sep();
    const t = p.peek();
    if (t.v === '}' && t.kind === 'punct') { p.next(); return o; }
    if (t.v === 'comment') { p.next(); const c = p.next(); if (c.kind !== 'string') p.unexpected(c, 'quoted string'); o.comment = c.v; continue; }
    if (EXTRA_KEYS[kind]) {
      if (!extraBodyLine(p, kind, o)) p.unexpected(t);
      continue;
    }
    if (kind === 'counter' && (t.v === 'packets' || t.v === 'bytes')) {
      p.next();
      const n = p.next();
      if (!/^\d+$/.test(n.v)) p.unexpected(n, 'a number');
      o[t.v] = Number(n.v);
    } else if (kind === 'quota') {
      const q = parseQuotaBody(p);
      const bytes = (n: unknown, u: unknown) => Number(BigInt(Number(n)) * 1024n ** BigInt(['bytes', 'kbytes', 'mbytes'].indexOf(String(u))));
      o.bytes = bytes(q.val, q.val_unit);
      o.used = q.used === undefined ? 0 : bytes(q.used, q.used_unit);
      if (q.inv) o.inv = true;
    } else if (kind === 'limit') {
      Object.assign(o, parseLimitBody(p));
      if (o.rate_unit === undefined && o.burst === undefined) o.burst = 5;
      if (o.burst === 0) { delete o.burst; delete o.burst_unit; }
    } else if (kind === 'ct helper' && t.v === 'type') {
      p.next();
      const n = p.next();
      if (n.kind !== 'string') p.unexpected(n, 'quoted string');
      o.type = n.v;
      if (p.word('protocol') !== 'protocol') p.unexpected(p.peek(-1), 'protocol');
      o.protocol = p.word('tcp or udp');
    } else if (kind === 'ct timeout' && (t.v === 'protocol' || t.v === 'l3proto')) {
      p.next();
      o[t.v] = p.word(t.v === 'protocol' ? 'tcp or udp' : 'ip or ip6');
    } else if (kind === 'ct timeout' && t.v === 'policy') {
      // `policy = { established : 100, close : 4 }`
      p.next();
      if (p.next().v !== '=') p.unexpected(p.peek(-1), "'='");
      if (p.next().v !== '{') p.unexpected(p.peek(-1), "'{'");
      const pol: Record<string, number> = {};
      for (;;) {
        while (p.peek().kind === 'nl') p.next();
        const k = p.next();
        if (k.v === '}' && k.kind === 'punct') break;
        const c = p.next();
        // The tokenizer keeps `established:` together when written without a blank.
        const key = k.v.endsWith(':') ? k.v.slice(0, -1) : k.v;
        const n = k.v.endsWith(':') ? c : (c.v === ':' ? p.next() : p.unexpected(c, "':'"));
        if (!/^\d+$/.test(n.v)) p.unexpected(n, 'a number of seconds');
        pol[key] = Number(n.v);
        while (p.peek().kind === 'nl') p.next();
        if (p.peek().v === ',') p.next();
      }
      o.policy = pol;
    } else if (kind === 'ct helper' && t.v === 'l3proto') {
      p.next();
      o.l3proto = p.word('ip, ip6 or inet');
    } else p.unexpected(t);
  }
}

export const objectsExtension: Extension = {
  statements: {
    'ct helper': (body, c, where) => objref(c.out, 'ct helper', body, where),
    'ct timeout': (body, c, where) => objref(c.out, 'ct timeout', body, where),
    'ct expectation': (body, c, where) => objref(c.out, 'ct expectation', body, where),
    // `synproxy name "sp"`; the statement with its own options is not encoded.
    synproxy: (body, c, where) => (isObj(body) ? (() => { throw unsupported(where, 'the synproxy statement with its own options (only synproxy name)'); })() : objref(c.out, 'synproxy', body, where)),
  },
  decoders: {
    objref: (d, c) => {
      const type = d.be32(REF.TYPE) ?? c.refuse('an object reference through a map');
      const kind = Object.keys(TYPE).find((k) => TYPE[k] === type) ?? c.refuse(`a reference to a ${OTHER[type] ?? `type ${type}`} object`);
      c.out.push({ [kind]: d.str(REF.NAME) ?? '' });
    },
  },
  printers: {
    'ct helper': (b) => `ct helper set "${String(b)}"`, 'ct timeout': (b) => `ct timeout set "${String(b)}"`,
    'ct expectation': (b) => `ct expectation set "${String(b)}"`, synproxy: (b) => `synproxy name "${String(b)}"`,
  },
};
