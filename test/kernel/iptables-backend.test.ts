// Backend detection: what iptables.backend() reports is checked against the system tools
// (iptables-legacy-save, iptables-nft-save, `iptables -V`), and a handle with the default
// backend 'auto' writes nf_tables where the namespace's rules live there (or none do and the host's iptables is iptables-nft).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iptables, InvalidArgumentError } from '../../lib/index.js';
import { decide, findCommand, variantOfPath, variantOfVersion } from '../../lib/iptables/backend.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

type Family = 4 | 6;
const cmd = (f: Family) => (f === 6 ? 'ip6tables' : 'iptables');

const skip = kernelSkipReason('iptables-legacy-save') ?? kernelSkipReason('iptables-nft-save') ?? kernelSkipReason('ip6tables-nft');

/** What the host's `iptables -V` says it is: the oracle for `tool`. */
function toolVariant(f: Family): 'legacy' | 'nft' | 'unknown' {
  const r = spawnSync(cmd(f), ['-V'], { encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  return /\(nf_tables\)/.test(r.stdout) ? 'nft' : /\(legacy\)/.test(r.stdout) ? 'legacy' : 'unknown';
}

/** Tables and rules as a save tool prints them. */
function saved(ns: Netns, f: Family, backend: 'legacy' | 'nft'): { tables: string[]; rules: number } {
  const out = ns.run(`${cmd(f)}-${backend}-save`, []);
  const lines = out.split('\n');
  return { tables: lines.filter((l) => l.startsWith('*')).map((l) => l.slice(1)), rules: lines.filter((l) => l.startsWith('-A ')).length };
}

const sorted = (x: { tables: string[]; rules: number }) => ({ tables: [...x.tables].sort(), rules: x.rules });

const legacyText = (f: Family) => f === 4
  ? '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.1/32 -j DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\n:KUBE-X - [0:0]\n-A KUBE-X -j RETURN\nCOMMIT\n'
  : '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 2001:db8::1/128 -j DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\n:KUBE-X - [0:0]\n-A KUBE-X -j RETURN\nCOMMIT\n';

const nftRules = (ns: Netns, f: Family) => {
  ns.run(`${cmd(f)}-nft`, ['-A', 'INPUT', '-s', f === 4 ? '198.51.100.7' : '2001:db8::7', '-j', 'DROP']);
  ns.run(`${cmd(f)}-nft`, ['-t', 'nat', '-N', 'NFT-X']);
  ns.run(`${cmd(f)}-nft`, ['-t', 'nat', '-A', 'NFT-X', '-p', 'udp', '--dport', '53', '-j', 'RETURN']);
  ns.run(`${cmd(f)}-nft`, ['-t', 'nat', '-A', 'NFT-X', '-j', 'RETURN']);
};

const nlkitText = (f: Family) => `*filter\n-A OUTPUT -d ${f === 4 ? '203.0.113.9/32' : '2001:db8::9/128'} -j ACCEPT\nCOMMIT\n`;

for (const family of [4, 6] as const) {
  describe(`iptables backend detection (IPv${family})`, { skip }, () => {
    it('a fresh namespace: nothing in use, the decision is what the host tool is', () => withNetns(1, async (ns) => {
      const info = await iptables.backend({ netns: ns.path, family });
      assert.equal(info.tool, toolVariant(family));
      assert.deepEqual(info.legacy, { tables: [], rules: 0 });
      assert.deepEqual(info.nft, { tables: [], rules: 0 });
      assert.equal(info.inUse, 'none');
      assert.equal(info.hostBackend, info.tool === 'nft' ? 'nft' : 'legacy');
      // looking created no table of either kind
      assert.deepEqual(saved(ns, family, 'legacy').tables, []);
      assert.deepEqual(saved(ns, family, 'nft').tables, []);

      const h = iptables.open({ netns: ns.path, family });
      try {
        if (info.hostBackend === 'nft') {
          // written where the host's iptables(-nft) shows it, not refused (issue #14)
          await h.restore(nlkitText(family));
          assert.deepEqual(saved(ns, family, 'legacy').tables, [], 'an nf_tables restore created legacy tables');
          assert.equal(saved(ns, family, 'nft').rules, 1);
        } else {
          await h.restore(nlkitText(family));
        }
      } finally {
        await h.close();
      }
    }));

    it('legacy rules: counts match iptables-legacy-save, in use: legacy, auto handles write', () => withNetns(1, async (ns) => {
      ns.run(`${cmd(family)}-legacy-restore`, [], legacyText(family));
      const h = iptables.open({ netns: ns.path, family });
      try {
        const info = await h.backend();
        assert.deepEqual(sorted(info.legacy), sorted(saved(ns, family, 'legacy')));
        assert.equal(info.legacy.rules, 3);
        assert.deepEqual(info.nft, { tables: [], rules: 0 });
        assert.equal(info.inUse, 'legacy');
        assert.equal(info.hostBackend, 'legacy');
        await h.restore(nlkitText(family), { noflush: true });
        assert.equal(saved(ns, family, 'legacy').rules, 4);
        assert.deepEqual(sorted((await h.backend()).legacy), sorted(saved(ns, family, 'legacy')));
      } finally {
        await h.close();
      }
    }));

    it('nf_tables rules: counts match iptables-nft-save; auto handles save and write nf_tables; legacy handles write', () => withNetns(1, async (ns) => {
      nftRules(ns, family);
      const info = await iptables.backend({ netns: ns.path, family });
      assert.deepEqual(sorted(info.nft), sorted(saved(ns, family, 'nft')));
      assert.equal(info.nft.rules, 3);
      assert.deepEqual(info.legacy, { tables: [], rules: 0 });
      assert.equal(info.inUse, 'nft');
      assert.equal(info.hostBackend, 'nft');

      const h = iptables.open({ netns: ns.path, family });
      try {
        // save reads nf_tables as iptables-nft-save does (issue #14)
        assert.equal(await h.save(), ns.run(`${cmd(family)}-nft-save`, []).split('\n').filter((l) => !/^# (Generated by|Completed on) /.test(l)).join('\n'));
        let ran = false;
        await h.withLock(() => { ran = true; });
        assert.equal(ran, true);
        // restore replaces the nat and filter tables it names, in nf_tables; the builder too
        await h.restore(nlkitText(family));
        await h.table('mangle').chain('OUTPUT').append({ jump: 'ACCEPT' }).commit();
        assert.equal(ns.run(`${cmd(family)}-legacy-save`, []), '', 'legacy tables were written');
        // filter replaced (1 rule), nat untouched (2), mangle new (1)
        assert.deepEqual(sorted(saved(ns, family, 'nft')), sorted({ tables: ['filter', 'nat', 'mangle'], rules: 4 }));
        // noflush on nf_tables appends to filter's OUTPUT, the rest stays (iptables-nft-noflush.test.ts compares with the tool)
        await h.restore(nlkitText(family), { noflush: true });
        assert.deepEqual(sorted(saved(ns, family, 'nft')), sorted({ tables: ['filter', 'nat', 'mangle'], rules: 5 }));
      } finally {
        await h.close();
      }

      const legacy = iptables.open({ netns: ns.path, family, backend: 'legacy' });
      try {
        await legacy.restore(nlkitText(family));
        assert.equal(saved(ns, family, 'legacy').rules, 1);
        // both now hold rules; legacy rules present decide legacy (as iptables-wrappers does)
        const both = await legacy.backend();
        assert.equal(both.inUse, 'both');
        assert.equal(both.hostBackend, 'legacy');
        assert.deepEqual(sorted(both.legacy), sorted(saved(ns, family, 'legacy')));
        assert.deepEqual(sorted(both.nft), sorted(saved(ns, family, 'nft')));
      } finally {
        await legacy.close();
      }
    }));

    it('nf_tables tables that iptables-nft does not show are not counted', { skip: kernelSkipReason('nft') }, () => withNetns(1, async (ns) => {
      const fam = family === 4 ? 'ip' : 'ip6';
      ns.run('nft', ['add', 'table', fam, 'nlkit_own']);
      ns.run('nft', ['add', 'chain', fam, 'nlkit_own', 'c']);
      ns.run('nft', ['add', 'rule', fam, 'nlkit_own', 'c', 'counter']);
      const info = await iptables.backend({ netns: ns.path, family });
      assert.deepEqual(info.nft, { tables: [], rules: 0 });
      assert.equal(info.inUse, 'none');
    }));
  });
}

describe('iptables backend option', { skip }, () => {
  it("backend must be 'auto', 'legacy' or 'nft'", () => withNetns(1, async (ns) => {
    for (const bad of ['nf_tables', '', 4, null]) {
      assert.throws(() => iptables.open({ netns: ns.path, backend: bad as 'legacy' }), InvalidArgumentError);
    }
    for (const good of ['auto', 'legacy', 'nft'] as const) await iptables.open({ netns: ns.path, backend: good }).close();
  }));
});

describe('iptables backend decision and tool detection (no kernel)', () => {
  it('follows iptables-wrappers: legacy rules win, then nf_tables rules, then the host tool', () => {
    const none = { tables: [], rules: 0 }, some = { tables: ['filter'], rules: 2 };
    assert.deepEqual(decide('nft', some, none), { inUse: 'legacy', hostBackend: 'legacy' });
    assert.deepEqual(decide('legacy', none, some), { inUse: 'nft', hostBackend: 'nft' });
    assert.deepEqual(decide('nft', some, some), { inUse: 'both', hostBackend: 'legacy' });
    assert.deepEqual(decide('nft', none, none), { inUse: 'none', hostBackend: 'nft' });
    assert.deepEqual(decide('legacy', none, none), { inUse: 'none', hostBackend: 'legacy' });
    assert.deepEqual(decide('unknown', none, none), { inUse: 'none', hostBackend: 'legacy' });
    // an empty legacy table (made by `iptables-legacy -L`) is not a use
    assert.deepEqual(decide('nft', { tables: ['filter'], rules: 0 }, none), { inUse: 'none', hostBackend: 'nft' });
  });

  it('reads the variant from `iptables -V` and from the alternatives symlink chain', () => {
    assert.equal(variantOfVersion('iptables v1.8.9 (nf_tables)\n'), 'nft');
    assert.equal(variantOfVersion('ip6tables v1.8.7 (legacy)\n'), 'legacy');
    assert.equal(variantOfVersion('iptables v1.6.1\n'), 'legacy');
    assert.equal(variantOfVersion('something else'), undefined);
    const dir = mkdtempSync(join(tmpdir(), 'nlkit-backend-'));
    try {
      writeFileSync(join(dir, 'xtables-nft-multi'), '');
      writeFileSync(join(dir, 'xtables-legacy-multi'), '');
      writeFileSync(join(dir, 'plain'), '');
      symlinkSync('xtables-nft-multi', join(dir, 'iptables-nft'));
      symlinkSync(join(dir, 'iptables-nft'), join(dir, 'alt'));
      symlinkSync(join(dir, 'alt'), join(dir, 'iptables'));
      symlinkSync('xtables-legacy-multi', join(dir, 'ip6tables'));
      assert.equal(variantOfPath(join(dir, 'iptables')), 'nft');
      assert.equal(variantOfPath(join(dir, 'ip6tables')), 'legacy');
      assert.equal(variantOfPath(join(dir, 'plain')), undefined);
      assert.equal(findCommand('ip6tables', dir), join(dir, 'ip6tables'));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
