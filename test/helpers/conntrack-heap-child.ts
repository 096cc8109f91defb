// Run with a small V8 heap (--max-old-space-size): one conntrack call on the namespace named in
// argv[2] ('list', 'count' or 'delete' in argv[3], the udp flows for count and delete); prints
// {"result": n, "heapMB": peak old space seen} as JSON. A call that held every flow in JS memory
// at once dies of "heap out of memory" instead.
import { getHeapStatistics } from 'node:v8';
import { conntrack } from '../../lib/index.js';

const [netns, what] = process.argv.slice(2);
const ct = conntrack.open({ netns: netns! });
let peak = 0;
const sample = setInterval(() => { peak = Math.max(peak, getHeapStatistics().used_heap_size); }, 1);
const result = what === 'list' ? (await ct.list()).length
  : what === 'count' ? await ct.count({ protocol: 'udp' })
  : await ct.delete({ protocol: 'udp' });
clearInterval(sample);
peak = Math.max(peak, getHeapStatistics().used_heap_size);
await ct.close();
process.stdout.write(JSON.stringify({ result, heapMB: Math.round(peak / 1e5) / 10 }) + '\n');
