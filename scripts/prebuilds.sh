#!/usr/bin/env bash
# Builds the prebuilt addons that ship in the package: prebuilds/linux-x64 and, cross-compiled
# with Debian's multiarch toolchain and arm64 libraries, prebuilds/linux-arm64. Each file is tagged
# with its libc (nlkit.glibc.node): node-gyp-build then never picks it on musl, and its install
# step loads it before using it, so a glibc older than the one it was built against (Debian 12's
# 2.36 here) fails that load and npm builds from source instead.
#
# Usage: bash scripts/prebuilds.sh [x64|arm64]... [--out DIR]   (default: both, into prebuilds/)
# arm64 needs scripts/cross/arm64-deps.sh (run as root) once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/prebuilds
arches=()
while (($#)); do
  case $1 in
    --out) out=$(realpath -m "$2"); shift 2 ;;
    x64|arm64) arches+=("$1"); shift ;;
    *) echo "usage: $0 [x64|arm64]... [--out DIR]" >&2; exit 2 ;;
  esac
done
((${#arches[@]})) || arches=(x64 arm64)
nodever=$(node -p 'process.versions.node')

for arch in "${arches[@]}"; do
  # A copy of what the addon is built from, so that the build/ of the checkout (the addon the
  # tests load) is left alone.
  work=$(mktemp -d /tmp/nlkit-prebuild-XXXXXX)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/scripts"
  cp -r "$root/binding.gyp" "$root/native" "$root/package.json" "$work/"
  cp "$root/scripts/native-deps.cjs" "$work/scripts/"
  ln -s "$root/node_modules" "$work/node_modules"
  env=(npm_config_nodedir="$(npm config get nodedir 2>/dev/null || true)")
  [[ ${env[0]} == npm_config_nodedir= || ${env[0]} == npm_config_nodedir=undefined ]] && env=()
  strip=strip
  if [[ $arch != x64 ]]; then
    triple=aarch64-linux-gnu
    command -v $triple-g++ >/dev/null || { echo "nlkit prebuilds: no $triple-g++ (run scripts/cross/arm64-deps.sh as root)" >&2; exit 1; }
    # The cross toolchain's own kernel headers spell typeof, which C++17 lacks.
    env+=(CC=$triple-gcc CXX=$triple-g++ AR=$triple-ar LINK=$triple-g++ CXXFLAGS=-Dtypeof=__typeof__
          PKG_CONFIG_LIBDIR=/usr/lib/$triple/pkgconfig:/usr/share/pkgconfig)
    strip=$triple-strip
  fi
  (cd "$work" && env "${env[@]}" node_modules/.bin/prebuildify --napi --tag-libc --arch "$arch" -t "$nodever" >"$work/build.log" 2>&1) || {
    cat "$work/build.log" >&2; exit 1; }
  mkdir -p "$out/linux-$arch"
  $strip --strip-unneeded -o "$out/linux-$arch/nlkit.glibc.node" "$work/prebuilds/linux-$arch/nlkit.glibc.node"
  echo "nlkit prebuilds: $out/linux-$arch/nlkit.glibc.node"
  rm -rf "$work"; trap - EXIT
done
