// Comparing whole `ipset save` texts taken at different instants. An element's remaining timeout
// counts down in whole seconds, so two saves of equal sets (or one set before and after a refused
// change) may print different numbers there and nowhere else. One way to say so, for every test.
import assert from 'node:assert/strict';

/** A save text with each element's remaining timeout masked, and those timeouts by masked line. */
export interface SplitSave {
  /** The text with every `add` line's `timeout N` written `timeout T`. */
  text: string;
  /** Remaining seconds, keyed by the masked `add` line (set and element make it unique). */
  timeouts: Map<string, number>;
}

/**
 * Splits an `ipset save` text into what must match exactly and the timeouts that tick.
 *
 * @example
 * splitSave('add s 10.0.0.1 timeout 7 comment "x"\n').timeouts.get('add s 10.0.0.1 timeout T comment "x"') // 7
 */
export function splitSave(save: string): SplitSave {
  const timeouts = new Map<string, number>();
  const text = save.replace(/^add .*$/gm, (line) => {
    const m = / timeout (\d+)(?= |$)/.exec(line);
    if (!m) return line;
    const masked = `${line.slice(0, m.index)} timeout T${line.slice(m.index + m[0].length)}`;
    timeouts.set(masked, Number(m[1]));
    return masked;
  });
  return { text, timeouts };
}

/** Lines of a masked save, sorted (for sets whose member order is the kernel's hash order). */
const sortedLines = (text: string) => text.split('\n').filter(Boolean).sort();

/**
 * Asserts two saves are equal but for remaining timeouts, which may differ by at most `slack`
 * seconds (the saves, or the sets' fills, were not at the same instant).
 *
 * @example
 * assertSameSave(nlkitNs.run('ipset', ['save']), toolNs.run('ipset', ['save']), 'restore', { slack: 1 });
 */
export function assertSameSave(actual: string, expected: string, what: string, { slack = 1, sorted = false } = {}): void {
  const a = splitSave(actual), e = splitSave(expected);
  if (sorted) assert.deepEqual(sortedLines(a.text), sortedLines(e.text), what);
  else assert.equal(a.text, e.text, what);
  for (const [line, left] of e.timeouts) {
    const got = a.timeouts.get(line)!;
    assert.ok(Math.abs(got - left) <= slack, `${what}: ${line} has ${got} s left, expected ${left} s ± ${slack}`);
  }
}

/**
 * Asserts a set is as it was: the same text, and each element's timeout still running from where
 * it was (not reset, not made permanent), at most `elapsed` seconds later.
 *
 * @example
 * const before = splitSave(ns.run('ipset', ['save']));
 * await assert.rejects(h.add('s', bad));
 * assertUnchangedSave(ns.run('ipset', ['save']), before, 'refused add');
 */
export function assertUnchangedSave(now: string, before: SplitSave, what: string, elapsed = 600): void {
  const after = splitSave(now);
  assert.equal(after.text, before.text, what);
  for (const [line, was] of before.timeouts) {
    const left = after.timeouts.get(line)!;
    assert.ok(left <= was && left >= was - elapsed, `${what}: ${line} had ${was} s left, now ${left} s`);
  }
}
