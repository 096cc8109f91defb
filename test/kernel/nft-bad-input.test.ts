// The bad input against the real kernel, in a throwaway namespace holding a ruleset nft
// wrote: unknown family, hook and chain type, a 300-character name, a wrong key type in an
// element, a rule referencing a missing set or chain, loops between chains, and wrong JS types,
// each after valid commands in the same batch (apply) or text (restore). Each is a typed error
// naming the failing command, and the whole `nft list ruleset` and `nft -j list ruleset` are the
// same afterwards: nothing was applied.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, NlkitError, NotFoundError, UnsupportedError } from '../../lib/core/errors.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';
import { nftJson, withNft } from '../helpers/nft.js';

const skip = kernelSkipReason('nft');
const basics = fileURLToPath(new URL('../fixtures/nft/cases/basics.nft', import.meta.url));

type ErrorClass = new (...a: never[]) => NlkitError;
const long = 'x'.repeat(300);
const prefix = [
  { add: { table: { family: 'ip', name: 'fresh' } } },
  { add: { chain: { family: 'ip', table: 'fresh', name: 'a' } } },
  { add: { set: { family: 'ip', table: 'fresh', name: 's', type: 'ipv4_addr' } } },
];
const rule = (chain: string, expr: unknown[]) => ({ add: { rule: { family: 'ip', table: 'fresh', chain, expr } } });

/** [what, the bad command (last in the batch), the error class, what its message says]. */
const batches: Array<[string, unknown, ErrorClass, RegExp]> = [
  ['unknown family', { add: { table: { family: 'ipx', name: 'u' } } }, InvalidArgumentError, /unknown family "ipx"/],
  ['unknown hook', { add: { chain: { family: 'ip', table: 'fresh', name: 'b', type: 'filter', hook: 'inbound', prio: 0 } } }, InvalidArgumentError, /unknown hook "inbound"/],
  ['a hook of another family', { add: { chain: { family: 'ip', table: 'fresh', name: 'b', type: 'filter', hook: 'ingress', prio: 0 } } }, InvalidArgumentError, /unknown hook "ingress" in a ip table/],
  ['unknown chain type', { add: { chain: { family: 'ip', table: 'fresh', name: 'b', type: 'natty', hook: 'input', prio: 0 } } }, InvalidArgumentError, /unknown chain type "natty"/],
  ['a 300-character table name', { add: { table: { family: 'ip', name: long } } }, InvalidArgumentError, /300 bytes long/],
  ['a 300-character chain name', { add: { chain: { family: 'ip', table: 'fresh', name: long } } }, InvalidArgumentError, /300 bytes long/],
  ['a 300-character set name', { add: { set: { family: 'ip', table: 'fresh', name: long, type: 'ipv4_addr' } } }, InvalidArgumentError, /300 bytes long/],
  ['a jump to a 300-character chain name', rule('a', [{ jump: { target: long } }]), InvalidArgumentError, /at most 255 bytes/],
  ['a wrong key type in an element', { add: { element: { family: 'ip', table: 'fresh', name: 's', elem: ['80'] } } }, InvalidArgumentError, /not a valid ipv4_addr/],
  ['an element of a missing set', { add: { element: { family: 'ip', table: 'fresh', name: 'nope', elem: ['10.0.0.1'] } } }, NotFoundError, /no set or map ip fresh nope/],
  ['a rule referencing a missing set', rule('a', [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@nope' } }]), NotFoundError, /ENOENT/],
  ['a rule referencing a missing chain', rule('a', [{ jump: { target: 'nowhere' } }]), NotFoundError, /ENOENT/],
  ['a rule in a missing chain', rule('nochain', [{ accept: null }]), NotFoundError, /ENOENT/],
  ['a rule matching against a set of another key type', rule('a', [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: '@s' } }]), InvalidArgumentError, /@s has keys of type ipv4_addr, the expression is inet_service/],
  ['a name of the wrong JS type', { add: { chain: { family: 'ip', table: 'fresh', name: 42 } } }, InvalidArgumentError, /name: must be a non-empty string/],
  ['a command of the wrong JS type', 'add table ip x', InvalidArgumentError, /one key/],
  ['a construct outside the language', rule('a', [{ queue: { num: 1 } }]), UnsupportedError, /statement "queue"/],
];

/** [what, text whose last line is bad, the error class, the line it names]. */
const texts: Array<[string, string, ErrorClass, RegExp]> = [
  ['unknown family', 'add table ipx u', InvalidArgumentError, /:4:/],
  ['unknown hook', 'add chain ip fresh b { type filter hook inbound priority 0; }', InvalidArgumentError, /:4: .*unknown hook "inbound"/],
  ['a 300-character chain name', `add chain ip fresh ${long}`, InvalidArgumentError, /:4: .*300 bytes long/],
  ['a wrong key type in an element', 'add element ip fresh s { 80 }', InvalidArgumentError, /:4: .*not a valid ipv4_addr/],
  ['a rule referencing a missing chain', 'add rule ip fresh a jump nowhere', NotFoundError, /:4: .*ENOENT/],
  ['a loop between chains', 'add chain ip fresh in { type filter hook input priority 0; }\nadd rule ip fresh in jump a\nadd chain ip fresh b\nadd rule ip fresh a jump b\nadd rule ip fresh b jump a', InvalidArgumentError, /:(7|8): /],
];

describe('nft bad input against the kernel: typed errors, nothing applied', { skip }, () => {
  it('apply() and restore() of bad batches and texts leave the whole ruleset as it was', () => withNetns(1, async (ns) => {
    ns.run('nft', ['-f', basics]);
    const before = ns.run('nft', ['list', 'ruleset']), beforeJson = nftJson(ns);
    assert.ok(before.length > 100);
    await withNft(ns, async (h) => {
      for (const [what, bad, cls, msg] of batches) {
        const e = await h.apply([...prefix, bad]).then(() => undefined, (x: unknown) => x);
        assert.ok(e instanceof cls, `${what}: ${String(e)}`);
        assert.match((e as NlkitError).message, msg, what);
        assert.equal((e as NlkitError).index, prefix.length, what);
      }
      // A loop: the kernel refuses it when the jump closing it is added (ELOOP, or EMLINK through the depth limit).
      const base = { add: { chain: { family: 'ip', table: 'fresh', name: 'in', type: 'filter', hook: 'input', prio: 0 } } };
      const loop = await h.apply([...prefix, base, { add: { chain: { family: 'ip', table: 'fresh', name: 'b' } } }, rule('in', [{ jump: { target: 'a' } }]), rule('a', [{ jump: { target: 'b' } }]), rule('b', [{ jump: { target: 'a' } }])])
        .then(() => undefined, (x: unknown) => x as NlkitError);
      assert.ok(loop instanceof InvalidArgumentError && (loop.code === 'ELOOP' || loop.code === 'EMLINK'), String(loop));
      const head = 'add table ip fresh\nadd chain ip fresh a\nadd set ip fresh s { type ipv4_addr ; }\n';
      for (const [what, bad, cls, msg] of texts) {
        const e = await h.restore(head + bad, { source: 'bad.nft' }).then(() => undefined, (x: unknown) => x);
        assert.ok(e instanceof cls, `${what}: ${String(e)}`);
        assert.match((e as NlkitError).message, msg, what);
      }
    });
    assert.equal(ns.run('nft', ['list', 'ruleset']), before);
    assert.deepEqual(nftJson(ns), beforeJson);
  }));
});
