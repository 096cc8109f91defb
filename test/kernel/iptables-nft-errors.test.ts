// Bad input on the nf_tables backend: what iptables-nft-restore 1.8.9 rejects, nlkit rejects at
// the same line without changing anything (the whole text is one kernel transaction); what the
// tool accepts, nlkit applies identically. Plus a kernel refusal in a later table of a text:
// the earlier tables stay as they were.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { iptables } from '../../lib/index.js';
import { NlkitError } from '../../lib/core/errors.js';
import { kernelSkipReason, Netns } from '../helpers/netns.js';
import { BAD_CASES, filterWith } from '../fixtures/iptables/bad-lines.js';

const skip = kernelSkipReason('iptables-nft-restore') ?? kernelSkipReason('nft');

const BASELINE = '*filter\n:INPUT ACCEPT [0:0]\n:KEEP - [0:0]\n-A INPUT -s 192.0.2.1/32 -j KEEP\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 192.0.2.2/32 -j RETURN\nCOMMIT\n';
const baseline = (f: 4 | 6) => (f === 6 ? BASELINE.replace(/192\.0\.2\.(\d)\/32/g, '2001:db8::$1/128') : BASELINE);
const restoreTool = (f: 4 | 6) => (f === 6 ? 'ip6tables-nft-restore' : 'iptables-nft-restore');
const ruleset = (ns: Netns) => JSON.stringify(JSON.parse(ns.run('nft', ['-j', 'list', 'ruleset']), (k, v) => (k === 'handle' || k === 'metainfo' ? undefined : v)));

/** The line iptables-nft-restore names in its complaint. */
function toolLine(stderr: string): number | undefined {
  const m = /(?:Error occurred at line: |line |at line )(\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

describe('iptables backend nft: bad input as iptables-nft-restore 1.8.9 treats it', { skip }, () => {
  let a: Netns, b: Netns;
  const reset = () => {
    for (const ns of [a, b]) for (const f of [4, 6] as const) ns.run(restoreTool(f), [], baseline(f));
  };
  before(() => {
    a = new Netns('nerr');
    b = new Netns('nerr');
    reset();
  });
  after(() => {
    a?.remove();
    b?.remove();
  });

  // iptables-nft 1.8.9 accepts `-X INPUT` (it deletes the base chain); nlkit's compiler, shared
  // with legacy, refuses it as iptables-legacy does.
  const differs: Record<string, string> = { 'deleting a built-in chain': 'iptables-nft deletes a built-in chain; nlkit refuses it as legacy does' };
  for (const c of BAD_CASES) {
    it(c.name, { skip: differs[c.name] ?? false }, async () => {
      const family = c.family ?? 4;
      const text = c.text ?? filterWith(c.line!);
      reset();
      const r = a.try(restoreTool(family), c.counters ? ['--counters'] : [], text);
      const before = ruleset(b);
      const h = iptables.open({ netns: b.path, family, backend: 'nft' });
      try {
        if (r.status === 0) {
          // iptables-nft accepts what legacy refused (it keeps no policy on user chains, ...): so does nlkit
          await h.restore(text, { counters: c.counters ?? false });
          assert.equal(ruleset(b), ruleset(a), 'nlkit applied it differently from iptables-nft-restore');
          return;
        }
        const line = toolLine(r.stderr);
        assert.ok(line, `no line in ${JSON.stringify(r.stderr)}`);
        await assert.rejects(h.restore(text, { counters: c.counters ?? false }), (e: unknown) => {
          assert.ok(e instanceof NlkitError, `not an NlkitError: ${String(e)}`);
          const info = e as NlkitError & { line?: number; committed?: string[] };
          assert.equal(info.line, line, `${e.message} (tool: ${r.stderr.trim()})`);
          assert.deepEqual(info.committed, []);
          assert.equal(e.subsystem, 'iptables');
          return true;
        });
      } finally {
        await h.close();
      }
      assert.equal(ruleset(b), before, 'nlkit changed the ruleset after all');
    });
  }

  it('a table the kernel refuses leaves every table of the text as it was (one batch), where the tool commits the tables before it', async () => {
    reset();
    // `! -d 0.0.0.0/0` compiles, and iptables-nft makes a zero-length payload of it: the kernel refuses the rule
    const text = '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n-A INPUT ! -d 0.0.0.0/0 -j ACCEPT\nCOMMIT\n';
    const r = a.try('iptables-nft-restore', [], text);
    assert.notEqual(r.status, 0, 'iptables-nft-restore accepted it');
    const before = ruleset(b);
    const h = iptables.open({ netns: b.path, backend: 'nft' });
    try {
      await assert.rejects(h.restore(text), (e: unknown) => {
        assert.ok(e instanceof NlkitError, String(e));
        const info = e as NlkitError & { line?: number; table?: string; committed?: string[] };
        assert.equal(info.table, 'filter');
        assert.equal(info.line, toolLine(r.stderr), `the tool: ${r.stderr}`);
        assert.equal(info.line, 7);
        assert.deepEqual(info.committed, []);
        assert.match(e.message, /rule 1 of chain INPUT/);
        return true;
      });
    } finally {
      await h.close();
    }
    assert.equal(ruleset(b), before, 'a table was changed');
    assert.notEqual(ruleset(a), before, 'the tool, committing per table, changed nat: the two differ here by design');
  });

  it("'auto' writes nf_tables on this iptables-nft host (no refusal), and `wait` takes no lock there", async () => {
    const ns = new Netns('nauto');
    try {
      const h = iptables.open({ netns: ns.path });
      try {
        assert.equal((await h.backend()).hostBackend, 'nft');
        await h.restore('*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n', { wait: 0 });
      } finally {
        await h.close();
      }
      assert.match(ns.run('iptables-nft-save', []), /-A INPUT -i lo -j ACCEPT/);
      assert.equal(ns.try('iptables-legacy-save', []).stdout.trim(), '', 'legacy tables were written');
    } finally {
      ns.remove();
    }
  });
});
