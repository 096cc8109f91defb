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

  it('has one copy of every export whichever format loads it (no dual-package hazard)', () => {
    const code = `import { createRequire } from 'node:module';
      const esm = await import('nlkit'); const cjs = createRequire(import.meta.url)('nlkit');
      const names = Object.keys(cjs).sort();
      let thrown; try { cjs.ipset.open({ netns: '/nonexistent/nlkit-test' }); } catch (e) { thrown = e; }
      console.log(JSON.stringify({
        names, esmNames: Object.keys(esm).sort(),
        different: names.filter((k) => esm[k] !== cjs[k]),
        crossInstanceof: thrown instanceof esm.NlkitError && new esm.ExistsError('x') instanceof cjs.NlkitError,
      }));`;
    const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' }));
    assert.ok(r.names.includes('NlkitError') && r.names.includes('ipset'), r.names.join());
    assert.deepEqual(r.esmNames, r.names);
    assert.deepEqual(r.different, []);
    assert.equal(r.crossInstanceof, true);
  });
});
