// Namespaces a describe block makes as its tests need them, removed when the block ends.
import { after } from 'node:test';
import type { Netns } from './netns.js';

/**
 * `make` wrapped so that every namespace it returns is removed after the enclosing describe
 * block's tests (node:test `after`), whatever they did.
 * @example
 * describe('...', () => {
 *   const fresh = suiteNamespaces(() => baseline());
 *   it('...', async () => { const ns = fresh(); ... });
 * });
 */
export function suiteNamespaces<A extends unknown[], T extends Netns>(make: (...a: A) => T): (...a: A) => T {
  const made: Netns[] = [];
  after(() => {
    for (const n of made) n.remove();
  });
  return (...a: A) => {
    const n = make(...a);
    made.push(n);
    return n;
  };
}
