#!/usr/bin/env bash
# Usage: scripts/vm/run.sh CMD [ARG...]
# Runs CMD inside Debian's stock kernel under qemu (software emulation: KVM does not work on
# our machines) for tests that need kernel features the host lacks (IPVS, some ipset types).
# The guest sees the host's / read-only and the repo writable at the same path, so the host's
# node, libraries and built addon run unchanged. CMD's stdout/stderr stream to ours and its
# exit status is ours. Env: NLKIT_VM_TIMEOUT (seconds, default 600), NLKIT_VM_CPUS (default 1),
# NLKIT_VM_MEM (guest memory in MiB, default 2048; a 1M-entry conntrack table and bench/proxy.ts's
# 250k-500k real servers need more), NLKIT_VM_SKIP=1 (do not start the VM, exit 0). The guest
# console goes to .vm-cache/last-console.log.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
CACHE=$REPO/.vm-cache
TIMEOUT=${NLKIT_VM_TIMEOUT:-600}
# One vCPU: on our 2-core machines a 2-vCPU guest ran the same tests 2x slower and booted up
# to 3x slower (its spinlocks and cross-CPU flushes wait on a descheduled vCPU thread).
CPUS=${NLKIT_VM_CPUS:-1}
# Enough for the test files; large benches ask for more.
MEM=${NLKIT_VM_MEM:-2048}
say() { echo "nlkit vm: $*" >&2; }

(($#)) || { echo "usage: $0 CMD [ARG...]" >&2; exit 2; }
if [[ ${NLKIT_VM_SKIP:-} == 1 ]]; then say "NLKIT_VM_SKIP=1: not starting the VM for: $*"; exit 0; fi
bootable() { [[ -f $CACHE/current ]] && read -r PKG VER < "$CACHE/current" && [[ -f $CACHE/$PKG/initrd.cpio.gz ]]; }
bootable || bash "$REPO/scripts/vm/prepare.sh" >&2
bootable || { say "no kernel in $CACHE: run scripts/vm/prepare.sh"; exit 125; }
KROOT=$CACHE/$PKG/root

# The exchange folder, shared writable: the command in, output and exit status out.
X=$(mktemp -d "${TMPDIR:-/tmp}/nlkit-vm.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$X"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
cp "$REPO/scripts/vm/guest.sh" "$X/guest.sh"
CWD=$PWD
CMD=("$@")
PASSENV=(NLKIT_IN_VM=1 "PATH=$PATH" HOME=/tmp/home LANG=C.UTF-8 TERM=dumb)
# Not NODE_TEST_CONTEXT: set when a node test runner starts us, it would make the guest's own
# `node --test` skip every file.
while IFS= read -r name; do PASSENV+=("$name=${!name}"); done < <(compgen -e | grep -E '^(NLKIT_|NODE_OPTIONS$|CI$)' | grep -v '^NLKIT_IN_VM$')
# Under scripts/asan/run.sh the sanitizer runtime is for the guest's command, not for qemu here.
if [[ ${NLKIT_ASAN:-} == 1 ]]; then
  PASSENV+=("LD_PRELOAD=${LD_PRELOAD:-}" "ASAN_OPTIONS=${ASAN_OPTIONS:-}" "LSAN_OPTIONS=${LSAN_OPTIONS:-}" "UBSAN_OPTIONS=${UBSAN_OPTIONS:-}")
  unset LD_PRELOAD
fi
declare -p REPO CWD KROOT VER PASSENV CMD > "$X/env"
touch "$X/out" "$X/err"
# A copy of /etc for the guest's tmpfs (see guest.sh); files only root can read are skipped.
tar -C / -cf "$X/etc.tar" etc 2>/dev/null || true

start=$(date +%s.%N)
# -cpu max: the host's node may use instructions the default qemu64 CPU lacks. -nic none: the
# guest needs no network. 9p multidevs=remap: / spans several file systems, whose inode
# numbers would clash.
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m "$MEM" -smp "$CPUS" \
  -nographic -no-reboot -monitor none -serial "file:$X/console.log" -nic none \
  -kernel "$KROOT/boot/vmlinuz-$VER" -initrd "$CACHE/$PKG/initrd.cpio.gz" \
  -append "console=ttyS0 quiet panic=-1" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$REPO,mount_tag=repo,security_model=passthrough,multidevs=remap" \
  -virtfs "local,path=$X,mount_tag=xchg,security_model=none" \
  < /dev/null > "$X/qemu.log" 2>&1 &
qemu=$! pids+=($!)   # on our INT/TERM, timeout passes the signal on to qemu
# Boot time as the host sees it: until the guest writes uptime1, just before the command.
( until [[ -e $X/uptime1 ]]; do sleep 0.1; done; date +%s.%N > "$X/booted" ) & pids+=($!)
# Stream the command's output while it runs (9p writes reach the host file at once); the
# tails end by themselves soon after qemu does.
tail -q -s 0.2 -n +1 -f --pid=$qemu "$X/out" & tails=($!)
tail -q -s 0.2 -n +1 -f --pid=$qemu "$X/err" >&2 & tails+=($!)
pids+=("${tails[@]}")
rc=0; wait $qemu || rc=$?
wait "${tails[@]}" 2>/dev/null || true
end=$(date +%s.%N)
cp "$X/console.log" "$CACHE/last-console.log" 2>/dev/null || true

if [[ -f $X/status ]]; then
  status=$(cat "$X/status")
  # Guest uptimes (seconds since its kernel started): 0 = mounts done, 1 = modules loaded and
  # the command starts, 2 = the command is done.
  read -r u0 _ < "$X/uptime0"; read -r u1 _ < "$X/uptime1"; read -r u2 _ < "$X/uptime2"
  say "$(awk -v s="$start" -v e="$end" -v b="$(cat "$X/booted" 2>/dev/null || echo "$end")" -v u0="$u0" -v u1="$u1" -v u2="$u2" 'BEGIN {
    printf "boot %.1f s (modules and /etc %.1f s of it), command %.1f s, total %.1f s", b - s, u1 - u0, u2 - u1, e - s }'), exit status $status"
  exit "$status"
fi
if ((rc == 124 || rc == 137)); then say "timed out after ${TIMEOUT} s (NLKIT_VM_TIMEOUT); last console lines:"
else say "the VM ended without reporting an exit status (qemu exit $rc); qemu said:"; cat "$X/qemu.log" >&2; say "last console lines:"; fi
tail -n 40 "$X/console.log" >&2 || true
exit 125
