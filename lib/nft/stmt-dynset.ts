// The set statement (nft's dynset expression): `update @s { ip saddr }`, `add @s { ip saddr .
// tcp dport }`, `delete @s { ... }`, with an element timeout (`{ ip saddr timeout 5s }`), as
// kube-proxy's session affinity writes it. As nft 1.0.6: the key is loaded like a lookup's
// (32-bit registers inside a concatenation), the expression carries SREG_KEY, OP, TIMEOUT (only
// when not 0), SET_NAME and SET_ID, and a set declared in the same batch gets NFT_SET_EVAL
// (nft lists it as `flags dynamic`). Set updates that store data (maps) or run statements on
// the element (`{ ip saddr counter }`) are refused by name.
import type { AttrTable } from './attrs.js';
import { keyBitField } from './bitkeys.js';
import { invalid, unsupported } from './errors.js';
import { exprData, isObj, type Extension, type TextCtx } from './ext.js';
import { durationMs, timeText } from './duration.js';
import type { Statement } from './types.js';

/** NFTA_DYNSET_* */
const DYNSET = { SET_NAME: 1, SET_ID: 2, OP: 3, SREG_KEY: 4, SREG_DATA: 5, TIMEOUT: 6, EXPR: 7, FLAGS: 9, EXPRESSIONS: 10 } as const;
/** NFT_DYNSET_OP_*: the op names nft's JSON and text use. */
const OPS = ['add', 'update', 'delete'];

/** `{ set: { op, elem, set: "@name" } }` -> the key's loads and a dynset expression. */
function compileSet(body: unknown, c: Parameters<NonNullable<Extension['statements']>[string]>[1], where: string): void {
  if (!isObj(body)) throw invalid(where, 'must be { op, elem, set }');
  for (const k of Object.keys(body)) if (k !== 'op' && k !== 'elem' && k !== 'set') throw unsupported(`${where}.${k}`, `set statement property "${k}"`);
  const op = typeof body.op === 'string' ? OPS.indexOf(body.op) : -1;
  if (op < 0) throw invalid(`${where}.op`, `must be one of ${OPS.join(', ')}`);
  if (typeof body.set !== 'string' || !body.set.startsWith('@') || body.set.length < 2) throw invalid(`${where}.set`, 'must be "@name" (a named set)');
  const name = body.set.slice(1);
  let key = body.elem, timeoutMs = 0n;
  if (isObj(key) && 'elem' in key) {
    const eo = key.elem;
    if (!isObj(eo)) throw invalid(`${where}.elem.elem`, 'must be { val, timeout? }');
    for (const k of Object.keys(eo)) if (k !== 'val' && k !== 'timeout') throw unsupported(`${where}.elem.elem.${k}`, `"${k}" on the element of a set statement (only timeout)`);
    const t = eo.timeout;
    if (t !== undefined && (typeof t !== 'number' || !(t >= 0) || !Number.isSafeInteger(Math.round(t * 1000)))) throw invalid(`${where}.elem.elem.timeout`, `must be a number of seconds, got ${JSON.stringify(t)}`);
    if (t !== undefined) timeoutMs = BigInt(Math.round(t * 1000));
    key = eo.val;
  }
  if (key === undefined) throw invalid(`${where}.elem`, 'needs the key expression');
  // nft 1.0.6 lists a sub-byte field there as `ip dscp >> 2`, also alone (bitkeys.ts): refused.
  const parts = isObj(key) && Array.isArray(key.concat) ? key.concat : [key];
  const bit = parts.map(keyBitField).find((b) => b);
  if (bit) throw unsupported(`${where}.elem`, `${bit.protocol} ${bit.field} in a set statement's key`);
  const s = c.setRef?.(name);
  if (s?.map) throw unsupported(where, `set statements on map @${name}`);
  const len = c.loadAt(key, 0, `${where}.elem`);
  if (s && s.keyLen !== len) throw invalid(`${where}.elem`, `@${name} has ${s.keyLen}-byte keys, the expression is ${len} bytes`);
  c.dynamic?.(name);
  c.out.push({
    op: 'raw', name: 'dynset', data: exprData((w) => {
      w.be32(DYNSET.SREG_KEY, 1);
      w.be32(DYNSET.OP, op);
      if (timeoutMs > 0n) w.be64(DYNSET.TIMEOUT, timeoutMs);
      w.str(DYNSET.SET_NAME, name);
      if (s?.id !== undefined) w.be32(DYNSET.SET_ID, s.id);
    }),
  });
}

/** The kernel's dynset (as it dumps it) -> nft's JSON statement. */
function decodeSet(d: AttrTable, c: Parameters<NonNullable<Extension['decoders']>[string]>[1]): void {
  if (d.has(DYNSET.SREG_DATA)) c.refuse('a set statement that stores data (map update)');
  if (d.has(DYNSET.EXPR) || d.has(DYNSET.EXPRESSIONS)) c.refuse('a set statement with statements on its element');
  const flags = d.be32(DYNSET.FLAGS) ?? 0;
  if (flags & ~2) c.refuse(`a set statement with flags ${flags}`);
  const op = OPS[d.be32(DYNSET.OP) ?? -1];
  const setName = d.str(DYNSET.SET_NAME);
  if (op === undefined || setName === undefined) c.refuse('a set statement without op or set');
  const loads = c.takeLoads();
  if (loads.length === 0 || loads.some((l) => !l.plain)) c.refuse('a set statement without a plain key');
  const val = loads.length === 1 ? loads[0]!.json : { concat: loads.map((l) => l.json) };
  const timeoutMs = d.be64(DYNSET.TIMEOUT) ?? 0n;
  const elem = timeoutMs > 0n ? { elem: { val, timeout: Number(timeoutMs) / 1000 } } : val;
  c.out.push({ set: { op, elem, set: `@${setName!}` } });
}

/** nft's text: `update @s { ip saddr timeout 5s }`. */
function setText(body: unknown, expr: (e: unknown) => string): string {
  const b = body as { op: string; elem: unknown; set: string };
  const e = b.elem;
  const opts = isObj(e) && 'elem' in e && isObj(e.elem) ? e.elem : undefined;
  const key = expr(opts ? opts.val : e);
  const timeout = opts?.timeout !== undefined ? ` timeout ${timeText(Math.round(Number(opts.timeout) * 1000))}` : '';
  return `${b.op} ${b.set} { ${key}${timeout} }`;
}

/** `update|add|delete @name { expression [timeout T] }`. */
function parseSet(op: string): (p: TextCtx) => Statement {
  return (p) => {
    const at = p.next();
    if (at.v !== '@' && !at.v.startsWith('@')) p.unexpected(at, '@set');
    const set = at.v === '@' ? `@${p.word('a set name')}` : at.v;
    const open = p.next();
    if (open.v !== '{') p.unexpected(open, "'{'");
    const val = p.expression();
    let elem: unknown = val;
    if (p.peek().v === 'timeout') {
      p.next();
      const t = p.next();
      const ms = durationMs(t.v);
      if (ms === undefined) p.unexpected(t, 'a time');
      elem = { elem: { val, timeout: ms! / 1000 } };
    }
    // Other element options: in the JSON, where the compiler names what it refuses.
    if (p.peek().v === 'expires' || p.peek().v === 'comment') {
      const k = p.next().v;
      elem = { elem: { ...(isObj(elem) && 'elem' in elem ? elem.elem as object : { val }), [k]: p.next().v } };
    }
    const close = p.next();
    if (close.v !== '}') p.unexpected(close, "'}'");
    return { set: { op, elem, set } };
  };
}

/** The set statement. @example EXT_STATEMENTS.set({ op: 'update', elem: { payload: { protocol: 'ip', field: 'saddr' } }, set: '@a' }, ctx, where) */
export const dynsetExtension: Extension = {
  statements: { set: compileSet },
  decoders: { dynset: decodeSet },
  printers: { set: setText },
  parsers: { update: parseSet('update'), add: parseSet('add'), delete: parseSet('delete') },
};
