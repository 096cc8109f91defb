// `nlkit doctor` against this host and a namespace made here: each finding is compared with what
// the system tools and the kernel's own files say, not with doctor's own logic.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import type { Finding } from '../../lib/doctor/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'nlkit-doctor-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function doctor(netns: string, env: NodeJS.ProcessEnv, prefix: string[] = []): { status: number | null; findings: Finding[] } {
  const r = spawnSync(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []),
    '--import', 'tsx', join(root, 'lib/cli.ts'), 'doctor', '--netns', netns, '--json'], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.ok(r.stdout.startsWith('['), r.stderr);
  return { status: r.status, findings: JSON.parse(r.stdout) as Finding[] };
}
const find = (fs: Finding[], area: string, name: string) => {
  const f = fs.find((x) => x.area === area && x.name === name);
  assert.ok(f, `no finding ${area}/${name}`);
  return f;
};

describe('nlkit doctor', { skip: kernelSkipReason('iptables-legacy') }, () => {
  it('reports the namespace and host as the system tools see them', () => withNetns(1, async (ns) => {
    ns.run('iptables-legacy', ['-A', 'INPUT', '-j', 'ACCEPT']);
    const lock = join(dir, 'xtables.lock');
    writeFileSync(lock, '');
    const holder = spawn('flock', [lock, 'sleep', '60'], { stdio: 'ignore' });
    try {
      // held once flock -n cannot take it
      for (let i = 0; i < 200 && spawnSync('flock', ['-n', lock, 'true']).status === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const { status, findings } = doctor(ns.path, { XTABLES_LOCKFILE: lock });

      assert.equal(find(findings, 'capabilities', 'CAP_NET_ADMIN').status, 'ok');
      assert.equal(find(findings, 'addon', 'nlkit.node').status, 'ok');
      const hasIpvs = ns.try('test', ['-e', '/proc/net/ip_vs']).status === 0;
      const v = find(findings, 'ipvs', 'IPVS');
      assert.equal(v.status, hasIpvs ? 'ok' : 'missing');
      if (!hasIpvs) assert.match(v.fix ?? '', /modprobe ip_vs/);
      assert.equal(ns.run('ipset', ['list', '-n']), '');
      assert.deepEqual([find(findings, 'ipset', 'ipset').status, find(findings, 'ipset', 'ipset').detail], ['ok', '0 sets']);
      assert.match(find(findings, 'iptables', 'IPv4').detail, /^in use: legacy /);
      assert.match(find(findings, 'iptables', 'IPv6').detail, /^in use: none /);
      assert.equal(find(findings, 'xtables-lock', lock).detail, `held by pid ${holder.pid} (flock)`);
      for (const s of ['rr', 'wrr', 'mh']) {
        const known = existsSync(`/sys/module/ip_vs_${s}`) || spawnSync('modinfo', [`ip_vs_${s}`]).status === 0;
        assert.equal(find(findings, 'ipvs-scheduler', s).status === 'ok', known, s);
      }
      assert.equal(find(findings, 'tools', 'ipset').status, 'ok');
      assert.equal(status, findings.some((f) => f.status === 'missing') ? 1 : 0);
    } finally {
      holder.kill();
    }
  }));

  it('without CAP_NET_ADMIN says so, with the command that grants it', { skip: spawnSync('setpriv', ['--version']).status === 0 ? undefined : 'setpriv is not installed' }, () =>
    withNetns(1, async (ns) => {
      const { status, findings } = doctor(ns.path, {}, ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin', '--']);
      const f = find(findings, 'capabilities', 'CAP_NET_ADMIN');
      assert.equal(f.status, 'missing');
      assert.match(f.fix ?? '', /setcap cap_net_admin/);
      assert.equal(status, 1);
    }));
});
