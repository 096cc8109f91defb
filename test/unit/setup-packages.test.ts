// scripts/setup.sh must install every system tool the tests need: a tool it leaves out makes
// the tests that need it skip on a fresh machine, which passes unseen. Reads the tool names the
// tests check for (kernelSkipReason and has calls) and the script's package list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Which Debian package gives each tool; util-linux and coreutils are Essential (always installed). */
const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2', ipset: 'ipset', ipvsadm: 'ipvsadm', nft: 'nftables', strace: 'strace', conntrack: 'conntrack',
  'iptables-legacy': 'iptables', 'iptables-legacy-save': 'iptables', 'iptables-legacy-restore': 'iptables',
  'iptables-nft-save': 'iptables', 'iptables-nft-restore': 'iptables', 'ip6tables-nft': 'iptables', 'ip6tables-nft-restore': 'iptables', flock: 'util-linux', setpriv: 'util-linux', busybox: 'busybox-static', mkfifo: 'coreutils', nsenter: 'util-linux', python3: 'python3', sysctl: 'procps',
};
const ESSENTIAL = new Set(['util-linux', 'coreutils']);
/** has('x') also checks link kinds and flags; these are the names that are tools. */
const TOOLS_BY_HAS = new Set(['strace', 'nft', 'conntrack', 'ipvsadm', 'ipset', 'flock', 'setpriv']);
/** Needed by tests another subsystem adds (conntrack -L is the conntrack tests' oracle). */
const ALSO = ['conntrack', 'nft', 'strace'];

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'fixtures' ? [] : testFiles(`${dir}/${e.name}`)) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []);
}

test('scripts/setup.sh installs the package of every tool the tests need', () => {
  const script = readFileSync(`${root}/scripts/setup.sh`, 'utf8');
  const list = /^PACKAGES=\(([^)]*)\)/m.exec(script);
  assert.ok(list, 'setup.sh has no PACKAGES=(...) line');
  const installed = new Set(list[1]!.trim().split(/\s+/));
  const tools = new Set(ALSO);
  for (const f of testFiles(`${root}/test`)) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/kernelSkipReason\('([^']+)'\)/g)) tools.add(m[1]!);
    for (const m of src.matchAll(/\bhas\('([^']+)'\)/g)) if (TOOLS_BY_HAS.has(m[1]!)) tools.add(m[1]!);
  }
  const missing: string[] = [];
  for (const tool of [...tools].sort()) {
    const pkg = PACKAGE_OF[tool];
    assert.ok(pkg, `tests need \`${tool}\`: name its Debian package in PACKAGE_OF and install it in setup.sh`);
    if (!ESSENTIAL.has(pkg) && !installed.has(pkg)) missing.push(`${tool} (${pkg})`);
  }
  assert.deepEqual(missing, [], 'tools the tests need that setup.sh does not install');
});
