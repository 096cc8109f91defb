// nft 1.0.6 merges a rule's payload matches on adjacent header bytes into one load and one
// comparison (src/rule.c payload_try_merge / payload_do_merge, payload.c payload_can_merge), and
// its listing splits such a load back into the header's fields (payload_expr_expand). nlkit
// plans the same merges before encoding and splits the same way when decoding, so that its
// bytecode and its listing are nft's.

/** A payload match that may be merged: where it loads and how it compares. */
export interface MergeCandidate {
  base: number;
  offset: number;
  len: number;
  op: string;
  /** The header's protocol key (ip protocol, ip6 nexthdr, ether type): a merge takes its place. */
  protocolKey: boolean;
}

/** What becomes of a statement: kept, absorbed into another's merged load, or holding one. */
export type MergeStep =
  | { kind: 'keep' }
  | { kind: 'absorbed' }
  | { kind: 'merged'; base: number; offset: number; len: number; op: string; members: number[] };

const REG_SIZE = 16, REG32_SIZE = 4, LL_BASE = 0;

function canMerge(a: { base: number; offset: number; len: number }, b: MergeCandidate): boolean {
  if (a.base !== b.base || a.offset + a.len !== b.offset) return false;
  const total = a.len + b.len;
  if (total > REG_SIZE) return false;
  // Loads of up to 4 bytes past the link layer take the kernel's fast path: merged only if they stay that small.
  if (total <= REG32_SIZE) return true;
  if (a.base === LL_BASE) return true;
  return a.len > REG32_SIZE || b.len > REG32_SIZE;
}

/**
 * nft's merge plan for a rule's statements. `candidate` gives a statement's payload match (or
 * undefined); `breaks` is true for statements that are not expressions (verdicts, counters, nat,
 * mangle), which end a run of candidates — when at least two were collected, as nft does.
 * @example mergePlan(stmts, candidateOf, (s) => !('match' in s)) // [{ kind: 'merged', ... }, { kind: 'absorbed' }, ...]
 */
export function mergePlan<S>(stmts: S[], candidate: (s: S) => MergeCandidate | undefined, breaks: (s: S) => boolean): MergeStep[] {
  const plan: MergeStep[] = stmts.map(() => ({ kind: 'keep' }));
  let run: Array<{ i: number; c: MergeCandidate }> = [];
  const merge = () => {
    const sorted = [...run].sort((x, y) => x.c.base - y.c.base || x.c.offset - y.c.offset);
    let cur = { holder: sorted[0]!.i, base: sorted[0]!.c.base, offset: sorted[0]!.c.offset, len: sorted[0]!.c.len, op: sorted[0]!.c.op, members: [sorted[0]!.i] };
    const close = () => {
      if (cur.members.length < 2) return;
      for (const m of cur.members) plan[m] = { kind: 'absorbed' };
      plan[cur.holder] = { kind: 'merged', base: cur.base, offset: cur.offset, len: cur.len, op: cur.op, members: cur.members };
    };
    for (const { i, c } of sorted.slice(1)) {
      if (!canMerge(cur, c) || cur.op !== c.op) {
        close();
        cur = { holder: i, base: c.base, offset: c.offset, len: c.len, op: c.op, members: [i] };
        continue;
      }
      cur.len += c.len;
      cur.members.push(i);
      if (c.protocolKey) cur.holder = i;
    }
    close();
  };
  stmts.forEach((s, i) => {
    if (breaks(s)) {
      if (run.length < 2) return;
      merge();
      run = [];
      return;
    }
    const c = candidate(s);
    if (c) run.push({ i, c });
  });
  if (run.length > 1) merge();
  return plan;
}

/**
 * Splits a load of `len` bytes at `offset` into whole fields of one header, as nft's listing
 * does; fields are [name, offset, len]. Undefined when the bytes are not a run of whole fields.
 * @example splitFields([['sport', 0, 2], ['dport', 2, 2]], 0, 4) // ['sport', 'dport']
 */
export function splitFields(fields: Array<[string, number, number]>, offset: number, len: number): string[] | undefined {
  const out: string[] = [];
  let at = offset;
  while (at < offset + len) {
    const f = fields.find(([, o, l]) => o === at && at + l <= offset + len);
    if (!f) return undefined;
    out.push(f[0]);
    at += f[2];
  }
  return out.length > 1 ? out : undefined;
}
