#!/usr/bin/env bash
# What cross-compiling the arm64 addon and running it under qemu-user need on Debian/Ubuntu
# (as root): the arm64 architecture in dpkg, the aarch64 cross compiler, the arm64 -dev packages
# of the libraries the addon links (the same list as scripts/native-deps.cjs) and qemu-user.
# Skipped when all of them are there.
set -euo pipefail
PACKAGES=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user libstdc++6:arm64 libmnl-dev:arm64 libipset-dev:arm64
  libxtables-dev:arm64 libip4tc-dev:arm64 libip6tc-dev:arm64)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "nlkit: missing packages for the arm64 build: ${missing[*]} (as root: dpkg --add-architecture arm64; apt-get update; apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "nlkit: installing the arm64 cross toolchain and libraries: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
