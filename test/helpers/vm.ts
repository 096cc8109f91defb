// The VM tier: kernel tests that need what the host kernel lacks (IPVS, some ipset types) run
// inside Debian's stock kernel under qemu (scripts/vm/). These say whether that is needed,
// whether we are already inside it, and why it cannot run here.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { release } from 'node:os';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

let ipvs: boolean | undefined;

/**
 * Whether the host kernel has IPVS. Tries `modprobe ip_vs` only where there are loadable
 * modules to try (a normal distribution kernel); never changes the host otherwise.
 */
export function hostHasIpvs(): boolean {
  if (ipvs === undefined) {
    ipvs = existsSync('/proc/net/ip_vs');
    if (!ipvs && existsSync(`/lib/modules/${release()}`) && has('modprobe')) {
      ipvs = spawnSync('modprobe', ['-q', 'ip_vs'], { stdio: 'ignore' }).status === 0 && existsSync('/proc/net/ip_vs');
    }
  }
  return ipvs;
}

/** Whether this process runs inside the test VM (scripts/vm/run.sh sets NLKIT_IN_VM=1). */
export const inVm = (): boolean => process.env.NLKIT_IN_VM === '1';

/** Why the VM tier cannot run on this machine, or undefined when it can. */
export function vmSkipReason(): string | undefined {
  if (process.env.NLKIT_VM_SKIP === '1') return 'NLKIT_VM_SKIP=1';
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the VM tier boots an amd64 kernel and shares the host's binaries: needs linux x64, not ${process.platform} ${process.arch}`;
  if (process.getuid?.() !== 0) return 'the VM tier needs root (it installs packages and shares the whole host / with the guest)';
  // prepare.sh fetches the kernel as a Debian package, and installs qemu when it is missing.
  if (!has('apt-get') || !has('dpkg')) return 'the VM tier needs a Debian-based host (apt-get, dpkg) to fetch the kernel';
  for (const dev of ['/dev/null', '/dev/urandom']) if (!existsSync(dev)) return `qemu needs ${dev}, which is missing`;
  if (!has('qemu-system-x86_64') && !existsSync('/var/lib/apt/lists')) return 'qemu-system-x86_64 is not installed and apt has no package lists to install it';
  return undefined;
}

/** Per-file counts written by test/helpers/file-tally-reporter.mjs. */
export type FileTally = Record<string, { pass: number; fail: number; skip: number }>;

/** Reads the `nlkit-tally {json}` line the tally reporter wrote into a test run's output. */
export function parseTally(output: string): FileTally | undefined {
  const m = /^nlkit-tally (\{.*\})$/m.exec(output);
  return m ? (JSON.parse(m[1]!) as FileTally) : undefined;
}

/**
 * What the VM tier failed to cover: each file matching `mustRun` (the IPVS files, the reason the
 * VM exists) that is missing from the tally, skipped any test, or passed none. Empty when all ran.
 * @example vmCoverageProblems(parseTally(out)!, files.filter((f) => /ipvs/.test(f))) // [] when all ran
 */
export function vmCoverageProblems(tally: FileTally, mustRun: string[]): string[] {
  const problems: string[] = [];
  for (const file of mustRun) {
    const entry = Object.entries(tally).find(([f]) => f === file || f.endsWith(`/${file}`));
    if (!entry) problems.push(`${file}: not in the guest's report`);
    else if (entry[1].skip > 0) problems.push(`${file}: ${entry[1].skip} skipped inside the VM`);
    else if (entry[1].pass === 0) problems.push(`${file}: no test passed inside the VM`);
  }
  return problems;
}
