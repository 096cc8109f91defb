// Which iptables-save texts a transaction can restore from (one command per line), on output
// captured from iptables-legacy-save v1.8.9 (test/fixtures/iptables/capture.sh).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { oneRulePerLine } from '../../lib/iptables/participant.js';

const fixture = (f: string) => readFileSync(new URL(`../fixtures/iptables/${f}`, import.meta.url), 'utf8');

describe('transaction snapshot: iptables-save text', () => {
  it('a comment holding a line break makes the text unreadable back; escaped quotes do not', () => {
    const text = fixture('save-comment-linebreak.txt');
    assert.equal(oneRulePerLine(text), false);
    const escaped = text.split('\n').filter((l) => !l.includes('--comment "a') && !l.startsWith('b"') && !l.includes('--comment "c') && !l.startsWith('-A INPUT -j DROP"'));
    assert.match(escaped.join('\n'), /--comment "x\\"y\\\\z"/);
    assert.equal(oneRulePerLine(escaped.join('\n')), true);
  });

  it('captured tables with counters and kube-proxy rules read back', () => {
    for (const f of ['save-v4-counters.txt', 'save-v6-counters.txt', 'kube-save.txt']) assert.equal(oneRulePerLine(fixture(f)), true, f);
  });
});
