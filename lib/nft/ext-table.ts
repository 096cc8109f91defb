// The statement and expression extensions by name: the compiler, decoder, parser and printer
// look here for what their own switches do not handle. A new statement is its file and one line.
import type { Extension } from './ext.js';
import { hashExtension } from './expr-hash.js';
import { dynsetExtension } from './stmt-dynset.js';
import { exthdrExtension } from './stmt-exthdr.js';
import { limitExtension } from './stmt-limit.js';
import { logExtension } from './stmt-log.js';
import { natExtension } from './stmt-nat.js';
import { objectsExtension } from './objects.js';
import { xfrmExtension } from './expr-xfrm.js';

const ALL: Extension[] = [
  limitExtension,
  logExtension,
  natExtension,
  hashExtension,
  objectsExtension,
  dynsetExtension,
  exthdrExtension,
  xfrmExtension,
];

const merge = <K extends keyof Extension>(k: K): NonNullable<Extension[K]> =>
  Object.assign(Object.create(null), ...ALL.map((e) => e[k] ?? {})) as NonNullable<Extension[K]>;

/** By JSON name. @example EXT_STATEMENTS.limit?.(body, ctx, where) */
export const EXT_STATEMENTS = merge('statements');
export const EXT_EXPRESSIONS = merge('expressions');
export const EXT_DECODERS = merge('decoders');
export const EXT_PRINTERS = merge('printers');
export const EXT_EXPR_PRINTERS = merge('exprPrinters');
export const EXT_PARSERS = merge('parsers');
export const EXT_EXPR_PARSERS = merge('exprParsers');
