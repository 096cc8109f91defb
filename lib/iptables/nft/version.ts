// Which iptables-nft the host has decides how some rules are encoded: iptables 1.8.8 (May 2022)
// made iptables-nft emit native expressions for what it had sent as nft_compat blobs before —
// tcp/udp ports and tcp flags (payload + cmp/range/bitwise), the mark match (meta mark) and the
// NFLOG target (log) — and, unlike 1.8.7 and older, reads them back. A table nlkit writes on a
// 1.8.7 host must use the compat form there, or the host's iptables-nft-save cannot print it.
// Supported: 1.8.7 (compat form), 1.8.8 and 1.8.9 (native form, byte-checked against 1.8.9).
// Older than 1.8.7 is written as 1.8.7; newer than 1.8.9 as 1.8.9.
import { execFile } from 'node:child_process';

/** How rules are encoded: `native` for iptables-nft 1.8.8 and later. */
export interface NftEncoding {
  /** tcp/udp/mark matches and the NFLOG target as native expressions (1.8.8+), else nft_compat. */
  native: boolean;
  /** The version it was chosen for, e.g. '1.8.9' ('' when unknown: the newest form). */
  version: string;
}

/** iptables-nft 1.8.9's encoding: what nlkit writes when the host's version is not known. */
export const NATIVE_ENCODING: NftEncoding = { native: true, version: '' };

/**
 * The version in `iptables --version` output ('iptables v1.8.7 (nf_tables)'), or undefined.
 * @example parseIptablesVersion('iptables v1.8.7 (nf_tables)\n'); // [1, 8, 7]
 */
export function parseIptablesVersion(text: string): [number, number, number] | undefined {
  const m = /v(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/**
 * The encoding for an iptables version (undefined: the newest form).
 * @example encodingOf([1, 8, 7]).native; // false
 */
export function encodingOf(v: [number, number, number] | undefined): NftEncoding {
  if (!v) return NATIVE_ENCODING;
  const [a, b, c] = v;
  const native = a > 1 || (a === 1 && (b > 8 || (b === 8 && c >= 8)));
  return { native, version: v.join('.') };
}

const hostEncodings = new Map<string, Promise<NftEncoding>>();

/**
 * The encoding of the host's iptables-nft (`iptables-nft --version`, asked once per process;
 * the newest form when the tool is missing or says nothing).
 * @example const enc = await hostEncoding();
 */
export function hostEncoding(cmd = 'iptables-nft'): Promise<NftEncoding> {
  let p = hostEncodings.get(cmd);
  if (!p) {
    p = new Promise((res) => execFile(cmd, ['--version'], { timeout: 5000 }, (err, out) => res(err ? NATIVE_ENCODING : encodingOf(parseIptablesVersion(out)))));
    hostEncodings.set(cmd, p);
  }
  return p;
}
