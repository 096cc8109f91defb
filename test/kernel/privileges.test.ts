// Privileges: without CAP_NET_ADMIN every kernel write (and every read the kernel guards) is a
// PermissionError, as the system tools fail under the same capabilities; the xtables lock file
// is created like iptables creates it; and nlkit writes to no file but the lock file.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { iptables } from '../../lib/index.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { hostHasIpvs } from '../helpers/vm.js';
import { lastJson, runTs } from '../helpers/child.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const skip = kernelSkipReason('ipset') ?? kernelSkipReason('iptables-legacy');
const noCapsChild = fileURLToPath(new URL('../helpers/no-caps-child.ts', import.meta.url));
const auditChild = fileURLToPath(new URL('../helpers/write-audit-child.ts', import.meta.url));
const DROP = ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin', '--'];
const tmp = (what: string) => `/tmp/nlkit-priv-${process.pid}-${what}`;

/** A system tool run in the namespace without CAP_NET_ADMIN: its exit status. */
const toolWithoutCaps = (ns: Netns, cmd: string[]) =>
  spawnSync(DROP[0]!, [...DROP.slice(1), 'ip', 'netns', 'exec', ns.name, ...cmd], { stdio: 'ignore' }).status;

describe('privileges', { skip }, () => {
  after(() => {
    for (const w of ['tool.lock', 'nlkit.lock', 'mode.lock', 'audit.lock', 'strace']) rmSync(tmp(w), { force: true });
  });

  it('without CAP_NET_ADMIN every operation the kernel guards is a PermissionError', { skip: has('setpriv') ? undefined : 'setpriv (util-linux) is not installed' }, async (t) => {
    await withNetns(1, async (ns) => {
      ns.run('ipset', ['create', 'a', 'hash:ip']);
      ns.run('ipset', ['add', 'a', '10.0.0.1']);
      ns.run('ipset', ['create', 'b', 'hash:ip']);
      ns.run('iptables-legacy', ['-N', 'X']);
      const before = ns.run('iptables-legacy-save', []).replace(/^#.*\n/gm, '') + ns.run('ipset', ['save']) + ns.run('ip', ['addr']);
      const r = await runTs(noCapsChild, [ns.path], { argv0: DROP, env: { XTABLES_LOCKFILE: tmp('nlkit.lock') }, timeoutMs: 120_000 });
      assert.equal(r.signal, null, r.stderr);
      assert.equal(r.status, 0, r.stderr);
      const got = lastJson<Record<string, string>>(r.stdout)!;
      assert.equal(got.capNetAdmin, '0', 'the child still had CAP_NET_ADMIN');
      delete got.capNetAdmin;
      // Each ipset error names its own operation (the first failed probe was once kept on the
      // handle and given to every later call, named after the first).
      const errorOps = JSON.parse(got.errorOps ?? '{}') as Record<string, string>;
      delete got.errorOps;
      for (const [name, op] of Object.entries(errorOps)) if (name.startsWith('ipset.')) assert.equal(op, name, `${name} failed as ${op}`);
      // The kernel lets anyone read links and addresses (as `ip link` shows); ipset and
      // iptables refuse even reads, as `ipset list` and iptables-legacy-save do.
      assert.equal(toolWithoutCaps(ns, ['ip', 'link', 'show']), 0);
      assert.notEqual(toolWithoutCaps(ns, ['ipset', 'list']), 0);
      assert.notEqual(toolWithoutCaps(ns, ['iptables-legacy-save']), 0);
      const readable = new Set(['link.get', 'link.list', 'link.listAddresses']);
      const ipvsHere = hostHasIpvs();
      for (const [op, outcome] of Object.entries(got)) {
        if (readable.has(op)) assert.equal(outcome, 'ok', op);
        else if (op.startsWith('ipvs.') && !ipvsHere) assert.equal(outcome, 'UnsupportedError', op);
        else assert.equal(outcome, 'PermissionError', op);
      }
      if (!ipvsHere) t.diagnostic('this kernel has no IPVS: the ipvs operations give UnsupportedError here; the VM tier checks PermissionError');
      // And nothing changed.
      const now = ns.run('iptables-legacy-save', []).replace(/^#.*\n/gm, '') + ns.run('ipset', ['save']) + ns.run('ip', ['addr']);
      assert.equal(now, before);
    });
  });

  it('the lock file is created with the mode iptables gives it', async () => {
    await withNetns(1, async (ns) => {
      const toolLock = tmp('tool.lock');
      rmSync(toolLock, { force: true });
      const r = spawnSync('ip', ['netns', 'exec', ns.name, 'iptables-legacy', '-w', '5', '-N', 'LOCKED'], { env: { ...process.env, XTABLES_LOCKFILE: toolLock }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const ours = tmp('mode.lock');
      rmSync(ours, { force: true });
      const saved = process.env.XTABLES_LOCKFILE;
      process.env.XTABLES_LOCKFILE = ours;
      const h = iptables.open({ netns: ns.path, backend: 'legacy' });
      try {
        await h.restore('*filter\n:MINE - [0:0]\nCOMMIT\n', { noflush: true, wait: 5_000 });
      } finally {
        await h.close();
        if (saved === undefined) delete process.env.XTABLES_LOCKFILE;
        else process.env.XTABLES_LOCKFILE = saved;
      }
      const a = statSync(toolLock);
      const b = statSync(ours);
      assert.ok(a.isFile() && b.isFile());
      assert.equal((b.mode & 0o7777).toString(8), (a.mode & 0o7777).toString(8));
      // iptables' xshared.c: open(XT_LOCK_NAME, O_CREAT, 0600): nobody else may even read it.
      assert.equal(b.mode & 0o077, 0);
      assert.equal(b.uid, a.uid);
    });
  });

  it('nlkit opens no file for writing but the lock file, and renames, unlinks or creates none', { skip: has('strace') ? undefined : 'strace is not installed (apt-get install strace)' }, async (t) => {
    await withNetns(1, async (ns) => {
      const lock = tmp('audit.lock');
      const trace = tmp('strace');
      const marker = `/nonexistent-nlkit-audit-${process.pid}`;
      const r = await runTs(auditChild, [ns.path, marker], {
        argv0: ['strace', '-f', '-qq', '-e', 'trace=open,openat,openat2,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,truncate,link,linkat,symlink,symlinkat', '-o', trace],
        // LeakSanitizer cannot run under a tracer (npm run test:asan).
        env: {
          XTABLES_LOCKFILE: lock,
          ...(process.env.NLKIT_ASAN === '1' ? {
            ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ''}:detect_leaks=0`, LSAN_OPTIONS: `${process.env.LSAN_OPTIONS ?? ''}:detect_leaks=0`,
          } : {}),
        },
        timeoutMs: 120_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const lines = readFileSync(trace, 'utf8').split('\n');
      const from = lines.findIndex((l) => l.includes(`${marker}-begin`));
      const to = lines.findIndex((l) => l.includes(`${marker}-end`));
      assert.ok(from >= 0 && to > from, 'the markers are not in the trace');
      const window = lines.slice(from + 1, to);
      const bad: string[] = [];
      let lockOpens = 0;
      for (const l of window) {
        const m = /\b(open|openat|openat2|creat|rename|renameat2?|unlink|unlinkat|mkdir|mkdirat|truncate|link|linkat|symlink|symlinkat)\((?:AT_FDCWD, |\d+, )?"([^"]*)"(?:, ([A-Z_|]+))?/.exec(l);
        if (!m) continue;
        const [, call, path, flags = ''] = m;
        if (call!.startsWith('open')) {
          if (!/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(flags)) continue;
          if (path === lock) {
            lockOpens++;
            continue;
          }
        }
        bad.push(l);
      }
      t.diagnostic(`${window.length} traced calls between the markers, ${lockOpens} opens of the lock file`);
      assert.ok(lockOpens > 0, 'the trace shows no open of the lock file: it did not capture nlkit');
      assert.deepEqual(bad, []);
    });
  });
});
