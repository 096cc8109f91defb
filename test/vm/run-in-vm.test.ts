// The VM tier: where the host kernel lacks IPVS, run the real-kernel tests (test/kernel/) once
// more inside Debian's stock kernel under qemu (scripts/vm/), where IPVS and every ipset type
// exist. The guest's test output comes back as diagnostics, so a failure reads in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostHasIpvs, inVm, parseTally, vmCoverageProblems, vmSkipReason } from '../helpers/vm.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
// The real-kernel and end-to-end test files that use what only the VM's kernel has (IPVS, the
// ipset types and dummy links this host lacks): read from their source, so IPVS tests added later
// run here too. The others ran whole on the host already; under emulation each costs minutes.
const NEEDS_VM = /\bipvs\b|kernelHasSetType|\bdummy\b|inVm\(/;
const files = ['kernel', 'e2e'].flatMap((dir) => readdirSync(`${repo}/test/${dir}`).filter((f) => f.endsWith('.test.ts')).sort()
  .map((f) => `test/${dir}/${f}`)).filter((f) => NEEDS_VM.test(readFileSync(`${repo}/${f}`, 'utf8')));
// NLKIT_VM_FILES (paths, space-separated) runs only those, through the same checks: one boot
// for the files a change concerns instead of the whole tier.
const only = process.env.NLKIT_VM_FILES?.split(/\s+/).filter(Boolean);
if (only?.length) files.splice(0, files.length, ...only);
// The files the VM exists for: inside it, not one of their tests may skip.
const ipvsFiles = files.filter((f) => /ipvs/.test(f));
// These files take longer than run.sh's default limit under emulation: in the guest each file's
// node and tsx start costs tens of seconds before its tests run. The tier took 43 min of the
// old 50-min limit on a quiet 2-core machine (2026-12-07); 70 min leaves room and, with the host
// tier's ~15 min, still keeps npm test under 90.
const vmTimeout = Number(process.env.NLKIT_VM_TIMEOUT ?? 4200);

const skip = inVm() ? 'already inside the VM'
  : hostHasIpvs() ? 'host kernel has ip_vs: kernel tests run directly'
  : vmSkipReason() ?? (files.length ? undefined : 'no test/kernel/*.test.ts files');

test('the kernel tests, in a VM whose kernel has IPVS and every ipset type', { skip, timeout: (vmTimeout + 300) * 1000 }, async (t) => {
  t.diagnostic(`files: ${files.join(' ')}`);
  const prep = spawnSync('bash', ['scripts/vm/prepare.sh'], { cwd: repo, encoding: 'utf8' });
  for (const line of `${prep.stdout}${prep.stderr}`.split('\n').filter(Boolean)) t.diagnostic(line);
  assert.equal(prep.status, 0, 'scripts/vm/prepare.sh failed');

  // No NODE_TEST_CONTEXT: it would tell the guest's test runner it is a child and run nothing.
  const env: NodeJS.ProcessEnv = { ...process.env, NLKIT_VM_TIMEOUT: String(vmTimeout) };
  delete env.NODE_TEST_CONTEXT;
  // TAP for people on stdout; per-file counts on stderr (Node's summary has none and does not
  // count a skipped describe(), so a guest without ip_vs would otherwise pass with every IPVS test skipped).
  const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout',
    '--test-reporter=./test/helpers/file-tally-reporter.mjs', '--test-reporter-destination=stderr'];
  const child = spawn('bash', ['scripts/vm/run.sh', process.execPath, '--import', 'tsx', '--test', ...reporters, ...files], {
    cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  // One buffer for both streams, in arrival order, as lines.
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d; });
  child.stderr.on('data', (d: Buffer) => { out += d; });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  for (const line of out.split('\n').filter(Boolean)) t.diagnostic(line);
  assert.equal(status, 0, `the kernel tests in the VM failed (exit status ${status}); their output is above`);
  // A runner that ran nothing also exits 0: make sure the guest really counted tests.
  const tests = Number(/^# tests (\d+)$/m.exec(out)?.[1] ?? 0);
  assert.ok(tests > 0, 'the test runner in the VM reported no tests');
  const tally = parseTally(out);
  assert.ok(tally, 'the guest wrote no per-file counts (nlkit-tally line)');
  for (const [file, c] of Object.entries(tally)) t.diagnostic(`${file.slice(repo.length)}: ${c.pass} passed, ${c.fail} failed, ${c.skip} skipped`);
  const problems = vmCoverageProblems(tally, ipvsFiles);
  assert.deepEqual(problems, [], `the VM ran, but not the IPVS tests it exists for (did the guest load ip_vs? see the module lines above):\n${problems.join('\n')}`);
});
