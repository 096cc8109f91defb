// lib/netlink/genl.ts on the real kernel, in a throwaway namespace: the id of every generic
// netlink family the kernel has, asked with CTRL_CMD_GETFAMILY over native/netlink's
// NETLINK_GENERIC socket, is the id iproute2's `genl ctrl list` prints; a family the kernel
// lacks is the failure record IPVS turns into UnsupportedError.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { binding, type RawWorker } from '../../lib/core/native.js';
import { GENL_FAMILY_MISSING, GenlFamily, getFamilyRequest } from '../../lib/netlink/genl.js';
import { NETLINK_GENERIC } from '../../lib/netlink/headers.js';
import { dump } from '../../lib/netlink/transport.js';
import { kernelSkipReason, withNetns, type Netns } from '../helpers/netns.js';

const skip = kernelSkipReason();

async function withWorker<T>(ns: Netns, fn: (w: RawWorker) => Promise<T>): Promise<T> {
  const w = new (binding().Worker)(ns.path);
  try { return await fn(w); } finally { await w.close(); }
}

/** `genl ctrl list`: family name -> id, as iproute2 prints them ("Name: x" then "ID: 0x..."). */
function toolFamilies(ns: Netns): Map<string, number> {
  const out = new Map<string, number>();
  let name: string | undefined;
  for (const line of ns.run('genl', ['ctrl', 'list']).split('\n')) {
    const n = /^Name: (\S+)/.exec(line);
    if (n) name = n[1];
    const id = /^\s+ID: (0x[0-9a-f]+)/.exec(line);
    if (id && name) {
      out.set(name, Number(id[1]));
      name = undefined;
    }
  }
  return out;
}

describe('generic netlink controller (lib/netlink/genl.ts)', { skip }, () => {
  it('resolves every family `genl ctrl list` shows to the id it shows, once per worker', async () => {
    await withNetns(1, async (ns) => {
      const tool = toolFamilies(ns);
      assert.ok(tool.size >= 2, `genl ctrl list shows ${tool.size} families`);
      assert.equal(tool.get('nlctrl'), 0x10);
      await withWorker(ns, async (w) => {
        const b = binding();
        const orig = b.netlinkDump;
        let asked = 0;
        b.netlinkDump = (...a) => { asked++; return orig.apply(b, a); };
        try {
          for (const [name, id] of tool) {
            const f = new GenlFamily(name);
            assert.equal(await f.id(w), id, name);
            assert.equal(await f.id(w), id, `${name}, again`);
          }
        } finally {
          b.netlinkDump = orig;
        }
        assert.equal(asked, tool.size, 'one crossing per family: the second ask is answered from the cache');
      });
    });
  });

  it('a family the kernel lacks: the failure record (ENOENT, kind genl-family-missing), not cached', async () => {
    await withNetns(1, async (ns) => {
      await withWorker(ns, async (w) => {
        const f = new GenlFamily('NLKIT_NO_SUCH');
        for (let i = 0; i < 2; i++) {
          await assert.rejects(f.id(w), (e: { nativeFailure?: boolean; errno?: number; kind?: string; message?: string }) => {
            assert.equal(e.nativeFailure, true);
            assert.equal(e.errno, constants.errno.ENOENT);
            assert.equal(e.kind, GENL_FAMILY_MISSING);
            assert.match(e.message!, /NLKIT_NO_SUCH not found/);
            return true;
          });
        }
        // The kernel's own answer to the same request.
        const r = await dump(w, NETLINK_GENERIC, getFamilyRequest('NLKIT_NO_SUCH'), { attempts: 1 });
        assert.equal(r.errnos[0], constants.errno.ENOENT);
      });
    });
  });
});
