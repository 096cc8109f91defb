import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explainLoadFailure, packageRoot } from '../../lib/native.js';

describe('native loader', () => {
  it('finds the package root from lib/', () => {
    assert.match(packageRoot(), /\/?[^/]+$/);
  });
  it('names the Debian package of a missing runtime library', () => {
    const msg = explainLoadFailure(new Error('libipset.so.13: cannot open shared object file: No such file or directory'));
    assert.match(msg, /libipset\.so\.13/);
    assert.match(msg, /apt-get install libipset13/);
  });
  it('says how to build when there is no build', () => {
    const msg = explainLoadFailure(new Error('No native build was found for platform=linux arch=x64'));
    assert.match(msg, /npm run build:native/);
    assert.match(msg, /libipset-dev/);
  });
});
