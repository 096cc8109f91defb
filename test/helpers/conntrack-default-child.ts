// Run inside a namespace (ip netns exec): the module-level conntrack functions on the default
// handle, in the process's own namespace; prints what they saw as JSON and exits by itself.
import { conntrack } from '../../lib/index.js';

const flows = await conntrack.list({ family: 'inet' });
const count = await conntrack.count();
const deleted = await conntrack.delete({ protocol: 'icmp' });
const stats = await conntrack.stats();
process.stdout.write(JSON.stringify({ ids: flows.map((f) => f.id).sort(), count, deleted, cpus: stats.length }));
