// The package as a user gets it: `npm pack` of a copy of the source tree without dist/ or build/
// (prepack must build dist), installed into a fresh project and used from ESM, CJS, strict
// TypeScript and esbuild bundles. Each use creates an ipset in a namespace made here, which
// `ipset save` must show: the addon really loaded and worked.
//
// Offline and without a compile: the dependencies are packed from our node_modules and installed
// with --offline --ignore-scripts, and the addon that scripts/setup.sh built from the same
// sources is copied to build/Release/ of the installed package (where `npm install`'s
// node-gyp-build would have put it). Compiling it again would take minutes for no new knowledge.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelSkipReason, Netns } from '../helpers/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const addon = join(root, 'build/Release/nlkit.node');
const skip = kernelSkipReason('ipset');
const tmp = mkdtempSync(join(tmpdir(), 'nlkit-pack-'));
const proj = join(tmp, 'proj');
let ns: Netns;
let files: string[] = [];

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};
const must = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
  const r = run(cmd, args, cwd, env);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.out}`);
  return r.out;
};
const npm = (args: string[], cwd: string) => must('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], cwd);
const sets = () => ns.run('ipset', ['save']);

/** A program that creates the ipset `name` in the namespace through the installed nlkit. */
const usage = (load: string, name: string, cjs: boolean) => {
  const body = `const name = '${name}' + (process.env.NLKIT_TEST_SUFFIX ?? '');
  const h = ipset.open({ netns: process.env.NLKIT_TEST_NETNS });
  await h.create(name, 'hash:ip');
  await h.add(name, [{ ip: '10.0.0.1' }]);
  await h.close();
  console.log('ok', name, NlkitError.name);`;
  return cjs ? `${load}\n(async () => {\n  ${body}\n})();\n` : `${load}\n${body}\n`;
};

describe('the packed package in a fresh project', { skip }, () => {
  before(() => {
    ns = new Netns('pack');
    // A clean clone: the tracked and new files of the tree, without dist/, build/, node_modules/.
    const src = join(tmp, 'src');
    const list = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' })
      .split('\0').filter((f) => f && !f.startsWith('.vm-cache'));
    for (const f of list) {
      try {
        cpSync(join(root, f), join(src, f), { recursive: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;  // deleted but not yet committed
      }
    }
    symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'));
    npm(['pack', '--pack-destination', tmp], src);
    const tarball = join(tmp, `nlkit-${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}.tgz`);
    files = must('tar', ['-tzf', tarball], tmp).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    const deps = ['node-addon-api', 'node-gyp-build'].map((d) => {
      const out = npm(['pack', '--ignore-scripts', '--pack-destination', tmp, join(root, 'node_modules', d)], tmp);
      return join(tmp, out.trim().split('\n').pop()!);
    });
    mkdirSync(proj);
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    npm(['install', '--offline', '--ignore-scripts', tarball, ...deps], proj);
    mkdirSync(join(proj, 'node_modules/nlkit/build/Release'), { recursive: true });
    copyFileSync(addon, join(proj, 'node_modules/nlkit/build/Release/nlkit.node'));
    symlinkSync(join(root, 'node_modules/@types'), join(proj, 'node_modules/@types'));
  });
  after(() => {
    ns?.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('holds dist (built by prepack), LICENSE, CHANGELOG, the native sources, and no source maps', () => {
    for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'LICENSE',
      'CHANGELOG.md', 'README.md', 'binding.gyp', 'scripts/native-deps.cjs', 'native/addon.cc']) {
      assert.ok(files.includes(f), `${f} is not in the tarball: ${files.join(' ')}`);
    }
    assert.deepEqual(files.filter((f) => f.endsWith('.map') || f.startsWith('test/') || f.startsWith('lib/')), []);
    const pkg = JSON.parse(readFileSync(join(proj, 'node_modules/nlkit/package.json'), 'utf8'));
    assert.equal(pkg.license, 'MIT');
    assert.match(readFileSync(join(proj, 'node_modules/nlkit/LICENSE'), 'utf8'), /^MIT License/);
    assert.ok(pkg.repository?.url && pkg.bugs?.url && pkg.homepage);
    assert.equal(pkg.scripts.prebuild, undefined, 'npm run build would run it as a pre-hook');
  });

  it('works from ESM and CJS, with one copy of every class', () => {
    writeFileSync(join(proj, 'esm.mjs'), usage("import { ipset, NlkitError } from 'nlkit';", 'esm', false));
    writeFileSync(join(proj, 'cjs.cjs'), usage("const { ipset, NlkitError } = require('nlkit');", 'cjs', true));
    writeFileSync(join(proj, 'both.mjs'), `import { createRequire } from 'node:module';
      const esm = await import('nlkit'); const cjs = createRequire(import.meta.url)('nlkit');
      console.log(esm.NlkitError === cjs.NlkitError && esm.ipset === cjs.ipset && esm.transaction === cjs.transaction);`);
    const env = { NLKIT_TEST_NETNS: ns.path, NLKIT_ADDON: '' };
    assert.match(must('node', ['esm.mjs'], proj, env), /ok esm NlkitError/);
    assert.match(must('node', ['cjs.cjs'], proj, env), /ok cjs NlkitError/);
    assert.equal(must('node', ['both.mjs'], proj, env).trim(), 'true');
    assert.match(sets(), /create esm hash:ip .*\nadd esm 10\.0\.0\.1\n/);
    assert.match(sets(), /create cjs hash:ip .*\nadd cjs 10\.0\.0\.1\n/);
  });

  it('installs the nlkit command: npx nlkit doctor', () => {
    const r = run('npx', ['--no-install', 'nlkit', 'doctor', '--netns', ns.path, '--json'], proj);
    assert.ok(r.status === 0 || r.status === 1, r.out);
    const findings = JSON.parse(r.out) as { area: string; status: string }[];
    assert.equal(findings.find((f) => f.area === 'addon')?.status, 'ok');
    assert.equal(r.status, findings.some((f) => f.status === 'missing') ? 1 : 0);
  });

  it('type-checks strict TypeScript usage (ESM and CJS), rejects the typos, and compiles the README example', () => {
    writeFileSync(join(proj, 'usage.mts'), `import { ipset, ipvs, iptables, transaction, TransactionError, NlkitError } from 'nlkit';
      const h = ipset.open({ netns: 'x' });
      await h.add('s', [{ ip: '10.0.0.1', proto: 'tcp', port: 80 }, { ip: '10.0.0.2', proto: 'UDP', port: 53 }]);
      await ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrr' });
      const nat = iptables.table('nat', { noflush: true });
      nat.chain('KUBE-SERVICES').append({ protocol: 'tcp', matches: [{ module: 'tcp', dport: 80 },
        { module: 'set', matchSet: ['S', 'dst,dst'] }, { module: 'conntrack', '!ctstate': 'INVALID' },
        { module: 'ipvs' as iptables.UntypedModule, vaddr: '10.0.0.1' }], jump: 'ACCEPT' });
      nat.chain('KUBE-SVC').append({ protocol: { not: 'udp' }, jump: 'RETURN' }).append({ protocol: 47, jump: 'RETURN' });
      { await using disposed = ipset.open({ netns: 'y' }); await disposed.list(); }
      try { await transaction(async () => {}); } catch (e) {
        if (e instanceof TransactionError) { const s: string | undefined = e.failed?.op?.summary; console.log(s, e.rolledBack); }
        if (e instanceof NlkitError) { const c: string = e.code; console.log(c, e.errno, e.op); }
      }
    `);
    writeFileSync(join(proj, 'usage.cts'), `import nlkit = require('nlkit');
      const e: nlkit.NlkitError = new nlkit.ExistsError('x');
      export const h: Promise<void> = nlkit.ipvs.addService({ protocol: 'udp', address: '10.0.0.1', port: 53, scheduler: 'rr' });
      console.log(e.code);
    `);
    writeFileSync(join(proj, 'typos.mts'), `import { ipset, ipvs, iptables } from 'nlkit';
      // @ts-expect-error scheduler 'wrrr'
      await ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrrr' });
      // @ts-expect-error ipset entry proto 'tpc'
      await ipset.add('s', [{ ip: '10.0.0.1', proto: 'tpc', port: 80 }]);
      // @ts-expect-error iptables builder protocol 'tpc'
      iptables.table('filter').chain('INPUT').append({ protocol: 'tpc', jump: 'ACCEPT' });
      // @ts-expect-error match option dprot
      iptables.table('filter').chain('INPUT').append({ matches: [{ module: 'tcp', dprot: 80 }], jump: 'ACCEPT' });
      // @ts-expect-error table 'nta'
      iptables.table('nta');
      // @ts-expect-error a misspelt module is not an untyped one without saying so
      iptables.table('filter').chain('INPUT').append({ matches: [{ module: 'tcpp', dport: 80 }], jump: 'ACCEPT' });
    `);
    const readme = readFileSync(join(proj, 'node_modules/nlkit/README.md'), 'utf8');
    const example = /```ts\n(import \{ transaction, TransactionError \} from 'nlkit';[^]*?)```/.exec(readme);
    assert.ok(example, 'the README has its TransactionError example');
    writeFileSync(join(proj, 'readme.mts'), example[1]!);  // self-contained, as every README snippet is
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const r = run('node', [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--lib', 'es2022,esnext.disposable', '--types', 'node', 'usage.mts', 'usage.cts', 'typos.mts', 'readme.mts'], proj);
    assert.equal(r.out, '');
    assert.equal(r.status, 0);
  });

  it('works from esbuild bundles: beside node_modules, with nlkit external, and elsewhere with NLKIT_ADDON', () => {
    const esbuild = join(root, 'node_modules/.bin/esbuild');
    writeFileSync(join(proj, 'b-esm.mjs'), usage("import { ipset, NlkitError } from 'nlkit';", 'besm', false));
    writeFileSync(join(proj, 'b-cjs.cjs'), usage("const { ipset, NlkitError } = require('nlkit');", 'bcjs', true));
    writeFileSync(join(proj, 'b-ext.mjs'), usage("import { ipset, NlkitError } from 'nlkit';", 'bext', false));
    const common = ['--bundle', '--platform=node', '--log-level=error'];
    must(esbuild, ['b-esm.mjs', ...common, '--format=esm', '--outfile=out/b-esm.mjs'], proj);
    must(esbuild, ['b-cjs.cjs', ...common, '--format=cjs', '--outfile=out/b-cjs.cjs'], proj);
    must(esbuild, ['b-ext.mjs', ...common, '--format=esm', '--external:nlkit', '--outfile=out/b-ext.mjs'], proj);
    assert.doesNotMatch(readFileSync(join(proj, 'out/b-esm.mjs'), 'utf8'), /from ["']nlkit["']/, 'nlkit is inside the bundle');
    const env = { NLKIT_TEST_NETNS: ns.path, NLKIT_ADDON: '' };
    for (const f of ['b-esm.mjs', 'b-cjs.cjs', 'b-ext.mjs']) assert.match(must('node', [join('out', f)], proj, env), /^ok /);

    // Away from any node_modules: the error says the fix; NLKIT_ADDON is the fix.
    const away = join(tmp, 'away');
    mkdirSync(away);
    for (const f of ['b-esm.mjs', 'b-cjs.cjs']) copyFileSync(join(proj, 'out', f), join(away, f));
    for (const f of ['b-esm.mjs', 'b-cjs.cjs']) {
      const r = run('node', [f], away, env);
      assert.notEqual(r.status, 0);
      assert.match(r.out, /UnsupportedError: nlkit: cannot find the nlkit package or its native addon/);
      assert.match(r.out, /keep it external \(esbuild --external:nlkit/);
      assert.match(r.out, /NLKIT_ADDON=/);
    }
    const env2 = { ...env, NLKIT_ADDON: addon, NLKIT_TEST_SUFFIX: '2' };
    assert.match(must('node', ['b-esm.mjs'], away, env2), /^ok besm2/);
    assert.match(must('node', ['b-cjs.cjs'], away, env2), /^ok bcjs2/);
    assert.match(sets(), /create besm2 hash:ip .*\nadd besm2 10\.0\.0\.1\n/);
    assert.match(sets(), /create besm hash:ip .*\nadd besm 10\.0\.0\.1\n/);
    assert.match(sets(), /create bcjs hash:ip .*\nadd bcjs 10\.0\.0\.1\n/);
    assert.match(sets(), /create bext hash:ip .*\nadd bext 10\.0\.0\.1\n/);
  });
});
