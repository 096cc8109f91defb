// log and notrack statements as nft 1.0.6 sends, lists and prints them: prefix, group (nflog)
// with snaplen and queue-threshold, syslog level (warn, the kernel's default, is not shown) and
// log flags.
import type { AttrTable } from './attrs.js';
import { invalid } from './errors.js';
import { exprData, isObj, uint, type Extension, type TextCtx } from './ext.js';
import type { Statement } from './types.js';

const LOG = { GROUP: 1, PREFIX: 2, SNAPLEN: 3, QTHRESHOLD: 4, LEVEL: 5, FLAGS: 6 } as const;
const LEVELS = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug', 'audit'];
const WARN = 4;
const FLAGS: Record<string, number | undefined> = { 'tcp sequence': 1, 'tcp options': 2, 'ip options': 4, skuid: 8, ether: 0x20, all: 0x2f };
const ALL = 0x2f;

function logData(b: Record<string, unknown>, where: string): Buffer {
  for (const k of Object.keys(b)) if (!['prefix', 'group', 'snaplen', 'queue-threshold', 'level', 'flags'].includes(k)) throw invalid(`${where}.${k}`, 'unknown log property');
  if (b.prefix !== undefined && (typeof b.prefix !== 'string' || Buffer.byteLength(b.prefix) > 127)) throw invalid(`${where}.prefix`, 'must be a string of at most 127 bytes');
  const group = uint(b.group, `${where}.group`, 0xffff, invalid);
  const snaplen = uint(b.snaplen, `${where}.snaplen`, 0xffffffff, invalid);
  const qthreshold = uint(b['queue-threshold'], `${where}.queue-threshold`, 0xffff, invalid);
  let level: number | undefined;
  if (b.level !== undefined) {
    level = typeof b.level === 'string' ? LEVELS.indexOf(b.level) : -1;
    if (level < 0) throw invalid(`${where}.level`, `must be one of ${LEVELS.join(', ')}`);
  }
  let flags = 0;
  if (b.flags !== undefined) {
    for (const f of ([] as unknown[]).concat(b.flags)) {
      const bit = typeof f === 'string' ? FLAGS[f] : undefined;
      if (bit === undefined) throw invalid(`${where}.flags`, `unknown log flag ${JSON.stringify(f)} (${Object.keys(FLAGS).join(', ')})`);
      flags |= bit;
    }
  }
  if (group !== undefined && (level !== undefined || flags)) throw invalid(where, 'a log group (nflog) takes no level or flags');
  if (group === undefined && (snaplen !== undefined || qthreshold !== undefined)) throw invalid(where, 'snaplen and queue-threshold need a group');
  return exprData((w) => {
    if (typeof b.prefix === 'string') w.str(LOG.PREFIX, b.prefix);
    if (group !== undefined) w.be16(LOG.GROUP, group);
    if (snaplen !== undefined) w.be32(LOG.SNAPLEN, snaplen);
    if (qthreshold !== undefined) w.be16(LOG.QTHRESHOLD, qthreshold);
    if (level !== undefined) w.be32(LOG.LEVEL, level);
    if (flags) w.be32(LOG.FLAGS, flags);
  });
}

function flagNames(f: number): string[] {
  if ((f & ALL) === ALL) return ['all'];
  return Object.entries(FLAGS).filter(([n, v]) => n !== 'all' && (f & v!) !== 0).map(([n]) => n);
}

function logJson(d: AttrTable): Statement {
  const o: Record<string, unknown> = {};
  const prefix = d.str(LOG.PREFIX);
  if (prefix !== undefined) o.prefix = prefix;
  const group = d.be16(LOG.GROUP), snaplen = d.be32(LOG.SNAPLEN), qthreshold = d.be16(LOG.QTHRESHOLD);
  if (group !== undefined) o.group = group;
  if (snaplen) o.snaplen = snaplen;
  if (qthreshold) o['queue-threshold'] = qthreshold;
  const level = d.be32(LOG.LEVEL) ?? WARN;
  if (level !== WARN) o.level = LEVELS[level] ?? level;
  const fl = d.be32(LOG.FLAGS);
  const flags = fl !== undefined ? flagNames(fl) : [];
  if (flags.length) o.flags = flags.length === 1 ? flags[0] : flags;
  return { log: Object.keys(o).length ? o : null };
}

function logText(body: unknown): string {
  if (!isObj(body)) return 'log';
  let out = 'log';
  if (body.prefix !== undefined) out += ` prefix "${String(body.prefix)}"`;
  if (body.group !== undefined) out += ` group ${String(body.group)}`;
  if (body.snaplen !== undefined) out += ` snaplen ${String(body.snaplen)}`;
  if (body['queue-threshold'] !== undefined) out += ` queue-threshold ${String(body['queue-threshold'])}`;
  if (body.level !== undefined && body.level !== 'warn') out += ` level ${String(body.level)}`;
  const f = new Set(([] as unknown[]).concat(body.flags ?? []));
  if (f.has('all')) out += ' flags all';
  else {
    if (f.has('tcp sequence') || f.has('tcp options')) out += ` flags tcp ${[f.has('tcp sequence') ? 'sequence' : '', f.has('tcp options') ? 'options' : ''].filter(Boolean).join(',')}`;
    if (f.has('ip options')) out += ' flags ip options';
    if (f.has('skuid')) out += ' flags skuid';
    if (f.has('ether')) out += ' flags ether';
  }
  return out;
}

function parseLog(p: TextCtx): Statement {
  const o: Record<string, unknown> = {};
  const flags: string[] = [];
  const n = (max: number): number => {
    const t = p.next();
    if (!/^\d+$/.test(t.v) || Number(t.v) > max) p.unexpected(t, 'a number');
    return Number(t.v);
  };
  for (;;) {
    const t = p.peek();
    if (t.kind !== 'word') break;
    if (t.v === 'prefix') { p.next(); const s = p.next(); if (s.kind !== 'string' && s.kind !== 'word') p.unexpected(s, 'quoted string'); o.prefix = s.v; }
    else if (t.v === 'group') { p.next(); o.group = n(0xffff); }
    else if (t.v === 'snaplen') { p.next(); o.snaplen = n(0xffffffff); }
    else if (t.v === 'queue-threshold') { p.next(); o['queue-threshold'] = n(0xffff); }
    else if (t.v === 'level') { p.next(); o.level = p.word('a log level'); }
    else if (t.v === 'flags') {
      p.next();
      const k = p.word('tcp, ip, skuid, ether or all');
      if (k === 'tcp') {
        for (;;) {
          const x = p.word('sequence or options');
          if (x !== 'sequence' && x !== 'options') p.unexpected(p.peek(-1), 'sequence or options');
          flags.push(`tcp ${x}`);
          if (p.peek().v !== ',') break;
          p.next();
        }
      } else if (k === 'ip') { if (p.word('options') !== 'options') p.unexpected(p.peek(-1), 'options'); flags.push('ip options'); }
      else if (k === 'skuid' || k === 'ether' || k === 'all') flags.push(k);
      else p.unexpected(p.peek(-1), 'tcp, ip, skuid, ether or all');
    } else break;
  }
  if (flags.length) o.flags = flags.length === 1 ? flags[0] : flags;
  return { log: Object.keys(o).length ? o : null };
}

/** log and notrack. @example EXT_STATEMENTS.log({ prefix: 'in: ', level: 'debug' }, ctx, where) */
export const logExtension: Extension = {
  statements: {
    log: (body, c, where) => {
      if (body !== null && body !== undefined && !isObj(body)) throw invalid(where, 'must be null or { prefix?, group?, snaplen?, queue-threshold?, level?, flags? }');
      c.out.push({ op: 'raw', name: 'log', data: logData(body ?? {}, where) });
    },
    notrack: (body, c, where) => {
      if (body !== null && body !== undefined) throw invalid(where, 'takes no value (null)');
      c.out.push({ op: 'raw', name: 'notrack' });
    },
  },
  decoders: {
    log: (d, c) => void c.out.push(logJson(d)),
    notrack: (_d, c) => void c.out.push({ notrack: null }),
  },
  printers: { log: logText, notrack: () => 'notrack' },
  parsers: { log: parseLog, notrack: () => ({ notrack: null }) },
};
