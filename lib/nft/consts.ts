// nf_tables numbers from <linux/netfilter/nf_tables.h> and nfnetlink, the ones nlkit's nft
// subsystem sends or reads. Names follow the kernel header without the common prefix.

export {
  NFNL_SUBSYS_NFTABLES, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNETLINK_V0, NFNL_BATCH_GENID,
  NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_APPEND, NLM_F_DUMP,
} from '../netlink/headers.js';

/** NFT_MSG_* */
export const MSG = {
  NEWTABLE: 0, GETTABLE: 1, DELTABLE: 2, NEWCHAIN: 3, GETCHAIN: 4, DELCHAIN: 5,
  NEWRULE: 6, GETRULE: 7, DELRULE: 8, NEWSET: 9, GETSET: 10, DELSET: 11,
  NEWSETELEM: 12, GETSETELEM: 13, DELSETELEM: 14, NEWGEN: 15, GETGEN: 16,
} as const;

/** NFPROTO_* by nft family name. */
export const FAMILY = { ip: 2, ip6: 10, inet: 1, arp: 3, bridge: 7, netdev: 5 } as const;
export const familyName = (n: number): string =>
  Object.entries(FAMILY).find(([, v]) => v === n)?.[0] ?? String(n);

export const TABLE = { NAME: 1, FLAGS: 2, USE: 3, HANDLE: 4, USERDATA: 6 } as const;
export const CHAIN = { TABLE: 1, HANDLE: 2, NAME: 3, HOOK: 4, POLICY: 5, USE: 6, TYPE: 7, COUNTERS: 8, FLAGS: 10, USERDATA: 12 } as const;
export const HOOK = { HOOKNUM: 1, PRIORITY: 2, DEV: 3, DEVS: 4 } as const;
/** NFTA_DEVICE_NAME: one device inside NFTA_HOOK_DEVS. */
export const DEVICE_NAME = 1;
export const RULE = { TABLE: 1, CHAIN: 2, HANDLE: 3, EXPRESSIONS: 4, POSITION: 6, USERDATA: 7 } as const;
export const LIST_ELEM = 1;
export const EXPR = { NAME: 1, DATA: 2 } as const;
export const SET = {
  TABLE: 1, NAME: 2, FLAGS: 3, KEY_TYPE: 4, KEY_LEN: 5, DATA_TYPE: 6, DATA_LEN: 7, POLICY: 8,
  DESC: 9, ID: 10, TIMEOUT: 11, GC_INTERVAL: 12, USERDATA: 13, HANDLE: 16, EXPR: 17, EXPRESSIONS: 18,
} as const;
export const SET_DESC_SIZE = 1;
/** NFTA_SET_DESC_CONCAT (in NFTA_SET_DESC) and NFTA_SET_FIELD_LEN (in each of its NFTA_LIST_ELEMs). */
export const SET_DESC_CONCAT = 2, SET_FIELD_LEN = 1;
export const SET_FLAGS = { ANONYMOUS: 0x1, CONSTANT: 0x2, INTERVAL: 0x4, MAP: 0x8, TIMEOUT: 0x10, EVAL: 0x20, OBJECT: 0x40, CONCAT: 0x80 } as const;
export const ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 } as const;
export const ELEM = { KEY: 1, DATA: 2, FLAGS: 3, TIMEOUT: 4, EXPIRATION: 5, USERDATA: 6, EXPR: 7, KEY_END: 10, EXPRESSIONS: 11 } as const;
export const DATA = { VALUE: 1, VERDICT: 2 } as const;
export const VERDICT_ATTR = { CODE: 1, CHAIN: 2 } as const;
export const GEN = { ID: 1 } as const;

/** Verdict codes (NF_DROP, NF_ACCEPT and enum nft_verdicts), as the kernel's u32. */
export const VERDICT = { drop: 0, accept: 1, continue: 0xffffffff, break: 0xfffffffe, jump: 0xfffffffd, goto: 0xfffffffc, return: 0xfffffffb } as const;
/** NFT_DATA_VERDICT: a set's data type when it maps to verdicts. */
export const DATA_TYPE_VERDICT = 0xffffff00;


export const NFT_REG_VERDICT = 0;
export const NFT_REG_1 = 1;
export const NFT_REG32_00 = 8;
/**
 * nft's register number for a value at `word` 32-bit words into the register file.
 * @example regAt(0) // NFT_REG_1; regAt(1) // NFT_REG32_00 + 1
 */
export const regAt = (word: number): number => (word % 4 === 0 ? NFT_REG_1 + word / 4 : NFT_REG32_00 + word);

/**
 * The options a set element's `{ elem: … }` object may carry (libnftables-json(5)): what the
 * encoder accepts and the printer prints.
 * @example ELEMENT_OPTION_KEYS.has('timeout') // true
 */
export const ELEMENT_OPTION_KEYS: ReadonlySet<string> = new Set(['val', 'comment', 'timeout', 'expires', 'counter']);
