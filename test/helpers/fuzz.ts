// Shared pieces of the property-based tests: mutations of well-formed texts (what a corrupt
// file, a bad template or a hostile caller hands a parser) and the check that a parser gives
// either a value or a typed NlkitError, never another exception.
import fc from 'fast-check';
import { NlkitError } from '../../lib/core/errors.js';

/** Runs scaled by NLKIT_FUZZ_SCALE (`npm run test:soak` sets 20); the base counts are for `npm test`. */
export const runs = (base: number): number => {
  const scale = Number(process.env.NLKIT_FUZZ_SCALE ?? 1);
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
};

/** A fixed seed unless NLKIT_FUZZ_SEED says otherwise, so a failure replays. */
export const seed = (): number => {
  const s = Number(process.env.NLKIT_FUZZ_SEED);
  return Number.isInteger(s) ? s : 20261125;
};

export const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns: runs(numRuns), seed: seed() });

/** Words that are known to upset hand-written parsers. */
const NASTY = [
  '', ' ', '\t', '\r', '\n', '\0', '"', '\\', '"\\"', '#', ':', '[', ']', '[0:0]', '[:]', '-', '--', '!', '*',
  'COMMIT', '*filter', '-A', '-N', '-X', '-j', '-m', '/', ',', '-1', '0x', '0x1g', '00', '1e309', 'NaN', 'Infinity',
  '18446744073709551616', '99999999999999999999999999999', '4294967296', '65536', '2147483648',
  '255.255.255.255', '256.0.0.1', '::', ':::', '[::1]', '10.0.0.0/33', 'ﬀ', 'é', '\u202e', '\ud800', '😀',
  'a'.repeat(40), 'x'.repeat(1100), 'timeout', 'comment', 'packets', 'bytes', 'nomatch', 'create', 'add', 'del',
  'destroy', 'swap', 'rename', 'flush', '-exist', '-o', 'save', 'hash:ip', 'list:set', 'bitmap:port',
];

export const nastyWord = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }).map(String),
  fc.integer().map(String),
);

export type Mutation =
  | { kind: 'flip'; at: number; ch: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; word: string }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'dupLine'; line: number }
  | { kind: 'dropLine'; line: number }
  | { kind: 'swapLines'; a: number; b: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), ch: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), word: nastyWord }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), word: nastyWord.map((w) => ` ${w} `) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('dupLine' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('dropLine' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
);

/** Applies mutations to a text (positions are taken modulo its length). */
export function applyMutations(text: string, ms: Mutation[]): string {
  let t = text;
  for (const m of ms) {
    const n = t.length;
    switch (m.kind) {
      case 'flip': if (n) { const i = m.at % n; t = t.slice(0, i) + m.ch + t.slice(i + 1); } break;
      case 'truncate': t = t.slice(0, n ? m.at % (n + 1) : 0); break;
      case 'insert': { const i = n ? m.at % (n + 1) : 0; t = t.slice(0, i) + m.word + t.slice(i); break; }
      case 'delete': if (n) { const i = m.at % n; t = t.slice(0, i) + t.slice(i + m.len); } break;
      default: {
        const lines = t.split('\n');
        const k = lines.length;
        if (m.kind === 'dupLine') lines.splice(m.line % k, 0, lines[m.line % k]!);
        else if (m.kind === 'dropLine') lines.splice(m.line % k, 1);
        else { const a = m.a % k, b = m.b % k; [lines[a], lines[b]] = [lines[b]!, lines[a]!]; }
        t = lines.join('\n');
      }
    }
  }
  return t;
}

/** A text from `base`, mutated one to five times. */
export const mutated = (base: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(base, fc.array(mutation, { minLength: 1, maxLength: 5 })).map(([t, ms]) => applyMutations(t, ms));

/** Arbitrary text: binary strings and unicode, lines of random words. */
export const garbage: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.array(fc.array(nastyWord, { maxLength: 8 }).map((w) => w.join(' ')), { maxLength: 10 }).map((l) => l.join('\n')),
);

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: NlkitError };

/**
 * Runs a parser; returns its value or the NlkitError it threw. Any other exception is
 * rethrown with the input, so fast-check reports (and shrinks) it as a counterexample.
 */
export function typed<T>(fn: () => T, input: unknown, allowed: (new (...a: never[]) => NlkitError)[] = [NlkitError]): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (allowed.some((C) => e instanceof C)) return { ok: false, error: e as NlkitError };
    const what = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
    throw new Error(`untyped failure ${what} for input ${JSON.stringify(input)?.slice(0, 2000)}`, { cause: e });
  }
}

/**
 * A fuzz child's rejection: an NlkitError is counted by its class in `errors` and returned; anything
 * else ends the child at once with the input that caused it (an untyped failure is the defect a
 * fuzz run looks for).
 * @example catch (e) { const err = typedFailure(e, text, figures.errors); ... }
 */
export function typedFailure(e: unknown, input: string, errors: Record<string, number>): NlkitError {
  if (!(e instanceof NlkitError)) {
    console.error(`untyped failure ${e instanceof Error ? `${e.constructor.name}: ${e.stack}` : String(e)}\nfor input ${JSON.stringify(input)}`);
    process.exit(1);
  }
  errors[e.constructor.name] = (errors[e.constructor.name] ?? 0) + 1;
  return e;
}
