// How nftables joins a transaction (lib/transaction/participant.ts): tx.nft queues command
// lists (apply) and nft text (restore), each applied as one nft batch (one kernel transaction)
// in the phase 'nft', after link (a netdev chain names a device). nft rules cannot match
// ipsets and iptables-nft keeps its own tables, so nothing else orders it.
//
// Validate: every queued list is parsed and encoded, then all of them go to the kernel as ONE
// check batch (no BATCH_END, as `nft -c`): the kernel runs them against the current ruleset and
// aborts; the first refusal is the validation error and nothing has changed. The check sees the
// kernel before the transaction: a netdev chain on a device tx.link adds is refused there.
// Snapshot: the text (`nft list table`) of every table the commands name; a `flush ruleset`
// names every table of its family (all families without one). The text is parsed and encoded
// right away, so a table nlkit could not put back fails the transaction before it applies.
// Undo (a later participant failed): ONE batch that, for every table a applied batch named,
// adds and deletes it (whether or not it exists now) and adds back what the snapshot held:
// atomic, `nft list ruleset` equal to the snapshot. Handles are new ones (nft gives them out);
// set elements with a timeout get it in full again.
import { InvalidArgumentError, NlkitError, NotFoundError } from '../core/errors.js';
import { blame, type Enqueue, type Participant, type ParticipantRun, type PlannedBase, type TxContext, type UndoLog } from '../transaction/participant.js';
import { commandList, encodeCommands } from './encode.js';
import { NftHandle } from './handle.js';
import { parseScript } from './parse.js';
import type { Family } from './types.js';

/**
 * nftables changes of a transaction (`tx.nft`).
 * @example await transaction((tx) => { tx.nft.apply([{ add: { table: { family: 'ip', name: 'fw' } } }]); });
 */
export interface TxNft {
  /** libnftables JSON commands (an array, or `{ nftables: [...] }`), as nft.apply takes them: one batch. */
  apply(commands: unknown): this;
  /** nft's text (what `nft -f` reads), as nft.restore takes it: one batch. */
  restore(text: string): this;
}

type NftVariant = { op: 'nft.apply'; commands: unknown } | { op: 'nft.restore'; text: string };

export type PlannedNftOp = Omit<PlannedBase, 'subsystem' | 'phase'> & { subsystem: 'nft'; phase: 'nft' } & NftVariant;

export type QueuedNft = NftVariant & { index: number };

const OP = 'transaction';

function bad(message: string): InvalidArgumentError {
  return new InvalidArgumentError(`${OP}: ${message}`, { op: OP, subsystem: 'nft' });
}

function api(enqueue: Enqueue<NftVariant>): TxNft {
  return {
    apply(commands) {
      let copy: unknown;
      try {
        copy = structuredClone(commands);
      } catch {
        throw bad('tx.nft.apply: the commands must be plain data (libnftables JSON)');
      }
      if (!Array.isArray(copy) && !(typeof copy === 'object' && copy !== null && 'nftables' in copy)) {
        throw bad('tx.nft.apply: the commands must be an array of commands or { nftables: [...] }');
      }
      enqueue({ op: 'nft.apply', commands: copy });
      return this;
    },
    restore(text) {
      if (typeof text !== 'string') throw bad(`tx.nft.restore: the text must be a string, got ${typeof text}`);
      enqueue({ op: 'nft.restore', text });
      return this;
    },
  };
}

function describe(o: NftVariant): string {
  if (o.op === 'nft.restore') {
    const lines = o.text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).length;
    return `nft -f (${lines} line${lines === 1 ? '' : 's'})`;
  }
  let n = 0;
  try {
    n = commandList(o.commands).length;
  } catch {
    // Checked in validate().
  }
  return `nft -j -f (${n} command${n === 1 ? '' : 's'})`;
}

function plan(items: QueuedNft[]): PlannedNftOp[] {
  return items.map((o) => ({ ...o, subsystem: 'nft', phase: 'nft', summary: describe(o) }) as PlannedNftOp);
}

/** A table: `family\0name`. */
const tableKey = (family: string, name: string) => `${family}\0${name}`;

/**
 * What the commands name: tables by `family\0name`, and the families a `flush ruleset` empties ('*' = all).
 * @example touchedBy([{ add: { chain: { family: 'ip', table: 'fw', name: 'in' } } }]); // { tables: {'ip\0fw'}, rulesets: {} }
 */
export function touchedBy(commands: readonly unknown[]): { tables: Set<string>; rulesets: Set<string> } {
  const tables = new Set<string>(), rulesets = new Set<string>();
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  for (const cmd of commands) {
    if (!isObj(cmd)) continue;
    const [verb, body] = Object.entries(cmd)[0] ?? [];
    if (verb === undefined) continue;
    // A bare object (as `nft -j list` prints it) means add.
    const [kind, obj] = ['table', 'chain', 'rule', 'set', 'map', 'element'].includes(verb) ? [verb, body] : isObj(body) ? Object.entries(body)[0] ?? [] : [];
    if (kind === 'ruleset') {
      rulesets.add(isObj(obj) && typeof obj.family === 'string' ? obj.family : '*');
      continue;
    }
    if (!isObj(obj) || typeof obj.family !== 'string') continue;
    const name = kind === 'table' ? obj.name : obj.table;
    if (typeof name === 'string') tables.add(tableKey(obj.family, name));
  }
  return { tables, rulesets };
}

class NftRun implements ParticipantRun<PlannedNftOp> {
  #h: NftHandle | undefined;
  /** Each operation's commands (restore's text parsed), by queue index. */
  readonly #commands = new Map<number, unknown[]>();
  /** Touched tables that existed: the commands that make them again, from their `nft list table` text. */
  readonly #saved = new Map<string, unknown[]>();
  /** Tables each operation touches (known after snapshot for `flush ruleset`). */
  readonly #touched = new Map<number, Set<string>>();

  constructor(private readonly ctx: TxContext) {}

  get h(): NftHandle {
    return (this.#h ??= new NftHandle(this.ctx.base));
  }

  async validate(ops: PlannedNftOp[]): Promise<void> {
    const all: unknown[] = [];
    const starts: number[] = [];
    for (const o of ops) {
      let cmds: unknown[];
      try {
        cmds = o.op === 'nft.restore' ? parseScript(o.text, '<text>').commands : commandList(o.commands).map((c) => c.cmd);
      } catch (e) {
        throw blame(e as Error, o);
      }
      this.#commands.set(o.index, cmds);
      starts.push(all.length);
      all.push(...cmds);
    }
    try {
      // One encode and one check batch for all of them; an error's index (the encoder's or the
      // kernel's) is mapped back to its operation's own command.
      await this.h.apply(all, { dryRun: true });
    } catch (e) {
      const err = e as NlkitError;
      const at = typeof err.index === 'number' ? err.index : -1;
      let k = ops.length - 1;
      while (k > 0 && starts[k]! > at) k--;
      if (at >= 0) {
        const local = at - starts[k]!;
        err.message = err.message.replace(`command ${at} `, `command ${local} `).replace(`commands[${at}]`, `commands[${local}]`);
        throw blame(err, ops[k]!, local);
      }
      throw blame(err, ops[0]!);
    }
  }

  async snapshot(ops: PlannedNftOp[]): Promise<void> {
    const wanted = new Set<string>();
    const rulesets = new Set<string>();
    for (const o of ops) {
      const t = touchedBy(this.#commands.get(o.index)!);
      this.#touched.set(o.index, t.tables);
      for (const k of t.tables) wanted.add(k);
      for (const f of t.rulesets) rulesets.add(f);
    }
    if (rulesets.size) {
      // A flush of the ruleset touches every table there is (of its family).
      const objects = await this.h.list();
      for (const obj of objects) {
        if (!('table' in obj)) continue;
        const { family, name } = obj.table as { family: Family; name: string };
        if (!rulesets.has('*') && !rulesets.has(family)) continue;
        wanted.add(tableKey(family, name));
        for (const o of ops) {
          const t = touchedBy(this.#commands.get(o.index)!);
          if (t.rulesets.has('*') || t.rulesets.has(family)) this.#touched.get(o.index)!.add(tableKey(family, name));
        }
      }
    }
    for (const k of wanted) {
      const [family, table] = k.split('\0') as [Family, string];
      let text: string;
      try {
        text = await this.h.save({ family, table });
      } catch (e) {
        if (e instanceof NotFoundError) continue;
        throw e;
      }
      let cmds: unknown[];
      try {
        cmds = parseScript(text, `nft list table ${family} ${table}`).commands;
        encodeCommands(cmds);
      } catch (e) {
        throw new NlkitError(`${OP}: table ${family} ${table} could not be put back after a failure (nlkit cannot re-read its \`nft list\` text: ${(e as Error).message}); nothing was changed`,
          { op: OP, subsystem: 'nft', cause: e });
      }
      this.#saved.set(k, cmds);
    }
  }

  async apply(o: PlannedNftOp): Promise<void> {
    await this.h.apply(this.#commands.get(o.index)!);
  }

  async restore(started: PlannedNftOp[], failedLast: boolean, log: UndoLog): Promise<void> {
    // A refused batch changed nothing: only the batches that were applied are undone.
    const done = failedLast ? started.slice(0, -1) : started;
    const tables = new Set<string>();
    for (const o of done) for (const k of this.#touched.get(o.index) ?? []) tables.add(k);
    if (!tables.size) return;
    const cmds: unknown[] = [];
    for (const k of tables) {
      const [family, name] = k.split('\0');
      // add + delete: the table goes whether or not it exists now, in the same transaction.
      cmds.push({ add: { table: { family, name } } }, { delete: { table: { family, name } } });
      cmds.push(...(this.#saved.get(k) ?? []));
    }
    const names = [...tables].map((k) => k.replace('\0', ' ')).join(', ');
    await log.step(`nft: tables ${names} put back as they were (one batch)`, () => this.h.apply(cmds));
  }

  async close(): Promise<void> {
    await this.#h?.close();
  }
}

/**
 * The nftables participant of transaction().
 *
 * @example
 *   await transaction((tx) => {
 *     tx.nft.restore('table ip fw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n');
 *     tx.ipset.create('allowed', 'hash:ip');
 *   }, { netns: 'blue' });
 */
export const nftParticipant: Participant<'nft', TxNft, QueuedNft, PlannedNftOp> = {
  name: 'nft',
  after: ['link'],
  api: (enqueue) => api(enqueue),
  plan,
  start: (ctx) => new NftRun(ctx),
};
