// Child of faults-fifo.test.ts: a network namespace path and an $XTABLES_LOCKFILE that are
// FIFOs. Opening either for reading once waited for a writer forever on the handle's thread,
// and the process could never exit. Prints what each attempt gave, then exits by itself.
import { binding } from '../../lib/core/native.js';
import { ipset, iptables } from '../../lib/index.js';

const [fifo, netns] = process.argv.slice(2) as [string, string];
const out: Record<string, unknown> = {};
const describe = (e: unknown) => {
  const x = e as { name?: string; message?: string; code?: string; errno?: number; kind?: string };
  return { name: x.name, message: x.message, code: x.code, errno: x.errno, kind: x.kind };
};

// The public path: open() checks the namespace file.
try {
  const h = ipset.open({ netns: fifo });
  try { out.netnsCall = await h.list(); } catch (e) { out.netnsCall = describe(e); }
  await h.close();
} catch (e) {
  out.netnsOpen = describe(e);
}
// The worker itself (the path may become a FIFO after open() checked it).
{
  const w = new (binding().Worker)(fifo);
  try { out.netnsWorker = await binding().ipsetExec(w, 'list -n', false); } catch (e) { out.netnsWorker = describe(e); }
  await w.close().catch(() => {});
}
// The xtables lock file.
process.env.XTABLES_LOCKFILE = fifo;
const t = iptables.open({ netns, backend: 'legacy' });
try { out.restore = await t.restore('*filter\n:NLKIT - [0:0]\nCOMMIT\n', { noflush: true, wait: 0 }); } catch (e) { out.restore = describe(e); }
try { out.withLock = await t.withLock(() => 'ran'); } catch (e) { out.withLock = describe(e); }
await t.close();
console.log(JSON.stringify(out));
