// Every module under lib/ loads as the very first module of a fresh process. An import cycle can
// make a module read a binding of one not yet evaluated (a TDZ ReferenceError) only when the cycle
// is entered from a particular file, so each file needs its own process: a bundler or a user's deep
// import may start anywhere. lib/ is transpiled once with esbuild (what tsx runs), then plain node
// children import one file each, a few at a time (a tsx child per file costs 4x the CPU). And
// lib/'s runtime import graph (type-only imports left out) has no cycle, the cause of such failures.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const lib = join(root, 'lib');
const out = mkdtempSync(join(tmpdir(), 'nlkit-first-load-'));
after(() => rmSync(out, { recursive: true, force: true }));

/** Imports `file` alone in a new node process; resolves to its error text, or undefined when it loaded. */
function loadAlone(file: string): Promise<string | undefined> {
  // Exit at once after the import: lib/cli.ts starts its command on load.
  const code = `import(${JSON.stringify(pathToFileURL(file).href)}).then(() => process.exit(0), ` +
    `(e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); })`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve(err ? (stderr.trim() || String(err)).split('\n').slice(0, 3).join(' | ') : undefined);
    });
  });
}

/** lib/'s files (relative to lib/) -> the lib/ files they import at run time. */
function runtimeImports(files: string[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files) {
    const sf = ts.createSourceFile(f, readFileSync(join(lib, f), 'utf8'), ts.ScriptTarget.ES2022);
    const deps: string[] = [];
    for (const st of sf.statements) {
      let spec: string | undefined;
      if (ts.isImportDeclaration(st)) {
        const c = st.importClause;
        const typeOnly = c !== undefined && (c.isTypeOnly || (!c.name && c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) &&
          c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
        if (!typeOnly) spec = (st.moduleSpecifier as ts.StringLiteral).text;
      } else if (ts.isExportDeclaration(st) && st.moduleSpecifier) {
        const typeOnly = st.isTypeOnly || (st.exportClause !== undefined && ts.isNamedExports(st.exportClause) &&
          st.exportClause.elements.length > 0 && st.exportClause.elements.every((e) => e.isTypeOnly));
        if (!typeOnly) spec = (st.moduleSpecifier as ts.StringLiteral).text;
      }
      if (spec?.startsWith('.')) deps.push(relative(lib, resolve(lib, dirname(f), spec)).replace(/\.js$/, '.ts'));
    }
    g.set(f, deps);
  }
  return g;
}

describe('lib/ modules', () => {
  it('import one another without a cycle', () => {
    const files = readdirSync(lib, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    const g = runtimeImports(files);
    // Depth-first search; a back edge to a file on the current path is a cycle, reported as that path.
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      state.set(f, 'open');
      for (const d of g.get(f) ?? []) {
        if (state.get(d) === 'open') {
          const on = [...path, f];
          cycles.push([...on.slice(on.indexOf(d)), d].map((x) => `lib/${x}`).join(' -> '));
        }
        else if (!state.has(d)) visit(d, [...path, f]);
      }
      state.set(f, 'done');
    };
    for (const f of [...g.keys()].sort()) if (!state.has(f)) visit(f, []);
    assert.deepEqual(cycles, [], `import cycles in lib/:\n${cycles.join('\n')}`);
  });

  it('each loads as the first module of a fresh process', async () => {
    const files = readdirSync(lib, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort();
    assert.ok(files.length > 100, `only ${files.length} files under lib/`);
    buildSync({
      entryPoints: files.map((f) => join(lib, f)), outdir: join(out, 'lib'), outbase: lib,
      format: 'esm', platform: 'node', target: 'node20', bundle: false, logLevel: 'error',
    });
    writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < files.length; i = next++) {
        const f = files[i]!;
        const err = await loadAlone(join(out, 'lib', f.replace(/\.ts$/, '.js')));
        if (err !== undefined) failures.push(`${relative(root, join(lib, f))}: ${err}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, availableParallelism()) }, worker));
    assert.deepEqual(failures.sort(), [], `modules that fail when imported first:\n${failures.join('\n')}`);
  });
});
