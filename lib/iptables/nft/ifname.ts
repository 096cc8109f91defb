// An interface name as iptables-nft writes it (meta iifname/oifname compared with a name that ends
// in NUL, or without it for a prefix) back into an entry's name and mask: both decoders write it.

/** IFNAMSIZ: an entry's interface name and mask fields. */
export const IFNAMSIZ = 16;

/**
 * nft-shared.c parse_ifname: `len` bytes of `src` from `at` into the entry's name at `nameAt` and
 * its mask at `maskAt`, as xtables_parse_interface makes them (`eth0` exact, `eth+` a prefix).
 * The caller has checked `0 < len <= IFNAMSIZ`.
 * @example writeIfname(Buffer.from('eth\0'), 0, 4, entry, L.iniface, L.inmask);
 */
export function writeIfname(src: Uint8Array, at: number, len: number, out: Uint8Array, nameAt: number, maskAt: number): void {
  for (let i = 0; i < len; i++) out[nameAt + i] = src[at + i]!;
  if (src[at + len - 1] === 0) {
    let z = 0;
    while (src[at + z] !== 0) z++;
    out.fill(0xff, maskAt, maskAt + z + 1);
  } else if (len < IFNAMSIZ) {
    out[nameAt + len] = 0x2b;  // '+'
    if (len + 1 < IFNAMSIZ) {
      out[nameAt + len + 1] = 0;
      out.fill(0xff, maskAt, maskAt + len);
    }
  }
}
