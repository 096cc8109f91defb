// The leak tests of test/kernel/leak.test.ts with ten times the operations per round
// (NLKIT_LEAK_SCALE), which makes the same memory bound about ten times as sensitive.
import { leakSuite } from '../helpers/leak.js';

leakSuite(Number(process.env.NLKIT_LEAK_SCALE ?? 10));
