import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['lib/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  // Not in the tarball (1.4 MB); NLKIT_SOURCEMAP=1 builds them for local debugging.
  sourcemap: process.env.NLKIT_SOURCEMAP === '1',
  target: 'node20',
  // import.meta.url in lib/native.ts must also work in the CommonJS build.
  shims: true,
});
