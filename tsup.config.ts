import { defineConfig } from 'tsup';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';

// Node's ESM entry (index.js) re-exports the CommonJS build, so that `import` and `require` of
// nlkit in one process share one copy of every class (instanceof NlkitError holds across both
// formats) and one default handle per subsystem. Its names are read from the built CommonJS
// module. Bundlers take the ESM build (index.mjs) through the "module" condition instead.
function writeEsmEntry(): void {
  const names = JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(Object.keys(require("./dist/index.cjs")))'],
    { encoding: 'utf8' })) as string[];
  writeFileSync('dist/index.js', [
    '// nlkit\'s ESM entry: the CommonJS build re-exported (one copy of every class in both formats).',
    'import nlkit from \'./index.cjs\';',
    `export const { ${names.join(', ')} } = nlkit;`,
    '',
  ].join('\n'));
}

export default defineConfig({
  // cli: the `nlkit` command (bin), a program of its own.
  entry: ['lib/index.ts', 'lib/cli.ts'],
  format: ['esm', 'cjs'],
  outExtension: ({ format }) => (format === 'esm' ? { js: '.mjs', dts: '.d.ts' } : { js: '.cjs', dts: '.d.cts' }),
  dts: { entry: 'lib/index.ts' },
  clean: true,
  // Not in the tarball (1.4 MB); NLKIT_SOURCEMAP=1 builds them for local debugging.
  sourcemap: process.env.NLKIT_SOURCEMAP === '1',
  target: 'node20',
  // import.meta.url in lib/core/addon.ts must also work in the CommonJS build.
  shims: true,
  // One file per entry; the CLI runs as CommonJS only (bin: dist/cli.cjs).
  splitting: false,
  onSuccess: async () => {
    writeEsmEntry();
    rmSync('dist/cli.mjs', { force: true });
  },
});
