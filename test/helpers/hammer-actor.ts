// One actor of the hammer test (test/kernel/faults-hammer.test.ts), run on the main thread
// or in a worker_thread: with its own ipset and iptables handles on the shared namespace it
// adds, deletes, tests and restores, checks every result against its own model, and returns
// the model for the final comparison with `ipset save` and iptables-legacy-save.
import { ipset, iptables } from '../../lib/index.js';
import { NlkitError } from '../../lib/core/errors.js';

export interface ActorResult {
  id: number;
  /** Members of set h<id> at the end, as ipset saves them. */
  members: string[];
  /** Comments of the rules in chain C<id>, in order. */
  rules: string[];
  /** Its elements of the set every actor adds to. */
  shared: string[];
  ops: number;
  /** Wrong results: each names the operation, what was expected and what came. */
  wrong: string[];
}

const ip = (id: number, i: number) => `10.${id}.${(i >> 8) & 255}.${i & 255}`;

export async function actor(id: number, netns: string, rounds: number, seed: number): Promise<ActorResult> {
  // mulberry32: a small deterministic generator, so that a failing run replays.
  let s = (seed * 1000 + id) >>> 0;
  const rand = (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
  const res: ActorResult = { id, members: [], rules: [], shared: [], ops: 0, wrong: [] };
  const sets = ipset.open({ netns });
  const tables = iptables.open({ netns, backend: 'legacy' });
  const set = `h${id}`;
  const chain = `C${id}`;
  const members = new Set<string>();
  let rules: string[] = [];
  let next = 0;
  try {
    await sets.create(set, 'hash:ip');
    await tables.restore(`*filter\n:${chain} - [0:0]\nCOMMIT\n`, { noflush: true, wait: true });
    res.ops += 2;
    for (let r = 0; r < rounds; r++) {
      const pending: Promise<void>[] = [];
      // A batch of adds, then tests of added and absent members, all queued at once.
      const batch = Array.from({ length: 1 + rand(50) }, () => ip(id, rand(4096)));
      const fresh = batch.filter((e) => !members.has(e));
      pending.push(sets.add(set, batch, { exist: true }));
      for (const e of batch) members.add(e);
      for (let k = 0; k < 5; k++) {
        const e = ip(id, rand(4096));
        const want = members.has(e);
        pending.push(sets.test(set, e).then((got) => {
          if (got !== want) res.wrong.push(`test ${set} ${e}: want ${want}, got ${got}`);
        }));
      }
      // Deleting an absent member must fail with ENOENT, and nothing else.
      const absent = ip(id, 5000 + rand(1000));
      pending.push(sets.del(set, absent).then(
        () => { res.wrong.push(`del ${set} ${absent}: succeeded on an absent member`); },
        (e: unknown) => { if (!(e instanceof NlkitError) || e.code !== 'ENOENT') res.wrong.push(`del ${set} ${absent}: ${String(e)}`); },
      ));
      if (fresh.length && rand(3) === 0) {
        const gone = fresh[rand(fresh.length)]!;
        pending.push(sets.del(set, gone));
        members.delete(gone);
      }
      if (rand(4) === 0) {
        // ipset restore text as well, on the same handle, between the other calls.
        const more = Array.from({ length: 1 + rand(5) }, () => ip(id, rand(4096)));
        pending.push(sets.restore(more.map((e) => `add ${set} ${e}`).join('\n') + '\n', { exist: true }));
        for (const e of more) members.add(e);
      }
      const el = `10.200.${id}.${r % 256}`;
      if (r < 256) {
        pending.push(sets.add('shared', el));
        res.shared.push(el);
      }
      // iptables: append rules, or flush the chain and start again, without flushing the table.
      const flush = rand(10) === 0;
      const added = Array.from({ length: 1 + rand(5) }, () => `a${id}.${next++}`);
      const text = `*filter\n${flush ? `:${chain} - [0:0]\n` : ''}${added.map((c) => `-A ${chain} -m comment --comment ${c} -j RETURN`).join('\n')}\nCOMMIT\n`;
      rules = flush ? added : [...rules, ...added];
      pending.push(tables.restore(text, { noflush: true, wait: true, waitInterval: 5 }).then((x) => {
        if (x.committed.join() !== 'filter') res.wrong.push(`restore: committed ${x.committed.join()}`);
      }));
      const outcomes = await Promise.allSettled(pending);
      res.ops += pending.length;
      for (const o of outcomes) if (o.status === 'rejected') res.wrong.push(`round ${r}: ${String(o.reason)}`);
      if (r % 10 === 9) {
        // What the kernel holds now equals the model.
        const saved = (await sets.save(set)).split('\n').filter((l) => l.startsWith('add ')).map((l) => l.split(' ')[2]!).sort();
        const want = [...members].sort();
        if (saved.join() !== want.join()) res.wrong.push(`save ${set} after round ${r}: ${saved.length} members, want ${want.length}`);
        res.ops++;
      }
    }
  } finally {
    await sets.close();
    await tables.close();
  }
  res.members = [...members].sort();
  res.rules = rules;
  return res;
}
