// The built package (dist/) must load its addon in both module systems: bundling must not
// break the path to the native build.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const probe = (kind: 'esm' | 'cjs') => {
  const load = kind === 'esm' ? `const m = await import('nlkit');` : `const m = require('nlkit');`;
  const body = `${load} const h = m.ipset.open(); await h.close();
    console.log(JSON.stringify({ ipset: typeof m.ipset.create, err: new m.ExistsError('x').code }));`;
  const code = kind === 'esm' ? body : `(async () => { ${body} })()`;
  return JSON.parse(execFileSync(process.execPath, [kind === 'esm' ? '--input-type=module' : '--input-type=commonjs', '-e', code], { cwd: root, encoding: 'utf8' }));
};

describe('package', { skip: existsSync(`${root}/dist/index.js`) ? undefined : 'dist/ is not built (npm run build:ts)' }, () => {
  for (const kind of ['esm', 'cjs'] as const) {
    it(`loads through the exports map as ${kind} and opens a handle`, () => {
      assert.deepEqual(probe(kind), { ipset: 'function', err: 'EEXIST' });
    });
  }
});
