// Inputs iptables-legacy-restore rejects are rejected by nlkit at the same line, with the
// word at fault, without ending the process and without committing anything.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { iptables } from '../../lib/index.js';
import { InvalidArgumentError, NlkitError, NotFoundError } from '../../lib/core/errors.js';
import { kernelSkipReason, Netns } from '../helpers/netns.js';
import { BAD_CASES, filterWith } from '../fixtures/iptables/bad-lines.js';

const skip = kernelSkipReason('iptables-legacy-restore');

const BASELINE = '*filter\n:INPUT ACCEPT [0:0]\n:KEEP - [0:0]\n-A INPUT -s 192.0.2.1/32 -j KEEP\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 192.0.2.2/32 -j RETURN\nCOMMIT\n';
const save = (ns: Netns, family: 4 | 6 = 4) =>
  ns.run(family === 6 ? 'ip6tables-legacy-save' : 'iptables-legacy-save', []).split('\n').filter((l) => !l.startsWith('# ')).join('\n');

/** The line iptables-restore names in its complaint. */
function toolLine(stderr: string): number | undefined {
  const m = /(?:Error occurred at line: |line |at line )(\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

describe('iptables restore errors match iptables-legacy-restore', { skip }, () => {
  let a: Netns, b: Netns;
  before(() => {
    a = new Netns('err');
    b = new Netns('err');
    for (const ns of [a, b]) {
      // every table exists from the start: reading one creates it, which is no change
      for (const t of ['filter', 'nat', 'mangle', 'raw', 'security']) {
        ns.run('iptables-legacy', ['-t', t, '-S']);
        ns.run('ip6tables-legacy', ['-t', t, '-S']);
      }
      ns.run('iptables-legacy-restore', [], BASELINE);
      ns.run('ip6tables-legacy-restore', [], BASELINE.replace(/192\.0\.2\.(\d)\/32/g, '2001:db8::$1/128'));
    }
  });
  after(() => {
    a?.remove();
    b?.remove();
  });

  for (const c of BAD_CASES) {
    it(c.name, async () => {
      const family = c.family ?? 4;
      const text = c.text ?? filterWith(c.line!);
      const r = a.try(family === 6 ? 'ip6tables-legacy-restore' : 'iptables-legacy-restore', c.counters ? ['--counters'] : [], text);
      assert.notEqual(r.status, 0, 'iptables-legacy-restore accepted it');
      const line = toolLine(r.stderr);
      assert.ok(line, `no line in ${JSON.stringify(r.stderr)}`);
      // the tool may have committed earlier tables: put namespace A back
      a.run(family === 6 ? 'ip6tables-legacy-restore' : 'iptables-legacy-restore', [],
        family === 6 ? BASELINE.replace(/192\.0\.2\.(\d)\/32/g, '2001:db8::$1/128') : BASELINE);

      const before = save(b, family);
      const h = iptables.open({ netns: b.path, family, backend: 'legacy' });
      try {
        await assert.rejects(h.restore(text, { counters: c.counters }), (e: unknown) => {
          assert.ok(e instanceof NlkitError, `not an NlkitError: ${String(e)}`);
          const info = e as NlkitError & { line?: number; argument?: string; column?: number; committed?: string[] };
          assert.equal(info.line, line, `${e.message} (tool: ${r.stderr.trim()})`);
          if (c.error) assert.equal(e.name, c.error, e.message);
          if (c.argument) assert.equal(info.argument, c.argument, e.message);
          if (info.column !== undefined && info.argument !== undefined) {
            const src = text.split('\n')[line! - 1]!;
            assert.equal(src.slice(info.column - 1).startsWith(info.argument) || src.slice(info.column - 1).startsWith(`"${info.argument}`), true, `column ${info.column} of ${src}`);
          }
          assert.deepEqual(info.committed, []);
          assert.equal(e.subsystem, 'iptables');
          return true;
        });
      } finally {
        await h.close();
      }
      assert.equal(save(b, family), before, 'nlkit changed the tables after all');
    });
  }

  it('a NUL in a restore text is refused, never compiled as a different rule than iptables-legacy-restore makes', async () => {
    // The tool reads the line as a C string: it ends at the NUL. nlkit refuses the text instead.
    const lines = ['-A INPUT -s 198.51.100.7\0 -j DROP', '-A INPUT -m comment --comment "a\0b" -j DROP', '-A INP\0UT -j DROP', '-A INPUT -j DROP\0'];
    for (const l of lines) {
      const text = `*filter\n${l}\nCOMMIT\n`;
      const before = save(b);
      const h = iptables.open({ netns: b.path, backend: 'legacy' });
      try {
        await assert.rejects(h.restore(text, { noflush: true }), (e: unknown) => {
          assert.ok(e instanceof InvalidArgumentError, `${JSON.stringify(l)}: ${String(e)}`);
          assert.equal(e.line, 2);
          assert.match(e.message, /NUL character at column \d+/);
          return true;
        });
      } finally {
        await h.close();
      }
      assert.equal(save(b), before, `${JSON.stringify(l)} changed the tables`);
    }
  });

  it('a bad rule in a later table commits nothing (iptables-restore would have committed the first)', async () => {
    const text = '*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -m nosuch -j MASQUERADE\nCOMMIT\n';
    const before = save(b);
    await assert.rejects(iptables.open({ netns: b.path, backend: 'legacy' }).restore(text), (e: unknown) =>
      e instanceof InvalidArgumentError && e.line === 6 && (e as { committed?: string[] }).committed?.length === 0);
    assert.equal(save(b), before);
  });

  it('a table the kernel refuses after earlier ones committed puts those back', async () => {
    // Counters and a comment with a newline (no text round-trips it) must come back too.
    b.run('sh', ['-c', `iptables-legacy -A INPUT -m comment --comment "$(printf 'x\\ny')" -c 5 500 -j ACCEPT && iptables-legacy -t mangle -A OUTPUT -j ACCEPT`]);
    const saveAll = () => b.run('iptables-legacy-save', ['-c']).split('\n').filter((l) => !l.startsWith('# ')).join('\n');
    const before = saveAll();
    const text = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 198.51.100.1/32 -j ACCEPT\nCOMMIT\n*mangle\n-A OUTPUT -j DROP\nCOMMIT\n' +
      '*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j REJECT\nCOMMIT\n';
    const h = iptables.open({ netns: b.path, backend: 'legacy' });
    try {
      await assert.rejects(h.restore(text, { counters: true }), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError, String(e));
        assert.equal(e.line, 11);
        assert.deepEqual((e as { committed?: string[] }).committed, []);
        assert.equal((e as { table?: string }).table, 'nat');
        return true;
      });
      assert.equal(saveAll(), before);
      await h.restore(BASELINE + '*mangle\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
    } finally {
      await h.close();
    }
  });

  it('many bad rules in a row leave the process and the handle working', async () => {
    const h = iptables.open({ netns: b.path, backend: 'legacy' });
    try {
      for (let i = 0; i < 200; i++) {
        const c = BAD_CASES[i % BAD_CASES.length]!;
        if (c.family === 6) continue;
        await h.restore(c.text ?? filterWith(c.line!), { counters: c.counters }).then(
          () => assert.fail(`${c.name} was accepted`), (e: unknown) => assert.ok(e instanceof NlkitError));
      }
      await h.restore(BASELINE);
      assert.match(await h.save({ table: 'filter' }), /-A INPUT -s 192\.0\.2\.1\/32 -j KEEP/);
    } finally {
      await h.close();
    }
  });

  it('a missing table is NotFoundError, a closed handle refuses', async () => {
    const h = iptables.open({ netns: b.path, backend: 'legacy' });
    await assert.rejects(h.restore('*nosuchtable\nCOMMIT\n'), (e: unknown) => e instanceof NotFoundError && (e as { line?: number }).line === 1);
    await assert.rejects(h.save({ table: 'nosuchtable' }), NotFoundError);
    await h.close();
    await assert.rejects(h.restore(BASELINE), (e: unknown) => e instanceof NlkitError && e.code === 'EBADF');
  });

  it('raw snapshots: a missing table and a refused replace reject with the typed error of the failure record', async () => {
    const h = iptables.open({ netns: b.path, backend: 'legacy' });
    try {
      await assert.rejects(h.saveRaw('nosuchtable'), (e: unknown) => {
        assert.ok(e instanceof NotFoundError, String(e));
        assert.equal(e.code, 'ENOENT');
        assert.equal(e.op, 'iptables.saveRaw');
        assert.equal((e as { table?: string }).table, 'nosuchtable');
        return true;
      });
      const before = save(b);
      const snap = await h.saveRaw('filter');
      // hooks the filter table does not have: the kernel's IPT_SO_SET_REPLACE is never reached (EINVAL)
      await assert.rejects(h.withLock(() => h.restoreRaw({ ...snap, validHooks: snap.validHooks ^ 1 })), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError, String(e));
        assert.equal(e.errno, 22);
        assert.equal(e.op, 'iptables.restoreRaw');
        assert.equal((e as { table?: string }).table, 'filter');
        return true;
      });
      assert.equal(save(b), before);
      await h.withLock(() => h.restoreRaw(snap));
      assert.equal(save(b), before);
    } finally {
      await h.close();
    }
  });

  it('bad options are refused before anything runs', async () => {
    const h = iptables.open({ netns: b.path, backend: 'legacy' });
    try {
      await assert.rejects(h.restore(BASELINE, { wait: -1 }), InvalidArgumentError);
      await assert.rejects(h.restore(BASELINE, { waitInterval: 0 }), InvalidArgumentError);
      // a table name with a NUL would reach libiptc as the name before it
      await assert.rejects(h.save({ table: 'filter\0x' }), InvalidArgumentError);
      await assert.rejects(h.restore(BASELINE, { table: 'filter\0x' }), InvalidArgumentError);
      assert.throws(() => iptables.open({ netns: b.path, family: 5 as 4, backend: 'legacy' }), InvalidArgumentError);
    } finally {
      await h.close();
    }
  });
});
