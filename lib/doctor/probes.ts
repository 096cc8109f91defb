// Read-only facts about the host for `nlkit doctor`: capabilities, kernel modules, the
// xtables lock's holder, system tools. Parsers are pure; the readers around them are small.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Effective capabilities of a `/proc/PID/status` text, as a bit mask. */
export function parseCapEff(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export interface FileLock {
  pid: number;
  /** major:minor of the device, in hex as /proc/locks prints it. */
  device: string;
  inode: number;
}

/**
 * The locks of a /proc/locks text (`1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF`); lines
 * that wait for a lock (`->`) are left out.
 * @example parseLocks('1: FLOCK  ADVISORY  WRITE 42 00:1a:99 0 EOF\n') // [{ pid: 42, device: '00:1a', inode: 99 }]
 */
export function parseLocks(text: string): FileLock[] {
  const locks: FileLock[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+\S+\s+\S+\s+\S+\s+(\d+)\s+([0-9a-f]+:[0-9a-f]+):(\d+)\s/.exec(line);
    if (m) locks.push({ pid: Number(m[1]), device: m[2]!, inode: Number(m[3]) });
  }
  return locks;
}

/** The pid holding a lock on `file` (by its inode), or undefined. */
export function lockHolder(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const ino = statSync(file).ino;
  return parseLocks(readFileSync('/proc/locks', 'utf8')).find((l) => l.inode === ino)?.pid;
}

export type ModuleState = 'loaded' | 'available' | 'absent' | 'unknown';

/**
 * A kernel module: loaded (/sys/module), available (modinfo finds it, as a file or built in),
 * absent (this kernel has module information and no such module), unknown (it has none).
 */
export function moduleState(name: string): ModuleState {
  if (existsSync(`/sys/module/${name}`)) return 'loaded';
  const r = spawnSync('modinfo', ['-n', name], { encoding: 'utf8' });
  if (r.status === 0) return 'available';
  const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  return existsSync(`/lib/modules/${release}/modules.dep`) ? 'absent' : 'unknown';
}

/** Where a command is found on PATH or in the sbin directories, or undefined. */
export function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return dirs.map((d) => join(d, cmd)).find((p) => d0(p));
}
const d0 = (p: string) => { try { return statSync(p).isFile(); } catch { return false; } };
