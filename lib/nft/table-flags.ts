// Table flags (NFTA_TABLE_FLAGS): dormant (the table's base chains are unregistered), owner (the
// table belongs to the netlink socket that created it: the kernel refuses changes from any other
// socket and removes the table when that socket closes) and persist (kernel 6.9+; with owner: the
// table stays when the owner's socket closes, and is then no one's; the kernel takes it alone too).
// The kernel refuses (EOPNOTSUPP) adding or dropping owner or persist on an existing table. In nlkit the owner is the
// handle: its worker thread keeps one netfilter socket from its first kernel call to close(), so
// a table created with `flags owner` through a handle lives until that handle is closed (or the
// process exits), and only that handle may change or delete it; as with nft, whose tables go
// away when nft exits. firewalld probes `add table inet firewalld { flags owner, persist; }`.
// nft 1.0.6 reads and prints dormant and owner, one flag per `flags` line (`flags owner,persist`
// is nft 1.0.9's grammar, which nlkit reads too); its JSON output of table flags is broken
// (json.c table_flags_json frees the array it returns: truncated output, or "o"): list() prints
// them as later nft does, one flag as a string, several as an array.
import { readFileSync } from 'node:fs';
import { invalid } from './errors.js';

/** NFT_TABLE_F_* by nft's name, in bit order. */
export const TABLE_FLAGS: Record<string, number | undefined> = { dormant: 1, owner: 2, persist: 4 };
const NAMES = ['dormant', 'owner', 'persist'];

/**
 * The NFTA_TABLE_FLAGS value of a table's JSON `flags` (a name or a list of names).
 * @example tableFlags(['owner', 'persist'], 'commands[0].add.table.flags') // 6
 */
export function tableFlags(v: unknown, where: string): number {
  if (v === undefined) return 0;
  const list = Array.isArray(v) ? v : [v];
  let n = 0;
  list.forEach((x, i) => {
    const f = typeof x === 'string' ? TABLE_FLAGS[x] : undefined;
    if (f === undefined) throw invalid(Array.isArray(v) ? `${where}[${i}]` : where, `unknown table flag ${JSON.stringify(x)} (dormant, owner, persist)`);
    n |= f;
  });
  return n;
}

/**
 * A table's flags as JSON: undefined for none, a name for one, a list for several; undefined
 * bits give null (the caller refuses the table).
 * @example tableFlagsJson(2) // 'owner'
 */
export function tableFlagsJson(n: number): string | string[] | undefined | null {
  if (n === 0) return undefined;
  if (n & ~7) return null;
  const names = NAMES.filter((_, i) => n & (1 << i));
  return names.length === 1 ? names[0]! : names;
}

/** The `flags` line nft prints in a table block. @example tableFlagsText(['owner', 'persist']) // 'owner,persist' */
export const tableFlagsText = (f: unknown): string => (Array.isArray(f) ? f : [f]).map(String).join(',');

/**
 * What nft prints after `# progname` for a table owned by netlink port `portid`: the base name of
 * /proc/PORTID/cmdline's first word (a socket's port is its process id when it was the process's
 * first netlink socket), else "unknown" (rule.c get_progname).
 * @example ownerProgname(process.pid) // 'node'
 */
export function ownerProgname(portid: number): string {
  try {
    const cmd = readFileSync(`/proc/${portid}/cmdline`, 'latin1');
    const first = cmd.split('\0')[0] ?? '';
    const base = first.slice(first.lastIndexOf('/') + 1);
    return base || 'unknown';
  } catch {
    return 'unknown';
  }
}
