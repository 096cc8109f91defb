// Issue #16: every export of the package carries a JSDoc `@example`. The public surface is read
// from lib/index.ts with the TypeScript compiler API: the names it exports, the members of the
// exported namespaces (ipset, ipvs, ...) and objects (link.addresses, transaction.plan), and the
// public methods of the exported classes (handles, builders, errors). An `@example` with no code
// in it does not count.
//
// Every part of the surface is checked (ipset, ipvs, iptables, link, conntrack, nft, and the top
// level: errors.ts and transaction); a new subsystem is checked as soon as lib/index.ts exports it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

interface Missing { part: string; name: string }

const hasExample = (sym: ts.Symbol, checker: ts.TypeChecker): boolean =>
  sym.getJsDocTags(checker).some((t) =>
    t.name === 'example' && /[A-Za-z_$][\w$]*\s*[.(=]/.test(ts.displayPartsToString(t.text ?? []).trim()));

const isCallable = (sym: ts.Symbol, checker: ts.TypeChecker, at: ts.Node): boolean => {
  const decl = sym.valueDeclaration;
  if (!decl) return false;
  if (ts.isFunctionDeclaration(decl) || ts.isMethodDeclaration(decl) || ts.isClassDeclaration(decl)) return true;
  return checker.getTypeOfSymbolAtLocation(sym, at).getCallSignatures().length > 0;
};

const isPublicMember = (decl: ts.Declaration): boolean => {
  const flags = ts.getCombinedModifierFlags(decl);
  if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) return false;
  const name = ts.getNameOfDeclaration(decl);
  if (name && ts.isPrivateIdentifier(name)) return false;
  return !(ts.getJSDocTags(decl).some((t) => t.tagName.text === 'internal'));
};

/** Every exported function, class, public method and callable member without an example. */
export function missingExamples(entry: string, options: ts.CompilerOptions = {}): Missing[] {
  const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, skipLibCheck: true, ...options });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  assert.ok(source, `cannot read ${entry}`);
  const moduleSym = checker.getSymbolAtLocation(source);
  assert.ok(moduleSym, `${entry} is not a module`);
  const out: Missing[] = [];
  const seen = new Set<ts.Symbol>();
  const resolve = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);

  const visitClass = (part: string, name: string, cls: ts.Symbol) => {
    if (!hasExample(cls, checker)) out.push({ part, name });
    const type = checker.getDeclaredTypeOfSymbol(cls);
    const statics = checker.getTypeOfSymbolAtLocation(cls, source);
    for (const [kind, t] of [['', type], ['static ', statics]] as const) {
      for (const m of t.getProperties()) {
        const decl = m.valueDeclaration;
        if (!decl || !isPublicMember(decl) || m.name === 'prototype') continue;
        // Members inherited from outside the package (Error's, Object's) are not ours to document.
        if (decl.getSourceFile().isDeclarationFile) continue;
        if (!(m.flags & (ts.SymbolFlags.Method | ts.SymbolFlags.Function)) && !isCallable(m, checker, source)) continue;
        if (!hasExample(m, checker)) out.push({ part, name: `${name}.${kind}${m.name}` });
      }
    }
  };

  const visit = (part: string, prefix: string, exported: ts.Symbol) => {
    const sym = resolve(exported);
    const name = prefix + exported.name;
    if (sym.flags & ts.SymbolFlags.Class) {
      if (seen.has(sym)) return;
      seen.add(sym);
      return visitClass(part, name, sym);
    }
    if (sym.flags & (ts.SymbolFlags.ValueModule | ts.SymbolFlags.NamespaceModule) && !(sym.flags & ts.SymbolFlags.Variable)) {
      for (const e of checker.getExportsOfModule(sym)) visit(part, `${name}.`, e);
      return;
    }
    if (!(sym.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Variable))) return; // types and interfaces
    const callable = isCallable(sym, checker, source);
    const type = checker.getTypeOfSymbolAtLocation(sym, source);
    const members = type.getProperties().filter((p) => p.valueDeclaration && !p.valueDeclaration.getSourceFile().isDeclarationFile && isCallable(p, checker, source));
    // Plain data (constant tables such as SCHEDULERS) needs no example; callables and objects of callables do.
    if (callable || members.length) {
      if (!hasExample(sym, checker) && !hasExample(exported, checker)) out.push({ part, name });
      for (const p of members) if (!hasExample(p, checker)) out.push({ part, name: `${name}.${p.name}` });
    }
  };

  for (const e of checker.getExportsOfModule(moduleSym)) {
    const sym = resolve(e);
    const isNs = sym.flags & ts.SymbolFlags.ValueModule && !(sym.flags & ts.SymbolFlags.Class);
    visit(isNs ? e.name : '(top level)', '', e);
  }
  return out;
}

describe('JSDoc @example on every export (issue #16)', () => {
  it('the checker counts only real examples: none, an empty one or prose fail; code passes', () => {
    const files: Record<string, string> = {
      '/v/index.ts': [
        "export * as ns from './ns.js';",
        "export * from './cls.js';",
        '/** Adds.\n * @example add(1, 2); */',
        'export const add = (a: number, b: number) => a + b;',
        '/** Empty.\n * @example\n */',
        'export function empty() {}',
        '/** Prose.\n * @example call it when needed */',
        'export function prose() {}',
        'export function bare() {}',
        'export const TABLE = { a: 1 };',
        '/** @example obj.go(); */',
        'export const obj = {\n  go: () => 1,\n  /** @example obj.stop(); */\n  stop: () => 2,\n};',
        'export type T = number;',
      ].join('\n'),
      '/v/ns.ts': '/** @example ns.f(); */\nexport const f = () => 1;\nexport const g = () => 2;',
      '/v/cls.ts': [
        '/** @example new Thing(); */',
        'export class Thing {',
        '  /** @example t.documented(); */ documented() {}',
        '  undocumented() {}',
        '  private hidden() {}',
        '  #secret() {}',
        '  static make() {}',
        '}',
      ].join('\n'),
    };
    const dir = mkdtempSync(join(tmpdir(), 'nlkit-jsdoc-'));
    let got: string[];
    try {
      for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f.slice(3)), text);
      got = missingExamples(join(dir, 'index.ts'), { types: [] }).map((m) => `${m.part}:${m.name}`).sort();
    } finally { rmSync(dir, { recursive: true, force: true }); }
    assert.deepEqual(got, [
      '(top level):Thing.static make',
      '(top level):Thing.undocumented',
      '(top level):bare',
      '(top level):empty',
      '(top level):obj.go',
      '(top level):prose',
      'ns:ns.g',
    ]);
  });

  it('every export of the package has an @example', () => {
    const entry = fileURLToPath(new URL('../../lib/index.ts', import.meta.url));
    const missing = missingExamples(entry, { types: ['node'] }).map((m) => `${m.part}: ${m.name}`);
    assert.deepEqual(missing, [], `exports without a JSDoc @example:\n${missing.join('\n')}`);
  });
});
