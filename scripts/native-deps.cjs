#!/usr/bin/env node
// binding.gyp's pkg-config call: prints the compiler or linker flags of the system libraries the
// addon builds against, or, when their development files are missing, which Debian/Ubuntu and
// RPM packages to install (node-gyp would only show pkg-config's own words).
// Usage: node scripts/native-deps.cjs --cflags | --libs
'use strict';
const { spawnSync } = require('node:child_process');

const MODULES = ['libipset', 'xtables', 'libip4tc', 'libip6tc'];
/** pkg-config module -> [Debian/Ubuntu package, RPM package]; libmnl comes in through libipset. */
const PACKAGES = {
  libipset: ['libipset-dev', 'ipset-devel'],
  libmnl: ['libmnl-dev', 'libmnl-devel'],
  xtables: ['libxtables-dev', 'iptables-devel'],
  libip4tc: ['libip4tc-dev', 'iptables-devel'],
  libip6tc: ['libip6tc-dev', 'iptables-devel'],
};
const unique = (list) => [...new Set(list)];

/** The message for missing pieces: `deb`/`rpm` are the packages that bring them. */
function explain(what, deb, rpm, detail) {
  return [
    `nlkit: cannot build the native addon: ${what}.`,
    'Install them, then run npm rebuild nlkit:',
    `  Debian/Ubuntu: apt-get install ${unique(deb).join(' ')}`,
    `  Fedora/RHEL:   dnf install ${unique(rpm).join(' ')}`,
    ...(detail ? [`(pkg-config: ${detail.trim().split('\n').join(' / ')})`] : []),
  ].join('\n') + '\n';
}
const debOf = (mods) => mods.map((m) => PACKAGES[m][0]);
const rpmOf = (mods) => mods.map((m) => PACKAGES[m][1]);

const mode = process.argv[2];
if (mode !== '--cflags' && mode !== '--libs') {
  process.stderr.write('usage: node scripts/native-deps.cjs --cflags | --libs\n');
  process.exit(2);
}
const run = (args) => spawnSync('pkg-config', args, { encoding: 'utf8' });
const all = run([mode, ...MODULES]);
if (all.error) {
  process.stderr.write(explain('pkg-config is not installed (and the libraries\' development files may be missing)',
    ['pkg-config', 'build-essential', ...debOf(MODULES)], ['pkgconf-pkg-config', 'gcc-c++', 'make', ...rpmOf(MODULES)]));
  process.exit(1);
}
if (all.status === 0) {
  process.stdout.write(all.stdout);
  process.exit(0);
}
const found = [...MODULES, 'libmnl'].filter((m) => run(['--exists', m]).status !== 0);
const missing = found.length ? found : MODULES;
process.stderr.write(explain(`missing development files for ${missing.join(', ')}`, debOf(missing), rpmOf(missing), all.stderr));
process.exit(1);
