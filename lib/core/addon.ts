// Finds and loads the native addon (nlkit.node), and turns every way that can fail into an
// UnsupportedError that says the fix. Inside a bundle this module no longer sits in nlkit's
// package, so the package is also looked up from where the bundle runs.
import { createRequire } from 'node:module';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { elfFileProblem } from './elf-check.js';
import { UnsupportedError } from './errors.js';

/** The environment variable that names the addon file to load, for bundles and custom builds. */
export const ADDON_ENV = 'NLKIT_ADDON';

/** Packages that provide each shared library the addon links to: Debian/Ubuntu, then RPM (Fedora/RHEL). */
const RUNTIME_PACKAGES: Record<string, [deb: string, rpm: string]> = {
  'libipset.so': ['libipset13', 'ipset-libs'],
  'libmnl.so': ['libmnl0', 'libmnl'],
  'libxtables.so': ['libxtables12', 'iptables-libs'],
  'libip4tc.so': ['libip4tc2', 'iptables-libs'],
  'libip6tc.so': ['libip6tc2', 'iptables-libs'],
};
const BUILD_PACKAGES = 'apt-get install build-essential pkg-config libipset-dev ' +
  'libxtables-dev libip4tc-dev libip6tc-dev (RPM: dnf install gcc-c++ make pkgconf-pkg-config ipset-devel iptables-devel)';
const KEEP_EXTERNAL = 'if nlkit is bundled, keep it external (esbuild --external:nlkit, webpack externals, ' +
  `rollup external) and install it beside the bundle, or set ${ADDON_ENV}=/absolute/path/to/nlkit.node`;

/** The directory of this module's file, or undefined where a bundle gives no way to know it. */
function moduleDir(): string | undefined {
  // A CommonJS bundle of the ESM build has an empty import.meta (no url); the running script's
  // path stands in for it then. __filename is not used: tsup's ESM shim would evaluate it eagerly.
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return undefined;
  }
}

/** The nearest directory at or above `from` whose package.json is nlkit's. */
export function packageRoot(from = moduleDir() ?? process.cwd()): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'nlkit') return dir;
      } catch {
        // an unreadable package.json further up is not ours
      }
    }
    if (dirname(dir) === dir) throw new Error(`nlkit: cannot find the nlkit package root above ${from}`);
  }
}

/**
 * Where nlkit's package may be: above this module (the normal install), then as Node would
 * resolve `nlkit` from the running script's and the working directory's node_modules (a bundle).
 */
export function candidateRoots(): string[] {
  const roots: string[] = [];
  const add = (dir: string | undefined) => { if (dir && !roots.includes(dir)) roots.push(dir); };
  const here = moduleDir();
  if (here) {
    try { add(packageRoot(here)); } catch { /* not inside the package: a bundle */ }
  }
  const main = process.argv[1] ? safeRealpath(process.argv[1]) : undefined;
  for (const from of [here, main && dirname(main), process.cwd()]) {
    if (!from) continue;
    try {
      add(dirname(createRequire(join(from, 'noop.js')).resolve('nlkit/package.json')));
    } catch { /* no nlkit in node_modules above this directory */ }
  }
  return roots;
}

function safeRealpath(p: string): string | undefined {
  try { return realpathSync(p); } catch { return undefined; }
}

/** The addon file node-gyp-build would load from a package root (build/Release, then prebuilds/). */
function resolveIn(root: string): string {
  const load = createRequire(join(root, 'package.json'))('node-gyp-build') as { resolve(dir: string): string };
  return load.resolve(root);
}

/** Turns a loader failure into a message that names what to install or run. */
export function explainLoadFailure(err: unknown, file?: string): { message: string; code?: string } {
  const text = err instanceof Error ? err.message : String(err);
  const lib = /(lib[\w+-]+\.so)[.\d]*: cannot open shared object/.exec(text);
  if (lib) {
    const pkgs = RUNTIME_PACKAGES[lib[1]!];
    return {
      message: `nlkit: the system library ${lib[0].split(':')[0]} is missing` +
        (pkgs ? `; install it with: apt-get install ${pkgs[0]} (RPM: dnf install ${pkgs[1]})` : '') +
        '; if another version of it is installed, rebuild the addon against it: npm rebuild nlkit',
    };
  }
  if (/file too short|invalid ELF|ELF load command|wrong ELF class|not a dynamic|ELF file/i.test(text)) {
    return {
      code: 'ENOEXEC',
      message: `nlkit: the native addon ${file ?? ''} is corrupt or not a shared library for this machine ` +
        `(${text.split('\n')[0]}); reinstall or rebuild it: npm rebuild nlkit`,
    };
  }
  if (/undefined symbol|did not self-register/.test(text)) {
    return { message: `nlkit: the native addon ${file ?? ''} does not match this system (${text.split('\n')[0]}); rebuild it: npm rebuild nlkit` };
  }
  if (/No native build was found/.test(text)) {
    return {
      code: 'ENOENT',
      message: `nlkit: no native build for this platform; build it with \`npm rebuild nlkit\` (needs: ${BUILD_PACKAGES})`,
    };
  }
  return { message: `nlkit: cannot load the native addon ${file ?? ''}: ${text}` };
}

/** Loads the addon: the file named by NLKIT_ADDON, else the build node-gyp-build finds in nlkit's package. */
export function loadAddon<T>(): T {
  const req = createRequire(join(moduleDir() ?? process.cwd(), 'noop.js'));
  const override = process.env[ADDON_ENV];
  let file: string | undefined;
  if (override) {
    file = resolve(override);
    if (!existsSync(file)) {
      throw new UnsupportedError(`nlkit: ${ADDON_ENV}=${override} names no file`, { code: 'ENOENT', op: 'nlkit.load' });
    }
  } else {
    const roots = candidateRoots();
    const failures: string[] = [];
    for (const root of roots) {
      try {
        file = resolveIn(root);
        break;
      } catch (err) {
        failures.push(`${root}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      }
    }
    if (!file) {
      const found = roots.length > 0;
      throw new UnsupportedError(found
        ? `${explainLoadFailure(new Error('No native build was found')).message}; looked in ${failures.join('; ')}`
        : `nlkit: cannot find the nlkit package or its native addon (nlkit.node) from ${moduleDir() ?? process.cwd()}; ${KEEP_EXTERNAL}`,
      { code: 'ENOENT', op: 'nlkit.load' });
    }
  }
  const problem = elfFileProblem(file);
  if (problem) {
    throw new UnsupportedError(explainLoadFailure(new Error(`invalid ELF file: ${problem}`), file).message,
      { code: 'ENOEXEC', op: 'nlkit.load' });
  }
  try {
    return req(file) as T;
  } catch (err) {
    const { message, code } = explainLoadFailure(err, file);
    throw new UnsupportedError(message, { cause: err, op: 'nlkit.load', ...(code ? { code } : {}) });
  }
}
