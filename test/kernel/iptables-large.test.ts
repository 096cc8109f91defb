// Texts large enough that their lines are split and tokenized on a helper thread ahead of
// the compiling one (native/iptables/lines.cc): the same results as iptables-legacy-restore,
// line for line, with comments, blank lines, counters and errors anywhere in the text.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { iptables } from '../../lib/index.js';
import { NlkitError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { kubeProxyNat } from '../fixtures/iptables/kube-proxy.js';

const skip = kernelSkipReason('iptables-legacy-restore');

const save = (ns: Netns, counters = false) =>
  ns.run('iptables-legacy-save', counters ? ['-c'] : []).split('\n').filter((l) => !l.startsWith('# ')).join('\n');

/** kube-proxy's tables (a few MB) with comments, blank lines and counters spread through them. */
function large(services: number, variant = -1): string {
  const lines = kubeProxyNat({ services, variant, filter: true }).split('\n');
  return lines.map((l, i) => {
    if (i % 997 === 5) return `# comment ${i}\n\n${l}`;
    if (l.startsWith('-A ') && i % 13 === 0) return `[${i}:${i * 60}] ${l}`;
    return l;
  }).join('\n');
}

/** The line iptables-restore names in its complaint. */
const toolLine = (stderr: string) => Number(/(?:Error occurred at line: |line |at line )(\d+)/.exec(stderr)?.[1]);

describe('large restore texts (lines prepared on a helper thread)', { skip }, () => {
  it('leave what iptables-legacy-restore leaves, first and again with one service changed', async () => {
    await withNetns(2, async (a, b) => {
      const h = iptables.open({ netns: b.path, backend: 'legacy' });
      try {
        const steps = [
          { text: large(3000), counters: true },
          { text: large(3000, 1500), counters: false },
          { text: large(3000, 7), counters: true, noflush: true },
        ];
        for (const [i, s] of steps.entries()) {
          assert.ok(s.text.length > 1 << 20, 'the text is not large');
          a.run('iptables-legacy-restore', [...(s.counters ? ['--counters'] : []), ...(s.noflush ? ['--noflush'] : [])], s.text);
          const r = await h.restore(s.text, { counters: s.counters, noflush: s.noflush });
          assert.ok(r.stats.lines > 20_000);
          for (const c of [false, true]) assert.equal(save(b, c), save(a, c), `step ${i}: iptables-save${c ? ' -c' : ''} differs`);
        }
      } finally {
        await h.close();
      }
    });
  });

  for (const [name, bad] of [
    ['a word longer than iptables-restore takes', `-A KUBE-SERVICES -m comment --comment "${'x'.repeat(1100)}" -j RETURN`],
    ['an unknown option', '-A KUBE-SERVICES -p tcp --no-such-option 1 -j RETURN'],
    ['a jump to a chain that does not exist', '-A KUBE-SERVICES -j KUBE-NO-SUCH-CHAIN'],
    ['counters that are not numbers', '[1:x] -A KUBE-SERVICES -j RETURN'],
  ] as const) {
    it(`${name} deep in the text: refused at its line, nothing committed`, async () => {
      await withNetns(2, async (a, b) => {
        const good = large(2000);
        const lines = good.split('\n');
        const at = lines.findIndex((l, i) => i > 12_000 && l.startsWith('-A KUBE-SVC-'));
        lines.splice(at, 0, bad);
        const text = lines.join('\n');
        const r = a.try('iptables-legacy-restore', ['--counters'], text);
        assert.notEqual(r.status, 0, 'iptables-legacy-restore accepted it');
        const line = toolLine(r.stderr);
        assert.equal(line, at + 1, `the tool names line ${line}: ${r.stderr.trim()}`);

        // both tables exist from the start: reading one creates it, which is no change
        b.run('iptables-legacy', ['-t', 'filter', '-S']);
        b.run('iptables-legacy-restore', [], '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 192.0.2.2/32 -j RETURN\nCOMMIT\n');
        const before = save(b, true);
        const h = iptables.open({ netns: b.path, backend: 'legacy' });
        try {
          await assert.rejects(h.restore(text, { counters: true }), (e: unknown) => {
            assert.ok(e instanceof NlkitError, String(e));
            assert.equal((e as NlkitError & { line?: number }).line, line, e.message);
            return true;
          });
          assert.equal(save(b, true), before, 'the failed restore changed the tables');
          // and the handle is fine afterwards
          await h.restore(good, { counters: true });
          a.run('iptables-legacy-restore', ['--counters'], good);
          assert.equal(save(b, true), save(a, true));
        } finally {
          await h.close();
        }
      });
    });
  }
});
