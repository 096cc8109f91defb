// save()'s fast decode path (lib/iptables/nft/decode-fast.ts) must give the general decoder's
// bytes, or decline: on the dumps captured from iptables-nft-save 1.8.9 (the extension corpus,
// both families; test/fixtures/iptables/nft), and on those dumps with single rule bytes changed
// (a seeded sweep): whatever the general decoder does with a rule (decode it, report it, call
// the table incompatible, fail), decoding with the fast path on does the same.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { attrMap, splitMessages, type NlMsg } from '../../lib/nft/attrs.js';
import { MSG, NFNL_SUBSYS_NFTABLES, RULE } from '../../lib/nft/consts.js';
import { decodeTables, type DecodedTable, type Family } from '../../lib/iptables/nft/decode.js';

const fx = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/iptables/nft/${name}`, import.meta.url)), 'utf8');
const dump = (name: string): NlMsg[] => fx(`${name}.dump.hex`).trim().split('\n').flatMap((l) => splitMessages(Buffer.from(l, 'hex')));

/** What decoding gives, comparable: each table's blob as hex, or the error thrown. */
function outcome(msgs: NlMsg[], family: Family, fast: boolean, counts?: { fast: number; general: number }): string {
  try {
    const tables: DecodedTable[] = decodeTables(msgs, family, undefined, { fast, ...(counts ? { counts } : {}) });
    return JSON.stringify(tables.map((t) => (t.incompatible ? [t.name, 'incompatible'] : [t.name, { ...t.raw, entries: Buffer.from(t.raw.entries).toString('hex') }])));
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

/** A small seeded generator (mulberry32): the sweep is the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The offset and end of NFTA_RULE_EXPRESSIONS in a NEWRULE message's body, if any. */
function exprRange(m: NlMsg): [number, number] | undefined {
  for (let p = 0; p + 4 <= m.body.length;) {
    const len = m.body.readUInt16LE(p);
    if (len < 4) return undefined;
    if ((m.body.readUInt16LE(p + 2) & 0x3fff) === RULE.EXPRESSIONS) return [p + 4, p + len];
    p += (len + 3) & ~3;
  }
  return undefined;
}

describe('iptables-nft decode: the fast path gives the general decoder\'s bytes', () => {
  for (const [name, family] of [['v4', 4], ['v6', 6]] as const) {
    it(`${name}: every table of the captured corpus, byte for byte, most rules by the fast path`, () => {
      const msgs = dump(name);
      const counts = { fast: 0, general: 0 };
      const fast = outcome(msgs, family, true, counts);
      assert.doesNotMatch(fast, /Error/);
      assert.equal(fast, outcome(msgs, family, false));
      assert.ok(counts.fast > counts.general, `the fast path decoded ${counts.fast} of ${counts.fast + counts.general} rules`);
    });

    it(`${name}: rules with one byte changed decode (or fail) as the general decoder decodes them`, () => {
      const msgs = dump(name);
      const rules = msgs.flatMap((m, i) => (m.type === ((NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWRULE) && exprRange(m) ? [i] : []));
      assert.ok(rules.length > 10);
      const rand = rng(family);
      let decoded = 0;
      for (let n = 0; n < 1500; n++) {
        const i = rules[Math.floor(rand() * rules.length)]!;
        const [from, to] = exprRange(msgs[i]!)!;
        const body = Buffer.from(msgs[i]!.body);
        const at = from + Math.floor(rand() * (to - from));
        // a small change (a register, an operator, a length, a name's letter) or any byte
        body[at] = rand() < 0.5 ? body[at]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
        const changed = msgs.map((m, k) => (k === i ? { ...m, body } : m));
        const want = outcome(changed, family, false);
        assert.equal(outcome(changed, family, true), want, `rule message ${i}, byte ${at - from} of its expressions`);
        if (!/Error/.test(want)) decoded++;
      }
      // the sweep reaches rules that still decode, not only ones both paths refuse
      assert.ok(decoded > 100, `${decoded} changed dumps decoded`);
    });
  }

  it('rules of chains interleaved in the dump (each chain\'s in order) decode as when each chain\'s come together', () => {
    const msgs = dump('v4');
    const isRule = (m: NlMsg) => m.type === ((NFNL_SUBSYS_NFTABLES << 8) | MSG.NEWRULE);
    // round robin over the chains: rule 0 of every chain, then rule 1 of every chain, ...
    const byChain = new Map<string, NlMsg[]>();
    for (const m of msgs.filter(isRule)) {
      const a = attrMap(m.body);
      const key = `${a.get(RULE.TABLE)?.toString('latin1')} ${a.get(RULE.CHAIN)?.toString('latin1')}`;
      byChain.set(key, [...(byChain.get(key) ?? []), m]);
    }
    const lists = [...byChain.values()];
    assert.ok(lists.length > 5);
    const mixed: NlMsg[] = [];
    for (let i = 0; mixed.length < msgs.filter(isRule).length; i++) for (const l of lists) if (l[i]) mixed.push(l[i]!);
    const want = outcome(msgs, 4, false);
    assert.equal(outcome([...msgs.filter((m) => !isRule(m)), ...mixed], 4, true), want);
  });

  it('a rule the tool prints wrong is reported the same with the fast path on (handmade dump)', () => {
    const msgs = dump('handmade');
    const want = outcome(msgs, 4, false);
    assert.match(want, /^UnsupportedError: .*a set lookup/);
    assert.equal(outcome(msgs, 4, true), want);
  });
});
