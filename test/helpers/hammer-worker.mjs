// worker_thread entry of the hammer test: runs one actor (TypeScript, through tsx: a worker
// does not inherit the parent's --import hooks on Node 20) and posts its result.
import { parentPort, workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

const { actor } = await tsImport('./hammer-actor.ts', import.meta.url);
const { id, netns, rounds, seed } = workerData;
parentPort.postMessage(await actor(id, netns, rounds, seed));
