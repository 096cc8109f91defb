// The ipset parsers keep no module state (issue #12): each parse has its own ParseState, so
// parses can run in any order and one can run inside another (an entry object's getter, a
// RestoreSink) without changing what the outer one parsed or encodes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adtEntries, testMessage } from '../../lib/ipset/encode.js';
import { checkRestore } from '../../lib/ipset/restore-text.js';
import { canonicalEntries } from '../../lib/ipset/sync.js';
import { ParseState, checkAdtOptions, checkElement, splitArgs, typeSpec } from '../../lib/ipset/grammar.js';
import type { KnownSet } from '../../lib/ipset/syntax.js';
import { Cmd } from '../../lib/ipset/wire.js';

const set = (type: KnownSet['type'], family: KnownSet['family']): KnownSet =>
  ({ type, family, timeout: true, counters: false, comment: true, skbinfo: false });
const V4 = set('hash:ip', 'inet');
const V6 = set('hash:net,port', 'inet6');

/** Splits and checks `line` (ELEMENT OPTIONS) into st. */
function parse(st: ParseState, type: string, family: 'inet' | 'inet6', line: string): void {
  const spec = typeSpec(type)!;
  splitArgs(st, line, 0, line.length, st.ts, st.te, st.tc);
  checkElement(st, spec, family, st.args.src, st.ts[0]!, st.te[0]!, { noZeroCidr: spec.noZeroCidr, nonZero: spec.nonZero });
  checkAdtOptions(st, spec, true, st.args.src, st.ts, st.te, 1, st.args.n);
}

describe('ipset parsers without module state', () => {
  it('two parses interleaved step by step keep their own results', () => {
    const a = new ParseState();
    const b = new ParseState();
    const spec = typeSpec('hash:ip')!;
    const la = '10.0.0.1 timeout 5 comment "first one"';
    const lb = '2001:db8::7 timeout 9';
    splitArgs(a, la, 0, la.length, a.ts, a.te, a.tc);
    splitArgs(b, lb, 0, lb.length, b.ts, b.te, b.tc);
    checkElement(a, spec, 'inet', a.args.src, a.ts[0]!, a.te[0]!, { noZeroCidr: true, nonZero: true });
    checkElement(b, spec, 'inet6', b.args.src, b.ts[0]!, b.te[0]!, { noZeroCidr: true, nonZero: true });
    checkAdtOptions(b, spec, true, b.args.src, b.ts, b.te, 1, b.args.n);
    checkAdtOptions(a, spec, true, a.args.src, a.ts, a.te, 1, a.args.n);
    assert.deepEqual([a.args.n, a.elem.v6, a.elem.ips[0].ip, a.adt.timeout, a.args.src.slice(a.adt.comment, a.adt.commentEnd)],
      [5, false, 0x0a000001, 5, 'first one']);
    assert.deepEqual([b.args.n, b.elem.v6, [...b.elem.ips[0].ip6], b.adt.timeout], [3, true, [0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], 9]);
    // The same results as each parse run alone.
    const alone = new ParseState();
    parse(alone, 'hash:ip', 'inet', la);
    assert.deepEqual(alone.elem, a.elem);
    assert.deepEqual(alone.adt, a.adt);
  });

  it('an entry whose getter encodes an entry of another set inside adtEntries: both encode as they would alone', () => {
    const plain = adtEntries(Cmd.Add, 'a', V4, ['10.0.0.2', '10.0.0.1 timeout 3']);
    let inner: Uint8Array | undefined;
    const nested = adtEntries(Cmd.Add, 'a', V4, ['10.0.0.2', {
      get ip() {
        // Another set of another family, mid-way through the outer batch.
        inner = testMessage('b', V6, '2001:db8::/64,udp:53').bytes;
        return '10.0.0.1';
      },
      timeout: 3,
    }]);
    assert.deepEqual(Buffer.from(nested.bytes), Buffer.from(plain.bytes));
    assert.deepEqual(Buffer.from(inner!), Buffer.from(testMessage('b', V6, '2001:db8::/64,udp:53').bytes));
  });

  it('a RestoreSink that parses another text in adt() still reads what its own line parsed', () => {
    const seen: string[] = [];
    checkRestore('create a hash:ip timeout 0\nadd a 10.0.0.1 timeout 7\nadd a 10.0.0.2\n', new Map(), {}, {
      text() {},
      adt(ps) {
        const before = `${ps.elem.ips[0].ip.toString(16)} ${ps.adt.given ? ps.adt.timeout : '-'}`;
        canonicalEntries(['2001:db8::1,tcp:80'], { type: 'hash:ip,port', family: 'inet6' });
        checkRestore('create x hash:net family inet6\nadd x 2001:db8::/32\n', new Map());
        seen.push(`${before} | ${ps.elem.ips[0].ip.toString(16)} ${ps.adt.given ? ps.adt.timeout : '-'} ${ps.elem.v6}`);
      },
    });
    assert.deepEqual(seen, ['a000001 7 | a000001 7 false', 'a000002 - | a000002 - false']);
  });
});
