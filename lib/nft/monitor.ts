// nf_tables events (NFNLGRP_NFTABLES) as `nft -j monitor` (nft 1.0.6) prints them: one
// `{ add: { table|chain|rule|set|map: {...} } }` or `{ delete: ... }` per kernel notification,
// the objects as list() returns them, elements as `{ element: { family, table, name, elem: { set:
// [...] } } }`. Like nft monitor, anonymous sets and generation notices are not shown (an
// anonymous set's elements are kept to decode the rule that uses it). Elements are decoded with
// their set's key type, so the decoder is seeded with the sets that exist when it starts.
import { UnsupportedError } from '../core/errors.js';
import { attrMap, be32, str, type NlMsg } from './attrs.js';
import { CHAIN, ELEM_LIST, familyName, MSG, NFNL_SUBSYS_NFTABLES, RULE, SET, SET_FLAGS, TABLE } from './consts.js';
import { decodeRuleset, setKey, type RulesetDump } from './decode.js';
import { NftAttrWriter } from './expr-wire.js';
import type { ListObject } from './types.js';

/** An element notification's object. */
export interface ElementObject { element: { family: string; table: string; name: string; elem: { set: unknown[] } } }

/**
 * One nftables event: what was added or deleted, as `nft -j monitor` prints it.
 * @example for await (const ev of h.monitor({ signal })) if ('add' in ev && 'rule' in ev.add) console.log(ev.add.rule.handle);
 */
export type NftEvent = { add: ListObject | ElementObject } | { delete: ListObject | ElementObject };

const type = (m: NlMsg): number => (m.type >> 8 === NFNL_SUBSYS_NFTABLES ? m.type & 0xff : -1);

/** A message carrying only string attributes (the table or chain an event names). */
function named(family: number, attrs: Array<[number, string]>): NlMsg {
  const w = new NftAttrWriter(64);
  for (const [t, v] of attrs) w.str(t, v);
  return { type: 0, flags: 0, seq: 0, family, resId: 0, body: Buffer.from(w.buf.subarray(0, w.pos)) };
}

const empty = (): RulesetDump => ({ tables: [], chains: [], rules: [], sets: [], objs: [], elements: new Map() });

/**
 * Turns nf_tables notifications into NftEvents; keeps the sets (named and anonymous) it has
 * seen, and anonymous sets' elements, for the elements and rules that come later.
 * @example const d = new EventDecoder(); d.seed(dumpedSets); for (const m of splitMessages(data)) events.push(...d.decode(m));
 */
export class EventDecoder {
  private readonly sets = new Map<string, NlMsg>();
  private readonly anonElements = new Map<string, NlMsg[]>();

  /** Sets (NEWSET replies) and elements (NEWSETELEM replies) that existed before the first event. */
  seed(msgs: NlMsg[]): void {
    for (const m of msgs) {
      if (type(m) === MSG.NEWSET) this.rememberSet(m);
      else if (type(m) === MSG.NEWSETELEM) this.rememberElements(m);
    }
  }

  decode(m: NlMsg): NftEvent[] {
    const t = type(m);
    const a = attrMap(m.body);
    switch (t) {
      case MSG.NEWTABLE: case MSG.DELTABLE: {
        const d = empty();
        d.tables.push(m);
        return this.events(t === MSG.NEWTABLE, decodeRuleset(d));
      }
      case MSG.NEWCHAIN: case MSG.DELCHAIN: {
        const d = empty();
        d.tables.push(named(m.family, [[TABLE.NAME, str(a.get(CHAIN.TABLE)) ?? '']]));
        d.chains.push(m);
        return this.events(t === MSG.NEWCHAIN, decodeRuleset(d).filter((o) => !('table' in o)));
      }
      case MSG.NEWRULE: case MSG.DELRULE: {
        const table = str(a.get(RULE.TABLE)) ?? '';
        const d = empty();
        d.tables.push(named(m.family, [[TABLE.NAME, table]]));
        d.chains.push(named(m.family, [[CHAIN.TABLE, table], [CHAIN.NAME, str(a.get(RULE.CHAIN)) ?? '']]));
        d.rules.push(m);
        // The rule's anonymous sets, with their elements.
        for (const [k, s] of this.sets) {
          if (!k.startsWith(setKey(familyName(m.family), table, '')) || !this.anonymous(s)) continue;
          d.sets.push(s);
          d.elements.set(k, this.anonElements.get(k) ?? []);
        }
        return this.events(t === MSG.NEWRULE, decodeRuleset(d).filter((o) => 'rule' in o));
      }
      case MSG.NEWSET: case MSG.DELSET: {
        const anon = this.anonymous(m);
        const k = this.keyOf(m, SET.TABLE, SET.NAME);
        if (t === MSG.NEWSET) this.rememberSet(m);
        else { this.sets.delete(k); this.anonElements.delete(k); }
        if (anon) return [];
        const d = empty();
        d.tables.push(named(m.family, [[TABLE.NAME, str(a.get(SET.TABLE)) ?? '']]));
        d.sets.push(m);
        return this.events(t === MSG.NEWSET, decodeRuleset(d).filter((o) => 'set' in o || 'map' in o));
      }
      case MSG.NEWSETELEM: case MSG.DELSETELEM: {
        const k = this.keyOf(m, ELEM_LIST.TABLE, ELEM_LIST.SET);
        const s = this.sets.get(k);
        if (s && this.anonymous(s)) {
          if (t === MSG.NEWSETELEM) this.rememberElements(m);
          return [];
        }
        const table = str(a.get(ELEM_LIST.TABLE)) ?? '', name = str(a.get(ELEM_LIST.SET)) ?? '';
        if (!s) throw new UnsupportedError(`nft.monitor: elements of ${familyName(m.family)} ${table} ${name}, a set nlkit has not seen`, { subsystem: 'nft', op: 'nft.monitor' });
        const d = empty();
        d.tables.push(named(m.family, [[TABLE.NAME, table]]));
        d.sets.push(s);
        d.elements.set(k, [m]);
        const set = decodeRuleset(d).find((o) => 'set' in o || 'map' in o) as Record<string, { elem?: unknown[] }> | undefined;
        const elem = Object.values(set ?? {})[0]?.elem ?? [];
        const obj: ElementObject = { element: { family: familyName(m.family), table, name, elem: { set: elem } } };
        return [t === MSG.NEWSETELEM ? { add: obj } : { delete: obj }];
      }
      default:
        return [];
    }
  }

  private events(add: boolean, objs: ListObject[]): NftEvent[] {
    return objs.map((o) => (add ? { add: o } : { delete: o }));
  }

  private anonymous(m: NlMsg): boolean {
    return ((be32(attrMap(m.body).get(SET.FLAGS)) ?? 0) & SET_FLAGS.ANONYMOUS) !== 0;
  }

  private keyOf(m: NlMsg, tableAttr: number, nameAttr: number): string {
    const a = attrMap(m.body);
    return setKey(familyName(m.family), str(a.get(tableAttr)) ?? '', str(a.get(nameAttr)) ?? '');
  }

  private rememberSet(m: NlMsg): void {
    const k = this.keyOf(m, SET.TABLE, SET.NAME);
    this.sets.set(k, m);
    if (this.anonymous(m)) this.anonElements.set(k, []);
  }

  private rememberElements(m: NlMsg): void {
    const k = this.keyOf(m, ELEM_LIST.TABLE, ELEM_LIST.SET);
    const s = this.sets.get(k);
    if (s && this.anonymous(s)) this.anonElements.get(k)!.push(m);
  }
}
