// The VM tier's coverage check (test/helpers/vm.ts) on per-file counts captured from a real run
// of IPVS test files on a kernel without IPVS: exactly what a guest that failed to load ip_vs
// reports, which must fail the tier, not pass it with skips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTally, vmCoverageProblems } from '../helpers/vm.js';

const captured = readFileSync(new URL('../fixtures/vm/tally-host-without-ipvs.txt', import.meta.url), 'utf8');

test('IPVS files whose tests all skipped are reported, one line each', () => {
  const tally = parseTally(`TAP version 13\n${captured}# tests 12\n`);
  assert.ok(tally);
  assert.deepEqual(vmCoverageProblems(tally, ['test/kernel/ipvs-errors.test.ts', 'test/kernel/ipvs-ops.test.ts', 'test/e2e/service-proxy-ipvs.test.ts']), [
    'test/kernel/ipvs-errors.test.ts: 1 skipped inside the VM',
    'test/kernel/ipvs-ops.test.ts: 1 skipped inside the VM',
    'test/e2e/service-proxy-ipvs.test.ts: 1 skipped inside the VM',
  ]);
});

test('a file whose tests ran passes the check; a file missing from the report does not', () => {
  const tally = parseTally(captured)!;
  assert.deepEqual(vmCoverageProblems(tally, ['test/unit/ipvs-sync.test.ts']), []);
  assert.deepEqual(vmCoverageProblems(tally, ['test/kernel/ipvs-sync.test.ts']), ['test/kernel/ipvs-sync.test.ts: not in the guest\'s report']);
  assert.deepEqual(vmCoverageProblems({ 'x/test/kernel/ipvs-large.test.ts': { pass: 0, fail: 0, skip: 0 } }, ['test/kernel/ipvs-large.test.ts']),
    ['test/kernel/ipvs-large.test.ts: no test passed inside the VM']);
});

test('output without a tally line gives undefined', () => {
  assert.equal(parseTally('TAP version 13\n# tests 3\n'), undefined);
});
