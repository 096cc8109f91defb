// The rules' references to named objects (the objref expression) and the object type numbers:
// a leaf, so that stmt-limit.ts and the compiler use them without importing objects.ts (which
// imports stmt-limit.ts for named limits and quotas: an import cycle otherwise).
import { invalid } from './errors.js';
import { exprData, type TextCtx } from './ext.js';
import type { Statement } from './types.js';

/**
 * NFT_OBJECT_* by the JSON name of the object.
 * @example OBJECT_TYPE['ct helper'] // 3
 */
export const OBJECT_TYPE: Record<string, number> = { counter: 1, quota: 2, 'ct helper': 3, limit: 4, 'ct timeout': 7, 'ct expectation': 9, synproxy: 10 };

/**
 * The objref expression's attributes (NFTA_OBJREF_IMM_TYPE, _IMM_NAME).
 * @example REF.NAME // 2
 */
export const REF = { TYPE: 1, NAME: 2 } as const;

/**
 * A rule's reference to a named object.
 * @example objref(ctx, 'counter', 'c1', where)
 */
export function objref(out: { out: unknown[] }['out'], kind: string, name: unknown, where: string): void {
  if (typeof name !== 'string' || name === '' || Buffer.byteLength(name) > 255) throw invalid(where, 'must be an object name (a non-empty string)');
  out.push({ op: 'raw', name: 'objref', data: exprData((w) => { w.be32(REF.TYPE, OBJECT_TYPE[kind]!); w.bytes(REF.NAME, Buffer.from(name)); }) });
}

/** `counter name "x"` and the like as statements (the text parser's `name` form). */
export const namedRef = (kind: string, p: TextCtx): Statement => {
  const t = p.next();
  if (t.kind !== 'string' && t.kind !== 'word') p.unexpected(t, 'quoted string');
  return { [kind]: t.v };
};
