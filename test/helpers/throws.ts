// Assertions on errors found in text input: the class, and where (line, column, the word at fault).
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/core/errors.js';

export interface Where { line?: number; column?: number; argument?: string; message?: RegExp }

/**
 * `f` throws an instance of `Cls` at `where` (each field given is compared).
 * @example throwsAt(() => validateRestore('add x 1.2.3.400\n'), InvalidArgumentError, { line: 1, argument: '1.2.3.400' });
 */
export function throwsAt(f: () => unknown, Cls: new (...a: never[]) => Error, where: Where = {}): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof Cls, `expected ${Cls.name}, got ${String(e)}`);
    const x = e as Error & { line?: number; column?: number; argument?: string };
    if (where.line !== undefined) assert.equal(x.line, where.line, x.message);
    if (where.column !== undefined) assert.equal(x.column, where.column, x.message);
    if (where.argument !== undefined) assert.equal(x.argument, where.argument, x.message);
    if (where.message) assert.match(x.message, where.message);
    return true;
  });
}

/**
 * `fn` throws an InvalidArgumentError whose message matches `re` and whose fields equal `at`
 * (e.g. `{ entry: 2 }` for ipset.sync, `{ index: 1 }` for ipvs.sync).
 * @example throwsInvalid(() => planIpvsSync([], [{}] as never), /protocol/, { index: 0 });
 */
export function throwsInvalid(fn: () => unknown, re: RegExp, at: Record<string, unknown> = {}): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, String(e));
    assert.match(e.message, re);
    for (const [k, v] of Object.entries(at)) assert.equal((e as unknown as Record<string, unknown>)[k], v, k);
    return true;
  });
}
