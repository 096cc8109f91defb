// Property tests of ipset's text syntax (no kernel): entries and create lines built from each
// set type's grammar are written, read back and accepted by the restore checker; mutated and
// random input to every reader gives a value or a typed NlkitError, never another exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ExistsError, InUseError, InvalidArgumentError, NotFoundError } from '../../lib/core/errors.js';
import {
  formatCreate, formatEntry, parseHeader, parseList, parseMember, parseSave, tokenize, validateElement,
  validateRestore, validateSetName, type KnownSet,
} from '../../lib/ipset/syntax.js';
import { MAX_TIMEOUT } from '../../lib/ipset/grammar.js';
import { SET_TYPES, type CreateOptions, type EntryObject, type Family, type SetType } from '../../lib/ipset/types.js';
import { garbage, mutated, nastyWord, params, typed } from '../helpers/fuzz.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/ipset/${name}`, import.meta.url), 'utf8');
const RESTORE_FIXTURES = ['input.restore', 'save.txt'].map(fixture);
const LIST_FIXTURES = ['list.txt', 'list-terse.txt'].map(fixture);

const byte = fc.integer({ min: 0, max: 255 });
const hex16 = fc.integer({ min: 1, max: 0xffff }).map((n) => n.toString(16));
// Never all-zero: hash:ip and hash:ip,port refuse the null address.
const v4 = fc.tuple(fc.integer({ min: 1, max: 223 }), byte, byte, byte).map((p) => p.join('.'));
const v6 = fc.tuple(hex16, hex16).map(([a, b]) => `2001:db8:${a}::${b}`);
const inBitmapRange = fc.tuple(byte, byte).map(([a, b]) => `10.0.${a}.${b}`);
const mac = fc.array(byte, { minLength: 6, maxLength: 6 }).map((b) => b.map((x) => x.toString(16).padStart(2, '0').toUpperCase()).join(':'));
const setName = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_.'.split('')), minLength: 1, maxLength: 31 })
  .filter((n) => n[0] !== '-');
const portPart = fc.record({ proto: fc.constantFrom('tcp', 'udp', 'sctp'), port: fc.integer({ min: 1, max: 65535 }) });
// Comments: no double quote or line break (libipset cannot hold them); any other character.
const comment = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  .map((s) => s.replace(/["\r\n\0]/g, 'q')).filter((s) => Buffer.byteLength(s) <= 255);

const extensions = (nomatch: boolean) => fc.record({
  timeout: fc.integer({ min: 0, max: MAX_TIMEOUT }),
  packets: fc.bigInt({ min: 0n, max: 18446744073709551614n }),
  bytes: fc.bigInt({ min: 0n, max: 18446744073709551614n }),
  comment,
  skbqueue: fc.integer({ min: 0, max: 65535 }),
  nomatch: nomatch ? fc.boolean() : fc.constant(undefined),
}, { requiredKeys: [] });

/** A well-formed entry object of `type`, in `family`. */
function element(type: SetType, family: Family): fc.Arbitrary<EntryObject> {
  const ip = family === 'inet6' ? v6 : v4;
  const net = fc.tuple(ip, fc.integer({ min: 1, max: family === 'inet6' ? 128 : 32 })).map(([a, c]) => `${a}/${c}`);
  switch (type) {
    case 'bitmap:ip': return fc.record({ ip: inBitmapRange });
    case 'bitmap:ip,mac': return fc.record({ ip: inBitmapRange, mac });
    case 'bitmap:port': return fc.record({ proto: fc.constantFrom('tcp', 'udp'), port: fc.integer({ min: 0, max: 65535 }) });
    case 'hash:ip': return fc.record({ ip });
    case 'hash:mac': return fc.record({ mac });
    case 'hash:ip,mac': return fc.record({ ip, mac });
    case 'hash:net': return fc.record({ ip: net });
    case 'hash:net,net': return fc.record({ ip: net, ip2: net });
    case 'hash:ip,port': return fc.tuple(ip, portPart).map(([a, p]) => ({ ip: a, ...p }));
    case 'hash:net,port': return fc.tuple(net, portPart).map(([a, p]) => ({ ip: a, ...p }));
    case 'hash:ip,port,ip': return fc.tuple(ip, portPart, ip).map(([a, p, b]) => ({ ip: a, ...p, ip2: b }));
    case 'hash:ip,port,net': return fc.tuple(ip, portPart, net).map(([a, p, b]) => ({ ip: a, ...p, ip2: b }));
    case 'hash:ip,mark': return fc.record({ ip, mark: fc.integer({ min: 0, max: 0xffffffff }) });
    case 'hash:net,port,net': return fc.tuple(net, portPart, net).map(([a, p, b]) => ({ ip: a, ...p, ip2: b }));
    case 'hash:net,iface': return fc.record({ ip: net, iface: fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/), physdev: fc.boolean() });
    case 'list:set': return fc.record({ set: fc.constant('member') });
  }
}

const RANGE: Partial<Record<SetType, string>> = { 'bitmap:ip': '10.0.0.0/16', 'bitmap:ip,mac': '10.0.0.0/16', 'bitmap:port': '0-65535' };
const familiesOf = (t: SetType): Family[] => (t.startsWith('hash:') && t !== 'hash:mac' ? ['inet', 'inet6'] : ['inet']);

const entryOf = (type: SetType, family: Family) =>
  fc.tuple(element(type, family), extensions(['hash:net', 'hash:net,net', 'hash:net,port', 'hash:ip,port,net', 'hash:net,port,net', 'hash:net,iface'].includes(type)))
    .map(([e, x]) => ({ type, family, entry: { ...e, ...x } as EntryObject }));
const typedEntry = fc.constantFrom(...SET_TYPES).chain((type) => fc.constantFrom(...familiesOf(type)).chain((family) => entryOf(type, family)));

/** The restore text that creates a set of `type` with every extension and adds `line` to it. */
function restoreText(type: SetType, family: Family, line: string): string {
  const opts: CreateOptions = { timeout: 0, counters: true, comment: true, skbinfo: true };
  if (RANGE[type]) opts.range = RANGE[type];
  if (familiesOf(type).length === 2) opts.family = family;
  const member = type === 'list:set' ? 'create member hash:ip\n' : '';
  return `${member}${formatCreate('s', type, opts)}\nadd s ${line}\n`;
}

const ERRORS = [InvalidArgumentError, NotFoundError, ExistsError, InUseError];

describe('ipset syntax: properties', () => {
  it('a well-formed entry of every type is written, read back and accepted as a restore line', () => {
    fc.assert(fc.property(typedEntry, ({ type, family, entry }) => {
      const line = formatEntry(type, entry);
      // The string form is ipset's own syntax: taken as it is.
      assert.equal(formatEntry(type, line), line);
      const m = parseMember(line);
      validateElement(type, family, m.elem);
      for (const k of ['timeout', 'packets', 'bytes', 'comment', 'skbqueue'] as const) assert.equal(m[k], entry[k], k);
      assert.equal(m.nomatch ?? false, entry.nomatch ?? false);
      const plan = validateRestore(restoreText(type, family, line), new Map());
      assert.ok(plan.created.includes('s'));
    }), params(600));
  });

  it('formatCreate writes what parseHeader reads back, and the restore checker takes it', () => {
    const opts = fc.record({
      hashsize: fc.integer({ min: 64, max: 1 << 20 }), maxelem: fc.integer({ min: 1, max: 1 << 24 }),
      timeout: fc.integer({ min: 0, max: MAX_TIMEOUT }), counters: fc.boolean(), comment: fc.boolean(),
      skbinfo: fc.boolean(), forceadd: fc.boolean(), bucketsize: fc.integer({ min: 2, max: 12 }),
      initval: fc.integer({ min: 0, max: 0xffffffff }),
    }, { requiredKeys: [] });
    fc.assert(fc.property(setName, fc.constantFrom<SetType>('hash:ip', 'hash:net', 'hash:ip,port', 'hash:net,iface'), fc.constantFrom<Family>('inet', 'inet6'), opts, (name, type, family, o) => {
      fc.pre(!/^(q|quiet|s|sorted|r|resolve|n|name|t|terse|o|output|f|file|exist)$/.test(name));
      const line = formatCreate(name, type, { family, ...o });
      const h = parseHeader(line.split(' ').slice(3).join(' '));
      for (const [k, v] of Object.entries({ family, ...o })) {
        if (v === false) assert.equal(h[k], undefined, k);
        else if (k === 'bucketsize') assert.ok(typeof h[k] === 'number', k); // rounded up to even by the kernel, written as given
        else assert.equal(h[k], v, k);
      }
      validateRestore(`${line}\n`, new Map());
    }), params(300));
  });

  it('parseSave reads back a save text of generated sets', () => {
    const set = fc.tuple(setName, typedEntry.chain((t) => fc.array(entryOf(t.type, t.family), { maxLength: 4 }).map((more) => [t, ...more])));
    fc.assert(fc.property(fc.uniqueArray(set, { selector: ([n]) => n, maxLength: 4 }), (sets) => {
      let text = '';
      for (const [name, entries] of sets) {
        text += `create ${name} ${entries[0]!.type} family ${entries[0]!.family} comment\n`;
        for (const e of entries) text += `add ${name} ${formatEntry(e.type, e.entry)}\n`;
      }
      const parsed = parseSave(text);
      assert.deepEqual(parsed.map((s) => [s.name, s.type, s.header.family, s.members.length]),
        sets.map(([n, es]) => [n, es[0]!.type, es[0]!.family, es.length]));
      parsed.forEach((s, i) => s.members.forEach((m, k) => assert.deepEqual(m, parseMember(formatEntry(sets[i]![1][k]!.type, sets[i]![1][k]!.entry)))));
    }), params(200));
  });

  it('any entry object gives an entry line or InvalidArgumentError', () => {
    const value = fc.oneof(nastyWord, fc.integer(), fc.double(), fc.boolean(), fc.bigInt(), fc.constant(null), fc.constant(undefined),
      fc.array(fc.integer(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
    const field = fc.constantFrom('ip', 'port', 'proto', 'ip2', 'mac', 'mark', 'iface', 'physdev', 'set', 'before', 'after',
      'timeout', 'packets', 'bytes', 'comment', 'skbmark', 'skbprio', 'skbqueue', 'nomatch', 'other', '__proto__', 'constructor');
    const obj = fc.dictionary(field, value, { maxKeys: 6 });
    fc.assert(fc.property(fc.constantFrom(...SET_TYPES), fc.oneof(obj, typedEntry.map((t) => t.entry), value), (type, entry) => {
      const r = typed(() => formatEntry(type, entry as EntryObject), { type, entry }, [InvalidArgumentError]);
      if (r.ok) typed(() => validateRestore(restoreText(type, r.value.split(',')[0]!.includes(':') && type !== 'hash:mac' && !type.startsWith('bitmap') ? 'inet6' : 'inet', r.value), new Map()), r.value, ERRORS);
    }), params(800));
  });

  it('any create options give a create line the restore checker takes, or InvalidArgumentError', () => {
    const value = fc.oneof(nastyWord, fc.integer({ min: -10, max: 1 << 20 }), fc.double(), fc.boolean(), fc.constant(undefined));
    const key = fc.constantFrom('family', 'hashsize', 'maxelem', 'bucketsize', 'netmask', 'markmask', 'range', 'timeout', 'counters',
      'comment', 'skbinfo', 'forceadd', 'size', 'initval', 'bitmask', 'probes', 'bogus');
    fc.assert(fc.property(fc.oneof(setName, nastyWord), fc.oneof(fc.constantFrom(...SET_TYPES), nastyWord), fc.dictionary(key, value, { maxKeys: 5 }), (name, type, o) => {
      const r = typed(() => formatCreate(name, type as SetType, o as CreateOptions), { name, type, o }, [InvalidArgumentError]);
      if (r.ok) {
        const v = typed(() => validateRestore(`${r.value}\n`, new Map()), r.value, ERRORS);
        assert.ok(v.ok, `formatCreate wrote ${JSON.stringify(r.value)}, which the checker refuses: ${v.ok ? '' : v.error.message}`);
      }
    }), params(800));
  });

  it('set names: validateSetName agrees with what formatCreate takes', () => {
    fc.assert(fc.property(fc.oneof(setName, nastyWord), (name) => {
      const a = typed(() => validateSetName(name), name, [InvalidArgumentError]);
      const b = typed(() => formatCreate(name, 'hash:ip'), name, [InvalidArgumentError]);
      assert.equal(a.ok, b.ok);
    }), params(300));
  });

  it('mutated restore texts give a plan or a typed error with its line and column', () => {
    const knownSets = fc.dictionary(fc.constantFrom('v4ext', 'nets', 'ports', 'other', 'lst'), fc.record({
      type: fc.constantFrom(...SET_TYPES), family: fc.constantFrom<Family>('inet', 'inet6'),
      timeout: fc.boolean(), counters: fc.boolean(), comment: fc.boolean(), skbinfo: fc.boolean(),
    }), { maxKeys: 3 });
    fc.assert(fc.property(fc.oneof(mutated(fc.constantFrom(...RESTORE_FIXTURES)), garbage), knownSets, fc.boolean(), (text, k, exist) => {
      const r = typed(() => validateRestore(text, new Map(Object.entries(k)) as Map<string, KnownSet>, { exist }), text, ERRORS);
      if (!r.ok) {
        const e = r.error as InvalidArgumentError;
        assert.equal(e.subsystem, 'ipset');
        assert.ok(Number.isInteger(e.line) && e.line! >= 1 && e.line! <= text.split('\n').length, `line ${e.line}`);
        assert.ok(Number.isInteger(e.column) && e.column! >= 1, `column ${e.column}`);
      }
    }), params(800));
  });

  it('tokenize and validateElement give a value or InvalidArgumentError for any text', () => {
    fc.assert(fc.property(garbage, fc.constantFrom(...SET_TYPES), fc.constantFrom<Family>('inet', 'inet6'), (text, type, family) => {
      typed(() => tokenize(text), text, [InvalidArgumentError]);
      typed(() => validateElement(type, family, text), text, [InvalidArgumentError]);
    }), params(800));
  });

  it('mutated `ipset list` and `ipset save` output gives sets or InvalidArgumentError', () => {
    fc.assert(fc.property(fc.oneof(mutated(fc.constantFrom(...LIST_FIXTURES, ...RESTORE_FIXTURES)), garbage), (text) => {
      typed(() => parseList(text), text, [InvalidArgumentError]);
      typed(() => parseSave(text), text, [InvalidArgumentError]);
      for (const line of text.split('\n')) typed(() => parseMember(line), line, [InvalidArgumentError]);
    }), params(600));
  });
});
