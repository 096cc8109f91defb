// Shared by the nft kernel tests: a handle in a test namespace, and nft's JSON listing there.
import * as nft from '../../lib/nft/index.js';
import type { NftHandle } from '../../lib/nft/index.js';
import type { Netns } from './netns.js';

/** Runs fn with an nft handle in ns, closed afterwards. */
export async function withNft<T>(ns: Netns, fn: (h: NftHandle) => Promise<T>): Promise<T> {
  const h = nft.open({ netns: ns.name });
  try {
    return await fn(h);
  } finally {
    await h.close();
  }
}

/** The objects `nft -j list ruleset` prints in ns, without metainfo. */
export const nftJson = (ns: Netns): object[] => (JSON.parse(ns.run('nft', ['-j', 'list', 'ruleset'])).nftables as object[]).filter((o) => !('metainfo' in o));
