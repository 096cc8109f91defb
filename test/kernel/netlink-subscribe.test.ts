// lib/netlink/transport.ts subscribe() on the real kernel, in throwaway namespaces: what the
// system tools change (nft, ip, conntrack) arrives as netlink messages of the joined groups,
// nothing arrives after close(), and events the kernel had to drop are reported as an overrun.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { binding, type RawWorker } from '../../lib/core/native.js';
import {
  NETLINK_NETFILTER, NETLINK_ROUTE, NFGENMSG_LEN, NFNLGRP_CONNTRACK_NEW, NFNLGRP_NFTABLES, NFNL_SUBSYS_CTNETLINK,
  NFNL_SUBSYS_NFTABLES, NLMSG_HDRLEN, nfnlType,
} from '../../lib/netlink/headers.js';
import { forEachAttr, forEachMessage, str } from '../../lib/netlink/reader.js';
import { subscribe, type Subscription } from '../../lib/netlink/transport.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason('nft');
const RTNLGRP_LINK = 1, RTM_NEWLINK = 16, IFINFOMSG_LEN = 16, IFLA_IFNAME = 3;
const NFT_MSG_NEWTABLE = 0, NFT_MSG_NEWCHAIN = 3, NFTA_TABLE_NAME = 1, NFTA_CHAIN_NAME = 3;

const open: Subscription[] = [];

/** A worker in `ns`; subscriptions the test left open are closed (an open one keeps the process alive). */
async function withWorker<T>(ns: Netns, fn: (w: RawWorker) => Promise<T>): Promise<T> {
  const w = new (binding().Worker)(ns.path);
  try {
    return await fn(w);
  } finally {
    for (const s of open.splice(0)) s.close();
    await w.close();
  }
}

async function track(p: Promise<Subscription>): Promise<Subscription> {
  const s = await p;
  open.push(s);
  return s;
}

/** Resolves once `done()` says so for what has arrived; rejects after `ms` with what did. */
function until<T>(seen: T[], done: (s: T[]) => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (done(seen)) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`not seen in ${ms} ms; got ${JSON.stringify(seen)}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

const idle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('netlink subscriptions', { skip }, () => {
  it('nf_tables changes made by nft arrive as NEWTABLE/NEWCHAIN messages', async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        const seen: string[] = [];
        const sub = await track(subscribe(w, NETLINK_NETFILTER, [NFNLGRP_NFTABLES], (data) => {
          forEachMessage(data, 0, data.length, (type, at, len) => {
            const attr = type === nfnlType(NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWTABLE) ? NFTA_TABLE_NAME
              : type === nfnlType(NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWCHAIN) ? NFTA_CHAIN_NAME : 0;
            if (!attr) return;
            forEachAttr(data, at + NLMSG_HDRLEN + NFGENMSG_LEN, at + len, (t, p, n) => {
              if (t === attr) seen.push(`${attr === NFTA_TABLE_NAME ? 'table' : 'chain'} ${str(data, p, n)}`);
            });
          });
        }));
        ns.run('nft', ['-f', '-'], 'add table inet t\nadd chain inet t a\nadd chain inet t b\n');
        await until(seen, (s) => s.length >= 3);
        assert.deepEqual(seen, ['table t', 'chain a', 'chain b']);
        sub.close();
        assert.equal(sub.closed, true);
        ns.run('nft', ['add', 'table', 'inet', 'after']);
        await idle(200);
        assert.deepEqual(seen, ['table t', 'chain a', 'chain b']);
      });
    });
  });

  it('rtnetlink link group: a link changed with ip arrives as RTM_NEWLINK; an AbortSignal closes', async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        const names: string[] = [];
        const ac = new AbortController();
        const sub = await track(subscribe(w, NETLINK_ROUTE, [RTNLGRP_LINK], (data) => {
          forEachMessage(data, 0, data.length, (type, at, len) => {
            if (type !== RTM_NEWLINK) return;
            forEachAttr(data, at + NLMSG_HDRLEN + IFINFOMSG_LEN, at + len, (t, p, n) => { if (t === IFLA_IFNAME) names.push(str(data, p, n)); });
          });
        }, { signal: ac.signal }));
        ns.run('ip', ['link', 'set', 'lo', 'mtu', '60000']);
        await until(names, (s) => s.includes('lo'));
        ac.abort();
        assert.equal(sub.closed, true);
      });
    });
  });

  it('conntrack NEW events from conntrack -I', { skip: kernelSkipReason('conntrack') }, async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        const types: number[] = [];
        const sub = await track(subscribe(w, NETLINK_NETFILTER, [NFNLGRP_CONNTRACK_NEW], (data) => {
          forEachMessage(data, 0, data.length, (type) => { types.push(type); });
        }));
        ns.run('conntrack', ['-I', '-s', '192.0.2.1', '-d', '192.0.2.2', '-p', 'tcp', '--sport', '1000', '--dport', '80',
          '--state', 'ESTABLISHED', '-t', '100', '-u', 'ASSURED']);
        await until(types, (s) => s.length > 0);
        assert.equal(types[0]! >> 8, NFNL_SUBSYS_CTNETLINK);
        sub.close();
      });
    });
  });

  it('events the kernel dropped while JS was busy are reported as an overrun', async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        let overruns = 0, messages = 0;
        const sub = await track(subscribe(w, NETLINK_NETFILTER, [NFNLGRP_NFTABLES], (data, overrun) => {
          if (overrun) overruns++;
          forEachMessage(data, 0, data.length, () => { messages++; });
        }, { rcvbuf: 4096 }));
        // One transaction of 3000 chains notifies them all at once, into a 4 KB socket buffer,
        // while this thread is blocked in spawnSync.
        const text = ['add table inet t', ...Array.from({ length: 3000 }, (_, i) => `add chain inet t c${i}`)].join('\n');
        const r = spawnSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input: text });
        assert.equal(r.status, 0);
        ns.run('nft', ['add', 'table', 'inet', 'last']);
        await until([0], () => overruns > 0);
        assert.ok(messages < 3002, `${messages} messages`);
        sub.close();
      });
    });
  });
});
