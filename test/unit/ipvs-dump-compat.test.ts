// IPVS dumps as older kernels send them, made from a real dump (test/fixtures/ipvs/dump.json,
// captured with capture-dump.ts next to `ipvsadm -Ln --stats --exact` of the same state) by
// taking attributes out: real servers without IPVS_DEST_ATTR_ADDR_FAMILY (kernels before 4.x
// knew only the service's family), and services and real servers without the STATS64 nest
// (before 4.1: only the 32-bit STATS). Each must read as the full dump does, and as ipvsadm
// printed it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { forEachNest, parseDest, parseService } from '../../lib/ipvs/wire.js';
import { toDest, toService } from '../../lib/ipvs/records.js';
import type { Service } from '../../lib/ipvs/types.js';

const fx = (f: string) => readFileSync(new URL(`../fixtures/ipvs/${f}`, import.meta.url), 'utf8');
const dump = JSON.parse(fx('dump.json')) as { data: string; sections: number[]; errnos: number[] };
const SERVICE = 1, DEST = 2;                          // IPVS_CMD_ATTR_SERVICE, IPVS_CMD_ATTR_DEST
const SVC_STATS64 = 12, DEST_FAMILY = 11, DEST_STATS64 = 12;
const TYPE = 0x3fff;                                  // NLA_TYPE_MASK

interface Dump { data: Buffer; sections: number[] }

/** The dump with the given attributes taken out of the service and real server nests. */
function without(d: Dump, drop: { [SERVICE]?: number[]; [DEST]?: number[] }): Dump {
  const parts: Buffer[] = [];
  const sections: number[] = [];
  let total = 0;
  let from = 0;
  for (const to of d.sections) {
    for (let p = from; p + 16 <= to;) {
      const len = d.data.readUInt32LE(p);
      const type = d.data.readUInt16LE(p + 4);
      let msg = d.data.subarray(p, p + len);
      if (type >= 16 && len >= 20) {                  // a generic netlink message, not DONE or ERROR
        const attrs: Buffer[] = [msg.subarray(0, 20)];
        for (let a = 20; a + 4 <= len;) {
          const alen = msg.readUInt16LE(a);
          const atype = msg.readUInt16LE(a + 2) & TYPE;
          let attr = msg.subarray(a, a + ((alen + 3) & ~3));
          const gone = drop[atype as 1 | 2];
          if (gone) {
            const kept: Buffer[] = [attr.subarray(0, 4)];
            for (let c = 4; c + 4 <= alen;) {
              const clen = attr.readUInt16LE(c);
              if (!gone.includes(attr.readUInt16LE(c + 2) & TYPE)) kept.push(attr.subarray(c, c + ((clen + 3) & ~3)));
              c += (clen + 3) & ~3;
            }
            attr = Buffer.concat(kept);
            attr.writeUInt16LE(attr.length, 0);
          }
          attrs.push(attr);
          a += (alen + 3) & ~3;
        }
        msg = Buffer.concat(attrs);
        msg.writeUInt32LE(msg.length, 0);
      }
      parts.push(msg);
      total += msg.length;
      p += (len + 3) & ~3;
    }
    sections.push(total);
    from = to;
  }
  return { data: Buffer.concat(parts), sections };
}

/** Services and their real servers, with statistics, as listServices() reads a dump. */
function read(d: Dump): Service[] {
  const out: Service[] = [];
  const afs: number[] = [];
  forEachNest(d.data, 0, d.sections[0]!, SERVICE, (s, e) => {
    const raw = parseService(d.data, s, e);
    out.push(toService(d.data, raw, true));
    afs.push(raw.af);
  });
  out.forEach((svc, i) => {
    svc.destinations = [];
    forEachNest(d.data, d.sections[i]!, d.sections[i + 1]!, DEST, (s, e) => svc.destinations!.push(toDest(d.data, parseDest(d.data, s, e, afs[i]!), true)));
  });
  return out;
}

/**
 * `ipvsadm -Ln --stats --exact`: one block per service (its line, then its real servers' lines,
 * each with the five counters), sorted, as the tool's service order is not the dump's.
 */
function toolCounters(text: string): string[] {
  const blocks: string[][] = [];
  for (const l of text.split('\n')) {
    if (/^(TCP|UDP|SCTP|FWM) /.test(l)) blocks.push([l.replace(/^(TCP|UDP|SCTP) +/, '').replace(/\s+/g, ' ').trim()]);
    else if (/^  -> /.test(l) && !/RemoteAddress/.test(l) && blocks.length) blocks.at(-1)!.push(l.trim().replace(/^-> /, '').replace(/\s+/g, ' '));
  }
  return blocks.map((b) => [b[0], ...b.slice(1).sort()].join('\n')).sort();
}

/** The same from nlkit's reading, in ipvsadm's notation. */
function ourCounters(list: Service[]): string[] {
  const hp = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  const c = (s: Service['stats']) => [s!.connections, s!.packetsIn, s!.packetsOut, s!.bytesIn, s!.bytesOut].join(' ');
  return list.map((s) => [
    `${s.fwmark !== undefined ? `FWM ${s.fwmark}${s.family === 'inet6' ? ' IPv6' : ''}` : hp(s.address!, s.port!)} ${c(s.stats)}`,
    ...s.destinations!.map((d) => `${hp(d.address, d.port)} ${c(d.stats)}`).sort(),
  ].join('\n')).sort();
}

describe('IPVS dumps of older kernels (attributes taken out of a real dump)', () => {
  const full: Dump = { data: Buffer.from(dump.data, 'hex'), sections: dump.sections };
  const expected = read(full);
  const tool = toolCounters(fx('dump-list-exact-stats.txt'));

  it('the full dump reads as ipvsadm printed it, with traffic counted', () => {
    assert.deepEqual(ourCounters(expected), tool);
    assert.ok(expected.some((s) => s.stats!.packetsIn > 0n && s.destinations!.every((d) => d.stats!.packetsIn > 0n)), 'the capture has traffic');
    assert.deepEqual(expected.map((s) => [s.family, ...s.destinations!.map((d) => d.family)]).sort(),
      [['inet', 'inet', 'inet'], ['inet6', 'inet6'], ['inet6', 'inet6', 'inet6']]);
  });

  it('taking out attributes changes the bytes', () => {
    assert.ok(without(full, { [SERVICE]: [SVC_STATS64], [DEST]: [DEST_STATS64, DEST_FAMILY] }).data.length < full.data.length);
    assert.equal(without(full, {}).data.compare(full.data), 0);
  });

  it('real servers without ADDR_FAMILY take their service\'s family', () => {
    assert.deepEqual(read(without(full, { [DEST]: [DEST_FAMILY] })), expected);
  });

  it('services and real servers without STATS64 read the 32-bit STATS nest', () => {
    const old = read(without(full, { [SERVICE]: [SVC_STATS64], [DEST]: [DEST_STATS64] }));
    assert.deepEqual(ourCounters(old), tool);
    assert.deepEqual(old, expected);
  });

  it('both taken out (a 3.x kernel)', () => {
    assert.deepEqual(read(without(full, { [SERVICE]: [SVC_STATS64], [DEST]: [DEST_STATS64, DEST_FAMILY] })), expected);
  });
});
