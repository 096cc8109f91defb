import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError, PermissionError, UnsupportedError,
} from '../../lib/core/errors.js';
import { ipsetError } from '../../lib/ipset/errors.js';

// Messages exactly as libipset 7.17 words them (lib/errcode.c, lib/parse.c, lib/session.c).
const failure = (message: string) => ({ nativeFailure: true as const, errno: 0, message, kind: 'ipset' });

describe('error model', () => {
  it('subclasses carry Node-style code and errno', () => {
    const e = new ExistsError('x', { op: 'ipset.create', subsystem: 'ipset' });
    assert.ok(e instanceof NlkitError && e instanceof Error);
    assert.equal(e.code, 'EEXIST');
    assert.equal(e.errno, 17);
    assert.equal(e.name, 'ExistsError');
    assert.equal(new NlkitError('y', { errno: 16 }).code, 'EBUSY');
    assert.equal(new InvalidArgumentError('z', { line: 3, column: 9, argument: '-x' }).line, 3);
  });

  const cases: [string, new (...a: never[]) => NlkitError, string, number?][] = [
    ['Error in line 3: Set cannot be created: set with the same name already exists', ExistsError, 'EEXIST', 3],
    ["Error in line 2: Element cannot be added to the set: it's already added", ExistsError, 'EEXIST', 2],
    ["Element cannot be deleted from the set: it's not added", NotFoundError, 'ENOENT'],
    ['The set with the given name does not exist', NotFoundError, 'ENOENT'],
    ['Set cannot be destroyed: it is in use by a kernel component', InUseError, 'EBUSY'],
    ['Kernel error received: Operation not permitted', PermissionError, 'EPERM'],
    ['Kernel error received: set type not supported', UnsupportedError, 'EOPNOTSUPP'],
    ['Error in line 7: Syntax error: cannot parse 1.2.3.400: resolving to IPv4 address failed', InvalidArgumentError, 'EINVAL', 7],
    ['Timeout cannot be used: set was created without timeout support', InvalidArgumentError, 'EINVAL'],
    ['Hash is full, cannot add more elements', NlkitError, 'ENOSPC'],
  ];
  for (const [msg, Cls, code, line] of cases) {
    it(`libipset: ${msg}`, () => {
      const e = ipsetError('ipset.op', failure(msg));
      assert.ok(e instanceof Cls, e.constructor.name);
      assert.equal(e.code, code);
      assert.equal(e.op, 'ipset.op');
      assert.equal(e.subsystem, 'ipset');
      assert.equal((e as { line?: number }).line, line);
      assert.ok(!/Error in line/.test(e.message));
    });
  }
});
