// The addon loader (lib/core/addon.ts): each way loading fails gives an UnsupportedError that says the
// fix. The failures are real dlopen failures of files made here, not messages typed in.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainLoadFailure, loadAddon, packageRoot } from '../../lib/core/addon.js';
import { UnsupportedError } from '../../lib/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'nlkit-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** loadAddon() with NLKIT_ADDON set to `file`: the error it throws. */
function loadError(file: string): UnsupportedError {
  const saved = process.env.NLKIT_ADDON;
  process.env.NLKIT_ADDON = file;
  try {
    loadAddon();
  } catch (err) {
    assert.ok(err instanceof UnsupportedError, String(err));
    return err;
  } finally {
    if (saved === undefined) delete process.env.NLKIT_ADDON;
    else process.env.NLKIT_ADDON = saved;
  }
  assert.fail(`${file} loaded`);
}

describe('native loader', () => {
  it('finds the package root from lib/', () => {
    assert.equal(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).name, 'nlkit');
  });

  it('a missing system library: names the Debian and RPM packages and npm rebuild nlkit', () => {
    // An addon-shaped shared object linked to a library that is then removed: dlopen's own failure.
    writeFileSync(join(dir, 'gone.c'), 'int nlkit_gone(void) { return 1; }\n');
    writeFileSync(join(dir, 'addon.c'), 'extern int nlkit_gone(void); int f(void) { return nlkit_gone(); }\n');
    execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'libipset.so.99'), '-Wl,-soname,libipset.so.99', join(dir, 'gone.c')]);
    execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'needs.node'), join(dir, 'addon.c'), join(dir, 'libipset.so.99')]);
    rmSync(join(dir, 'libipset.so.99'));
    const e = loadError(join(dir, 'needs.node'));
    assert.match(e.message, /the system library libipset\.so\.99 is missing/);
    assert.match(e.message, /apt-get install libipset13 \(RPM: dnf install ipset-libs\)/);
    assert.match(e.message, /npm rebuild nlkit/);
    assert.doesNotMatch(e.message, /build:native/);
    assert.equal(e.op, 'nlkit.load');
  });

  it('a corrupt addon file: a typed ENOEXEC error that says so', () => {
    const real = readFileSync(join(packageRoot(), 'build/Release/nlkit.node'));
    writeFileSync(join(dir, 'truncated.node'), real.subarray(0, 4096));
    writeFileSync(join(dir, 'text.node'), 'not an ELF file at all\n');
    for (const name of ['truncated.node', 'text.node']) {
      const e = loadError(join(dir, name));
      assert.equal(e.code, 'ENOEXEC', e.message);
      assert.match(e.message, new RegExp(`native addon .*${name} is corrupt`));
      assert.match(e.message, /npm rebuild nlkit/);
    }
  });

  it('NLKIT_ADDON naming no file: says so', () => {
    const e = loadError(join(dir, 'nowhere.node'));
    assert.equal(e.code, 'ENOENT');
    assert.match(e.message, /NLKIT_ADDON=.*nowhere\.node names no file/);
  });

  it('no build: says npm rebuild nlkit and the build packages, not a script users do not have', () => {
    const { message } = explainLoadFailure(new Error('No native build was found for platform=linux arch=x64'));
    assert.match(message, /npm rebuild nlkit/);
    assert.match(message, /libipset-dev/);
    assert.match(message, /ipset-devel/);
    assert.doesNotMatch(message, /build:native/);
  });
});
