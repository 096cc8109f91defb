#!/usr/bin/env bash
# Brings a fresh Debian/Ubuntu machine to the point where nlkit builds and its tests run:
# system packages, npm dependencies, the native addon and the TypeScript build. Each step
# says what it does and is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: compiler and headers. Runtime/test: the system tools the tests compare against (nft,
# conntrack) or run nlkit under (strace); test/unit/setup-packages.test.ts checks this list.
PACKAGES=(g++ make python3 pkg-config libmnl-dev libipset-dev ipset iproute2 ipvsadm libxtables-dev libip4tc-dev libip6tc-dev iptables
  nftables conntrack strace busybox-static procps)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "nlkit setup: missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "nlkit setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: again whenever the lock file changed since the last install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "nlkit setup: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
fi

newer_than() {  # true when any source is newer than the target (or the target is missing)
  local target=$1; shift
  [[ ! -e $target ]] && return 0
  [[ -n $(find "$@" -newer "$target" -type f -print -quit) ]]
}

if newer_than build/Release/nlkit.node native binding.gyp; then
  echo "nlkit setup: building the native addon (node-gyp)"
  npx --no-install node-gyp rebuild --loglevel=error >/tmp/nlkit-node-gyp.log 2>&1 || {
    cat /tmp/nlkit-node-gyp.log >&2; exit 1; }
fi

if newer_than dist/index.js lib tsup.config.ts package.json; then
  echo "nlkit setup: building the TypeScript (tsup)"
  npx --no-install tsup --silent
fi

# The VM tier (scripts/vm/): kernel tests that need IPVS or ipset types this kernel lacks run
# under qemu. Only where the kernel has no IPVS and no modules to load it from; NLKIT_VM_SKIP=1 opts out.
if [[ ! -e /proc/net/ip_vs && ! -d /lib/modules/$(uname -r) && ${NLKIT_VM_SKIP:-} != 1 && $(id -u) -eq 0 ]]; then
  bash scripts/vm/prepare.sh
fi
