// Every ```ts snippet of README.md runs as written, so that the README stays true. Each runs in
// its own node process inside a throwaway namespace (`ip netns exec`), where the module-level
// functions act; the namespace names a snippet passes as `netns: 'NAME'` are throwaway
// namespaces too. Snippets that program IPVS run where the kernel has it (in the VM tier, where
// they must run; on a host without IPVS they are skipped, saying so).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelSkipReason, Netns } from '../helpers/netns.js';
import { ipvsSkipReason } from '../helpers/ipvs.js';
import { inVm } from '../helpers/vm.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const entry = join(repo, 'lib/index.ts');

interface Snippet { line: number; heading: string; code: string }

/** The README's ```ts blocks, with the line each starts on and the heading above it. */
export function snippets(markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = markdown.split('\n');
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#{1,6} /.test(l)) heading = l.replace(/^#+ /, '');
    if (l.trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    out.push({ line: start + 1, heading, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

const all = snippets(readFileSync(join(repo, 'README.md'), 'utf8'));
const needsIpvs = (s: Snippet) => /\bipvs\./.test(s.code);

/** Why dummy links cannot be made here (some host kernels lack CONFIG_DUMMY; the VM has it). */
function dummySkipReason(): string | undefined {
  if (kernelSkipReason()) return kernelSkipReason();
  const ns = new Netns('readme');
  try {
    return ns.try('ip', ['link', 'add', 'd0', 'type', 'dummy']).status === 0 ? undefined
      : 'the running kernel has no dummy links (CONFIG_DUMMY); it runs in the VM tier';
  } finally {
    ns.remove();
  }
}

describe('README snippets', { skip: kernelSkipReason('iptables-legacy') }, () => {
  it('the README has ts snippets, each with its imports', () => {
    assert.ok(all.length >= 7, `only ${all.length} snippets found`);
    for (const s of all) assert.match(s.code, /from 'nlkit';/, `README line ${s.line} (${s.heading}) imports nothing from nlkit`);
  });

  for (const s of all) {
    const ipvsSkip = needsIpvs(s) ? ipvsSkipReason() : undefined;
    const dummySkip = /addDummy/.test(s.code) ? dummySkipReason() : undefined;
    // Inside the VM IPVS and dummy links are there by design: a snippet that needs them cannot skip
    // there; one that needs neither already ran on the host (each costs a node start under emulation).
    const needsVm = needsIpvs(s) || /addDummy/.test(s.code);
    const skip = inVm() ? (needsVm ? undefined : 'needs neither IPVS nor dummy links: it ran on the host')
      : ipvsSkip ? `it programs IPVS: ${ipvsSkip}` : dummySkip ? `it makes a dummy link: ${dummySkip}` : undefined;
    it(`README line ${s.line} (${s.heading}) runs as written`, { skip }, () => {
      const made: Netns[] = [];
      const dir = mkdtempSync(join(tmpdir(), 'nlkit-readme-'));
      try {
        const home = new Netns('readme');
        made.push(home);
        // Where the host's `iptables` is iptables-nft, backend 'auto' writes nf_tables, where
        // save() is not there yet (README, "Backend"): a legacy rule makes it a legacy namespace.
        home.run('iptables-legacy', ['-t', 'filter', '-A', 'OUTPUT', '-j', 'ACCEPT']);
        let code = s.code.replaceAll("from 'nlkit'", `from ${JSON.stringify(entry)}`);
        for (const name of new Set([...s.code.matchAll(/netns: '([\w-]+)'/g)].map((m) => m[1]!))) {
          const ns = new Netns('readme');
          made.push(ns);
          code = code.replaceAll(`netns: '${name}'`, `netns: '${ns.name}'`);
        }
        const file = join(dir, 'snippet.mts');
        // Module-level handles stay open until the process ends: the snippet ends it.
        writeFileSync(file, `${code}\nprocess.exit(0);\n`);
        const r = spawnSync('ip', ['netns', 'exec', home.name, process.execPath, '--import', 'tsx', file], {
          cwd: repo, encoding: 'utf8', timeout: 120_000,
        });
        assert.equal(r.status, 0, `README line ${s.line} failed:\n${r.stderr}${r.stdout}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        for (const n of made) n.remove();
      }
    });
  }
});
