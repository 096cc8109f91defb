// Names and rules both modes share, as kube-proxy writes them (pkg/proxy/iptables/proxier.go,
// pkg/proxy/ipvs/proxier.go), so that a node's tables read the way people know them.
import { createHash } from 'node:crypto';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const MASQ_MARK = '0x4000';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(buf: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of buf) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** kube-proxy's portProtoHash: the first 16 base32 characters of SHA-256 (chain names hold 28). */
export const hash16 = (s: string): string => base32(createHash('sha256').update(s).digest()).slice(0, 16);

export const serviceChain = (name: string, protocol: string): string => `KUBE-SVC-${hash16(name + protocol)}`;
export const endpointChain = (name: string, protocol: string, endpoint: string): string =>
  `KUBE-SEP-${hash16(name + protocol + endpoint)}`;
/** A NodePort service's chain (kube-proxy's externalTrafficChain: the SVC chain's hash). */
export const externalChain = (name: string, protocol: string): string => `KUBE-EXT-${hash16(name + protocol)}`;

/** address:port, the IPv6 address in brackets (as DNAT targets and kube-proxy's endpoint strings write it). */
export const hostPort = (address: string, port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/** A --comment argument quoted as iptables-save quotes it (xtables_save_string), so saved rules compare. */
export const comment = (text: string): string => (/^[\w-]+$/.test(text) ? text : `"${text.replace(/(["\\'])/g, '\\$1')}"`);

/** The jumps from the built-in chains into ours; kube-proxy inserts them first in their chains. */
export const JUMPS = [
  { chain: 'PREROUTING', rule: `-m comment --comment ${comment('kubernetes service portals')} -j ${KUBE_SERVICES}` },
  { chain: 'OUTPUT', rule: `-m comment --comment ${comment('kubernetes service portals')} -j ${KUBE_SERVICES}` },
  { chain: 'POSTROUTING', rule: `-m comment --comment ${comment('kubernetes postrouting rules')} -j ${KUBE_POSTROUTING}` },
] as const;

/**
 * Masquerade what KUBE-MARK-MASQ marked, once, on the way out. kube-proxy writes `--xor-mark`
 * and `--or-mark`; these are the same targets as iptables-save prints them.
 */
export const MASQ_RULES = [
  `-A ${KUBE_POSTROUTING} -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
  // Clear the mark: a packet that goes round again (IPVS, hairpin) is not masqueraded twice.
  `-A ${KUBE_POSTROUTING} -j MARK --set-xmark ${MASQ_MARK}/0x0`,
  `-A ${KUBE_POSTROUTING} -m comment --comment ${comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE`,
  `-A ${KUBE_MARK_MASQ} -j MARK --set-xmark ${MASQ_MARK}/${MASQ_MARK}`,
];

/** What an `iptables-save -t nat` text holds that matters to us: chain names and rules. */
export interface NatState {
  chains: Set<string>;
  rules: Set<string>;
}

export function readNat(saveText: string): NatState {
  const chains = new Set<string>();
  const rules = new Set<string>();
  let inNat = false;
  for (const line of saveText.split('\n')) {
    if (line.startsWith('*')) inNat = line === '*nat';
    else if (!inNat) continue;
    else if (line.startsWith(':')) chains.add(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) rules.add(line);
  }
  return { chains, rules };
}

/** `-I` lines for the jumps a table does not have yet (iptables-save prints them with -A). */
export const missingJumps = (current: NatState): string[] =>
  JUMPS.filter((j) => !current.rules.has(`-A ${j.chain} ${j.rule}`)).map((j) => `-I ${j.chain} ${j.rule}`);
