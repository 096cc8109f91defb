// h.rules: policy routing rules of the handle's namespace, in `ip rule`'s terms; input is
// checked whole before anything is sent.
import { NETLINK_ROUTE } from '../netlink/headers.js';
import { dump, kernelError, send } from '../netlink/transport.js';
import { SUBSYSTEM, checkLinkName, parsePrefix, type Family } from './addr.js';
import { TABLES } from './route-wire.js';
import { FR_ACT, dumpRules, parseRule, ruleMessage, type Rule, type RuleSpec } from './rule-wire.js';
import { invalid, named, requestFamily, requestFields, u32, type RunOn } from './routes.js';
import { checkThen } from './many.js';
import { RtWriter, Rtm, collect } from './wire.js';

export type { Rule } from './rule-wire.js';

/** A rule to add or delete: `ip rule` words; `table` defaults to main for add, as ip does. */
export interface RuleInput {
  /** 4 (default, as ip) or 6; implied by src/dst. */
  family?: 4 | 6;
  priority?: number;
  fwmark?: number;
  fwmask?: number;
  src?: string;
  dst?: string;
  iif?: string;
  oif?: string;
  table?: string | number;
  action?: 'blackhole' | 'unreachable' | 'prohibit';
  not?: boolean;
}

const KEYS = new Set(['family', 'priority', 'fwmark', 'fwmask', 'src', 'dst', 'iif', 'oif', 'table', 'action', 'not']);
const ACTIONS = new Set(['blackhole', 'unreachable', 'prohibit']);

/**
 * h.rules: `ip rule add/del/show` in the handle's namespace.
 * @example await h.rules.add({ priority: 100, fwmark: 1, table: 100 });
 */
export class Rules {
  readonly #run: RunOn;

  /** @internal made by LinkHandle */
  constructor(run: RunOn) {
    this.#run = run;
  }

  /**
   * Adds a rule, as `ip rule add` does; ExistsError for a rule that is there.
   * @example await h.rules.add({ priority: 100, fwmark: 0x10, fwmask: 0xff, table: 100 });
   */
  add(rule: RuleInput): Promise<void> {
    return this.#change('link.rules.add', 'add', rule);
  }

  /**
   * Deletes the first rule that matches, as `ip rule del` does; NotFoundError when none does.
   * @example await h.rules.delete({ priority: 100 });
   */
  delete(rule: RuleInput): Promise<void> {
    return this.#change('link.rules.delete', 'delete', rule);
  }

  /**
   * The rules of one family (default 4) in priority order, as `ip -j [-6] rule show` prints them.
   * @example const v6 = await h.rules.list(6);
   */
  list(family: 4 | 6 = 4): Promise<Rule[]> {
    const op = 'link.rules.list';
    if (family !== 4 && family !== 6) return Promise.reject(invalid(op, 'family must be 4 or 6', family));
    return this.#run(op, async (w) => {
      const wr = new RtWriter(64);
      dumpRules(wr, family === 4 ? 'inet' : 'inet6');
      const r = await dump(w, NETLINK_ROUTE, wr.batch());
      if (r.errnos[0]) throw kernelError(op, SUBSYSTEM, r.errnos[0], { detail: r.messages[0] });
      return collect(r.data, 0, r.sections[0]!, Rtm.NewRule, parseRule);
    });
  }

  #change(op: string, cmd: 'add' | 'delete', rule: RuleInput): Promise<void> {
    return checkThen(() => checkRule(rule, op), (spec) => this.#run(op, async (w) => {
      const wr = new RtWriter(128);
      ruleMessage(wr, cmd, spec);
      const r = await send(w, NETLINK_ROUTE, wr.batch());
      const e = r.errnos[0]!;
      if (e !== 0) throw kernelError(op, SUBSYSTEM, e, { what: 'rule', ...(r.messages[0] ? { detail: r.messages[0] } : {}) });
    }));
  }
}

/** Checks a rule request whole; throws InvalidArgumentError naming the field. */
export function checkRule(rule: unknown, op: string): RuleSpec {
  const r = requestFields(op, rule, 'rule', '{ priority: 100, fwmark: 1, table: 100 }', KEYS);
  let family = requestFamily(op, r);
  const prefix = (what: string, v: unknown) => {
    if (v === undefined) return undefined;
    const p = parsePrefix(v, op);
    if (family && p.family !== family) throw invalid(op, `${what} ${String(v)} is not of the rule's family`, v);
    family = p.family;
    return p;
  };
  const src = prefix('src', r.src), dst = prefix('dst', r.dst);
  for (const k of ['iif', 'oif'] as const) if (r[k] !== undefined) checkLinkName(r[k], op);
  if (r.not !== undefined && typeof r.not !== 'boolean') throw invalid(op, 'not must be true or false', r.not);
  if (r.action !== undefined && (typeof r.action !== 'string' || !ACTIONS.has(r.action))) {
    throw invalid(op, `action must be one of ${[...ACTIONS].join(', ')}`, r.action);
  }
  if (r.action !== undefined && r.table !== undefined) throw invalid(op, 'a rule has a table or an action, not both', r.action);
  const table = r.table === undefined ? undefined : named(op, 'table', r.table, TABLES, 0xffffffff);
  if (table === 0) throw invalid(op, 'table 0 is not a table', r.table);
  return {
    family: family ?? 'inet',
    srcLen: src?.prefixlen ?? 0, dstLen: dst?.prefixlen ?? 0,
    ...(src ? { src: src.bytes } : {}), ...(dst ? { dst: dst.bytes } : {}),
    ...(r.priority !== undefined ? { priority: u32(op, 'priority', r.priority) } : {}),
    ...(r.fwmark !== undefined ? { fwmark: u32(op, 'fwmark', r.fwmark) } : {}),
    ...(r.fwmask !== undefined ? { fwmask: u32(op, 'fwmask', r.fwmask) } : {}),
    ...(r.iif !== undefined ? { iif: r.iif as string } : {}),
    ...(r.oif !== undefined ? { oif: r.oif as string } : {}),
    ...(table !== undefined ? { table } : {}),
    ...(r.action !== undefined ? { action: FR_ACT[r.action as 'blackhole'] } : {}),
    not: r.not === true,
  };
}
