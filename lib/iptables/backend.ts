// Which iptables backend a namespace uses. nlkit writes legacy xtables; on a host whose
// `iptables` is iptables-nft and whose rules live in nf_tables, rules written through the
// legacy interface would be invisible to the host's own tools. The decision follows
// kubernetes-sigs/iptables-wrappers: legacy rules present -> legacy; else nf_tables rules
// present -> nft; else whatever the host's `iptables` command is.
import { execFile } from 'node:child_process';
import { readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import type { Family } from './types.js';

export type BackendVariant = 'legacy' | 'nft';

export interface BackendInfo {
  /** What `iptables` (`ip6tables` for family 6) on PATH is: its symlink chain, or its `--version`. */
  tool: BackendVariant | 'unknown';
  /** Where that command resolves to (undefined when there is none). */
  toolPath?: string;
  /** Legacy xtables tables of the namespace and family, and how many rules they hold. */
  legacy: { tables: string[]; rules: number };
  /** nf_tables tables of family ip (ip6) that iptables-nft shows, and their rules. */
  nft: { tables: string[]; rules: number };
  /** Which of the two hold rules. */
  inUse: 'legacy' | 'nft' | 'both' | 'none';
  /** The backend the namespace's rules belong to: the one nlkit's rules should go to. */
  hostBackend: BackendVariant;
}

export interface BackendOptions {
  netns?: string;
  family?: Family;
}

/** The tables iptables-nft knows (nft_tables of iptables/nft.c); others are not its. */
export const XTABLES_TABLES = ['filter', 'nat', 'mangle', 'raw', 'security'];

const SEARCH = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function variantOfName(name: string): BackendVariant | undefined {
  if (/nft|nf_tables/.test(name)) return 'nft';
  if (/legacy/.test(name)) return 'legacy';
  return undefined;
}

/** The first executable `cmd` on PATH (and the sbin directories, which a non-root PATH may lack). */
export function findCommand(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...SEARCH]) {
    const p = join(dir, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Walks the symlink chain (alternatives: iptables -> /etc/alternatives/iptables -> iptables-nft -> xtables-nft-multi). */
export function variantOfPath(p: string): BackendVariant | undefined {
  let cur = p;
  for (let i = 0; i < 16; i++) {
    const v = variantOfName(basename(cur));
    if (v) return v;
    let next: string;
    try {
      next = readlinkSync(cur);
    } catch {
      return undefined;
    }
    cur = resolve(dirname(cur), next);
  }
  return undefined;
}

/** `iptables v1.8.9 (nf_tables)` / `(legacy)`; iptables before 1.8 prints neither and is legacy. */
export function variantOfVersion(out: string): BackendVariant | undefined {
  const m = /^ip6?tables v(\d+)\.(\d+)[^\s]*\s*(?:\((\w+)\))?/m.exec(out);
  if (!m) return undefined;
  if (m[3] === 'nf_tables') return 'nft';
  if (m[3] === 'legacy') return 'legacy';
  return Number(m[1]) === 1 && Number(m[2]) < 8 ? 'legacy' : undefined;
}

const toolCache = new Map<Family, Promise<{ tool: BackendInfo['tool']; toolPath?: string }>>();

/** What the host's `iptables`/`ip6tables` is; asked once per process and family. */
export function hostTool(family: Family): Promise<{ tool: BackendInfo['tool']; toolPath?: string }> {
  let p = toolCache.get(family);
  if (!p) {
    p = detectTool(family === 6 ? 'ip6tables' : 'iptables');
    toolCache.set(family, p);
  }
  return p;
}

async function detectTool(cmd: string): Promise<{ tool: BackendInfo['tool']; toolPath?: string }> {
  const found = findCommand(cmd);
  if (!found) return { tool: 'unknown' };
  let toolPath = found;
  try {
    toolPath = realpathSync(found);
  } catch {
    // a dangling link: the name chain may still say which it was
  }
  const byName = variantOfPath(found);
  if (byName) return { tool: byName, toolPath };
  const out = await new Promise<string>((res) => {
    execFile(found, ['--version'], { timeout: 5000 }, (err, stdout) => res(err ? '' : stdout));
  });
  return { tool: variantOfVersion(out) ?? 'unknown', toolPath };
}

/** The decision of iptables-wrappers, over what was found. */
export function decide(
  tool: BackendInfo['tool'], legacy: BackendInfo['legacy'], nft: BackendInfo['nft'],
): Pick<BackendInfo, 'inUse' | 'hostBackend'> {
  const l = legacy.rules > 0, n = nft.rules > 0;
  const inUse = l && n ? 'both' : l ? 'legacy' : n ? 'nft' : 'none';
  const hostBackend: BackendVariant = l ? 'legacy' : n ? 'nft' : tool === 'nft' ? 'nft' : 'legacy';
  return { inUse, hostBackend };
}
