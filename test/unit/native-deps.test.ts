// Building from source without the libraries' development files: node-gyp's configure (through
// binding.gyp's call of scripts/native-deps.cjs) names the Debian/Ubuntu and RPM packages to
// install. The real pkg-config, pointed at a directory that lacks some .pc files.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'scripts/native-deps.cjs');
const dir = mkdtempSync(join(tmpdir(), 'nlkit-deps-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A pkg-config directory holding the .pc files of `modules` only (copied from this system). */
function pcDir(name: string, modules: string[]): string {
  const d = join(dir, name);
  mkdirSync(d);
  for (const m of modules) {
    const from = execFileSync('pkg-config', ['--variable=pcfiledir', m], { encoding: 'utf8' }).trim();
    copyFileSync(join(from, `${m}.pc`), join(d, `${m}.pc`));
  }
  return d;
}
const env = (libdir: string) => ({ ...process.env, PKG_CONFIG_LIBDIR: libdir, PKG_CONFIG_PATH: '' });

describe('building without headers', () => {
  it('prints the same flags as pkg-config when everything is there', () => {
    const mods = ['libipset', 'xtables', 'libip4tc', 'libip6tc'];
    for (const mode of ['--cflags', '--libs']) {
      assert.equal(execFileSync('node', [script, mode], { encoding: 'utf8' }),
        execFileSync('pkg-config', [mode, ...mods], { encoding: 'utf8' }));
    }
  });

  it('names only the packages of what is missing (xtables)', () => {
    const d = pcDir('no-xtables', ['libipset', 'libmnl', 'libip4tc', 'libip6tc']);
    const r = spawnSync('node', [script, '--cflags'], { env: env(d), encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /missing development files for xtables\./);
    assert.match(r.stderr, /Debian\/Ubuntu: apt-get install libxtables-dev\n/);
    assert.match(r.stderr, /Fedora\/RHEL: +dnf install iptables-devel\n/);
  });

  it('node-gyp configure with no development files at all says what to install', () => {
    const proj = join(dir, 'proj');
    mkdirSync(join(proj, 'scripts'), { recursive: true });
    copyFileSync(join(root, 'binding.gyp'), join(proj, 'binding.gyp'));
    copyFileSync(script, join(proj, 'scripts/native-deps.cjs'));
    symlinkSync(join(root, 'node_modules'), join(proj, 'node_modules'));
    // Through npx, as scripts/setup.sh and npm do: npm's configuration (nodedir) applies.
    const r = spawnSync('npx', ['--no-install', 'node-gyp', 'configure'],
      { cwd: proj, env: env(pcDir('empty', [])), encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /apt-get install libipset-dev libxtables-dev libip4tc-dev libip6tc-dev libmnl-dev/);
    assert.match(r.stderr, /dnf install ipset-devel iptables-devel libmnl-devel/);
    assert.match(r.stderr, /npm rebuild nlkit/);
  });
});
