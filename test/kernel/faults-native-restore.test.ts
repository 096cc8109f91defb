// Mutated iptables-restore texts through the real native compile and commit (libxtables'
// extension parsers, the table builder, IPT_SO_SET_REPLACE) in a throwaway namespace. Runs in
// a child process, so that a crash or abort in native code fails this test instead of
// killing the runner; the child checks every outcome is a result or an NlkitError, and that
// nlkit accepts what iptables-legacy-restore accepts in a second namespace, leaving the same
// tables, and that a refused text changes nothing.
import { describe, it, after } from 'node:test';
import { rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { inVm } from '../helpers/vm.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { lastJson, runTs } from '../helpers/child.js';
import { runs, seed } from '../helpers/fuzz.js';

const skip = kernelSkipReason('iptables-legacy-restore') ?? kernelSkipReason('ipset')
  ?? (inVm() ? 'fault tests run on the host; the VM tier is for what the host kernel lacks' : undefined);
const child = fileURLToPath(new URL('../helpers/native-fuzz-child.ts', import.meta.url));
const LOCK = `/tmp/nlkit-fuzz-${process.pid}.lock`;

interface Figures {
  runs: number; committed: number; errors: Record<string, number>; toolAccepts: number; statusDiffers: number; stateDiffers: number; refusedButChanged: number;
  noOracle: number; samples: string[]; plain: string[];
}

describe('mutated restore texts through the native compile', { skip }, () => {
  after(() => rmSync(LOCK, { force: true }));
  for (const family of [4, 6] as const) {
    it(`IPv${family}: every text commits or gives an NlkitError, as iptables-legacy-restore does`, async (t) => {
      await withNetns(2, async (tool, ns) => {
        for (const n of [tool, ns]) {
          n.run('ipset', ['create', 'nlkit-allow', 'hash:net']);
          n.run('ipset', ['create', 'nlkit-deny', 'hash:ip,port']);
          n.run('ipset', ['create', 'nlkit-allow6', 'hash:net', 'family', 'inet6']);
        }
        const cfg = { netns: ns.path, name: ns.name, toolNs: tool.name, family, runs: runs(family === 4 ? 40 : 20), seed: seed() + family };
        const r = await runTs(child, [JSON.stringify(cfg)], { env: { XTABLES_LOCKFILE: LOCK }, timeoutMs: 1_800_000 });
        assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr.slice(-3000)}`);
        assert.equal(r.status, 0, r.stderr.slice(-3000));
        const f = lastJson<Figures>(r.stdout);
        assert.ok(f, `no figures from the child: ${r.stdout.slice(-500)}`);
        assert.equal(f.runs, cfg.runs);
        // The mutations must reach both outcomes, or the test shows nothing.
        assert.ok(f.committed > 0 && Object.keys(f.errors).length > 0, JSON.stringify(f));
        t.diagnostic(`runs ${f.runs}, committed ${f.committed}, errors ${JSON.stringify(f.errors)}, tool exit 0 ${f.toolAccepts}, outcome differs ${f.statusDiffers}, tables differ ${f.stateDiffers}, refused but changed ${f.refusedButChanged}, no oracle (NUL) ${f.noOracle}`);
        for (const p of f.plain) t.diagnostic(`NlkitError (no subclass): ${p}`);
        assert.deepEqual([f.statusDiffers, f.stateDiffers, f.refusedButChanged], [0, 0, 0], f.samples.join('\n'));
      });
    });
  }
});
