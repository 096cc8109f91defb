// Child of test/kernel/faults-stdio-race.test.ts: ipset text commands (a libipset session) and
// iptables saves/restores (extension printers writing to a swapped C stdout) at the same time.
import { ipset, iptables } from '../../lib/index.js';

async function main(): Promise<void> {
  const netns = process.argv[2]!;
  const rounds = Number(process.argv[3] ?? 100);
  for (let round = 0; round < rounds; round++) {
    const s = ipset.open({ netns });
    const t = iptables.open({ netns, backend: 'legacy' });
    await Promise.all([
      s.save('a'), s.list('a'), s.save('a'),
      t.save({ table: 'filter', counters: true }),
      t.restore('*filter\n-A INPUT -p tcp -m tcp --dport 81 -m comment --comment "round" -j ACCEPT\nCOMMIT\n'),
    ]);
    await Promise.all([s.close(), t.close()]);
  }
  console.log(JSON.stringify({ rounds }));
}
main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
