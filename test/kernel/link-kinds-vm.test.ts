// The link kinds this host's kernel lacks (dummy, vlan, ipip, gre, sit: no modules here), made by
// h.add and compared whole with what `ip link add` makes, as in link-kinds.test.ts. Their word
// "dummy" puts this file in the VM tier (test/vm/run-in-vm.test.ts), where Debian's kernel has
// them; on a kernel without them the tests say so and skip.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { release } from 'node:os';
import { link } from '../../lib/index.js';
import type { AddLinkInput, Link } from '../../lib/link/types.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';
import { probeLinkKinds } from '../helpers/links.js';

const skip = kernelSkipReason();
const KINDS = ['dummy', 'vlan', 'ipip', 'gre', 'sit'];

const have = probeLinkKinds(KINDS);
const kindSkip = (k: string) => skip ?? (have.has(k) ? undefined
  : `the running kernel (${release()}) cannot make ${k} links; the VM tier runs this file in Debian's kernel`);

// Bridge-free kinds: nothing in `ip -j -d link show` ticks; every field is compared as is.
const ipLinks = (ns: Netns): unknown[] => JSON.parse(ns.run('ip', ['-j', '-d', 'link', 'show'])) as unknown[];

const mac = (n: number) => `02:00:00:00:01:${n.toString(16).padStart(2, '0')}`;
const PARENT = `link add p0 address ${mac(1)} type veth peer name p1 address ${mac(2)}`;

const CASES: { kind: string; what: string; prep?: string[]; ip: string; nlkit: AddLinkInput }[] = [
  { kind: 'dummy', what: 'dummy', ip: `link add kube-ipvs0 address ${mac(3)} mtu 1400 type dummy`,
    nlkit: { name: 'kube-ipvs0', kind: 'dummy', mac: mac(3), mtu: 1400 } },
  { kind: 'dummy', what: 'dummy, up', ip: `link add d0 address ${mac(3)} up type dummy`, nlkit: { name: 'd0', kind: 'dummy', mac: mac(3), up: true } },
  { kind: 'vlan', what: 'vlan', prep: [PARENT], ip: `link add link p0 name p0.10 address ${mac(4)} type vlan id 10`,
    nlkit: { name: 'p0.10', kind: 'vlan', link: 'p0', id: 10, mac: mac(4) } },
  { kind: 'ipip', what: 'ipip', ip: 'link add tun0 type ipip local 10.0.0.1 remote 10.0.0.2 ttl 64',
    nlkit: { name: 'tun0', kind: 'ipip', local: '10.0.0.1', remote: '10.0.0.2', ttl: 64 } },
  { kind: 'ipip', what: 'ipip bound to a device', prep: [PARENT], ip: 'link add tun1 type ipip local 10.0.0.1 remote 10.0.0.3 dev p0',
    nlkit: { name: 'tun1', kind: 'ipip', local: '10.0.0.1', remote: '10.0.0.3', link: 'p0' } },
  { kind: 'gre', what: 'gre', ip: 'link add gre1 type gre local 10.0.0.1 remote 10.0.0.2 ttl 32',
    nlkit: { name: 'gre1', kind: 'gre', local: '10.0.0.1', remote: '10.0.0.2', ttl: 32 } },
  { kind: 'sit', what: 'sit', ip: 'link add sit1 type sit local 10.0.0.1 remote 10.0.0.2',
    nlkit: { name: 'sit1', kind: 'sit', local: '10.0.0.1', remote: '10.0.0.2' } },
];

describe('link kinds of the VM kernel: nlkit writes, ip reads', () => {
  for (const c of CASES) {
    it(`${c.what} reads back in \`ip -j -d link show\` as \`ip ${c.ip}\` made it`, { skip: kindSkip(c.kind) }, () =>
      withNetns(2, async (byIp, byNlkit) => {
        for (const l of c.prep ?? []) for (const ns of [byIp, byNlkit]) ns.run('ip', l.split(' '));
        byIp.run('ip', c.ip.split(' '));
        const h = link.open({ netns: byNlkit.path });
        try {
          await h.add(c.nlkit);
          // nlkit reads it as ip does (the tunnel kinds' `link` is null when bound to no device).
          const mine = (await h.list()).find((l) => l.name === c.nlkit.name)!;
          const ipv = (JSON.parse(byNlkit.run('ip', ['-j', '-d', 'link', 'show', 'dev', c.nlkit.name])) as Record<string, unknown>[])[0]!;
          assert.deepEqual(
            { kind: mine.kind, flags: mine.flags, operstate: mine.operstate, mtu: mine.mtu, link: mine.link } as Partial<Link>,
            { kind: (ipv.linkinfo as { info_kind: string }).info_kind, flags: ipv.flags, operstate: ipv.operstate, mtu: ipv.mtu, link: ipv.link } as Partial<Link>);
        } finally {
          await h.close();
        }
        assert.deepEqual(ipLinks(byNlkit), ipLinks(byIp));
      }));
  }
});
