export * as ipset from './ipset/index.js';
export * from './errors.js';
export type { OpenOptions } from './handle.js';
