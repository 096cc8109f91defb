// lib/iptables/nft/decode.ts on real dumps: the netlink messages the kernel sent to
// `iptables-nft-save -c` / `ip6tables-nft-save -c` 1.8.9 (captured with strace, see
// test/fixtures/iptables/nft/capture.sh), decoded and printed by nlkit's printer, must give
// what that save printed; a rule the tool printed wrong (a set lookup it dropped) is refused.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UnsupportedError } from '../../lib/core/errors.js';
import { splitMessages, attrMap, type NlMsg } from '../../lib/nft/attrs.js';
import { MSG, RULE } from '../../lib/nft/consts.js';
import { binding } from '../../lib/core/native.js';
import { byteOrder, decodeTables, groupDump, udataComment, BUILTIN_TABLES } from '../../lib/iptables/nft/decode.js';
import { printTables } from '../../lib/iptables/nft/save.js';

const fx = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/iptables/nft/${name}`, import.meta.url)), 'utf8');
const dump = (name: string): NlMsg[] => fx(`${name}.dump.hex`).trim().split('\n').flatMap((l) => splitMessages(Buffer.from(l, 'hex')));

const worker = new (binding().Worker)();
after(() => worker.close());
const print = (family: 4 | 6, msgs: NlMsg[]) => printTables((fn) => fn(worker), 'iptables.save', family, true, decodeTables(msgs, family));

describe('iptables-nft decode on dumps captured from iptables-nft-save 1.8.9', () => {
  it('IPv4: every table of the legacy corpus, counters included, prints as the tool printed it', async () => {
    assert.match(fx('v4.stderr.txt'), /exit status 0/);
    assert.equal(await print(4, dump('v4')), fx('v4.save.txt'));
  });

  it('IPv6: the same', async () => {
    assert.equal(await print(6, dump('v6')), fx('v6.save.txt'));
  });

  it('tables come in the tool\'s order (mangle, security, raw, filter, nat) with every built-in hook valid', () => {
    const tables = decodeTables(dump('v4'), 4);
    assert.deepEqual(tables.map((t) => t.name), fx('v4.save.txt').split('\n').filter((l) => l.startsWith('*')).map((l) => l.slice(1)));
    for (const t of tables) {
      assert.equal(t.incompatible, false);
      if (t.incompatible) continue;
      const hooks = BUILTIN_TABLES.find((b) => b.name === t.name)!.chains.reduce((m, c) => m | (1 << c.hook), 0);
      assert.equal(t.raw.validHooks, hooks, t.name);
      // the blob ends with the ERROR entry: 112 bytes of ipt_entry + 64 of its target
      assert.equal(Buffer.from(t.raw.entries).toString('latin1', t.raw.entries.length - 64 + 2, t.raw.entries.length - 64 + 7), 'ERROR');
    }
  });

  it('a set lookup nft added by hand, which the tool printed as "-A INPUT -j ACCEPT", is refused naming its rule', async () => {
    assert.match(fx('handmade.save.txt'), /^\[0:0\] -A INPUT -j ACCEPT$/m);
    const msgs = dump('handmade');
    assert.throws(() => decodeTables(msgs, 4), (e: unknown) => e instanceof UnsupportedError
      && /ip table filter: chain INPUT rule handle \d+: a set lookup/.test(e.message));
    // Without that rule, nft's hand-written port range and interface name read as the tool read them.
    const lookup = groupDump(msgs, 4)[0]!.chains.find((c) => c.name === 'INPUT')!.rules.find((r) => r.exprs.some((e) => e.op === 'lookup'))!;
    const rest = msgs.filter((m) => (m.type & 0xff) !== MSG.NEWRULE || attrMap(m.body).get(RULE.HANDLE)?.readBigUInt64BE(0) !== lookup.handle);
    assert.equal(await print(4, rest), fx('handmade.save.txt').replace(/^\[0:0\] -A INPUT -j ACCEPT\n/m, ''));
  });

  it("reads a rule's user data comment as nftnl_udata_parse does", () => {
    assert.equal(udataComment(Buffer.from('\x00\x03ab\x00', 'latin1'))?.toString(), 'ab');
    assert.equal(udataComment(Buffer.from('\x00\x02ab', 'latin1')), undefined, 'no NUL: no comment');
    assert.equal(udataComment(Buffer.from('\x01\x04\x01\x00\x00\x00\x00\x03ab\x00', 'latin1'))?.toString(), 'ab');
    assert.equal(udataComment(Buffer.from('\x00\x09ab\x00', 'latin1')), undefined, 'a record past the end');
  });
});

describe('byteOrder (the user chains\' order in save)', () => {
  it('orders names by their UTF-8 bytes, as Buffer.compare (libiptc\'s strcmp) does', () => {
    const letters = 'AZaz09-_.éÿ€KUBE';
    // a fixed pseudo-random walk: shared prefixes, prefixes of each other, non-ASCII bytes
    let x = 12345;
    const rnd = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let t = 0; t < 300; t++) {
      const names = new Set<string>(['KUBE-SEP-', 'KUBE-SEP-A', 'KUBE-SE']);
      for (let n = rnd(40); names.size < n + 3;) {
        let s = '';
        for (let l = 1 + rnd(8); l > 0; l--) s += letters[rnd(letters.length)];
        names.add(s);
      }
      const list = [...names];
      const want = list.map((s, i) => ({ b: Buffer.from(s), i })).sort((a, b) => Buffer.compare(a.b, b.b)).map((e) => e.i);
      assert.deepEqual(Array.from(byteOrder(list)), want, JSON.stringify(list));
    }
    assert.deepEqual(Array.from(byteOrder([])), []);
    assert.deepEqual(Array.from(byteOrder(['b', 'a', 'ab', '€', 'é'])), [1, 2, 0, 4, 3]);
  });
});
