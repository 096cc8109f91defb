#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into .asan/build/Release,
# beside (never in) build/, so the normal build and its users are untouched. Incremental: only
# sources changed since the last run are recompiled. Prints the addon's path.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
OUT=$REPO/.asan
mkdir -p "$OUT"
# The same binding.gyp and sources, seen from .asan/: node-gyp builds into <cwd>/build.
ln -sfn ../native "$OUT/native"
if ! cmp -s "$REPO/binding.gyp" "$OUT/binding.gyp" || [[ ! -f $OUT/build/Makefile ]]; then
  cp "$REPO/binding.gyp" "$OUT/binding.gyp"
  (cd "$OUT" && npx --no-install node-gyp configure --loglevel=error) > "$OUT/build.log" 2>&1 ||
    { cat "$OUT/build.log" >&2; exit 1; }
fi
# Appended after node-gyp's own flags, so -O1 wins over -O3 (exact stacks, still fast enough).
# -fno-sanitize-recover: undefined behaviour ends the process instead of only printing.
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1)
export CFLAGS="${SAN[*]}" CXXFLAGS="${SAN[*]}" LDFLAGS="-fsanitize=address,undefined"
(cd "$OUT" && npx --no-install node-gyp build -j 2 --loglevel=error) > "$OUT/build.log" 2>&1 ||
  { cat "$OUT/build.log" >&2; exit 1; }
echo "$OUT/build/Release/nlkit.node"
