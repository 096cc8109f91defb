// The records of `ipset save` text, and the commands that put a set back, on text captured from
// ipset v7.17 (test/fixtures/ipset/captured-with.txt): a set whose member's comment holds a line
// break, before and after a del, an add and an add -exist.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { savedRecords, renamedSaved, undoText } from '../../lib/ipset/saved-text.js';

const fixture = (f: string) => readFileSync(new URL(`../fixtures/ipset/${f}`, import.meta.url), 'utf8');
const before = fixture('save-linebreak-before.txt');
const after = fixture('save-linebreak-after.txt');
const lines = before.split('\n');

describe('ipset saved text', () => {
  it('a comment with a line break stays inside its record', () => {
    assert.deepEqual(savedRecords(before), [lines[0], lines[1], `${lines[2]}\n${lines[3]}`, lines[4]]);
  });

  it('renaming touches the commands, not the text inside a comment', () => {
    const r = savedRecords(renamedSaved(before, 'tmp'));
    assert.equal(r.length, 4);
    assert.ok(r.every((x) => /^(create|add) tmp /.test(x)), r.join('|'));
    assert.match(r[2]!, /comment "two\nadd n 10\.9\.0\.0\/16"$/);
  });

  it('undo: deletes what was added, adds back what was deleted or changed, leaves the rest', () => {
    assert.deepEqual(undoText('n', before, after, 3), ['del n 10.3.0.0/16', lines[1], lines[4]]);
    assert.deepEqual(undoText('n', before, before, 0), []);
  });

  it('a timeout that ran down is no change; one set again (longer or much shorter) is', () => {
    const left = Number(/timeout (\d+) packets 5/.exec(before)![1]);
    const timed = (t: number) => before.replace(`timeout ${left} `, `timeout ${t} `);
    assert.deepEqual(undoText('n', before, timed(left - 2), 2), []);
    assert.deepEqual(undoText('n', before, timed(left + 1), 0), [lines[1]]);
    assert.deepEqual(undoText('n', before, timed(5), 2), [lines[1]]);
  });
});
