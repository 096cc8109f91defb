// Child process of the kill test: commits two big filter tables in turn, for ever, printing
// one line per commit, until it is killed.
import { iptables } from '../../lib/index.js';
import { bigFilter } from './tables.js';

const { netns, rules } = JSON.parse(process.argv[2] ?? '{}') as { netns: string; rules: number };
const texts = [bigFilter('A', rules), bigFilter('B', rules)];
const h = iptables.open({ netns, backend: 'legacy' });
console.log('ready');
for (let i = 0; ; i++) {
  await h.restore(texts[i % 2]!, { wait: true });
  console.log(`committed ${i % 2 ? 'B' : 'A'}`);
}
