#!/bin/bash
# PID 1 inside the VM, run by the host's own bash from the read-only host root (run.sh copies
# it into the exchange folder). Sets up what a real machine has, loads the modules the tests
# need, runs the command and reports its output and exit status through the exchange folder.
X=/run/nlkit-vm
# shellcheck source=/dev/null
. $X/env   # REPO CWD KROOT VER PASSENV CMD, written by run.sh with declare -p

log() { echo "nlkit vm: $*" >> $X/err; }
finish() {  # always power off: PID 1 exiting would panic the guest
  echo "$1" > $X/status
  sync
  exec /bin/busybox poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# The repo is the one place the guest writes on the host (build output, test scratch files).
# Uncached (cache=mmap), because people edit it while tests run: a cached size with fresh
# content reads as a truncated file. node_modules, which node reads by the hundred files and
# nobody edits, stays on the cached read-only root share instead. Taken before /tmp becomes
# the guest's own, in case the clone lives under /tmp.
[[ -d $REPO/node_modules ]] && mkdir /run/node_modules && mount --bind "$REPO/node_modules" /run/node_modules
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns /tmp/home   # `ip netns add` bind-mounts its files under /run/netns
[[ -d $REPO ]] || mkdir -p "$REPO"   # a repo under /tmp needs its mount point again
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap repo "$REPO" || {
  log "cannot mount the repo share at $REPO"; finish 125; }
[[ -d /run/node_modules ]] && mount --move /run/node_modules "$REPO/node_modules"
# /etc from a tarball run.sh made: glibc opens /etc/services, /etc/protocols and the like on
# every lookup (ipset restore once per line), and each open over 9p is a slow round trip.
mkdir /run/etc && tar -C /run/etc -xf $X/etc.tar && mount --bind /run/etc/etc /etc
cat /proc/uptime > $X/uptime0
# tsx keeps its TypeScript transforms under /tmp/tsx-0; without them each node process spends
# about 4 s more compiling. Carried across boots as one tarball (one 9p read, one write).
TSXTAR=$REPO/.vm-cache/tsx-cache.tar
[[ -f $TSXTAR ]] && tar -C /tmp -xf "$TSXTAR"

# The host has no /lib/modules, so the kernel's own on-demand loading would find nothing:
# point it at a modprobe that looks in the unpacked kernel package instead.
printf '#!/bin/sh\nexec /sbin/modprobe -d %q "$@"\n' "$KROOT" > /run/nlkit-modprobe
chmod 755 /run/nlkit-modprobe
echo /run/nlkit-modprobe > /proc/sys/kernel/modprobe

# Loaded up front all the same, so a missing one shows here by name rather than as a
# confusing test failure. The tests skip by feature, so a failure is reported, not fatal.
IPVS=(ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh
  ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh ip_vs_twos)
IPSET=(ip_set ip_set_bitmap_ip ip_set_bitmap_ipmac ip_set_bitmap_port ip_set_hash_ip ip_set_hash_ipmac
  ip_set_hash_ipmark ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet ip_set_hash_mac
  ip_set_hash_net ip_set_hash_netiface ip_set_hash_netnet ip_set_hash_netport ip_set_hash_netportnet
  ip_set_list_set)
# iptables-legacy tables and the matches/targets the tests use; nf_tables + nft_compat because
# Debian's default `iptables` is the nft flavour.
XT=(nf_conntrack nf_nat ip_tables iptable_filter iptable_nat iptable_mangle iptable_raw iptable_security
  ip6_tables ip6table_filter ip6table_nat ip6table_mangle ip6table_raw ip6table_security
  xt_statistic xt_comment xt_mark xt_MASQUERADE xt_addrtype xt_set xt_recent xt_conntrack
  xt_multiport xt_nat nf_tables nft_compat nft_chain_nat)
MODS=("${IPVS[@]}" "${IPSET[@]}" "${XT[@]}")
/sbin/modprobe -d "$KROOT" -a "${MODS[@]}" 2>> $X/modprobe.err
failed=()
for m in "${MODS[@]}"; do   # loaded, or built into this kernel
  [[ -d /sys/module/$m ]] || grep -q "/$m.ko" "$KROOT/lib/modules/$VER/modules.builtin" || failed+=("$m")
done
if ((${#failed[@]})); then log "modules that failed to load: ${failed[*]}"; cat $X/modprobe.err >> $X/err; fi
log "loaded $((${#MODS[@]} - ${#failed[@]}))/${#MODS[@]} modules"

ip link set lo up   # without it adding an IPVS service fails with EINVAL

cd "$CWD" 2>/dev/null || cd "$REPO" || { log "cannot cd to $CWD or $REPO"; finish 125; }
cat /proc/uptime > $X/uptime1
env -i "${PASSENV[@]}" "${CMD[@]}" > $X/out 2>> $X/err < /dev/null
status=$?
cat /proc/uptime > $X/uptime2
[[ -d /tmp/tsx-0 ]] && tar -C /tmp -cf "$TSXTAR.$$" tsx-0 && mv "$TSXTAR.$$" "$TSXTAR"
finish $status
