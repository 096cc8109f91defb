// Memory per operation: thousands of operations of each subsystem, the kernel's refusals
// included, in a child process per subsystem (see test/helpers/leak.ts). Memory after a full
// GC stays flat from the first round to the fifth; under `npm run test:asan` LeakSanitizer
// finds nothing lost at the child's exit.
import { leakSuite } from '../helpers/leak.js';

leakSuite(1);
