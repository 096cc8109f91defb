// The only module that touches the addon. It is loaded on first use, from the package root,
// so that bundlers and `dist/` vs `lib/` layouts do not matter.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnsupportedError } from './errors.js';

export interface NativeFailure {
  nativeFailure: true;
  errno: number;
  message: string;
  kind?: string;
  line?: number;
}

export interface RawWorker {
  close(): Promise<void>;
  closed(): boolean;
}

export interface IpsetExecResult {
  output: string;
  messages: { type: 'warning' | 'notice'; text: string }[];
}

/** How far a batch of netlink messages got: `errno` is the kernel's refusal of message `acked`. */
export interface SendResult {
  acked: number;
  errno: number;
  /** ipset batches: the lineno the kernel reported for the refused entry (0: none). */
  lineno: number;
}

export interface Binding {
  Worker: new (netnsPath?: string) => RawWorker;
  ipsetExec(worker: RawWorker, text: string, exist: boolean): Promise<IpsetExecResult>;
  ipsetSend(worker: RawWorker, bytes: Uint8Array, ends: Uint32Array): Promise<SendResult>;
}

/** Debian packages that provide each shared library the addon links to. */
const RUNTIME_PACKAGES: Record<string, string> = {
  'libipset.so': 'libipset13',
  'libmnl.so': 'libmnl0',
  'libnl-3.so': 'libnl-3-200',
  'libnl-genl-3.so': 'libnl-genl-3-200',
  'libxtables.so': 'libxtables12',
  'libip4tc.so': 'libip4tc2',
  'libip6tc.so': 'libip6tc2',
};
const BUILD_PACKAGES = 'build-essential pkg-config libipset-dev';

export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'nlkit') return dir;
      } catch {
        // an unreadable package.json further up is not ours
      }
    }
    if (dirname(dir) === dir) throw new Error('nlkit: cannot find the nlkit package root');
  }
}

/** Turns a loader failure into a message that names what to install. */
export function explainLoadFailure(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lib = /(lib[\w+-]+\.so)[.\d]*: cannot open shared object/.exec(text);
  if (lib) {
    const pkg = RUNTIME_PACKAGES[lib[1]!];
    return `nlkit: the system library ${lib[0].split(':')[0]} is missing` +
      (pkg ? `; install it with: apt-get install ${pkg}` : '');
  }
  if (/No native build was found/.test(text)) {
    return `nlkit: no native build for this platform; build it with \`npm run build:native\` ` +
      `(needs: apt-get install ${BUILD_PACKAGES})`;
  }
  return `nlkit: cannot load the native addon: ${text}`;
}

let cached: Binding | undefined;

export function binding(): Binding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    const load = require('node-gyp-build') as (dir: string) => Binding;
    cached = load(packageRoot());
  } catch (err) {
    throw new UnsupportedError(explainLoadFailure(err), { cause: err, op: 'nlkit.load' });
  }
  return cached;
}
